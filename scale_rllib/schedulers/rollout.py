"""Rollout of EFT or PEFT: one step of policy improvement by simulation (Bertsekas, Tsitsiklis & Wu 1997, "Rollout
algorithms for combinatorial optimization"; Bertsekas 2019, *Reinforcement Learning and Optimal Control*, ch. 2.4).

For the current ready task, each of the ``candidates`` servers with the smallest EFT is tried in a fork of the
simulator; the fork then schedules every remaining task of the workflows *already in the system* with the base
heuristic, EFT (``eft-rollout``) or PEFT (``peft-rollout``) (future
arrivals are dropped: they are unknown at decision time), and the candidate whose fork gives the smallest sum of
those workflows' completion times — the same as the smallest sum of their response times — is chosen. Ties keep the
lower EFT, so with ``candidates=1`` it is EFT. The schedulers run the forks in compiled code
(:func:`scale_rllib.sim.fast_finish.rollout_completions_s`); :func:`rollout_cost` is the Python fork it reproduces,
kept as the reference (and for any other base heuristic), and run for episodes with serving engines
(:class:`~scale_rllib.sim.serving.ServingSimulator`), whose batches the compiled fork does not model.

EFT is greedy per task: it gives a non-critical task the fastest VM even when a critical sibling becomes ready an
instant later and must then wait or run on a slow VM. The rollout sees that cost. Interchangeable servers (same
speeds, same EFT for this task) are tried once. Cost per decision: ``candidates`` × the remaining tasks of the
in-system workflows (≈ 0.2 s per 100-workflow DWS stream; costly at high load; docs/performance.md).
"""

from __future__ import annotations

import numpy as np

from scale_rllib.schedulers.base import Scheduler
from scale_rllib.schedulers.heuristics import EFTScheduler, PEFTScheduler
from scale_rllib.sim.fast_finish import EFT, PEFT, rollout_completions_s
from scale_rllib.sim.serving import ServingSimulator
from scale_rllib.sim.simulator import Simulator


class EFTRolloutScheduler(Scheduler):
    """EFT improved by rollouts (see the module docstring).

    Args:
        candidates: Distinct servers (lowest EFT first) simulated per decision, ≥ 1.

    Raises:
        ValueError: ``candidates`` < 1.
    """

    name = "eft-rollout"
    compiled_base = EFT  # the base heuristic, as the compiled fork loop names it (scale_rllib.sim.fast_finish)

    def __init__(self, candidates: int = 4) -> None:
        if candidates < 1:
            raise ValueError(f"candidates must be ≥ 1, got {candidates}")
        self.candidates = candidates

    def select(self, observation, sim: Simulator) -> int:
        """The candidate server whose EFT rollout gives the smallest total completion time of in-system workflows."""
        servers, costs = self.fork_costs(observation, sim)
        return int(servers[np.argmin(costs)])  # the first minimum: the lower EFT on a tie

    def fork_costs(self, observation, sim: Simulator) -> tuple[np.ndarray, np.ndarray]:
        """The tried servers (C,) and each fork's Σ completion time (C,) in seconds (= Σ response time + a constant);
        one candidate is not forked (cost 0). The forks run in compiled code, or by :func:`rollout_cost` on a
        :class:`~scale_rllib.sim.serving.ServingSimulator`.
        """
        if isinstance(sim, ServingSimulator):
            base = PEFTScheduler() if self.compiled_base == PEFT else EFTScheduler()
            servers = candidate_servers(sim, self.candidates)
            return np.asarray(servers), python_fork_costs(sim, servers, base)
        servers, completions_s = rollout_completions_s(sim, self.candidates, self.compiled_base)
        return servers, (completions_s.sum(axis=1) if len(servers) > 1 else np.zeros(1))


class PEFTRolloutScheduler(EFTRolloutScheduler):
    """The same rollout with PEFT (:class:`~scale_rllib.schedulers.heuristics.PEFTScheduler`) as the base heuristic:
    its lookahead term keeps fast servers for tasks with long remaining paths inside the simulated future too.
    """

    name = "peft-rollout"
    compiled_base = PEFT


class NestedRolloutScheduler(Scheduler):
    """The rollout of a rollout: ``peft-rollout`` is the base policy of a second rollout (level-2 nested search,
    Cazenave, "Nested Monte-Carlo Search", IJCAI 2009; a rollout policy is itself a base policy that rollout
    improves, Bertsekas 2019, *Reinforcement Learning and Optimal Control*, §2.4).

    For the current ready task it tries ``peft-rollout``'s own choice and the ``candidates`` servers of lowest EFT
    (one per interchangeable group, as :func:`candidate_servers`), each in a fork of the simulator whose in-system
    workflows ``peft-rollout`` then schedules to the end (future arrivals dropped), and keeps the candidate of the
    smallest Σ completion time; ties keep the base's choice. Because the base's choice is always tried, the chosen
    fork is never worse than the base's own (the "fortified" rollout, Bertsekas 2019, §2.4). Cost per decision:
    ≈ ``candidates`` × remaining in-system tasks × a ``peft-rollout`` decision (2–9 ms a decision on the DWS
    reference streams, ≈ 100 × ``peft-rollout``; docs/design.md §6): a teacher, not a scheduler to deploy.

    Args:
        candidates: Servers of lowest EFT tried besides the base's choice, ≥ 1.

    Raises:
        ValueError: ``candidates`` < 1.
    """

    name = "peft-rollout-2"

    def __init__(self, candidates: int = 4) -> None:
        if candidates < 1:
            raise ValueError(f"candidates must be ≥ 1, got {candidates}")
        self.candidates = candidates
        self.base = PEFTRolloutScheduler(candidates)

    def select(self, observation, sim: Simulator) -> int:
        """The candidate whose fork, finished by ``peft-rollout``, gives the smallest Σ completion time."""
        servers, costs = self.fork_costs(observation, sim)
        return int(servers[np.argmin(costs)])  # the first minimum: the base's choice on a tie

    def fork_costs(self, observation, sim: Simulator) -> tuple[np.ndarray, np.ndarray]:
        """The tried servers (C,), the base's choice first, and each fork's Σ completion time (C,) in seconds."""
        own = self.base.select(observation, sim)
        servers = [own] + [s for s in candidate_servers(sim, self.candidates) if s != own]
        return np.asarray(servers), python_fork_costs(sim, servers, self.base)


ROLLOUT_HEURISTICS = {cls.name: cls for cls in (EFTRolloutScheduler, PEFTRolloutScheduler, NestedRolloutScheduler)}


def candidate_servers(sim: Simulator, k: int) -> list[int]:
    """Up to ``k`` server indices in increasing EFT order, one per group of :func:`interchangeable` servers."""
    eft = sim.earliest_finish_times_s()
    chosen: list[int] = []
    covered = np.zeros(len(eft), dtype=bool)
    for s in np.argsort(eft, kind="stable"):
        if covered[s]:
            continue
        chosen.append(int(s))
        if len(chosen) == k:
            break
        covered |= interchangeable(sim, int(s), eft)
    return chosen


def python_fork_costs(sim: Simulator, servers: list[int], base) -> np.ndarray:
    """:func:`rollout_cost` (seconds) of each of ``servers`` (C,) with ``base`` finishing; zeros(1) for one server
    (no fork)."""
    if len(servers) == 1:
        return np.zeros(1)
    in_system = sim.in_system_workflows()
    return np.array([rollout_cost(sim, s, in_system, base) for s in servers])


def interchangeable(sim: Simulator, servers, eft: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: the servers interchangeable for the current task with any of ``servers`` (an index or a sequence),
    themselves included — the same EFT, speed row and slot-free times, so the same fork cost. ``eft``: the task's
    (N,) EFTs in seconds, if already computed."""
    eft = sim.earliest_finish_times_s() if eft is None else eft
    out = np.zeros(len(eft), dtype=bool)
    for s in np.atleast_1d(servers):
        out |= (
            (eft == eft[s])
            & (sim.cluster.speed == sim.cluster.speed[s]).all(axis=1)
            & (sim.slot_free_s == sim.slot_free_s[s]).all(axis=1)
        )
    return out


def rollout_cost(sim: Simulator, server: int, workflows: np.ndarray, base=None) -> float:
    """Σ completion time (seconds) of ``workflows`` after giving the current task to ``server`` and every later
    task of the in-system workflows to ``base``'s choice (a stateless heuristic; None = EFT), with no further
    arrivals. ``sim`` is not changed.
    """
    base = EFTScheduler() if base is None else base
    fork = sim.fork(future_arrivals=False)
    fork.assign(server)
    while fork.next_decision():
        fork.assign(base.select(None, fork))
    return float(fork.completion_s[workflows].sum())
