"""Hand-built PPO training batches, for a learner update outside RLlib's sampling (tests, benchmarks)."""

from __future__ import annotations

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.policy.sample_batch import SampleBatch


def ppo_batch(module, obs: dict[str, np.ndarray], rng: np.random.Generator, loss_mask: np.ndarray | None = None):
    """A ``SampleBatch`` with every column ``PPOTorchLearner`` reads, actions sampled from ``module``.

    Passing a ready-made batch to ``learner.update`` skips the learner connector, so advantages and value targets
    (standard-normal noise here) and the behaviour policy's logits and log-probs must already be in it.

    Args:
        module: A ScaleRLModule.
        obs: ``servers`` (B, N, F_s), ``task`` (B, F_t), ``action_mask`` (B, N) as float32 arrays.
        rng: Draws the advantages and value targets.
        loss_mask: (B,) bool; default all True.
    """
    size = len(obs["task"])
    with torch.no_grad():
        logits = module.forward_exploration({Columns.OBS: {k: torch.from_numpy(v) for k, v in obs.items()}})[
            Columns.ACTION_DIST_INPUTS
        ]
        dist = module.get_exploration_action_dist_cls().from_logits(logits)
        actions = dist.sample()
    return SampleBatch(
        {
            Columns.OBS: obs,
            Columns.ACTIONS: actions.numpy(),
            Columns.ACTION_LOGP: dist.logp(actions).numpy(),
            Columns.ACTION_DIST_INPUTS: logits.numpy(),
            Columns.ADVANTAGES: rng.normal(size=size).astype(np.float32),
            Columns.VALUE_TARGETS: rng.normal(size=size).astype(np.float32),
            Columns.LOSS_MASK: np.ones(size, dtype=bool) if loss_mask is None else loss_mask,
        }
    )
