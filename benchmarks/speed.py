"""Speed of the hot paths (docs/performance.md): simulator decisions/s with EFT, env steps/s, policy latency.

Prints a table and writes ``benchmarks/results/speed.json``. Ratios within one run are what count
(shared, noisy machines).

    python benchmarks/speed.py [--servers 16 48 128 1024] [--repeats 3] [--no-policy] [--dws-data DIR]

Policy columns are for the default model (d = 64, 4 heads), without server self-attention (``no_self_attn``) and for
the compact model (``compact``: d = 16, 2 heads) and the wide model (``wide``: d = 128, 4 heads).

A second table replays the DWS 6×4 reference stream (the peer's testbed makes ≈ 60 decisions/s)
with EFT, the peer's stale-clock HEFT and the rollout heuristics (each decision simulates up to 4 futures).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.schedulers.heuristics import EFTScheduler, RandomScheduler
from scale_rllib.workloads.generators.agentic import AgenticWorkload

COMPACT_MODEL = {"embed_dim": 16, "num_heads": 2}
"""The compact model (``train --embed-dim 16 --num-heads 2``): 6 k parameters instead of 72 k; on the quickstart it
scores like the default (README), at ≈ 4× the batched throughput."""

WIDE_MODEL = {"embed_dim": 128, "num_heads": 4}
"""The wide model (``train --embed-dim 128``), the best DWS recipe so far (docs/dws-benchmark.md §5): its batch-1
latency is held to the ≤ 1 ms per decision at N = 48 that evaluation asks of the network."""


def simulator_decisions_per_s(n: int, repeats: int) -> float:
    """Bare simulator + EFT (argmin of EFT), no env, best of ``repeats``."""
    workload, best = AgenticWorkload(), 0.0
    for r in range(repeats):
        sim = workload.build_episode(
            np.random.default_rng(r),
            servers=n,
            load=0.7,
            num_workflows=max(64, 4 * n),
            randomize_mix=False,
        )
        start = time.perf_counter()
        while sim.next_decision():
            sim.assign(int(np.argmin(sim.earliest_finish_times_s())))
        best = max(best, sim.decisions / (time.perf_counter() - start))
    return best


def dws_decisions_per_s(data: Path, schedulers: tuple[str, ...], repeats: int) -> list[dict]:
    """Decisions/s replaying the DWS 6×4 reference stream with each scheduler (best of ``repeats``)."""
    from scale_rllib.schedulers import make_scheduler
    from scale_rllib.workloads.dws.streams import pool_cluster, read_stream

    stream = read_stream(data / "6x4_r5.4_const_100" / "stream.csv", data / "dax")
    rows = []
    for name in schedulers:
        best = 0.0
        for _ in range(repeats):
            sim, scheduler = stream.simulator(data / "dax", pool_cluster("6x4")), make_scheduler(name)
            scheduler.reset(0)
            start = time.perf_counter()
            while sim.next_decision():
                sim.assign(scheduler.select(None, sim))
            best = max(best, sim.decisions / (time.perf_counter() - start))
        rows.append(
            {"stream": "6x4_r5.4_const_100", "scheduler": name, "decisions_per_s": best, "vs_peer_60": best / 60}
        )
    eft = next((r["decisions_per_s"] for r in rows if r["scheduler"] == "eft"), float("nan"))
    return [r | {"vs_eft": r["decisions_per_s"] / eft} for r in rows]  # ratios within one run: the machine varies


def env_steps_per_s(n: int, repeats: int, scheduler) -> float:
    """Gymnasium env steps/s (observation encoding included) with the given scheduler, best of ``repeats``."""
    env, best = SchedulingEnv(EnvConfig(servers_range=(n, n), randomize_mix=False)), 0.0
    for r in range(repeats):
        obs, _ = env.reset(seed=r)
        scheduler.reset(r)
        steps, done, start = 0, False, time.perf_counter()
        while not done:
            obs, _, done, _, _ = env.step(scheduler.select(obs, env.view))
            steps += 1
        best = max(best, steps / (time.perf_counter() - start))
    return best


def env_observations(n: int, count: int) -> list[dict[str, np.ndarray]]:
    """``count`` real observations at N = ``n`` (agentic workload, ρ = 0.7, EFT deciding), spread over an episode."""
    env = SchedulingEnv(EnvConfig(servers_range=(n, n), randomize_mix=False))
    obs, _ = env.reset(seed=0)
    decisions = max(64, 4 * n) * 4  # about one episode's decisions
    every = max(1, decisions // count)
    out, step, done = [], 0, False
    while not done and len(out) < count:
        if step % every == 0:
            out.append(obs)
        obs, _, done, _, _ = env.step(EFTScheduler().select(obs, env.view))
        step += 1
    return out


def untrained_module(n: int, model_config: dict | None = None):
    """An untrained SCALE module for N = ``n`` servers (inference only, eval mode), as the policy benchmarks use."""
    import gymnasium as gym

    from scale_rllib.env.observation import observation_space
    from scale_rllib.models.scale_module import ScaleRLModule

    return ScaleRLModule(
        observation_space=observation_space(n),
        action_space=gym.spaces.Discrete(n),
        inference_only=True,
        model_config=model_config or {},
    ).eval()


def random_observations(space, batch: int, rng: np.random.Generator) -> dict:
    """A forward batch ``{Columns.OBS: {servers, task, action_mask}}`` of uniform random features (every server row
    distinct, every server valid) for the observation ``space``."""
    import torch
    from ray.rllib.core.columns import Columns

    sample = {
        "servers": rng.uniform(0, 1, (batch, *space["servers"].shape)).astype(np.float32),
        "task": rng.uniform(0, 1, (batch, *space["task"].shape)).astype(np.float32),
        "action_mask": np.ones((batch, space["action_mask"].shape[0]), np.float32),
    }
    return {Columns.OBS: {k: torch.from_numpy(v) for k, v in sample.items()}}


def policy_latency_ms(
    n: int, repeats: int = 200, model_config: dict | None = None, batched: bool = True
) -> dict[str, float]:
    """Forward latency of an untrained SCALE module (1 thread), median over ``repeats`` calls after a warm-up:

    - ``policy_ms_batch1``: batch 1 on real observations (:func:`env_observations`; identical idle servers are
      computed once, see ``ScaleRLModule.infer_one``), with ``distinct_servers`` the mean number of distinct rows;
    - ``policy_ms_batch1_all_distinct``: batch 1 on random features (every server row distinct: the worst case);
    - ``batched_decisions_per_s``: decisions/s at batch 1024 (64 above N=128), random features, best of 3; also
      with one thread per core (``_all_cores``) and under bfloat16 autocast (``_bf16``: AMX/AVX-512-BF16 matmuls where
      the CPU has them; logits to ≈ 2-3 significant digits, so a measurement of the option, not the default).

    ``batched=False`` skips the batched columns (the rows that only report batch-1 latency).
    """
    import torch
    from ray.rllib.core.columns import Columns

    torch.set_num_threads(1)
    module = untrained_module(n, model_config)
    rng = np.random.default_rng(0)

    def random_batch(b):
        return random_observations(module.observation_space, b, rng)

    def median_ms(batches) -> float:
        timings = []
        with torch.no_grad():
            module.forward_inference(batches[0])  # warm-up
            for i in range(repeats):
                start = time.perf_counter()
                module.forward_inference(batches[i % len(batches)])
                timings.append(time.perf_counter() - start)
        return float(np.median(timings) * 1e3)

    real = [{Columns.OBS: {k: torch.from_numpy(v)[None] for k, v in o.items()}} for o in env_observations(n, 50)]
    distinct = np.mean([len(np.unique(b[Columns.OBS]["servers"][0].numpy(), axis=0)) for b in real])
    row = {"policy_ms_batch1": median_ms(real), "distinct_servers": float(distinct)}
    row["policy_ms_batch1_all_distinct"] = median_ms([random_batch(1) for _ in range(8)])
    if not batched:
        return row
    big = random_batch(1024 if n <= 128 else 64)

    def batched_decisions_per_s(threads: int, bf16: bool = False) -> float:
        torch.set_num_threads(threads)
        timings = []
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            module.forward_inference(big)  # warm-up: first-touch allocations
            for _ in range(3):
                start = time.perf_counter()
                module.forward_inference(big)
                timings.append(time.perf_counter() - start)
        torch.set_num_threads(1)
        return len(big[Columns.OBS]["task"]) / min(timings)

    row["batched_decisions_per_s"] = batched_decisions_per_s(1)
    row["batched_decisions_per_s_all_cores"] = batched_decisions_per_s(os.cpu_count() or 1)
    row["batched_decisions_per_s_bf16"] = batched_decisions_per_s(1, bf16=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[16, 48, 128, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-policy", action="store_true", help="skip the torch policy latency")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "speed.json")
    parser.add_argument(
        "--dws-data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "dws"
    )
    args = parser.parse_args()
    rows = []
    for n in args.servers:
        row = {
            "servers": n,
            "sim_eft_decisions_per_s": simulator_decisions_per_s(n, args.repeats),
            "env_steps_per_s_random": env_steps_per_s(n, args.repeats, RandomScheduler()),
            "env_steps_per_s_eft": env_steps_per_s(n, args.repeats, EFTScheduler()),
        }
        if not args.no_policy:
            row.update(policy_latency_ms(n))
            no_sa = policy_latency_ms(n, model_config={"server_self_attention": False}, batched=False)
            row["policy_ms_batch1_no_self_attn"] = no_sa["policy_ms_batch1"]
            compact = policy_latency_ms(n, model_config=COMPACT_MODEL)
            row["compact_ms_batch1_all_distinct"] = compact["policy_ms_batch1_all_distinct"]
            row["compact_batched_decisions_per_s"] = compact["batched_decisions_per_s"]
            wide = policy_latency_ms(n, model_config=WIDE_MODEL, batched=False)
            row["wide_ms_batch1"] = wide["policy_ms_batch1"]
            row["wide_ms_batch1_all_distinct"] = wide["policy_ms_batch1_all_distinct"]
        rows.append(row)
    from rich.console import Console
    from rich.table import Table

    table = Table(title="scale_rllib speed (best of repeats; CPU, 1 thread)")
    for key in rows[0]:
        table.add_column(key.replace("_", " "), justify="right")  # spaces let rich wrap the long names
    for row in rows:
        table.add_row(
            *(
                f"{v:,.0f}" if isinstance(v, float) and v > 100 else f"{v:.3f}" if isinstance(v, float) else str(v)
                for v in row.values()
            )
        )
    Console(width=160).print(table)
    dws_rows = []
    if (args.dws_data / "6x4_r5.4_const_100" / "stream.csv").is_file():
        dws_rows = dws_decisions_per_s(args.dws_data, ("eft", "dws-heft", "eft-rollout", "peft-rollout"), args.repeats)
        dws_table = Table(title="DWS 6×4 reference stream replay (decisions/s; the peer's testbed ≈ 60)")
        for key in dws_rows[0]:
            dws_table.add_column(key, justify="right")
        for row in dws_rows:
            dws_table.add_row(
                row["stream"], row["scheduler"], f"{row['decisions_per_s']:,.0f}", f"{row['vs_peer_60']:,.0f}×",
                f"{row['vs_eft']:.3f}",
            )  # fmt: skip
        Console(width=160).print(dws_table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"agentic": rows, "dws": dws_rows}, indent=2))
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
