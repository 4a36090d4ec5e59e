"""Typed, frozen, validated configuration. Converted into RLlib's PPOConfig in one place
(:func:`scale_rllib.training.build_ppo_config`).

Every check runs at construction, so a bad value fails before any Ray work starts, with the
field named.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from scale_rllib.workloads.spec import validate_spec


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field."""


def _check(ok: bool, field_name: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{field_name}: {message}")


@dataclass(frozen=True)
class EnvConfig:
    """What one episode looks like (DESIGN §4).

    Attributes:
        workload: Workload spec: ``agentic``, ``wfinstances:PATH`` or ``dax:PATH``.
        servers_range: (min, max) number of servers N, drawn uniformly per episode (min == max: fixed N).
        max_servers: Padding size of the observation (≥ servers_range max); default = servers_range max.
        load: Offered load ρ ∈ (0, 1.5]: arrival rate / the cluster's sustainable rate.
        workflows_per_server: Workflows per episode = round(this × N), unless ``num_workflows`` is set.
        num_workflows: Fixed number of workflows per episode.
        randomize_mix: Draw the server-type proportions per episode (training); False = the profile's fixed mix.
        reward_scale_s: Divides the reward (seconds); None = the episode's mean lower bound, so that the
            return is −Σ response time / mean lower bound.
        max_tasks: File workloads: skip workflows with more tasks.
        bandwidth: Bytes/s between servers for transfer times; None = no transfer time.
    """

    workload: str = "agentic"
    servers_range: tuple[int, int] = (16, 16)
    max_servers: int | None = None
    load: float = 0.7
    workflows_per_server: float = 4.0
    num_workflows: int | None = None
    randomize_mix: bool = True
    reward_scale_s: float | None = None
    max_tasks: int | None = 200
    bandwidth: float | None = None

    def __post_init__(self) -> None:
        lo, hi = self.servers_range
        _check(
            isinstance(lo, int) and isinstance(hi, int) and lo >= 1,
            "servers_range",
            f"need integers ≥ 1, got {self.servers_range}",
        )
        _check(lo <= hi, "servers_range", f"inverted range ({lo}, {hi}): min must be ≤ max")
        if self.max_servers is None:
            object.__setattr__(self, "max_servers", hi)
        _check(
            self.max_servers >= hi,
            "max_servers",
            f"N={hi} servers exceed max_servers={self.max_servers} (the observation padding)",
        )
        _check(
            0 < self.load <= 1.5 and math.isfinite(self.load),
            "load",
            f"offered load must be in (0, 1.5], got {self.load}",
        )
        _check(self.workflows_per_server > 0, "workflows_per_server", f"must be > 0, got {self.workflows_per_server}")
        _check(self.num_workflows is None or self.num_workflows >= 1, "num_workflows", "must be ≥ 1")
        _check(self.reward_scale_s is None or self.reward_scale_s > 0, "reward_scale_s", "must be > 0 or None")
        _check(self.max_tasks is None or self.max_tasks >= 1, "max_tasks", "must be ≥ 1 or None")
        _check(self.bandwidth is None or self.bandwidth > 0, "bandwidth", "must be > 0 bytes/s or None")
        try:
            validate_spec(self.workload)
        except (ValueError, FileNotFoundError) as err:
            raise ConfigError(f"workload: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (RLlib ``env_config``); round-trips through :meth:`from_dict`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EnvConfig:
        """Build from a dict, rejecting unknown keys by name."""
        return _from_dict(cls, values)


#: Heuristics a warm start can clone (``*-rollout``: EFT/PEFT improved by simulated lookahead, slower to collect).
WARM_START_TEACHERS = ("eft", "peft", "eft-rollout", "peft-rollout")


@dataclass(frozen=True)
class TrainConfig:
    """One PPO training run.

    Attributes:
        env: The training episodes.
        iterations: PPO iterations (each samples ``train_batch_size`` env steps).
        lambda_dec: SRR decorrelation weight λ_dec ≥ 0 (DESIGN §6).
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

    def __post_init__(self) -> None:
        for name in ("lambda_dec", "lambda_kl", "entropy_coeff", "vf_loss_coeff"):
            value = getattr(self, name)
            _check(math.isfinite(value) and value >= 0, name, f"must be a finite number ≥ 0, got {value}")
        for name in (
            "iterations",
            "envs_per_runner",
            "train_batch_size",
            "minibatch_size",
            "num_epochs",
            "embed_dim",
            "num_heads",
            "checkpoint_every",
        ):
            _check(int(getattr(self, name)) >= 1, name, f"must be ≥ 1, got {getattr(self, name)}")
        _check(self.num_env_runners >= 0, "num_env_runners", "must be ≥ 0")
        _check(self.minibatch_size <= self.train_batch_size, "minibatch_size", "must be ≤ train_batch_size")
        _check(0 < self.lr < 1, "lr", f"must be in (0, 1), got {self.lr}")
        _check(0 < self.gamma <= 1 and 0 <= self.gae_lambda <= 1, "gamma", "gamma in (0, 1], gae_lambda in [0, 1]")
        _check(self.embed_dim % self.num_heads == 0, "embed_dim", "must be divisible by num_heads")
        _check(
            self.warm_start is None or self.warm_start in WARM_START_TEACHERS,
            "warm_start",
            f"must be one of {', '.join(WARM_START_TEACHERS)} or None, got {self.warm_start!r}",
        )
        _check(self.warm_start_episodes >= 1, "warm_start_episodes", "must be ≥ 1")
        _check(self.warm_start_epochs >= 1, "warm_start_epochs", "must be ≥ 1")
        _check(self.warm_start_dagger_rounds >= 0, "warm_start_dagger_rounds", "must be ≥ 0")

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (for MLflow params and checkpoints)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a nested dict, rejecting unknown keys by name."""
        values = dict(values)
        if isinstance(values.get("env"), dict):
            values["env"] = EnvConfig.from_dict(values["env"])
        return _from_dict(cls, values)


def _from_dict(cls, values: dict[str, Any]):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown field(s) {unknown}; known: {sorted(known)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**values)


def train_fields(source: object) -> dict[str, Any]:
    """The attributes of ``source`` (parsed flags, a study config) named like a :class:`TrainConfig` field other
    than ``env``: one place that maps option names to the training config."""
    names = (f.name for f in dataclasses.fields(TrainConfig) if f.name != "env")
    return {name: getattr(source, name) for name in names if hasattr(source, name)}
