"""Pick each training seed's network among candidates on validation episodes, then test it against the seed's first.

Model selection on a validation set (DAgger returns "the best π̂_i on validation": Ross, Gordon & Bagnell, AISTATS
2011, Algorithm 3.1), here across candidate networks of one training seed — e.g. clones trained with other seeds —
scored at the load they are meant for. Reads ``scale-rllib evaluate`` folders (the network named ``scale``): each
candidate NAME has one under ``--validation`` and one under ``--test``, on disjoint episode seeds (``evaluate
--seed``). A candidate's score is its share of EFT's gap to the lower bound on the validation episodes,
(EFT/LB − net/LB) / (EFT/LB − 1) as in ``benchmarks/gap.py``, averaged over N; each ``--group`` keeps its highest
(the first of equal ones). The picked networks are then compared with each group's first candidate on the test
episodes by ``benchmarks/paired_gap.py``'s table (shares and paired ratio, seeds pooled).

    scale-rllib evaluate --checkpoint runs/seeds/clone-seed3/warm_start_checkpoint --load 0.85 --episodes 6 \\
        --seed 20000 --servers 16 32 48 64 128 --schedulers eft --output runs/val085/clone-seed3   # and --seed 10000
    python benchmarks/select_by_validation.py --validation runs/val085 --test runs/test085 \\
        --group 0=clone-seed0,clone-seed3,clone-seed6 --group 1=clone-seed1,clone-seed4,clone-seed7 \\
        --output results/clone_selection

Exits 2, naming the folder, before writing anything if a folder is missing, if a candidate's validation and test
episodes overlap, or if a group's test folders hold different episodes.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd
from gap import gap_table  # benchmarks/ is on sys.path when a script in it runs
from paired_gap import compare, header, read_evaluation, table_lines
from scipy import stats

from scale_rllib.evaluation.report import write_report


def parse_group(text: str) -> tuple[str, list[str]]:
    """``LABEL=NAME,NAME,…`` → (label, candidate names). Raises argparse.ArgumentTypeError on another form."""
    label, _, names = text.partition("=")
    candidates = [n for n in names.split(",") if n]
    if not label or not candidates:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LABEL=NAME[,NAME…]")
    return label, candidates


def gap_share(summary: pd.DataFrame) -> float:
    """The network's share of EFT's gap on one evaluation (``summary.csv``), averaged over its N (1 = at the bound,
    0 = as EFT)."""
    return float(gap_table(summary, "scale", "eft")["gap_closed"].mean())


def check_disjoint(validation: pd.DataFrame, test: pd.DataFrame) -> None:
    """Raises ValueError if the two evaluations share an episode (N and seed)."""
    shared = set(zip(validation["servers"], validation["seed"], strict=True))
    shared &= set(zip(test["servers"], test["seed"], strict=True))
    if shared:
        n, seed = min(shared)
        raise ValueError(f"validation and test share episodes (e.g. N = {n}, seed {seed}): use evaluate --seed")


def read_candidates(names: list[str], val_root: Path, test_root: Path) -> dict[str, tuple]:
    """Each candidate's ((validation results, summary), (test results, summary)), read once.

    Raises:
        FileNotFoundError: an evaluate folder lacks results.csv or summary.csv (named).
        ValueError: a candidate's validation and test episodes overlap (both folders named).
    """
    evaluations = {}
    for name in dict.fromkeys(names):
        val, test = read_evaluation(val_root / name), read_evaluation(test_root / name)
        try:
            check_disjoint(val[0], test[0])
        except ValueError as err:
            raise ValueError(f"{val_root / name} and {test_root / name}: {err}") from None
        evaluations[name] = (val, test)
    return evaluations


def select(groups: list[tuple[str, list[str]]], evaluations: dict[str, tuple]) -> pd.DataFrame:
    """One row per candidate of :func:`read_candidates`' ``evaluations``: group, candidate, validation score, test
    score (the same share on the test episodes, reported only), picked (bool: the group's best validation score,
    the first of equal ones)."""
    rows = []
    for label, names in groups:
        scores = [gap_share(evaluations[n][0][1]) for n in names]
        best = max(range(len(names)), key=lambda i: (scores[i], -i))
        rows += [{"group": label, "candidate": n, "validation_gap_closed": scores[i],
                  "test_gap_closed": gap_share(evaluations[n][1][1]), "picked": i == best}
                 for i, n in enumerate(names)]  # fmt: skip
    return pd.DataFrame(rows)


def compare_on_test(selection: pd.DataFrame, evaluations: dict[str, tuple]) -> pd.DataFrame:
    """:func:`paired_gap.compare` of each group's picked candidate (policy) vs its first (baseline), test episodes.

    Raises:
        ValueError: a group's two test evaluations hold different episodes (both named).
    """
    pairs = []
    for label, g in selection.groupby("group", sort=False):
        first, picked = g["candidate"].iloc[0], g.loc[g["picked"], "candidate"].iloc[0]
        where = f"group {label} ({first} vs {picked} on test)"
        pairs.append((label, where, evaluations[first][1], evaluations[picked][1]))
    return compare(pairs)


def selection_lines(selection: pd.DataFrame) -> list[str]:
    """Markdown: every candidate's validation and test score, the picked one marked, and how well the validation
    ranking of all candidates predicts the test one (Spearman's rank correlation, scipy.stats.spearmanr)."""
    lines = ["## Each candidate's share of EFT's gap, mean over N", "",
             "| group | candidate | validation | test | picked |", "|---|---|---:|---:|---|"]  # fmt: skip
    lines += [f"| {r.group} | {r.candidate} | {r.validation_gap_closed:.0%} | {r.test_gap_closed:.0%} | "
              f"{'yes' if r.picked else ''} |" for r in selection.itertuples()]  # fmt: skip
    if len(selection) > 2:
        rho = stats.spearmanr(selection["validation_gap_closed"], selection["test_gap_closed"]).statistic
        lines += ["", f"Spearman's ρ of validation and test scores over the {len(selection)} candidates: {rho:.2f}."]
    return [*lines, "", "## Test: the picked candidate (policy) vs the group's first (baseline)", ""]


def main(argv: list[str] | None = None) -> int:
    """Score the candidates, pick one per group, compare on the test episodes, write the report and CSVs."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validation", type=Path, required=True, help="folder of the validation evaluate folders")
    parser.add_argument("--test", type=Path, required=True, help="folder of the test evaluate folders")
    parser.add_argument("--group", type=parse_group, action="append", required=True,
                        help="LABEL=NAME,NAME,…: one training seed's candidates, its own network first")  # fmt: skip
    parser.add_argument("--output", type=Path, required=True, help="folder for report.md and the CSVs")
    args = parser.parse_args(argv)
    try:
        evaluations = read_candidates([n for _, names in args.group for n in names], args.validation, args.test)
        selection = select(args.group, evaluations)
        table = compare_on_test(selection, evaluations)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    command = shlex.join(["python", "benchmarks/select_by_validation.py", *argv])
    lines = header("Each training seed's network picked on validation episodes, tested against its first", command)
    lines += [*selection_lines(selection), *table_lines(table)]
    write_report(args.output, {"selection.csv": selection, "paired_gap.csv": table}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
