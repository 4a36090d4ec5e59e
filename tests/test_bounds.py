"""The response-time lower bound (scale_rllib.sim.bounds) on hand-computed DAGs, and its validity: no schedule of any
scheduler on random workflows and clusters ever beats it."""

from __future__ import annotations

import numpy as np
import pytest

from scale_rllib.schedulers import SCHEDULERS, make_scheduler
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind, Workflow

LLM, TOOL, CODE = int(TaskKind.LLM), int(TaskKind.TOOL), int(TaskKind.CODE)
UNIT = ServerType.from_kind_speeds("unit", {})  # speed 1 for every kind, 1 slot
FAST = ServerType.from_kind_speeds("fast", {}, default=3.0)  # speed 3 for every kind


def fanout(width: int, work: float, kind: int = TOOL) -> Workflow:
    """``width`` independent tasks of ``work`` each."""
    ids = [f"t{i}" for i in range(width)]
    return Workflow.from_edges("fan", ids, [kind] * width, [work] * width, [])


def chain(works: list[float], kind: int = TOOL) -> Workflow:
    ids = [f"t{i}" for i in range(len(works))]
    return Workflow.from_edges("chain", ids, [kind] * len(works), works, list(zip(ids, ids[1:])))


def eft_response_time(workflow: Workflow, cluster: Cluster) -> float:
    sim = Simulator(cluster, [workflow], [0.0])
    eft = make_scheduler("eft")
    while sim.next_decision():
        sim.assign(eft.select(None, sim))
    return float(sim.response_times_s()[0])


def test_a_chain_is_bounded_by_its_critical_path():
    # chain 2 → 4 → 6 work units; the fast server (speed 3) runs it in 12 / 3 = 4 s; capacity: 12 / (1 + 3) = 3 s.
    sim = Simulator(Cluster.from_counts([(UNIT, 1), (FAST, 1)]), [chain([2.0, 4.0, 6.0])], [0.0])
    assert sim.critical_path_s[0] == pytest.approx(4.0) and sim.lower_bound_s[0] == pytest.approx(4.0)


def test_a_wide_workflow_is_bounded_by_the_capacity_of_its_kind_and_the_bound_is_tight():
    # 10 tool tasks of 2 units on 2 unit servers: critical path 2 s; kind capacity 20 / 2 = 10 s; EFT does 10 s.
    cluster = Cluster.from_counts([(UNIT, 2)])
    sim = Simulator(cluster, [fanout(10, 2.0)], [0.0])
    assert sim.critical_path_s[0] == pytest.approx(2.0)
    assert sim.lower_bound_s[0] == pytest.approx(10.0)
    assert eft_response_time(fanout(10, 2.0), cluster) == pytest.approx(10.0)


def test_on_heterogeneous_servers_the_kind_bound_counts_each_server_at_its_speed():
    # 8 tasks of 3 units on speeds 1 and 3: kind bound 24 / (1 + 3) = 6 s; the all-kinds bound is weaker:
    # Σ fastest times / slots = 8 × 1 / 2 = 4 s. The optimum puts 6 tasks on the fast server (6 s), 2 on the slow (6 s).
    cluster = Cluster.from_counts([(UNIT, 1), (FAST, 1)])
    sim = Simulator(cluster, [fanout(8, 3.0)], [0.0])
    assert sim.lower_bound_s[0] == pytest.approx(6.0)
    assert eft_response_time(fanout(8, 3.0), cluster) == pytest.approx(6.0)


def test_the_all_kinds_bound_binds_when_kinds_share_the_servers():
    # 4 llm + 4 code tasks of 1 unit on 2 unit servers: each kind alone needs 4 / 2 = 2 s, both together 8 / 2 = 4 s.
    ids = [f"t{i}" for i in range(8)]
    wf = Workflow.from_edges("mix", ids, [LLM] * 4 + [CODE] * 4, [1.0] * 8, [])
    sim = Simulator(Cluster.from_counts([(UNIT, 2)]), [wf], [0.0])
    assert sim.lower_bound_s[0] == pytest.approx(4.0)


def test_decode_work_is_bounded_by_the_decode_capacity():
    # one llm call: 100 prefill units at 100/s and 50 decode units at 5/s on either of 2 servers: alone it takes
    # 1 + 10 = 11 s (critical path); two parallel calls: decode capacity 100 / (2 × 5) = 10 s < 11 s; the bound is 11.
    gpu = ServerType.from_kind_speeds("gpu", {"llm": 100.0}, decode={"llm": 5.0})
    ids = ["a", "b"]
    wf = Workflow.from_edges("calls", ids, [LLM, LLM], [100.0, 100.0], [], decode_work=[50.0, 50.0])
    sim = Simulator(Cluster.from_counts([(gpu, 2)]), [wf], [0.0])
    assert sim.critical_path_s[0] == pytest.approx(11.0) and sim.lower_bound_s[0] == pytest.approx(11.0)
    # on one server: decode capacity 100 / 5 = 20 s, and all kinds together (11 + 11) / 1 slot = 22 s — what the
    # server takes to run them one after the other
    one = Simulator(Cluster.from_counts([(gpu, 1)]), [wf], [0.0])
    assert one.lower_bound_s[0] == pytest.approx(22.0)
    assert eft_response_time(wf, Cluster.from_counts([(gpu, 1)])) == pytest.approx(22.0)


def random_episode(
    seed: int,
    *,
    types: int = 3,
    max_count: int = 3,
    max_size: int = 29,
    edge_rate: float = 3.0,
    work: tuple[float, float] = (0.1, 10.0),
    gap_s: float = 2.0,
) -> tuple[Cluster, list[Workflow], np.ndarray]:
    """Random server types (1 … ``max_count`` servers each), six random DAGs of 1 … ``max_size`` tasks (an edge i → j
    with probability ``edge_rate`` / size), exponential arrival gaps of mean ``gap_s`` from t = 0."""
    rng = np.random.default_rng(seed)
    kinds = [
        ServerType.from_kind_speeds(f"s{i}", {"llm": rng.uniform(0.5, 8), "tool": rng.uniform(0.5, 3)},
                                    slots=int(rng.integers(1, 3)), default=rng.uniform(0.5, 2))
        for i in range(types)
    ]  # fmt: skip
    cluster = Cluster.from_counts([(t, int(rng.integers(1, max_count + 1))) for t in kinds])
    flows = []
    for w in range(6):
        size = int(rng.integers(1, max_size + 1))
        ids = [f"t{i}" for i in range(size)]
        edges = [(ids[i], ids[j]) for i in range(size) for j in range(i + 1, size) if rng.random() < edge_rate / size]
        task_kinds = rng.choice([LLM, TOOL, CODE], size=size)
        flows.append(Workflow.from_edges(f"w{w}", ids, task_kinds, rng.uniform(*work, size), edges))
    arrivals = np.cumsum(rng.exponential(gap_s, size=len(flows)))
    return cluster, flows, arrivals - arrivals[0]


@pytest.mark.parametrize("seed", range(12))
def test_no_scheduler_beats_the_lower_bound_on_random_workflows(seed):
    cluster, flows, arrivals = random_episode(seed)
    for name in ("random", "round-robin", "est", "eft", "peft"):
        assert name in SCHEDULERS
        sim = Simulator(cluster, flows, arrivals)
        scheduler = make_scheduler(name)
        scheduler.reset(seed)
        while sim.next_decision():
            sim.assign(scheduler.select(None, sim))
        assert np.all(sim.response_times_s() >= sim.lower_bound_s - 1e-9), name
        assert np.all(sim.lower_bound_s >= sim.critical_path_s)
