"""Pick the best of the warm start's rounds on validation episodes, not the last (docs/design.md §7).

DAgger's guarantee holds for the best policy of its sequence, and the algorithm returns the one that does best on
validation (Ross, Gordon & Bagnell, AISTATS 2011, Algorithm 3.1: "Return best π̂_i on validation"). Successive rounds
of a clone differ by a few tenths of a percent of flowtime, in either direction, so keeping the last round keeps
whichever one the run happened to end on.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.schedulers.base import run_episode
from scale_rllib.schedulers.policy import PolicyScheduler


def validation_ratio(module, env_config: EnvConfig, seeds: range) -> float:
    """Mean over the episodes of ``seeds`` of mean response time / lower bound, the network acting greedily.

    Args:
        module: A ScaleRLModule built for ``env_config``'s observation space.
        env_config: The training episodes' config (randomized N and mix, as in training).
        seeds: Episode seeds; the same seeds for every module compared, so the comparison is paired.

    Returns:
        The mean ratio (≥ 1 up to the bound's validity: :mod:`scale_rllib.sim.bounds`).
    """
    env = SchedulingEnv(env_config)
    student = PolicyScheduler(module, "validation")
    with torch.no_grad():
        results = [run_episode(env, student, seed) for seed in seeds]
    module.train()  # PolicyScheduler put the module in eval mode; cloning goes on after
    return float(np.mean([r.mean_response_time_s / r.lower_bound_s for r in results]))


@dataclass
class RoundSelector:
    """Scores each round's network on fixed validation episodes and keeps the weights of the best.

    Attributes:
        env_config: The validation episodes' config.
        seeds: Their seeds (disjoint from the cloning episodes').
        scores: Each offered round's :func:`validation_ratio`, in order.
    """

    env_config: EnvConfig
    seeds: range
    scores: list[float] = field(default_factory=list)
    _best_state: dict | None = field(default=None, init=False, repr=False)

    @property
    def best_round(self) -> int:
        """Index into ``scores`` of the lowest (the first of equal ones); −1 before any."""
        return int(np.argmin(self.scores)) if self.scores else -1

    def offer(self, module) -> float:
        """Score ``module`` now; keep a copy of its weights if it is the best so far. Returns its score."""
        score = validation_ratio(module, self.env_config, self.seeds)
        if not self.scores or score < min(self.scores):
            self._best_state = copy.deepcopy(module.state_dict())
        self.scores.append(score)
        return score

    def restore(self, module) -> dict[str, float]:
        """Load the best round's weights into ``module``.

        Returns:
            ``selected_round`` (0 = the first clone), ``validation_ratio`` (its score) and
            ``validation_ratio_round_<r>`` for every round.

        Raises:
            RuntimeError: no round was offered.
        """
        if self._best_state is None:
            raise RuntimeError("RoundSelector.restore: no round was offered")
        module.load_state_dict(self._best_state)
        per_round = {f"validation_ratio_round_{r}": s for r, s in enumerate(self.scores)}
        return {"selected_round": float(self.best_round), "validation_ratio": self.scores[self.best_round]} | per_round
