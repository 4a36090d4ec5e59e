"""Heuristics for estimated runtimes (docs/design.md §10): explore where the performance model is unsure, and hedge
against the interference it cannot see.

EFT on a performance model's estimates is greedy: a server type the model believes slow for a task kind is never
tried, so the model never learns that it is fast (``results/knowledge``: at profile error σ = 1, EFT on estimates
is 1.17 × EFT with the true times, although the model is corrected at every completion). The remedy of the bandit
literature is optimism in the face of uncertainty (Lai & Robbins, "Asymptotically efficient adaptive allocation
rules", Adv. Appl. Math. 6, 1985; Auer, Cesa-Bianchi & Fischer, "Finite-time analysis of the multiarmed bandit
problem", Machine Learning 47, 2002): score each choice by an optimistic bound of its cost, so that choices whose
cost is uncertain get tried until the uncertainty is gone.

The performance model learns one multiplier per (server type, task kind), so the slowdown of a task that starts
beside another (interference, docs/design.md §10) is averaged away: EFT on its estimates stacks tasks on busy servers
as if they ran at full speed. Contention-aware schedulers (Paragon: Delimitrou & Kozyrakis, ASPLOS 2013; Bubble-Up:
Mars et al., MICRO 2011) instead charge co-location a slowdown; ``eft-contention`` charges an assumed one, and
``eft-colocation`` the one each server has shown so far (:class:`~scale_rllib.sim.colocation_model.ColocationModel`).
"""

from __future__ import annotations

import numpy as np

from scale_rllib.schedulers.base import Scheduler
from scale_rllib.sim.simulator import Simulator


class OptimisticEFTScheduler(Scheduler):
    """EFT on optimistic execution times: argmin_s start_s + e_s · exp(−κ · sd_s[k]).

    e_s is the performance model's estimate of the ready task's execution time on server s (seconds) and sd_s[k]
    the standard deviation of the model's posterior predictive of log(observed / estimated) for the task's kind k on
    s's server type (``Simulator.exec_log_sd``, :class:`~scale_rllib.sim.performance_model.PerformanceModel`), so
    exp(−κ · sd) is a lower confidence bound of the multiplier at κ standard deviations (UCB's optimism, module
    docstring). Where nothing is uncertain (oracle runtime knowledge, ``exec_log_sd`` None) it is EFT. Ties go to the
    lowest server index.

    Attributes:
        kappa: κ, the optimism in standard deviations of log time; 1 (the one-sided 84 % bound of a normal) did
            best of 0.5, 1, 2, 3 at profile error σ = 1 (``results/adaptation_headroom``).
    """

    name = "eft-ucb"
    kappa: float = 1.0

    def select(self, observation, sim: Simulator) -> int:
        if sim.exec_log_sd is None:
            return int(np.argmin(sim.earliest_finish_times_s()))
        sd = sim.exec_log_sd[:, sim.task_kind[sim.task]]
        return int(np.argmin(sim.start_times_s() + sim.exec_times_s() * np.exp(-self.kappa * sd)))


class ContentionAwareEFTScheduler(Scheduler):
    """EFT that charges co-location: a task that would start while another task still runs on server s
    (``Simulator.co_located``) is believed to take ``slowdown`` × its estimate there; EFT itself where the simulator
    already models interference (oracle knowledge of a cluster with it).

    Attributes:
        slowdown: The assumed factor; 1.5 did best of 1.25, 1.5, 2, 2.5 on the ``meta-train`` shift distribution
            (mean true factor 1.25 there; ``results/adaptation_headroom``).
    """

    name = "eft-contention"
    slowdown: float = 1.5

    def select(self, observation, sim: Simulator) -> int:
        if sim.interference is not None:
            return int(np.argmin(sim.earliest_finish_times_s()))
        start = sim.start_times_s()
        charged = np.where(sim.co_located(start), self.slowdown, 1.0)
        return int(np.argmin(start + sim.exec_times_s() * charged))


class ColocationEFTScheduler(Scheduler):
    """EFT that charges co-location the slowdown each server has shown so far: a task that would start beside another
    task on server s (``Simulator.co_located``) is believed to take exp(φ_s) × its estimate there, φ_s the
    co-location model's log interference factor (``Simulator.colocation_log_factor``,
    :class:`~scale_rllib.sim.colocation_model.ColocationModel`) — ``eft-contention`` with the charge inferred online
    instead of assumed. EFT where the simulator has no such belief (oracle knowledge: it models interference exactly).
    Ties go to the lowest server index.
    """

    name = "eft-colocation"

    def select(self, observation, sim: Simulator) -> int:
        start = sim.start_times_s()
        return int(np.argmin(start + sim.exec_times_s() * sim.colocation_charges(start)))


#: Heuristics for estimated runtimes by name (not in the default evaluation set: with oracle knowledge
#: ``eft-ucb`` is EFT, and ``eft-contention`` charges a slowdown the cluster may not have).
UNCERTAIN_HEURISTICS = {
    cls.name: cls for cls in (OptimisticEFTScheduler, ContentionAwareEFTScheduler, ColocationEFTScheduler)
}
