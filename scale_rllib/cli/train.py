"""``scale-rllib train``: flags → :class:`TrainConfig` → :func:`scale_rllib.training.train`."""

from __future__ import annotations

import argparse
import dataclasses

from scale_rllib import metrics as M
from scale_rllib.cli.options import (
    WORKLOAD_EPILOG,
    HelpFormatter,
    add_ppo_arguments,
    add_tracking_arguments,
    add_workload_arguments,
    fields_of,
    output_argument,
    workload_of,
)
from scale_rllib.env.config import EnvConfig
from scale_rllib.training import CHECKPOINT_DIR, TrainConfig, train
from scale_rllib.training.checkpoints import find_checkpoint, read_metadata
from scale_rllib.validation import ConfigError

DESCRIPTION = """Train SCALE with PPO (+ SRR) on Ray RLlib.

Writes OUTPUT/checkpoint (every --checkpoint-every iterations and at the end), OUTPUT/warm_start_checkpoint (the
clone, with --warm-start) and one MLflow run with the metrics, the final checkpoint and the policy as a pyfunc model.
Every flag is validated before Ray starts; a bad value or file exits with status 2 and names it."""


def add_parser(sub) -> None:
    """Add the ``train`` subcommand to ``sub`` (argparse subparsers)."""
    p = sub.add_parser("train", help="train SCALE with PPO (+ SRR) on Ray RLlib", description=DESCRIPTION,
                       formatter_class=HelpFormatter, epilog=WORKLOAD_EPILOG)  # fmt: skip
    add_workload_arguments(p)
    p.add_argument("--servers", type=int, default=16, help="cluster size N of every training episode")
    p.add_argument(
        "--servers-range",
        type=int,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="instead of --servers: draw N uniformly in [MIN, MAX] per episode",
    )
    p.add_argument("--max-servers", type=int, help="observation padding size (default: the largest N trained on)")
    p.add_argument(
        "--observe-backlog",
        action="store_true",
        help="add the cluster's backlog (pending and committed work over capacity) to the ready task's features; "
        "evaluate reads it from the checkpoint",
    )
    add_ppo_arguments(p)
    p.add_argument("--seed", type=int, default=TrainConfig.seed, help="seed of RLlib, the env runners and the clone")
    output_argument(p, "run directory: checkpoints")
    p.add_argument(
        "--resume", action="store_true", help="continue OUTPUT/checkpoint's run (its config, these --iterations)"
    )
    p.add_argument(
        "--init-checkpoint",
        help="start from this checkpoint's network (fine-tuning: this command's config, a fresh optimizer and "
        "iteration count, a new MLflow run); not with --warm-start",
    )
    add_tracking_arguments(p)
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Flags → validated :class:`TrainConfig` (raises ConfigError naming the field)."""
    servers_range = tuple(args.servers_range) if args.servers_range else (args.servers, args.servers)
    env = EnvConfig(
        **fields_of(EnvConfig, args, exclude=("workload", "servers_range")),
        workload=workload_of(args),
        servers_range=servers_range,
    )
    return TrainConfig(env=env, **fields_of(TrainConfig, args, exclude=("env",)))


def run(args: argparse.Namespace) -> int:
    """Validate, train, print the MLflow run and the checkpoint path."""
    if args.resume:
        ckpt = find_checkpoint(args.output / CHECKPOINT_DIR)
        if ckpt is None:
            raise ConfigError(f"--resume: no scale_rllib checkpoint in {args.output / CHECKPOINT_DIR}")
        stored = read_metadata(ckpt)["config"]
        cfg = dataclasses.replace(TrainConfig.from_dict(stored), iterations=args.iterations)
    else:
        cfg = config_from_args(args)
    result = train(cfg, args.output, address=args.address, mlflow_uri=args.mlflow_uri, resume=args.resume)
    ratio = result.metrics.get(M.TRAIN_RESPONSE_TIME_RATIO, float("nan"))
    print(f"trained {result.iterations} iterations; last training response time / lower bound = {ratio:.3f}")
    print(f"mlflow run: {result.mlflow_run_id}")
    print(f"mlflow model: {result.model_uri}")
    print(f"checkpoint: {result.checkpoint.resolve()}")
    return 0
