"""A trained SCALE module behind the :class:`Scheduler` interface (greedy, no Ray needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from scale_rllib.env.observation import ObservationSpec, observation_space
from scale_rllib.learner.srr import feature_statistics
from scale_rllib.models.scale_module import load_policy
from scale_rllib.schedulers.base import Scheduler
from scale_rllib.sim.simulator import Simulator


class PolicyScheduler(Scheduler):
    """Greedy (argmax) decisions of a :class:`ScaleRLModule`, loaded from a checkpoint for a given N_max.

    No parameter depends on N, so one loaded module decides at every cluster size. It also keeps every attention
    feature z it computed, for the SRR feature statistics per N (docs/design.md, "SRR").

    Args:
        module: A ScaleRLModule built for the env's observation space.
        name: Name in tables (default ``scale``).
    """

    def __init__(self, module, name: str = "scale"):
        self.module = module.eval()
        self.name = name
        self.observation_spec = ObservationSpec.of(module.observation_space)
        self.features: list[np.ndarray] = []

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | Path, max_servers: int | None = None, name: str = "scale"
    ) -> PolicyScheduler:
        """Load the module of an Algorithm (or RLModule) checkpoint, once.

        Args:
            checkpoint: The checkpoint directory.
            max_servers: Rebuild the module for observations padded to this size (its action space); None keeps the
                training padding — the forward pass accepts any N either way.
            name: Name in tables.

        Raises:
            FileNotFoundError: no module under ``checkpoint``.
        """
        module = load_policy(checkpoint)
        if max_servers is not None:  # same features (with or without the optional columns), other padding
            spec = ObservationSpec.of(module.observation_space)
            module = load_policy(checkpoint, observation_space(max_servers, spec))
        return cls(module, name)

    @torch.no_grad()
    def select(self, observation: dict[str, np.ndarray], sim: Simulator) -> int:
        """argmax over the masked pointer logits (:meth:`ScaleRLModule.infer_one`: distinct servers only).

        Task features past the module's width (the backlog features, produced for another policy of the same
        evaluation) are left out.

        Raises:
            ValueError: the observation has fewer task features than the module reads (a module trained with
                ``observe_backlog`` run on an env without it).
        """
        try:
            observation = self.observation_spec.read(observation)
        except ValueError as err:
            raise ValueError(f"policy {self.name!r} {err}") from None
        logits, z = self.module.infer_one({k: torch.from_numpy(v)[None] for k, v in observation.items()})
        self.features.append(z[0].numpy())
        return int(torch.argmax(logits[0]))

    def feature_statistics(self) -> dict[str, float]:
        """Mean |μ|, mean σ and mean |off-diagonal correlation| of every z seen so far; then forget them."""
        if not self.features:
            return {}
        stats = feature_statistics(torch.from_numpy(np.stack(self.features)))
        self.features.clear()
        return stats
