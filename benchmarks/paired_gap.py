"""Two networks per training seed on the same episodes: each one's share of EFT's gap and their paired ratio.

Reads ``scale-rllib evaluate`` folders (``results.csv`` and ``summary.csv``, the network named ``scale``), one
``--baseline`` and one ``--policy`` folder per training seed, in the same order. For each seed and N: EFT / LB, the
share of EFT's gap to the lower bound each network closes, (EFT/LB − net/LB) / (EFT/LB − 1) as in
``benchmarks/gap.py``, and the mean over episodes of RT(policy) / RT(baseline) with its 95 % interval (Student t);
``all``: the seeds' shares averaged, every seed's episodes pooled for the ratio. Both folders of a seed must hold the
same episodes (N, episode seeds and lower bounds), or it exits 2 naming them, before writing anything.

    scale-rllib evaluate --checkpoint runs/seeds/clone-seed0/warm_start_checkpoint --load 0.85 --episodes 3 \\
        --servers 16 32 48 64 128 --schedulers eft --output runs/seeds/clone-seed0/eval85   # and each network
    python benchmarks/paired_gap.py --baseline runs/seeds/clone-seed{0,1,2}/eval85 \\
        --policy runs/seeds/pi85-seed{0,1,2}/eval85 --seeds 0 1 2 --output results/rho085_policy_iteration
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd
from gap import gap_table  # benchmarks/ is on sys.path when a script in it runs

from scale_rllib.evaluation.report import write_report
from scale_rllib.evaluation.summary import paired_by_seed

EPISODE = ["servers", "seed"]  # what identifies an episode of an evaluation


def read_evaluation(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, summary) of an evaluate folder. Raises FileNotFoundError naming the missing file."""
    files = [folder / "results.csv", folder / "summary.csv"]
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"{f}: no such file (an evaluate --output folder holds it)")
    return pd.read_csv(files[0]), pd.read_csv(files[1])


def network_rows(baseline: pd.DataFrame, policy: pd.DataFrame, label: str) -> pd.DataFrame:
    """The network rows (``scale``) of both evaluations of one training seed, as
    :func:`~scale_rllib.evaluation.summary.paired_by_seed` reads them (scheduler ``baseline`` / ``policy``).

    Raises:
        ValueError: The two evaluations do not hold the same episodes (N, seeds or lower bounds differ).
    """
    a, b = (r[r["scheduler"] == "scale"].set_index(EPISODE).sort_index() for r in (baseline, policy))
    if not a.index.equals(b.index) or not (a["lower_bound_s"] - b["lower_bound_s"]).abs().lt(1e-9).all():
        raise ValueError("the two evaluations hold different episodes (N, seeds or lower bounds)")
    both = pd.concat([a.assign(scheduler="baseline"), b.assign(scheduler="policy")]).reset_index()
    return both.rename(columns={"seed": "episode"}).assign(seed=label)


def seed_shares(label: str, baseline: pd.DataFrame, policy: pd.DataFrame) -> pd.DataFrame:
    """One seed's rows: N, EFT/LB and the share of EFT's gap each network closes, from the two summaries."""
    base, pol = gap_table(baseline, "scale", "eft"), gap_table(policy, "scale", "eft")
    return base[["servers", "eft_over_lb"]].assign(
        training_seed=label, baseline_gap_closed=base["gap_closed"], policy_gap_closed=pol["gap_closed"]
    )


def paired_table(shares: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Every seed's shares and the seeds' mean (``all``), joined with the paired ratios of :func:`paired_by_seed`."""
    mean = shares.groupby("servers")[["eft_over_lb", "baseline_gap_closed", "policy_gap_closed"]].mean()
    shares = pd.concat([shares, mean.reset_index().assign(training_seed="all")], ignore_index=True)
    ratios = paired_by_seed(rows, "policy", "baseline").rename(columns={"seed": "training_seed"})
    table = shares.merge(ratios[["training_seed", "servers", "ratio", "ci95", "episodes"]], how="left")
    return table[["servers", "eft_over_lb", "training_seed", "baseline_gap_closed", "policy_gap_closed", "ratio",
                  "ci95", "episodes"]]  # fmt: skip


def compare(pairs: list[tuple[str, str, tuple, tuple]]) -> pd.DataFrame:
    """:func:`paired_table` of (label, where, baseline, policy) pairs, each evaluation a :func:`read_evaluation` pair.

    Raises:
        ValueError: a pair's evaluations hold different episodes; the message starts with its ``where``.
    """
    shares, rows = [], []
    for label, where, (base_results, base_summary), (pol_results, pol_summary) in pairs:
        try:
            rows.append(network_rows(base_results, pol_results, label))
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        shares.append(seed_shares(label, base_summary, pol_summary))
    return paired_table(pd.concat(shares, ignore_index=True), pd.concat(rows, ignore_index=True))


def header(title: str, command: str) -> list[str]:
    """Markdown: the report's title and the command that wrote it."""
    return [f"# {title}", "", "Command:", "", "```", command, "```", ""]


def table_lines(table: pd.DataFrame) -> list[str]:
    """Markdown: one row per (training seed, N) of :func:`paired_table`."""
    lines = ["| seed | N | eft / LB | baseline: gap closed | policy: gap closed | policy / baseline (paired) | ± 95 % "
             "| episodes |", "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    lines += [f"| {r.training_seed} | {r.servers} | {r.eft_over_lb:.3f} | {r.baseline_gap_closed:.0%} | "
              f"{r.policy_gap_closed:.0%} | {r.ratio:.3f} | {r.ci95:.3f} | {r.episodes} |"
              for r in table.itertuples()]  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    """Read the evaluations, check that each pair shares its episodes, write the report and CSV."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, nargs="+", required=True, help="evaluate folders, one per seed")
    parser.add_argument("--policy", type=Path, nargs="+", required=True, help="evaluate folders, same order")
    parser.add_argument("--seeds", nargs="+", help="training seed labels (default 0, 1, …)")
    parser.add_argument("--output", type=Path, required=True, help="folder for report.md and paired_gap.csv")
    args = parser.parse_args(argv)
    labels = args.seeds or [str(i) for i in range(len(args.baseline))]
    if not len(args.baseline) == len(args.policy) == len(labels):
        parser.error(f"--baseline, --policy and --seeds: {len(args.baseline)}, {len(args.policy)} and "
                     f"{len(labels)} values; give one per training seed")  # fmt: skip
    pairs = []
    for label, b, p in zip(labels, args.baseline, args.policy, strict=True):
        where = f"seed {label} ({b} vs {p})"
        try:
            pairs.append((label, where, read_evaluation(b), read_evaluation(p)))
        except FileNotFoundError as err:
            parser.error(f"{where}: {err}")
    try:
        table = compare(pairs)
    except ValueError as err:
        parser.error(str(err))
    command = shlex.join(["python", "benchmarks/paired_gap.py", *argv])
    lines = header("Two networks per training seed on the same episodes: shares of EFT's gap, paired ratio", command)
    lines += table_lines(table)
    write_report(args.output, {"paired_gap.csv": table}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
