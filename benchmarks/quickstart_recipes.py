"""The README quick start with and without a round of policy iteration (docs/design.md §9), every seed reported.

For each seed of ``--seeds`` train two recipes on ``agentic`` (N ∈ [12, 20], ρ = 0.7, 2 env runners):

- ``clone``: the README main job as it was until 2026-12-07 (it now adds ``--anchor-kl 1``,
  results/after_clone) — clone ``peft-rollout`` (10 epochs, 2 DAgger rounds), then 10 PPO iterations at lr 3·10⁻⁵
  without an entropy bonus;
- ``clone+pi``: the same, plus ``--policy-iterations`` rounds of policy iteration with the network as its own rollout
  teacher (``--policy-iteration-episodes`` episodes per round, 2 labelling workers, distilled at
  ``--policy-iteration-lr``) between the clone and PPO.

Then run both policies and EFT on the same ``--episodes`` seeded episodes at each N of ``--servers`` and report the
paired ratios (95 % Student t): each recipe / EFT, and ``clone+pi`` / ``clone`` per seed and over all seeds, with the
wall time of each training run. The README's main command may use policy iteration only if it is better within
≈ 5 minutes (issue "Learning that beats its teacher").

    python benchmarks/quickstart_recipes.py --output results/quickstart_recipes --runs-dir runs/quickstart_recipes
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import pandas as pd
import ray
import torch

from scale_rllib.cli.options import tracking_uri
from scale_rllib.env.config import EnvConfig
from scale_rllib.evaluation import EvalConfig, evaluate
from scale_rllib.evaluation.report import write_report
from scale_rllib.evaluation.summary import paired_by_seed
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.training import TrainConfig, train
from scale_rllib.training.checkpoints import find_checkpoint
from scale_rllib.training.config import CLONE_LR

RECIPES = ("clone", "clone+pi")
WALL_FILE = "train_wall_s.json"  # written by this script beside a run it trained


def train_config(recipe: str, seed: int, args: argparse.Namespace) -> TrainConfig:
    """The README main job's TrainConfig, plus policy iteration for ``clone+pi``."""
    pi = {"teacher": "self-rollout", "policy_iterations": args.policy_iterations,
          "policy_iteration_episodes": args.policy_iteration_episodes, "labelling_workers": 2,
          "policy_iteration_lr": args.policy_iteration_lr}  # fmt: skip
    return TrainConfig(env=EnvConfig(servers_range=(12, 20)), iterations=10, num_env_runners=2, seed=seed,
                       warm_start="peft-rollout", warm_start_epochs=10, warm_start_dagger_rounds=2, lr=3e-5,
                       entropy_coeff=0.0, **(pi if recipe == "clone+pi" else {}))  # fmt: skip


def trained(recipe: str, seed: int, args: argparse.Namespace) -> tuple[Path, float]:
    """The run's checkpoint (trained now unless already there) and its training wall time (s)."""
    out = args.runs_dir / f"{recipe}-seed{seed}"
    if find_checkpoint(out / "checkpoint") is None:
        start = time.perf_counter()
        train(train_config(recipe, seed, args), out, mlflow_uri=args.mlflow_uri, progress=False)
        ray.shutdown()
        (out / WALL_FILE).write_text(json.dumps({"seconds": time.perf_counter() - start}))
    return out / "checkpoint", json.loads((out / WALL_FILE).read_text())["seconds"]


def evaluate_seed(seed: int, args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, float]]:
    """Both recipes' policies and EFT on the same episodes; rows and training wall times."""
    runs = {recipe: trained(recipe, seed, args) for recipe in RECIPES}
    policies = [PolicyScheduler.from_checkpoint(ckpt, name=recipe) for recipe, (ckpt, _) in runs.items()]
    cfg = EvalConfig(servers=tuple(args.servers), episodes=args.episodes, schedulers=("eft",))
    rows = pd.DataFrame(evaluate(cfg, policies).results).rename(columns={"seed": "episode"}).assign(seed=seed)
    return rows, {recipe: wall for recipe, (_, wall) in runs.items()}


def report(table: pd.DataFrame, walls: pd.DataFrame, command: str) -> list[str]:
    """Markdown: the paired ratios, then the training wall times."""
    lines = ["# The quick start with and without policy iteration", "", "Command:", "", "```", command, "```", "",
             "Paired ratios over the same seeded episodes (mean ± 95 %, Student t); `all`: every seed's episodes "
             "pooled.", "", "| policy | / baseline | seed | N | episodes | ratio | ± 95 % |",
             "|---|---|---|---:|---:|---:|---:|"]  # fmt: skip
    lines += [f"| {r.policy} | {r.baseline} | {r.seed} | {r.servers} | {r.episodes} | {r.ratio:.3f} | {r.ci95:.3f} |"
              for r in table.itertuples()]  # fmt: skip
    pooled = table[(table["policy"] == "clone+pi") & (table["baseline"] == "clone") & (table["seed"] == "all")]
    better = bool(((pooled["ratio"] + pooled["ci95"]) < 1.0).all())
    cells = ", ".join(f"N = {r.servers}: {r.ratio:.3f} ± {r.ci95:.3f}" for r in pooled.itertuples())
    lines += ["", f"Policy iteration better than the clone at every N (pooled interval below 1): "
              f"**{'yes' if better else 'no'}** ({cells})."]  # fmt: skip
    lines += ["", "Training wall time (s; clone, policy iteration and PPO, with Ray's start):", "",
              "| recipe | seed | seconds |", "|---|---:|---:|"]  # fmt: skip
    lines += [f"| {r.recipe} | {r.seed} | {r.seconds:.0f} |" for r in walls.itertuples()]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate and report every (recipe, seed)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--policy-iterations", type=int, default=1, help="policy-iteration rounds of clone+pi")
    parser.add_argument("--policy-iteration-episodes", type=int, default=4, help="episodes labelled per round")
    parser.add_argument("--policy-iteration-lr", type=float, default=CLONE_LR, help="Adam lr of each round")
    parser.add_argument("--servers", type=int, nargs="+", default=[16, 32, 48], help="evaluation N")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes per N")
    parser.add_argument("--output", type=Path, default=Path("results/quickstart_recipes"), help="report and CSVs")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/quickstart_recipes"), help="training runs")
    parser.add_argument(
        "--mlflow-uri", type=tracking_uri, help="MLflow tracking URI of the training runs (default: the project's)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    done = [evaluate_seed(seed, args) for seed in args.seeds]
    rows = pd.concat([r for r, _ in done], ignore_index=True)
    walls = pd.DataFrame([(recipe, seed, s) for seed, (_, w) in zip(args.seeds, done, strict=True)
                          for recipe, s in w.items()], columns=["recipe", "seed", "seconds"])  # fmt: skip
    table = pd.concat([paired_by_seed(rows, r, "eft") for r in RECIPES] + [paired_by_seed(rows, "clone+pi", "clone")])
    lines = report(table, walls, shlex.join(["python", "benchmarks/quickstart_recipes.py", *argv]))
    write_report(args.output, {"results.csv": rows, "summary.csv": table}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
