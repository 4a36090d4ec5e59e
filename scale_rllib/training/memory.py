"""An up-front estimate of the learner's peak memory, so that a size that cannot fit fails before Ray starts.

The dominant terms of one PPO update on padded observations of ``max_servers`` = N rows (docs/design.md, "Model"):

- the server self-attention of a minibatch of B_m decisions: h heads × N × N float32 scores, kept with the softmax
  output and both gradients for the backward pass → 16 · B_m · h · N² bytes;
- the per-server activations of the encoders, cross-attention and pointer (≈ 20 float32 tensors of (B_m, N, d) with
  their gradients) → 80 · B_m · N · d bytes;
- the sampled train batch of B observations of N × F float32 values (F: every per-server column an observation can
  have, :data:`~scale_rllib.env.observation.WIDEST_SPEC`), held by the env runners' episodes, the learner's
  batch and its torch copy (≈ 4 copies) → 16 · B · N · F bytes.

The bound it is held against is the smaller of the machine's physical memory and the process's cgroup limit.
"""

from __future__ import annotations

import os
from pathlib import Path

from scale_rllib.env.observation import WIDEST_SPEC
from scale_rllib.validation import ConfigError

#: The estimate may use at most this share of the memory limit (the rest: Ray, Python, the simulator, the OS).
MEMORY_SHARE = 0.6
_GIB = 2**30


def estimated_learner_bytes(
    max_servers: int, train_batch_size: int, minibatch_size: int, embed_dim: int, num_heads: int
) -> int:
    """Peak bytes of one learner update (the module docstring's three terms)."""
    n = int(max_servers)
    attention = 16 * minibatch_size * num_heads * n * n
    activations = 80 * minibatch_size * n * embed_dim
    batch = 16 * train_batch_size * n * len(WIDEST_SPEC.server_features)
    return attention + activations + batch


def memory_limit_bytes() -> int:
    """min(physical memory, the cgroup v2/v1 memory limit of this process) in bytes."""
    limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            limit = min(limit, int(text))
    return limit


def check_training_memory(
    max_servers: int, train_batch_size: int, minibatch_size: int, embed_dim: int, num_heads: int
) -> None:
    """Reject a training size whose estimated learner memory exceeds :data:`MEMORY_SHARE` of the memory limit.

    Raises:
        ConfigError: naming ``max_servers`` (the padded N), the estimate, the limit and what to lower.
    """
    need = estimated_learner_bytes(max_servers, train_batch_size, minibatch_size, embed_dim, num_heads)
    limit = memory_limit_bytes()
    if need > MEMORY_SHARE * limit:
        raise ConfigError(
            f"max_servers: training on observations padded to N={max_servers} servers needs an estimated "
            f"{need / _GIB:,.1f} GiB in the learner (self-attention over N² server pairs for each of "
            f"{minibatch_size} minibatch decisions), more than {MEMORY_SHARE:.0%} of this machine's "
            f"{limit / _GIB:,.1f} GiB: lower --servers / --max-servers or --minibatch-size "
            "(evaluation at large N needs no such memory: a trained policy runs at any N)"
        )
