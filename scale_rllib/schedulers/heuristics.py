"""List-scheduling heuristics: random, round-robin, EST, EFT, PEFT (DESIGN §7).

All break exact ties by the lowest server index (``np.argmin``), so they are deterministic.
"""

from __future__ import annotations

import numpy as np

from scale_rllib.sim.simulator import Simulator


class RandomScheduler:
    """A uniformly random server, from a generator seeded per episode."""

    name = "random"

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)

    def reset(self, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 0x5EED])

    def select(self, observation, sim: Simulator) -> int:
        return int(self._rng.integers(sim.cluster.num_servers))


class RoundRobinScheduler:
    """Servers 0, 1, …, N−1, 0, … in turn, regardless of state."""

    name = "round-robin"

    def __init__(self) -> None:
        self._next = 0

    def reset(self, seed: int) -> None:
        self._next = 0

    def select(self, observation, sim: Simulator) -> int:
        server = self._next % sim.cluster.num_servers
        self._next += 1
        return server


class _Stateless:
    def reset(self, seed: int) -> None:
        """No state."""


class ESTScheduler(_Stateless):
    """Earliest start time: argmin_s max(now, server free) — ignores speed."""

    name = "est"

    def select(self, observation, sim: Simulator) -> int:
        return int(np.argmin(sim.start_times_s()))


class EFTScheduler(_Stateless):
    """Earliest finish time: argmin_s start_s + work / speed[s, kind] (HEFT's rule, Topcuoglu et al. 2002)."""

    name = "eft"

    def select(self, observation, sim: Simulator) -> int:
        return int(np.argmin(sim.earliest_finish_times_s()))


class PEFTScheduler(_Stateless):
    """EFT plus the task's remaining path to its workflow's exit, run at this server's relative speed.

    score_s = EFT_s + (CP_t − e_t) · max_s' speed[s', k] / speed[s, k], where CP_t is the task's
    remaining critical path on the fastest servers (including itself), e_t its own fastest
    execution time and k its kind. A lookahead in the spirit of PEFT's optimistic cost table
    (Arabnejad & Barbosa 2014) and of the DWS peer's ``SP/vCPU_k`` term (BENCHMARKS.md §1).
    """

    name = "peft"

    def select(self, observation, sim: Simulator) -> int:
        t, kind = sim.task, sim.task_kind[sim.task]
        speed = sim.cluster.speed[:, kind]
        downstream_s = sim.task_critical_path_s[t] - sim.task_fastest_s[t]
        return int(np.argmin(sim.earliest_finish_times_s() + downstream_s * speed.max() / speed))


HEURISTICS = {
    cls.name: cls for cls in (RandomScheduler, RoundRobinScheduler, ESTScheduler, EFTScheduler, PEFTScheduler)
}


def known_heuristics() -> dict[str, type]:
    """Every heuristic by name: :data:`HEURISTICS`, the DWS peer's stale-clock ``dws-est`` / ``dws-heft`` /
    ``dws-peft`` (:mod:`scale_rllib.baselines.dws`) and the rollouts ``eft-rollout`` / ``peft-rollout``
    (:mod:`scale_rllib.baselines.rollout`).
    """
    from scale_rllib.baselines.dws import COMPAT_HEURISTICS
    from scale_rllib.baselines.rollout import ROLLOUT_HEURISTICS

    return {**HEURISTICS, **COMPAT_HEURISTICS, **ROLLOUT_HEURISTICS}


def make_heuristic(name: str):
    """A fresh heuristic scheduler by name (one of :func:`known_heuristics`).

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    known = known_heuristics()
    try:
        return known[name]()
    except KeyError:
        raise ValueError(f"unknown scheduler {name!r}; known: {', '.join(known)}") from None
