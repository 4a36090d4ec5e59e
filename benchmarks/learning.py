"""Learning from scratch: GAE vs input-driven baselines (docs/design.md §8), every seed reported.

For each advantage estimator of ``--advantages`` and each seed of ``--seeds``: train SCALE from scratch (no warm
start, no teacher) on ``agentic`` at N ∈ [12, 20], ρ = 0.7 for ``--iterations`` PPO iterations (2 env runners × 4
envs, so a group of the input-driven baseline is one runner's 4 envs), then evaluate the policy zero-shot at
``--servers`` against EFT on the same seeded episodes, adding episodes until the paired ratio is known to
± ``--target-ci`` (95 %). Training curves are in the MLflow store; the report is ``OUTPUT/report.md`` (and
``results.csv``): per (estimator, seed, N) the paired ratio to EFT with its interval, and whether the seed collapsed
(> 2 × EFT).

    python benchmarks/learning.py --output results/learning --runs-dir runs/learning [--seeds 0 1 2] [--iterations 30]
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import mlflow
import pandas as pd
import ray
import torch

from scale_rllib import metrics as M
from scale_rllib.env.config import EnvConfig
from scale_rllib.evaluation import EvalConfig, evaluate, summarize
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.training import TrainConfig, train
from scale_rllib.training.checkpoints import find_checkpoint, read_metadata

COLLAPSED = 2.0  # × EFT: a seed this far behind learned nothing useful


def train_config(advantage: str, seed: int, iterations: int) -> TrainConfig:
    """From scratch on agentic, N ∈ [12, 20], ρ = 0.7; ``input-driven`` uses groups of 4 (one runner's envs)."""
    return TrainConfig(
        env=EnvConfig(servers_range=(12, 20)),
        iterations=iterations,
        num_env_runners=2,
        envs_per_runner=4,
        advantage=advantage,
        group_size=4,
        seed=seed,
    )


def training_minutes(meta: dict) -> float:
    """Training wall time of a run (minutes): the sum of its iterations' times in its MLflow run, so resumed runs count
    every iteration once (the latest value per step)."""
    history = mlflow.MlflowClient(meta["mlflow_uri"]).get_metric_history(meta["mlflow_run_id"], M.TRAIN_ITER_TIME)
    return sum({m.step: m.value for m in sorted(history, key=lambda m: m.timestamp)}.values()) / 60


def run(advantage: str, seed: int, args: argparse.Namespace) -> pd.DataFrame:
    """Train (or reuse a finished run), evaluate; one row per N."""
    out = args.runs_dir / advantage / f"seed{seed}"
    found = find_checkpoint(out / "checkpoint")
    if found is None or read_metadata(found)["iteration"] < args.iterations:
        train(train_config(advantage, seed, args.iterations), out, resume=found is not None, progress=False)
        ray.shutdown()
    meta = read_metadata(find_checkpoint(out / "checkpoint"))
    minutes, iterations = training_minutes(meta), meta["iteration"]  # a reused run may have trained longer
    cfg = EvalConfig(servers=tuple(args.servers), episodes=3, schedulers=("eft",), target_ci=args.target_ci,
                     max_episodes=args.max_episodes)  # fmt: skip
    table = summarize(evaluate(cfg, [PolicyScheduler.from_checkpoint(out / "checkpoint")]).results)
    scale = table[table["scheduler"] == "scale"]
    return scale.assign(advantage=advantage, seed=seed, train_minutes=minutes, iterations=iterations)[
        ["advantage", "seed", "iterations", "servers", "episodes", "mean_response_time_s", "paired_ratio_to_best",
         "paired_ratio_ci95", "train_minutes"]
    ]  # fmt: skip


def report(rows: pd.DataFrame, command: str, path: Path) -> None:
    """``report.md``: every seed, and per estimator the worst seed and the collapsed ones."""
    lines = ["# Learning from scratch: GAE vs input-driven baselines", "", "Command:", "", "```", command, "```", ""]
    lines += [
        "| advantage | seed | iterations | training (min) | N | episodes | SCALE / EFT (paired) | ± 95 % | collapsed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]  # noqa: E501
    for r in rows.itertuples():
        collapsed = "yes" if r.paired_ratio_to_best > COLLAPSED else "no"
        ratio = f"{r.paired_ratio_to_best:.3f}"
        cells = [r.advantage, r.seed, r.iterations, f"{r.train_minutes:.1f}", r.servers, r.episodes, ratio]
        lines.append("| " + " | ".join(map(str, cells)) + f" | {r.paired_ratio_ci95:.3f} | {collapsed} |")
    lines += ["", "Per estimator: worst seed's ratio at each N, and seeds ≤ 1.02 × EFT at every N:", ""]
    for advantage, g in rows.groupby("advantage", sort=False):
        worst = g.groupby("servers")["paired_ratio_to_best"].max()
        good = int((g.groupby("seed")["paired_ratio_to_best"].max() <= 1.02).sum())
        parts = ", ".join(f"N={n} {v:.3f}" for n, v in worst.items())
        lines.append(f"- **{advantage}**: worst seed {parts}; {good} of {g['seed'].nunique()} seeds ≤ 1.02 × EFT.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Train and evaluate every (estimator, seed); write the CSV and the report."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--advantages", nargs="+", default=["gae", "input-driven"], help="estimators to compare")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--iterations", type=int, default=30, help="PPO iterations per run")
    parser.add_argument("--servers", type=int, nargs="+", default=[16, 32, 48], help="evaluation N")
    parser.add_argument("--target-ci", type=float, default=0.02, help="paired-ratio half-width to reach (95 %%)")
    parser.add_argument("--max-episodes", type=int, default=20, help="the most evaluation episodes per N")
    parser.add_argument("--output", type=Path, default=Path("results/learning"), help="report and CSV")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/learning"), help="training runs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = pd.concat([run(a, s, args) for a in args.advantages for s in args.seeds], ignore_index=True)
    args.output.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.output / "results.csv", index=False)
    report(rows, shlex.join(["python", "benchmarks/learning.py", *argv]), args.output / "report.md")
    print((args.output / "report.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
