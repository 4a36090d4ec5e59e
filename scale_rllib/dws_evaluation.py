"""DWS peer benchmark evaluation: heuristics and the policy on replayed or Poisson DWS streams (BENCHMARKS.md §1).

Every scheduler runs on a fresh :class:`Simulator` of the same stream and pool (the env is reset with
``options={"simulator": sim}``), so they see identical workflows and arrivals. The lower bound of a stream is the
mean over its workflows of the critical path with every task on the pool's fastest VM, no queueing.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scale_rllib.baselines.scheduler import EpisodeResult
from scale_rllib.config import ConfigError, EnvConfig
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.sim.cluster import Cluster
from scale_rllib.workloads.base import mean_work_by_kind
from scale_rllib.workloads.dws import PATTERNS, DwsStream, parse_pool, poisson_stream, pool_cluster, read_stream

#: Heuristics of ``scale-rllib evaluate --scenario dws`` by default: ours (correct clock) and the peer's.
DWS_SCHEDULERS: tuple[str, ...] = ("est", "eft", "peft", "eft-rollout", "peft-rollout", "dws-heft", "dws-peft")
#: Columns of ``results.csv``: those of the end-to-end evaluation, then the DWS scenario and pool.
RESULT_COLUMNS = tuple(f.name for f in dataclasses.fields(EpisodeResult)) + ("scenario", "pool")
#: MLflow metric names (per scheduler, prefixed ``{scheduler}/``).
EVAL_DWS_FLOWTIME = "eval/dws/mean_flowtime_s/{scenario}/{pool}"
EVAL_DWS_RATIO = "eval/dws/flowtime_over_lower_bound/{scenario}/{pool}"


@dataclass(frozen=True)
class DwsEvalConfig:
    """One DWS evaluation: a pool, and a replayed stream or seeded Poisson streams.

    Attributes:
        dax_dir: Directory of the DAX files the streams name.
        pool: ``"KxN"``: the first K vCPU types of [8, 16, 32, 48, 64, 96], N VMs each.
        stream: A ``stream.csv`` to replay (exclusive with ``rate_per_hour``).
        rate_per_hour: Poisson base rate (workflows/hour) for generated streams.
        workflows: Workflows per generated stream.
        seed: Seed of the first generated stream (and of every scheduler's tie-breaking RNG on a replay).
        episodes: Generated streams, seeded ``seed, seed + 1, …`` (a replay is one episode).
        pattern: ``constant``, ``change5`` or ``change10`` (generated streams).
        schedulers: Heuristic names (``make_heuristic``).
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

    def __post_init__(self) -> None:
        _require(Path(self.dax_dir).is_dir(), "--dax-dir", f"not a directory: {self.dax_dir}")
        try:
            parse_pool(self.pool)
        except ValueError as err:
            raise ConfigError(f"--pool: {err}") from None
        _require((self.stream is None) != (self.rate_per_hour is None), "--stream", "give --stream or --rate-per-hour")
        if self.stream is not None and not Path(self.stream).is_file():
            raise FileNotFoundError(f"--stream: stream file does not exist: {self.stream}")
        rate_ok = self.rate_per_hour is None or (math.isfinite(self.rate_per_hour) and self.rate_per_hour > 0)
        _require(rate_ok, "--rate-per-hour", f"must be > 0 workflows/hour, got {self.rate_per_hour}")
        _require(self.workflows >= 1, "--workflows", f"must be ≥ 1, got {self.workflows}")
        _require(self.episodes >= 1, "--episodes", f"must be ≥ 1, got {self.episodes}")
        _require(self.pattern in PATTERNS, "--pattern", f"must be one of {PATTERNS}, got {self.pattern!r}")
        from scale_rllib.baselines.heuristics import make_heuristic

        for name in self.schedulers:
            try:
                make_heuristic(name)
            except ValueError as err:
                raise ConfigError(f"--schedulers: {err}") from None

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


def _require(ok: bool, flag: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{flag}: {message}")


def offered_load(stream: DwsStream, cluster: Cluster, workflows) -> float:
    """ρ = the stream's empirical rate (:meth:`DwsStream.rate_per_hour`) / the pool's sustainable rate."""
    return stream.rate_per_hour() / 3600.0 / cluster.service_rate(mean_work_by_kind(list(workflows)))


def run_on_stream(env: SchedulingEnv, scheduler, sim, seed: int, load: float) -> EpisodeResult:
    """Run ``scheduler`` on the fresh simulator ``sim`` through ``env`` (the policy needs its observations).

    Raises:
        ValueError: the scheduler returned an invalid server.
    """
    start = time.perf_counter()
    obs, info = env.reset(seed=seed, options={"simulator": sim})
    scheduler.reset(seed)
    terminated = False
    while not terminated:
        obs, _, terminated, _, info = env.step(scheduler.select(obs, env.sim))
    n = sim.cluster.num_servers
    rt, lb = info["mean_response_time_s"], info["mean_lower_bound_s"]
    return EpisodeResult(scheduler.name, n, load, seed, rt, lb, sim.decisions, time.perf_counter() - start)


def evaluate_dws(
    cfg: DwsEvalConfig,
    policies: Sequence[Callable[[EnvConfig], object]] = (),
    on_result: Callable[[dict], None] | None = None,
) -> tuple[list[dict], list[dict]]:
    """Every heuristic and policy on every stream of ``cfg``.

    Args:
        cfg: What to evaluate.
        policies: Factories building a scheduler for an env config (observations padded to the pool's N).
        on_result: Called with each result row (progress reporting).

    Returns:
        (rows, features): one dict per (stream, scheduler) with :data:`RESULT_COLUMNS`; the policies' attention
        feature statistics per stream.
    """
    from scale_rllib.baselines.heuristics import make_heuristic

    n = pool_cluster(cfg.pool).num_servers
    # the env only wraps the given simulators: its own workload ("agentic") is never drawn from
    env_cfg = EnvConfig(servers_range=(n, n), max_servers=n, randomize_mix=False)
    env = SchedulingEnv(env_cfg)
    schedulers = [make_heuristic(name) for name in cfg.schedulers] + [make(env_cfg) for make in policies]
    rows, features = [], []
    for seed, stream in cfg.streams():
        for scheduler in schedulers:
            sim = stream.simulator(cfg.dax_dir, pool_cluster(cfg.pool))
            load = offered_load(stream, sim.cluster, sim.workflows)
            result = run_on_stream(env, scheduler, sim, seed, load)
            rows.append({**dataclasses.asdict(result), "scenario": stream.name, "pool": cfg.pool})
            if on_result is not None:
                on_result(rows[-1])
            if hasattr(scheduler, "feature_statistics"):
                stats = scheduler.feature_statistics()
                features.append({"scheduler": scheduler.name, "scenario": stream.name, "servers": n, **stats})
    return rows, features


def summarize_dws(rows: Sequence[dict]):
    """Per (scenario, pool, scheduler): mean flowtime over streams, its 95 % t half-width, ratio to the lower bound
    (mean flowtime / mean lower bound) and to the best heuristic of that scenario and pool (a pandas DataFrame).
    """
    import pandas as pd
    from scipy import stats

    from scale_rllib.baselines.heuristics import known_heuristics

    frame = pd.DataFrame(list(rows), columns=list(RESULT_COLUMNS))
    out = []
    for (scenario, pool, name), group in frame.groupby(["scenario", "pool", "scheduler"], sort=False):
        ft = group["mean_response_time_s"].to_numpy()
        half = float(stats.t.ppf(0.975, len(ft) - 1) * stats.sem(ft)) if len(ft) > 1 else float("nan")
        lb = group["lower_bound_s"].mean()
        out.append(
            {
                "scenario": scenario,
                "pool": pool,
                "scheduler": name,
                "servers": int(group["servers"].iloc[0]),
                "mean_response_time_s": ft.mean(),
                "ci95_s": half,
                "lower_bound_s": lb,
                "ratio_to_lower_bound": ft.mean() / lb,
                "episodes": len(ft),
            }
        )
    table = pd.DataFrame(out)
    heuristic = table[table["scheduler"].isin(list(known_heuristics()))]
    best = heuristic.groupby(["scenario", "pool"])["mean_response_time_s"].min()
    keys = list(zip(table["scenario"], table["pool"]))
    table["ratio_to_best_heuristic"] = table["mean_response_time_s"].to_numpy() / best.reindex(keys).to_numpy()
    return table


def write_dws_results(rows: Sequence[dict], output_dir: Path) -> tuple[Path, Path]:
    """Write ``results.csv`` (one row per stream and scheduler, :data:`RESULT_COLUMNS`) and ``summary.csv``."""
    import pandas as pd

    output_dir.mkdir(parents=True, exist_ok=True)
    csv = output_dir / "results.csv"
    pd.DataFrame(list(rows), columns=list(RESULT_COLUMNS)).to_csv(csv, index=False)
    summary = output_dir / "summary.csv"
    summarize_dws(rows).to_csv(summary, index=False)
    return csv, summary
