"""The embedded agentic-workflow generator (the default workload; needs no data files).

Shapes (docs/workloads.md): ``chain`` (plan → tool/llm steps → answer), ``fanout`` (plan → parallel
tool/retrieval calls → aggregate), ``reflect`` (plan → code → reflect, repeated), ``mapreduce``
(split → parallel llm maps → reduce). Work is in work units = seconds on a speed-1 (CPU) server.

Work distributions are lognormal with the medians below. They are first guesses of this project:
an LLM call of ~20 work units takes ~2 s on a GPU server of llm speed 10, in line with the
Azure LLM trace's median of a few hundred generated tokens at tens of tokens/s (Patel et al.,
"Splitwise", ISCA 2024); tool/code durations are of the order of the short jobs in WfInstances.
benchmarks/workload_stats.py compares them with the real traces (docs/workloads.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scale_rllib.sim.cluster import ServerType
from scale_rllib.sim.workflow import TaskKind, Workflow
from scale_rllib.workloads.base import ClusterProfile, Workload, mean_work_by_kind

#: (median work units, lognormal sigma) per task kind.
WORK_LOGNORMAL = {
    TaskKind.LLM: (20.0, 0.6),
    TaskKind.TOOL: (2.0, 0.8),
    TaskKind.RETRIEVAL: (1.0, 0.5),
    TaskKind.CODE: (4.0, 0.9),
}

#: GPU servers run LLM calls 10–12× faster than a CPU server; CPU servers run tools and code faster.
AGENTIC_PROFILE = ClusterProfile(
    types=(
        ServerType.from_kind_speeds("gpu-large", {"llm": 12.0}, slots=2),
        ServerType.from_kind_speeds("gpu-small", {"llm": 6.0}, slots=1),
        ServerType.from_kind_speeds(
            "cpu", {"llm": 0.5, "tool": 1.5, "retrieval": 2.0, "code": 2.0, "compute": 2.0}, slots=2
        ),
    ),
    weights=(0.25, 0.25, 0.5),
)

SHAPES = ("chain", "fanout", "reflect", "mapreduce")


@dataclass
class AgenticWorkload(Workload):
    """Random agentic workflows of the four shapes, uniformly mixed.

    Args:
        max_width: Largest fan-out of the parallel shapes.
        max_steps: Longest chain / number of reflect rounds.
    """

    max_width: int = 6
    max_steps: int = 4
    name: str = "agentic"
    profile: ClusterProfile = field(default=AGENTIC_PROFILE)
    _mean: np.ndarray | None = field(default=None, repr=False)

    def sample(self, rng: np.random.Generator, count: int) -> list[Workflow]:
        """``count`` workflows; shape, size and work all drawn from ``rng``."""
        return [self._one(rng, i) for i in range(count)]

    def mean_work_by_kind(self) -> np.ndarray:
        """Shape (K,). Estimated once from 2,000 workflows of a fixed seed."""
        if self._mean is None:
            self._mean = mean_work_by_kind(self.sample(np.random.default_rng(12345), 2000))
        return self._mean

    def _one(self, rng: np.random.Generator, index: int) -> Workflow:
        shape = SHAPES[rng.integers(len(SHAPES))]
        kinds, edges = getattr(self, f"_{shape}")(rng)
        medians = np.array([WORK_LOGNORMAL[TaskKind(k)][0] for k in kinds])
        sigmas = np.array([WORK_LOGNORMAL[TaskKind(k)][1] for k in kinds])
        work = medians * np.exp(sigmas * rng.standard_normal(len(kinds)))
        ids = [str(i) for i in range(len(kinds))]
        return Workflow.from_edges(
            f"{shape}-{index}", ids, kinds, work, [(str(a), str(b)) for a, b in edges], source="agentic generator"
        )

    def _chain(self, rng):
        steps = int(rng.integers(1, self.max_steps + 1))
        kinds = [TaskKind.LLM]
        for _ in range(steps):
            kinds += [TaskKind(rng.choice([TaskKind.TOOL, TaskKind.RETRIEVAL, TaskKind.CODE])), TaskKind.LLM]
        return kinds, [(i, i + 1) for i in range(len(kinds) - 1)]

    def _fanout(self, rng):
        width = int(rng.integers(2, self.max_width + 1))
        calls = [TaskKind(rng.choice([TaskKind.TOOL, TaskKind.RETRIEVAL])) for _ in range(width)]
        kinds = [TaskKind.LLM, *calls, TaskKind.LLM]
        last = len(kinds) - 1
        return kinds, [(0, i) for i in range(1, last)] + [(i, last) for i in range(1, last)]

    def _reflect(self, rng):
        rounds = int(rng.integers(1, self.max_steps + 1))
        kinds = [TaskKind.LLM]
        for _ in range(rounds):
            kinds += [TaskKind.CODE, TaskKind.LLM]
        return kinds, [(i, i + 1) for i in range(len(kinds) - 1)]

    def _mapreduce(self, rng):
        width = int(rng.integers(2, self.max_width + 1))
        kinds = [TaskKind.RETRIEVAL, TaskKind.LLM, *([TaskKind.LLM] * width), TaskKind.LLM]
        last = len(kinds) - 1
        edges = [(0, 1)] + [(1, i) for i in range(2, last)] + [(i, last) for i in range(2, last)]
        return kinds, edges
