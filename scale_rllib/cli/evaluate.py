"""``scale-rllib evaluate``: flags → a scenario → the one evaluation pipeline (run, summary, files, table, MLflow)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.progress import Progress

from scale_rllib import metrics as M
from scale_rllib.cli.options import (
    WORKLOAD_EPILOG,
    HelpFormatter,
    add_threads_argument,
    add_tracking_arguments,
    add_workload_arguments,
    output_argument,
    workload_of,
)
from scale_rllib.env.config import SHIFT_FIELDS, changed_shift_fields
from scale_rllib.evaluation import (
    DwsEvalConfig,
    EvalConfig,
    Scenario,
    evaluate,
    log_evaluation,
    print_table,
    summarize,
    write_results,
)
from scale_rllib.schedulers import DEFAULT_HEURISTICS
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.tracking import DEFAULT_EXPERIMENT, MlflowTracker, default_tracking_uri, experiment_of
from scale_rllib.training.checkpoints import read_metadata
from scale_rllib.validation import ConfigError

DESCRIPTION = """Zero-shot evaluation of a checkpoint (optional) and the heuristics on the same seeded episodes.

--scenario default: episodes of --workload at each N of --servers. --scenario dws: the DWS peer benchmark's
streams on a k×n VM pool (--dax-dir, --pool, and --stream or --rate-per-hour). Prints a table of mean response
time ± 95 %, its ratio to the lower bound and to the best heuristic, and the paired ratio to the best heuristic ±
95 % (per-episode ratios on the same seeds); writes results.csv, summary.csv, feature_statistics.csv and (default
scenario) response_time_vs_servers.png to OUTPUT; logs one MLflow run, tagged with the checkpoint's training run."""

#: Flags that only mean something with ``--scenario dws`` (dest → flag).
DWS_ONLY_FLAGS = {
    "dax_dir": "--dax-dir",
    "pool": "--pool",
    "stream": "--stream",
    "rate_per_hour": "--rate-per-hour",
    "workflows": "--workflows",
    "pattern": "--pattern",
}


def add_parser(sub) -> None:
    """Add the ``evaluate`` subcommand to ``sub`` (argparse subparsers)."""
    p = sub.add_parser("evaluate", help="zero-shot evaluation of a checkpoint and the heuristics",
                       description=DESCRIPTION, formatter_class=HelpFormatter, epilog=WORKLOAD_EPILOG)  # fmt: skip
    p.add_argument("--checkpoint", type=Path, help="a training checkpoint directory (omit: heuristics only)")
    p.add_argument(
        "--scenario", choices=["default", "dws"], default="default", help="episodes at each N, or the DWS streams"
    )
    add_workload_arguments(p)
    p.add_argument("--servers", type=int, nargs="+", default=list(EvalConfig.servers), help="cluster sizes N")
    p.add_argument("--episodes", type=int, default=EvalConfig.episodes, help="seeded episodes per N (or DWS streams)")
    p.add_argument("--seed", type=int, help="first episode seed: seeds S..S+E-1 with --episodes E, e.g. validation "
                   f"episodes apart from the reported ones (default: {EvalConfig.seed}; DWS streams: 0)")  # fmt: skip
    p.add_argument(
        "--target-ci",
        type=float,
        help="with --checkpoint: add episodes at each N until the policy's paired ratio to the best heuristic is "
        "known to ± this (95 %%), e.g. 0.01 (default: exactly --episodes)",
    )
    p.add_argument(
        "--max-episodes",
        type=int,
        help=f"the most episodes per N with --target-ci, ≥ --episodes (default: {EvalConfig.max_episodes} or "
        "--episodes if more)",
    )
    p.add_argument(
        "--schedulers",
        nargs="+",
        help=f"heuristics to compare (default: {' '.join(DEFAULT_HEURISTICS)}; with --scenario dws the DWS set)",
    )
    output_argument(p, "where results.csv, summary.csv and the plot go")
    add_tracking_arguments(p, ray=False)
    add_threads_argument(p)
    g = p.add_argument_group("--scenario dws (docs/dws-benchmark.md)")
    g.add_argument("--dax-dir", type=Path, help="directory of the DWS DAX files")
    g.add_argument("--pool", help="VM pool KxN: the first K vCPU types of 8,16,32,48,64,96; N VMs of each")
    g.add_argument("--stream", type=Path, help="replay this stream.csv (workflow_index,arrival_time_s,dax_file)")
    g.add_argument("--rate-per-hour", type=float, help="or: Poisson streams at this rate (workflows/hour)")
    g.add_argument("--pattern", choices=["constant", "change5", "change10"], help="rate pattern (default: constant)")
    g.add_argument("--workflows", type=int, help="workflows per generated stream (default: 100)")
    p.set_defaults(run=run)


def _max_episodes(args: argparse.Namespace) -> int:
    """``--max-episodes`` as given (EvalConfig refuses it below ``--episodes``); its default grows to ``--episodes``."""
    return max(EvalConfig.max_episodes, args.episodes) if args.max_episodes is None else args.max_episodes


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    """Flags → the validated scenario (ConfigError / FileNotFoundError naming the flag or file)."""
    if args.target_ci is not None and args.checkpoint is None:
        raise ConfigError("--target-ci: only with --checkpoint (it adds episodes until the policy's ratio is known)")
    if args.scenario != "dws":
        given = [flag for dest, flag in DWS_ONLY_FLAGS.items() if getattr(args, dest, None) is not None]
        if given:
            raise ConfigError(f"{given[0]}: only with --scenario dws")
        return EvalConfig(
            workload=workload_of(args),
            servers=tuple(args.servers),
            load=args.load,
            episodes=args.episodes,
            workflows_per_server=args.workflows_per_server,
            max_tasks=args.max_tasks,
            schedulers=tuple(args.schedulers or DEFAULT_HEURISTICS),
            target_ci=args.target_ci,
            max_episodes=_max_episodes(args),
            seed=EvalConfig.seed if args.seed is None else args.seed,
            **{name: getattr(args, name) for name in SHIFT_FIELDS},
        )
    if args.target_ci is not None:
        raise ConfigError("--target-ci: only with --scenario default (DWS streams are a fixed set)")
    if changed_shift_fields(args):
        raise ConfigError("--runtime-knowledge and the shift flags: only with --scenario default")
    for dest in ("dax_dir", "pool"):
        if getattr(args, dest) is None:
            raise ConfigError(f"{DWS_ONLY_FLAGS[dest]}: required with --scenario dws")
    if args.stream is None and args.rate_per_hour is None:
        raise ConfigError("--stream: give --stream FILE or --rate-per-hour R with --scenario dws")
    if args.stream is not None and args.rate_per_hour is not None:
        raise ConfigError("--stream: give either --stream or --rate-per-hour, not both")
    extra = {"schedulers": tuple(args.schedulers)} if args.schedulers else {}
    return DwsEvalConfig(
        dax_dir=args.dax_dir,
        pool=args.pool,
        stream=args.stream,
        rate_per_hour=args.rate_per_hour,
        workflows=100 if args.workflows is None else args.workflows,
        seed=0 if args.seed is None else args.seed,
        episodes=1 if args.stream is not None else args.episodes,
        pattern=args.pattern or "constant",
        **extra,
    )


def _tracker(args: argparse.Namespace, checkpoint_meta: dict) -> MlflowTracker:
    """The evaluation's MLflow run: in the checkpoint's store and experiment (unless --mlflow-uri names another
    store), tagged with the checkpoint's training run."""
    uri = args.mlflow_uri or checkpoint_meta.get("mlflow_uri") or default_tracking_uri()
    tags = {M.TAG_JOB: "evaluate", "scenario": args.scenario}
    training_run = checkpoint_meta.get("mlflow_run_id")
    experiment = experiment_of(uri, training_run) if training_run else None
    if training_run:
        tags[M.TAG_TRAINING_RUN] = training_run
    return MlflowTracker(
        uri, experiment=experiment or DEFAULT_EXPERIMENT, run_name=f"evaluate-{args.output.name}", tags=tags
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate; print the table; write the files; log the MLflow run."""
    scenario = scenario_from_args(args)
    groups = scenario.groups()  # validates the DWS stream and its DAX names before any episode runs
    meta = read_metadata(args.checkpoint) if args.checkpoint is not None else {}  # fails fast, naming the path
    policies = [PolicyScheduler.from_checkpoint(args.checkpoint)] if args.checkpoint is not None else []
    total = sum(len(g.episodes) for g in groups) * (len(scenario.schedulers) + len(policies))
    with Progress() as bar:
        task = bar.add_task("evaluate", total=total)
        out = evaluate(
            scenario,
            policies,
            on_result=lambda r: bar.update(task, advance=1, description=f"evaluate {r['scheduler']} N={r['servers']}"),
            num_threads=args.num_threads,
        )
    table = summarize(out.results, scenario.cell_keys)
    print_table(table, scenario.cell_keys)
    files = write_results(out.results, table, out.features, args.output, plot=scenario.plot)
    params = {"eval": scenario.__dict__, "scenario": args.scenario, "checkpoint": str(args.checkpoint)}
    log_evaluation(_tracker(args, meta), scenario, params, table, out.features, files)
    print(f"results: {files[0].resolve()}")
    if scenario.plot:
        print(f"plot: {files[-1].resolve()}")
    return 0
