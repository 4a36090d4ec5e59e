"""What the adaptation protocol trains: its budgets (:class:`AdaptationPlan`) and every run's :class:`TrainConfig`.

Methods (docs/design.md §10, "Meta-training"):

- ``meta``: PPO on ``shift_distribution=meta-train`` episodes (estimated runtime knowledge; the policy reads the
  performance model's posterior mean and log-sd), then fine-tuned on the held-out shift;
- ``no-meta``: the same PPO budget on unshifted episodes (estimated knowledge), then fine-tuned the same way;
- ``scratch``: PPO from a new network on the held-out shift (TrainConfig's from-scratch defaults).

``meta`` and ``no-meta`` start from the same warm start (a clone of ``warm_start`` on their own training episodes) and
train and fine-tune with the same learning rate and entropy bonus, so they differ only in their training episodes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.shifts import SHIFT_DISTRIBUTIONS
from scale_rllib.training.config import WARM_START_TEACHERS, TrainConfig
from scale_rllib.validation import require

#: The learned methods, in report order.
METHODS = ("meta", "no-meta", "scratch")
#: The methods that are pretrained before adapting.
PRETRAINED = {"meta": "meta-train", "no-meta": "none"}


@dataclass(frozen=True)
class AdaptationPlan:
    """Budgets of one adaptation study.

    Attributes:
        shifts: Held-out shift distributions (:data:`~scale_rllib.env.shifts.SHIFT_DISTRIBUTIONS`).
        seeds: Training seeds (each trains every method).
        steps: Adaptation PPO iterations after which the policies are evaluated (0: the pretrained network).
        pretrain_iterations: PPO iterations of ``meta`` and ``no-meta`` before adapting.
        train_servers: (min, max) N of every training episode.
        eval_servers: N of the evaluation episodes.
        episodes: Evaluation episodes (seeds 10000, 10001, …), the same for every method.
        warm_start: Heuristic cloned before the pretraining (None: from scratch).
        lr, entropy_coeff: PPO of the pretraining and of the fine-tuning (a cloned network needs a small step).
        adapt_lr: The fine-tuning's learning rate when it differs from ``lr`` (None: ``lr``); ``scratch`` keeps the
            from-scratch default.
        num_env_runners, envs_per_runner, train_batch_size, minibatch_size, num_epochs: PPO sampling and SGD
            (:class:`TrainConfig`), the same for every run.
        warm_start_episodes, warm_start_epochs, warm_start_dagger_rounds: The clone's budget.
        warm_start_privileged: The clone's teacher decides on the true execution times while the student learns from
            the estimated observation (:class:`TrainConfig`); the same for ``meta`` and ``no-meta``.

    Raises:
        ConfigError: an invalid field (named).
    """

    shifts: tuple[str, ...] = ("heldout-drift", "heldout-error")
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: tuple[int, ...] = (0, 1, 2, 5, 10)
    pretrain_iterations: int = 20
    train_servers: tuple[int, int] = (12, 20)
    eval_servers: int = 16
    episodes: int = 10
    warm_start: str | None = "eft"
    lr: float = 3e-5
    entropy_coeff: float = 0.0
    num_env_runners: int = 2
    envs_per_runner: int = 4
    train_batch_size: int = 4000
    minibatch_size: int = 500
    num_epochs: int = 4
    warm_start_episodes: int = 16
    warm_start_epochs: int = 5
    warm_start_dagger_rounds: int = 0
    warm_start_privileged: bool = False
    adapt_lr: float | None = None

    def __post_init__(self) -> None:
        bad = [s for s in self.shifts if s in ("none", "meta-train") or s not in SHIFT_DISTRIBUTIONS]
        require(bool(self.shifts) and not bad, "shifts", f"need held-out shift distributions, got {bad or 'none'}")
        require(bool(self.seeds), "seeds", "need ≥ 1 training seed")
        steps_ok = bool(self.steps) and list(self.steps) == sorted(set(self.steps)) and min(self.steps) >= 0
        require(steps_ok, "steps", f"need increasing iteration counts ≥ 0, got {self.steps}")
        require(self.pretrain_iterations >= 1, "pretrain_iterations", "must be ≥ 1")
        require(self.episodes >= 1, "episodes", "must be ≥ 1")
        require(self.warm_start is None or self.warm_start in WARM_START_TEACHERS, "warm_start",
                f"must be one of {', '.join(WARM_START_TEACHERS)} or None")  # fmt: skip
        self.pretrain_config("meta", self.seeds[0])  # validates the PPO budgets and N
        require(self.eval_servers >= 1, "eval_servers", "must be ≥ 1")
        require(self.adapt_lr is None or self.adapt_lr > 0, "adapt_lr", f"must be > 0, got {self.adapt_lr}")

    def _ppo(self) -> dict:
        names = ("num_env_runners", "envs_per_runner", "train_batch_size", "minibatch_size", "num_epochs")
        return {name: getattr(self, name) for name in names}

    def _env(self, shift_distribution: str) -> EnvConfig:
        return EnvConfig(servers_range=tuple(self.train_servers), runtime_knowledge="estimated",
                         shift_distribution=shift_distribution)  # fmt: skip

    def pretrain_config(self, method: str, seed: int) -> TrainConfig:
        """``meta`` (meta-train episodes) or ``no-meta`` (unshifted episodes), ``pretrain_iterations`` iterations."""
        return TrainConfig(env=self._env(PRETRAINED[method]), iterations=self.pretrain_iterations, seed=seed,
                           warm_start=self.warm_start, warm_start_episodes=self.warm_start_episodes,
                           warm_start_epochs=self.warm_start_epochs, lr=self.lr, entropy_coeff=self.entropy_coeff,
                           warm_start_dagger_rounds=self.warm_start_dagger_rounds,
                           warm_start_privileged=self.warm_start_privileged, **self._ppo())  # fmt: skip

    def adapt_config(self, method: str, shift: str, seed: int, iterations: int, init: Path | None) -> TrainConfig:
        """``iterations`` PPO iterations on ``shift``: fine-tuning ``init`` (``meta``, ``no-meta``) or from scratch."""
        if method == "scratch":
            return TrainConfig(env=self._env(shift), iterations=iterations, seed=seed, **self._ppo())
        lr = self.lr if self.adapt_lr is None else self.adapt_lr
        return TrainConfig(env=self._env(shift), iterations=iterations, seed=seed, init_checkpoint=str(init),
                           lr=lr, entropy_coeff=self.entropy_coeff, **self._ppo())  # fmt: skip


#: ``--quick``: a smoke run of the whole pipeline in a few minutes (numbers mean nothing).
QUICK = AdaptationPlan(shifts=("heldout-newtype",), seeds=(0,), steps=(0, 1, 2), pretrain_iterations=2,
                       train_servers=(8, 8), eval_servers=8, episodes=2, num_env_runners=1, envs_per_runner=2,
                       train_batch_size=256, minibatch_size=128, num_epochs=1, warm_start_episodes=2,
                       warm_start_epochs=1)  # fmt: skip


def with_overrides(plan: AdaptationPlan, **given) -> AdaptationPlan:
    """``plan`` with the given (not None) fields replaced (lists → tuples)."""
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v is not None}
    return dataclasses.replace(plan, **values)
