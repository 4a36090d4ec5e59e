"""The SCALE RLModule: a cross-attention pointer policy over servers with a shared critic (docs/design.md, "The SCALE
model").

Observation contract (a ``gymnasium.spaces.Dict``, see ``scale_rllib.env``):

=============== =================== =====================================================
key             shape               meaning
=============== =================== =====================================================
``servers``     (N_max, F_s)        per-server features, padded rows are zero
``task``        (F_t,)              features of the ready task
``action_mask`` (N_max,)            1 for real, selectable servers, 0 for padding
=============== =================== =====================================================

The action space is ``Discrete(N_max)``. N_max, F_s and F_t are read from the spaces in ``setup()``; no parameter
depends on N_max, so a module's weights load into a module built for any other N_max (see :func:`load_policy`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_LEARNER_GROUP, COMPONENT_RL_MODULE, DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override

from scale_rllib.models.layers import CrossAttention, PointerHead, ServerEncoder, ValueHead, mlp, value_features

SRR_FEATURE = "srr_feature"
"""Key of the (B, d) attention feature z in the output of ``_forward_train`` (regularised by SRR)."""


class _RLModuleConfigNotice(logging.Filter):
    """Drops RLlib's "`RLModule(config=[RLModuleConfig object])` has been deprecated" record: Ray 2.60's own
    ``RLModule.__init__`` builds the deprecated ``RLModuleConfig`` for every module, so it appears for modules built the
    recommended way (as here), and no user can act on it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "RLModuleConfig object" not in record.getMessage()


logging.getLogger("ray._common.deprecation").addFilter(_RLModuleConfigNotice())

OBS_KEYS = ("servers", "task", "action_mask")
"""Keys the observation ``Dict`` must hold."""

DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "num_heads": 4,
    "server_self_attention": True,
    "logit_clip": 10.0,
}
"""model_config keys read by :class:`ScaleRLModule` and their defaults; other keys (RLlib's own) are ignored."""

INFERENCE_CHUNK_TOKENS = 8192
"""Without autograd, ``_forward`` runs large batches in chunks of about this many server tokens (B·N): every sample is
computed independently, so the logits are the same, but the activations of a chunk stay in the CPU caches (about 2× the
throughput at batch 1024 than one pass over the whole batch, whose activations are memory-bandwidth bound)."""

POLICY_SUBDIR = Path(COMPONENT_LEARNER_GROUP, COMPONENT_LEARNER, COMPONENT_RL_MODULE, DEFAULT_MODULE_ID)
"""Where an Algorithm checkpoint stores the trained module."""


class Encoded(NamedTuple):
    """Intermediate tensors of one encoder pass.

    Attributes:
        h: (B, N, d) server tokens H.
        q: (B, d) task query.
        z: (B, d) attention feature.
        valid: (B, N) bool, True for selectable servers.
    """

    h: torch.Tensor
    q: torch.Tensor
    z: torch.Tensor
    valid: torch.Tensor


def resolve_model_config(model_config: Mapping[str, Any] | Any | None) -> dict[str, Any]:
    """Merges the user's model_config over :data:`DEFAULT_MODEL_CONFIG` and validates it.

    Args:
        model_config: A dict, a dataclass (e.g. RLlib's ``DefaultModelConfig``) or None.

    Returns:
        A dict with exactly the keys of :data:`DEFAULT_MODEL_CONFIG`.

    Raises:
        ValueError: If a value is out of range or ``embed_dim`` is not divisible by ``num_heads``.
    """
    if dataclasses.is_dataclass(model_config):
        model_config = dataclasses.asdict(model_config)
    given = dict(model_config or {})
    cfg = {key: given.get(key, default) for key, default in DEFAULT_MODEL_CONFIG.items()}
    embed_dim, num_heads = int(cfg["embed_dim"]), int(cfg["num_heads"])
    if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
        raise ValueError(f"embed_dim ({embed_dim}) must be a positive multiple of num_heads ({num_heads}).")
    clip = cfg["logit_clip"]
    if clip is not None and float(clip) <= 0:
        raise ValueError(f"logit_clip must be positive or None, got {clip}.")
    return {
        "embed_dim": embed_dim,
        "num_heads": num_heads,
        "server_self_attention": bool(cfg["server_self_attention"]),
        "logit_clip": None if clip is None else float(clip),
    }


def space_dims(observation_space: gym.Space, action_space: gym.Space | None = None) -> tuple[int, int, int]:
    """Reads (N_max, F_s, F_t) from the observation contract.

    Args:
        observation_space: The env's ``Dict`` observation space.
        action_space: The env's action space; if given, must be ``Discrete(N_max)``.

    Returns:
        ``(N_max, F_s, F_t)``.

    Raises:
        ValueError: If the spaces do not follow the contract in this module's docstring.
    """
    if not isinstance(observation_space, gym.spaces.Dict) or any(k not in observation_space.spaces for k in OBS_KEYS):
        raise ValueError(f"Expected a gymnasium Dict observation space with keys {OBS_KEYS}, got {observation_space}.")
    servers, task, mask = (observation_space[k].shape for k in OBS_KEYS)
    if len(servers) != 2 or len(task) != 1 or tuple(mask) != (servers[0],):
        raise ValueError(f"Bad shapes: servers {servers} (want (N, F_s)), task {task} (want (F_t,)), mask {mask}.")
    if action_space is not None and not (
        isinstance(action_space, gym.spaces.Discrete) and action_space.n == servers[0]
    ):
        raise ValueError(f"Expected action space Discrete({servers[0]}), got {action_space}.")
    return int(servers[0]), int(servers[1]), int(task[0])


NUMPY_DEDUP_MIN_ROWS = 128
"""Above this many valid servers, :func:`distinct_rows` sorts bytes with NumPy (the crossover measured at N≈128)."""


def distinct_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``torch.unique(rows, dim=0, return_inverse=True, return_counts=True)``, about 10× faster on CPU.

    ``torch.unique(dim=0)`` compares rows one pair at a time (≈ 1–3 ms for 1,024 distinct rows, a third of a batch-1
    forward at N=1024); NumPy sorts the rows as raw bytes in one pass. Rows equal as floats but not as bytes (0.0 and
    -0.0) stay apart, which only forgoes some sharing. Up to :data:`NUMPY_DEDUP_MIN_ROWS` rows, and off the CPU,
    ``torch.unique`` is used (the NumPy round trip costs ≈ 0.07 ms more per forward at N=16, measured).

    Args:
        rows: (V, F_s) server feature rows.

    Returns:
        ``(distinct, inverse, counts)``: (U, F_s) distinct rows, (V,) index of each row in ``distinct``, (U,) int64
        multiplicities.
    """
    if rows.device.type != "cpu" or len(rows) <= NUMPY_DEDUP_MIN_ROWS:
        return torch.unique(rows, dim=0, return_inverse=True, return_counts=True)
    array = np.ascontiguousarray(rows.numpy())
    keys = array.view(np.dtype((np.void, array.dtype.itemsize * array.shape[1]))).ravel()
    _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    return torch.from_numpy(array[first]), torch.from_numpy(inverse.reshape(-1)), torch.from_numpy(counts)


class ScaleRLModule(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI):
    """Cross-attention pointer policy (actor) plus a value head (critic) sharing the encoders.

    ``_forward`` (inference and exploration) returns ``Columns.ACTION_DIST_INPUTS``: (B, N) logits, ``finfo.min`` at
    masked servers. ``_forward_train`` also returns ``Columns.EMBEDDINGS``, the (B, 4d) value features that
    ``compute_values`` reuses, and :data:`SRR_FEATURE`, the (B, d) attention feature z. Batches are (B, ...) without a
    time dimension; the input batch is never mutated.
    """

    @override(TorchRLModule)
    def setup(self) -> None:
        """Builds the layers from ``self.observation_space`` and ``self.model_config``.

        Raises:
            ValueError: If the spaces break the observation contract or the model_config is invalid.
        """
        cfg = resolve_model_config(self.model_config)
        _, server_dim, task_dim = space_dims(self.observation_space, self.action_space)
        d, heads = cfg["embed_dim"], cfg["num_heads"]
        self.server_encoder = ServerEncoder(server_dim, d, heads, self_attention=cfg["server_self_attention"])
        self.task_encoder = mlp(task_dim, d, d)
        self.cross_attention = CrossAttention(d, heads)
        self.pointer = PointerHead(d, logit_clip=cfg["logit_clip"])
        self.value_head = ValueHead(d)

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> list[str]:
        """Returns the components EnvRunners drop: the critic."""
        return ["value_head"]

    def encode(self, batch: Mapping[str, Any]) -> Encoded:
        """Runs the encoders and the cross-attention.

        Args:
            batch: Holds ``Columns.OBS``, a dict with "servers" (B, N, F_s), "task" (B, F_t), "action_mask" (B, N).

        Returns:
            The :class:`Encoded` tensors.

        Raises:
            ValueError: If the observation is not a dict with the contract's keys and ranks.
        """
        obs = batch[Columns.OBS]
        if not isinstance(obs, Mapping) or any(k not in obs for k in OBS_KEYS):
            raise ValueError(f"batch[{Columns.OBS!r}] must be a dict with keys {OBS_KEYS}.")
        servers, task, mask = (obs[k] for k in OBS_KEYS)
        if servers.dim() != 3 or task.dim() != 2 or mask.shape != servers.shape[:2]:
            raise ValueError(
                f"Expected servers (B, N, F_s), task (B, F_t), action_mask (B, N); got {tuple(servers.shape)}, "
                f"{tuple(task.shape)}, {tuple(mask.shape)}."
            )
        valid = mask if mask.dtype == torch.bool else mask > 0.5
        h = self.server_encoder(servers, valid)
        q = self.task_encoder(task)
        return Encoded(h=h, q=q, z=self.cross_attention(q, h, valid), valid=valid)

    @override(TorchRLModule)
    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Computes the masked pointer logits (inference and exploration); see :data:`INFERENCE_CHUNK_TOKENS`."""
        obs = batch.get(Columns.OBS)
        if not torch.is_grad_enabled() and isinstance(obs, Mapping) and all(k in obs for k in OBS_KEYS):
            servers = obs["servers"]
            if servers.dim() == 3:
                size, n = servers.shape[:2]
                chunk = max(1, INFERENCE_CHUNK_TOKENS // max(n, 1))
                if size > chunk:
                    logits = [
                        self._logits({Columns.OBS: {k: obs[k][i : i + chunk] for k in OBS_KEYS}})
                        for i in range(0, size, chunk)
                    ]
                    return {Columns.ACTION_DIST_INPUTS: torch.cat(logits)}
        return {Columns.ACTION_DIST_INPUTS: self._logits(batch)}

    def _logits(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """(B, N) masked pointer logits of a batch, as :meth:`encode` reads it (a single observation without autograd
        goes through :meth:`infer_one`)."""
        obs = batch.get(Columns.OBS)
        if not torch.is_grad_enabled() and isinstance(obs, Mapping) and obs["servers"].shape[0] == 1:
            return self.infer_one(obs)[0]
        enc = self.encode(batch)
        return self.pointer(enc.h, enc.q, enc.z, enc.valid)

    def infer_one(self, obs: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and attention feature of one observation, computed over its distinct server rows only.

        Every layer acts row by row except attention, so servers with identical feature rows get identical tokens
        and logits; and attending to k identical keys equals attending to one of them with log k added to its score
        (softmax weights k·e^s / Σ). So the encoders run on the U ≤ N distinct valid rows with a log-multiplicity bias
        on the keys, and the logits are gathered back: the same outputs up to float rounding, O(U²) instead of O(N²)
        attention work. Idle servers of one type are identical, so U ≪ N in large clusters.

        Args:
            obs: "servers" (1, N, F_s), "task" (1, F_t), "action_mask" (1, N).

        Returns:
            ``(logits, z)``: (1, N) masked pointer logits and the (1, d) attention feature.
        """
        servers, task, mask = (obs[k] for k in OBS_KEYS)
        valid = (mask if mask.dtype == torch.bool else mask > 0.5)[0]
        index = valid.nonzero().squeeze(-1)
        if index.numel() == 0:  # nothing selectable: the batched path's conventions
            enc = self.encode({Columns.OBS: obs})
            return self.pointer(enc.h, enc.q, enc.z, enc.valid), enc.z
        rows, inverse, counts = distinct_rows(servers[0, index])
        bias = counts.to(servers.dtype).log()[None, None, None, :] if bool((counts > 1).any()) else None
        every = torch.ones(1, rows.shape[0], dtype=torch.bool)
        h = self.server_encoder(rows[None], every, key_bias=bias)
        q = self.task_encoder(task)
        z = self.cross_attention(q, h, every, key_bias=bias)
        distinct = self.pointer(h, q, z, every)
        logits = torch.full(mask.shape, torch.finfo(distinct.dtype).min, dtype=distinct.dtype)
        logits[0, index] = distinct[0, inverse]
        return logits, z

    @override(TorchRLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Computes the logits, the value features (embeddings) and the SRR feature z."""
        enc = self.encode(batch)
        return {
            Columns.ACTION_DIST_INPUTS: self.pointer(enc.h, enc.q, enc.z, enc.valid),
            Columns.EMBEDDINGS: value_features(enc.q, enc.z, enc.h, enc.valid),
            SRR_FEATURE: enc.z,
        }

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any | None = None) -> torch.Tensor:
        """Computes state values.

        Args:
            batch: As in :meth:`encode`; unused if ``embeddings`` is given.
            embeddings: (B, 4d) value features from ``_forward_train``, to skip a second encoder pass.

        Returns:
            (B,) values.
        """
        if embeddings is None:
            enc = self.encode(batch)
            embeddings = value_features(enc.q, enc.z, enc.h, enc.valid)
        return self.value_head(embeddings)


def load_policy(checkpoint_dir: str | Path, observation_space: gym.Space | None = None) -> ScaleRLModule:
    """Loads a trained :class:`ScaleRLModule`, optionally rebuilt for another observation space (another N_max).

    Args:
        checkpoint_dir: An Algorithm checkpoint (its module is under :data:`POLICY_SUBDIR`) or an RLModule checkpoint
            directory (as written by ``module.save_to_path``).
        observation_space: If given, the returned module is built for this space (action space
            ``Discrete(N_max)``) and carries the checkpoint's weights. Possible because no parameter depends on N.

    Returns:
        The module, in eval mode.

    Raises:
        FileNotFoundError: If no RLModule checkpoint is found under ``checkpoint_dir``.
        ValueError: If the checkpoint does not hold a :class:`ScaleRLModule` or the space breaks the contract.
    """
    root = Path(checkpoint_dir)
    path = root / POLICY_SUBDIR if (root / POLICY_SUBDIR).is_dir() else root
    if not (path / RLModule.CLASS_AND_CTOR_ARGS_FILE_NAME).is_file():
        raise FileNotFoundError(f"No RLModule checkpoint at {root} or {root / POLICY_SUBDIR}.")
    module = RLModule.from_checkpoint(path.resolve().as_posix())
    if not isinstance(module, ScaleRLModule):
        raise ValueError(f"Checkpoint {path} holds a {type(module).__name__}, not a ScaleRLModule.")
    if observation_space is not None:
        n_max, _, _ = space_dims(observation_space)
        rebuilt = ScaleRLModule(
            observation_space=observation_space,
            action_space=gym.spaces.Discrete(n_max),
            inference_only=module.inference_only,
            model_config=module.model_config,
        )
        # Strict: RLlib's set_state() loads with strict=False and would hide an architecture mismatch.
        rebuilt.load_state_dict(module.state_dict(), strict=True)
        module = rebuilt
    module.eval()
    return module
