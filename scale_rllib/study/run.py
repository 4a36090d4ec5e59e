"""Running the SRR study (docs/srr-study.md): train every (workload, variant, seed), evaluate every piece, assemble.

Why pieces: the full study is hours of CPU. Every training is its own run directory
(``RUNS/<workload>/<variant>/seed<k>``: skipped when its checkpoint has the target iteration, resumed when it has
fewer) and every evaluation (workload, ρ, one policy or all heuristics) its own CSV under ``OUTPUT/pieces/``
(skipped when present and covering the requested N, episodes and training iteration), so the study can be stopped
and restarted at any point, or run in parts (``--workloads``, ``--seeds``, …) and reported at once.

Usage (the CLI is ``benchmarks/reproduce_scale.py``)::

    cfg = StudyConfig(output=Path("results/scale_study"), runs_dir=Path("runs/study"), data=Path("DATA"))
    outcome = run_study(cfg, command="python benchmarks/reproduce_scale.py")
    print(outcome.report)
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import ray
import torch

from scale_rllib import metrics as M
from scale_rllib.evaluation import EVAL_SEED_BASE, evaluate
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.study.config import HEURISTIC, VARIANTS, StudyConfig, StudyOutcome, eval_pieces, piece_name
from scale_rllib.study.report import write_report
from scale_rllib.study.tables import collect
from scale_rllib.tracking import flatten
from scale_rllib.training import CHECKPOINT_DIR, TrainConfig, train
from scale_rllib.training.checkpoints import find_checkpoint, read_metadata
from scale_rllib.validation import ConfigError

Say = Callable[[str], None]


# ------------------------------------------------------------------------------------------------------------ training
def completed_iterations(run_dir: Path) -> int:
    """PPO iterations in the checkpoint of ``run_dir`` (0 if none)."""
    found = find_checkpoint(run_dir / CHECKPOINT_DIR)
    return int(read_metadata(found)["iteration"]) if found else 0


def check_runs(cfg: StudyConfig) -> None:
    """Fail (naming ``runs_dir``) if an existing run was trained with other options than ``cfg`` asks for.

    Raises:
        ConfigError: a checkpoint's config differs in anything but ``iterations`` (resuming it would mix studies).
    """
    for key, variant, seed in cfg.trainings():
        found = find_checkpoint(cfg.run_dir(key, variant, seed) / CHECKPOINT_DIR)
        if found is None:
            continue
        stored = TrainConfig.from_dict(read_metadata(found)["config"])
        wanted = dataclasses.replace(cfg.train_config(key, variant, seed), iterations=stored.iterations)
        if stored != wanted:
            a, b = flatten(stored.to_dict()), flatten(wanted.to_dict())
            diff = ", ".join(f"{k}: {a[k]!r} there, {b[k]!r} asked" for k in a if a[k] != b[k])
            raise ConfigError(f"runs_dir: {found} was trained with other options ({diff}); use another --runs-dir")


def train_all(cfg: StudyConfig, say: Say, progress: bool = False) -> tuple[int, int]:
    """Train (or resume) every (workload, variant, seed) whose checkpoint lacks ``cfg.iterations``.

    Starts a local Ray only if something needs training, and shuts it down after if it started it.

    Returns:
        (trained, skipped) counts.
    """
    todo = cfg.trainings()
    trained = skipped = 0
    started_ray = False
    try:
        for i, (key, variant, seed) in enumerate(todo, 1):
            run_dir, label = cfg.run_dir(key, variant, seed), f"[train {i}/{len(todo)}] {key}/{variant}/seed{seed}"
            done = completed_iterations(run_dir)
            if done >= cfg.iterations:
                skipped += 1
                say(f"{label}: skip (checkpoint at iteration {done})")
                continue
            started_ray = started_ray or not ray.is_initialized()
            start = time.perf_counter()
            train(cfg.train_config(key, variant, seed), run_dir, resume=done > 0, progress=progress)
            trained += 1
            say(f"{label}: trained iterations {done + 1}–{cfg.iterations} in {time.perf_counter() - start:.0f} s")
    finally:
        if started_ray:
            ray.shutdown()
    return trained, skipped


# ---------------------------------------------------------------------------------------------------------- evaluation
def _piece_is_complete(path: Path, cfg: StudyConfig, key: str, iteration: int | None) -> bool:
    """The piece CSV exists, has the requested episode length, covers every requested (N, episode seed) and (a
    policy piece) comes from the checkpoint's current iteration or (the heuristics piece) has every heuristic."""
    if not path.is_file():
        return False
    frame = pd.read_csv(path)
    have = set(zip(frame["servers"], frame["seed"], strict=True))
    need = {(n, EVAL_SEED_BASE + e) for n in cfg.servers for e in range(cfg.episodes)}
    fresh = iteration is None or set(frame["train_iterations"]) == {iteration}
    if iteration is None and not set(cfg.heuristics) <= set(frame["scheduler"]):
        return False  # a heuristics piece without every requested heuristic
    return need <= have and fresh and set(frame["workflows_per_server"]) == {cfg.workload(key)[1]}


def _write_atomic(frame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)


def _evaluate_piece(cfg: StudyConfig, key: str, load: float, policy: tuple[str, int] | None) -> None:
    """Evaluate all heuristics (``policy`` None) or one (variant, seed) policy; write its CSV (and features CSV)."""
    columns = {"workload": key, "variant": HEURISTIC, "train_seed": pd.NA, "train_iterations": pd.NA}
    columns["workflows_per_server"] = cfg.workload(key)[1]
    policies = []
    if policy is not None:
        variant, seed = policy
        ckpt = find_checkpoint(cfg.run_dir(key, variant, seed) / CHECKPOINT_DIR)
        if ckpt is None:
            raise FileNotFoundError(f"no checkpoint for {key}/{variant}/seed{seed} under {cfg.runs_dir}")
        name = VARIANTS[variant]
        columns |= {"variant": variant, "train_seed": seed, "train_iterations": read_metadata(ckpt)["iteration"]}
        policies.append(PolicyScheduler.from_checkpoint(ckpt, name=name))
    out = evaluate(cfg.eval_config(key, load, heuristics=policy is None), policies, num_threads=cfg.train.num_threads)
    frame = pd.DataFrame(out.results).assign(**columns)
    path = cfg.piece_path(key, load, piece_name(policy))
    if out.features:
        feats = pd.DataFrame(out.features).assign(**columns, load=load)
        first = ["workload", "load", "scheduler", "variant", "train_seed", "train_iterations", "servers"]
        first.append("workflows_per_server")
        _write_atomic(feats[first + list(M.FEATURE_STATS)], path.with_suffix(".features.csv"))
    _write_atomic(frame, path)  # last: its presence marks the piece complete


def evaluate_all(cfg: StudyConfig, say: Say) -> tuple[int, int]:
    """Evaluate every piece not already complete on disk.

    Returns:
        (evaluated, skipped) counts.
    """
    pieces = eval_pieces(cfg)
    evaluated = skipped = 0
    for i, (key, load, policy) in enumerate(pieces, 1):
        path = cfg.piece_path(key, load, piece_name(policy))
        label = f"[eval {i}/{len(pieces)}] {key} rho={load:g} {piece_name(policy)}"
        iteration = None if policy is None else completed_iterations(cfg.run_dir(key, *policy))
        if _piece_is_complete(path, cfg, key, iteration):
            skipped += 1
            say(f"{label}: skip ({path.name} present)")
            continue
        start = time.perf_counter()
        _evaluate_piece(cfg, key, load, policy)
        evaluated += 1
        say(f"{label}: {cfg.episodes} episode(s) × {len(cfg.servers)} N in {time.perf_counter() - start:.0f} s")
    return evaluated, skipped


def run_study(cfg: StudyConfig, command: str, report_only: bool = False, say: Say = print) -> StudyOutcome:
    """Train, evaluate (both skipping what is done), then assemble CSVs, plots and ``report.md`` in ``cfg.output``.

    Args:
        cfg: The study.
        command: The command line, quoted in the report.
        report_only: Only assemble what is on disk (missing pieces are listed in the report).
        say: Progress printer (one line per finished piece).

    Raises:
        ConfigError: an existing run was trained with other options (see :func:`check_runs`).
    """
    torch.set_num_threads(cfg.train.num_threads)
    counts = {"trained": 0, "train_skipped": 0, "evaluated": 0, "eval_skipped": 0}
    check_runs(cfg)  # also for --report-only: the flags must describe the runs being reported
    if not report_only:
        counts["trained"], counts["train_skipped"] = train_all(cfg, say, progress=sys.stdout.isatty())
        counts["evaluated"], counts["eval_skipped"] = evaluate_all(cfg, say)
    results, features, missing = collect(cfg)
    counts["missing"] = len(missing)
    report, files = write_report(cfg, results, features, missing, command)
    return StudyOutcome(report, files, counts)
