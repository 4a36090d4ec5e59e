"""How much of EFT's gap to the lower bound the policy-iteration teacher closes, next to the network it would train.

Policy iteration (docs/design.md §9) distils the network's self-rollout: its ``--candidates`` most likely servers for
the ready task, each finished by the network in a simulator fork, the cheapest kept. A round can at best bring the
network to its teacher, so the share of EFT's gap the self-rollout closes, (EFT/LB − teacher/LB) / (EFT/LB − 1) as in
``benchmarks/gap.py``, tells whether a target on that share is within reach of policy iteration. The network, its
self-rollout, EFT and ``eft-rollout`` run on the same seeded episodes at each N; the report has one gap table per
policy. ``--known-arrivals K …`` adds one self-rollout per K that also sees the episode's next K arrivals (a
clairvoyant teacher, ``self-rollout+K``; 0 is the plain one). Self-rollouts are slow: the command below took ≈ 17 min
on one core (9 episodes, ρ = 0.85).

    python benchmarks/teacher_gap.py --checkpoint runs/quickstart_recipes/clone-seed0/checkpoint --load 0.85 \\
        --servers 16 32 48 --output results/rho085_teacher_gap
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd
import torch
from gap import policy_gap_lines  # benchmarks/ is on sys.path when a script in it runs

from scale_rllib.evaluation import EvalConfig, evaluate, summarize
from scale_rllib.evaluation.report import write_report
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.schedulers.self_rollout import SelfRolloutScheduler
from scale_rllib.training.checkpoints import find_checkpoint

#: The policies whose gap tables the report holds by default, in order: the network, its teacher, the heuristic teacher.
POLICIES = ("scale", "self-rollout", "eft-rollout")


def report(summary: pd.DataFrame, command: str, policies: tuple[str, ...] = POLICIES) -> list[str]:
    """Markdown: per policy of ``policies``, per N, EFT / LB, policy / LB and the share of EFT's gap closed."""
    lines = ["# Share of EFT's gap to the lower bound: the network, its self-rollout teacher, eft-rollout", "",
             "Command:", "", "```", command, "```", ""]  # fmt: skip
    return lines + policy_gap_lines(summary, policies)


def main(argv: list[str] | None = None) -> int:
    """Evaluate the network, its self-rollout and the heuristics; write the report and CSVs."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a training or warm-start checkpoint")
    parser.add_argument("--load", type=float, default=0.85, help="offered load ρ")
    parser.add_argument("--servers", type=int, nargs="+", default=[16, 32, 48], help="cluster sizes N")
    parser.add_argument("--episodes", type=int, default=3, help="seeded episodes per N")
    parser.add_argument("--candidates", type=int, default=4, help="servers the self-rollout tries per decision")
    parser.add_argument("--known-arrivals", type=int, nargs="+", default=[0],
                        help="one self-rollout per value, seeing that many future arrivals (0: none)")  # fmt: skip
    parser.add_argument("--output", type=Path, default=Path("results/rho085_teacher_gap"), help="report and CSVs")
    args = parser.parse_args(argv)
    if args.candidates < 1:
        parser.error(f"--candidates: must be ≥ 1, got {args.candidates}")
    if min(args.known_arrivals) < 0:
        parser.error(f"--known-arrivals: must be ≥ 0, got {min(args.known_arrivals)}")
    checkpoint = find_checkpoint(args.checkpoint)  # complete, or the .old one a crash left behind
    if checkpoint is None:
        parser.error(f"--checkpoint: no checkpoint folder at {args.checkpoint}")
    cfg = EvalConfig(servers=tuple(args.servers), episodes=args.episodes, load=args.load,
                     schedulers=("eft", "eft-rollout"))  # fmt: skip
    torch.set_num_threads(1)
    network = PolicyScheduler.from_checkpoint(checkpoint)
    windows = dict.fromkeys(args.known_arrivals)  # each value once, in the given order
    teachers = [SelfRolloutScheduler(network.module, args.candidates, k) for k in windows]
    results = evaluate(cfg, [network, *teachers]).results
    summary = summarize(results)
    policies = ("scale", *(t.name for t in teachers), "eft-rollout")
    lines = report(summary, shlex.join(["python", "benchmarks/teacher_gap.py", *argv]), policies)
    write_report(args.output, {"results.csv": pd.DataFrame(results), "summary.csv": summary}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
