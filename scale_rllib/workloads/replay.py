"""A workload whose arrivals are replayed from an Azure LLM inference trace (spec ``WORKLOAD@azure:PATH``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scale_rllib.workloads.base import ClusterProfile, Workload
from scale_rllib.workloads.formats.azure import AzureTrace


@dataclass
class ReplayedArrivals(Workload):
    """Any workload with its arrivals replayed from an Azure trace (spec ``WORKLOAD@azure:PATH``).

    Args:
        name: The full spec string.
        base: The workload that supplies workflows, profile and mean work.
        trace: The trace whose request times are replayed (scaled to the scenario's rate).
    """

    name: str
    base: Workload
    trace: AzureTrace

    @property
    def profile(self) -> ClusterProfile:
        """The base workload's cluster profile."""
        return self.base.profile

    def sample(self, rng: np.random.Generator, count: int) -> list:
        """The base workload's workflows."""
        return self.base.sample(rng, count)

    def mean_work_by_kind(self) -> np.ndarray:
        """The base workload's mean work per kind."""
        return self.base.mean_work_by_kind()

    def mean_decode_work_by_kind(self) -> np.ndarray | None:
        """The base workload's mean decode work per kind, or None when it has none."""
        return self.base.mean_decode_work_by_kind()

    def arrival_times(self, rng: np.random.Generator, count: int, rate_per_s: float) -> np.ndarray:
        """Replayed trace times scaled to ``rate_per_s`` (:meth:`AzureTrace.arrival_times`)."""
        return self.trace.arrival_times(rng, count, rate_per_s)
