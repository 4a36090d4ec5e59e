"""Where can adaptation win? EFT on a performance model's estimates against what better knowledge or heuristics buy.

The adaptation target of docs/design.md §10 (a policy ≥ 12 % below EFT on the estimates) is reachable only where
EFT on the estimates is far from EFT with the true execution times. For each shift of ``--shifts`` (``sigma=X``: a
profile error σ = X; any other name: a distribution of :data:`scale_rllib.env.shifts.SHIFT_DISTRIBUTIONS`), this
runs the same seeded ``agentic`` episodes (N = ``--servers``, ρ = ``--load``) with

- ``eft`` on the estimates of the default performance model (γ = 1, κ₀ = 1): the yardstick;
- ``eft`` on the estimates of every other (forgetting γ, prior weight κ₀) of ``--forgetting`` × ``--prior-counts``
  (is the yardstick a well-tuned heuristic?);
- the exploring ``eft-ucb``, the contention-aware ``eft-contention`` and the lookahead ``eft-rollout`` on the default
  model's estimates;
- ``eft`` and ``eft-rollout`` with oracle execution times (what knowing the truth is worth),

and reports each mean response time, its paired ratio to the yardstick (same episode) with the 95 % Student-t
interval, and the yardstick's ratio to the lower bound.

    python benchmarks/adaptation_headroom.py --output results/adaptation_headroom
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
from pathlib import Path

import pandas as pd
import torch

from scale_rllib.evaluation import EvalConfig, evaluate
from scale_rllib.evaluation.summary import ci95_half_width

DEFAULT_SHIFTS = ("sigma=0.5", "sigma=1", "meta-train", "heldout-newtype", "heldout-drift", "heldout-error",
                  "heldout-interference")  # fmt: skip
YARDSTICK = "eft (estimated, γ 1, κ₀ 1)"


def shift_fields(shift: str) -> dict:
    """The EvalConfig fields of one ``--shifts`` entry (``sigma=X`` or a shift distribution's name)."""
    if shift.startswith("sigma="):
        return {"profile_error": float(shift.removeprefix("sigma="))}
    return {"shift_distribution": shift}


def variants(args: argparse.Namespace) -> list[tuple[str, tuple[str, ...], dict]]:
    """(label prefix, schedulers, knowledge fields) of every run of one shift."""
    default = ("eft", "eft-ucb", "eft-contention", "eft-rollout")
    runs = [("estimated, γ 1, κ₀ 1", default, {"runtime_knowledge": "estimated"})]
    for gamma, count in itertools.product(args.forgetting, args.prior_counts):
        if (gamma, count) != (1.0, 1.0):
            fields = {"runtime_knowledge": "estimated", "model_forgetting": gamma, "model_prior_count": count}
            runs.append((f"estimated, γ {gamma:g}, κ₀ {count:g}", ("eft",), fields))
    runs.append(("oracle", ("eft", "eft-rollout"), {"runtime_knowledge": "oracle"}))
    return runs


def measure(shift: str, args: argparse.Namespace) -> pd.DataFrame:
    """Per-episode rows of every (scheduler, knowledge) at one shift, labelled ``scheduler (knowledge)``."""
    frames = []
    for label, names, fields in variants(args):
        cfg = EvalConfig(servers=(args.servers,), load=args.load, episodes=args.episodes, schedulers=names,
                         **shift_fields(shift), **fields)  # fmt: skip
        rows = pd.DataFrame(evaluate(cfg, []).results)
        frames.append(rows.assign(shift=shift, method=rows["scheduler"] + f" ({label})"))
    return pd.concat(frames, ignore_index=True)


def paired(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (shift, method): mean RT, the paired ratio to the yardstick with its interval, and RT / LB."""
    out = []
    for shift, g in rows.groupby("shift", sort=False):
        rt = g.pivot_table(index="seed", columns="method", values="mean_response_time_s")
        bound = g.groupby("seed")["lower_bound_s"].first()
        for method in g["method"].unique():
            ratio = rt[method] / rt[YARDSTICK]
            out.append({"shift": shift, "method": method, "episodes": len(ratio),
                        "mean_rt_s": rt[method].mean(), "over_lb": (rt[method] / bound).mean(),
                        "over_yardstick": ratio.mean(), "ci95": ci95_half_width(ratio)})  # fmt: skip
    return pd.DataFrame(out)


def report(table: pd.DataFrame, command: str, args: argparse.Namespace, path: Path) -> None:
    """``report.md``: one section per shift, one row per method."""
    lines = ["# Adaptation headroom: EFT on the estimates against better knowledge and heuristics", "",
             f"`agentic`, N = {args.servers}, ρ = {args.load}, {args.episodes} paired episodes per shift (the same "
             "workflows and the same true speeds for every method). γ: the performance model's forgetting, κ₀: "
             "its prior weight in completions. Command:", "", "```", command, "```"]  # fmt: skip
    for shift, g in table.groupby("shift", sort=False):
        lines += ["", f"## {shift}", "", "| method | mean RT (s) | / LB | / EFT on estimates (paired) | ± 95 % |",
                  "|---|---:|---:|---:|---:|"]  # fmt: skip
        for r in g.sort_values("over_yardstick").itertuples():
            cells = f"{r.mean_rt_s:.2f} | {r.over_lb:.3f} | {r.over_yardstick:.3f} | {r.ci95:.3f}"
            lines.append(f"| {r.method} | {cells} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run every shift; write ``results.csv`` (per episode), ``summary.csv`` and ``report.md``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shifts", nargs="+", default=list(DEFAULT_SHIFTS), help="sigma=X or a shift distribution")
    parser.add_argument("--forgetting", type=float, nargs="+", default=[1.0, 0.95, 0.8], help="γ values")
    parser.add_argument("--prior-counts", type=float, nargs="+", default=[1.0, 0.1], help="κ₀ values")
    parser.add_argument("--servers", type=int, default=16, help="N")
    parser.add_argument("--load", type=float, default=0.7, help="offered load ρ (for the profile's capacity)")
    parser.add_argument("--episodes", type=int, default=10, help="paired episodes per shift")
    parser.add_argument("--output", type=Path, default=Path("results/adaptation_headroom"), help="report and CSVs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = pd.concat([measure(shift, args) for shift in args.shifts], ignore_index=True)
    table = paired(rows)
    args.output.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.output / "results.csv", index=False)
    table.to_csv(args.output / "summary.csv", index=False)
    report(table, shlex.join(["python", "benchmarks/adaptation_headroom.py", *argv]), args, args.output / "report.md")
    print((args.output / "report.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
