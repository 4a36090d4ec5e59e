"""The EFT warm start: demonstrations are the teacher's real decisions, and cloning learns them."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import observation_space
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.models.scale_module import ScaleRLModule
from scale_rllib.training.warm_start import behaviour_clone, collect_demonstrations

ENV = EnvConfig(servers_range=(4, 6), num_workflows=6)


def test_demonstrations_are_the_teachers_decisions_and_returns():
    demos = collect_demonstrations(ENV, "eft", episodes=2, gamma=1.0, seed=5)
    n = len(demos.actions)
    assert demos.obs["servers"].shape == (n, 6, demos.obs["servers"].shape[2])
    # every action is a real server and is the min-EFT one (feature column 6 = is_min_eft)
    rows = np.arange(n)
    assert np.all(demos.obs["action_mask"][rows, demos.actions] == 1.0)
    assert np.all(demos.obs["servers"][rows, demos.actions, 6] == 1.0)
    # with gamma = 1 the first return of episode 0 is its whole return: -sum(RT) / mean lower bound
    env = SchedulingEnv(ENV)
    env.reset(seed=5)
    sim, done = env.sim, False
    from scale_rllib.schedulers.heuristics import EFTScheduler

    teacher = EFTScheduler()
    while not done:
        _, _, done, _, info = env.step(teacher.select(None, sim))
    expected = -info["total_response_time_s"] / sim.critical_path_s.mean()  # the reward's time unit
    assert demos.returns[0] == pytest.approx(expected, rel=1e-4)


def test_behaviour_cloning_learns_eft():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    demos = collect_demonstrations(ENV, "eft", episodes=6, gamma=0.99, seed=1)
    module = ScaleRLModule(
        observation_space=observation_space(6),
        action_space=gym.spaces.Discrete(6),
        model_config={"embed_dim": 32, "num_heads": 2},
    )
    stats = behaviour_clone(module, demos, epochs=15, batch_size=64, lr=3e-3)
    # is_min_eft is an input feature, so EFT is learnable almost exactly; chance level is ~1/5
    assert stats["accuracy"] > 0.9
    assert np.isfinite(stats["value_mse"])


def test_dagger_labels_the_students_states_with_the_teacher():
    from scale_rllib.schedulers.heuristics import RandomScheduler

    teacher_run = collect_demonstrations(ENV, "eft", episodes=2, gamma=1.0, seed=3)
    student_run = collect_demonstrations(ENV, "eft", episodes=2, gamma=1.0, seed=3, actor=RandomScheduler())
    rows = np.arange(len(student_run.actions))
    # labels are still the teacher's (min-EFT) choices, but on the random student's states, whose return is worse
    assert np.all(student_run.obs["servers"][rows, student_run.actions, 6] == 1.0)
    assert student_run.returns[0] < teacher_run.returns[0]
    both = teacher_run + student_run
    assert len(both.actions) == len(teacher_run.actions) + len(student_run.actions)
    assert both.obs["servers"].shape[0] == len(both.actions)


def test_dagger_rounds_add_labelled_episodes_and_clone_the_teacher():
    from scale_rllib.training.warm_start import dagger

    torch.manual_seed(0)
    torch.set_num_threads(1)
    module = ScaleRLModule(
        observation_space=observation_space(6),
        action_space=gym.spaces.Discrete(6),
        model_config={"embed_dim": 32, "num_heads": 2},
    )
    one_round = len(collect_demonstrations(ENV, "eft", episodes=3, gamma=0.99, seed=1).actions)
    stats = dagger(module, ENV, "eft", episodes=3, gamma=0.99, seed=1, epochs=10, rounds=1)
    assert stats["samples"] > one_round  # the second round's episodes were added
    assert stats["accuracy"] > 0.85


def test_warm_start_teachers_are_validated():
    from scale_rllib import ConfigError, TrainConfig

    assert TrainConfig(warm_start="eft-rollout").warm_start == "eft-rollout"
    assert TrainConfig(warm_start="eft-contention").warm_start == "eft-contention"
    with pytest.raises(ConfigError, match="warm_start"):
        TrainConfig(warm_start="random")
    with pytest.raises(ConfigError, match="warm_start_dagger_rounds"):
        TrainConfig(warm_start="eft", warm_start_dagger_rounds=-1)


def test_srr_terms_in_the_cloning_loss_shape_the_attention_feature():
    from ray.rllib.core.columns import Columns

    from scale_rllib.learner.srr import srr_losses
    from scale_rllib.models.scale_module import SRR_FEATURE

    demos = collect_demonstrations(ENV, "eft", episodes=4, gamma=0.99, seed=2)
    obs = {k: torch.from_numpy(v) for k, v in demos.obs.items()}
    losses = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        module = ScaleRLModule(
            observation_space=observation_space(6),
            action_space=gym.spaces.Discrete(6),
            model_config={"embed_dim": 32, "num_heads": 2},
        )
        behaviour_clone(module, demos, epochs=8, batch_size=64, lr=3e-3, lambda_dec=weight, lambda_kl=weight)
        with torch.no_grad():
            z = module._forward_train({Columns.OBS: obs})[SRR_FEATURE]
        stats = srr_losses(z)
        losses[weight] = (float(stats.decorrelation), float(stats.kl))
    assert losses[1.0][0] < losses[0.0][0] and losses[1.0][1] < losses[0.0][1]


def test_a_privileged_teacher_labels_with_the_truth_while_the_student_sees_the_estimates():
    """With a wrong profile, every label is EFT on the true simulator (the engine) and every stored observation the
    estimated view's; some labels differ from EFT on the estimates (else the test would prove nothing)."""
    cfg = EnvConfig(servers_range=(6, 6), num_workflows=12, runtime_knowledge="estimated", profile_error=1.0)
    demos = collect_demonstrations(cfg, "eft", episodes=1, gamma=1.0, seed=3, privileged=True)
    env = SchedulingEnv(cfg)
    obs, _ = env.reset(seed=3)
    disagreements = 0
    for i, label in enumerate(demos.actions):
        np.testing.assert_array_equal(demos.obs["servers"][i], obs["servers"])
        truth = int(np.argmin(env.sim.earliest_finish_times_s()))
        assert label == truth
        disagreements += truth != int(np.argmin(env.view.earliest_finish_times_s()))
        obs, _, done, _, _ = env.step(truth)
    assert done and disagreements > 0


def test_a_privileged_teacher_needs_a_warm_start_and_estimated_knowledge():
    from scale_rllib import ConfigError, TrainConfig

    estimated = EnvConfig(runtime_knowledge="estimated")
    TrainConfig(env=estimated, warm_start="eft", warm_start_privileged=True)
    for env, teacher in ((ENV, "eft"), (estimated, None)):
        with pytest.raises(ConfigError, match="warm_start_privileged: needs --warm-start"):
            TrainConfig(env=env, warm_start=teacher, warm_start_privileged=True)
