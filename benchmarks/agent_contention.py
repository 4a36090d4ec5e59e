"""How much of a serving episode's response time is the agents' calls contending with each other: every sampled
workflow replayed alone with the same background traffic.

On ``agentic-serving`` with ``background=U`` the engines serve other clients' chat requests besides the agents'
calls. A router places the agents' calls; it cannot move the background's, nor shorten a workflow's own critical
path. For each N and episode (seeds ``--seed``, ``--seed`` + 1, …: the episodes of ``scale-rllib evaluate --seed``),
each of ``--routers`` runs the whole episode; then ``--sample`` workflows (drawn with ``default_rng([seed, N])``)
are replayed one at a time with no other workflow (``ServingSimulator.alone``): the same cluster and queue policy,
the background requests from ``--warmup-s`` before the workflow arrives, routed by each of ``--lone-routers``
(default cache- and batch-aware EFT; ``eft-rollout`` looks ahead in forks); the replay's time is the best of them.
It keeps what the background and the workflow's own path cost and drops what the other agents' calls cost. It is a
reference, not a bound: the lone routers are heuristics, and a whole-episode schedule can place some workflow
better by luck (the report counts how often it does).

Reported per N, over the sampled workflows: each router's and the replays' mean response time over the mean
per-workflow lower bound (``scale_rllib.sim.bounds``), and replay / router paired within each episode (ratio of the
sample's means), its mean over episodes and Student-t 95 % half-width. A replay / router ratio of r means that a
router which removed every cost of the agents sharing the engines, and routed each workflow as EFT does alone,
would reach r × that router.

    python benchmarks/agent_contention.py --workload agentic-serving:../shared/data/worfbench,azure=../shared/data/\\
azure-llm-2023,tools=service,background=0.75 --load 0.2 --servers 48 --episodes 6 --output results/agent_contention
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from scale_rllib.evaluation import EvalConfig
from scale_rllib.evaluation.report import write_report
from scale_rllib.evaluation.scenarios import EVAL_SEED_BASE
from scale_rllib.evaluation.summary import ci95_half_width
from scale_rllib.schedulers import SCHEDULERS, make_scheduler, run_episode
from scale_rllib.schedulers.base import observing_env, schedule_to_end
from scale_rllib.sim.serving import ServingSimulator
from scale_rllib.validation import ConfigError

#: Routers run on the whole episodes by default: ours (cache- and batch-aware EFT) and the two best serving routers
#: of results/serving_background_scale.
DEFAULT_ROUTERS = ("eft", "least-outstanding", "cache-aware")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, EvalConfig]:
    """The arguments and the evaluation they name; exits 2 with the field named on bad input."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", required=True, help="an agentic-serving spec (docs/workloads.md)")
    p.add_argument("--load", type=float, default=0.2, help="offered load ρ of the workflows")
    p.add_argument("--servers", type=int, nargs="+", default=[48], help="cluster sizes N")
    p.add_argument("--episodes", type=int, default=2, help="episodes (seeds) per N")
    p.add_argument("--workflows-per-server", type=float, default=100.0, help="episode length")
    p.add_argument("--seed", type=int, default=EVAL_SEED_BASE, help="first episode seed (as evaluate's)")
    p.add_argument("--routers", nargs="+", default=list(DEFAULT_ROUTERS), help="schedulers of the whole episodes")
    p.add_argument("--lone-routers", nargs="+", default=["eft"], help="schedulers of the lone replays (best kept)")
    p.add_argument("--sample", type=int, default=200, help="workflows replayed alone per episode")
    p.add_argument("--warmup-s", type=float, default=120.0, help="background replayed before each lone workflow (s)")
    p.add_argument("--output", type=Path, required=True, help="folder for workflows.csv, summary.csv, report.md")
    args = p.parse_args(argv)
    for name in ("routers", "lone_routers"):
        if unknown := sorted(set(getattr(args, name)) - set(SCHEDULERS)):
            p.error(f"--{name.replace('_', '-')}: unknown {', '.join(unknown)} (known: {', '.join(SCHEDULERS)})")
    if args.sample < 1:
        p.error(f"--sample: must be ≥ 1, got {args.sample}")
    if args.warmup_s < 0:
        p.error(f"--warmup-s: must be ≥ 0, got {args.warmup_s}")
    try:
        cfg = EvalConfig(workload=args.workload, servers=tuple(args.servers), load=args.load, episodes=args.episodes,
                         workflows_per_server=args.workflows_per_server, schedulers=tuple(args.routers))  # fmt: skip
    except ConfigError as e:
        p.error(str(e))
    if not cfg.env_config(max(args.servers)).with_serving:
        p.error(f"--workload: {args.workload!r} has no serving engines (use an agentic-serving spec)")
    return args, cfg


def lone_response_s(sim: ServingSimulator, w: int, warmup_s: float, router: str) -> float:
    """Workflow ``w`` of ``sim`` replayed alone with the background (:meth:`ServingSimulator.alone`), routed by
    ``router``; its response time (seconds)."""
    chooser = make_scheduler(router)
    chooser.reset(0)
    return float(schedule_to_end(sim.alone(w, warmup_s), chooser).response_times_s()[0])


def episode_rows(cfg: EvalConfig, args: argparse.Namespace, servers: int, seed: int) -> pd.DataFrame:
    """One row per sampled workflow of one episode: its bound, each router's and the lone replay's response time."""
    env = observing_env(cfg.env_config(servers), [])
    response = {}
    for name in args.routers:
        run_episode(env, make_scheduler(name), seed, servers)
        response[name] = env.sim.response_times_s()
    sim = env.sim
    count = len(sim.workflows)
    pick = np.sort(np.random.default_rng([seed, servers]).choice(count, size=min(args.sample, count), replace=False))
    lone = {f"lone_{name}_s": [lone_response_s(sim, int(w), args.warmup_s, name) for w in pick]
            for name in args.lone_routers}  # fmt: skip
    rows = pd.DataFrame({"servers": servers, "seed": seed, "workflow": pick, "lower_bound_s": sim.lower_bound_s[pick],
                         **{f"{name}_s": response[name][pick] for name in args.routers}, **lone})  # fmt: skip
    rows["lone_s"] = rows[list(lone)].min(axis=1)
    means = ", ".join(f"{c[:-2]} {rows[c].mean():.2f} s" for c in rows if c.endswith("_s"))
    print(f"N={servers} seed={seed}: {means}", flush=True)
    return rows


def summarize(workflows: pd.DataFrame, routers: list[str]) -> pd.DataFrame:
    """Per N and router: router / LB, lone / LB, lone / router paired per episode (mean, 95 % half-width), and the
    share of sampled workflows faster in the whole episode than alone."""
    rows = []
    for n, cell in workflows.groupby("servers"):
        per_episode = cell.groupby("seed").mean()
        lb = per_episode.lower_bound_s
        for name in routers:
            paired = per_episode.lone_s / per_episode[f"{name}_s"]
            rows.append({"servers": n, "router": name, "episodes": len(per_episode), "sampled": len(cell),
                         "router_over_lb": (per_episode[f"{name}_s"] / lb).mean(),
                         "lone_over_lb": (per_episode.lone_s / lb).mean(), "lone_over_router": paired.mean(),
                         "ci95": ci95_half_width(paired),
                         "faster_in_episode": float((cell[f"{name}_s"] < cell.lone_s).mean())})  # fmt: skip
    return pd.DataFrame(rows)


def report(summary: pd.DataFrame, command: str) -> list[str]:
    """The report's lines: the command and one table row per (N, router)."""
    lines = ["# The agents' calls contending with each other: each sampled workflow alone with the background", "",
             "```", command, "```", "",
             "| N | router | episodes | sampled workflows | router / LB | alone / LB | alone / router (paired) "
             "| ± 95 % | workflows faster in the episode |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in summary.itertuples():
        lines.append(f"| {r.servers} | {r.router} | {r.episodes} | {r.sampled} | {r.router_over_lb:.3f} "
                     f"| {r.lone_over_lb:.3f} | {r.lone_over_router:.3f} | {r.ci95:.3f} "
                     f"| {r.faster_in_episode:.0%} |")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    torch.set_num_threads(1)
    args, cfg = parse_args(argv)
    command = "python benchmarks/agent_contention.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    frames = [episode_rows(cfg, args, n, args.seed + i) for n in args.servers for i in range(args.episodes)]
    workflows = pd.concat(frames, ignore_index=True)
    summary = summarize(workflows, args.routers)
    write_report(args.output, {"workflows.csv": workflows, "summary.csv": summary}, report(summary, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
