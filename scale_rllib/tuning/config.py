"""Sweep definitions (``tune_configs/*.yaml``): a base training run, a grid over λ_dec × λ_KL × seed,
the zero-shot evaluation that ranks trials, and the stopping criterion. Validated with errors
naming the file and field.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scale_rllib import metrics as M
from scale_rllib.evaluation.scenarios import EvalConfig
from scale_rllib.learner.srr import check_srr_weights
from scale_rllib.training.config import TrainConfig
from scale_rllib.validation import ConfigError


@dataclass(frozen=True)
class SweepConfig:
    """A Tune sweep over the SRR weights.

    Attributes:
        name: Sweep name (Tune experiment directory and MLflow experiment).
        train: Base training run; ``iterations`` is the stopping criterion (``training_iteration``).
        lambda_dec: Grid values of λ_dec (include 0 for the no-SRR ablation).
        lambda_kl: Grid values of λ_KL.
        seeds: Training seeds; every (λ_dec, λ_KL) pair runs once per seed.
        evaluation: Zero-shot evaluation at the end of each trial (its workload defaults to the training one).
        max_concurrent_trials: Trials at once (each needs 1 CPU + 1 per env runner).
    """

    name: str = "srr_grid"
    train: TrainConfig = field(default_factory=TrainConfig)
    lambda_dec: tuple[float, ...] = (0.0, 0.1)
    lambda_kl: tuple[float, ...] = (0.0, 0.01)
    seeds: tuple[int, ...] = (0,)
    evaluation: EvalConfig = field(default_factory=lambda: EvalConfig(schedulers=()))
    max_concurrent_trials: int = 1

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ConfigError(f"name: must be a non-empty name without '/', got {self.name!r}")
        for key in ("lambda_dec", "lambda_kl"):
            values = getattr(self, key)
            if not values or any(not isinstance(v, int | float) for v in values):
                raise ConfigError(f"{key}: need a non-empty list of numbers ≥ 0, got {values!r}")
        for point in self.trials():
            try:
                check_srr_weights(point["lambda_dec"], point["lambda_kl"])
            except ValueError as err:
                raise ConfigError(str(err)) from None
        if not self.seeds:
            raise ConfigError("seeds: need at least one seed")
        if self.max_concurrent_trials < 1:
            raise ConfigError("max_concurrent_trials: must be ≥ 1")

    @property
    def metric(self) -> str:
        """Trials are ranked by the zero-shot mean response time at the largest evaluated N (lower is better)."""
        return "scale/" + M.EVAL_RESPONSE_TIME.format(n=max(self.evaluation.servers))

    def trials(self) -> list[dict[str, float]]:
        """The grid: one dict of ``lambda_dec``, ``lambda_kl``, ``seed`` per trial."""
        grid = itertools.product(self.lambda_dec, self.lambda_kl, self.seeds)
        return [{"lambda_dec": float(d), "lambda_kl": float(k), "seed": int(s)} for d, k, s in grid]

    def trial_train_config(self, point: dict[str, float]) -> TrainConfig:
        """The base training config with one grid point's λ's and seed."""
        return dataclasses.replace(self.train, **point)

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
            tuples = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
            return cls(train=train, evaluation=evaluation, **tuples)
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
