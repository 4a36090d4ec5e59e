"""Wall time of one policy-iteration labelling round with 1 and 2 labelling workers (docs/design.md §9).

Labels ``--episodes`` training episodes (agentic, N ∈ [12, 20]) with the self-rollout of a network — the policy of
``--checkpoint``, or an untrained one — split over W Ray tasks of 1 CPU each, on a local Ray with ``--cpus`` CPUs,
for each W of ``--workers``. Prints, per W: wall time of the round, labelled decisions, decisions/s, and the share of
labels that differ from the network's own choice; writes ``--output`` (JSON).

    python benchmarks/policy_iteration.py [--checkpoint runs/quickstart/checkpoint] [--episodes 4] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import ray
import torch

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import observation_space
from scale_rllib.models.scale_module import ScaleRLModule, load_policy
from scale_rllib.training.policy_iteration import LabelJob, label_in_parallel, split_episodes


def network(checkpoint: Path | None, max_servers: int) -> ScaleRLModule:
    """The checkpoint's policy, or an untrained default model (seed 0)."""
    if checkpoint is not None:
        return load_policy(checkpoint, observation_space(max_servers))
    torch.manual_seed(0)
    space = observation_space(max_servers)
    return ScaleRLModule(observation_space=space, action_space=gym.spaces.Discrete(max_servers), model_config={})


def one_round(module: ScaleRLModule, env: EnvConfig, episodes: int, workers: int, candidates: int) -> dict:
    """Label ``episodes`` episodes with ``workers`` tasks; wall time and counts."""
    weights = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    jobs = [LabelJob(weights, dict(module.model_config), env.to_dict(), s, n, 0.99, candidates)
            for s, n in split_episodes(0, episodes, workers)]  # fmt: skip
    start = time.perf_counter()
    results = label_in_parallel(jobs)
    wall = time.perf_counter() - start
    decisions = sum(len(d.actions) for d, _ in results)
    changed = sum(info["changed"] * len(d.actions) for d, info in results) / max(decisions, 1)
    return {"workers": workers, "wall_time_s": wall, "decisions": decisions, "decisions_per_s": decisions / wall,
            "changed": changed}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Time a labelling round per number of workers; print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="a training checkpoint (default: an untrained network)")
    parser.add_argument("--episodes", type=int, default=4, help="episodes labelled per round")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="labelling workers to time")
    parser.add_argument("--candidates", type=int, default=4, help="servers a self-rollout tries per decision")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/policy_iteration.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    env = EnvConfig(servers_range=(12, 20))
    module = network(args.checkpoint, env.max_servers)
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    try:
        rows = [one_round(module, env, args.episodes, w, args.candidates) for w in args.workers]
    finally:
        ray.shutdown()
    for r in rows:
        print(f"workers {r['workers']}: {r['wall_time_s']:.1f} s for {r['decisions']} labelled decisions "
              f"({r['decisions_per_s']:.0f}/s); labels that differ from the network: {r['changed']:.1%}")  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
