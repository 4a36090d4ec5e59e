"""SRR study (docs/srr-study.md): SRR vs λ = 0 vs every heuristic, trained at N≈16, zero-shot to N=128.

Trains SCALE with SRR (λ_dec=0.1, λ_KL=0.01) and with λ = 0 for every seed at N ∈ [12, 20] on each workload
(``agentic``; ``agentic-real`` = WorFBench × Azure LLM trace; ``wfinstances``, 1 workflow per server), then evaluates
every policy and every heuristic on the same seeded episodes at each N and ρ, and writes ``OUTPUT/results.csv``,
``summary.csv``, ``srr_gain.csv``, ``features.csv``, PNG plots and ``report.md`` (logic: :mod:`scale_rllib.study`).

Resumable: a training whose checkpoint has ``--iterations`` is skipped, one with fewer is resumed; an evaluation piece
(workload, ρ, policy or heuristics) whose CSV is under ``OUTPUT/pieces/`` is skipped. Stop it at any time and rerun
the same command; ``--report-only`` assembles what is on disk. Paths are relative to the current directory (run it
from the repository root), so the report names no machine-specific path.

    python benchmarks/reproduce_scale.py                       # the full study (hours on 2 cores)
    python benchmarks/reproduce_scale.py --workloads agentic --seeds 0 --servers 16 48 --loads 0.7
    python benchmarks/reproduce_scale.py --report-only
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from scale_rllib.cli.options import DeprecatedAlias, HelpFormatter, add_ppo_arguments, fields_of
from scale_rllib.env.config import EnvConfig
from scale_rllib.schedulers import DEFAULT_HEURISTICS
from scale_rllib.study import DEFAULT_WORKLOADS, STUDY_TRAIN, WORKLOADS, StudyConfig, run_study
from scale_rllib.training import TrainConfig
from scale_rllib.validation import ConfigError

DEFAULT_DATA = Path("..") / "shared" / "data"
#: Study flag of each training-env field (errors name the flag).
ENV_FLAGS = {"servers_range": "servers_range", "load": "train_load", "max_servers": "servers_range"}


def build_parser() -> argparse.ArgumentParser:
    """The study's argument parser: the study's own flags, and every training flag of ``scale-rllib train`` (with
    the study's defaults) except the workload, N and seed, which the study sets per training."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    p.add_argument("--workloads", nargs="+", default=list(DEFAULT_WORKLOADS),
                   help=f"any of {' '.join(WORKLOADS)} (default: {' '.join(DEFAULT_WORKLOADS)})")  # fmt: skip
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data folder (worfbench/, azure-llm-2023/, …)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    p.add_argument("--servers", type=int, nargs="+", default=[16, 32, 48, 64, 128], help="evaluation cluster sizes N")
    p.add_argument("--loads", type=float, nargs="+", default=[0.5, 0.7, 0.85], help="evaluation offered loads ρ")
    p.add_argument("--episodes", type=int, default=2, help="evaluation episodes per (N, ρ)")
    p.add_argument(
        "--heuristics",
        nargs="+",
        default=list(DEFAULT_HEURISTICS),
        help="heuristics beside the policies (also eft-rollout, peft-rollout, dws-heft, …)",
    )
    p.add_argument(
        "--servers-range",
        type=int,
        nargs=2,
        default=list(STUDY_TRAIN.env.servers_range),
        metavar=("MIN", "MAX"),
        help="training N, drawn per episode (the observation padding is MAX)",
    )
    p.add_argument("--train-servers", type=int, nargs=2, dest="servers_range", action=DeprecatedAlias,
                   new="--servers-range", help=argparse.SUPPRESS)  # fmt: skip
    p.add_argument("--train-load", type=float, default=STUDY_TRAIN.env.load, help="offered load of training episodes")
    p.add_argument(
        "--workflows-per-server", type=float, help="episode length for all workloads (default: 4; wfinstances 1)"
    )
    add_ppo_arguments(p, defaults=STUDY_TRAIN)
    p.add_argument("--output", type=Path, default=Path("results") / "scale_study", help="pieces, CSVs, plots, report")
    p.add_argument("--runs-dir", type=Path, default=Path("runs") / "study", help="training runs")
    p.add_argument("--report-only", action="store_true", help="only assemble the pieces already on disk")
    return p


def study_config(args: argparse.Namespace) -> StudyConfig:
    """Flags → :class:`StudyConfig` (raises ConfigError naming the field, i.e. the flag)."""
    servers_range = tuple(args.servers_range)
    try:
        env = EnvConfig(servers_range=servers_range, load=args.train_load)
    except ConfigError as err:
        name, _, message = str(err).partition(": ")
        raise ConfigError(f"{ENV_FLAGS.get(name, name)}: {message}") from None
    train = TrainConfig(env=env, **fields_of(TrainConfig, args, exclude=("env", "seed")))
    return StudyConfig(train=train, **fields_of(StudyConfig, args, exclude=("train",)))


def main(argv: list[str] | None = None) -> int:
    """Validate the flags (before any Ray work), run or resume the study, print the report's path."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = study_config(args)
    except ConfigError as err:
        name, _, message = str(err).partition(": ")
        parser.error(f"argument --{name.replace('_', '-')}: {message}")
    # The report names the study's command, also when only re-assembling it.
    command = shlex.join(["python", "benchmarks/reproduce_scale.py", *(a for a in argv if a != "--report-only")])
    try:
        outcome = run_study(cfg, command, report_only=args.report_only, say=lambda line: print(line, flush=True))
    except (ConfigError, FileNotFoundError) as err:
        print(f"reproduce_scale: error: {err}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{k} {v}" for k, v in outcome.counts.items())
    print(f"pieces: {counts}")
    print(f"report: {outcome.report.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
