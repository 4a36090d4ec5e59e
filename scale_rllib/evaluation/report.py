"""What an evaluation writes: ``results.csv``, ``summary.csv``, ``feature_statistics.csv``, the plot, the console
table and one MLflow run (linked to the training run of the evaluated checkpoint)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from scale_rllib import metrics as M
from scale_rllib.evaluation.scenarios import Scenario
from scale_rllib.schedulers import EpisodeResult
from scale_rllib.tracking import MlflowTracker

#: ``results.csv`` columns of every scenario (a DWS evaluation adds ``scenario`` and ``pool``).
RESULT_COLUMNS = tuple(EpisodeResult.__dataclass_fields__)
PLOT_FILE = "response_time_vs_servers.png"


def write_results(
    results: Sequence[dict], table: pd.DataFrame, features: Sequence[dict], output_dir: Path, plot: bool
) -> list[Path]:
    """Write ``results.csv`` (one row per episode), ``summary.csv`` (``table``), ``feature_statistics.csv`` (if a
    policy ran) and, for a scenario over N, :data:`PLOT_FILE`.

    Returns:
        The paths written.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    written = [output_dir / "results.csv", output_dir / "summary.csv"]
    pd.DataFrame(list(results)).to_csv(written[0], index=False)
    table.to_csv(written[1], index=False)
    if features:
        written.append(output_dir / "feature_statistics.csv")
        pd.DataFrame(list(features)).to_csv(written[-1], index=False)
    if plot:
        written.append(plot_response_time(table, output_dir / PLOT_FILE))
    return written


def write_report(output_dir: Path, tables: dict[str, pd.DataFrame], lines: Sequence[str]) -> Path:
    """A benchmark's outputs: each of ``tables`` as ``output_dir/<name>`` (CSV, no index) and ``lines`` as
    ``output_dir/report.md``, which is also printed.

    Returns:
        The report's path.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(output_dir / name, index=False)
    path, text = output_dir / "report.md", "\n".join(lines) + "\n"
    path.write_text(text)
    print(text, end="")
    return path


#: The ratio panels draw only schedulers within this factor of the best heuristic (the others would flatten them).
RATIO_VIEW_MAX = 1.5


def plot_response_time(table: pd.DataFrame, path: Path) -> Path:
    """Three panels against N, one line per scheduler: mean response time (log scale, 95 % CI bars) of all, then —
    for the schedulers within :data:`RATIO_VIEW_MAX` of the best heuristic at every N — the paired ratio to the best
    heuristic (95 % CI bars) and the ratio to the lower bound, where differences of a few percent are visible."""
    worst = table.groupby("scheduler", sort=False)["paired_ratio_to_best"].max()
    close = table[table["scheduler"].isin(worst[worst <= RATIO_VIEW_MAX].index)]
    panels = (
        (table, "mean_response_time_s", "ci95_s", "mean response time (s), all schedulers"),
        (close, "paired_ratio_to_best", "paired_ratio_ci95", f"RT / best heuristic (paired; ≤ {RATIO_VIEW_MAX}×)"),
        (close, "ratio_to_lower_bound", None, f"RT / lower bound (≤ {RATIO_VIEW_MAX}× the best)"),
    )
    fig = Figure(figsize=(15, 4.5))  # no pyplot: no GUI backend, no global figure state
    axes = fig.subplots(1, 3)
    colours = {name: f"C{i}" for i, name in enumerate(table["scheduler"].unique())}
    for ax, (data, column, error, label) in zip(axes, panels, strict=True):
        for name, group in data.groupby("scheduler", sort=False):
            yerr = np.nan_to_num(group[error]) if error else None
            ax.errorbar(group["servers"], group[column], yerr=yerr, marker="o", capsize=3, label=name,
                        color=colours[name])  # fmt: skip
        ax.set(xlabel="servers N", ylabel=label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].axhline(1.0, color="grey", linewidth=0.8)
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.suptitle("Zero-shot evaluation vs cluster size")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def print_table(table: pd.DataFrame, cell_keys: Sequence[str], console: Console | None = None) -> None:
    """The console table: per cell and scheduler (fastest first), mean response time ± 95 %, ratios to the lower
    bound and to the best heuristic, and the paired ratio to the best heuristic ± its 95 % half-width."""
    out = Table(title="Mean response time (s) over seeded episodes (the same episodes for every scheduler)")
    columns = [*cell_keys, "scheduler", "mean RT (s)", "±95%", "RT/LB", "RT/best", "paired RT/best ±95%"]
    for col in columns:
        out.add_column(
            "N" if col == "servers" else col, justify="left" if col in ("scheduler", *cell_keys) else "right"
        )
    for row in table.sort_values([*cell_keys, "mean_response_time_s"]).to_dict("records"):
        out.add_row(
            *(str(row[k]) for k in cell_keys),
            row["scheduler"],
            f"{row['mean_response_time_s']:.2f}",
            f"{row['ci95_s']:.2f}",
            f"{row['ratio_to_lower_bound']:.3f}",
            f"{row['ratio_to_best_heuristic']:.3f}",
            f"{row['paired_ratio_to_best']:.3f} ± {row['paired_ratio_ci95']:.3f}",
        )
    (console or Console(width=140)).print(out)


def evaluation_metrics(scenario: Scenario, table: pd.DataFrame, features: Sequence[dict]) -> dict[str, float]:
    """MLflow metrics: per cell and scheduler ``<scheduler>/<response time>`` and ``<scheduler>/<ratio to the lower
    bound>`` (names from ``scenario.metric_names``), the paired ratio to the best heuristic per N, and the
    attention-feature statistics per (policy, N)."""
    metrics: dict[str, float] = {}
    for row in table.to_dict("records"):
        rt_name, ratio_name = scenario.metric_names(row)
        metrics[f"{row['scheduler']}/{rt_name}"] = float(row["mean_response_time_s"])
        metrics[f"{row['scheduler']}/{ratio_name}"] = float(row["ratio_to_lower_bound"])
        if "scenario" not in row:
            metrics[f"{row['scheduler']}/" + M.EVAL_RATIO_TO_BEST.format(n=row["servers"])] = float(
                row["paired_ratio_to_best"]
            )
    for row in features:
        if "scenario" in row:
            continue  # per-stream statistics stay in feature_statistics.csv
        for stat in M.FEATURE_STATS:
            metrics[f"{row['scheduler']}/" + M.EVAL_FEATURE_STAT.format(stat=stat, n=row["servers"])] = row[stat]
    return metrics


def log_evaluation(
    tracker: MlflowTracker,
    scenario: Scenario,
    params: dict,
    table: pd.DataFrame,
    features: Sequence[dict],
    artifacts: Sequence[Path],
) -> None:
    """Log one evaluation to ``tracker``'s run: params, :func:`evaluation_metrics`, the files; then finish it."""
    tracker.log_params(params)
    tracker.log_metrics(evaluation_metrics(scenario, table, features), step=0)
    for path in artifacts:
        tracker.log_artifact(path, "evaluation")
    tracker.finish()
