"""DWS peer benchmark (docs/dws-benchmark.md): every heuristic, the peer's reference numbers and SCALE on the reference
streams, each with its ratio to the lower bound.

For each scenario folder under ``--data`` (one with ``stream.csv`` and ``summary.json``), it replays the stream on
the scenario's k×n pool with every heuristic measured here (and the policy of ``--checkpoint``), reads the peer's
mean flowtimes (EST, PEFT, HEFT, GPHH, GOODRL) from ``summary.json``, and prints mean flowtime, lower bound (mean
critical path on the fastest VM) and flowtime / lower bound. ``dws-est`` / ``dws-heft`` / ``dws-peft`` are the peer's
stale-clock EST / HEFT / PEFT; their relative difference to the peer's number is shown. Writes
``OUTPUT/dws.csv`` and ``OUTPUT/dws.json``.

Then, generalization: seeded Poisson streams on pools no reference scenario uses
(``--pools``, default 4×10, 5×7, 6×8, at ``--rate-per-hour``) and the peer's changing-rate patterns (``--patterns``
change5 / change10) on the reference pools at their base rates; mean over ``--episodes`` streams with a 95 % t
interval, and the ratio of means to the lower bound. Written to ``OUTPUT/dws_generalization.csv``.

    python benchmarks/dws.py [--data ../shared/data/dws] [--checkpoint runs/dws/checkpoint] [--output DIR]
        [--pools 4x10 5x7 6x8] [--rate-per-hour 9] [--patterns change5 change10] [--episodes 3] [--self-rollout K]

``--self-rollout K`` also runs the checkpoint's self-rollout (its K most likely servers, each finished by the network
in a simulator fork; docs/design.md §9): the teacher policy iteration would distill, to tell whether it is ahead of
the heuristic teachers. Rollouts are for training only; the deployed policy is the network alone.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd
import torch

from scale_rllib.evaluation import DwsEvalConfig, evaluate, summarize
from scale_rllib.schedulers import SCHEDULERS
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.schedulers.self_rollout import SelfRolloutScheduler

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dws"
#: Our compatibility scheduler → the peer's method of the same rule.
PEER_OF = {"dws-est": "EST", "dws-heft": "HEFT", "dws-peft": "PEFT"}


def scenario_dirs(data: Path) -> list[Path]:
    """Folders under ``data`` holding a ``stream.csv`` and a ``summary.json``, sorted by name."""
    return sorted(p for p in data.iterdir() if (p / "stream.csv").is_file() and (p / "summary.json").is_file())


def pool_of(summary: dict, folder: Path) -> str:
    """``"KxN"`` from the summary's testbed flags (``--vm_types K --each_vm_type_num N``), else the folder name."""
    flags = summary.get("flags", "")
    k, n = re.search(r"--vm_types (\d+)", flags), re.search(r"--each_vm_type_num (\d+)", flags)
    if k and n:
        return f"{k.group(1)}x{n.group(1)}"
    return folder.name.split("_", 1)[0]


def peer_means(summary: dict) -> dict[str, float]:
    """The peer's mean flowtime (s) per method, from ``summary.json`` ``methods.*.mean_flowtime``."""
    return {name: float(m["mean_flowtime"]) for name, m in summary.get("methods", {}).items()}


def run_scenario(folder: Path, dax_dir: Path, checkpoint: Path | None, self_rollout: int = 0) -> list[dict]:
    """Rows (scenario, method, source, mean flowtime, lower bound, ratio, difference to the peer) of one scenario."""
    summary = json.loads((folder / "summary.json").read_text())
    pool = pool_of(summary, folder)
    names = tuple(SCHEDULERS)
    cfg = DwsEvalConfig(
        dax_dir, pool, stream=folder / "stream.csv", seed=int(summary.get("env_seed", 0)), schedulers=names
    )
    measured = evaluate(cfg, _policies(checkpoint, self_rollout)).results
    bound = measured[0]["lower_bound_s"]
    peer = peer_means(summary)
    rows = []
    for r in measured:
        ref = peer.get(PEER_OF.get(r["scheduler"], ""))
        diff = (r["mean_response_time_s"] - ref) / ref if ref else None
        rows.append(_row(folder.name, pool, r["scheduler"], "ours", r["mean_response_time_s"], bound, diff))
    rows += [_row(folder.name, pool, name, "peer", value, bound, None) for name, value in peer.items()]
    return rows


def _row(scenario, pool, method, source, flowtime, bound, diff) -> dict:
    return {
        "scenario": scenario,
        "pool": pool,
        "method": method,
        "source": source,
        "mean_flowtime_s": flowtime,
        "lower_bound_s": bound,
        "ratio_to_lower_bound": flowtime / bound,
        "relative_difference_to_peer": diff,
    }


def print_table(rows: list[dict]) -> None:
    """One block per scenario, sorted by mean flowtime."""
    header = (
        f"{'scenario':20s} {'pool':4s} {'method':12s} {'source':6s} {'flowtime s':>11s} {'bound s':>9s} {'FT/LB':>6s}"
    )
    print(header + "  vs peer")
    for row in sorted(rows, key=lambda r: (r["scenario"], r["mean_flowtime_s"])):
        diff = row["relative_difference_to_peer"]
        print(
            f"{row['scenario']:20s} {row['pool']:4s} {row['method']:12s} {row['source']:6s} "
            f"{row['mean_flowtime_s']:11.2f} {row['lower_bound_s']:9.2f} {row['ratio_to_lower_bound']:6.3f}"
            + (f"  {diff:+.3%}" if diff is not None else "")
        )


#: Base rate (/h) of each reference pool (the stream folders' names): the changing patterns start from it.
REFERENCE_RATES = {"6x4": 5.4, "5x5": 9.0}
#: Schedulers of the generalization streams (the peer's stale-clock ones are kept: GOODRL imitated dws-heft).
GENERALIZATION_SCHEDULERS = ("eft", "peft", "eft-rollout", "peft-rollout", "dws-heft", "dws-peft")


def run_generalization(args) -> list[dict]:
    """Mean flowtime per (stream set, pool, scheduler) on Poisson streams of unseen pools and on changing rates."""
    sets = [(pool, args.rate_per_hour, "constant") for pool in args.pools]
    sets += [(pool, rate, pattern) for pattern in args.patterns for pool, rate in REFERENCE_RATES.items()]
    rows = []
    for pool, rate, pattern in sets:
        cfg = DwsEvalConfig(
            args.data / "dax",
            pool,
            rate_per_hour=rate,
            workflows=args.workflows,
            episodes=args.episodes,
            pattern=pattern,
            seed=args.seed,
            schedulers=GENERALIZATION_SCHEDULERS,
        )
        measured = evaluate(cfg, _policies(args.checkpoint, args.self_rollout)).results
        rows += summarize(measured, cfg.cell_keys).to_dict("records")
    return rows


def _policies(checkpoint: Path | None, self_rollout: int = 0) -> list:
    """The SCALE policy of ``checkpoint`` (loaded once: it decides at any N), or none; with ``self_rollout`` = k ≥ 1
    also its self-rollout over its k most likely servers (the policy-iteration teacher, docs/design.md §9 — for
    training only, never the deployed policy)."""
    if checkpoint is None:
        return []
    policy = PolicyScheduler.from_checkpoint(checkpoint)
    return [policy] + ([SelfRolloutScheduler(policy.module, self_rollout)] if self_rollout else [])


def print_generalization(rows: list[dict]) -> None:
    """One line per (stream set, pool, scheduler), best first within a block."""
    print(
        f"\n{'streams':22s} {'pool':5s} {'method':12s} {'flowtime s':>11s} {'± 95 %':>7s} {'bound s':>9s} {'FT/LB':>6s}"
    )
    for r in sorted(rows, key=lambda r: (r["scenario"], r["pool"], r["mean_response_time_s"])):
        print(
            f"{r['scenario']:22s} {r['pool']:5s} {r['scheduler']:12s} {r['mean_response_time_s']:11.2f} "
            f"{r['ci95_s']:7.2f} {r['lower_bound_s']:9.2f} {r['ratio_to_lower_bound']:6.3f}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run every reference scenario; print the table; write ``dws.csv`` and ``dws.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of dax/ and the scenario folders")
    parser.add_argument("--checkpoint", type=Path, help="a SCALE training checkpoint to evaluate too")
    parser.add_argument(
        "--self-rollout",
        type=int,
        default=0,
        metavar="K",
        help="with --checkpoint: also its self-rollout over its K most likely servers (0: off)",
    )
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--pools", nargs="*", default=["4x10", "5x7", "6x8"], help="unseen pools (none: skip)")
    parser.add_argument("--rate-per-hour", type=float, default=9.0, help="Poisson rate of the unseen pools' streams")
    parser.add_argument("--patterns", nargs="*", default=["change5", "change10"], help="changing-rate patterns")
    parser.add_argument("--episodes", type=int, default=3, help="streams per generalization set")
    parser.add_argument("--workflows", type=int, default=100, help="workflows per generated stream")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first generated stream")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    folders = scenario_dirs(args.data)
    if args.self_rollout < 0 or (args.self_rollout and args.checkpoint is None):
        parser.error("--self-rollout: give K ≥ 1 with --checkpoint (0: off)")
    if not folders:
        parser.error(f"--data: no scenario folder (stream.csv + summary.json) under {args.data}")
    rows = [
        row for folder in folders for row in run_scenario(folder, args.data / "dax", args.checkpoint, args.self_rollout)
    ]
    print_table(rows)
    args.output.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(args.output / "dws.csv", index=False)
    (args.output / "dws.json").write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.output / 'dws.csv'} and {args.output / 'dws.json'}")
    if args.pools or args.patterns:
        general = run_generalization(args)
        print_generalization(general)
        pd.DataFrame(general).to_csv(args.output / "dws_generalization.csv", index=False)
        print(f"wrote {args.output / 'dws_generalization.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
