"""A trained SCALE module behind the :class:`Scheduler` interface (greedy, no Ray needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from scale_rllib.env.observation import observation_space
from scale_rllib.sim.simulator import Simulator


class PolicyScheduler:
    """Greedy (argmax) decisions of a :class:`ScaleRLModule`, loaded from a checkpoint for a given N_max.

    It also keeps every attention feature z it computed, for the SRR feature statistics per N
    (DESIGN §6).

    Args:
        module: A ScaleRLModule built for the env's observation space.
        name: Name in tables (default ``scale``).
    """

    def __init__(self, module, name: str = "scale"):
        self.module = module.eval()
        self.name = name
        self.features: list[np.ndarray] = []

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, max_servers: int, name: str = "scale") -> PolicyScheduler:
        """Load the module of an Algorithm checkpoint, rebuilt for observations padded to ``max_servers``.

        Raises:
            FileNotFoundError: no module under ``checkpoint``.
        """
        from scale_rllib.models.scale_module import load_policy

        return cls(load_policy(checkpoint, observation_space(max_servers)), name)

    def reset(self, seed: int) -> None:
        """Greedy decisions need no randomness."""

    @torch.no_grad()
    def select(self, observation: dict[str, np.ndarray], sim: Simulator) -> int:
        """argmax over the masked pointer logits (:meth:`ScaleRLModule.infer_one`: distinct servers only)."""
        logits, z = self.module.infer_one({k: torch.from_numpy(v)[None] for k, v in observation.items()})
        self.features.append(z[0].numpy())
        return int(torch.argmax(logits[0]))

    def feature_statistics(self) -> dict[str, float]:
        """Mean |μ|, mean σ and mean |off-diagonal correlation| of every z seen so far; then forget them."""
        from scale_rllib.learner.srr import feature_statistics

        if not self.features:
            return {}
        stats = feature_statistics(torch.from_numpy(np.stack(self.features)))
        self.features.clear()
        return stats
