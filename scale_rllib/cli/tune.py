"""``scale-rllib tune``: a sweep definition (YAML) → Ray Tune trials, one MLflow run each, under a parent run."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from scale_rllib.cli.options import HelpFormatter, add_tracking_arguments, output_argument
from scale_rllib.tuning import SweepConfig, run_sweep

DESCRIPTION = """Sweep the SRR weights (λ_dec × λ_KL × seed), and any other training field, with Ray Tune.

Each trial trains with the sweep's base config and ends with a zero-shot evaluation; trials are ranked by the
mean response time at the largest evaluated N, or by the paired ratio to the best heuristic averaged over the
evaluated N (rank_by: ratio_to_best). One MLflow child run per trial under a parent run per sweep."""


def add_parser(sub) -> None:
    """Add the ``tune`` subcommand to ``sub`` (argparse subparsers)."""
    p = sub.add_parser("tune", help="sweep the SRR weights and other fields with Ray Tune (one MLflow run per trial)",
                       description=DESCRIPTION, formatter_class=HelpFormatter)  # fmt: skip
    p.add_argument("--config", type=Path, required=True, help="sweep definition, e.g. tune_configs/srr_grid.yaml")
    output_argument(
        p, "Tune storage (experiment state and trial checkpoints)", required=False, default=Path("runs/tune")
    )
    p.add_argument("--resume", action="store_true", help="resume the sweep's unfinished and errored trials")
    add_tracking_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Validate the sweep, run it with Tune, print every trial and the best one."""
    sweep = SweepConfig.from_yaml(args.config)
    result = run_sweep(sweep, args.output, mlflow_uri=args.mlflow_uri, address=args.address, resume=args.resume)
    swept = ["lambda_dec", "lambda_kl", *sweep.grid, "seed"]
    rank = "mean RT (s)" if sweep.rank_by == "response_time" else "ratio to best"
    where = f"N={max(sweep.evaluation.servers)}" if sweep.rank_by == "response_time" else "mean over N"
    table = Table(title=f"sweep {sweep.name}: zero-shot {rank} ({where}), lower is better")
    for col in (*swept, rank, "status"):
        table.add_column(col, justify="right")
    for row in sorted(result.table, key=lambda r: [_order(r[k]) for k in swept]):
        status = "ok" if row["error"] is None else "error"
        table.add_row(*(str(row[k]) for k in swept), f"{row[sweep.metric]:.3f}", status)
    Console(width=120).print(table)
    if result.best is None:
        print("no trial finished")
        return 1
    b = result.best
    print("best trial: " + " ".join(f"{k}={b[k]}" for k in swept) + f" {sweep.metric}={b[sweep.metric]:.3f}")
    print(f"best checkpoint: {result.best_checkpoint}")
    print(f"mlflow parent run: {result.parent_run_id}")
    return 0


def _order(value) -> tuple:
    """Sort key of a grid value: None, then numbers (bools as 0 / 1), then strings."""
    if value is None:
        return (0, 0)
    return (2, value) if isinstance(value, str) else (1, value)
