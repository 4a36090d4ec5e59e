"""How much of EFT's gap to the lower bound a policy closes, per N, from an evaluation's ``summary.csv``.

For each N: EFT / LB and policy / LB (ratios of mean response time to the mean lower bound, the same bound for both;
docs/design.md §2), the share of EFT's gap closed, (EFT/LB − policy/LB) / (EFT/LB − 1), and the policy's paired ratio
to the best heuristic with its 95 % interval. Writes ``report.md`` beside the summary (or to ``--output``). Exits 2,
naming the file, if the summary is missing or lacks the policy or the baseline at some N.

    scale-rllib evaluate --checkpoint runs/quickstart/checkpoint --servers 16 32 48 64 128 --load 0.85 \\
        --episodes 3 --schedulers eft peft eft-rollout --output results/rho085_quickstart
    python benchmarks/gap.py results/rho085_quickstart --command "…the evaluate command…"
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd


def gap_table(summary: pd.DataFrame, policy: str, baseline: str) -> pd.DataFrame:
    """One row per N: baseline / LB, policy / LB, share of the baseline's gap closed, paired ratio to the best."""
    rows = []
    for n, g in summary.groupby("servers"):
        by = g.set_index("scheduler")
        base, pol = by.loc[baseline, "ratio_to_lower_bound"], by.loc[policy, "ratio_to_lower_bound"]
        rows.append({"servers": n, f"{baseline}_over_lb": base, f"{policy}_over_lb": pol,
                     "gap_closed": (base - pol) / (base - 1.0), "best_heuristic": by.loc[policy, "best_heuristic"],
                     "paired_ratio_to_best": by.loc[policy, "paired_ratio_to_best"],
                     "paired_ratio_ci95": by.loc[policy, "paired_ratio_ci95"],
                     "episodes": int(by.loc[policy, "episodes"])})  # fmt: skip
    return pd.DataFrame(rows)


def policy_gap_lines(summary: pd.DataFrame, policies: Sequence[str], baseline: str = "eft") -> list[str]:
    """Markdown table: per policy of ``policies``, per N, baseline / LB, policy / LB, the share of the baseline's gap
    closed and the episodes (``summary``: :func:`~scale_rllib.evaluation.summarize`'s columns)."""
    lines = [
        f"| policy | N | {baseline} / LB | policy / LB | gap closed | episodes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for policy in policies:
        for r in gap_table(summary, policy, baseline).to_dict("records"):
            base, pol, share = r[f"{baseline}_over_lb"], r[f"{policy}_over_lb"], r["gap_closed"]
            lines.append(f"| {policy} | {r['servers']} | {base:.3f} | {pol:.3f} | {share:.0%} | {r['episodes']} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Read ``EVAL/summary.csv``; print and write the gap table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evaluation", type=Path, help="an evaluate --output folder (with summary.csv)")
    parser.add_argument("--policy", default="scale", help="the policy's name in the summary")
    parser.add_argument("--baseline", default="eft", help="the heuristic whose gap is measured")
    parser.add_argument("--command", default="", help="the evaluate command, quoted in the report")
    parser.add_argument("--output", type=Path, help="report path (default: EVALUATION/report.md)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    summary_csv = args.evaluation / "summary.csv"
    if not summary_csv.is_file():
        parser.error(f"{summary_csv}: no such file (an evaluate --output folder holds one)")
    summary = pd.read_csv(summary_csv)
    for n, names in summary.groupby("servers").scheduler:
        if missing := sorted({args.policy, args.baseline} - set(names)):
            parser.error(f"{summary_csv}: no {', '.join(missing)} at N = {n} (it has {', '.join(sorted(set(names)))})")
    table = gap_table(summary, args.policy, args.baseline)
    lines = [f"# Share of {args.baseline.upper()}'s gap to the lower bound that {args.policy} closes", ""]
    if args.command:
        lines += ["Evaluation:", "", "```", args.command, "```", ""]
    header = f"| N | {args.baseline} / LB | {args.policy} / LB | gap closed | {args.policy} / best heuristic (paired) |"
    lines += [header + " ± 95 % | best heuristic | episodes |", "|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in table.itertuples(index=False):
        lines.append(f"| {r[0]} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.0%} | {r[5]:.3f} | {r[6]:.3f} | {r[4]} | {r[7]} |")
    text = "\n".join(lines) + "\n"
    (args.output or args.evaluation / "report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
