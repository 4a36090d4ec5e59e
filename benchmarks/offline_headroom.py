"""How much of EFT's gap to the lower bound any schedule in SCALE's action space can close: a clairvoyant search.

SCALE, EFT and the rollout heuristics all pick one server per ready task, in the simulator's ready order, and each
server runs its queue FIFO (docs/design.md, "The MDP"). Knowing the whole episode in advance (every arrival), this
script searches that action space offline: a schedule is one server per task; the search starts from the schedule of
each ``--start`` policy on the episode and does coordinate descent (a local search; Papadimitriou & Steiglitz,
*Combinatorial Optimization*, 1982, ch. 19): for each decision in simulation order it tries the ``--candidates``
lowest-EFT servers for that task (one per group of interchangeable servers, as the rollout heuristics pick them), every
other task keeping its server, and keeps a change that lowers the episode's mean response time; sweeps repeat until
one changes nothing (or ``--sweeps``). Descent stops in the local optimum of its start, so ``--kicks K`` then runs an
iterated local search from the best of them: K times, ``--kick-size`` tasks near a random decision get random servers
among their 4 lowest-EFT ones and descent runs again; a better result replaces the best (seeded by the episode). The
best schedule found is reported as ``search``.

A schedule the search finds is one the simulator ran, so its share of EFT's gap, (EFT/LB − best/LB) / (EFT/LB − 1)
as in ``benchmarks/gap.py``, is a lower estimate of the headroom any scheduler in this action space has, online or
clairvoyant; it is not an upper bound (a local search can miss better schedules). An online policy, which does not
know the arrivals, can at best match a clairvoyant one. Runtime grows with the square of the decisions: ≈ 10 s per
sweep at N = 16 and ≈ 40 s at N = 32 (ρ = 0.85, one core); a kick and its descent ≈ 35 s at N = 16.

    python benchmarks/offline_headroom.py --servers 16 --episodes 6 --start eft-rollout peft-rollout-2 \\
        --checkpoint runs/quickstart/warm_start_checkpoint --kicks 12 --output runs/offline_headroom/n16
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from gap import policy_gap_lines  # benchmarks/ is on sys.path when a script in it runs

from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.evaluation import EvalConfig, summarize
from scale_rllib.evaluation.report import write_report
from scale_rllib.schedulers import Scheduler, make_scheduler, observing_env, run_episode
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.schedulers.rollout import candidate_servers
from scale_rllib.sim.simulator import Simulator
from scale_rllib.training.checkpoints import find_checkpoint

#: A kicked task's server is drawn among this many of its lowest-EFT servers (the rollout heuristics' default k).
KICK_CANDIDATES = 4


def record(env: SchedulingEnv, scheduler: Scheduler, seed: int, servers: int) -> tuple[Simulator, dict[int, int]]:
    """Run ``scheduler`` on the episode (``seed``, N = ``servers``) of ``env``: a fork of the simulator at its first
    decision (the whole episode ahead, arrivals included) and the schedule, {task index: server}."""
    forks, schedule = [], {}

    def keep(sim: Simulator, server: int) -> None:
        if not forks:
            forks.append(sim.fork())
        schedule[sim.task] = int(server)

    run_episode(env, scheduler, seed, servers, on_decision=keep)
    return forks[0], schedule


def finish(sim: Simulator, schedule: dict[int, int]) -> float:
    """Mean response time (seconds) of the episode after ``sim`` (at a decision or just after one; changed) gives
    every remaining task its server in ``schedule``."""
    while sim.task >= 0 or sim.next_decision():
        sim.assign(schedule[sim.task])
    sim.run_to_completion()
    return float(np.mean(sim.response_times_s()))


def sweep(start: Simulator, schedule: dict[int, int], cost: float, candidates: int) -> tuple[dict[int, int], float]:
    """One coordinate-descent sweep from ``start`` (a simulator at its first decision; not changed): for each
    decision in order, the task's server becomes the one of its ``candidates`` lowest-EFT servers with the lowest mean
    response time (seconds), its own on a tie. Returns the schedule and its cost, never above ``cost``
    (``schedule``'s)."""
    sim = start.fork()
    while sim.task >= 0 or sim.next_decision():
        task = sim.task
        for server in candidate_servers(sim, candidates):
            if server == schedule[task]:
                continue
            trial = schedule | {task: int(server)}
            fork = sim.fork()
            fork.assign(int(server))
            trial_cost = finish(fork, trial)
            if trial_cost < cost:
                schedule, cost = trial, trial_cost
        sim.assign(schedule[task])
    return schedule, cost


def search(
    start: Simulator, schedule: dict[int, int], candidates: int, sweeps: int
) -> tuple[dict[int, int], float, int]:
    """Coordinate descent from ``schedule`` until a sweep changes nothing or after ``sweeps``: (the best schedule
    found, its mean response time in seconds, sweeps run)."""
    cost = finish(start.fork(), schedule)
    for done in range(1, sweeps + 1):
        schedule, new_cost = sweep(start, schedule, cost, candidates)
        if new_cost == cost:
            return schedule, cost, done
        cost = new_cost
    return schedule, cost, sweeps


def kick(start: Simulator, schedule: dict[int, int], size: int, candidates: int, rng: np.random.Generator) -> dict:
    """``schedule`` with ``size`` tasks perturbed: drawn among the 6 × ``size`` decisions around a random one (in
    ``schedule``'s order, the decision order it was recorded in), each given a random one of its ``candidates``
    lowest-EFT servers when its decision comes (the perturbation of an iterated local search; Lourenço, Martin &
    Stützle, "Iterated Local Search", *Handbook of Metaheuristics*, 2003)."""
    order = list(schedule)
    centre = int(rng.integers(len(order)))
    window = order[max(0, centre - 3 * size) : centre + 3 * size]
    moved = set(rng.choice(window, size=min(size, len(window)), replace=False).tolist())
    sim, kicked = start.fork(), dict(schedule)
    while sim.task >= 0 or sim.next_decision():
        if sim.task in moved:
            kicked[sim.task] = int(rng.choice(candidate_servers(sim, candidates)))
        sim.assign(kicked[sim.task])
    return kicked


def iterated_search(
    start: Simulator, schedule: dict[int, int], cost: float, *, kicks: int, size: int, candidates: int, sweeps: int, rng
) -> float:
    """``kicks`` rounds of :func:`kick` (``size`` tasks, each among its :data:`KICK_CANDIDATES` lowest-EFT servers) +
    :func:`search` (``candidates``, ``sweeps``), each from the best schedule so far (at first ``schedule``, a local
    optimum of mean response time ``cost`` seconds); returns the best cost, ≤ ``cost``."""
    for _ in range(kicks):
        trial, trial_cost, _ = search(start, kick(start, schedule, size, KICK_CANDIDATES, rng), candidates, sweeps)
        if trial_cost < cost:
            schedule, cost = trial, trial_cost
    return cost


def episode_rows(cfg: EvalConfig, n: int, seed: int, starts: list[Scheduler], args) -> list[dict]:
    """One row per start policy and one for the search's best, on episode ``seed`` at N = ``n``."""
    env = observing_env(cfg.env_config(n), starts)
    eft_start, eft_schedule = record(env, make_scheduler("eft"), seed, n)
    rows, best, best_start = [], np.inf, None
    lower_bound = float(eft_start.lower_bound_s.mean())
    base = {"servers": n, "seed": seed, "lower_bound_s": lower_bound}
    rows.append(base | {"scheduler": "eft", "mean_response_time_s": finish(eft_start.fork(), eft_schedule)})
    for scheduler in starts:
        start, schedule = record(env, scheduler, seed, n)
        start_cost = finish(start.fork(), schedule)
        if scheduler.name != "eft":  # EFT's row is already there
            rows.append(base | {"scheduler": scheduler.name, "mean_response_time_s": start_cost})
        schedule, cost, done = search(start, schedule, args.candidates, args.sweeps)
        print(f"N={n} seed={seed} from {scheduler.name}: {start_cost:.3f} → {cost:.3f} s ({done} sweeps)", flush=True)
        if cost < best:
            best, best_start = cost, (start, schedule)
    if args.kicks:
        best = iterated_search(*best_start, best, kicks=args.kicks, size=args.kick_size, candidates=args.candidates,
                               sweeps=args.sweeps, rng=np.random.default_rng(seed))  # fmt: skip
        print(f"N={n} seed={seed} after {args.kicks} kicks: {best:.3f} s", flush=True)
    rows.append(base | {"scheduler": "search", "mean_response_time_s": best})
    return rows


def report(results: pd.DataFrame, command: str) -> list[str]:
    """Markdown: per policy (every start, then ``search``) and N, EFT / LB, policy / LB and the share of EFT's gap
    closed (``benchmarks/gap.py``'s table)."""
    lines = ["# Headroom in SCALE's action space: the best clairvoyant schedule a local search finds", "",
             "Command:", "", "```", command, "```", ""]  # fmt: skip
    policies = [name for name in dict.fromkeys(results.scheduler) if name != "eft"]
    return lines + policy_gap_lines(summarize(results.to_dict("records")), policies)


def main(argv: list[str] | None = None) -> int:
    """Search every episode; write the report and the per-episode CSV."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[16, 32], help="cluster sizes N")
    parser.add_argument("--episodes", type=int, default=6, help="seeded episodes per N")
    parser.add_argument("--seed", type=int, default=EvalConfig.seed, help="first episode seed (evaluate's test seeds)")
    parser.add_argument("--load", type=float, default=0.85, help="offered load ρ")
    parser.add_argument("--start", nargs="+", default=["eft-rollout"], help="heuristics whose schedules start a search")
    parser.add_argument("--checkpoint", type=Path, help="also start from this network's schedule (greedy)")
    parser.add_argument("--candidates", type=int, default=8, help="servers tried per decision")
    parser.add_argument("--sweeps", type=int, default=10, help="the most sweeps per search")
    parser.add_argument("--kicks", type=int, default=0, help="iterated local search rounds from the best start")
    parser.add_argument("--kick-size", type=int, default=10, help="tasks one kick gives random servers")
    parser.add_argument("--output", type=Path, default=Path("runs/offline_headroom"), help="report and CSV")
    args = parser.parse_args(argv)
    if args.candidates < 2:
        parser.error(f"--candidates: must be ≥ 2 (one is the schedule's own server), got {args.candidates}")
    if args.kicks < 0 or args.kick_size < 1:
        parser.error(f"--kicks must be ≥ 0 and --kick-size ≥ 1, got {args.kicks} and {args.kick_size}")
    checkpoint = None if args.checkpoint is None else find_checkpoint(args.checkpoint)
    if args.checkpoint is not None and checkpoint is None:
        parser.error(f"--checkpoint: no checkpoint folder at {args.checkpoint}")
    try:
        starts = [make_scheduler(name) for name in args.start]
        cfg = EvalConfig(servers=tuple(args.servers), episodes=args.episodes, load=args.load, seed=args.seed)
    except ValueError as err:
        parser.error(str(err))
    torch.set_num_threads(1)
    if checkpoint is not None:
        starts.append(PolicyScheduler.from_checkpoint(checkpoint))
    rows = [row for n in args.servers for i in range(args.episodes)
            for row in episode_rows(cfg, n, args.seed + i, starts, args)]  # fmt: skip
    results = pd.DataFrame(rows)
    lines = report(results, shlex.join(["python", "benchmarks/offline_headroom.py", *argv]))
    write_report(args.output, {"results.csv": results}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
