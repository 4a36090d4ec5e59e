"""``train``: PPO + SRR from a :class:`TrainConfig` — checkpoints, MLflow run, progress; resumable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scale_rllib import metrics as M
from scale_rllib.tracking import MlflowTracker, default_tracking_uri
from scale_rllib.training.checkpoints import find_checkpoint, read_metadata, save_checkpoint
from scale_rllib.training.config import TrainConfig
from scale_rllib.training.init_checkpoint import initial_weights
from scale_rllib.training.mlflow_model import log_policy_model
from scale_rllib.training.ppo import build_algorithm, init_ray, select_metrics
from scale_rllib.validation import ConfigError
from scale_rllib.workloads.spec import make_workload

CHECKPOINT_DIR = "checkpoint"
#: Where a run with a warm start or policy iteration keeps the network before PPO (iteration 0).
WARM_START_DIR = "warm_start_checkpoint"


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        checkpoint: The latest checkpoint directory.
        iterations: PPO iterations completed in total (including resumed ones).
        metrics: The last iteration's selected metrics.
        mlflow_run_id: The MLflow run (None if tracking was off).
        model_uri: The policy's MLflow pyfunc model (None if tracking was off).
    """

    checkpoint: Path
    iterations: int
    metrics: dict[str, float]
    mlflow_run_id: str | None
    model_uri: str | None = None


def checkpoint_metadata(cfg: TrainConfig, iteration: int, tracker: MlflowTracker) -> dict:
    """What every checkpoint records beside the weights (``scale_rllib.json``): config, iteration, MLflow run."""
    return {
        "config": cfg.to_dict(),
        "iteration": iteration,
        "mlflow_run_id": tracker.run_id,
        "mlflow_uri": tracker.tracking_uri,
    }


def run_iterations(
    algo,
    cfg: TrainConfig,
    start: int,
    tracker: MlflowTracker,
    on_iteration: Callable[[int, dict[str, float]], None],
    progress: bool = True,
) -> dict[str, float]:
    """PPO iterations ``start+1 … cfg.iterations``: train, log to MLflow, then ``on_iteration(iteration, metrics)``
    (checkpointing; Tune's report). The one training loop of ``train`` and of every Tune trial.

    Returns:
        The last iteration's metrics.
    """
    last: dict[str, float] = {}
    columns = (
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("train", total=cfg.iterations, completed=start, info="")
        for iteration in range(start + 1, cfg.iterations + 1):
            last = select_metrics(algo.train())
            tracker.log_metrics(last, step=iteration)
            on_iteration(iteration, last)
            rt = last.get(M.TRAIN_RESPONSE_TIME_RATIO, float("nan"))
            bar.update(task, advance=1, info=f"return {last.get(M.TRAIN_RETURN, float('nan')):.2f}  RT/LB {rt:.3f}")
    return last


def train(
    cfg: TrainConfig,
    output_dir: str | Path,
    *,
    address: str | None = None,
    mlflow_uri: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train with PPO + SRR; checkpoint to ``output_dir/checkpoint`` every ``checkpoint_every`` iterations (and,
    with a warm start or policy iteration, the network before PPO to ``output_dir/warm_start_checkpoint``); at the end,
    log the checkpoint and the policy (an MLflow pyfunc model) to the run.

    The workload is loaded and validated before Ray starts, so a malformed workflow file fails fast.

    Args:
        cfg: The run.
        output_dir: Created if missing; holds the checkpoints.
        address: Ray cluster address (None: ``$RAY_ADDRESS`` or a new local Ray, see
            :func:`~scale_rllib.training.ppo.ray_address`).
        mlflow_uri: Tracking URI (default: the resumed run's, else :func:`~scale_rllib.tracking.default_tracking_uri`).
        resume: Continue from ``output_dir/checkpoint``, in its MLflow run.
        progress: Show a progress bar.

    Raises:
        ConfigError: ``resume`` without a checkpoint in ``output_dir``, or an ``init_checkpoint`` that is missing or
            does not fit ``cfg`` — before any Ray work starts.
        WorkflowError, FileNotFoundError: a malformed or missing workload file — before any Ray work starts.
    """
    output = Path(output_dir)
    found = find_checkpoint(output / CHECKPOINT_DIR) if resume else None
    if resume and found is None:
        raise ConfigError(f"--resume: no scale_rllib checkpoint in {output / CHECKPOINT_DIR}")
    make_workload(cfg.env.workload, cfg.env.max_tasks)  # parse every file now: errors name the file and task
    if cfg.init_checkpoint is not None and not resume:
        initial_weights(cfg)  # a missing or incompatible network fails now, naming init_checkpoint
    meta = read_metadata(found) if found else {}
    output.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.num_threads)
    uri = mlflow_uri or meta.get("mlflow_uri") or default_tracking_uri()
    tracker = MlflowTracker(uri, run_name=output.name, run_id=meta.get("mlflow_run_id"), tags={M.TAG_JOB: "train"})
    if not resume:
        tracker.log_params({"train": cfg.to_dict()})
    init_ray(address, cfg)
    algo = build_algorithm(cfg, tracker, restore_from=found, verbose=progress)
    ckpt = output / CHECKPOINT_DIR
    if (cfg.warm_start or cfg.teacher) and not resume:
        save_checkpoint(algo, output / WARM_START_DIR, checkpoint_metadata(cfg, 0, tracker))

    def save(iteration: int, _metrics: dict[str, float]) -> None:
        if iteration % cfg.checkpoint_every == 0 or iteration == cfg.iterations:
            save_checkpoint(algo, ckpt, checkpoint_metadata(cfg, iteration, tracker))

    last = run_iterations(algo, cfg, int(meta.get("iteration", 0)), tracker, save, progress)
    algo.stop()
    model_uri = _log_final(tracker, ckpt)
    return TrainResult(ckpt.resolve(), cfg.iterations, last, tracker.run_id, model_uri)


def _log_final(tracker: MlflowTracker, ckpt: Path) -> str | None:
    """Log the final checkpoint (weights + metadata) and the pyfunc policy model; finish the run."""
    tracker.log_artifact(ckpt, CHECKPOINT_DIR)
    model_uri = tracker.guard("log_model", log_policy_model, tracker.tracking_uri, tracker.run_id, ckpt)
    tracker.finish()
    return model_uri
