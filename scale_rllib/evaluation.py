"""Zero-shot evaluation: the trained policy and every heuristic on the same seeded episodes at each N."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scale_rllib.baselines.heuristics import HEURISTICS, known_heuristics, make_heuristic
from scale_rllib.baselines.scheduler import EpisodeResult, run_episode
from scale_rllib.config import ConfigError, EnvConfig
from scale_rllib.env.scheduling_env import SchedulingEnv

#: First episode seed of an evaluation (training episodes are seeded by RLlib from the run's seed).
EVAL_SEED_BASE = 10_000


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation.

    Attributes:
        workload: Workload spec (see :class:`EnvConfig`).
        servers: Cluster sizes N to evaluate at.
        load: Offered load ρ.
        episodes: Episodes (seeds) per N; every scheduler sees the same ones.
        workflows_per_server: Episode length, as in training.
        max_tasks: File workloads: skip larger workflows.
        schedulers: Heuristics to compare (default :data:`HEURISTICS`; any name of :func:`known_heuristics`).
        seed: First episode seed.
    """

    workload: str = "agentic"
    servers: tuple[int, ...] = (16, 32, 48)
    load: float = 0.7
    episodes: int = 3
    workflows_per_server: float = 4.0
    max_tasks: int | None = 200
    schedulers: tuple[str, ...] = tuple(HEURISTICS)
    seed: int = EVAL_SEED_BASE

    def __post_init__(self) -> None:
        if not self.servers or any(int(n) < 1 for n in self.servers):
            raise ConfigError(f"servers: need cluster sizes ≥ 1, got {self.servers}")
        if self.episodes < 1:
            raise ConfigError(f"episodes: must be ≥ 1, got {self.episodes}")
        known = known_heuristics()
        unknown = [s for s in self.schedulers if s not in known]
        if unknown:
            raise ConfigError(f"schedulers: unknown {unknown}; known: {list(known)}")
        self.env_config(max(self.servers))  # validates workload, load, max_tasks

    def env_config(self, num_servers: int) -> EnvConfig:
        """The fixed-N, fixed-mix env of this evaluation at N = ``num_servers``."""
        return EnvConfig(
            workload=self.workload,
            servers_range=(num_servers, num_servers),
            load=self.load,
            workflows_per_server=self.workflows_per_server,
            randomize_mix=False,
            max_tasks=self.max_tasks,
        )


@dataclass
class EvalOutput:
    """What :func:`evaluate` measured.

    Attributes:
        results: One :class:`EpisodeResult` per (N, scheduler, seed), in that order.
        features: Per (policy, N): attention-feature statistics (mean |μ|, mean σ, mean |off-diag corr|).
    """

    results: list[EpisodeResult]
    features: list[dict]


def evaluate(
    cfg: EvalConfig,
    policies: Sequence[Callable[[EnvConfig], object]] = (),
    on_result: Callable[[EpisodeResult], None] | None = None,
) -> EvalOutput:
    """Run every heuristic and policy on ``cfg.episodes`` seeded episodes at each N.

    Args:
        cfg: What to evaluate.
        policies: Factories building a scheduler for an env config (a policy is rebuilt per N,
            since its observation padding is N).
        on_result: Called after each episode (progress reporting).
    """
    out = EvalOutput([], [])
    for n in cfg.servers:
        env_cfg = cfg.env_config(int(n))
        env = SchedulingEnv(env_cfg)
        schedulers = [make_heuristic(name) for name in cfg.schedulers] + [make(env_cfg) for make in policies]
        for scheduler in schedulers:
            for i in range(cfg.episodes):
                result = run_episode(env, scheduler, seed=cfg.seed + i, num_servers=int(n))
                out.results.append(result)
                if on_result is not None:
                    on_result(result)
            if hasattr(scheduler, "feature_statistics"):
                out.features.append({"scheduler": scheduler.name, "servers": int(n), **scheduler.feature_statistics()})
    return out


def summarize(results: Sequence[EpisodeResult]):
    """Per (scheduler, N): mean response time, its 95 % t-interval half-width over seeds, ratio to the lower
    bound, and ratio to the best heuristic at that N (any of :func:`known_heuristics` in the results; a pandas
    DataFrame).
    """
    import pandas as pd
    from scipy import stats

    frame = pd.DataFrame([dataclasses.asdict(r) for r in results])
    rows = []
    for (name, n), group in frame.groupby(["scheduler", "servers"], sort=False):
        rt = group["mean_response_time_s"].to_numpy()
        half = float(stats.t.ppf(0.975, len(rt) - 1) * stats.sem(rt)) if len(rt) > 1 else float("nan")
        rows.append(
            {
                "scheduler": name,
                "servers": n,
                "mean_response_time_s": rt.mean(),
                "ci95_s": half,
                "ratio_to_lower_bound": rt.mean() / group["lower_bound_s"].mean(),
                "episodes": len(rt),
            }
        )
    table = pd.DataFrame(rows)
    heuristic = table[table["scheduler"].isin(list(known_heuristics()))]
    best = heuristic.groupby("servers")["mean_response_time_s"].min()
    table["ratio_to_best_heuristic"] = table["mean_response_time_s"] / table["servers"].map(best)
    return table


def evaluation_metrics(table, features: Sequence[dict]) -> dict[str, float]:
    """MLflow metrics of an evaluation: ``<scheduler>/eval/…/N<n>`` response time and ratio to the lower bound
    per row of :func:`summarize`'s table, and the attention-feature statistics per (policy, N).
    """
    from scale_rllib import metrics as M

    metrics: dict[str, float] = {}
    for row in table.itertuples():
        metrics[f"{row.scheduler}/" + M.EVAL_RESPONSE_TIME.format(n=row.servers)] = float(row.mean_response_time_s)
        metrics[f"{row.scheduler}/" + M.EVAL_RATIO_TO_BOUND.format(n=row.servers)] = float(row.ratio_to_lower_bound)
    for row in features:
        for stat in ("mean_abs_mu", "mean_sigma", "mean_abs_offdiag_corr"):
            metrics[f"{row['scheduler']}/" + M.EVAL_FEATURE_STAT.format(stat=stat, n=row["servers"])] = row[stat]
    return metrics


def write_results(results: Sequence[EpisodeResult], output_dir: Path) -> tuple[Path, Path, Path]:
    """Write ``results.csv`` (one row per episode), ``summary.csv`` and ``response_time_vs_servers.png``."""
    import pandas as pd

    output_dir.mkdir(parents=True, exist_ok=True)
    csv = output_dir / "results.csv"
    pd.DataFrame([dataclasses.asdict(r) for r in results]).to_csv(csv, index=False)
    table = summarize(results)
    summary = output_dir / "summary.csv"
    table.to_csv(summary, index=False)
    return csv, summary, plot_response_time(table, output_dir / "response_time_vs_servers.png")


def plot_response_time(table, path: Path) -> Path:
    """Mean response time (log scale, 95 % CI error bars) vs N, one line per scheduler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, group in table.groupby("scheduler", sort=False):
        ax.errorbar(
            group["servers"],
            group["mean_response_time_s"],
            yerr=np.nan_to_num(group["ci95_s"]),
            marker="o",
            capsize=3,
            label=name,
        )
    ax.set_xlabel("servers N")
    ax.set_ylabel("mean response time (s)")
    ax.set_yscale("log")
    ax.set_title("Zero-shot response time vs cluster size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
