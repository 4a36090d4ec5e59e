"""Policy iteration with the network as its own teacher: self-rollout labels, labelling jobs, a training round."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from scale_rllib import EnvConfig, SchedulingEnv, TrainConfig
from scale_rllib.env.observation import observation_space
from scale_rllib.models.scale_module import ScaleRLModule
from scale_rllib.schedulers.self_rollout import NetworkPolicy, SelfRolloutScheduler
from scale_rllib.training.config import CLONE_LR
from scale_rllib.training.policy_iteration import LabelJob, check_labelling_cpus, label, split_episodes
from scale_rllib.training.ppo import local_cpus
from tests.scripts import load_benchmark

SMALL = EnvConfig(servers_range=(3, 5), max_servers=8, num_workflows=4)


def _module(max_servers: int, seed: int = 0) -> ScaleRLModule:
    torch.manual_seed(seed)
    space = observation_space(max_servers)
    return ScaleRLModule(observation_space=space, action_space=gym.spaces.Discrete(max_servers),
                         model_config={"embed_dim": 16, "num_heads": 2})  # fmt: skip


def _finish_with_network(sim, server: int, network: NetworkPolicy, known: int = 0) -> float:
    """The cost of ``server`` computed directly: fork, assign, let the network finish the in-system workflows and
    the ``known`` next arrivals."""
    in_system = np.flatnonzero(np.isnan(sim.completion_s) & (sim.arrival_s <= sim.now_s))
    future = np.flatnonzero(sim.arrival_s > sim.now_s)  # arrival times increase with the index
    to_come = future[:known]
    fork = sim.fork(future_arrivals=False, known_arrivals=known)
    fork.assign(server)
    while fork.next_decision():
        fork.assign(int(network.choose_batch([fork])[0]))  # the network's greedy choice, one fork at a time
    assert np.isnan(fork.completion_s[future[known:]]).all()  # never arrived
    return float(fork.completion_s[in_system].sum() + fork.completion_s[to_come].sum())


@pytest.mark.parametrize("known", [0, 2])
def test_a_self_rollout_label_is_the_cheapest_of_the_networks_candidates(known):
    env = SchedulingEnv(SMALL)
    obs, _ = env.reset(seed=3)
    module = _module(8)
    teacher = SelfRolloutScheduler(module, candidates=8, known_arrivals=known)
    assert teacher.name == ("self-rollout+2" if known else "self-rollout")  # its name in evaluation tables
    checked = 0
    while checked < 6:  # several decisions of one episode, each against a direct computation
        n = env.sim.cluster.num_servers
        costs = [_finish_with_network(env.sim, s, teacher.base, known) for s in range(n)]
        logits = teacher.base.logits(obs, env.sim)
        best = min(costs)
        ties = [s for s in range(n) if costs[s] == best]
        expected = max(ties, key=lambda s: (logits[s], -s))  # ties: the network's more likely server
        assert teacher.select(obs, env.sim) == expected
        obs, _, done, _, _ = env.step(expected)
        checked += 1
        assert not done


def test_labels_are_always_real_servers_never_padding():
    module = _module(SMALL.max_servers)
    weights = {k: v.numpy() for k, v in module.state_dict().items()}
    demos, info = label(LabelJob(weights, dict(module.model_config), SMALL.to_dict(), 0, 2, 0.99, 3))
    valid = demos.obs["action_mask"][np.arange(len(demos.actions)), demos.actions]
    assert len(demos.actions) > 10 and (valid == 1.0).all()
    assert (demos.obs["action_mask"].sum(axis=1) < SMALL.max_servers).all()  # the episodes did have padding
    assert 0.0 <= info["changed"] <= 1.0 and info["wall_time_s"] > 0


def test_episodes_are_split_into_consecutive_seeds_per_worker():
    assert split_episodes(100, 5, 2) == [(100, 3), (103, 2)]
    assert split_episodes(7, 1, 3) == [(7, 1)]


def test_policy_iteration_needs_its_teacher():
    from scale_rllib import ConfigError

    with pytest.raises(ConfigError, match="--teacher self-rollout"):
        TrainConfig(policy_iterations=2)
    with pytest.raises(ConfigError, match="labelling_workers"):
        TrainConfig(teacher="self-rollout", policy_iterations=1, labelling_workers=0)
    for lr in (0.0, 1.0, float("nan")):
        with pytest.raises(ConfigError, match="policy_iteration_lr: must be in"):
            TrainConfig(teacher="self-rollout", policy_iterations=1, policy_iteration_lr=lr)


def test_labelling_needs_a_cpu_the_env_runners_leave_free():
    """Env runners hold their CPU for their lifetime, so on a cluster with no more CPUs than env runners the
    labelling tasks could never start: that is an error naming the field, not a silent wait."""
    from scale_rllib import ConfigError

    cfg = TrainConfig(teacher="self-rollout", policy_iterations=1, num_env_runners=2, labelling_workers=2)
    check_labelling_cpus(3.0, cfg)
    with pytest.raises(ConfigError, match="labelling_workers: the Ray cluster has 2 CPUs and the 2 env runners"):
        check_labelling_cpus(2.0, cfg)
    assert local_cpus(TrainConfig()) is None  # no policy iteration: Ray counts the machine's CPUs


def test_a_training_run_with_a_policy_iteration_round(tmp_path, tracking_uri, monkeypatch):
    """On a 2-core machine (``os.cpu_count`` patched) with 2 env runners, the local Ray that ``train`` starts counts
    the labelling workers too (the env runners idle while they label), so the round runs instead of waiting forever
    behind the env runners' CPUs."""
    import ray
    from mlflow.tracking import MlflowClient

    from scale_rllib import metrics as M
    from scale_rllib.training import policy_iteration as pi
    from scale_rllib.training import train

    cfg = TrainConfig(
        env=EnvConfig(servers_range=(3, 5), num_workflows=3),
        iterations=1,
        num_env_runners=2,
        envs_per_runner=1,
        train_batch_size=128,
        minibatch_size=64,
        num_epochs=1,
        embed_dim=16,
        num_heads=2,
        teacher="self-rollout",
        policy_iterations=1,
        policy_iteration_episodes=2,
        labelling_workers=2,
        warm_start_epochs=2,
        policy_iteration_lr=5e-4,
    )
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    distilled = []  # the distillation runs in the local learner, in this process
    clone = pi.behaviour_clone

    def recording_clone(*args, **kwargs):
        distilled.append((kwargs["lr"], kwargs["epochs"]))
        return clone(*args, **kwargs)

    monkeypatch.setattr(pi, "behaviour_clone", recording_clone)
    assert local_cpus(cfg) == 5  # 1 + 2 env runners + 2 labelling workers
    try:
        result = train(cfg, tmp_path / "run", progress=False)
        assert ray.cluster_resources()["CPU"] == 5
    finally:
        ray.shutdown()
    assert (tmp_path / "run" / "warm_start_checkpoint" / "scale_rllib.json").is_file()  # the network before PPO
    assert distilled == [(5e-4, 2)]  # one round, at --policy-iteration-lr, --warm-start-epochs passes
    metrics = MlflowClient(tracking_uri).get_run(result.mlflow_run_id).data.metrics
    assert metrics[M.POLICY_ITERATION_PREFIX + "samples"] > 0 and 0 <= metrics[M.POLICY_ITERATION_PREFIX + "changed"]
    assert metrics[M.POLICY_ITERATION_PREFIX + "nodes"] == 1  # one machine here; tests/test_ray_cluster.py: two


def test_a_tune_trial_runs_its_policy_iteration_in_its_own_placement_group(tmp_path):
    """A sweep whose base run has a teacher reserves the labelling workers' bundles in each trial's placement group
    and labels there; before, the tasks asked for CPUs outside it and, on a small machine, never started."""
    import ray
    import yaml
    from mlflow.tracking import MlflowClient

    from scale_rllib import metrics as M
    from scale_rllib.tuning import run_sweep
    from scale_rllib.tuning.config import SweepConfig

    values = yaml.safe_load((Path(__file__).resolve().parents[1] / "tune_configs" / "smoke.yaml").read_text())
    values["train"] |= {"iterations": 1, "teacher": "self-rollout", "policy_iterations": 1,
                        "policy_iteration_episodes": 2, "labelling_workers": 2, "warm_start_epochs": 1}  # fmt: skip
    values |= {"lambda_dec": [0.0], "name": "pi-smoke"}
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    try:
        result = run_sweep(SweepConfig.from_dict(values), tmp_path / "tune", mlflow_uri=uri)
    finally:
        ray.shutdown()
    (trial,) = result.table
    assert trial["error"] is None and result.best_checkpoint is not None, trial
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("pi-smoke").experiment_id
    (run,) = client.search_runs([experiment], f"tags.{M.TAG_JOB} = 'tune-trial'")
    assert run.data.metrics[M.POLICY_ITERATION_PREFIX + "samples"] > 0


def test_the_quickstart_benchmark_distils_its_round_at_the_requested_lr():
    bench = load_benchmark("quickstart_recipes")
    args = argparse.Namespace(policy_iterations=1, policy_iteration_episodes=4, policy_iteration_lr=1e-4)
    with_pi = bench.train_config("clone+pi", 3, args)
    clone = bench.train_config("clone", 3, args)
    assert (with_pi.teacher, with_pi.policy_iteration_lr, with_pi.seed) == ("self-rollout", 1e-4, 3)
    assert (clone.teacher, clone.policy_iterations, clone.policy_iteration_lr) == (None, 0, CLONE_LR)
    assert clone.warm_start == with_pi.warm_start == "peft-rollout"
