"""Tests of the list-scheduling heuristics and ``run_episode`` (docs/design.md)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.schedulers import make_scheduler, run_episode
from scale_rllib.schedulers.heuristics import (
    HEURISTICS,
    EFTScheduler,
    ESTScheduler,
    PEFTScheduler,
    RandomScheduler,
    RoundRobinScheduler,
)
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind, Workflow

LLM, TOOL = int(TaskKind.LLM), int(TaskKind.TOOL)
GPU = ServerType.from_kind_speeds("gpu", {"llm": 10.0})  # llm 10, everything else 1
CPU = ServerType.from_kind_speeds("cpu", {"llm": 1.0})  # speed 1 for every kind
FAST = ServerType("fast", (2.0,) * 5)
SLOW = ServerType("slow", (1.0,) * 5)


def single(work: float, kind: int, name: str = "w") -> Workflow:
    return Workflow.from_edges(name, ["t"], [kind], [work], [])


def fast_busy_slow_idle() -> Simulator:
    """GPU (server 0) busy until 2, CPU (server 1) idle; pending: an llm task of work 20 at t = 0.

    wf0 (llm 20) was put on the GPU: 20/10 = 2 s, [0, 2]. For wf1's llm 20 task:
    start = (2, 0), exec = (2, 20), EFT = (4, 20).
    """
    sim = Simulator(Cluster((GPU, CPU)), [single(20.0, LLM, "a"), single(20.0, LLM, "b")], [0.0, 0.0])
    assert sim.next_decision()
    sim.assign(0)
    assert sim.next_decision() and sim.task == 1
    return sim


def peft_lookahead_state() -> Simulator:
    """FAST (speed 2, server 0) busy until 1.5, SLOW (speed 1, server 1) idle; pending task a of a → b.

    wf0 (tool 3) on FAST: 3/2 = 1.5 s. wf1: a (tool 2) → b (tool 2). For a at t = 0:
    start = (1.5, 0), exec = (1, 2), EFT = (2.5, 2).
    Fastest times: a 1, b 1, so a's remaining path is 2 and its downstream part 2 − 1 = 1.
    PEFT score = EFT + 1 · max speed / speed = (2.5 + 1·2/2, 2 + 1·2/1) = (3.5, 4).
    """
    chain = Workflow.from_edges("chain", ["a", "b"], [TOOL, TOOL], [2.0, 2.0], [("a", "b")])
    sim = Simulator(Cluster((FAST, SLOW)), [single(3.0, TOOL), chain], [0.0, 0.0])
    assert sim.next_decision()
    sim.assign(0)
    assert sim.next_decision() and sim.task == 1
    return sim


# ---------------------------------------------------------------------------------------------------- choices
def test_est_and_eft_disagree_fast_busy_vs_slow_idle() -> None:
    sim = fast_busy_slow_idle()
    assert sim.start_times_s() == pytest.approx([2.0, 0.0])
    assert sim.earliest_finish_times_s() == pytest.approx([4.0, 20.0])
    assert ESTScheduler().select(None, sim) == 1  # the idle CPU starts first (at 0 vs 2)
    assert EFTScheduler().select(None, sim) == 0  # but the GPU finishes first (4 vs 20)
    assert PEFTScheduler().select(None, sim) == 0  # no children: PEFT = EFT
    # Heuristics only read the state.
    assert sim.task == 1 and sim.decisions == 1


def test_peft_lookahead_differs_from_eft() -> None:
    sim = peft_lookahead_state()
    assert sim.earliest_finish_times_s() == pytest.approx([2.5, 2.0])
    assert sim.task_critical_path_s[sim.task] == pytest.approx(2.0)
    assert sim.task_fastest_s[sim.task] == pytest.approx(1.0)
    assert ESTScheduler().select(None, sim) == 1
    assert EFTScheduler().select(None, sim) == 1
    assert PEFTScheduler().select(None, sim) == 0  # 3.5 < 4


def test_ties_break_to_lowest_index() -> None:
    sim = Simulator(Cluster((SLOW, SLOW, SLOW)), [single(1.0, TOOL)], [0.0])
    assert sim.next_decision()
    for cls in (ESTScheduler, EFTScheduler, PEFTScheduler):
        assert cls().select(None, sim) == 0


def test_round_robin_cycles() -> None:
    sim = Simulator(Cluster((SLOW,) * 3), [single(1.0, TOOL)], [0.0])
    rr = RoundRobinScheduler()
    rr.reset(0)
    assert [rr.select(None, sim) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    rr.reset(1)  # a new episode starts over at server 0
    assert [rr.select(None, sim) for _ in range(4)] == [0, 1, 2, 0]


def test_random_is_seeded_and_in_range() -> None:
    sim = Simulator(Cluster((SLOW,) * 5), [single(1.0, TOOL)], [0.0])
    rand = RandomScheduler()

    def draws(seed: int) -> list[int]:
        rand.reset(seed)
        return [rand.select(None, sim) for _ in range(200)]

    first = draws(3)
    assert draws(3) == first
    assert set(first) == {0, 1, 2, 3, 4}  # in range, and all servers used in 200 draws
    assert draws(4) != first


def test_make_scheduler() -> None:
    assert set(HEURISTICS) == {"random", "round-robin", "est", "eft", "peft"}
    for name, cls in HEURISTICS.items():
        scheduler = make_scheduler(name)
        assert isinstance(scheduler, cls) and scheduler.name == name
    assert make_scheduler("eft") is not make_scheduler("eft")  # fresh instances
    with pytest.raises(ValueError, match="nope") as err:
        make_scheduler("nope")
    for name in HEURISTICS:
        assert name in str(err.value)


# ---------------------------------------------------------------------------------------------------- episodes
@pytest.mark.parametrize("name", sorted(HEURISTICS))
def test_run_episode_is_deterministic(name: str) -> None:
    env = SchedulingEnv({"servers_range": (6, 6), "num_workflows": 15})
    a = run_episode(env, make_scheduler(name), seed=7)
    b = run_episode(env, make_scheduler(name), seed=7)
    assert dataclasses.replace(a, wall_time_s=0.0) == dataclasses.replace(b, wall_time_s=0.0)
    assert (a.scheduler, a.servers, a.load, a.seed) == (name, 6, 0.7, 7)
    assert a.decisions == sum(w.num_tasks for w in env.sim.workflows)
    assert a.mean_response_time_s >= a.lower_bound_s > 0
    assert a.mean_response_time_s == pytest.approx(env.sim.response_times_s().mean())


def test_run_episode_servers_option() -> None:
    env = SchedulingEnv({"servers_range": (4, 8), "max_servers": 16, "num_workflows": 5})
    assert run_episode(env, make_scheduler("eft"), seed=0, servers=12).servers == 12


def test_run_episode_rejects_invalid_server() -> None:
    class Bad:
        name = "bad"

        def reset(self, seed: int) -> None:
            pass

        def select(self, observation, sim) -> int:
            return sim.cluster.num_servers

    env = SchedulingEnv({"servers_range": (3, 3), "num_workflows": 2})
    with pytest.raises(ValueError, match="invalid action"):
        run_episode(env, Bad(), seed=0)


def test_eft_beats_random_and_round_robin_on_agentic_default() -> None:
    env = SchedulingEnv({"servers_range": (16, 16), "load": 0.7})
    mean = {}
    for name in ("eft", "random", "round-robin"):
        results = [run_episode(env, make_scheduler(name), seed=seed, servers=16) for seed in (0, 1)]
        assert all(r.servers == 16 for r in results)
        mean[name] = np.mean([r.mean_response_time_s for r in results])
    assert mean["eft"] < mean["random"]
    assert mean["eft"] < mean["round-robin"]
