"""Cost-sensitive cloning of a rollout teacher: labels from its fork costs, the partial-label loss and its weights."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import observation_space
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.models.scale_module import ScaleRLModule
from scale_rllib.schedulers.heuristics import EFTScheduler
from scale_rllib.schedulers.rollout import EFTRolloutScheduler, interchangeable, rollout_cost
from scale_rllib.training.warm_start import (
    behaviour_clone,
    collect_demonstrations,
    costed_label,
    imitation_loss,
    stake_weights,
)

ENV = EnvConfig(servers_range=(5, 6), num_workflows=6, load=0.9)


def test_the_partial_label_loss_is_the_weighted_log_probability_of_the_optimal_set():
    logits = torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, -1.0]])
    optimal = torch.tensor([[True, True, False], [False, False, True]])
    weights = torch.tensor([1.0, 3.0])
    p = torch.softmax(logits, -1)
    expected = -(1.0 * torch.log(p[0, 0] + p[0, 1]) + 3.0 * torch.log(p[1, 2])) / 4.0
    loss, hits = imitation_loss(logits, torch.tensor([1, 2]), (optimal, weights))
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    assert hits == 0  # the argmaxes (2 and 0) are outside both optimal sets
    loss, hits = imitation_loss(logits, torch.tensor([2, 0]))  # plain cross-entropy on the teacher's action
    assert float(loss) == pytest.approx(float(-(torch.log(p[0, 2]) + torch.log(p[1, 0])) / 2), rel=1e-6)
    assert hits == 2


def test_stake_weights_average_one_with_half_the_mean_as_a_floor():
    np.testing.assert_allclose(stake_weights(np.array([0.0, 2.0, 4.0])), [0.5, 1.0, 1.5])
    np.testing.assert_array_equal(stake_weights(np.zeros(3)), np.ones(3))


def test_idle_servers_of_one_type_are_interchangeable():
    env = SchedulingEnv(EnvConfig(servers_range=(6, 6), num_workflows=4))
    env.reset(seed=0)
    sim = env.sim
    speed = sim.cluster.speed
    for s in range(sim.cluster.num_servers):  # nothing runs yet: same type, same EFT, same free slots
        np.testing.assert_array_equal(interchangeable(sim, s), (speed == speed[s]).all(axis=1))


def test_a_costed_label_marks_every_server_as_cheap_as_the_cheapest_fork_computed_by_hand():
    env = SchedulingEnv(ENV)
    obs, _ = env.reset(seed=4)
    teacher, eft = EFTRolloutScheduler(), EFTScheduler()
    spread_seen, done = 0, False
    while not done:
        sim = env.view
        action, optimal, stake = costed_label(teacher, obs, sim)
        servers, _ = teacher.fork_costs(obs, sim)
        assert action == teacher.select(obs, sim) and optimal[action]
        if len(servers) > 1:
            in_system = sim.in_system_workflows()
            costs = np.array([rollout_cost(sim, int(s), in_system, eft) for s in servers])  # the Python forks
            expected = np.zeros_like(optimal)
            for s in servers[np.isclose(costs, costs.min(), rtol=0.0, atol=1e-6)]:
                expected[: sim.cluster.num_servers] |= interchangeable(sim, int(s))
            np.testing.assert_array_equal(optimal, expected)
            assert stake == pytest.approx(costs.max() - costs.min(), abs=1e-6)
            spread_seen += stake > 0
        else:
            assert stake == 0.0
        assert not optimal[obs["action_mask"] == 0].any()  # never an invalid server
        obs, _, done, _, _ = env.step(action)
    assert spread_seen > 0  # some decisions had a dearer fork, else the test would prove little


def test_cost_sensitive_demonstrations_aggregate_and_clone():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    first = collect_demonstrations(ENV, "eft-rollout", episodes=3, gamma=0.99, seed=1, cost_sensitive=True)
    more = collect_demonstrations(ENV, "eft-rollout", episodes=3, gamma=0.99, seed=4, cost_sensitive=True)
    demos = first + more
    n = len(demos.actions)
    assert demos.optimal.shape == (n, 6) and demos.stakes.shape == (n,)
    assert demos.optimal[np.arange(n), demos.actions].all()
    one = collect_demonstrations(ENV, "eft-rollout", episodes=1, gamma=0.99, seed=1, cost_sensitive=True)
    assert one.stakes.mean() == pytest.approx(1.0)  # stakes over their episode's mean: every episode weighs alike
    np.testing.assert_array_equal(first.stakes[: len(one.stakes)], one.stakes)  # the same first episode
    module = ScaleRLModule(
        observation_space=observation_space(6),
        action_space=gym.spaces.Discrete(6),
        model_config={"embed_dim": 32, "num_heads": 2},
    )
    stats = behaviour_clone(module, demos, epochs=15, batch_size=64, lr=3e-3)
    assert stats["accuracy"] > 0.85  # the argmax lands in the optimal set (chance: about 0.3)


def test_cost_sensitive_labels_need_a_rollout_teacher():
    from scale_rllib import ConfigError, TrainConfig

    with pytest.raises(ValueError, match="rollout teacher"):
        collect_demonstrations(ENV, "eft", episodes=1, gamma=1.0, cost_sensitive=True)
    assert TrainConfig(warm_start="peft-rollout-2", warm_start_cost_sensitive=True).warm_start_cost_sensitive
    for teacher in ("eft", None):
        with pytest.raises(ConfigError, match="warm_start_cost_sensitive: needs --warm-start with a rollout"):
            TrainConfig(warm_start=teacher, warm_start_cost_sensitive=True)
