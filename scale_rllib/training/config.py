"""One PPO training run: :class:`TrainConfig`, validated at construction (converted into RLlib's ``PPOConfig`` in
one place, :func:`scale_rllib.training.ppo.build_ppo_config`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from scale_rllib.env.config import EnvConfig
from scale_rllib.learner.srr import check_srr_weights
from scale_rllib.training.memory import check_training_memory
from scale_rllib.validation import ConfigError, from_dict, require

#: Advantage estimators: RLlib's GAE, or input-driven baselines over groups of episodes sharing an input.
ADVANTAGES = ("gae", "input-driven")
#: Returns of the input-driven advantages: discounted by gamma, or average-reward (differential, undiscounted).
RETURNS = ("discounted", "average-reward")
#: Teachers of policy iteration: the network's own rollout.
TEACHERS = ("self-rollout",)
#: Heuristics a warm start can clone (``*-rollout``: EFT/PEFT improved by simulated lookahead, slower to collect).
WARM_START_TEACHERS = (
    "eft", "peft", "eft-rollout", "peft-rollout", "peft-rollout-2", "eft-contention", "eft-colocation", "eft-marginal",
)  # fmt: skip
#: Adam learning rate of behaviour cloning: the warm start's, and policy iteration's default.
CLONE_LR = 1e-3
#: Warm-start teachers that fork the simulator, so their labels can be cost-sensitive.
COSTED_TEACHERS = ("eft-rollout", "peft-rollout", "peft-rollout-2")
_AT_LEAST_ONE = (
    "iterations",
    "envs_per_runner",
    "train_batch_size",
    "minibatch_size",
    "num_epochs",
    "embed_dim",
    "num_heads",
    "checkpoint_every",
    "warm_start_episodes",
    "warm_start_epochs",
    "num_threads",
)


@dataclass(frozen=True)
class TrainConfig:
    """One PPO training run.

    Attributes:
        env: The training episodes.
        iterations: PPO iterations (each samples ``train_batch_size`` env steps).
        lambda_dec: SRR decorrelation weight λ_dec ≥ 0 (docs/design.md, "SRR").
        lambda_kl: SRR KL weight λ_KL ≥ 0.
        num_env_runners: Remote env runner actors (0 = sample in the driver).
        envs_per_runner: Vectorised envs per env runner.
        train_batch_size: Env steps per iteration.
        minibatch_size: SGD minibatch size.
        num_epochs: SGD epochs per iteration.
        lr: Adam learning rate.
        gamma: Discount factor.
        gae_lambda: GAE λ.
        entropy_coeff: Entropy bonus.
        vf_loss_coeff: Weight of the value loss (the critic shares the encoders with the policy).
        embed_dim: Model width d.
        num_heads: Attention heads.
        seed: Seed for RLlib and the env runners.
        checkpoint_every: Save a checkpoint every this many iterations (and at the end).
        warm_start: Behaviour-clone this heuristic (one of :data:`WARM_START_TEACHERS`) before PPO; None = from
            scratch.
        warm_start_episodes: Teacher episodes for the warm start.
        warm_start_epochs: Passes over the teacher's decisions.
        warm_start_dagger_rounds: DAgger rounds after the first clone: the student runs, the teacher labels the
            states it reaches (each round adds ``warm_start_episodes`` episodes).
        warm_start_privileged: The teacher decides on the true simulator (true execution times, interference factors
            and shifted work) while the student is trained on the estimated observation — imitation of a privileged
            teacher ("Learning by Cheating", Chen, Zhou, Koltun & Krähenbühl, CoRL 2019), so the student learns to
            act from the performance model's belief as the teacher acts from the truth; needs ``warm_start`` and
            ``env.runtime_knowledge`` ``estimated``.
        warm_start_cost_sensitive: Cost-sensitive cloning of a rollout teacher (one of :data:`COSTED_TEACHERS`): every
            server as cheap as the cheapest fork the teacher tried is a right answer, and a decision weighs by what a
            wrong choice can cost (:func:`scale_rllib.training.warm_start.imitation_loss`; docs/design.md §7).
        warm_start_select_episodes: > 0: score the network of every warm-start round (the first clone and each
            DAgger round) on this many validation episodes and keep the best round, as DAgger returns the best policy
            on validation (Ross, Gordon & Bagnell 2011, Algorithm 3.1; :mod:`scale_rllib.training.selection`);
            0 = the last round. Needs ``warm_start``.
        warm_start_select_load: The offered load ρ of those validation episodes, so that rounds are picked at the
            load the network is meant for (the clones' ranking at ρ = 0.85 follows validation at ρ = 0.85,
            results/clone_selection); None = ``env.load``. Needs ``warm_start_select_episodes``.
        num_threads: torch threads of the driver and learner (1: one core per process, robust under contention).
        advantage: ``gae`` (RLlib's GAE) or ``input-driven``: each env runner's ``envs_per_runner`` envs run groups
            of episodes with the same input, and an action's advantage is its return-to-go minus the group's mean
            return-to-go at the same simulated time (Mao et al., ICLR 2019; :mod:`scale_rllib.learner.advantages`).
        group_size: K, the episodes of one input (= ``envs_per_runner`` with ``input-driven``).
        teacher: ``self-rollout``: after the warm start (if any) and before PPO, ``policy_iterations`` rounds in
            which the network acts, its own rollout labels the states it visits, and it is distilled on the labels
            (approximate policy iteration; :mod:`scale_rllib.training.policy_iteration`); None = no such rounds.
        policy_iterations: Rounds of policy iteration.
        policy_iteration_episodes: Episodes labelled per round.
        policy_iteration_lr: Adam learning rate of each round's distillation (its passes: ``warm_start_epochs``).
            The default is the warm start's; from a trained network one round at it made every DWS wide clone worse
            on validation, one at 1e-4 (3 passes) two of three better (docs/dws-benchmark.md §5); on the quick start
            neither moved the mean (docs/design.md §9).
        rollout_candidates: The network's most likely servers the self-rollout tries per decision.
        rollout_known_arrivals: Future workflows the self-rollout's forks see (0: none; > 0 a clairvoyant teacher,
            :mod:`scale_rllib.schedulers.self_rollout`).
        labelling_workers: Ray tasks (1 CPU each, spread over the cluster) that label a round's episodes.
        init_checkpoint: Start PPO from this checkpoint's network (a training checkpoint directory): fine-tuning on
            this run's task, with a fresh optimizer and iteration count (unlike resuming); None = a new network.
            Exclusive with ``warm_start``. :mod:`scale_rllib.training.init_checkpoint`.
        anchor_kl: β ≥ 0: PPO's loss adds β · KL(π_anchor ‖ π), π_anchor the network PPO starts from (after the warm
            start, policy iteration or ``init_checkpoint``) — AlphaStar's KL to its supervised policy
            (:mod:`scale_rllib.learner.anchor`); 0: off. Needs one of those starts (a random anchor means nothing).
        returns: Returns of the input-driven advantages: ``discounted`` (gamma) or ``average-reward`` (rewards minus
            the batch's reward rate × elapsed time, undiscounted; Decima, Mao et al., SIGCOMM 2019).

    Raises:
        ConfigError: any invalid field (named), including a size whose learner memory would not fit this machine
            (:func:`~scale_rllib.training.memory.check_training_memory`).
    """

    env: EnvConfig = field(default_factory=EnvConfig)
    iterations: int = 20
    lambda_dec: float = 0.1
    lambda_kl: float = 0.01
    num_env_runners: int = 1
    envs_per_runner: int = 4
    train_batch_size: int = 4000
    minibatch_size: int = 500
    num_epochs: int = 4
    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    entropy_coeff: float = 0.01
    vf_loss_coeff: float = 0.5
    embed_dim: int = 64
    num_heads: int = 4
    seed: int = 0
    checkpoint_every: int = 1
    warm_start: str | None = None
    warm_start_episodes: int = 16
    warm_start_epochs: int = 5
    warm_start_dagger_rounds: int = 0
    warm_start_privileged: bool = False
    warm_start_cost_sensitive: bool = False
    warm_start_select_episodes: int = 0
    warm_start_select_load: float | None = None
    num_threads: int = 1
    advantage: str = "gae"
    group_size: int = 4
    returns: str = "discounted"
    teacher: str | None = None
    policy_iterations: int = 0
    policy_iteration_episodes: int = 8
    policy_iteration_lr: float = CLONE_LR
    rollout_candidates: int = 4
    rollout_known_arrivals: int = 0
    labelling_workers: int = 1
    init_checkpoint: str | None = None
    anchor_kl: float = 0.0

    def __post_init__(self) -> None:
        try:
            check_srr_weights(self.lambda_dec, self.lambda_kl)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        for name in ("entropy_coeff", "vf_loss_coeff"):
            value = getattr(self, name)
            require(math.isfinite(value) and value >= 0, name, f"must be a finite number ≥ 0, got {value}")
        for name in _AT_LEAST_ONE:
            require(int(getattr(self, name)) >= 1, name, f"must be ≥ 1, got {getattr(self, name)}")
        require(self.num_env_runners >= 0, "num_env_runners", "must be ≥ 0")
        require(self.minibatch_size <= self.train_batch_size, "minibatch_size", "must be ≤ train_batch_size")
        for name in ("lr", "policy_iteration_lr"):  # Adam learning rates
            require(0 < getattr(self, name) < 1, name, f"must be in (0, 1), got {getattr(self, name)}")
        require(0 < self.gamma <= 1 and 0 <= self.gae_lambda <= 1, "gamma", "gamma in (0, 1], gae_lambda in [0, 1]")
        require(self.embed_dim % self.num_heads == 0, "embed_dim", "must be divisible by num_heads")
        require(
            self.warm_start is None or self.warm_start in WARM_START_TEACHERS,
            "warm_start",
            f"must be one of {', '.join(WARM_START_TEACHERS)} or None, got {self.warm_start!r}",
        )
        require(
            self.init_checkpoint is None or self.warm_start is None,
            "init_checkpoint",
            "give either --init-checkpoint (start from a trained network) or --warm-start (clone a heuristic)",
        )
        require(self.warm_start_dagger_rounds >= 0, "warm_start_dagger_rounds", "must be ≥ 0")
        privileged_ok = self.warm_start is not None and self.env.runtime_knowledge == "estimated"
        require(
            not self.warm_start_privileged or privileged_ok,
            "warm_start_privileged",
            "needs --warm-start and --runtime-knowledge estimated (with oracle knowledge nothing is hidden)",
        )
        require(
            not self.warm_start_cost_sensitive or self.warm_start in COSTED_TEACHERS,
            "warm_start_cost_sensitive",
            f"needs --warm-start with a rollout teacher ({', '.join(COSTED_TEACHERS)}), got {self.warm_start!r}",
        )
        require(
            self.warm_start_select_episodes == 0 or self.warm_start is not None,
            "warm_start_select_episodes",
            "picks among the rounds of a warm start: give --warm-start",
        )
        require(self.warm_start_select_episodes >= 0, "warm_start_select_episodes", "must be ≥ 0")
        require(
            self.warm_start_select_load is None or self.warm_start_select_episodes > 0,
            "warm_start_select_load",
            "is the load of the validation episodes: give --warm-start-select-episodes",
        )
        require(
            self.warm_start_select_load is None or 0 < self.warm_start_select_load <= 1.5,
            "warm_start_select_load",
            f"offered load must be in (0, 1.5], got {self.warm_start_select_load}",
        )
        require(self.advantage in ADVANTAGES, "advantage", f"must be one of {', '.join(ADVANTAGES)}")
        require(self.returns in RETURNS, "returns", f"must be one of {', '.join(RETURNS)}")
        require(self.teacher is None or self.teacher in TEACHERS, "teacher", f"must be one of {', '.join(TEACHERS)}")
        require(self.policy_iterations >= 0, "policy_iterations", "must be ≥ 0")
        require(
            (self.teacher is None) == (self.policy_iterations == 0),
            "policy_iterations",
            "give --teacher self-rollout with --policy-iterations R ≥ 1 (or neither)",
        )
        beta = self.anchor_kl
        require(math.isfinite(beta) and beta >= 0, "anchor_kl", f"must be a finite number ≥ 0, got {beta}")
        started = self.warm_start is not None or self.teacher is not None or self.init_checkpoint is not None
        require(
            self.anchor_kl == 0 or started,
            "anchor_kl",
            "anchors PPO to the network it starts from: give --warm-start, --teacher or --init-checkpoint",
        )
        for name in ("policy_iteration_episodes", "rollout_candidates", "labelling_workers"):
            require(getattr(self, name) >= 1, name, f"must be ≥ 1, got {getattr(self, name)}")
        known = self.rollout_known_arrivals
        require(known >= 0, "rollout_known_arrivals", f"must be ≥ 0, got {known}")
        if self.advantage == "input-driven":
            require(self.group_size >= 2, "group_size", f"a group needs ≥ 2 episodes, got {self.group_size}")
            require(
                self.envs_per_runner == self.group_size,
                "group_size",
                f"the {self.group_size} episodes of a group run on one env runner's envs: set --envs-per-runner "
                f"{self.group_size} (got {self.envs_per_runner})",
            )
        check_training_memory(
            max_servers=self.env.max_servers,
            train_batch_size=self.train_batch_size,
            minibatch_size=self.minibatch_size,
            embed_dim=self.embed_dim,
            num_heads=self.num_heads,
        )

    @property
    def cpus(self) -> int:
        """CPUs one run of this config reserves: its driver (a Tune trial and its learner), each env runner and, with a
        teacher, each labelling task of policy iteration."""
        return 1 + self.num_env_runners + (self.labelling_workers if self.teacher else 0)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (for MLflow params and checkpoints)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a nested dict, rejecting unknown keys by name."""
        values = dict(values)
        if isinstance(values.get("env"), dict):
            values["env"] = EnvConfig.from_dict(values["env"])
        return from_dict(cls, values)
