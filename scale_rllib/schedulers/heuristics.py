"""List-scheduling heuristics: random, round-robin, EST, EFT, PEFT (docs/design.md, "Heuristics").

All break exact ties by the lowest server index (``np.argmin``), so they are deterministic.
"""

from __future__ import annotations

import numpy as np

from scale_rllib.schedulers.base import Scheduler
from scale_rllib.sim.simulator import Simulator


class RandomScheduler(Scheduler):
    """A uniformly random server among those that can run the task (``Simulator.can_run``), from a generator seeded
    per episode."""

    name = "random"

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)

    def reset(self, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 0x5EED])

    def select(self, observation, sim: Simulator) -> int:
        candidates = np.flatnonzero(sim.can_run())
        return int(candidates[self._rng.integers(len(candidates))])


class RoundRobinScheduler(Scheduler):
    """Servers 0, 1, …, N−1, 0, … in turn, regardless of state, skipping those that cannot run the task."""

    name = "round-robin"

    def __init__(self) -> None:
        self._next = 0

    def reset(self, seed: int) -> None:
        self._next = 0

    def select(self, observation, sim: Simulator) -> int:
        can_run = sim.can_run()
        while not can_run[server := self._next % sim.cluster.num_servers]:
            self._next += 1
        self._next += 1
        return server


class ESTScheduler(Scheduler):
    """Earliest start time: argmin_s max(now, server free) over the servers that can run the task — ignores speed."""

    name = "est"

    def select(self, observation, sim: Simulator) -> int:
        return int(np.argmin(np.where(sim.can_run(), sim.start_times_s(), np.inf)))


class EFTScheduler(Scheduler):
    """Earliest finish time: argmin_s start_s + work / speed[s, kind] (HEFT's rule, Topcuoglu et al. 2002)."""

    name = "eft"

    def select(self, observation, sim: Simulator) -> int:
        return int(np.argmin(sim.earliest_finish_times_s()))


class PEFTScheduler(Scheduler):
    """EFT plus the task's remaining path to its workflow's exit, run at this server's relative speed.

    score_s = EFT_s + (CP_t − e_t) · max_s' speed[s', k] / speed[s, k], where CP_t is the task's
    remaining critical path on the fastest servers (including itself), e_t its own fastest
    execution time and k its kind. A lookahead in the spirit of PEFT's optimistic cost table
    (Arabnejad & Barbosa 2014) and of the DWS peer's ``SP/vCPU_k`` term (docs/dws-benchmark.md).
    """

    name = "peft"

    def select(self, observation, sim: Simulator) -> int:
        t, kind = sim.task, sim.task_kind[sim.task]
        speed = sim.cluster.speed[:, kind]
        downstream_s = sim.task_critical_path_s[t] - sim.task_fastest_s[t]
        return int(np.argmin(sim.earliest_finish_times_s() + downstream_s * speed.max() / speed))


#: The default heuristic set of an evaluation.
HEURISTICS = {
    cls.name: cls for cls in (RandomScheduler, RoundRobinScheduler, ESTScheduler, EFTScheduler, PEFTScheduler)
}
