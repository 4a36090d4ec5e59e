"""Heuristics that explore where the performance model is unsure (estimated runtime knowledge, docs/design.md §10).

EFT on a performance model's estimates is greedy: a server type the model believes slow for a task kind is never
tried, so the model never learns that it is fast (``results/knowledge``: at profile error σ = 1, EFT on estimates
is 1.17 × EFT with the true times, although the model is corrected at every completion). The remedy of the bandit
literature is optimism in the face of uncertainty (Lai & Robbins, "Asymptotically efficient adaptive allocation
rules", Adv. Appl. Math. 6, 1985; Auer, Cesa-Bianchi & Fischer, "Finite-time analysis of the multiarmed bandit
problem", Machine Learning 47, 2002): score each choice by an optimistic bound of its cost, so that choices whose
cost is uncertain get tried until the uncertainty is gone.
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
        start = sim.start_times_s()
        exec_s = sim.earliest_finish_times_s() - start
        sd = sim.exec_log_sd[:, sim.task_kind[sim.task]]
        return int(np.argmin(start + exec_s * np.exp(-self.kappa * sd)))


#: Exploring heuristics by name (not in the default evaluation set: they differ from EFT only on estimates).
EXPLORATION_HEURISTICS = {cls.name: cls for cls in (OptimisticEFTScheduler,)}
