"""How much of EFT's gap to the per-workflow lower bound no schedule can close: the LP bound on evaluate's episodes.

The lower bound every report divides by (``scale_rllib.sim.bounds``) holds per workflow, as if it were alone, so at
high load part of "EFT's gap to the bound" is queueing that no scheduler avoids. ``scale_rllib.sim.lp_bound`` bounds
the episode's mean response time with the servers' capacity shared by all workflows (a time-indexed LP relaxation,
proved valid in its docstring). For each N and episode — seeds ``--seed``, ``--seed`` + 1, …: the episodes of
``scale-rllib evaluate --seed`` — EFT runs the episode, then the LP is solved with ``--interval``-second intervals up
to EFT's makespan and one more up to the last arrival + EFT's total response time (the horizon its validity needs).

Every row of the ``--results`` CSVs (``scale-rllib evaluate``'s or ``benchmarks/offline_headroom.py``'s
``results.csv``) on the same N and episode is scored against both bounds: the share of EFT's gap closed,
(EFT − policy) / (EFT − bound) over the episodes' mean response times (``benchmarks/gap.py``). A row is labelled by
its scheduler, ``scale`` by its CSV's folder name (rows at other loads are left out); ``--group NAME=LABEL,…`` adds
the mean share of several labels (e.g. one picked network per training seed). Exits 2, naming the file, before any
LP is solved, if a CSV's per-workflow bounds or EFT differ from this run's (other episodes) or it has none of this
run's episodes, if two rows of one label and episode differ (a heuristic in two CSVs is kept once), or if a group
names an unknown label.

    python benchmarks/lp_bound.py --servers 16 32 --episodes 6 --results runs/test085/net-seed0/results.csv \\
        results/offline_headroom/n16/results.csv --output results/lp_bound
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from select_by_validation import parse_group  # benchmarks/ is on sys.path when a script in it runs

from scale_rllib.evaluation import EvalConfig
from scale_rllib.evaluation.report import write_report
from scale_rllib.schedulers import make_scheduler, run_episode
from scale_rllib.schedulers.base import observing_env
from scale_rllib.sim.lp_bound import lp_lower_bound_s

#: A --results CSV's per-workflow bound and EFT time, and one label's rows in two CSVs, agree to this many seconds on
#: the same episode.
SAME_EPISODE_S = 1e-6


def eft_episode(cfg: EvalConfig, servers: int, seed: int) -> tuple[dict, dict]:
    """EFT on one episode: its row (mean response time, per-workflow bound; seconds) and the LP's arguments (the
    episode before its first decision, the end of the fine intervals, the horizon)."""
    env = observing_env(cfg.env_config(servers), [])
    first = []
    eft = run_episode(env, make_scheduler("eft"), seed, servers,
                      on_decision=lambda sim, _: first.append(sim.fork()) if not first else None)  # fmt: skip
    sim = env.sim
    lp_args = {"sim": first[0], "fine_until_s": float(np.nanmax(sim.task_finish_s)),
               "horizon_s": float(sim.arrival_s.max() + sim.response_times_s().sum())}  # fmt: skip
    row = {"servers": servers, "seed": seed, "eft_s": eft.mean_response_time_s, "lower_bound_s": eft.lower_bound_s}
    return row, lp_args


def solve(lp_args: dict, interval_s: float) -> dict:
    """The LP bound's columns of episodes.csv: bound (seconds), LP columns, solve time (seconds)."""
    start = time.perf_counter()
    lp = lp_lower_bound_s(interval_s=interval_s, **lp_args)
    wall = time.perf_counter() - start
    print(f"N={lp_args['sim'].cluster.num_servers}: LP bound {lp.mean_s:.3f} s ({lp.variables} columns, {wall:.0f} s)",
          flush=True)  # fmt: skip
    return {"lp_bound_s": lp.mean_s, "lp_variables": lp.variables, "lp_wall_s": wall}


def check_episodes(path: Path, frame: pd.DataFrame) -> None:
    """Raises ValueError naming ``path`` if its rows (merged with this run's episodes) are other episodes: another
    per-workflow bound or EFT response time, where the CSV has them."""
    eft = frame[frame.scheduler == "eft"]
    bound = frame.get("lower_bound_s", frame.lb_s)
    differs = {
        "per-workflow bounds": (bound - frame.lb_s).abs().gt(SAME_EPISODE_S).any(),
        "EFT response times": (eft.mean_response_time_s - eft.eft_s).abs().gt(SAME_EPISODE_S).any(),
    }
    if what := [name for name, bad in differs.items() if bad]:
        raise ValueError(f"{path}: its {' and '.join(what)} differ from this run's: other episodes")


def policy_rows(paths: list[Path], episodes: pd.DataFrame, load: float) -> pd.DataFrame:
    """The --results rows on this run's episodes, labelled; raises ValueError naming a CSV of other episodes."""
    keep, mine = [], episodes[["servers", "seed", "eft_s", "lower_bound_s"]].rename(columns={"lower_bound_s": "lb_s"})
    for path in paths:
        frame = pd.read_csv(path)
        if "load" in frame:  # rows at other loads are other cells
            frame = frame[np.isclose(frame.load, load)]
        frame = frame.merge(mine, on=["servers", "seed"])
        if frame.empty:
            raise ValueError(f"{path}: no rows on this run's episodes (N, episode seed, load)")
        check_episodes(path, frame)
        frame["label"] = frame.scheduler.where(frame.scheduler != "scale", path.parent.name)
        keep.append(frame[frame.scheduler != "eft"])
    if not keep:
        return pd.DataFrame(columns=["label", "servers", "seed", "mean_response_time_s"])
    rows = pd.concat(keep)
    key = ["label", "servers", "seed"]
    spread = rows.groupby(key).mean_response_time_s.agg(lambda x: x.max() - x.min())
    if (spread > SAME_EPISODE_S).any():  # one scheduler in two CSVs must be the same run
        label, n, seed = spread[spread > SAME_EPISODE_S].index[0]
        raise ValueError(f"--results: {label!r} on episode {seed} at N = {n} twice, with different response times")
    return rows.drop_duplicates(key)


def shares(episodes: pd.DataFrame, policies: pd.DataFrame) -> pd.DataFrame:
    """Per label and N: the share of EFT's gap closed against the per-workflow bound and against the LP bound."""
    rows = []
    for (label, n), group in policies.groupby(["label", "servers"], sort=False):
        eps = episodes[episodes.servers == n].merge(group[["seed", "mean_response_time_s"]], on="seed")
        eft, policy = eps.eft_s.mean(), eps.mean_response_time_s.mean()
        lb, lp = eps.lower_bound_s.mean(), eps.lp_bound_s.mean()
        rows.append({"label": label, "servers": n, "episodes": len(eps), "over_lb": policy / lb,
                     "over_lp": policy / lp, "paired_floor": (eps.lp_bound_s / eps.mean_response_time_s).mean(),
                     "gap_closed": (eft - policy) / (eft - lb),
                     "gap_closed_lp": (eft - policy) / (eft - lp)})  # fmt: skip
    return pd.DataFrame(rows)


def check_groups(labels: set[str], groups: list[tuple[str, list[str]]]) -> None:
    """Raises ValueError naming a group with a label no --results row has."""
    for name, members in groups:
        if missing := sorted(set(members) - labels):
            raise ValueError(f"--group {name}: no --results rows labelled {', '.join(missing)}")


def with_groups(scored: pd.DataFrame, groups: list[tuple[str, list[str]]]) -> pd.DataFrame:
    """``scored`` plus one row per group and N: the mean share of its labels (checked by :func:`check_groups`)."""
    extra = []
    for name, labels in groups:
        part = scored[scored.label.isin(labels)]
        columns = ["over_lb", "over_lp", "paired_floor", "gap_closed", "gap_closed_lp"]
        for n, g in part.groupby("servers"):
            extra.append({"label": f"{name} (mean of {len(g)})", "servers": n, "episodes": int(g.episodes.min()),
                          **g[columns].mean().to_dict()})  # fmt: skip
    return pd.concat([scored, pd.DataFrame(extra)], ignore_index=True)


def report(episodes: pd.DataFrame, scored: pd.DataFrame, command: str, interval_s: float) -> list[str]:
    """Markdown: per N the two bounds and the share of EFT's gap no schedule closes; per label and N both shares."""
    lines = ["# How much of EFT's gap to the lower bound no schedule can close (LP bound)", "", "Command:", "",
             "```", command, "```", "",
             f"LP intervals {interval_s} s. Per N, means over the episodes: EFT / per-workflow bound, EFT / LP bound, "
             "and the share of EFT's gap to the per-workflow bound that lies below the LP bound (no schedule closes "
             "it).", "",
             "| N | episodes | EFT (s) | per-workflow bound (s) | LP bound (s) | EFT / bound | EFT / LP | unavoidable "
             "share of EFT's gap | LP solve (s, max) |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for n, g in episodes.groupby("servers"):
        eft, lb, lp = g.eft_s.mean(), g.lower_bound_s.mean(), g.lp_bound_s.mean()
        lines.append(f"| {n} | {len(g)} | {eft:.3f} | {lb:.3f} | {lp:.3f} | {eft / lb:.3f} | {eft / lp:.3f} | "
                     f"{(lp - lb) / (eft - lb):.0%} | {g.lp_wall_s.max():.0f} |")  # fmt: skip
    if len(scored):
        lines += ["", "Each policy against both bounds (the same episodes; ratios of means): policy / bound, and the "
                  "share of EFT's gap it closes. No schedule is below the LP bound on any episode, so no schedule's "
                  "paired ratio to the policy (mean over episodes of schedule / policy) is below the paired floor, "
                  "the mean of LP bound / policy.", "",
                  "| policy | N | episodes | / per-workflow bound | / LP bound | paired floor | gap closed "
                  "(per-workflow) | gap closed (LP) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in scored.itertuples(index=False):
            lines.append(f"| {r.label} | {r.servers} | {r.episodes} | {r.over_lb:.3f} | {r.over_lp:.3f} | "
                         f"{r.paired_floor:.3f} | {r.gap_closed:.1%} | {r.gap_closed_lp:.1%} |")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    """Solve the LP on every episode, score the --results rows; write report.md, episodes.csv and shares.csv."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[16, 32], help="cluster sizes N")
    parser.add_argument("--episodes", type=int, default=6, help="episodes per N")
    parser.add_argument("--seed", type=int, default=EvalConfig.seed, help="first episode seed (evaluate's)")
    parser.add_argument("--workload", default=EvalConfig.workload, help="workload spec (docs/workloads.md)")
    parser.add_argument("--load", type=float, default=0.85, help="offered load ρ")
    parser.add_argument("--interval", type=float, default=0.5, help="LP interval width (seconds)")
    parser.add_argument("--results", type=Path, nargs="*", default=[], help="results.csv files to score")
    parser.add_argument("--group", type=parse_group, action="append", default=[], help="NAME=LABEL,… mean share")
    parser.add_argument("--output", type=Path, default=Path("runs/lp_bound"), help="report and CSVs")
    args = parser.parse_args(argv)
    if not args.interval > 0:
        parser.error(f"--interval must be positive, got {args.interval}")
    if missing := [str(p) for p in args.results if not p.is_file()]:
        parser.error(f"--results: no such file: {', '.join(missing)}")
    try:
        cfg = EvalConfig(workload=args.workload, servers=tuple(args.servers), episodes=args.episodes, load=args.load,
                         seed=args.seed)  # fmt: skip
    except ValueError as err:
        parser.error(str(err))
    torch.set_num_threads(1)
    runs = [eft_episode(cfg, n, args.seed + i) for n in args.servers for i in range(args.episodes)]
    episodes = pd.DataFrame([row for row, _ in runs])
    try:  # before the LPs: a wrong CSV or group exits at once
        policies = policy_rows(args.results, episodes, args.load)
        check_groups(set(policies.label), args.group)
    except ValueError as err:
        parser.error(str(err))
    episodes = episodes.join(pd.DataFrame([solve(lp_args, args.interval) for _, lp_args in runs]))
    scored = with_groups(shares(episodes, policies), args.group)
    lines = report(episodes, scored, shlex.join(["python", "benchmarks/lp_bound.py", *argv]), args.interval)
    write_report(args.output, {"episodes.csv": episodes, "shares.csv": scored}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
