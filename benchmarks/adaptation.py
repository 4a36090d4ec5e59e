"""Adaptation to a held-out shift: meta-trained SCALE vs SCALE trained without meta-learning vs from scratch.

On each held-out shift of ``--shifts`` (docs/design.md §10: by default ``heldout-drift``, a tool's work × 5 from 30 %
of the stream on, under interference, and ``heldout-error``, a profile error σ = 1.5 — the two where EFT with true
times is far ahead of EFT on the estimates, ``results/adaptation_headroom``), with estimated
runtime knowledge (the policies read the performance model's posterior mean and log-sd), mean response time after
0, 1, 2, 5 and 10 adaptation PPO iterations (``--steps``) of

- ``meta``: ``--pretrain-iterations`` PPO iterations on the ``meta-train`` shift distribution, then fine-tuned on the
  shift (``train --init-checkpoint``);
- ``no-meta``: the same PPO budget on unshifted episodes, then fine-tuned the same number of iterations;
- ``scratch``: a new network trained on the shift for that many iterations;

against EFT on the same estimates (``eft-estimated``, the reference of the paired ratios), the contention-aware
``eft-contention`` (an assumed co-location charge) and ``eft-colocation`` (the charge each server has shown, inferred
online) on the same estimates, and EFT with true execution times (``eft-oracle``). Every ``--seeds`` training seed
trains every method; every policy and heuristic runs the same ``--episodes`` seeded evaluation episodes at
N = ``--servers``. Writes ``results.csv`` (one row per episode),
``summary.csv``, ``report.md`` (paired ratios with 95 % Student-t intervals) and ``response_time_vs_adaptation.png``
to ``--output``; training runs go to ``--runs-dir`` (reused if there: remove it to rerun with other budgets).
``--compare-with A/results.csv …`` adds other runs' ``no-meta`` policies (e.g. one cloned from another teacher) to
the tables as ``no-meta (A)``, paired with this run's ``meta`` on the same seed, step and episode.
``--quick``: a smoke run of the whole pipeline (2 pretraining iterations, steps 0 1 2, 1 seed, 2 episodes, N = 8,
one shift) in a few minutes; any other flag given overrides it.

    python benchmarks/adaptation.py --output results/adaptation --runs-dir runs/adaptation
    python benchmarks/adaptation.py --quick --output /tmp/adaptation --runs-dir /tmp/adaptation/runs
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from scale_rllib.adaptation import (
    QUICK,
    AdaptationPlan,
    adaptation_table,
    compared_rows,
    held_out_lines,
    paired_methods,
    plot_adaptation,
    report_lines,
    run_protocol,
    with_overrides,
)
from scale_rllib.cli.options import tracking_uri
from scale_rllib.evaluation.report import write_report
from scale_rllib.training.config import WARM_START_TEACHERS


def write_outputs(plan: AdaptationPlan, rows: pd.DataFrame, command: str, minutes: float, output: Path,
                  compared: pd.DataFrame) -> None:  # fmt: skip
    """``results.csv`` (``rows``), ``summary.csv``, ``report.md`` (printed) and the plot; ``compared``: other runs'
    policies, added to the tables and paired with ``meta``."""
    output.mkdir(parents=True, exist_ok=True)
    both = pd.concat([rows, compared], ignore_index=True)
    baselines = ["no-meta", *dict.fromkeys(compared.get("method", []))]
    table = adaptation_table(both)
    versus = pd.concat([paired_methods(both, "meta", b) for b in baselines], ignore_index=True)
    plot = plot_adaptation(table, output / "response_time_vs_adaptation.png")
    budgets = ", ".join(f"{k} = {v}" for k, v in dataclasses.asdict(plan).items())
    lines = ["# Adaptation to held-out shifts of the performance model", "", "Command:", "", "```", command, "```", "",
             f"Budgets: {budgets}.", "",
             f"Wall time of this invocation: {minutes:.1f} min on {os.cpu_count()} CPU cores (stages already in the "
             "runs directory are reused, not retrained).", "",
             "Mean RT ± 95 % over every (training seed, episode); the paired ratio is the mean over (seed, episode) "
             "of RT / RT(EFT on the same estimates, same episode) ± 95 % (Student t); worst seed: the largest "
             "per-seed mean ratio. `—` adaptation iterations: a heuristic (it does not adapt), or `lower-bound`: the "
             "episodes' lower bound in place of a response time (no scheduler can beat it).", ""]  # fmt: skip
    lines += report_lines(table, versus, held_out_lines(plan.shifts))
    lines += [f"![response time vs adaptation]({plot.name})"]
    write_report(output, {"results.csv": rows, "summary.csv": table}, lines)


def parse(argv: list[str]) -> tuple[AdaptationPlan, argparse.Namespace]:
    """Flags → the plan (``--quick``'s or the default, with every given flag applied)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets: a smoke run of the pipeline")
    parser.add_argument(
        "--shifts", nargs="+", help="held-out shift distributions (default: heldout-drift heldout-error)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds (default: 0 1 2)")
    parser.add_argument(
        "--steps", type=int, nargs="+", help="adaptation iterations to evaluate at (default: 0 1 2 5 10)"
    )
    parser.add_argument("--pretrain-iterations", type=int, help="PPO iterations before adapting (default: 20)")
    parser.add_argument("--episodes", type=int, help="evaluation episodes (default: 10)")
    parser.add_argument("--servers", type=int, dest="eval_servers", help="evaluation N (default: 16)")
    parser.add_argument(
        "--warm-start", choices=[*WARM_START_TEACHERS, "none"], help="clone before pretraining (default: eft)"
    )
    parser.add_argument("--warm-start-episodes", type=int, help="teacher episodes per clone round (default: 16)")
    parser.add_argument("--warm-start-epochs", type=int, help="cloning passes per round (default: 5)")
    parser.add_argument("--warm-start-dagger-rounds", type=int, help="DAgger rounds after the clone (default: 0)")
    parser.add_argument(
        "--warm-start-privileged",
        action="store_true",
        default=None,
        help="the clone's teacher decides on the true execution times (train --warm-start-privileged)",
    )
    parser.add_argument("--adapt-lr", type=float, help="learning rate of the fine-tuning (default: the pretraining's)")
    parser.add_argument(
        "--compare-with",
        type=Path,
        nargs="+",
        default=[],
        help="results.csv of other adaptation runs on the same episodes: their no-meta policies join the report",
    )
    parser.add_argument("--output", type=Path, default=Path("results/adaptation"), help="report, CSVs and plot")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/adaptation"), help="training runs")
    parser.add_argument(
        "--mlflow-uri", type=tracking_uri, help="MLflow tracking URI of the training runs (default: the project's)"
    )
    args = parser.parse_args(argv)
    names = (
        "shifts",
        "seeds",
        "steps",
        "pretrain_iterations",
        "episodes",
        "eval_servers",
        "warm_start_episodes",
        "warm_start_epochs",
        "warm_start_dagger_rounds",
        "warm_start_privileged",
        "adapt_lr",
    )
    plan = with_overrides(QUICK if args.quick else AdaptationPlan(), **{n: getattr(args, n) for n in names})
    if args.warm_start is not None:
        plan = dataclasses.replace(plan, warm_start=None if args.warm_start == "none" else args.warm_start)
    return plan, args


def main(argv: list[str] | None = None) -> int:
    """Run the protocol; write ``results.csv``, ``summary.csv``, ``report.md`` and the plot."""
    argv = sys.argv[1:] if argv is None else list(argv)
    plan, args = parse(argv)
    try:
        compared = compared_rows(args.compare_with)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    start = time.perf_counter()
    rows = run_protocol(plan, args.runs_dir, args.mlflow_uri)
    minutes = (time.perf_counter() - start) / 60
    command = shlex.join(["python", "benchmarks/adaptation.py", *argv])
    write_outputs(plan, rows, command, minutes, args.output, compared)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
