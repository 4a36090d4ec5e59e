"""Approximate policy iteration with the network as its own teacher (docs/design.md, "Policy iteration").

Each round: the current network acts greedily on new training episodes; a self-rollout
(:class:`~scale_rllib.schedulers.self_rollout.SelfRolloutScheduler`: the network's top candidates, each finished by
the network in a simulator fork) labels every state it visits; the network is distilled on all labels so far
(cross-entropy + value regression + the SRR terms, as the warm start; dataset aggregation as in DAgger). The labelling
runs as Ray tasks, one per chunk of episodes, so it spreads over every node of the cluster (Bertsekas 2019, ch. 5,
"approximate policy iteration"; Anthony, Tian & Barber, NeurIPS 2017, "expert iteration").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import ray
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.util.placement_group import get_current_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from scale_rllib import metrics as M
from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import observation_space
from scale_rllib.models.scale_module import ScaleRLModule
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.schedulers.self_rollout import SelfRolloutScheduler
from scale_rllib.training.warm_start import Demonstrations, behaviour_clone, collect_demonstrations
from scale_rllib.validation import require


@dataclass(frozen=True)
class LabelJob:
    """One labelling task: the network's weights and which episodes to run.

    Attributes:
        weights: The module's ``state_dict`` as numpy arrays.
        model_config: The module's model config.
        env_config: The training episodes' config (dict).
        seed: Seed of the first episode; the job runs ``episodes`` consecutive seeds.
        episodes: Episodes to label.
        gamma: Discount of the returns-to-go recorded with the labels.
        candidates: Servers the self-rollout tries per decision.
        known_arrivals: Future workflows the self-rollout's forks see.
    """

    weights: dict[str, np.ndarray]
    model_config: dict
    env_config: dict
    seed: int
    episodes: int
    gamma: float
    candidates: int
    known_arrivals: int = 0


def label(job: LabelJob) -> tuple[Demonstrations, dict[str, float]]:
    """Run a :class:`LabelJob` in this process: the network acts, the self-rollout labels.

    Returns:
        The labelled decisions, and ``node_id`` / ``wall_time_s`` / ``changed`` (the fraction of labels that differ
        from the network's own choice) of the job.
    """
    torch.set_num_threads(1)
    start = time.perf_counter()
    env_config = EnvConfig.from_dict(job.env_config)
    space = observation_space(env_config.max_servers, env_config.observation_spec)
    module = ScaleRLModule(
        observation_space=space, action_space=gym.spaces.Discrete(env_config.max_servers), model_config=job.model_config
    )
    module.load_state_dict({k: torch.from_numpy(v) for k, v in job.weights.items()})
    teacher = SelfRolloutScheduler(module, job.candidates, job.known_arrivals)
    student = PolicyScheduler(module, "student")
    demos = collect_demonstrations(env_config, teacher, job.episodes, job.gamma, job.seed, actor=student)
    own = [student.select({k: v[i] for k, v in demos.obs.items()}, None) for i in range(len(demos.actions))]
    info = {
        "node_id": ray.get_runtime_context().get_node_id() if ray.is_initialized() else "",
        "wall_time_s": time.perf_counter() - start,
        "changed": float(np.mean(np.asarray(own) != demos.actions)) if len(own) else 0.0,
    }
    return demos, info


@ray.remote(num_cpus=1)
def _label_task(job: LabelJob) -> tuple[Demonstrations, dict[str, float]]:
    return label(job)


def labelling_placement() -> tuple[Any, float]:
    """Where the labelling tasks run, and the CPUs there that the trial or driver does not hold: inside a Tune trial,
    the trial's placement group (it reserves the labelling workers' bundles, :mod:`scale_rllib.tuning.sweep`) and its
    bundles but the trial's own; elsewhere spread over the cluster's nodes, and the cluster's CPUs."""
    group = get_current_placement_group()
    if group is None:
        return "SPREAD", ray.cluster_resources().get("CPU", 0.0)
    return PlacementGroupSchedulingStrategy(group), len(group.bundle_specs) - 1.0


def label_in_parallel(jobs: list[LabelJob], strategy: Any = "SPREAD") -> list[tuple[Demonstrations, dict[str, float]]]:
    """Every job as a Ray task (1 CPU each, placed by ``strategy``: :func:`labelling_placement`); results in job
    order."""
    task = _label_task.options(scheduling_strategy=strategy)
    return ray.get([task.remote(job) for job in jobs])


def split_episodes(seed: int, episodes: int, workers: int) -> list[tuple[int, int]]:
    """(first seed, count) of each worker's consecutive share of ``episodes`` episodes from ``seed`` (no empty one)."""
    counts = [episodes // workers + (1 if i < episodes % workers else 0) for i in range(workers)]
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
    return [(seed + int(s), c) for s, c in zip(starts, counts, strict=True) if c > 0]


def _weights(module: ScaleRLModule) -> tuple[dict[str, np.ndarray], dict]:
    """The module's weights (numpy) and model config."""
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}, dict(module.model_config)


def _on_learner(algo, fn):
    """``fn(module)`` on the learner's module (in its process), its result."""
    return next(iter(algo.learner_group.foreach_learner(lambda learner: fn(learner.module[DEFAULT_MODULE_ID])))).get()


def check_labelling_cpus(cluster_cpus: float, cfg) -> None:
    """Fail instead of waiting forever: the labelling tasks need 1 CPU that the env runners (1 CPU each, held for
    their lifetime) leave free on the cluster (``cluster_cpus``: the cluster's CPUs, or inside a Tune trial its
    placement group's, of which the trial itself holds one).

    Raises:
        ConfigError: ``cluster_cpus − num_env_runners < 1`` (names ``labelling_workers``).
    """
    free = cluster_cpus - cfg.num_env_runners
    require(free >= 1, "labelling_workers",
            f"the Ray cluster has {cluster_cpus:g} CPUs and the {cfg.num_env_runners} env runners hold "
            f"{cfg.num_env_runners}, so no labelling task (1 CPU) could ever start: add a node, lower "
            "--num-env-runners, or let `train` start its own local Ray (it counts the labelling workers)")  # fmt: skip


def policy_iteration(algo, cfg) -> dict[str, float]:
    """``cfg.policy_iterations`` rounds of label-and-distill on the learner's module; the result is pushed to the
    env runners.

    Args:
        algo: A built PPO Algorithm (one local learner).
        cfg: The run's :class:`~scale_rllib.training.config.TrainConfig`.

    Returns:
        The last round's statistics, keyed ``policy_iteration/<name>``: cloning accuracy and losses, ``samples``,
        ``changed`` (labels that differ from the network's choice), ``nodes`` (distinct nodes that labelled) and
        ``round_time_s``.

    Raises:
        ConfigError: the cluster has no CPU left for a labelling task (:func:`check_labelling_cpus`).
    """
    strategy, cpus = labelling_placement()
    check_labelling_cpus(cpus, cfg)
    demos: Demonstrations | None = None
    stats: dict[str, float] = {}
    env = cfg.env.to_dict()
    for r in range(cfg.policy_iterations):
        start = time.perf_counter()
        weights, model_config = _on_learner(algo, _weights)
        first = cfg.seed + 1_000_000 * (r + 1)  # episodes unseen by the warm start and by earlier rounds
        jobs = [
            LabelJob(weights, model_config, env, s, n, cfg.gamma, cfg.rollout_candidates, cfg.rollout_known_arrivals)
            for s, n in split_episodes(first, cfg.policy_iteration_episodes, cfg.labelling_workers)
        ]
        results = label_in_parallel(jobs, strategy)
        for new, _ in results:
            demos = new if demos is None else demos + new
        stats = _on_learner(
            algo,
            lambda module, data=demos, round_=r: behaviour_clone(
                module, data, epochs=cfg.warm_start_epochs, lr=cfg.policy_iteration_lr, seed=cfg.seed + round_,
                lambda_dec=cfg.lambda_dec, lambda_kl=cfg.lambda_kl,
            ),
        )  # fmt: skip
        stats |= {
            "samples": float(len(demos.actions)),
            "changed": float(np.mean([info["changed"] for _, info in results])),
            "nodes": float(len({info["node_id"] for _, info in results})),
            "round_time_s": time.perf_counter() - start,
        }
    algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)
    return {f"{M.POLICY_ITERATION_PREFIX}{k}": v for k, v in stats.items()}
