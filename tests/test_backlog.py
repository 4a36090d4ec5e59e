"""The backlog task features (``EnvConfig.observe_backlog``, docs/design.md §3): hand-computed on a diamond DAG, and
how evaluations and policies with and without them fit together."""

from __future__ import annotations

import dataclasses
import math

import gymnasium as gym
import numpy as np
import pytest

from scale_rllib.cli import build_parser
from scale_rllib.cli.train import config_from_args
from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import (
    BACKLOG_FEATURES,
    TASK_FEATURES,
    ObservationSpec,
    backlog_features,
    encode,
    observation_space,
)
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.evaluation.run import evaluate
from scale_rllib.evaluation.scenarios import EvalConfig
from scale_rllib.models.scale_module import ScaleRLModule
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.schedulers.self_rollout import SelfRolloutScheduler
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind, Workflow
from scale_rllib.training.config import TrainConfig
from scale_rllib.training.init_checkpoint import initial_weights
from scale_rllib.validation import ConfigError

LLM, TOOL = int(TaskKind.LLM), int(TaskKind.TOOL)
#: llm 10×, every other kind at speed 1.
GPU = ServerType.from_kind_speeds("gpu", {"llm": 10.0})
#: llm 1, tool 2.
CPU = ServerType.from_kind_speeds("cpu", {"llm": 1.0, "tool": 2.0})
TAU_S = 2.0


def diamond_and_a_later_tool() -> Simulator:
    """a → b, a → c, b → d, c → d (a: llm 10, b: tool 4, c: llm 30, d: llm 10) at t = 0; a tool task at t = 100.

    Fastest execution times: a 10/10 = 1 s, b 4/2 = 2 s, c 30/10 = 3 s, d 10/10 = 1 s. Capacity in fastest-server
    slots: llm 1 + 1/10 = 1.1, tool 1/2 + 1 = 1.5.
    """
    diamond = Workflow.from_edges(
        "diamond", ["a", "b", "c", "d"], [LLM, TOOL, LLM, LLM], [10.0, 4.0, 30.0, 10.0],
        [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
    )  # fmt: skip
    later = Workflow.from_edges("later", ["t"], [TOOL], [4.0], [])
    return Simulator(Cluster((GPU, CPU)), [diamond, later], [0.0, 100.0])


def test_backlog_features_equal_hand_computed_values_on_a_diamond() -> None:
    sim = diamond_and_a_later_tool()
    assert sim.next_decision()  # a (llm) at t = 0: pending llm 1 + 3 + 1 = 5 s, tool 2 s; the later tool not arrived
    llm, tool = 5 / 1.1, 2 / 1.5
    expected = [math.log1p(llm / TAU_S), math.log1p((llm + tool) / TAU_S), 0.0]
    assert backlog_features(sim, TAU_S) == pytest.approx(expected, rel=1e-6)
    sim.assign(0)  # a on the GPU: [0, 1]
    assert sim.next_decision() and sim.now_s == 1.0  # b (tool): a is no longer pending; nothing committed after t = 1
    llm, tool = 4 / 1.1, 2 / 1.5
    expected = [math.log1p(tool / TAU_S), math.log1p((llm + tool) / TAU_S), 0.0]
    assert backlog_features(sim, TAU_S) == pytest.approx(expected, rel=1e-6)
    sim.assign(1)  # b on the CPU: 4 / 2 = 2 s, [1, 3]
    assert sim.next_decision()  # c (llm) at t = 1: pending c, d (llm 4 s); the CPU's slot is busy 2 s of 2 slots
    expected = [math.log1p(4 / 1.1 / TAU_S), math.log1p(4 / 1.1 / TAU_S), math.log1p(2 / 2 / TAU_S)]
    assert backlog_features(sim, TAU_S) == pytest.approx(expected, rel=1e-6)


def test_encode_appends_the_backlog_after_the_unchanged_task_features() -> None:
    sim = diamond_and_a_later_tool()
    sim.next_decision()
    plain, with_backlog = encode(sim, 4, TAU_S), encode(sim, 4, TAU_S, ObservationSpec(backlog=True))
    assert with_backlog["task"].shape == (len(TASK_FEATURES) + len(BACKLOG_FEATURES),)
    np.testing.assert_array_equal(with_backlog["task"][: len(TASK_FEATURES)], plain["task"])
    np.testing.assert_array_equal(with_backlog["task"][len(TASK_FEATURES) :], backlog_features(sim, TAU_S))
    np.testing.assert_array_equal(with_backlog["servers"], plain["servers"])
    assert observation_space(4, ObservationSpec(backlog=True)).contains(with_backlog)


def test_env_observes_the_backlog_only_when_asked_and_its_other_features_are_unchanged() -> None:
    cfg = EnvConfig(servers_range=(6, 6), workflows_per_server=2, load=0.85)
    plain, backlog = SchedulingEnv(cfg), SchedulingEnv(EnvConfig(**cfg.to_dict() | {"observe_backlog": True}))
    (a, _), (b, _) = plain.reset(seed=1), backlog.reset(seed=1)
    positive = 0
    for _ in range(40):
        assert backlog.observation_space.contains(b)
        np.testing.assert_array_equal(b["task"][: len(TASK_FEATURES)], a["task"])
        positive += int(b["task"][len(TASK_FEATURES)] > 0)
        (a, *_), (b, *_) = plain.step(0), backlog.step(0)
    assert positive > 0  # the ready task's kind has pending work at some decision


def untrained(with_backlog: bool) -> PolicyScheduler:
    """A greedy policy of an untrained network for N_max = 8, reading the backlog or not."""
    space = observation_space(8, ObservationSpec(backlog=with_backlog))
    model_config = {"embed_dim": 32, "num_heads": 2}
    module = ScaleRLModule(observation_space=space, action_space=gym.spaces.Discrete(8), model_config=model_config)
    return PolicyScheduler(module, "backlog" if with_backlog else "plain")


def test_the_self_rollout_of_a_backlog_network_gets_the_backlog_in_an_evaluation() -> None:
    teacher = SelfRolloutScheduler(untrained(True).module, candidates=2)  # ranks candidates on the env's observation
    cfg = EvalConfig(servers=(6,), episodes=1, workflows_per_server=1, schedulers=("eft",))
    rows = evaluate(cfg, [teacher]).results
    assert sorted(r["scheduler"] for r in rows) == ["eft", "self-rollout"]
    assert all(math.isfinite(r["mean_response_time_s"]) for r in rows)


def test_an_evaluation_with_a_backlog_policy_runs_every_policy_and_a_plain_env_refuses_it() -> None:
    plain, backlog = untrained(False), untrained(True)
    cfg = EvalConfig(servers=(6,), episodes=1, workflows_per_server=2, schedulers=("eft",))
    rows = evaluate(cfg, [plain, backlog]).results
    assert sorted(r["scheduler"] for r in rows) == ["backlog", "eft", "plain"]
    alone = evaluate(cfg, [plain]).results  # the plain policy decides the same without the extra features
    assert [r["mean_response_time_s"] for r in rows if r["scheduler"] == "plain"] == [
        r["mean_response_time_s"] for r in alone if r["scheduler"] == "plain"
    ]
    env = SchedulingEnv(EnvConfig(servers_range=(6, 6), max_servers=8))
    observation, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match="reads 16 task features, the env gives 13: it was trained with observe_b"):
        backlog.select(observation, env.sim)


def test_train_flag_sets_the_env_and_an_init_checkpoint_must_match_it(tmp_path) -> None:
    args = build_parser().parse_args(["train", "--output", str(tmp_path / "run"), "--observe-backlog"])
    cfg = config_from_args(args)
    assert cfg.env.observe_backlog and SchedulingEnv(cfg.env).observation_space["task"].shape == (16,)
    path = tmp_path / "plain"
    untrained(False).module.save_to_path(str(path))
    with pytest.raises(ConfigError, match="init_checkpoint: .* differ in observing the backlog"):
        initial_weights(dataclasses.replace(cfg, init_checkpoint=str(path)))
    assert initial_weights(TrainConfig(init_checkpoint=str(path), embed_dim=32, num_heads=2)).keys()
