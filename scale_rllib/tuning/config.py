"""Sweep definitions (``tune_configs/*.yaml``): a base training run, a grid over λ_dec × λ_KL × any other training
field × seed, the zero-shot evaluation that ranks trials, and the stopping criterion. Validated with errors naming the
file and field.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scale_rllib import metrics as M
from scale_rllib.env.config import EnvConfig
from scale_rllib.evaluation.scenarios import EvalConfig
from scale_rllib.learner.srr import check_srr_weights
from scale_rllib.training.config import TrainConfig
from scale_rllib.validation import ConfigError

#: The name a trial's evaluated policy has in its tables and MLflow metrics (PolicyScheduler's default).
POLICY = "scale"


def policy_metric(metric: str) -> str:
    """The trial policy's evaluation metric ``metric`` (a :mod:`scale_rllib.metrics` name) as logged: prefixed with
    ``POLICY/`` (metrics.py: evaluation metrics are prefixed ``<scheduler>/``)."""
    return f"{POLICY}/{metric}"


RANKINGS = ("response_time", "ratio_to_best")
# Swept by their own lists (λ's, seeds), the stopping criterion, or a whole sub-config: not grid keys.
NOT_IN_GRID = {"lambda_dec", "lambda_kl", "seed", "iterations", "env"}
ENV_PREFIX = "env."


@dataclass(frozen=True)
class SweepConfig:
    """A Tune sweep over the SRR weights.

    Attributes:
        name: Sweep name (Tune experiment directory and MLflow experiment).
        train: Base training run; ``iterations`` is the stopping criterion (``training_iteration``).
        lambda_dec: Grid values of λ_dec (include 0 for the no-SRR ablation).
        lambda_kl: Grid values of λ_KL.
        grid: More training fields to cross with the λ's, each with its list of values: a field of
            :class:`~scale_rllib.training.config.TrainConfig` (e.g. ``embed_dim: [64, 128]``) or ``env.<field>`` of
            :class:`~scale_rllib.env.config.EnvConfig` (e.g. ``env.observe_backlog: [false, true]``).
        seeds: Training seeds; every grid point runs once per seed.
        evaluation: Zero-shot evaluation at the end of each trial (its workload defaults to the training one); its
            ``schedulers`` are the heuristics it also runs on the same episodes.
        rank_by: ``response_time``: the policy's mean response time at the largest evaluated N; ``ratio_to_best``:
            its paired ratio to the best of ``evaluation.schedulers``, averaged over the evaluated N (pick a network
            on validation episodes: set ``evaluation.seed`` apart from the reported ones). Lower is better.
        max_concurrent_trials: Trials at once (each needs 1 CPU + 1 per env runner).
    """

    name: str = "srr_grid"
    train: TrainConfig = field(default_factory=TrainConfig)
    lambda_dec: tuple[float, ...] = (0.0, 0.1)
    lambda_kl: tuple[float, ...] = (0.0, 0.01)
    grid: dict[str, tuple] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    evaluation: EvalConfig = field(default_factory=lambda: EvalConfig(schedulers=()))
    rank_by: str = "response_time"
    max_concurrent_trials: int = 1

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ConfigError(f"name: must be a non-empty name without '/', got {self.name!r}")
        for key in ("lambda_dec", "lambda_kl"):
            values = getattr(self, key)
            if not values or any(not isinstance(v, int | float) for v in values):
                raise ConfigError(f"{key}: need a non-empty list of numbers ≥ 0, got {values!r}")
        self._check_grid()
        self._check_trials()
        if not self.seeds:
            raise ConfigError("seeds: need at least one seed")
        if self.rank_by not in RANKINGS:
            raise ConfigError(f"rank_by: one of {list(RANKINGS)}, got {self.rank_by!r}")
        if self.rank_by == "ratio_to_best" and not self.evaluation.schedulers:
            raise ConfigError("rank_by: ratio_to_best needs evaluation.schedulers, the heuristics to compare with")
        if self.max_concurrent_trials < 1:
            raise ConfigError("max_concurrent_trials: must be ≥ 1")

    def _check_trials(self) -> None:
        """Every trial's λ's and training config are valid before any trial starts."""
        for point in self.trials():
            try:
                check_srr_weights(point["lambda_dec"], point["lambda_kl"])
            except ValueError as err:
                raise ConfigError(str(err)) from None
            try:
                self.trial_train_config(point)
            except (ConfigError, TypeError) as err:
                raise ConfigError(f"the grid point {point}: {err}") from None

    def _check_grid(self) -> None:
        train_fields = {f.name for f in dataclasses.fields(TrainConfig)} - NOT_IN_GRID
        env_fields = {ENV_PREFIX + f.name for f in dataclasses.fields(EnvConfig)}
        for key, values in self.grid.items():
            if key not in train_fields | env_fields:
                raise ConfigError(
                    f"grid.{key}: not a training field that a grid may sweep (the λ's and seeds have their own "
                    f"lists, iterations stops the trials); a TrainConfig field or env.<EnvConfig field>"
                )
            if not isinstance(values, tuple) or not values:
                raise ConfigError(f"grid.{key}: need a non-empty list of values, got {values!r}")

    @property
    def metric(self) -> str:
        """The MLflow metric trials are ranked by (lower is better), after ``rank_by``."""
        if self.rank_by == "ratio_to_best":
            return policy_metric(M.EVAL_MEAN_RATIO_TO_BEST)
        return policy_metric(M.EVAL_RESPONSE_TIME.format(n=max(self.evaluation.servers)))

    def trials(self) -> list[dict[str, Any]]:
        """The grid: one dict of ``lambda_dec``, ``lambda_kl``, the ``grid`` keys and ``seed`` per trial."""
        points = itertools.product(self.lambda_dec, self.lambda_kl, *self.grid.values(), self.seeds)
        return [
            {"lambda_dec": float(d), "lambda_kl": float(k), **dict(zip(self.grid, more, strict=True)), "seed": int(s)}
            for d, k, *more, s in points
        ]

    def trial_train_config(self, point: dict[str, Any]) -> TrainConfig:
        """The base training config with one grid point's values.

        Raises:
            ConfigError: a value the training config refuses (the message names its field).
        """
        env = {key.removeprefix(ENV_PREFIX): v for key, v in point.items() if key.startswith(ENV_PREFIX)}
        train = {key: v for key, v in point.items() if not key.startswith(ENV_PREFIX)}
        return dataclasses.replace(self.train, env=dataclasses.replace(self.train.env, **env), **train)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (round-trips through :meth:`from_dict`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "<dict>") -> SweepConfig:
        """Build and validate; errors name ``source`` and the field."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        try:
            if unknown:
                raise ConfigError(f"unknown field(s) {unknown}; known: {sorted(known)}")
            values = dict(values)
            train = TrainConfig.from_dict(values.pop("train", {}) or {})
            eval_values = dict(values.pop("evaluation", {}) or {})
            eval_values.setdefault("workload", train.env.workload)
            eval_values.setdefault("max_tasks", train.env.max_tasks)
            eval_values.setdefault("schedulers", ())
            evaluation = EvalConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in eval_values.items()})
            grid = values.pop("grid", {}) or {}
            if not isinstance(grid, dict):
                raise ConfigError(f"grid: a mapping of field → list of values, got {grid!r}")
            grid = {k: _tuples(v) if isinstance(v, list) else v for k, v in grid.items()}
            tuples = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
            return cls(train=train, evaluation=evaluation, grid=grid, **tuples)
        except (ConfigError, TypeError) as err:
            raise ConfigError(f"{source}: {err}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> SweepConfig:
        """Load a sweep from YAML.

        Raises:
            FileNotFoundError: no such file.
            ConfigError: malformed YAML or an invalid field (the message names the file and field).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"sweep config {path} does not exist")
        try:
            values = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: malformed YAML: {err}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of fields")
        return cls.from_dict(values, source=str(path))


def _tuples(values: list) -> tuple:
    """A YAML list of grid values as a tuple, a value that is itself a list (``servers_range``) as a tuple too."""
    return tuple(tuple(v) if isinstance(v, list) else v for v in values)
