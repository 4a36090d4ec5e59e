"""The serving stacks' load-balancing routers: outstanding-request counts are kept by the simulator, power-of-two
picks the less loaded of two random servers, least-outstanding the least loaded; both ignore speeds."""

from __future__ import annotations

import numpy as np

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.schedulers import make_scheduler, run_episode
from scale_rllib.schedulers.routers import LeastOutstandingScheduler, PowerOfTwoScheduler
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.simulator import Simulator
from tests.test_dws import chain


def busy_sim() -> Simulator:
    """Four 1-slot servers; 6 single-task workflows at t = 0, the first five placed on servers 0, 0, 1, 1, 2."""
    cpu = ServerType.from_kind_speeds("cpu", {}, default=1.0)
    sim = Simulator(Cluster.from_counts([(cpu, 4)]), [chain(f"w{i}", [5.0]) for i in range(6)], [0.0] * 6)
    for server in (0, 0, 1, 1, 2):
        assert sim.next_decision()
        sim.assign(server)
    assert sim.next_decision()
    return sim


def test_outstanding_counts_follow_assignments_and_completions() -> None:
    sim = busy_sim()
    assert sim.outstanding.tolist() == [2, 2, 1, 0]
    sim.assign(3)
    assert not sim.next_decision()
    assert sim.outstanding.tolist() == [0, 0, 0, 0]


def test_least_outstanding_and_power_of_two() -> None:
    sim = busy_sim()
    assert LeastOutstandingScheduler().select(None, sim) == 3
    router = PowerOfTwoScheduler()
    for seed in range(40):
        router.reset(seed)
        first, second = np.random.default_rng([seed, 0x2C40]).choice(4, size=2, replace=False)
        choice = router.select(None, sim)
        assert choice in (first, second)
        assert sim.outstanding[choice] == min(sim.outstanding[first], sim.outstanding[second])


def test_routers_ignore_speed_and_lose_to_eft_on_a_heterogeneous_cluster() -> None:
    def rt(name: str) -> float:
        return run_episode(SchedulingEnv(EnvConfig.fixed(16)), make_scheduler(name), 2).mean_response_time_s

    eft = rt("eft")
    assert rt("power-of-two") > 1.5 * eft and rt("least-outstanding") > 1.5 * eft
