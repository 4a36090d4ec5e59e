"""PPO training of the SCALE module with SRR: TrainConfig → PPOConfig, the loop, checkpoints, MLflow."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scale_rllib import metrics as M
from scale_rllib.checkpoints import METADATA_FILE, find_checkpoint, read_metadata, save_checkpoint
from scale_rllib.config import ConfigError, TrainConfig
from scale_rllib.tracking import MlflowTracker, default_tracking_uri, flatten

CHECKPOINT_DIR = "checkpoint"
#: Where a warm-started run keeps the clone before PPO (iteration 0).
WARM_START_DIR = "warm_start_checkpoint"
__all__ = ["CHECKPOINT_DIR", "TrainResult", "build_algorithm", "build_ppo_config", "init_ray", "read_metadata", "train"]


def build_ppo_config(cfg: TrainConfig):
    """The one place a :class:`TrainConfig` becomes an RLlib ``PPOConfig`` (new API stack).

    Env runners sample episodes of randomized cluster size (``cfg.env.servers_range``); the
    learner is :class:`SRRPPOTorchLearner` with λ_dec, λ_KL in ``learner_config_dict``; failed env
    runners are restarted.
    """
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from scale_rllib.env import ENV_ID, register
    from scale_rllib.learner.srr_learner import LAMBDA_DEC, LAMBDA_KL, SRRPPOTorchLearner
    from scale_rllib.models.scale_module import ScaleRLModule
    from scale_rllib.training_callbacks import EpisodeMetricsCallback

    register()
    model_config = {"embed_dim": cfg.embed_dim, "num_heads": cfg.num_heads}
    return (
        PPOConfig()
        .environment(ENV_ID, env_config=cfg.env.to_dict())
        .env_runners(
            num_env_runners=cfg.num_env_runners,
            num_envs_per_env_runner=cfg.envs_per_runner,
            rollout_fragment_length="auto",
            num_cpus_per_env_runner=1,
        )
        .learners(
            num_learners=0,
            learner_class=SRRPPOTorchLearner,
            learner_config_dict={LAMBDA_DEC: cfg.lambda_dec, LAMBDA_KL: cfg.lambda_kl},
        )
        .rl_module(rl_module_spec=RLModuleSpec(module_class=ScaleRLModule, model_config=model_config))
        .training(
            lr=cfg.lr,
            gamma=cfg.gamma,
            lambda_=cfg.gae_lambda,
            train_batch_size_per_learner=cfg.train_batch_size,
            minibatch_size=cfg.minibatch_size,
            num_epochs=cfg.num_epochs,
            entropy_coeff=cfg.entropy_coeff,
            vf_loss_coeff=cfg.vf_loss_coeff,
            vf_clip_param=100.0,
        )
        .callbacks(EpisodeMetricsCallback)
        .fault_tolerance(restart_failed_env_runners=True, max_num_env_runner_restarts=100)
        .evaluation(evaluation_num_env_runners=0)
        .debugging(seed=cfg.seed, log_level="ERROR")
        .reporting(metrics_num_episodes_for_smoothing=20)
    )


def select_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The finite, useful entries of an ``Algorithm.train()`` result, under short names (for MLflow)."""
    flat = flatten(result)
    chosen: dict[str, float] = {}
    for key, value in flat.items():
        short = M.short_training_name(key)
        if short is not None and isinstance(value, int | float) and math.isfinite(value):
            chosen[short] = float(value)
    return chosen


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        checkpoint: The latest checkpoint directory.
        iterations: PPO iterations completed in total (including resumed ones).
        metrics: The last iteration's selected metrics.
        mlflow_run_id: The MLflow run (None if tracking was off).
    """

    checkpoint: Path
    iterations: int
    metrics: dict[str, float]
    mlflow_run_id: str | None


def init_ray(address: str | None) -> None:
    """Connect to ``address`` (or start a local Ray) unless already connected."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)


def build_algorithm(cfg: TrainConfig, tracker: MlflowTracker, restore_from: Path | None = None, verbose: bool = True):
    """Build the PPO Algorithm; restore it from a checkpoint, or warm-start it if configured."""
    algo = build_ppo_config(cfg).build_algo()
    if restore_from is not None:
        algo.restore_from_path(str(Path(restore_from).resolve()))
    elif cfg.warm_start:
        from scale_rllib.imitation import warm_start_algorithm

        stats = warm_start_algorithm(
            algo,
            cfg.env,
            cfg.warm_start,
            cfg.warm_start_episodes,
            cfg.gamma,
            cfg.seed,
            epochs=cfg.warm_start_epochs,
            dagger_rounds=cfg.warm_start_dagger_rounds,
            srr=(cfg.lambda_dec, cfg.lambda_kl),
        )
        tracker.log_metrics(stats, step=0)
        if verbose:
            print(f"warm start from {cfg.warm_start}: " + ", ".join(f"{k}={v:.3f}" for k, v in stats.items()))
    return algo


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
    with a warm start, the clone before PPO to ``output_dir/warm_start_checkpoint``).

    Args:
        cfg: The run.
        output_dir: Created if missing; holds the checkpoint and (by default) the MLflow sqlite store.
        address: Ray cluster address (None: start a local Ray).
        mlflow_uri: Tracking URI (default: the resumed run's, else ``sqlite:///<output_dir>/mlflow.db``).
        resume: Continue from ``output_dir/checkpoint``, in its MLflow run.
        progress: Show a progress bar.

    Raises:
        ConfigError: ``resume`` without a checkpoint in ``output_dir`` — before any Ray work starts.
    """
    import torch

    output = Path(output_dir)
    found = find_checkpoint(output / CHECKPOINT_DIR) if resume else None
    if resume and found is None:
        raise ConfigError(f"--resume: no scale_rllib checkpoint in {output / CHECKPOINT_DIR}")
    meta = read_metadata(found) if found else {}
    output.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    uri = mlflow_uri or meta.get("mlflow_uri") or default_tracking_uri(output)
    tracker = MlflowTracker(uri, run_name=output.name, run_id=meta.get("mlflow_run_id"), tags={"job": "train"})
    if not resume:
        tracker.log_params({"train": cfg.to_dict()})
    init_ray(address)
    algo = build_algorithm(cfg, tracker, restore_from=found, verbose=progress)
    ckpt = output / CHECKPOINT_DIR

    def save(iteration: int, directory: Path = ckpt) -> None:
        meta = {"config": cfg.to_dict(), "iteration": iteration, "mlflow_run_id": tracker.run_id, "mlflow_uri": uri}
        save_checkpoint(algo, directory, meta)

    if cfg.warm_start and not resume:
        save(0, output / WARM_START_DIR)  # the clone before PPO, to evaluate on its own

    last = run_iterations(algo, cfg, int(meta.get("iteration", 0)), tracker, save, progress)
    algo.stop()
    tracker.log_artifact(ckpt / METADATA_FILE, "checkpoint")
    tracker.finish()
    return TrainResult(ckpt.resolve(), cfg.iterations, last, tracker.run_id)


def run_iterations(algo, cfg: TrainConfig, start: int, tracker: MlflowTracker, save, progress: bool) -> dict:
    """Iterations ``start+1 … cfg.iterations``: train, log to MLflow, checkpoint; returns the last metrics."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
            if iteration % cfg.checkpoint_every == 0 or iteration == cfg.iterations:
                save(iteration)
            rt = last.get(M.TRAIN_RESPONSE_TIME_RATIO, float("nan"))
            bar.update(task, advance=1, info=f"return {last.get(M.TRAIN_RETURN, float('nan')):.2f}  RT/LB {rt:.3f}")
    return last
