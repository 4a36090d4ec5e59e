"""Evaluation scenarios: what every scheduler is run on, as data for the one pipeline (:func:`evaluate`).

A scenario is a list of :class:`EpisodeGroup` — an env and the seeded episodes every scheduler runs in it — plus the
columns that identify a table cell and the MLflow metric names of a cell. The default scenario (:class:`EvalConfig`)
draws episodes of the workload at each cluster size N; the DWS scenario (:class:`DwsEvalConfig`) replays the DWS
peer's streams (docs/dws-benchmark.md) on a k×n VM pool. Both go through the same run loop, summary, table, files
and MLflow logging.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scale_rllib import metrics as M
from scale_rllib.env.config import SHIFT_FIELDS, EnvConfig
from scale_rllib.schedulers import DEFAULT_HEURISTICS, SCHEDULERS
from scale_rllib.sim.simulator import Simulator
from scale_rllib.validation import ConfigError, require
from scale_rllib.workloads.base import mean_work_by_kind
from scale_rllib.workloads.dws.streams import PATTERNS, DwsStream, parse_pool, poisson_stream, pool_cluster, read_stream

#: First episode seed of an evaluation (training episodes are seeded by RLlib from the run's seed).
EVAL_SEED_BASE = 10_000


@dataclass(frozen=True)
class Episode:
    """One evaluation episode, identical for every scheduler.

    Attributes:
        seed: Seeds the env's episode and the scheduler's own randomness.
        servers: N.
        simulator: Builds a fresh simulator to run (a replayed stream) instead of drawing an episode; None = draw.
        labels: Extra result columns (e.g. the DWS stream name and pool).
    """

    seed: int
    servers: int
    simulator: Callable[[], Simulator] | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EpisodeGroup:
    """Episodes that share one env (one N); a policy's feature statistics are reported per group.

    Attributes:
        env_config: The env of every episode.
        episodes: The episodes every scheduler runs.
        more: The i-th further episode (i ≥ len(episodes)), when the group can grow; None = fixed.
        target_ci: Add episodes (one at a time, every scheduler) until each policy's 95 % half-width of its paired
            ratio to the best heuristic is at most this (e.g. 0.01); None = exactly ``episodes``.
        max_episodes: The most episodes ``target_ci`` may grow the group to.
    """

    env_config: EnvConfig
    episodes: list[Episode]
    more: Callable[[int], Episode] | None = None
    target_ci: float | None = None
    max_episodes: int = 0


def _check_schedulers(names: tuple[str, ...], flag: str) -> None:
    unknown = [s for s in names if s not in SCHEDULERS]
    require(not unknown, flag, f"unknown {unknown}; known: {list(SCHEDULERS)}")


@dataclass(frozen=True)
class EvalConfig:
    """The default scenario: seeded episodes of the workload at each cluster size N, fixed server mix.

    Attributes:
        workload: Workload spec (docs/workloads.md).
        servers: Cluster sizes N to evaluate at.
        load: Offered load ρ.
        episodes: Episodes (seeds) per N; every scheduler sees the same ones.
        workflows_per_server: Episode length, as in training.
        max_tasks: File workloads: skip larger workflows.
        schedulers: Heuristics to compare (any name of :data:`scale_rllib.schedulers.SCHEDULERS`).
        seed: First episode seed.
        target_ci: Run more episodes at an N (seeds ``seed + episodes``, …) until every policy's paired ratio to the
            best heuristic has a 95 % half-width ≤ this, e.g. 0.01 (the paired t-interval of
            :mod:`scale_rllib.evaluation.summary`); None = exactly ``episodes``.
        max_episodes: The most episodes per N with ``target_ci``.
        runtime_knowledge: ``oracle`` or ``estimated`` execution times for every scheduler (:class:`EnvConfig`).
        profile_error: σ of the profile's log speed error (:class:`EnvConfig`).
        interference: Mean extra slowdown of co-located tasks (:class:`EnvConfig`).
        new_type_speedup: How much faster the first server type really is than profiled (:class:`EnvConfig`).
        work_shift: Multiplier of one task kind's work in the later workflows of each episode (:class:`EnvConfig`).
        work_shift_at: The fraction of each episode's stream before that shift (:class:`EnvConfig`).
        shift_distribution: ``none``, or the distribution each episode draws the five fields above from
            (:class:`EnvConfig`; docs/design.md §10).
        model_forgetting: The performance model's forgetting factor γ (:class:`EnvConfig`).
        model_prior_count: The performance model's weight on the profile κ₀, in completions (:class:`EnvConfig`).

    Raises:
        ConfigError: an invalid field (named).
    """

    workload: str = "agentic"
    servers: tuple[int, ...] = (16, 32, 48)
    load: float = 0.7
    episodes: int = 3
    workflows_per_server: float = 4.0
    max_tasks: int | None = 200
    schedulers: tuple[str, ...] = DEFAULT_HEURISTICS
    seed: int = EVAL_SEED_BASE
    target_ci: float | None = None
    max_episodes: int = 100
    runtime_knowledge: str = "oracle"
    profile_error: float = 0.0
    interference: float = 0.0
    new_type_speedup: float = 1.0
    work_shift: float = 1.0
    work_shift_at: float = 0.5
    shift_distribution: str = "none"
    model_forgetting: float = 1.0
    model_prior_count: float = 1.0

    #: Columns that identify a table cell (besides the scheduler).
    cell_keys = ("servers",)
    #: Draw response time and the ratio views against N.
    plot = True

    def __post_init__(self) -> None:
        require(bool(self.servers) and all(int(n) >= 1 for n in self.servers), "servers", f"need N ≥ 1: {self.servers}")
        require(self.episodes >= 1, "episodes", f"must be ≥ 1, got {self.episodes}")
        require(self.target_ci is None or self.target_ci > 0, "target_ci", f"must be > 0, got {self.target_ci}")
        require(self.max_episodes >= self.episodes, "max_episodes", f"must be ≥ episodes ({self.episodes})")
        _check_schedulers(self.schedulers, "schedulers")
        self.env_config(max(self.servers))  # validates workload, load, max_tasks

    def env_config(self, servers: int) -> EnvConfig:
        """The fixed-N, fixed-mix env of this evaluation at N = ``servers``."""
        return EnvConfig.fixed(
            servers,
            workload=self.workload,
            load=self.load,
            workflows_per_server=self.workflows_per_server,
            max_tasks=self.max_tasks,
            **{name: getattr(self, name) for name in SHIFT_FIELDS},
        )

    def groups(self) -> list[EpisodeGroup]:
        """One group per N: ``episodes`` seeded episodes (more up to ``max_episodes`` with ``target_ci``)."""
        return [self._group(int(n)) for n in self.servers]

    def _group(self, n: int) -> EpisodeGroup:
        def episode(i: int) -> Episode:
            return Episode(self.seed + i, n)

        first = [episode(i) for i in range(self.episodes)]
        return EpisodeGroup(self.env_config(n), first, episode, self.target_ci, self.max_episodes)

    def metric_names(self, cell: dict) -> tuple[str, str]:
        """(mean response time, ratio to the lower bound) MLflow names of a cell."""
        return M.EVAL_RESPONSE_TIME.format(n=cell["servers"]), M.EVAL_RATIO_TO_BOUND.format(n=cell["servers"])


#: Heuristics of the DWS scenario by default: ours (correct clock) and the peer's.
DWS_SCHEDULERS: tuple[str, ...] = ("est", "eft", "peft", "eft-rollout", "peft-rollout", "dws-heft", "dws-peft")


@dataclass(frozen=True)
class DwsEvalConfig:
    """The DWS scenario: a VM pool, and a replayed stream or seeded Poisson streams (docs/dws-benchmark.md).

    Attributes:
        dax_dir: Directory of the DAX files the streams name.
        pool: ``"KxN"``: the first K vCPU types of [8, 16, 32, 48, 64, 96], N VMs each.
        stream: A ``stream.csv`` to replay (exclusive with ``rate_per_hour``).
        rate_per_hour: Poisson base rate (workflows/hour) for generated streams.
        workflows: Workflows per generated stream.
        seed: Seed of the first generated stream (and of every scheduler's tie-breaking RNG on a replay).
        episodes: Generated streams, seeded ``seed, seed + 1, …`` (a replay is one episode).
        pattern: ``constant``, ``change5`` or ``change10`` (generated streams).
        schedulers: Heuristic names.

    Raises:
        ConfigError: an invalid field (named by its ``evaluate`` flag).
        FileNotFoundError: the stream file does not exist.
    """

    dax_dir: Path
    pool: str
    stream: Path | None = None
    rate_per_hour: float | None = None
    workflows: int = 100
    seed: int = 0
    episodes: int = 1
    pattern: str = "constant"
    schedulers: tuple[str, ...] = DWS_SCHEDULERS

    cell_keys = ("scenario", "pool")
    plot = False

    def __post_init__(self) -> None:
        require(Path(self.dax_dir).is_dir(), "--dax-dir", f"not a directory: {self.dax_dir}")
        try:
            parse_pool(self.pool)
        except ValueError as err:
            raise ConfigError(f"--pool: {err}") from None
        require((self.stream is None) != (self.rate_per_hour is None), "--stream", "give --stream or --rate-per-hour")
        if self.stream is not None and not Path(self.stream).is_file():
            raise FileNotFoundError(f"--stream: stream file does not exist: {self.stream}")
        rate_ok = self.rate_per_hour is None or (math.isfinite(self.rate_per_hour) and self.rate_per_hour > 0)
        require(rate_ok, "--rate-per-hour", f"must be > 0 workflows/hour, got {self.rate_per_hour}")
        require(self.workflows >= 1, "--workflows", f"must be ≥ 1, got {self.workflows}")
        require(self.episodes >= 1, "--episodes", f"must be ≥ 1, got {self.episodes}")
        require(self.pattern in PATTERNS, "--pattern", f"must be one of {PATTERNS}, got {self.pattern!r}")
        _check_schedulers(self.schedulers, "--schedulers")

    def streams(self) -> list[tuple[int, DwsStream]]:
        """(seed, stream) pairs: the replayed stream with ``seed``, or ``episodes`` Poisson streams.

        Raises:
            FileNotFoundError: a stream row names a DAX file not in ``dax_dir``.
            WorkloadFileError, ValueError: a malformed stream file, or a change pattern at an unsupported rate.
        """
        if self.stream is not None:
            return [(self.seed, read_stream(self.stream, self.dax_dir))]
        seeds = range(self.seed, self.seed + self.episodes)
        return [(s, poisson_stream(self.workflows, self.rate_per_hour, s, self.pattern)) for s in seeds]

    def groups(self) -> list[EpisodeGroup]:
        """One group per stream; the env only wraps the given simulators (its own workload is never drawn)."""
        n = pool_cluster(self.pool).num_servers
        env = EnvConfig.fixed(n)

        def build(stream: DwsStream) -> Callable[[], Simulator]:
            return lambda: stream.simulator(self.dax_dir, pool_cluster(self.pool))

        return [
            EpisodeGroup(env, [Episode(seed, n, build(stream), {"scenario": stream.name, "pool": self.pool})])
            for seed, stream in self.streams()
        ]

    def metric_names(self, cell: dict) -> tuple[str, str]:
        """(mean response time, ratio to the lower bound) MLflow names of a (stream, pool) cell."""
        where = {"scenario": cell["scenario"], "pool": cell["pool"]}
        return M.EVAL_DWS_FLOWTIME.format(**where), M.EVAL_DWS_RATIO.format(**where)


#: Either scenario.
Scenario = EvalConfig | DwsEvalConfig


def offered_load(sim: Simulator) -> float:
    """ρ of a replayed stream: its empirical arrival rate / the cluster's sustainable rate (docs/design.md)."""
    arrivals = sim.arrival_s
    span = float(arrivals[-1] - arrivals[0])
    rate = (len(arrivals) - 1) / span if span > 0 else math.nan
    return rate / sim.cluster.service_rate(mean_work_by_kind(list(sim.workflows)))
