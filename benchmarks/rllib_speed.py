"""RLlib speed and memory (docs/performance.md): sampling throughput, PPO iteration time, SRR overhead, peak RSS.

On the agentic default workload at N = 16:

1. sampling: env steps/s and seconds per PPO iteration (``algo.train()``) for 1 and 2 env runners × k envs per
   runner, plus sample-only throughput (``synchronous_parallel_sample`` on the algorithm's env runner group);
2. learner: seconds per learner update (``num_epochs`` × minibatches over one train batch) without SRR
   (λ_dec = λ_KL = 0, which still computes the SRR statistics without gradient) and with SRR (λ_dec, λ_KL = 0.1,
   0.01) on the same batch of real N = 16 observations, interleaved; the overhead ratio; and RLlib's plain
   PPOTorchLearner for reference;
3. memory: peak RSS / PSS summed over the driver and all its descendants (gcs, raylet, agents, env runner workers),
   sampled in a thread, for every sampling configuration (one Ray session each); and the peak RSS of
   ``scale-rllib evaluate --servers 1024 --episodes 1 --workflows-per-server 1 --schedulers eft``.

Prints rich tables and writes ``benchmarks/results/rllib_speed.json``. Ratios within one run are what count
(shared, noisy machines).

    python benchmarks/rllib_speed.py [--runners 1 2] [--envs 1 4] [--iterations 3] [--train-batch 2000]
        [--learner-repeats 5] [--no-sampling] [--no-learner] [--no-evaluate]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

GIB = 1024**3
PAGE = os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------------------------------------------- memory
def _children(pid: int) -> list[int]:
    """The direct children of ``pid``, from its threads' ``/proc/PID/task/TID/children`` lists (Linux ≥ 3.5,
    proc(5)): reads only this process tree, never the other processes of the machine."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:  # the process (or thread) exited meanwhile
        pass
    return out


def _descendants(root: int) -> list[int]:
    """``root`` and every live process below it."""
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(_children(pid))
    return out


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"
    return (cmd.split()[0] if cmd else "?")[:60]


class TreeMemoryMonitor:
    """Samples Σ VmRSS and Σ Pss over ``root`` and its descendants every ``interval`` s in a thread; keeps the peaks.

    Σ RSS double-counts shared pages (libraries, Ray's shared-memory object store); Σ PSS splits them fairly, so it
    is the better "memory this session uses" number. ``peak_hwm_sum`` adds each process's own VmHWM (its peak) at
    the last sample it was seen: an upper bound, as the per-process peaks need not coincide.
    """

    def __init__(self, root: int | None = None, interval: float = 0.25):
        self.root = os.getpid() if root is None else root
        self.interval = interval
        self.peak_rss = self.peak_pss = 0
        self.hwm: dict[int, int] = {}
        self.peak_processes = 0
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        pids = _descendants(self.root)
        rss = pss = 0
        for pid in pids:
            rss += _status_kib(pid, "VmRSS")
            pss += _pss_kib(pid)
            self.hwm[pid] = max(self.hwm.get(pid, 0), _status_kib(pid, "VmHWM"))
            name = _name(pid)  # re-read: a ray::IDLE worker becomes ray::SingleAgentEnvRunner; "?" once it exited
            if name != "?" or pid not in self.names:
                self.names[pid] = name
        self.peak_rss = max(self.peak_rss, rss * 1024)
        self.peak_pss = max(self.peak_pss, pss * 1024)
        self.peak_processes = max(self.peak_processes, len(pids))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemoryMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_hwm_sum(self) -> int:
        return sum(self.hwm.values()) * 1024

    def top(self, k: int = 6) -> list[tuple[str, float]]:
        """The ``k`` processes with the largest VmHWM (name, GiB)."""
        ranked = sorted(self.hwm.items(), key=lambda kv: -kv[1])[:k]
        return [(self.names.get(pid, "?"), kib * 1024 / GIB) for pid, kib in ranked]


# ------------------------------------------------------------------------------------------------------------- sampling
def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "/"))
        else:
            out[key] = v
    return out


def _num(flat: dict, key: str) -> float:
    value = flat.get(key, float("nan"))
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _median(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan


def _train_config(args, runners: int, envs: int, lambda_dec: float, lambda_kl: float):
    from scale_rllib import EnvConfig, TrainConfig

    return TrainConfig(
        env=EnvConfig(servers_range=(args.servers, args.servers)),
        num_env_runners=runners,
        envs_per_runner=envs,
        train_batch_size=args.train_batch,
        minibatch_size=min(args.minibatch, args.train_batch),
        num_epochs=args.epochs,
        lambda_dec=lambda_dec,
        lambda_kl=lambda_kl,
        iterations=args.iterations,
        seed=0,
    )


def sampling_row(args, runners: int, envs: int) -> dict:
    """One Ray session: build PPO, ``warmup`` + ``iterations`` × train(), then sample-only; memory throughout.

    ``ray.init`` gets ``num_cpus = max(2, runners + 1)`` so that the env runners (1 CPU each) always fit.
    """
    import ray
    from ray.rllib.execution.rollout_ops import synchronous_parallel_sample

    from scale_rllib.training import build_ppo_config

    cfg = _train_config(args, runners, envs, 0.1, 0.01)
    row: dict = {"runners": runners, "envs_per_runner": envs}
    with TreeMemoryMonitor() as mem:
        t0 = time.perf_counter()
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, num_cpus=max(2, runners + 1))
        algo = build_ppo_config(cfg).build_algo()
        row["build_s"] = time.perf_counter() - t0
        iter_s, steps_per_s, sampling_s, learner_s, rllib_tp, step_ms, infer_ms = [], [], [], [], [], [], []
        last_steps = 0.0
        for i in range(args.warmup + args.iterations):
            start = time.perf_counter()
            flat = _flat(algo.train())
            wall = time.perf_counter() - start
            steps = _num(flat, "env_runners/num_env_steps_sampled_lifetime")
            if math.isnan(steps):
                steps = _num(flat, "num_env_steps_sampled_lifetime")
            if i >= args.warmup:
                iter_s.append(wall)
                steps_per_s.append((steps - last_steps) / wall)
                sampling_s.append(_num(flat, "timers/env_runner_sampling_timer"))
                learner_s.append(_num(flat, "timers/learner_update_timer"))
                key = "env_runners/num_env_steps_sampled_lifetime_throughput"
                rllib_tp.append(_num(flat, key) if key in flat else _num(flat, key + "/throughput_since_last_reduce"))
                step_ms.append(1e3 * _num(flat, "env_runners/env_step_timer"))
                infer_ms.append(1e3 * _num(flat, "env_runners/rlmodule_inference_timer"))
            last_steps = steps
        row["s_per_iteration"] = float(np.median(iter_s))
        row["steps_per_s_train"] = float(np.median(steps_per_s))
        row["rllib_throughput"] = _median(rllib_tp)
        row["sampling_timer_s"] = _median(sampling_s)
        row["learner_timer_s"] = _median(learner_s)
        row["env_step_ms"] = _median(step_ms)
        row["inference_ms"] = _median(infer_ms)
        # Sample-only: the same call PPO's training_step makes, without the learner update.
        rates = []
        for _ in range(args.sample_repeats):
            start = time.perf_counter()
            episodes = synchronous_parallel_sample(
                worker_set=algo.env_runner_group,
                max_env_steps=args.train_batch,
                _uses_new_env_runners=True,
            )
            rates.append(sum(len(e) for e in episodes) / (time.perf_counter() - start))
        row["steps_per_s_sample_only"] = float(np.median(rates))
        mem.sample()
        algo.stop()
        ray.shutdown()
    row["peak_rss_sum_gib"] = mem.peak_rss / GIB
    row["peak_pss_sum_gib"] = mem.peak_pss / GIB
    row["hwm_sum_gib"] = mem.peak_hwm_sum / GIB
    row["processes"] = mem.peak_processes
    row["top_processes"] = mem.top()
    return row


# -------------------------------------------------------------------------------------------------------------- learner
def _real_batch(args, module, size: int):
    """``size`` real observations (EFT-driven episodes at N), actions/log-probs from ``module``, random targets."""
    from scale_rllib.env.config import EnvConfig
    from scale_rllib.env.scheduling_env import SchedulingEnv
    from scale_rllib.learner.batches import ppo_batch
    from scale_rllib.schedulers.heuristics import EFTScheduler

    env, sched = SchedulingEnv(EnvConfig(servers_range=(args.servers, args.servers))), EFTScheduler()
    rows: list[dict] = []
    seed = 0
    while len(rows) < size:
        obs, _ = env.reset(seed=seed)
        sched.reset(seed)
        done = False
        while not done and len(rows) < size:
            rows.append(obs)
            obs, _, done, _, _ = env.step(sched.select(obs, env.view))
        seed += 1
    obs = {k: np.stack([r[k] for r in rows]).astype(np.float32) for k in rows[0]}
    return ppo_batch(module, obs, np.random.default_rng(0))


def learner_rows(args) -> list[dict]:
    """Seconds per ``learner.update`` (num_epochs × minibatches over one batch) with λ = 0 and with SRR, interleaved."""
    import gymnasium as gym
    import torch
    from ray.rllib.core import DEFAULT_MODULE_ID
    from ray.rllib.policy.sample_batch import MultiAgentBatch

    from scale_rllib.env.observation import observation_space
    from scale_rllib.training import build_ppo_config

    spaces = {DEFAULT_MODULE_ID: (observation_space(args.servers), gym.spaces.Discrete(args.servers))}
    from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner

    variants = {
        "plain PPOTorchLearner": (0.0, 0.0, True),
        "no SRR (λ=0)": (0.0, 0.0, False),
        f"SRR (λ_dec={args.lambda_dec}, λ_KL={args.lambda_kl})": (args.lambda_dec, args.lambda_kl, False),
    }
    learners = {}
    for name, (dec, kl, plain) in variants.items():
        torch.manual_seed(0)
        config = build_ppo_config(_train_config(args, 0, 1, dec, kl))
        if plain:  # RLlib's own learner: no SRR statistics at all (SRRPPOTorchLearner computes them even at λ = 0)
            config = config.learners(learner_class=PPOTorchLearner)
        learners[name] = config.build_learner(spaces=spaces)
    first = next(iter(learners.values()))
    batch = _real_batch(args, first.module[DEFAULT_MODULE_ID], args.train_batch)
    multi = MultiAgentBatch({DEFAULT_MODULE_ID: batch}, env_steps=len(batch))
    timings: dict[str, list[float]] = {name: [] for name in learners}
    names = list(learners)
    for rep in range(args.learner_repeats + 1):  # rep 0: warm-up, discarded
        for name in names if rep % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            learners[name].update(
                batch=multi,
                minibatch_size=min(args.minibatch, args.train_batch),
                num_epochs=args.epochs,
                shuffle_batch_per_epoch=True,
                timesteps={"num_env_steps_sampled_lifetime": 0},
            )
            if rep > 0:
                timings[name].append(time.perf_counter() - start)
    base = names[1]  # ratios are to the λ = 0 ablation (same learner class)
    rows = []
    for name in names:
        t = np.asarray(timings[name])
        rows.append(
            {
                "variant": name,
                "median_s_per_update": float(np.median(t)),
                "min_s_per_update": float(t.min()),
                "ratio_median": float(np.median(t) / np.median(timings[base])),
                "ratio_min": float(t.min() / min(timings[base])),
                "ratio_paired_median": float(np.median(t / np.asarray(timings[base]))),
            }
        )
    return rows


# ------------------------------------------------------------------------------------------------------------- evaluate
def evaluate_memory(args) -> dict:
    """Peak RSS of the evaluate CLI at N=1024 (``/usr/bin/time -v`` if present; a /proc poll of its tree always)."""
    exe = Path(sys.executable).with_name("scale-rllib")
    out = Path(tempfile.mkdtemp(prefix="rllib_speed_eval_"))
    cmd = [str(exe), "evaluate", "--servers", str(args.eval_servers), "--episodes", "1", "--workflows-per-server", "1"]
    cmd += ["--schedulers", "eft", "--output", str(out)]
    gnu_time = shutil.which("time", path="/usr/bin")
    full = ([gnu_time, "-v"] if gnu_time else []) + cmd
    start = time.perf_counter()
    proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    mon = TreeMemoryMonitor(root=proc.pid, interval=0.1)
    with mon:
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    row = {
        "command": " ".join(cmd[1:-2]),
        "returncode": proc.returncode,
        "wall_s": wall,
        "peak_rss_sum_gib_polled": mon.peak_rss / GIB,
        "peak_pss_sum_gib_polled": mon.peak_pss / GIB,
        "hwm_sum_gib_polled": mon.peak_hwm_sum / GIB,
        "processes": mon.peak_processes,
    }
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    row["max_rss_gib_time_v"] = int(match.group(1)) * 1024 / GIB if match else math.nan
    if proc.returncode != 0:
        row["stderr_tail"] = stderr[-2000:]
    return row


# ---------------------------------------------------------------------------------------------------------------- print
def _fmt(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3f}"
    return str(v)


HEADERS = {
    "envs_per_runner": "envs/runner",
    "build_s": "build s",
    "s_per_iteration": "s/iter",
    "steps_per_s_train": "steps/s (train)",
    "rllib_throughput": "steps/s (RLlib)",
    "sampling_timer_s": "sample timer s",
    "learner_timer_s": "learner timer s",
    "env_step_ms": "env step ms",
    "inference_ms": "infer ms",
    "steps_per_s_sample_only": "steps/s (sample only)",
    "peak_rss_sum_gib": "peak ΣRSS GiB",
    "peak_pss_sum_gib": "peak ΣPSS GiB",
    "hwm_sum_gib": "ΣHWM GiB",
    "processes": "procs",
    "median_s_per_update": "median s/update",
    "min_s_per_update": "min s/update",
    "ratio_median": "ratio (medians)",
    "ratio_min": "ratio (mins)",
    "ratio_paired_median": "ratio (paired median)",
    "peak_rss_sum_gib_polled": "peak ΣRSS GiB (poll)",
    "peak_pss_sum_gib_polled": "peak ΣPSS GiB (poll)",
    "hwm_sum_gib_polled": "ΣHWM GiB (poll)",
    "max_rss_gib_time_v": "max RSS GiB (time -v)",
}


def _table(title: str, rows: list[dict], skip: tuple[str, ...] = ()):
    from rich.table import Table

    table = Table(title=title)
    keys = [k for k in rows[0] if k not in skip]
    for key in keys:
        table.add_column(HEADERS.get(key, key), justify="right")
    for row in rows:
        table.add_row(*(_fmt(row.get(k, math.nan)) for k in keys))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=16, help="N (fixed) of the training episodes")
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 2], help="env runners")
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 4], help="envs per env runner")
    parser.add_argument("--iterations", type=int, default=3, help="timed PPO iterations per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed PPO iterations first")
    parser.add_argument("--sample-repeats", type=int, default=2, help="sample-only calls per configuration")
    parser.add_argument("--train-batch", type=int, default=2000)
    parser.add_argument("--minibatch", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lambda-dec", type=float, default=0.1)
    parser.add_argument("--lambda-kl", type=float, default=0.01)
    parser.add_argument("--learner-repeats", type=int, default=8, help="timed updates per learner variant")
    parser.add_argument("--eval-servers", type=int, default=1024)
    parser.add_argument("--no-sampling", action="store_true")
    parser.add_argument("--no-learner", action="store_true")
    parser.add_argument("--no-evaluate", action="store_true")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "rllib_speed.json")
    args = parser.parse_args()

    import torch
    from rich.console import Console

    torch.set_num_threads(1)
    console = Console(width=200)
    results: dict = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    t_all = time.perf_counter()

    if not args.no_learner:
        rows = learner_rows(args)
        results["learner"] = rows
        console.print(
            _table(
                f"learner update at N={args.servers}: {args.epochs} epochs × {args.train_batch // args.minibatch} "
                f"minibatches of {args.minibatch} (same batch; interleaved; {args.learner_repeats} repeats)",
                rows,
            )
        )
        overhead = rows[2]["ratio_paired_median"] - 1
        full = rows[2]["ratio_paired_median"] / rows[0]["ratio_paired_median"] - 1
        console.print(
            f"SRR overhead vs λ=0: {overhead:+.1%} (paired median; target ≤ +10 %); "
            f"vs plain PPOTorchLearner (no SRR statistics): {full:+.1%}"
        )

    if not args.no_sampling:
        rows = []
        for runners in args.runners:
            for envs in args.envs:
                console.print(f"[dim]sampling: {runners} runner(s) × {envs} env(s) …[/dim]")
                rows.append(sampling_row(args, runners, envs))
        results["sampling"] = rows
        console.print(
            _table(
                f"RLlib PPO at N={args.servers}: train batch {args.train_batch}, median of {args.iterations} "
                f"iterations after {args.warmup} warm-up; memory = driver + all Ray processes",
                rows,
                skip=("top_processes",),
            )
        )
        for row in rows:
            top = ", ".join(f"{name.rsplit('/', 1)[-1]} {gib:.2f}" for name, gib in row["top_processes"])
            console.print(f"  {row['runners']}×{row['envs_per_runner']} largest VmHWM (GiB): {top}")

    if not args.no_evaluate:
        row = evaluate_memory(args)
        results["evaluate"] = row
        console.print(_table("evaluate CLI memory", [row], skip=("stderr_tail",)))
        if "stderr_tail" in row:
            console.print(row["stderr_tail"])

    results["total_s"] = time.perf_counter() - t_all
    console.print(f"total {results['total_s']:.0f} s")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=float))
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
