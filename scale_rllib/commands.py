"""What each ``scale-rllib`` subcommand does, once its arguments parsed."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from scale_rllib import metrics as M
from scale_rllib.config import ConfigError, TrainConfig


def run_train(args: argparse.Namespace) -> int:
    """``scale-rllib train``: validate, train, print the checkpoint path."""
    from scale_rllib.checkpoints import find_checkpoint, read_metadata
    from scale_rllib.cli import train_config_from_args
    from scale_rllib.training import CHECKPOINT_DIR, train

    if args.resume:
        ckpt = find_checkpoint(args.output / CHECKPOINT_DIR)
        if ckpt is None:
            raise ConfigError(f"--resume: no scale_rllib checkpoint in {args.output / CHECKPOINT_DIR}")
        stored = read_metadata(ckpt)["config"]
        cfg = dataclasses.replace(TrainConfig.from_dict(stored), iterations=args.iterations)
    else:
        cfg = train_config_from_args(args)
    result = train(cfg, args.output, address=args.address, mlflow_uri=args.mlflow_uri, resume=args.resume)
    ratio = result.metrics.get(M.TRAIN_RESPONSE_TIME_RATIO, float("nan"))
    print(f"trained {result.iterations} iterations; last training response time / lower bound = {ratio:.3f}")
    print(f"mlflow run: {result.mlflow_run_id}")
    print(f"checkpoint: {result.checkpoint.resolve()}")
    return 0


def _eval_config(args: argparse.Namespace):
    from scale_rllib.baselines.heuristics import HEURISTICS
    from scale_rllib.evaluation import EvalConfig

    return EvalConfig(
        workload=args.workload,
        servers=tuple(args.servers),
        load=args.load,
        episodes=args.episodes,
        workflows_per_server=args.workflows_per_server,
        max_tasks=args.max_tasks,
        schedulers=tuple(args.schedulers or HEURISTICS),
    )


def run_evaluate(args: argparse.Namespace) -> int:
    """``scale-rllib evaluate``: policy (if a checkpoint is given) and heuristics; table, CSV, plot, MLflow."""
    from scale_rllib.dws_cli import run_dws_evaluate, uses_dws

    if uses_dws(args):  # --scenario dws: the DWS peer benchmark (scale_rllib.dws_cli)
        return run_dws_evaluate(args)
    from scale_rllib.baselines.policy import PolicyScheduler
    from scale_rllib.checkpoints import read_metadata
    from scale_rllib.evaluation import summarize, write_results

    cfg = _eval_config(args)
    policies = []
    if args.checkpoint is not None:
        read_metadata(args.checkpoint)  # fails fast, naming the path, if it is not a checkpoint
        policies.append(lambda env_cfg: PolicyScheduler.from_checkpoint(args.checkpoint, env_cfg.max_servers))
    output = _run_with_progress(cfg, policies)
    csv, summary_csv, png = write_results(output.results, args.output)
    table = summarize(output.results)
    _print_table(table)
    features = _write_features(output.features, args.output)
    _log_evaluation(args, cfg, table, output.features, [csv, summary_csv, png] + ([features] if features else []))
    print(f"results: {csv.resolve()}\nplot: {png.resolve()}")
    return 0


def _run_with_progress(cfg, policies):
    from rich.progress import Progress

    from scale_rllib.evaluation import evaluate

    total = len(cfg.servers) * cfg.episodes * (len(cfg.schedulers) + len(policies))
    with Progress() as bar:
        task = bar.add_task("evaluate", total=total)
        return evaluate(
            cfg,
            policies,
            on_result=lambda r: bar.update(task, advance=1, description=f"evaluate {r.scheduler} N={r.servers}"),
        )


def _print_table(table) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table(title="Mean response time (s) over seeded episodes")
    for col in ("scheduler", "N", "mean RT (s)", "±95%", "RT/LB", "RT/best heuristic"):
        out.add_column(col, justify="left" if col == "scheduler" else "right")
    for row in table.sort_values(["servers", "mean_response_time_s"]).itertuples():
        out.add_row(
            row.scheduler,
            str(row.servers),
            f"{row.mean_response_time_s:.2f}",
            f"{row.ci95_s:.2f}",
            f"{row.ratio_to_lower_bound:.3f}",
            f"{row.ratio_to_best_heuristic:.3f}",
        )
    Console(width=120).print(out)


def _write_features(features: list[dict], output: Path) -> Path | None:
    if not features:
        return None
    import pandas as pd

    path = output / "feature_statistics.csv"
    pd.DataFrame(features).to_csv(path, index=False)
    return path


def _log_evaluation(args, cfg, table, features, artifacts) -> None:
    from scale_rllib.evaluation import evaluation_metrics
    from scale_rllib.tracking import MlflowTracker, default_tracking_uri

    tracker = MlflowTracker(
        args.mlflow_uri or default_tracking_uri(args.output),
        run_name=f"evaluate-{args.output.name}",
        tags={"job": "evaluate"},
    )
    tracker.log_params({"eval": dataclasses.asdict(cfg), "checkpoint": str(args.checkpoint)})
    tracker.log_metrics(evaluation_metrics(table, features), step=0)
    for path in artifacts:
        tracker.log_artifact(path, "evaluation")
    tracker.finish()


def run_tune(args: argparse.Namespace) -> int:
    """``scale-rllib tune``: validate the sweep, run it with Tune, print every trial and the best one."""
    from rich.console import Console
    from rich.table import Table

    from scale_rllib.sweep_config import SweepConfig
    from scale_rllib.tuning import run_sweep

    sweep = SweepConfig.from_yaml(args.config)
    result = run_sweep(sweep, args.output, mlflow_uri=args.mlflow_uri, address=args.address, resume=args.resume)
    table = Table(title=f"sweep {sweep.name}: zero-shot mean response time at N={max(sweep.evaluation.servers)}")
    for col in ("lambda_dec", "lambda_kl", "seed", "mean RT (s)", "status"):
        table.add_column(col, justify="right")
    for row in sorted(result.table, key=lambda r: (r["lambda_dec"], r["lambda_kl"], r["seed"])):
        status = "ok" if row["error"] is None else "error"
        table.add_row(
            str(row["lambda_dec"]), str(row["lambda_kl"]), str(row["seed"]), f"{row[sweep.metric]:.3f}", status
        )
    Console(width=120).print(table)
    if result.best is None:
        print("no trial finished")
        return 1
    b = result.best
    print(
        f"best trial: lambda_dec={b['lambda_dec']} lambda_kl={b['lambda_kl']} seed={b['seed']} "
        f"{sweep.metric}={b[sweep.metric]:.3f}"
    )
    print(f"best checkpoint: {result.best_checkpoint}")
    print(f"mlflow parent run: {result.parent_run_id}")
    return 0


COMMANDS = {"train": run_train, "evaluate": run_evaluate, "tune": run_tune}
