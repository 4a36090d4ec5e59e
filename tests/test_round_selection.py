"""Selecting the warm start's best round on validation episodes (DAgger's "best policy on validation")."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import observation_space
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.models.scale_module import ScaleRLModule
from scale_rllib.schedulers.base import run_episode
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.training.selection import RoundSelector, validation_ratio
from scale_rllib.training.warm_start import dagger

ENV = EnvConfig(servers_range=(5, 6), num_workflows=6, load=0.9)


def _module(seed: int) -> ScaleRLModule:
    torch.manual_seed(seed)
    return ScaleRLModule(
        observation_space=observation_space(6),
        action_space=gym.spaces.Discrete(6),
        model_config={"embed_dim": 32, "num_heads": 2},
    )


def test_validation_ratio_is_the_mean_of_the_episodes_response_time_over_their_bound():
    torch.set_num_threads(1)
    module, env = _module(0), SchedulingEnv(ENV)
    by_hand = []
    for seed in (7, 8):
        r = run_episode(env, PolicyScheduler(module), seed)
        by_hand.append(r.mean_response_time_s / r.lower_bound_s)
    assert validation_ratio(module, ENV, range(7, 9)) == pytest.approx(np.mean(by_hand), rel=1e-12)
    assert module.training  # handed back ready to clone on


def test_the_selector_restores_the_weights_of_the_lowest_score():
    torch.set_num_threads(1)
    seeds = range(20, 22)
    candidates = [_module(s) for s in range(3)]
    scores = [validation_ratio(m, ENV, seeds) for m in candidates]
    assert len(set(scores)) == 3  # three different networks, else the choice would prove little
    selector, target = RoundSelector(ENV, seeds), _module(9)
    for m in candidates:
        target.load_state_dict(m.state_dict())  # the module trained in place, round after round
        selector.offer(target)
    stats = selector.restore(target)
    best = int(np.argmin(scores))
    assert stats["selected_round"] == best and stats["validation_ratio"] == pytest.approx(scores[best])
    assert [stats[f"validation_ratio_round_{r}"] for r in range(3)] == pytest.approx(scores)
    for name, value in candidates[best].state_dict().items():
        torch.testing.assert_close(target.state_dict()[name], value)
    with pytest.raises(RuntimeError, match="no round"):
        RoundSelector(ENV, seeds).restore(target)


def test_dagger_with_selection_ends_on_its_best_round():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    module = _module(0)
    stats = dagger(module, ENV, "eft", episodes=2, gamma=0.99, seed=1, epochs=3, rounds=2, select_episodes=2)
    scores = [stats[f"validation_ratio_round_{r}"] for r in range(3)]
    assert stats["selected_round"] == int(np.argmin(scores))
    # the validation seeds follow the cloning ones (1 … 6), so rescoring the final weights gives the selected score
    assert validation_ratio(module, ENV, range(7, 9)) == pytest.approx(min(scores), rel=1e-12)


def test_dagger_scores_its_rounds_at_the_selection_load():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    module = _module(0)
    stats = dagger(module, ENV, "eft", 2, 0.99, seed=1, epochs=3, rounds=1, select_episodes=2, select_load=0.5)
    seeds = range(5, 7)  # after the cloning episodes 1 … 4
    at_select_load = validation_ratio(module, dataclasses.replace(ENV, load=0.5), seeds)
    assert at_select_load == pytest.approx(stats["validation_ratio"], rel=1e-12)
    assert validation_ratio(module, ENV, seeds) != pytest.approx(at_select_load, rel=1e-6)  # the load matters here


def test_selection_needs_a_warm_start():
    from scale_rllib import ConfigError, TrainConfig

    assert TrainConfig(warm_start="eft", warm_start_select_episodes=8).warm_start_select_episodes == 8
    with pytest.raises(ConfigError, match="warm_start_select_episodes: picks among the rounds"):
        TrainConfig(warm_start_select_episodes=8)
    with pytest.raises(ConfigError, match="warm_start_select_episodes: must be ≥ 0"):
        TrainConfig(warm_start="eft", warm_start_select_episodes=-1)
    assert TrainConfig(warm_start="eft", warm_start_select_episodes=8, warm_start_select_load=0.85)
    with pytest.raises(ConfigError, match="warm_start_select_load: is the load of the validation episodes"):
        TrainConfig(warm_start="eft", warm_start_select_load=0.85)
    with pytest.raises(ConfigError, match=r"warm_start_select_load: offered load must be in \(0, 1.5\], got 0.0"):
        TrainConfig(warm_start="eft", warm_start_select_episodes=8, warm_start_select_load=0.0)
