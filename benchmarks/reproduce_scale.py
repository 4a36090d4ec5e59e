"""SCALE reproduction study (BENCHMARKS.md §2): SRR vs λ = 0 vs every heuristic, trained at N≈16, zero-shot to N=128.

Trains SCALE with SRR (λ_dec=0.1, λ_KL=0.01) and with λ = 0 for every seed at N ∈ [12, 20] on each workload
(``agentic``; ``agentic-real`` = WorFBench × Azure LLM trace; ``wfinstances``, 1 workflow per server), then evaluates
every policy and every heuristic on the same seeded episodes at each N and ρ, and writes ``OUTPUT/results.csv``,
``summary.csv``, ``srr_gain.csv``, ``features.csv``, PNG plots and ``report.md`` (logic: :mod:`scale_rllib.study`).

Resumable: a training whose checkpoint has ``--iterations`` is skipped, one with fewer is resumed; an evaluation piece
(workload, ρ, policy or heuristics) whose CSV is under ``OUTPUT/pieces/`` is skipped. Stop it at any time and rerun
the same command; ``--report-only`` assembles what is on disk.

    python benchmarks/reproduce_scale.py                       # the full study (hours on 2 cores)
    python benchmarks/reproduce_scale.py --workloads agentic --seeds 0 --servers 16 48 --loads 0.7
    python benchmarks/reproduce_scale.py --report-only
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from scale_rllib.config import WARM_START_TEACHERS, ConfigError, TrainConfig
from scale_rllib.study import WORKLOADS, StudyConfig, run_study

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def build_parser() -> argparse.ArgumentParser:
    """The study's argument parser (every flag maps to a :class:`StudyConfig` field of the same name)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), help=f"subset of {' '.join(WORKLOADS)}")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder (default ../shared/data)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    p.add_argument("--servers", type=int, nargs="+", default=[16, 32, 48, 64, 128], help="evaluation N")
    p.add_argument("--loads", type=float, nargs="+", default=[0.5, 0.7, 0.85], help="evaluation offered loads ρ")
    p.add_argument("--iterations", type=int, default=30, help="PPO iterations per training (default 30)")
    p.add_argument("--episodes", type=int, default=2, help="evaluation episodes per (N, ρ) (default 2)")
    p.add_argument("--num-env-runners", type=int, default=1, help="RLlib env runners per training (default 1)")
    p.add_argument("--warm-start", choices=WARM_START_TEACHERS, help="behaviour-clone this heuristic before PPO")
    p.add_argument("--warm-start-episodes", type=int, default=TrainConfig.warm_start_episodes)
    p.add_argument("--warm-start-epochs", type=int, default=TrainConfig.warm_start_epochs)
    p.add_argument("--warm-start-dagger-rounds", type=int, default=TrainConfig.warm_start_dagger_rounds)
    p.add_argument("--lr", type=float, default=TrainConfig.lr, help="PPO learning rate")
    p.add_argument("--entropy-coeff", type=float, default=TrainConfig.entropy_coeff, help="PPO entropy bonus")
    p.add_argument(
        "--heuristics",
        nargs="+",
        default=["random", "round-robin", "est", "eft", "peft"],
        help="heuristics beside the policies (also eft-rollout, peft-rollout, dws-heft, …)",
    )
    p.add_argument("--train-servers", type=int, nargs=2, default=[12, 20], metavar=("MIN", "MAX"))
    p.add_argument("--train-load", type=float, default=0.7, help="offered load of the training episodes")
    p.add_argument(
        "--workflows-per-server", type=float, help="episode length for all workloads (default: 4; wfinstances 1)"
    )
    p.add_argument("--train-batch-size", type=int, default=TrainConfig.train_batch_size)
    p.add_argument("--minibatch-size", type=int, default=TrainConfig.minibatch_size)
    p.add_argument("--num-epochs", type=int, default=TrainConfig.num_epochs)
    p.add_argument("--lambda-dec", type=float, default=0.1, help="SRR variant's λ_dec (the other uses 0)")
    p.add_argument("--lambda-kl", type=float, default=0.01, help="SRR variant's λ_KL (the other uses 0)")
    p.add_argument("--output", type=Path, default=REPO / "results" / "scale_study", help="pieces, CSVs, plots, report")
    p.add_argument("--runs-dir", type=Path, default=REPO / "runs" / "study", help="training runs (default runs/study)")
    p.add_argument("--report-only", action="store_true", help="only assemble the pieces already on disk")
    return p


def study_config(args: argparse.Namespace) -> StudyConfig:
    """Flags → :class:`StudyConfig` (raises ConfigError naming the field, i.e. the flag)."""
    values = {k: v for k, v in vars(args).items() if k != "report_only"}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return StudyConfig(**values)


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
