"""SRR weight sweep table: finished SRR studies (``benchmarks/reproduce_scale.py`` outputs) side by side.

Run one study per SRR setting (``--lambda-dec`` / ``--lambda-kl``, from scratch or ``--warm-start``), then:

    python benchmarks/srr_sweep.py results/scale_study results/scale_study_l1k01 [--servers 48]
        [--output results/srr_sweep.md]

Prints and writes a Markdown table (and a CSV beside it): per (study, workload) at N = --servers, SRR's gain over the
loads, SCALE's ratio to the best heuristic with and without SRR, and the attention-feature statistics.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from scale_rllib.study.sweep import sweep_table, write_sweep

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    """Build the table from the given study folders; exit 2 naming the folder if one is not a finished study."""
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("studies", nargs="+", type=Path, help="study output folders (with study.json)")
    p.add_argument("--servers", type=int, default=48, help="N the gains and ratios are read at (default 48)")
    p.add_argument("--output", type=Path, default=REPO / "results" / "srr_sweep.md", help="Markdown file to write")
    args = p.parse_args(argv)
    try:
        table = sweep_table(args.studies, args.servers)
    except FileNotFoundError as err:
        print(f"srr_sweep: error: {err}", file=sys.stderr)
        return 2
    if table.empty:
        print(f"srr_sweep: error: no study has SRR gains at N={args.servers}", file=sys.stderr)
        return 2
    path = write_sweep(table, args.output, shlex.join(["python", "benchmarks/srr_sweep.py", *argv]))
    print(path.read_text())
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
