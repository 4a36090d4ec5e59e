"""``worfbench:PATH``: WorFBench gold-graph shapes with the embedded agentic generator's runtimes.

Each workflow is a WorFBench gold graph (Qiao et al., "Benchmarking Agentic Workflow Generation", ICLR 2025; parsed
by :mod:`scale_rllib.workloads.formats.worfbench`) drawn uniformly with replacement; every node keeps its kind and
draws its work from the lognormal of that kind in :data:`~scale_rllib.workloads.generators.agentic.WORK_LOGNORMAL`.
The cluster profile is the embedded one (:data:`~scale_rllib.workloads.generators.agentic.AGENTIC_PROFILE`), so the
only difference from ``agentic`` is the shape of the DAGs (docs/workloads.md). Unlike ``agentic-real`` it needs no
Azure trace.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from scale_rllib.sim.workflow import NUM_KINDS, TaskKind, Workflow
from scale_rllib.workloads.base import ClusterProfile, Workload
from scale_rllib.workloads.formats.worfbench import load_worfbench
from scale_rllib.workloads.generators.agentic import AGENTIC_PROFILE, WORK_LOGNORMAL

__all__ = ["WorfbenchWorkload", "make_worfbench"]

_MEDIAN = np.array([WORK_LOGNORMAL.get(TaskKind(k), (0.0, 0.0))[0] for k in range(NUM_KINDS)])
_SIGMA = np.array([WORK_LOGNORMAL.get(TaskKind(k), (0.0, 0.0))[1] for k in range(NUM_KINDS)])


@dataclass
class WorfbenchWorkload(Workload):
    """WorFBench shapes with lognormal work per kind.

    Args:
        name: Spec string.
        graphs: WorFBench DAGs (kinds set; their zero work is replaced per sample).
        profile: The cluster profile.

    Raises:
        ValueError: no graphs, or a graph with a kind that has no work distribution.
    """

    name: str
    graphs: list[Workflow]
    profile: ClusterProfile = field(default=AGENTIC_PROFILE)
    _mean: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.graphs:
            raise ValueError(f"workload {self.name!r}: no WorFBench graphs")
        counts = np.array([np.bincount(g.kinds, minlength=NUM_KINDS) for g in self.graphs])  # (G, K)
        missing = [TaskKind(k).name.lower() for k in np.flatnonzero(counts.sum(0)) if TaskKind(k) not in WORK_LOGNORMAL]
        if missing:
            raise ValueError(f"workload {self.name!r}: no work distribution for kind(s) {', '.join(missing)}")
        # E[lognormal(median m, σ)] = m · exp(σ² / 2)
        self._mean = counts.mean(axis=0) * _MEDIAN * np.exp(_SIGMA**2 / 2)

    def sample(self, rng: np.random.Generator, count: int) -> list[Workflow]:
        """``count`` workflows: graphs uniform with replacement, then the work of every node (all from ``rng``)."""
        shapes = [self.graphs[i] for i in rng.integers(len(self.graphs), size=count)]
        out = []
        for j, shape in enumerate(shapes):
            kinds = shape.kinds
            work = _MEDIAN[kinds] * np.exp(_SIGMA[kinds] * rng.standard_normal(len(kinds)))
            out.append(dataclasses.replace(shape, name=f"{shape.name}#{j}", work=work))
        return out

    def mean_work_by_kind(self) -> np.ndarray:
        """Shape (K,). Exact mean work per workflow: mean tasks of a kind × the mean of its lognormal."""
        return self._mean


def make_worfbench(spec: str) -> WorfbenchWorkload:
    """Load the graphs of ``worfbench:PATH`` (a ``graph_eval.json`` or a directory of them)."""
    return WorfbenchWorkload(spec, list(load_worfbench(spec.partition(":")[2]).graphs))
