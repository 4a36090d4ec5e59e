"""The heuristics for estimated runtimes (scale_rllib.schedulers.uncertain) on hand-computed states, and the
performance-model knobs (EnvConfig.model_forgetting, model_prior_count) reaching the model of an estimated-knowledge
episode."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.evaluation import EvalConfig
from scale_rllib.schedulers import make_scheduler
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.simulator import Simulator
from scale_rllib.validation import ConfigError
from tests.test_dws import chain


def two_servers(log_sd: tuple[float, float] | None) -> Simulator:
    """One 12-unit task, both servers free at 0: server 0 runs it in 10 s (speed 1.2), server 1 in 12 s (speed 1);
    ``log_sd``: the model's uncertainty of the task's kind on each server (None: oracle knowledge)."""
    cluster = Cluster.from_counts([(ServerType.from_kind_speeds("a", {}, default=1.2), 1),
                                   (ServerType.from_kind_speeds("b", {}, default=1.0), 1)])  # fmt: skip
    sim = Simulator(cluster, [chain("w", [12.0])], [0.0])
    assert sim.next_decision()
    if log_sd is not None:
        sim.exec_log_sd = np.tile(np.array(log_sd)[:, None], (1, cluster.speed.shape[1]))  # (N, K)
    return sim


@pytest.mark.parametrize(
    ("log_sd", "expected"),
    [
        (None, 0),  # oracle: EFT, 10 s < 12 s
        ((0.0, 0.0), 0),  # nothing uncertain: EFT
        ((0.0, 0.5), 1),  # 12 · e^−0.5 = 7.28 s < 10 s: try the uncertain server
        ((0.0, 0.15), 0),  # 12 · e^−0.15 = 10.33 s > 10 s: not uncertain enough
        ((0.1, 0.1), 0),  # the same uncertainty on both: 10 · e^−0.1 < 12 · e^−0.1
    ],
)
def test_optimistic_eft_scores_each_server_by_its_lower_confidence_bound(log_sd, expected) -> None:
    sim = two_servers(log_sd)
    ucb = make_scheduler("eft-ucb")
    finish = sim.start_times_s() + sim.exec_times_s() * np.exp(-ucb.kappa * np.asarray(log_sd or (0.0, 0.0)))
    assert ucb.select(None, sim) == int(np.argmin(finish)) == expected
    assert make_scheduler("eft").select(None, sim) == 0  # EFT ignores the uncertainty


def busy_and_idle() -> Simulator:
    """Server 0 (speed 1.2, 2 slots) runs a 60 s task from 0; a 12-unit task arrives at 0 and is the ready task:
    10 s on server 0 (beside the long one), 12 s on the idle server 1."""
    cluster = Cluster.from_counts([(ServerType.from_kind_speeds("a", {}, default=1.2, slots=2), 1),
                                   (ServerType.from_kind_speeds("b", {}, default=1.0), 1)])  # fmt: skip
    sim = Simulator(cluster, [chain("long", [72.0]), chain("w", [12.0])], [0.0, 0.0])
    assert sim.next_decision()
    sim.assign(0)
    assert sim.next_decision() and sim.task == 1
    return sim


def test_contention_aware_eft_charges_a_busy_server_its_assumed_slowdown() -> None:
    """:func:`busy_and_idle`. EFT: server 0 has a free slot, 10 s < 12 s on server 1. eft-contention:
    10 × 1.5 = 15 s > 12 s, so server 1; with the simulator's own interference (here none on server 1, 1.1 on
    server 0) it is EFT on those factors."""
    sim = busy_and_idle()
    assert make_scheduler("eft").select(None, sim) == 0
    contention = make_scheduler("eft-contention")
    assert contention.select(None, sim) == 1 and sim.interference is None  # decided, and left the simulator as it was
    sim.interference = np.array([1.1, 1.0])
    assert contention.select(None, sim) == 0  # 11 s < 12 s: the simulator's factors, not the assumed one


def test_the_optimism_edge_is_where_both_bounds_meet() -> None:
    """Server 1 wins exactly when 12 · e^(−κ sd) < 10, i.e. sd > ln(1.2) / κ."""
    ucb = make_scheduler("eft-ucb")
    edge = math.log(1.2) / ucb.kappa
    assert ucb.select(None, two_servers((0.0, edge * 0.99))) == 0
    assert ucb.select(None, two_servers((0.0, edge * 1.01))) == 1


@pytest.mark.parametrize(("forgetting", "count"), [(0.9, 1.0), (1.0, 0.25)])
def test_the_model_knobs_reach_the_performance_model(forgetting: float, count: float) -> None:
    cfg = EnvConfig.fixed(16, runtime_knowledge="estimated", profile_error=1.0, model_forgetting=forgetting,
                          model_prior_count=count)  # fmt: skip
    env = SchedulingEnv(cfg)
    env.reset(seed=3)
    prior = env.knowledge.model.prior
    assert (prior.forgetting, prior.pseudo_count) == (forgetting, count)
    assert EvalConfig(servers=(16,), runtime_knowledge="estimated", profile_error=1.0, model_forgetting=forgetting,
                      model_prior_count=count).env_config(16) == cfg  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"runtime_knowledge": "estimated", "model_forgetting": 0.0}, "model_forgetting"),
        ({"runtime_knowledge": "estimated", "model_forgetting": 1.5}, "model_forgetting"),
        ({"runtime_knowledge": "estimated", "model_prior_count": 0.0}, "model_prior_count"),
        ({"runtime_knowledge": "estimated", "model_prior_count": math.inf}, "model_prior_count"),
        ({"model_forgetting": 0.9}, "model_forgetting: configures the performance model"),
        ({"model_prior_count": 0.5}, "model_prior_count: configures the performance model"),
    ],
)
def test_bad_model_knobs_name_the_field(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EnvConfig(**fields)
