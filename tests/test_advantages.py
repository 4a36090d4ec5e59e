"""Input-driven baselines (scale_rllib.learner.advantages / input_driven) on hand-computed groups, the env's shared
inputs, and a real PPO iteration with the learner's GAE piece replaced."""

from __future__ import annotations

import numpy as np
import pytest

from scale_rllib import EnvConfig, SchedulingEnv, TrainConfig
from scale_rllib.learner.advantages import differential_rewards, group_advantages, returns_to_go
from scale_rllib.metrics import INFO_INPUT_ID as INPUT_ID
from scale_rllib.metrics import INFO_TIME_S as TIME_S

# Episode A: decisions at 0 and 1 s, end at 3 s, rewards −1, −2 → returns-to-go −3, −2 (then 0 at the end).
# Episode B: decisions at 0 and 2 s, end at 4 s, rewards −2, −2 → returns-to-go −4, −2.
TIMES = [np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0, 4.0])]
REWARDS = [np.array([-1.0, -2.0]), np.array([-2.0, -2.0])]


def test_group_advantage_is_return_minus_the_groups_return_at_the_same_time():
    a, b = group_advantages(TIMES, REWARDS, gamma=1.0)
    # A at 0 s: −3 − mean(−3, −4) = 0.5; at 1 s: B's return-to-go is −3 (halfway from −4 at 0 s to −2 at 2 s),
    # so −2 − mean(−2, −3) = 0.5. B at 0 s: −4 + 3.5 = −0.5; at 2 s: A's is −1 (halfway from −2 at 1 s to 0 at 3 s),
    # so −2 − mean(−1, −2) = −0.5.
    np.testing.assert_allclose(a, [0.5, 0.5])
    np.testing.assert_allclose(b, [-0.5, -0.5])


def test_discounting_and_average_reward_returns():
    np.testing.assert_allclose(returns_to_go(np.array([1.0, 1.0, 1.0]), 0.5), [1.75, 1.5, 1.0])
    # ρ̄ = (−3 − 4) / (3 + 4) = −1 per second: every reward is exactly ρ̄ × its time step, so nothing is left.
    diff = differential_rewards(TIMES, REWARDS)
    np.testing.assert_allclose(np.concatenate(diff), 0.0, atol=1e-12)
    assert all(np.allclose(adv, 0.0) for adv in group_advantages(TIMES, diff, gamma=1.0))


def test_a_group_needs_two_episodes_with_matching_lengths():
    with pytest.raises(ValueError, match="≥ 2 episodes"):
        group_advantages(TIMES[:1], REWARDS[:1], 1.0)
    with pytest.raises(ValueError, match="one entry per decision"):
        group_advantages([TIMES[0][:2], TIMES[1]], REWARDS, 1.0)


class _Context(dict):
    """What RLlib hands an env: the config plus the env runner's index."""

    worker_index = 3


def test_envs_of_one_runner_share_their_inputs_and_differ_only_by_actions():
    cfg = EnvConfig(servers_range=(6, 12), workflows_per_server=1, shared_inputs=True, input_seed=7).to_dict()
    envs = [SchedulingEnv(_Context(cfg)) for _ in range(2)]
    firsts = [env.reset(seed=seed) for env, seed in zip(envs, (0, 99), strict=True)]  # RLlib seeds them differently
    (obs_a, info_a), (obs_b, info_b) = firsts
    assert info_a[INPUT_ID] == info_b[INPUT_ID] and info_a[TIME_S] == 0.0
    np.testing.assert_array_equal(obs_a["servers"], obs_b["servers"])
    sims = [env.sim for env in envs]
    assert sims[0].cluster.num_servers == sims[1].cluster.num_servers
    np.testing.assert_array_equal(sims[0].arrival_s, sims[1].arrival_s)
    lengths = []
    for env, pick in zip(envs, (lambda m: 0, lambda m: int(np.flatnonzero(m)[-1])), strict=True):
        done, steps = False, 0
        obs = env._observation()
        while not done:
            obs, _, done, _, info = env.step(pick(obs["action_mask"]))
            steps += 1
        lengths.append(steps)
        assert info[TIME_S] == env.sim.now_s > 0
    assert lengths[0] == lengths[1]  # one decision per task: the same input gives the same episode length
    assert envs[0].sim.response_times_s().mean() != envs[1].sim.response_times_s().mean()  # other actions
    second = [env.reset()[1][INPUT_ID] for env in envs]
    assert second[0] == second[1] != info_a[INPUT_ID]  # the next episode: a new input, shared again


def test_input_driven_training_config_is_validated():
    from scale_rllib import ConfigError

    with pytest.raises(ConfigError, match="group_size.*--envs-per-runner 4"):
        TrainConfig(advantage="input-driven", group_size=4, envs_per_runner=2)
    with pytest.raises(ConfigError, match="advantage"):
        TrainConfig(advantage="nope")


def test_a_ppo_iteration_with_input_driven_advantages(tmp_path):
    import ray

    from scale_rllib.learner.input_driven import InputDrivenAdvantageEstimation
    from scale_rllib.training import build_ppo_config, init_ray

    cfg = TrainConfig(
        env=EnvConfig(servers_range=(4, 6), num_workflows=3),
        num_env_runners=0,
        envs_per_runner=2,
        group_size=2,
        advantage="input-driven",
        returns="average-reward",
        train_batch_size=200,
        minibatch_size=100,
        num_epochs=1,
        embed_dim=16,
        num_heads=2,
    )
    init_ray(None)
    try:
        algo = build_ppo_config(cfg).build_algo()
        learner = algo.learner_group._learner
        piece = next(p for p in learner._learner_connector.connectors if isinstance(p, InputDrivenAdvantageEstimation))
        assert not any(type(p).__name__ == "GeneralAdvantageEstimation" for p in learner._learner_connector.connectors)
        result = algo.train()
        grouped, episodes = piece.last_grouped
        assert episodes >= 2 and grouped == episodes  # complete groups only: every episode got its group's baseline
        stats = result["learners"]["default_policy"]
        assert np.isfinite(stats["policy_loss"]) and np.isfinite(stats["vf_loss"])
        algo.stop()
    finally:
        ray.shutdown()
