"""TrainConfig → RLlib PPO: the config conversion, the Ray session, the Algorithm (restored or warm-started)."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.util import log_once

from scale_rllib import metrics as M
from scale_rllib.env.registration import ENV_ID, register
from scale_rllib.learner.srr_learner import (
    ADVANTAGE,
    ANCHOR_KL,
    AVERAGE_REWARD,
    GROUP_SIZE,
    LAMBDA_DEC,
    LAMBDA_KL,
    SRRPPOTorchLearner,
)
from scale_rllib.models.scale_module import ScaleRLModule
from scale_rllib.tracking import MlflowTracker, flatten
from scale_rllib.training.callbacks import EpisodeMetricsCallback
from scale_rllib.training.checkpoints import read_metadata
from scale_rllib.training.config import TrainConfig
from scale_rllib.training.init_checkpoint import load_initial_weights
from scale_rllib.training.policy_iteration import policy_iteration
from scale_rllib.training.warm_start import warm_start_algorithm


def sampling_seed(seed: int, resumed_at: int = 0) -> int:
    """The seed of the env runners' episodes: ``seed`` for a new run; for a run resumed after ``resumed_at``
    iterations, a seed derived from both (NumPy ``SeedSequence``), so that the resumed run samples new episodes
    instead of replaying those of its first iterations (env runners seed their envs once, when they are created)."""
    if resumed_at == 0:
        return seed
    return int(np.random.SeedSequence([seed, resumed_at]).generate_state(1)[0] >> 1)


def build_ppo_config(cfg: TrainConfig, resumed_at: int = 0) -> PPOConfig:
    """The one place a :class:`TrainConfig` becomes an RLlib ``PPOConfig`` (new API stack).

    Env runners sample episodes of randomized cluster size (``cfg.env.servers_range``) from
    :func:`sampling_seed` (``resumed_at``: the iterations a resumed run has done); the learner is
    :class:`SRRPPOTorchLearner` with λ_dec, λ_KL in ``learner_config_dict``; failed env runners are restarted.
    """
    register()
    grouped = cfg.advantage == "input-driven"
    seed = sampling_seed(cfg.seed, resumed_at)
    env_config = dataclasses.replace(cfg.env, shared_inputs=True, input_seed=seed) if grouped else cfg.env
    # The new API stack is our explicit choice (below); RLlib's once-per-process notice that it is the default
    # ("You are running PPO on the new API stack!") tells a user nothing to act on: mark it as already shown.
    log_once("PPO_on_new_api_stack")
    model_config = {"embed_dim": cfg.embed_dim, "num_heads": cfg.num_heads}
    return (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .environment(ENV_ID, env_config=env_config.to_dict())
        .env_runners(
            num_env_runners=cfg.num_env_runners,
            num_envs_per_env_runner=cfg.envs_per_runner,
            rollout_fragment_length="auto",
            num_cpus_per_env_runner=1,
            batch_mode="complete_episodes" if grouped else "truncate_episodes",  # a group's episodes end together
        )
        .learners(
            num_learners=0,
            learner_class=SRRPPOTorchLearner,
            learner_config_dict={
                LAMBDA_DEC: cfg.lambda_dec,
                LAMBDA_KL: cfg.lambda_kl,
                ADVANTAGE: cfg.advantage,
                AVERAGE_REWARD: cfg.returns == "average-reward",
                GROUP_SIZE: cfg.group_size,
                ANCHOR_KL: cfg.anchor_kl,
            },
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
        .debugging(seed=seed, log_level="ERROR", log_sys_usage=False)  # no GPU monitor (nor its warning)
        .reporting(metrics_num_episodes_for_smoothing=20)
    )


def select_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The finite, useful entries of an ``Algorithm.train()`` result, under short names (for MLflow)."""
    chosen: dict[str, float] = {}
    for key, value in flatten(result).items():
        short = M.short_training_name(key)
        if short is not None and isinstance(value, int | float) and math.isfinite(value):
            chosen[short] = float(value)
    return chosen


def ray_address(address: str | None) -> str:
    """The address :func:`init_ray` connects to: ``address``, else ``$RAY_ADDRESS`` (set by ``ray job submit``),
    else ``"local"`` — a new local instance, never whatever cluster ``/tmp/ray/ray_current_cluster`` recorded (a stale
    record would make a plain ``ray.init()`` try to join a dead cluster and hang)."""
    return address or os.environ.get("RAY_ADDRESS") or "local"


def local_cpus(cfg: TrainConfig | None) -> int | None:
    """The logical CPUs of a local Ray started for ``cfg``: None (Ray counts the machine's) unless ``cfg`` runs
    policy iteration, whose labelling tasks (1 CPU each) run while the env runners (1 CPU each) sit idle — then at
    least 1 (a Tune trial's own bundle) + ``num_env_runners + labelling_workers``, so that the tasks are not queued
    forever behind idle env runners on a machine with no more cores than env runners (the two never compute at the
    same time)."""
    if cfg is None or cfg.teacher is None:
        return None
    return max(os.cpu_count() or 1, cfg.cpus)


def init_ray(address: str | None, cfg: TrainConfig | None = None, min_cpus: int = 0) -> None:
    """Connect to :func:`ray_address` unless already connected; a new local Ray gets :func:`local_cpus` CPUs, and at
    least ``min_cpus`` (a Tune trial's bundles, so that one trial fits a machine with fewer cores)."""
    if not ray.is_initialized():
        target = ray_address(address)
        cpus = local_cpus(cfg) if target == "local" else None
        if target == "local" and min_cpus > (cpus or os.cpu_count() or 1):
            cpus = min_cpus
        ray.init(address=target, num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)


def build_algorithm(cfg: TrainConfig, tracker: MlflowTracker, restore_from: Path | None = None, verbose: bool = True):
    """Build the PPO Algorithm; restore it from a checkpoint, or else load ``cfg.init_checkpoint``'s network and/or
    warm-start it and run the policy-iteration rounds, as configured."""
    resumed_at = read_metadata(restore_from)["iteration"] if restore_from is not None else 0
    algo = build_ppo_config(cfg, resumed_at).build_algo()
    if restore_from is not None:
        algo.restore_from_path(str(Path(restore_from).resolve()))
        return algo
    if cfg.init_checkpoint is not None:
        load_initial_weights(algo, cfg)
    stages = (
        (cfg.warm_start, warm_start_algorithm, f"warm start from {cfg.warm_start}"),
        (cfg.teacher, policy_iteration, f"{cfg.policy_iterations} policy iteration(s) by {cfg.teacher}"),
    )
    for wanted, stage, label in stages:
        if wanted:
            stats = stage(algo, cfg)
            tracker.log_metrics(stats, step=0)
            if verbose:
                print(f"{label}: " + ", ".join(f"{k}={v:.3f}" for k, v in stats.items()))
    return algo
