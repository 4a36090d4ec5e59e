"""The workload base class (with its optional hooks) and the cluster profiles shared by generators and loaders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import NUM_KINDS, Workflow


class Workload:
    """A source of workflows plus the cluster profile it runs on by default.

    Subclasses implement :meth:`sample` and :meth:`mean_work_by_kind`; the other methods are optional hooks with
    defaults: no decode work, Poisson arrivals, and an episode = a cluster of the profile + sampled workflows +
    arrivals at the rate that gives offered load ρ (:meth:`build_episode`).

    Attributes:
        name: Spec string, e.g. ``"agentic"`` or ``"wfinstances:DATA/wf"``.
        profile: Server types and their default proportions.
    """

    name: str
    profile: ClusterProfile

    def sample(self, rng: np.random.Generator, count: int) -> list[Workflow]:
        """Draw ``count`` workflows (deterministic given ``rng``)."""
        raise NotImplementedError

    def mean_work_by_kind(self) -> np.ndarray:
        """Shape (K,). Expected work per workflow of each task kind (work units)."""
        raise NotImplementedError

    def mean_decode_work_by_kind(self) -> np.ndarray | None:
        """Shape (K,) or None. Expected decode work (e.g. an LLM call's generated tokens) per workflow of each kind;
        None (the default) when the workload has no second work component."""
        return None

    def arrival_times(self, rng: np.random.Generator, count: int, rate_per_s: float) -> np.ndarray:
        """Shape (count,). Arrival times (s), first at 0; default a Poisson process of ``rate_per_s``."""
        return poisson_arrivals(rng, count, rate_per_s)

    def build_episode(
        self,
        rng: np.random.Generator,
        *,
        servers: int,
        load: float,
        num_workflows: int,
        randomize_mix: bool,
        bandwidth: float | None = None,
    ) -> Simulator:
        """Draw a cluster, workflows and arrivals, all from ``rng``.

        The arrival rate is ``load × cluster.service_rate(mean work, mean decode work)``, so the offered load ρ is
        the same for every N (docs/design.md, "Offered load").

        Args:
            rng: The episode's only source of randomness.
            servers: N.
            load: Offered load ρ.
            num_workflows: W workflows in the stream.
            randomize_mix: Draw the server-type proportions (training) or use the profile's (evaluation).
            bandwidth: Bytes/s between servers, or None for no transfer time.

        Returns:
            A fresh :class:`Simulator`.
        """
        cluster = self.profile.draw(servers, rng, randomize_mix, bandwidth)
        workflows = self.sample(rng, num_workflows)
        rate = load * cluster.service_rate(self.mean_work_by_kind(), self.mean_decode_work_by_kind())
        return Simulator(cluster, workflows, self.arrival_times(rng, num_workflows, rate))


@dataclass(frozen=True)
class ClusterProfile:
    """Server types and their proportions in a cluster of any size N.

    Attributes:
        types: The server types.
        weights: Their default proportions (sum to 1).
    """

    types: tuple[ServerType, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.types) != len(self.weights) or not self.types:
            raise ValueError("a cluster profile needs one weight per server type")
        if any(w < 0 for w in self.weights) or not np.isclose(sum(self.weights), 1.0):
            raise ValueError(f"cluster profile weights must be ≥ 0 and sum to 1, got {self.weights}")

    def fixed(self, servers: int, bandwidth: float | None = None) -> Cluster:
        """Evaluation cluster: counts ∝ weights (largest remainder), every type ≥ 1 if N allows."""
        weights = np.asarray(self.weights)
        return self._cluster(_apportion(weights, servers), bandwidth)

    def randomized(self, servers: int, rng: np.random.Generator, bandwidth: float | None = None) -> Cluster:
        """A training cluster: proportions drawn from Dirichlet(4·weights + 0.5), then apportioned."""
        weights = rng.dirichlet(4.0 * np.asarray(self.weights) + 0.5)
        return self._cluster(_apportion(weights, servers), bandwidth)

    def draw(self, servers: int, rng: np.random.Generator, randomize_mix: bool, bandwidth: float | None) -> Cluster:
        """:meth:`randomized` (training) or :meth:`fixed` (evaluation) N = ``servers``."""
        return self.randomized(servers, rng, bandwidth) if randomize_mix else self.fixed(servers, bandwidth)

    def _cluster(self, counts: np.ndarray, bandwidth: float | None) -> Cluster:
        return Cluster.from_counts(list(zip(self.types, counts)), bandwidth)


def _apportion(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to ``total``, ≥ 1 per positive weight when total allows (largest remainder)."""
    k = len(weights)
    floor = np.zeros(k, dtype=np.int64)
    positive = weights > 0
    if total >= positive.sum():
        floor[positive] = 1
    rest = total - floor.sum()
    share = weights / weights.sum() * rest
    counts = floor + np.floor(share).astype(np.int64)
    order = np.argsort(-(share - np.floor(share)), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def mean_work_by_kind(workflows: list[Workflow]) -> np.ndarray:
    """Shape (K,). Mean over ``workflows`` of each workflow's total work per task kind."""
    totals = np.zeros(NUM_KINDS)
    for w in workflows:
        totals += np.bincount(w.kinds, weights=w.work, minlength=NUM_KINDS)
    return totals / max(len(workflows), 1)


def poisson_arrivals(rng: np.random.Generator, count: int, rate_per_s: float) -> np.ndarray:
    """Shape (count,). Arrival times (s) of a Poisson process of ``rate_per_s``, first at 0."""
    if not rate_per_s > 0:
        raise ValueError(f"arrival rate must be positive, got {rate_per_s!r}")
    gaps = rng.exponential(1.0 / rate_per_s, size=count)
    gaps[0] = 0.0
    return np.cumsum(gaps)
