"""DWS recipes over training seeds: every seed's SCALE against the teacher, the rollouts and EFT, from the outputs of
``benchmarks/dws.py`` (one per checkpoint), every seed reported (docs/dws-benchmark.md §5).

Each ``--runs`` entry is ``RECIPE/SEED=DIR``, DIR being a ``benchmarks/dws.py --checkpoint … --output DIR`` folder.
The report gives, per reference stream, each seed's flowtime / lower bound, the mean and worst over a recipe's seeds
and the heuristics (the same in every folder); then, on the pools and change patterns not trained on
(``dws_generalization.csv``), SCALE's mean flowtime / EFT's on the same streams per seed, and in how many of those
cells each seed is ahead of EFT.

    python benchmarks/dws_seeds.py --runs clone/0=runs/dws_anchor/seed0/eval_warm_start_checkpoint … \\
        --output results/dws_anchor
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import pandas as pd

from scale_rllib.evaluation.report import write_report

HEURISTICS = ("peft-rollout-2", "peft-rollout", "eft-rollout", "eft")
#: The checkpoint's policies in a ``dws.py`` output → the suffix of their recipe label: the network, and its
#: self-rollout (``dws.py --self-rollout K``: the teacher policy iteration would distill).
POLICIES = {"scale": "", "self-rollout": " self-rollout"}


def parse_runs(entries: list[str]) -> list[tuple[str, int, Path]]:
    """``RECIPE/SEED=DIR`` → (recipe, seed, DIR); the error names the bad entry."""
    out = []
    for entry in entries:
        label, _, folder = entry.partition("=")
        recipe, _, seed = label.partition("/")
        if not folder or not recipe or not seed.isdigit():
            raise SystemExit(f"--runs: {entry!r} is not RECIPE/SEED=DIR")
        out.append((recipe, int(seed), Path(folder)))
    return out


def reference(runs: list[tuple[str, int, Path]]) -> pd.DataFrame:
    """Per (recipe, seed, stream): SCALE's flowtime / lower bound (and its self-rollout's, as recipe
    ``"RECIPE self-rollout"``, where the folder has it); heuristics as recipe rows with seed −1."""
    rows = []
    for recipe, seed, folder in runs:
        frame = pd.DataFrame(json.loads((folder / "dws.json").read_text()))
        ours = frame[frame["source"] == "ours"]
        for r in ours[ours["method"].isin(POLICIES)].itertuples():
            rows.append((recipe + POLICIES[r.method], seed, r.scenario, r.ratio_to_lower_bound))
    heuristics = ours[ours["method"].isin(HEURISTICS)]
    rows += [(r.method, -1, r.scenario, r.ratio_to_lower_bound) for r in heuristics.itertuples()]
    return pd.DataFrame(rows, columns=["recipe", "seed", "stream", "ratio_to_lower_bound"])


def generalization(runs: list[tuple[str, int, Path]]) -> pd.DataFrame:
    """Per (recipe, seed, pattern, pool) not trained on: SCALE's mean flowtime / EFT's on the same streams."""
    rows = []
    for recipe, seed, folder in runs:
        path = folder / "dws_generalization.csv"
        if not path.is_file():
            continue
        frame = pd.read_csv(path).set_index(["scenario", "pool", "scheduler"])["mean_response_time_s"]
        for scenario, pool in {(s, p) for s, p, _ in frame.index}:
            rows.append((recipe, seed, scenario, pool, frame[scenario, pool, "scale"] / frame[scenario, pool, "eft"]))
    columns = ["recipe", "seed", "scenario", "pool", "scale_over_eft"]
    return pd.DataFrame(rows, columns=columns).sort_values(columns[:4], ignore_index=True)


def report(ref: pd.DataFrame, gen: pd.DataFrame, command: str) -> list[str]:
    """Markdown tables of :func:`reference` and :func:`generalization`."""
    wide = ref.pivot_table(index=["recipe", "seed"], columns="stream", values="ratio_to_lower_bound", sort=False)
    lines = ["# DWS recipes over training seeds", "", "Command:", "", "```", command, "```", "",
             "## Reference streams: flowtime / lower bound", "", "| recipe | seed | " + " | ".join(wide.columns) + " |",
             "|---|---|" + "---:|" * len(wide.columns)]  # fmt: skip
    lines += [f"| {recipe} | {'—' if seed < 0 else seed} | " + " | ".join(f"{v:.4f}" for v in row) + " |"
              for (recipe, seed), row in wide.iterrows()]  # fmt: skip
    learned = ref[ref["seed"] >= 0].groupby(["recipe", "stream"])["ratio_to_lower_bound"]
    lines += ["", "Mean (worst) over seeds: " + "; ".join(f"{recipe} on {stream}: {g.mean():.4f} ({g.max():.4f})"
                                                         for (recipe, stream), g in learned)]  # fmt: skip
    if len(gen):
        lines += ["", "## Pools and change patterns not trained on: SCALE / EFT (mean flowtime, same streams)", "",
                  "| recipe | seed | stream set | pool | SCALE / EFT |", "|---|---:|---|---|---:|"]  # fmt: skip
        lines += [
            f"| {r.recipe} | {r.seed} | {r.scenario} | {r.pool} | {r.scale_over_eft:.4f} |" for r in gen.itertuples()
        ]
        ahead = gen.groupby(["recipe", "seed"])["scale_over_eft"].agg(lambda v: f"{(v < 1).sum()} of {len(v)}")
        lines += ["", "Cells ahead of EFT: " + "; ".join(f"{r} seed {s}: {v}" for (r, s), v in ahead.items())]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Collect the folders, write ``report.md`` and ``summary.csv``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True, help="RECIPE/SEED=DIR, one per benchmarks/dws.py output")
    parser.add_argument("--output", type=Path, required=True, help="folder of report.md and summary.csv")
    args = parser.parse_args(argv)
    runs = parse_runs(args.runs)
    ref, gen = reference(runs), generalization(runs)
    lines = report(ref, gen, shlex.join(["python", "benchmarks/dws_seeds.py", *argv]))
    write_report(args.output, {"summary.csv": ref, "generalization.csv": gen}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
