"""Where a clone loses against its rollout teacher: on each episode the policy runs greedily, and at every decision the
teacher's forks price the policy's choice against the cheapest server the teacher tried (docs/design.md §7,
cost-sensitive cloning). The episodes are the two DWS reference streams (``--data``, the default), or with
``--servers N`` seeded episodes of a workload (``--workload``, ``--load``, ``--episodes``, ``--seed``: the episodes
``scale-rllib evaluate`` runs with the same flags).

Per (recipe, seed, episode: the ``stream`` column) the report gives response time / lower bound, how often the
policy picks the teacher's server, how often its choice is as cheap as the cheapest tried fork (the teacher's optimal
set), how often its choice costs more ("regret > 0"), the summed regret (Σ completion-time seconds of the in-system
workflows, each decision priced alone), the share of that regret in the 20 dearest decisions, and how often every
tried fork costs the same.

    python benchmarks/clone_regret.py --data ../shared/data/dws \\
        --runs clone/0=runs/dws_nested_d4/seed0/warm_start_checkpoint … --output results/clone_regret
    python benchmarks/clone_regret.py --servers 16 --load 0.85 --episodes 6 --seed 10000 \\
        --runs nested/1=runs/nested/clone-seed1/warm_start_checkpoint --output runs/clone_regret_085
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from dws_seeds import parse_runs  # benchmarks/ is on sys.path when a script in it runs

from scale_rllib.env.config import EnvConfig
from scale_rllib.evaluation import EVAL_SEED_BASE, DwsEvalConfig, EvalConfig
from scale_rllib.evaluation.report import write_report
from scale_rllib.evaluation.scenarios import Episode
from scale_rllib.schedulers import Scheduler, observing_env
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.schedulers.rollout import NestedRolloutScheduler, python_fork_costs
from scale_rllib.study.report import md_table
from scale_rllib.training.warm_start import label_from_costs
from scale_rllib.validation import ConfigError

STREAMS = (("6x4_r5.4_const_100", "6x4"), ("5x5_r9_const_100", "5x5"))
TOP = 20


def decisions(policy: Scheduler, env_config: EnvConfig, episode: Episode) -> tuple[pd.DataFrame, float]:
    """Per decision of ``policy`` on one episode: agreement, optimal-set membership, regret and stakes (s); and the
    episode's response time / lower bound. The teacher is ``peft-rollout-2``; a choice outside its tried servers is
    priced by the same fork, finished by ``peft-rollout``."""
    env = observing_env(env_config, [policy])
    teacher = NestedRolloutScheduler()
    drawn = episode.simulator is None
    options = {"servers": episode.servers} if drawn else {"simulator": episode.simulator()}
    obs, _ = env.reset(seed=episode.seed, options=options)
    policy.reset(episode.seed)
    rows, done = [], False
    while not done:
        sim = env.view
        action = int(policy.select(obs, sim))
        servers, costs = teacher.fork_costs(obs, sim)  # once: the label and the regret both read them
        label, optimal, stakes = label_from_costs(servers, costs, sim, len(obs["action_mask"]))
        if action in servers:
            regret = costs[list(servers).index(action)] - costs.min()
        else:
            priced = python_fork_costs(sim, [*servers.tolist(), action], teacher.base)
            regret = max(priced[-1] - priced[:-1].min(), 0.0)
        rows.append((action == label, bool(optimal[action]), float(regret), stakes))
        obs, _, done, _, info = env.step(action)
    frame = pd.DataFrame(rows, columns=["agrees", "optimal", "regret_s", "stakes_s"])
    return frame, info["mean_response_time_s"] / info["mean_lower_bound_s"]


def episodes(args: argparse.Namespace) -> list[tuple[str, EnvConfig, Episode]]:
    """(name, env, episode) of each episode to run: the DWS reference streams, or with ``--servers`` the workload's
    seeded episodes.

    Raises:
        ConfigError: a bad workload, load or episode count (named).
    """
    if args.servers is None:
        groups = [(folder, DwsEvalConfig(args.data / "dax", pool, stream=args.data / folder / "stream.csv", seed=0,
                                         schedulers=()).groups()[0]) for folder, pool in STREAMS]  # fmt: skip
        return [(folder, group.env_config, group.episodes[0]) for folder, group in groups]
    scenario = EvalConfig(workload=args.workload, servers=(args.servers,), load=args.load, episodes=args.episodes,
                          seed=args.seed, schedulers=())  # fmt: skip
    group = scenario.groups()[0]
    return [
        (f"{args.workload} N={args.servers} ρ={args.load} seed={e.seed}", group.env_config, e) for e in group.episodes
    ]


def summarize(frame: pd.DataFrame) -> dict:
    """One row of the report from :func:`decisions`' table."""
    regret = np.sort(frame["regret_s"].to_numpy())[::-1]
    total = float(regret.sum())
    return {
        "decisions": len(frame),
        "agrees": frame["agrees"].mean(),
        "in_optimal_set": frame["optimal"].mean(),
        "regret_positive": (frame["regret_s"] > 1e-6).mean(),
        "regret_s": total,
        f"top{TOP}_share": regret[:TOP].sum() / total if total > 0 else 0.0,
        "no_stakes": (frame["stakes_s"] <= 1e-6).mean(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run every ``--runs`` checkpoint on every episode; write ``report.md`` and ``summary.csv``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/dws"), help="folder of dax/ and streams")
    parser.add_argument("--servers", type=int, help="instead of the DWS streams: seeded episodes of --workload at N")
    parser.add_argument("--workload", default="agentic", help="with --servers: workload spec (default: agentic)")
    parser.add_argument("--load", type=float, default=0.7, help="with --servers: offered load ρ (default: 0.7)")
    parser.add_argument("--episodes", type=int, default=3, help="with --servers: episodes (default: 3)")
    parser.add_argument("--seed", type=int, default=EVAL_SEED_BASE, help="with --servers: first episode seed")
    parser.add_argument("--runs", nargs="+", required=True, help="RECIPE/SEED=CHECKPOINT")
    parser.add_argument("--output", type=Path, required=True, help="folder of report.md and summary.csv")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    runs = parse_runs(args.runs)  # the same RECIPE/SEED=DIR entries as benchmarks/dws_seeds.py
    if args.servers is None and not all((args.data / f).is_dir() for f in ("dax", *(f for f, _ in STREAMS))):
        parser.error(f"--data: {args.data} needs dax/ and the reference stream folders {[f for f, _ in STREAMS]}")
    for _, _, path in runs:
        if not path.is_dir():
            parser.error(f"--runs: no checkpoint folder {path}")
    try:
        todo = episodes(args)
    except ConfigError as err:
        parser.error(str(err))
    rows = []
    for recipe, seed, path in runs:
        policy = PolicyScheduler.from_checkpoint(path)
        for name, env_config, episode in todo:
            frame, ratio = decisions(policy, env_config, episode)
            rows.append({"recipe": recipe, "seed": seed, "stream": name, "ratio_to_lower_bound": ratio}
                        | summarize(frame))  # fmt: skip
    table = pd.DataFrame(rows)
    command = shlex.join(["python", "benchmarks/clone_regret.py", *argv])
    cells = [[v if isinstance(v, str) else f"{v:.1f}" if k == "regret_s" else f"{v:.4f}" if isinstance(v, float)
              else str(v) for k, v in zip(table.columns, row)] for row in table.itertuples(index=False)]  # fmt: skip
    lines = ["# Where clones lose against their teacher (peft-rollout-2's forks)", "", "Command:", "", "```", command,
             "```", "", md_table(list(table.columns), cells)]  # fmt: skip
    write_report(args.output, {"summary.csv": table}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
