"""What one episode looks like: :class:`EnvConfig`, validated at construction."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from scale_rllib.env.observation import ObservationSpec
from scale_rllib.env.shifts import NO_SHIFT, SHIFT_DISTRIBUTIONS
from scale_rllib.sim.knowledge import RUNTIME_KNOWLEDGE
from scale_rllib.validation import ConfigError, from_dict, require
from scale_rllib.workloads.spec import validate_spec


@dataclass(frozen=True)
class EnvConfig:
    """What one episode looks like (docs/design.md, "The MDP").

    Attributes:
        workload: Workload spec (``scale_rllib.workloads.spec.WORKLOAD_KINDS``; docs/workloads.md).
        servers_range: (min, max) number of servers N, drawn uniformly per episode (min == max: fixed N).
        max_servers: Padding size of the observation (≥ ``servers_range`` max); default = ``servers_range`` max.
        load: Offered load ρ ∈ (0, 1.5]: arrival rate / the cluster's sustainable rate.
        workflows_per_server: Workflows per episode = round(this × N), unless ``num_workflows`` is set.
        num_workflows: Fixed number of workflows per episode.
        randomize_mix: Draw the server-type proportions per episode (training); False = the profile's fixed mix.
        reward_scale_s: Divides the reward (seconds); None = the episode's mean critical path on the fastest
            servers, so that the return is −Σ response time / mean critical path.
        max_tasks: File workloads: skip workflows with more tasks.
        bandwidth: Bytes/s between servers for transfer times; None = no transfer time.
        shared_inputs: The envs of one RLlib env runner draw the same input for their k-th episodes (groups of
            episodes for input-driven baselines); the input of episode k is seeded by (``input_seed``, runner, k).
        input_seed: Seed of the shared inputs.
        runtime_knowledge: ``oracle`` (schedulers and the observation read true execution times) or ``estimated``
            (they read a performance model's estimates, corrected online from completions; docs/design.md §10).
        profile_error: σ of the profile's error: the true speed of each (server type, task kind) is the workload's
            (the profile's) × exp(ε), ε ~ N(0, σ²) drawn per episode (0: the profile is exact). The arrival rate is
            set for the profile's capacity, so the true offered load differs from ``load`` by the error.
        interference: c ≥ 0: each server slows a task that starts while another task runs there by a factor
            f ~ 1 + U(0, 2c), drawn per server and episode (:class:`~scale_rllib.sim.simulator.Simulator`); 0: none.
        new_type_speedup: The first server type (by name) really runs this × faster than the profile says for
            every task kind — a new hardware generation the performance model has not measured (1: none).
        work_shift: The workflows that arrive after fraction ``work_shift_at`` of the stream have this × the work (and
            decode work) of one task kind — the workload's non-LLM kind with the most expected work — a new tool version
            or bigger inputs (workload drift, docs/design.md §10); the profile, the arrival rate and what schedulers
            know of each task stay as before the shift (1: none).
        work_shift_at: The fraction of the stream (by arrival index, rounded) that arrives before the shift.
        shift_distribution: ``none`` (the fields above as given), or a distribution of
            :data:`~scale_rllib.env.shifts.SHIFT_DISTRIBUTIONS` from which each episode draws ``profile_error``,
            ``interference``, ``new_type_speedup``, ``work_shift`` and ``work_shift_at`` with its own generator
            (meta-training and held-out shifts, docs/design.md §10); those five fields must then stay at their
            defaults.
        model_forgetting: γ in (0, 1], the performance model's forgetting factor (estimated runtime knowledge only):
            it weighs about the last 1 / (1 − γ) completions of each (server type, task kind), so that it follows a
            drift; 1 keeps every completion (:class:`~scale_rllib.sim.performance_model.PerformancePrior`).
        model_prior_count: κ₀ > 0, the weight of the profile in the model's estimates, in completions (estimated
            runtime knowledge only): after n completions of a (server type, kind) the estimate is n / (n + κ₀) of the
            way from the profile to their mean (in log time).
        observe_backlog: Observations carry the cluster's backlog — pending and committed work over capacity
            (:data:`~scale_rllib.env.observation.BACKLOG_FEATURES`), what a lookahead teacher's forks see and the
            base features do not; False: the base task features only.

    Raises:
        ConfigError: any invalid field (named), including an unknown workload kind or a missing path.
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
    shared_inputs: bool = False
    input_seed: int = 0
    runtime_knowledge: str = "oracle"
    profile_error: float = 0.0
    interference: float = 0.0
    new_type_speedup: float = 1.0
    work_shift: float = 1.0
    work_shift_at: float = 0.5
    shift_distribution: str = "none"
    model_forgetting: float = 1.0
    model_prior_count: float = 1.0
    observe_backlog: bool = False

    def __post_init__(self) -> None:
        lo, hi = self.servers_range
        require(
            isinstance(lo, int) and isinstance(hi, int) and lo >= 1,
            "servers_range",
            f"need integers ≥ 1, got {self.servers_range}",
        )
        require(lo <= hi, "servers_range", f"inverted range ({lo}, {hi}): min must be ≤ max")
        if self.max_servers is None:
            object.__setattr__(self, "max_servers", hi)
        require(
            self.max_servers >= hi,
            "max_servers",
            f"N={hi} servers exceed max_servers={self.max_servers} (the observation padding)",
        )
        require(
            0 < self.load <= 1.5 and math.isfinite(self.load),
            "load",
            f"offered load must be in (0, 1.5], got {self.load}",
        )
        require(self.workflows_per_server > 0, "workflows_per_server", f"must be > 0, got {self.workflows_per_server}")
        require(self.num_workflows is None or self.num_workflows >= 1, "num_workflows", "must be ≥ 1")
        require(self.reward_scale_s is None or self.reward_scale_s > 0, "reward_scale_s", "must be > 0 or None")
        require(self.max_tasks is None or self.max_tasks >= 1, "max_tasks", "must be ≥ 1 or None")
        require(self.bandwidth is None or self.bandwidth > 0, "bandwidth", "must be > 0 bytes/s or None")
        require(
            self.runtime_knowledge in RUNTIME_KNOWLEDGE,
            "runtime_knowledge",
            f"must be one of {', '.join(RUNTIME_KNOWLEDGE)}, got {self.runtime_knowledge!r}",
        )
        require(
            0 <= self.profile_error <= 3 and math.isfinite(self.profile_error),
            "profile_error",
            f"σ of the log speed error must be in [0, 3], got {self.profile_error}",
        )
        require(
            0 <= self.interference <= 10 and math.isfinite(self.interference),
            "interference",
            f"mean extra slowdown must be in [0, 10], got {self.interference}",
        )
        require(
            0.01 <= self.new_type_speedup <= 100 and math.isfinite(self.new_type_speedup),
            "new_type_speedup",
            f"must be in [0.01, 100], got {self.new_type_speedup}",
        )
        require(
            0.01 <= self.work_shift <= 100 and math.isfinite(self.work_shift),
            "work_shift",
            f"work multiplier must be in [0.01, 100], got {self.work_shift}",
        )
        require(
            0 <= self.work_shift_at <= 1,
            "work_shift_at",
            f"fraction of the stream before the shift must be in [0, 1], got {self.work_shift_at}",
        )
        self._check_shift_distribution()
        self._check_performance_model()
        try:
            validate_spec(self.workload)
        except (ValueError, FileNotFoundError) as err:
            raise ConfigError(f"workload: {err}") from None
        # the shift point alone (SHIFT_FIELDS[-1]) changes nothing
        shifted = changed_shift_fields(self, SHIFT_FIELDS[:-1]) or self.bandwidth is not None
        require(
            not (self.with_serving and shifted),
            "workload",
            "agentic-serving episodes model neither estimated runtimes, shifts nor transfers (docs/design.md §11)",
        )

    def _check_shift_distribution(self) -> None:
        require(
            self.shift_distribution in SHIFT_DISTRIBUTIONS,
            "shift_distribution",
            f"must be one of {', '.join(SHIFT_DISTRIBUTIONS)}, got {self.shift_distribution!r}",
        )
        fixed = [name for name, value in NO_SHIFT.items() if getattr(self, name) != value]
        require(
            self.shift_distribution == "none" or not fixed,
            "shift_distribution",
            f"{self.shift_distribution!r} draws {', '.join(NO_SHIFT)} per episode: leave {', '.join(fixed)} at the "
            "default",
        )

    def _check_performance_model(self) -> None:
        require(
            0 < self.model_forgetting <= 1,
            "model_forgetting",
            f"the forgetting factor γ must be in (0, 1], got {self.model_forgetting}",
        )
        require(
            0 < self.model_prior_count <= 1e6 and math.isfinite(self.model_prior_count),
            "model_prior_count",
            f"the profile's weight κ₀ must be in (0, 1e6] completions, got {self.model_prior_count}",
        )
        for name in ("model_forgetting", "model_prior_count"):
            require(
                self.runtime_knowledge == "estimated" or getattr(self, name) == getattr(EnvConfig, name),
                name,
                "configures the performance model: only with runtime_knowledge estimated",
            )

    @property
    def with_serving(self) -> bool:
        """Whether episodes have LLM serving engines (``agentic-serving``), so observations carry their state."""
        return self.workload.partition(":")[0] == "agentic-serving"

    @property
    def with_uncertainty(self) -> bool:
        """Whether observations carry the performance model's uncertainty (estimated runtime knowledge)."""
        return self.runtime_knowledge == "estimated"

    @property
    def observation_spec(self) -> ObservationSpec:
        """The optional feature groups of this env's observations: uncertainty with estimated runtime knowledge,
        serving-engine state on ``agentic-serving``, the backlog with ``observe_backlog``."""
        return ObservationSpec(self.with_uncertainty, self.with_serving, self.observe_backlog)

    @classmethod
    def fixed(cls, servers: int, **fields: Any) -> EnvConfig:
        """An evaluation env: N = ``servers`` exactly, the profile's fixed server mix."""
        return cls(servers_range=(servers, servers), randomize_mix=False, **fields)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (RLlib ``env_config``); round-trips through :meth:`from_dict`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EnvConfig:
        """Build from a dict, rejecting unknown keys by name."""
        return from_dict(cls, values)


#: The runtime-knowledge, shift and performance-model fields, ``work_shift_at`` last (it matters only with a
#: ``work_shift``).
SHIFT_FIELDS = (
    "runtime_knowledge", "profile_error", "interference", "new_type_speedup", "work_shift", "shift_distribution",
    "model_forgetting", "model_prior_count", "work_shift_at",
)  # fmt: skip


def changed_shift_fields(values: Any, fields: tuple[str, ...] = SHIFT_FIELDS) -> list[str]:
    """The ``fields`` of ``values`` (an :class:`EnvConfig`, or parsed CLI flags with the same names) that differ from
    :class:`EnvConfig`'s defaults."""
    return [f for f in fields if getattr(values, f) != getattr(EnvConfig, f)]
