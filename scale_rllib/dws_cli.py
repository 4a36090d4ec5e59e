"""``scale-rllib evaluate --scenario dws …``: the flags, their validation and the command (BENCHMARKS.md §1).

    scale-rllib evaluate --scenario dws --dax-dir DIR --pool KxN \\
        (--stream FILE | --rate-per-hour R [--pattern constant|change5|change10] --workflows W --seed S \\
        [--episodes E]) [--checkpoint CKPT] [--schedulers …] --output DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scale_rllib.config import ConfigError

#: Flags that only mean something with ``--scenario dws`` (argparse dest → flag).
DWS_ONLY_FLAGS = {
    "dax_dir": "--dax-dir",
    "pool": "--pool",
    "stream": "--stream",
    "rate_per_hour": "--rate-per-hour",
    "workflows": "--workflows",
    "pattern": "--pattern",
    "seed": "--seed",
}


def add_dws_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--scenario`` and the DWS flags to the ``evaluate`` parser (all default to None = not given)."""
    parser.add_argument(
        "--scenario",
        choices=["default", "dws"],
        default="default",
        help="default: generated episodes at each N; dws: the DWS peer benchmark (DAX set S on a k×n VM pool)",
    )
    group = parser.add_argument_group("--scenario dws")
    group.add_argument("--dax-dir", type=Path, help="directory of the Pegasus DAX files")
    group.add_argument("--pool", help="VM pool KxN: the first K vCPU types of [8,16,32,48,64,96], N VMs of each")
    group.add_argument("--stream", type=Path, help="replay this stream.csv (workflow_index,arrival_time_s,dax_file)")
    group.add_argument("--rate-per-hour", type=float, help="or: Poisson arrivals at this rate (workflows/hour)")
    group.add_argument("--pattern", choices=["constant", "change5", "change10"], help="rate pattern (default constant)")
    group.add_argument("--workflows", type=int, help="workflows per generated stream (default 100)")
    group.add_argument("--seed", type=int, help="seed of the first stream; streams S..S+E-1 with --episodes E")


def uses_dws(args: argparse.Namespace) -> bool:
    """True for ``--scenario dws``.

    Raises:
        ConfigError: a DWS-only flag was given without ``--scenario dws`` (the flag is named).
    """
    if getattr(args, "scenario", "default") == "dws":
        return True
    given = [flag for dest, flag in DWS_ONLY_FLAGS.items() if getattr(args, dest, None) is not None]
    if given:
        raise ConfigError(f"{given[0]}: only with --scenario dws")
    return False


def dws_config_from_args(args: argparse.Namespace):
    """Flags → validated :class:`DwsEvalConfig` (ConfigError / FileNotFoundError naming the flag or file)."""
    from scale_rllib.dws_evaluation import DWS_SCHEDULERS, DwsEvalConfig

    for dest in ("dax_dir", "pool"):
        if getattr(args, dest) is None:
            raise ConfigError(f"{DWS_ONLY_FLAGS[dest]}: required with --scenario dws")
    if args.stream is None and args.rate_per_hour is None:
        raise ConfigError("--stream: give --stream FILE or --rate-per-hour R with --scenario dws")
    if args.stream is not None and args.rate_per_hour is not None:
        raise ConfigError("--stream: give either --stream or --rate-per-hour, not both")
    return DwsEvalConfig(
        dax_dir=args.dax_dir,
        pool=args.pool,
        stream=args.stream,
        rate_per_hour=args.rate_per_hour,
        workflows=100 if args.workflows is None else args.workflows,
        seed=0 if args.seed is None else args.seed,
        episodes=1 if args.stream is not None else args.episodes,
        pattern=args.pattern or "constant",
        schedulers=tuple(args.schedulers or DWS_SCHEDULERS),
    )


def run_dws_evaluate(args: argparse.Namespace) -> int:
    """``scale-rllib evaluate --scenario dws``: heuristics (+ policy) on the streams; table, CSVs, MLflow run."""
    from scale_rllib.dws_evaluation import summarize_dws, write_dws_results

    cfg = dws_config_from_args(args)
    streams = cfg.streams()  # validates the stream file and its DAX names before any run
    policies = []
    if args.checkpoint is not None:
        from scale_rllib.baselines.policy import PolicyScheduler
        from scale_rllib.checkpoints import read_metadata

        read_metadata(args.checkpoint)  # fails fast, naming the path, if it is not a checkpoint
        policies.append(lambda env_cfg: PolicyScheduler.from_checkpoint(args.checkpoint, env_cfg.max_servers))
    total = len(streams) * (len(cfg.schedulers) + len(policies))
    rows, features = _run_with_progress(cfg, policies, total)
    csv, summary = write_dws_results(rows, args.output)
    table = summarize_dws(rows)
    print_dws_table(table)
    artifacts = [csv, summary]
    if features:
        import pandas as pd

        artifacts.append(args.output / "feature_statistics.csv")
        pd.DataFrame(features).to_csv(artifacts[-1], index=False)
    _log(args, cfg, table, artifacts)
    print(f"results: {csv.resolve()}")
    return 0


def _run_with_progress(cfg, policies, total: int):
    from rich.progress import Progress

    from scale_rllib.dws_evaluation import evaluate_dws

    with Progress() as bar:
        task = bar.add_task("evaluate dws", total=total)
        return evaluate_dws(
            cfg, policies, on_result=lambda r: bar.update(task, advance=1, description=f"dws {r['scheduler']}")
        )


def print_dws_table(table) -> None:
    """Mean flowtime per scheduler, its ±95 %, ratio to the lower bound and to the best heuristic."""
    from rich.console import Console
    from rich.table import Table

    out = Table(title="DWS: mean flowtime (s) per stream and pool")
    for col in ("scenario", "pool", "scheduler", "mean flowtime (s)", "±95%", "lower bound (s)", "FT/LB", "FT/best"):
        out.add_column(col, justify="left" if col in ("scenario", "pool", "scheduler") else "right")
    for row in table.sort_values(["scenario", "pool", "mean_response_time_s"]).itertuples():
        out.add_row(
            row.scenario,
            row.pool,
            row.scheduler,
            f"{row.mean_response_time_s:.2f}",
            f"{row.ci95_s:.2f}",
            f"{row.lower_bound_s:.2f}",
            f"{row.ratio_to_lower_bound:.3f}",
            f"{row.ratio_to_best_heuristic:.3f}",
        )
    Console(width=140).print(out)


def _log(args, cfg, table, artifacts) -> None:
    """One MLflow run: the config, the flowtime and ratio per scheduler, the CSVs."""
    import dataclasses

    from scale_rllib.dws_evaluation import EVAL_DWS_FLOWTIME, EVAL_DWS_RATIO
    from scale_rllib.tracking import MlflowTracker, default_tracking_uri

    tracker = MlflowTracker(
        args.mlflow_uri or default_tracking_uri(args.output),
        run_name=f"evaluate-dws-{args.output.name}",
        tags={"job": "evaluate", "scenario": "dws"},
    )
    params = {k: str(v) for k, v in dataclasses.asdict(cfg).items()}
    tracker.log_params({"eval_dws": params, "checkpoint": str(args.checkpoint)})
    metrics = {}
    for row in table.itertuples():
        where = {"scenario": row.scenario, "pool": row.pool}
        metrics[f"{row.scheduler}/" + EVAL_DWS_FLOWTIME.format(**where)] = row.mean_response_time_s
        metrics[f"{row.scheduler}/" + EVAL_DWS_RATIO.format(**where)] = row.ratio_to_lower_bound
    tracker.log_metrics(metrics, step=0)
    for path in artifacts:
        tracker.log_artifact(path, "evaluation")
    tracker.finish()
