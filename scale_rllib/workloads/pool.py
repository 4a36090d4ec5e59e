"""Workloads drawn from a pool of workflows read from files (WfInstances, Pegasus DAX)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scale_rllib.sim.cluster import ServerType
from scale_rllib.sim.workflow import Workflow
from scale_rllib.workloads.base import ClusterProfile, Workload, mean_work_by_kind

#: Scientific clusters: three CPU generations; speed 1 = the machines the traces were recorded on.
SCIENTIFIC_PROFILE = ClusterProfile(
    types=(
        ServerType.from_kind_speeds("cpu-fast", {}, default=2.0),
        ServerType.from_kind_speeds("cpu-medium", {}, default=1.0),
        ServerType.from_kind_speeds("cpu-slow", {}, default=0.5),
    ),
    weights=(0.25, 0.5, 0.25),
)


@dataclass
class PoolWorkload(Workload):
    """Workflows sampled uniformly, with replacement, from a fixed list.

    Args:
        name: Spec string (e.g. ``"wfinstances:../shared/data/wfinstances"``).
        workflows: The pool (non-empty).
        profile: Cluster profile to run them on.
    """

    name: str
    workflows: list[Workflow]
    profile: ClusterProfile = field(default=SCIENTIFIC_PROFILE)
    _mean: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.workflows:
            raise ValueError(f"workload {self.name!r}: the pool of workflows is empty")

    def sample(self, rng: np.random.Generator, count: int) -> list[Workflow]:
        """``count`` workflows drawn uniformly with replacement."""
        picks = rng.integers(len(self.workflows), size=count)
        return [self.workflows[i] for i in picks]

    def mean_work_by_kind(self) -> np.ndarray:
        """Shape (K,). Exact mean over the pool (uniform sampling)."""
        if self._mean is None:
            self._mean = mean_work_by_kind(self.workflows)
        return self._mean
