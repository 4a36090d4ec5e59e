"""Tests of the gymnasium env (docs/design.md, "The MDP") and the embedded agentic generator (docs/workloads.md)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import SERVER_FEATURES, TASK_FEATURES
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.sim.workflow import NUM_KINDS, TaskKind
from scale_rllib.workloads.generators.agentic import AgenticWorkload

#: Small episodes keep every test well under a second.
SMALL = {"servers_range": (4, 4), "num_workflows": 12}


def run(env: SchedulingEnv, seed: int, action_seed: int = 0, options: dict | None = None):
    """One episode with uniformly random valid actions; returns (observations, rewards, final info, reset info)."""
    rng = np.random.default_rng(action_seed)
    obs, reset_info = env.reset(seed=seed, options=options)
    n = reset_info["servers"]
    observations, rewards = [obs], []
    terminated = False
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(n)))
        assert not truncated
        observations.append(obs)
        rewards.append(reward)
    return observations, rewards, info, reset_info


def snapshot(env: SchedulingEnv) -> tuple:
    sim = env.sim
    return (
        sim.task,
        sim.decisions,
        sim.now_s,
        sim.area_s,
        sim.slot_free_s.copy(),
        sim.task_server.copy(),
        sim.busy_work_s.copy(),
        env._last_area,
    )


def assert_same_snapshot(a: tuple, b: tuple) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------------------------------------------- API
def test_check_env_passes_without_warnings() -> None:
    env = SchedulingEnv({"servers_range": (6, 6), "num_workflows": 10})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium's checker reports soft problems as warnings
        check_env(env, skip_render_check=True)


def test_same_seed_same_actions_identical_and_other_seed_differs() -> None:
    env = SchedulingEnv(dict(SMALL, servers_range=(3, 8)))
    obs_a, rew_a, info_a, reset_a = run(env, seed=11)
    obs_b, rew_b, info_b, reset_b = run(env, seed=11)
    assert reset_a == reset_b
    assert len(obs_a) == len(obs_b)
    for x, y in zip(obs_a, obs_b):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    assert rew_a == rew_b
    assert info_a["total_response_time_s"] == info_b["total_response_time_s"]
    assert info_a["mean_response_time_s"] == info_b["mean_response_time_s"]
    assert info_a["mean_lower_bound_s"] == info_b["mean_lower_bound_s"]
    _, rew_c, info_c, _ = run(env, seed=12)
    assert info_c["mean_lower_bound_s"] != info_a["mean_lower_bound_s"]  # other workflows
    assert rew_c != rew_a


@pytest.mark.parametrize("reward_scale_s", [7.5, None])
def test_return_equals_minus_total_response_time_over_scale(reward_scale_s: float | None) -> None:
    env = SchedulingEnv(dict(SMALL, reward_scale_s=reward_scale_s))
    for seed in (0, 1):
        _, rewards, info, _ = run(env, seed=seed, action_seed=seed)
        rt = env.sim.response_times_s()
        assert np.all(np.isfinite(rt)) and len(rt) == SMALL["num_workflows"]
        assert info["total_response_time_s"] == pytest.approx(rt.sum())
        assert info["mean_response_time_s"] == pytest.approx(rt.mean())
        scale = reward_scale_s if reward_scale_s is not None else env.sim.critical_path_s.mean()
        assert sum(rewards) == pytest.approx(-rt.sum() / scale, rel=1e-9)
        assert all(r <= 0 for r in rewards)
        assert len(rewards) == env.sim.decisions == sum(w.num_tasks for w in env.sim.workflows)


# ---------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("action", [5, 15, -1, 2.5, np.float64(1.5)])
def test_invalid_action_raises_and_leaves_state_unchanged(action) -> None:
    env = SchedulingEnv({"servers_range": (5, 5), "max_servers": 16, "num_workflows": 6})
    obs, _ = env.reset(seed=0)
    env.step(0)  # one decision in, so the state is not the initial one
    before = snapshot(env)
    with pytest.raises(ValueError, match="invalid action"):
        env.step(action)
    assert_same_snapshot(before, snapshot(env))
    # The same task is still pending; the episode goes on with a valid action (numpy integers are fine).
    pending = env.sim.task
    env.step(np.int64(4))
    assert env.sim.decisions == 2 and env.sim.task_server[pending] == 4


def test_step_after_termination_and_before_reset_raises() -> None:
    env = SchedulingEnv(SMALL)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    *_, info, _ = run(env, seed=3)
    assert "total_response_time_s" in info
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=3)  # usable again
    env.step(0)


# ---------------------------------------------------------------------------------------------------- N
@pytest.mark.parametrize("n", [1, 3, 9, 16])
def test_reset_option_fixes_servers(n: int) -> None:
    env = SchedulingEnv({"servers_range": (4, 8), "max_servers": 16, "num_workflows": 5})
    obs, info = env.reset(seed=0, options={"servers": n})
    assert info["servers"] == n == env.sim.cluster.num_servers
    assert obs["action_mask"].sum() == n
    np.testing.assert_array_equal(obs["action_mask"], [1.0] * n + [0.0] * (16 - n))
    obs, _, _, _, info = env.step(n - 1)
    assert info["servers"] == n and obs["action_mask"].sum() == n


def test_reset_option_outside_max_servers_raises() -> None:
    env = SchedulingEnv({"servers_range": (4, 8), "max_servers": 16, "num_workflows": 5})
    for n in (0, 17):
        with pytest.raises(ValueError, match="servers"):
            env.reset(seed=0, options={"servers": n})


def test_randomized_n_stays_in_range() -> None:
    env = SchedulingEnv({"servers_range": (3, 6), "max_servers": 10, "num_workflows": 2})
    seen = set()
    for seed in range(40):
        obs, info = env.reset(seed=seed)
        n = info["servers"]
        assert 3 <= n <= 6
        assert env.sim.cluster.num_servers == n and obs["action_mask"].sum() == n
        seen.add(n)
    assert seen == {3, 4, 5, 6}


def test_workflows_per_server_sets_episode_length() -> None:
    env = SchedulingEnv({"servers_range": (5, 5), "workflows_per_server": 2.0})
    env.reset(seed=0)
    assert len(env.sim.workflows) == 10  # round(2.0 × 5)


# ---------------------------------------------------------------------------------------------------- features
def test_features_finite_and_in_space_padded_n5_max16() -> None:
    env = SchedulingEnv({"servers_range": (5, 5), "max_servers": 16, "num_workflows": 20})
    space = env.observation_space
    observations, _, _, _ = run(env, seed=5, action_seed=5)
    assert len(observations) > 20
    for obs in observations:
        assert space.contains(obs)
        assert obs["servers"].shape == (16, len(SERVER_FEATURES))
        assert obs["task"].shape == (len(TASK_FEATURES),)
        for value in obs.values():
            assert np.all(np.isfinite(value))
        np.testing.assert_array_equal(obs["action_mask"], [1.0] * 5 + [0.0] * 11)
        assert not obs["servers"][5:].any()  # padding rows are zero
    for obs in observations[:-1]:  # real decisions: the kind one-hot has exactly one 1
        assert obs["task"][:NUM_KINDS].sum() == 1.0
        assert obs["servers"][:5, SERVER_FEATURES.index("is_min_eft")].max() == 1.0
        assert obs["servers"][:5, SERVER_FEATURES.index("speed_over_fastest")].max() == pytest.approx(1.0)


def test_file_workload(shared_data) -> None:
    directory = shared_data / "wfinstances" / "pegasus" / "srasearch"
    env = SchedulingEnv(
        {"workload": f"wfinstances:{directory}", "max_tasks": 100, "num_workflows": 3, "servers_range": (4, 4)}
    )
    observations, rewards, info, _ = run(env, seed=0)
    sim = env.sim
    assert len(sim.workflows) == 3
    assert all(w.num_tasks <= 100 for w in sim.workflows)
    assert len(rewards) == sim.decisions == sum(w.num_tasks for w in sim.workflows)
    assert all(env.observation_space.contains(o) for o in observations)
    rt = sim.response_times_s()
    assert np.all(rt >= sim.lower_bound_s - 1e-6)
    assert info["mean_lower_bound_s"] == pytest.approx(sim.lower_bound_s.mean())
    # The reward's time unit is the mean critical path (the lower bound adds capacity terms for wide workflows).
    assert sum(rewards) == pytest.approx(-rt.sum() / sim.critical_path_s.mean(), rel=1e-9)


# ---------------------------------------------------------------------------------------------------- generator
def test_agentic_generator_workflows_are_valid() -> None:
    workflows = AgenticWorkload().sample(np.random.default_rng(0), 300)
    shapes = set()
    for wf in workflows:
        assert wf.num_tasks >= 2
        assert len(wf.topo_order) == wf.num_tasks
        assert sorted(wf.topo_order.tolist()) == list(range(wf.num_tasks))
        position = {int(t): i for i, t in enumerate(wf.topo_order)}
        for t in range(wf.num_tasks):
            assert all(position[p] < position[t] for p in wf.parents[t])  # parents first: acyclic
        assert set(wf.kinds.tolist()) <= {int(k) for k in TaskKind}
        assert np.all(wf.work > 0) and np.all(np.isfinite(wf.work))
        shapes.add(wf.name.split("-")[0])
    assert shapes == {"chain", "fanout", "reflect", "mapreduce"}


def test_agentic_generator_is_deterministic_given_seed() -> None:
    a = AgenticWorkload().sample(np.random.default_rng(42), 50)
    b = AgenticWorkload().sample(np.random.default_rng(42), 50)
    c = AgenticWorkload().sample(np.random.default_rng(43), 50)
    for x, y in zip(a, b):
        assert x.name == y.name and x.parents == y.parents
        np.testing.assert_array_equal(x.kinds, y.kinds)
        np.testing.assert_array_equal(x.work, y.work)
    assert any(not np.array_equal(x.work, z.work) for x, z in zip(a, c))  # another seed, other workflows


def test_agentic_mean_work_by_kind_is_positive_where_used() -> None:
    mean = AgenticWorkload().mean_work_by_kind()
    assert mean.shape == (NUM_KINDS,)
    assert np.all(mean[[TaskKind.LLM, TaskKind.TOOL, TaskKind.RETRIEVAL, TaskKind.CODE]] > 0)
    assert mean[TaskKind.COMPUTE] == 0.0


def test_env_config_rejects_too_small_padding() -> None:
    with pytest.raises(ValueError, match="max_servers"):
        EnvConfig(servers_range=(4, 20), max_servers=16)


def test_vector_env_survives_episodes_of_different_lengths_ending_together() -> None:
    """Regression: a per-workflow array in the final info crashed gymnasium's vector env (shapes (60,) vs (48,))
    when two sub-envs with different workflow counts ended in the same step — it killed a training's env runner."""
    import gymnasium as gym

    configs = [dict(SMALL, num_workflows=3), dict(SMALL, num_workflows=5)]
    vec = gym.vector.SyncVectorEnv([lambda c=c: SchedulingEnv(c) for c in configs])
    vec.reset(seed=0)
    ended_together = False
    for _ in range(10_000):
        _, _, terminated, _, info = vec.step(np.zeros(2, dtype=np.int64))
        ended_together |= bool(terminated.all())
        for key in ("mean_response_time_s", "total_response_time_s"):
            if key in info:
                assert info[key].shape == (2,)
        if ended_together:
            break
    assert ended_together
