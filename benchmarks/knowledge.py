"""What a wrong performance profile costs the heuristics: estimated vs oracle execution times (docs/design.md §10).

For each profile error σ of ``--profile-errors`` (the true speed of each server type × task kind is the profile's ×
exp(ε), ε ~ N(0, σ²) per episode), every scheduler of ``--schedulers`` runs the same seeded ``agentic`` episodes at
N = ``--servers``, ρ = ``--load`` twice: with oracle execution times and with ``--runtime-knowledge estimated`` (the
performance model, corrected online from completions). Paired per episode (same workflows, same truth), the report
gives RT(estimated) / RT(oracle) with its 95 % Student-t interval, and each mean response time over the lower bound.

    python benchmarks/knowledge.py --output results/knowledge [--profile-errors 0 0.25 0.5 1] [--episodes 10]
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd
import torch

from scale_rllib.evaluation import EvalConfig, evaluate
from scale_rllib.evaluation.summary import ci95_half_width


def measure(sigma: float, knowledge: str, args: argparse.Namespace) -> pd.DataFrame:
    """Per-episode rows of every scheduler at one (σ, knowledge)."""
    cfg = EvalConfig(servers=(args.servers,), load=args.load, episodes=args.episodes, schedulers=tuple(args.schedulers),
                     runtime_knowledge=knowledge, profile_error=sigma)  # fmt: skip
    rows = pd.DataFrame(evaluate(cfg, []).results)
    return rows.assign(profile_error=sigma, knowledge=knowledge)


def paired(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (σ, scheduler): mean RT and RT / LB for both knowledges, and the paired ratio estimated / oracle."""
    wide = rows.pivot_table(index=["profile_error", "scheduler", "seed"], columns="knowledge",
                            values=["mean_response_time_s", "lower_bound_s"])  # fmt: skip
    out = []
    for (sigma, name), g in wide.groupby(level=[0, 1], sort=False):
        rt, lb = g["mean_response_time_s"], g["lower_bound_s"]["oracle"]
        ratio = rt["estimated"] / rt["oracle"]
        out.append({"profile_error": sigma, "scheduler": name, "episodes": len(g),
                    "oracle_rt_s": rt["oracle"].mean(), "estimated_rt_s": rt["estimated"].mean(),
                    "oracle_over_lb": (rt["oracle"] / lb).mean(), "estimated_over_lb": (rt["estimated"] / lb).mean(),
                    "estimated_over_oracle": ratio.mean(), "ci95": ci95_half_width(ratio)})  # fmt: skip
    return pd.DataFrame(out)


def report(table: pd.DataFrame, command: str, args: argparse.Namespace, path: Path) -> None:
    """``report.md``: one row per (σ, scheduler)."""
    lines = ["# Estimated vs oracle execution times: what a wrong profile costs the heuristics", "",
             f"`agentic`, N = {args.servers}, ρ = {args.load}, {args.episodes} paired episodes per cell "
             "(the same workflows and the same true speeds for both knowledges). Command:", "", "```", command, "```",
             "", "| σ | scheduler | oracle RT (s) | estimated RT (s) | oracle / LB | estimated / LB | "
             "estimated / oracle (paired) | ± 95 % |", "|---:|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in table.itertuples():
        lines.append(f"| {r.profile_error:g} | {r.scheduler} | {r.oracle_rt_s:.2f} | {r.estimated_rt_s:.2f} | "
                     f"{r.oracle_over_lb:.3f} | {r.estimated_over_lb:.3f} | {r.estimated_over_oracle:.3f} | "
                     f"{r.ci95:.3f} |")  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run every (σ, knowledge); write ``results.csv`` (per episode), ``summary.csv`` and ``report.md``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile-errors", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0], help="σ values")
    parser.add_argument("--schedulers", nargs="+", default=["eft", "peft", "eft-rollout"], help="heuristics")
    parser.add_argument("--servers", type=int, default=16, help="N")
    parser.add_argument("--load", type=float, default=0.7, help="offered load ρ (for the profile's capacity)")
    parser.add_argument("--episodes", type=int, default=10, help="paired episodes per cell")
    parser.add_argument("--output", type=Path, default=Path("results/knowledge"), help="report and CSVs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = pd.concat([measure(s, k, args) for s in args.profile_errors for k in ("oracle", "estimated")])
    table = paired(rows)
    args.output.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.output / "results.csv", index=False)
    table.to_csv(args.output / "summary.csv", index=False)
    report(table, shlex.join(["python", "benchmarks/knowledge.py", *argv]), args, args.output / "report.md")
    print((args.output / "report.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
