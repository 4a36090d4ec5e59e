"""Where a clone loses against its rollout teacher: on each DWS reference stream the policy runs greedily, and at every
decision the teacher's forks price the policy's choice against the cheapest server the teacher tried
(docs/design.md §7, cost-sensitive cloning).

Per (recipe, seed, stream) the report gives flowtime / lower bound, how often the policy picks the teacher's server,
how often its choice is as cheap as the cheapest tried fork (the teacher's optimal set), how often its choice costs
more ("regret > 0"), the summed regret (Σ completion-time seconds of the in-system workflows, each decision priced
alone), the share of that regret in the 20 dearest decisions, and how often every tried fork costs the same.

    python benchmarks/clone_regret.py --data ../shared/data/dws \\
        --runs clone/0=runs/dws_nested_d4/seed0/warm_start_checkpoint … --output results/clone_regret
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

from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.evaluation import DwsEvalConfig
from scale_rllib.evaluation.report import write_report
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.schedulers.rollout import NestedRolloutScheduler, python_fork_costs
from scale_rllib.study.report import md_table
from scale_rllib.training.warm_start import label_from_costs

STREAMS = (("6x4_r5.4_const_100", "6x4"), ("5x5_r9_const_100", "5x5"))
TOP = 20


def decisions(policy: PolicyScheduler, data: Path, folder: str, pool: str) -> tuple[pd.DataFrame, float]:
    """Per decision of ``policy`` on one reference stream: agreement, optimal-set membership, regret and stakes (s);
    and the episode's flowtime / lower bound. The teacher is ``peft-rollout-2``; a choice outside its tried servers
    is priced by the same fork, finished by ``peft-rollout``."""
    group = DwsEvalConfig(data / "dax", pool, stream=data / folder / "stream.csv", seed=0, schedulers=()).groups()[0]
    episode = group.episodes[0]
    env, teacher = SchedulingEnv(group.env_config), NestedRolloutScheduler()
    obs, _ = env.reset(seed=episode.seed, options={"simulator": episode.simulator()})
    policy.reset(episode.seed)
    rows, done = [], False
    while not done:
        sim = env.view
        action = policy.select(obs, sim)
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
    """Run every ``--runs`` checkpoint on both reference streams; write ``report.md`` and ``summary.csv``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/dws"), help="folder of dax/ and streams")
    parser.add_argument("--runs", nargs="+", required=True, help="RECIPE/SEED=CHECKPOINT")
    parser.add_argument("--output", type=Path, required=True, help="folder of report.md and summary.csv")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    runs = parse_runs(args.runs)  # the same RECIPE/SEED=DIR entries as benchmarks/dws_seeds.py
    if not all((args.data / f).is_dir() for f in ("dax", *(folder for folder, _ in STREAMS))):
        parser.error(f"--data: {args.data} needs dax/ and the reference stream folders {[f for f, _ in STREAMS]}")
    for _, _, path in runs:
        if not path.is_dir():
            parser.error(f"--runs: no checkpoint folder {path}")
    rows = []
    for recipe, seed, path in runs:
        policy = PolicyScheduler.from_checkpoint(path)
        for folder, pool in STREAMS:
            frame, ratio = decisions(policy, args.data, folder, pool)
            rows.append({"recipe": recipe, "seed": seed, "stream": folder, "ratio_to_lower_bound": ratio}
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
