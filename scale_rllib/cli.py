"""``scale-rllib train | evaluate``: the command-line entry points.

Every argument is validated (typed configs, paths, checkpoints) before any Ray work starts; a bad
value exits with status 2 and a message naming the flag or file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scale_rllib.config import WARM_START_TEACHERS, ConfigError, EnvConfig, TrainConfig, train_fields
from scale_rllib.sim.workflow import WorkflowError

WORKLOAD_HELP = (
    "agentic (default, embedded) | wfinstances:PATH | dax:PATH (a file or a directory of files) | "
    "agentic-real:WORFBENCH_PATH,azure=AZURE_PATH[,wfinstances=PATH][,replay=scaled|raw]"
)
ARRIVALS_HELP = "azure:PATH: replay the Azure LLM trace's request times (CSV or folder), scaled to --load"


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train SCALE with PPO (+ SRR) on Ray RLlib")
    p.add_argument("--workload", default="agentic", help=WORKLOAD_HELP)
    p.add_argument("--arrivals", help=ARRIVALS_HELP)
    p.add_argument("--servers", type=int, default=16, help="cluster size N (default 16)")
    p.add_argument(
        "--servers-range",
        type=int,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="draw N uniformly in [MIN, MAX] per episode (randomized cluster size)",
    )
    p.add_argument("--max-servers", type=int, help="observation padding (default: the largest N trained on)")
    p.add_argument("--load", type=float, default=0.7, help="offered load rho (default 0.7)")
    p.add_argument("--workflows-per-server", type=float, default=4.0, help="episode length (default 4 per server)")
    p.add_argument("--max-tasks", type=int, default=200, help="file workloads: skip larger workflows (default 200)")
    p.add_argument("--iterations", type=int, default=TrainConfig.iterations, help="PPO iterations")
    p.add_argument("--lambda-dec", type=float, default=TrainConfig.lambda_dec, help="SRR decorrelation weight")
    p.add_argument("--lambda-kl", type=float, default=TrainConfig.lambda_kl, help="SRR KL weight")
    p.add_argument("--num-env-runners", type=int, default=TrainConfig.num_env_runners)
    p.add_argument("--envs-per-runner", type=int, default=TrainConfig.envs_per_runner)
    p.add_argument("--train-batch-size", type=int, default=TrainConfig.train_batch_size)
    p.add_argument("--minibatch-size", type=int, default=TrainConfig.minibatch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--entropy-coeff", type=float, default=TrainConfig.entropy_coeff, help="PPO entropy bonus")
    p.add_argument("--vf-loss-coeff", type=float, default=TrainConfig.vf_loss_coeff, help="value loss weight")
    p.add_argument("--embed-dim", type=int, default=TrainConfig.embed_dim, help="model width d (default 64)")
    p.add_argument("--num-heads", type=int, default=TrainConfig.num_heads, help="attention heads (divide d)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=TrainConfig.checkpoint_every)
    p.add_argument("--warm-start", choices=WARM_START_TEACHERS, help="behaviour-clone this heuristic before PPO")
    p.add_argument("--warm-start-episodes", type=int, default=TrainConfig.warm_start_episodes)
    p.add_argument("--warm-start-epochs", type=int, default=TrainConfig.warm_start_epochs)
    p.add_argument(
        "--warm-start-dagger-rounds",
        type=int,
        default=TrainConfig.warm_start_dagger_rounds,
        help="DAgger rounds after the clone (the teacher labels the student's own states)",
    )
    p.add_argument("--output", type=Path, required=True, help="run directory (checkpoint, mlflow.db)")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint")
    p.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    p.add_argument("--mlflow-uri", help="MLflow tracking URI (default: sqlite:///OUTPUT/mlflow.db)")


def _evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="zero-shot evaluation of a checkpoint and the heuristics")
    p.add_argument("--checkpoint", type=Path, help="a training checkpoint dir (omit: heuristics only)")
    p.add_argument("--workload", default="agentic", help=WORKLOAD_HELP)
    p.add_argument("--arrivals", help=ARRIVALS_HELP)
    p.add_argument("--servers", type=int, nargs="+", default=[16, 32, 48], help="cluster sizes N")
    p.add_argument("--load", type=float, default=0.7, help="offered load rho")
    p.add_argument("--episodes", type=int, default=3, help="seeded episodes per N")
    p.add_argument("--workflows-per-server", type=float, default=4.0)
    p.add_argument("--max-tasks", type=int, default=200)
    p.add_argument("--schedulers", nargs="+", help="heuristics to include (default: all)")
    p.add_argument("--output", type=Path, required=True, help="where results.csv and the plot go")
    p.add_argument("--mlflow-uri", help="MLflow tracking URI (default: sqlite:///OUTPUT/mlflow.db)")
    from scale_rllib.dws_cli import add_dws_arguments

    add_dws_arguments(p)  # --scenario dws --dax-dir --pool (--stream | --rate-per-hour …)


def _tune_parser(sub) -> None:
    p = sub.add_parser("tune", help="sweep the SRR weights with Ray Tune (one MLflow run per trial)")
    p.add_argument("--config", type=Path, required=True, help="sweep definition, e.g. tune_configs/srr_grid.yaml")
    p.add_argument("--output", type=Path, default=Path("runs/tune"), help="Tune storage (default runs/tune)")
    p.add_argument("--resume", action="store_true", help="resume the sweep's unfinished and errored trials")
    p.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    p.add_argument("--mlflow-uri", help="MLflow tracking URI (default: sqlite:///OUTPUT/mlflow.db)")


def build_parser() -> argparse.ArgumentParser:
    """The ``scale-rllib`` argument parser."""
    parser = argparse.ArgumentParser(prog="scale-rllib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _evaluate_parser(sub)
    _tune_parser(sub)
    return parser


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Flags → validated :class:`TrainConfig` (raises ConfigError naming the field)."""
    servers_range = tuple(args.servers_range) if args.servers_range else (args.servers, args.servers)
    env = EnvConfig(
        workload=args.workload,
        servers_range=servers_range,
        max_servers=args.max_servers,
        load=args.load,
        workflows_per_server=args.workflows_per_server,
        max_tasks=args.max_tasks,
    )
    return TrainConfig(env=env, **train_fields(args))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scale-rllib`` console script."""
    args = build_parser().parse_args(argv)
    if getattr(args, "arrivals", None):  # --arrivals azure:PATH → the workload spec WORKLOAD@azure:PATH
        args.workload = f"{args.workload}@{args.arrivals}"
    from scale_rllib import commands

    try:
        return commands.COMMANDS[args.command](args)
    except (ConfigError, FileNotFoundError, WorkflowError) as err:
        print(f"scale-rllib {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
