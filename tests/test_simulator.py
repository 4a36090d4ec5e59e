"""Tests of the discrete-event simulator and the cluster model (docs/design.md, "Simulator") on hand-built DAGs.

Every expected number is computed by hand in the comments: execution time = work / speed[kind],
start = max(data ready, earliest free slot of the server), FIFO and non-preemptive.
"""

from __future__ import annotations

import numpy as np
import pytest

from scale_rllib.schedulers.heuristics import EFTScheduler
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind, Workflow
from scale_rllib.workloads.base import ClusterProfile, poisson_arrivals
from scale_rllib.workloads.generators.agentic import AGENTIC_PROFILE, AgenticWorkload

LLM, TOOL = int(TaskKind.LLM), int(TaskKind.TOOL)

#: Speed 1 for every kind.
UNIT = ServerType.from_kind_speeds("unit", {})
#: llm 10×; every other kind at speed 1.
GPU = ServerType.from_kind_speeds("gpu", {"llm": 10.0})
#: llm and tool at speed 1 (other kinds default to 1 too).
CPU = ServerType.from_kind_speeds("cpu", {"llm": 1.0, "tool": 1.0})
#: CPU that runs tools twice as fast (for the diamond: the fastest server differs per kind).
CPU_FAST_TOOL = ServerType.from_kind_speeds("cpu2", {"llm": 1.0, "tool": 2.0})


# ---------------------------------------------------------------------------------------------------- helpers
def single(work: float, kind: int = TOOL, name: str = "w") -> Workflow:
    """A one-task workflow."""
    return Workflow.from_edges(name, ["t"], [kind], [work], [])


def diamond() -> Workflow:
    """a → b, a → c, b → d, c → d.  a: llm 10, b: tool 4, c: llm 30, d: llm 10 (work units)."""
    return Workflow.from_edges(
        "diamond",
        ["a", "b", "c", "d"],
        [LLM, TOOL, LLM, LLM],
        [10.0, 4.0, 30.0, 10.0],
        [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
    )


def local(sim: Simulator) -> tuple[int, int]:
    """(workflow index, task index inside its workflow) of the pending ready task."""
    wf = int(sim.task_workflow[sim.task])
    return wf, int(sim.task - sim.offset[wf])


def run_assignments(sim: Simulator, servers: list[int]) -> None:
    """Assign decisions in order to ``servers``; the episode must end exactly then."""
    for server in servers:
        assert sim.next_decision()
        sim.assign(server)
    assert not sim.next_decision()
    assert sim.done


# ---------------------------------------------------------------------------------------------------- (a)–(c)
def test_fifo_single_server_queues_second_workflow() -> None:
    # One speed-1 server with one slot. wf0 (work 4) arrives at 0: runs [0, 4]. wf1 (work 2) arrives at 1:
    # the server is busy until 4, so it runs [4, 6]. RT = 4 − 0 = 4 and 6 − 1 = 5.
    sim = Simulator(Cluster((UNIT,)), [single(4.0), single(2.0)], [0.0, 1.0])
    assert sim.next_decision() and local(sim) == (0, 0) and sim.now_s == 0.0
    assert sim.assign(0) == pytest.approx(4.0)
    assert sim.next_decision() and local(sim) == (1, 0) and sim.now_s == 1.0
    assert sim.start_times_s() == pytest.approx([4.0])
    assert sim.earliest_finish_times_s() == pytest.approx([6.0])
    assert sim.assign(0) == pytest.approx(6.0)
    assert not sim.next_decision()
    assert sim.response_times_s() == pytest.approx([4.0, 5.0])
    assert sim.area_s == pytest.approx(9.0)
    assert sim.busy_work_s == pytest.approx([6.0])


def test_two_slots_run_concurrently() -> None:
    # Same workflows, one server with 2 slots: wf1 takes the free slot at its arrival, runs [1, 3]. RT = 4 and 2.
    sim = Simulator(Cluster((ServerType("two", (1.0,) * 5, slots=2),)), [single(4.0), single(2.0)], [0.0, 1.0])
    assert sim.next_decision()
    sim.assign(0)
    assert sim.next_decision()
    assert sim.start_times_s() == pytest.approx([1.0])
    sim.assign(0)
    assert not sim.next_decision()
    assert sim.task_finish_s == pytest.approx([4.0, 3.0])
    assert sim.response_times_s() == pytest.approx([4.0, 2.0])


def test_two_slots_third_task_waits_for_first_free_slot() -> None:
    # 2 slots, three tasks at t=0 with work 4, 2, 1: slots run [0, 4] and [0, 2]; the third waits for the slot
    # freeing at 2 (the earliest) and runs [2, 3]. RT = 4, 2, 3.
    wfs = [single(4.0, name="a"), single(2.0, name="b"), single(1.0, name="c")]
    sim = Simulator(Cluster((ServerType("two", (1.0,) * 5, slots=2),)), wfs, [0.0, 0.0, 0.0])
    run_assignments(sim, [0, 0, 0])
    assert sim.response_times_s() == pytest.approx([4.0, 2.0, 3.0])


@pytest.mark.parametrize(("server", "expected_s"), [(0, 2.0), (1, 20.0)])
def test_heterogeneous_speed(server: int, expected_s: float) -> None:
    # llm task of work 20: 20 / 10 = 2 s on the GPU, 20 / 1 = 20 s on the CPU.
    sim = Simulator(Cluster((GPU, CPU)), [single(20.0, LLM)], [0.0])
    assert sim.next_decision()
    assert sim.exec_times_s() == pytest.approx([2.0, 20.0])
    assert sim.assign(server) == pytest.approx(expected_s)
    assert not sim.next_decision()
    assert sim.response_times_s() == pytest.approx([expected_s])


# ---------------------------------------------------------------------------------------------------- (d) diamond
def test_diamond_explicit_assignment() -> None:
    # Servers: 0 = GPU (llm 10, tool 1), 1 = CPU2 (llm 1, tool 2).
    # a (llm 10) → 0: [0, 1].
    # At t=1, b and c are ready; b (index 1) first. b (tool 4) → 1: 4/2 = 2 s, [1, 3].
    # c (llm 30) → 0: 30/10 = 3 s, [1, 4].
    # d waits for both parents: ready at 4. d (llm 10) → 1: 10/1 = 10 s, [4, 14]. RT = 14.
    sim = Simulator(Cluster((GPU, CPU_FAST_TOOL)), [diamond()], [0.0])
    order = []
    for server in (0, 1, 0, 1):
        assert sim.next_decision()
        order.append((local(sim), sim.now_s))
        sim.assign(server)
    assert not sim.next_decision()
    assert order == [((0, 0), 0.0), ((0, 1), 1.0), ((0, 2), 1.0), ((0, 3), 4.0)]
    assert sim.task_finish_s == pytest.approx([1.0, 3.0, 4.0, 14.0])
    assert list(sim.task_server) == [0, 1, 0, 1]
    assert sim.response_times_s() == pytest.approx([14.0])
    assert sim.decisions == 4


def test_diamond_fifo_queue_behind_sibling() -> None:
    # As above but c → 1 too: it queues behind b on the CPU: start 3, 30/1 = 30 s, [3, 33].
    # d (llm 10) → 0 at t=33: [33, 34]. RT = 34.
    sim = Simulator(Cluster((GPU, CPU_FAST_TOOL)), [diamond()], [0.0])
    run_assignments(sim, [0, 1, 1, 0])
    assert sim.task_finish_s == pytest.approx([1.0, 3.0, 33.0, 34.0])
    assert sim.response_times_s() == pytest.approx([34.0])


# ---------------------------------------------------------------------------------------------------- (e) order
def test_decision_order_ties_by_workflow_then_task_index() -> None:
    # wf0: task 0 "z" is a child of task 2 "y"; tasks 1 "x" and 2 "y" are entries. wf1: tasks 0, 1 both entries.
    # Both arrive at 0: the entries in order (0,1), (0,2), (1,0), (1,1); then (0,0) after y finishes.
    wf0 = Workflow.from_edges("wf0", ["z", "x", "y"], [TOOL] * 3, [1.0] * 3, [("y", "z")])
    wf1 = Workflow.from_edges("wf1", ["p", "q"], [TOOL] * 2, [1.0] * 2, [])
    sim = Simulator(Cluster((UNIT,) * 4), [wf0, wf1], [0.0, 0.0])
    seen = []
    for server in (0, 1, 2, 3, 0):
        assert sim.next_decision()
        seen.append(local(sim))
        sim.assign(server)
    assert not sim.next_decision()
    assert seen == [(0, 1), (0, 2), (1, 0), (1, 1), (0, 0)]


def test_same_time_ready_tasks_ordered_by_workflow_not_event_order() -> None:
    # wf0: u0 (work 1) → u1 (work 1) → u2. wf1: v0 (work 2) → v1. Three unit servers, both arrive at 0.
    # t=0: u0 → s0 [0, 1]; v0 → s1 [0, 2].  t=1: u1 → s0 [1, 2] (its finish event is pushed after v0's).
    # t=2: both finish; v1 and u2 become ready at 2 (v1's event first) but wf0's u2 is decided first.
    wf0 = Workflow.from_edges("wf0", ["u0", "u1", "u2"], [TOOL] * 3, [1.0, 1.0, 1.0], [("u0", "u1"), ("u1", "u2")])
    wf1 = Workflow.from_edges("wf1", ["v0", "v1"], [TOOL] * 2, [2.0, 1.0], [("v0", "v1")])
    sim = Simulator(Cluster((UNIT,) * 3), [wf0, wf1], [0.0, 0.0])
    seen = []
    for server in (0, 1, 0, 2, 1):
        assert sim.next_decision()
        seen.append((local(sim), sim.now_s))
        sim.assign(server)
    assert not sim.next_decision()
    assert seen == [((0, 0), 0.0), ((1, 0), 0.0), ((0, 1), 1.0), ((0, 2), 2.0), ((1, 1), 2.0)]
    # u2 on s2 [2, 3], v1 on s1 [2, 3]: RT 3 and 3.
    assert sim.response_times_s() == pytest.approx([3.0, 3.0])


# ---------------------------------------------------------------------------------------------------- (f) bound
def test_lower_bound_diamond_uses_fastest_server_per_kind() -> None:
    # Fastest: llm on the GPU (10), tool on CPU2 (2). a = 10/10 = 1, b = 4/2 = 2, c = 30/10 = 3, d = 10/10 = 1.
    # Critical path = a + max(b, c) + d = 1 + 3 + 1 = 5. Remaining paths: a 5, b 2 + 1 = 3, c 3 + 1 = 4, d 1.
    sim = Simulator(Cluster((GPU, CPU_FAST_TOOL)), [diamond()], [0.0])
    assert sim.lower_bound_s == pytest.approx([5.0])
    assert sim.task_fastest_s == pytest.approx([1.0, 2.0, 3.0, 1.0])
    assert sim.task_critical_path_s == pytest.approx([5.0, 3.0, 4.0, 1.0])
    # On the GPU alone b takes 4/1 = 4: critical path 1 + max(4, 3) + 1 = 6. Its one slot runs all four tasks one
    # after the other, 1 + 4 + 3 + 1 = 9 s: the cluster-capacity bound (sim/bounds.py) is the tighter, exact one.
    alone = Simulator(Cluster((GPU,)), [diamond()], [0.0])
    assert alone.critical_path_s == pytest.approx([6.0]) and alone.lower_bound_s == pytest.approx([9.0])
    # The assignment a→0, b→1, c→0, d→0 attains it: a [0,1], b [1,3], c [1,4], d [4,5].
    run_assignments(sim, [0, 1, 0, 0])
    assert sim.response_times_s() == pytest.approx([5.0])


# ---------------------------------------------------------------------------------------------------- (g) area
def test_area_equals_sum_of_response_times_hand_case() -> None:
    # One unit server: wf0 (work 3) at 0 → [0, 3]; wf1 (work 1) at 0.5 → [3, 4]; wf2 (work 2) at 10 → [10, 12].
    # RT = 3, 3.5, 2: Σ = 8.5. The area counts 1 in system on [0, .5), 2 on [.5, 3), 1 on [3, 4), 1 on [10, 12).
    sim = Simulator(Cluster((UNIT,)), [single(3.0), single(1.0), single(2.0)], [0.0, 0.5, 10.0])
    run_assignments(sim, [0, 0, 0])
    assert sim.response_times_s() == pytest.approx([3.0, 3.5, 2.0])
    assert sim.area_s == pytest.approx(0.5 + 2 * 2.5 + 1.0 + 2.0) == pytest.approx(8.5)


def test_area_equals_sum_of_response_times_agentic_eft() -> None:
    rng = np.random.default_rng(3)
    workload = AgenticWorkload()
    cluster = AGENTIC_PROFILE.fixed(8)
    workflows = workload.sample(rng, 40)
    sim = Simulator(cluster, workflows, poisson_arrivals(rng, 40, 0.5))
    eft = EFTScheduler()
    while sim.next_decision():
        sim.assign(eft.select(None, sim))
    rt = sim.response_times_s()
    assert np.all(np.isfinite(rt))
    assert sim.decisions == sum(w.num_tasks for w in workflows)
    assert sim.area_s == pytest.approx(rt.sum(), rel=1e-9)
    assert np.all(rt >= sim.lower_bound_s - 1e-9)  # no schedule beats the bound


# ---------------------------------------------------------------------------------------------------- (h), (j)
def test_assign_errors() -> None:
    sim = Simulator(Cluster((UNIT, UNIT)), [single(1.0)], [0.0])
    with pytest.raises(RuntimeError, match="next_decision"):
        sim.assign(0)  # no ready task yet
    assert sim.next_decision()
    for bad in (2, -1):
        with pytest.raises(ValueError, match="out of range"):
            sim.assign(bad)
    assert sim.task == 0 and sim.decisions == 0 and np.isnan(sim.task_finish_s[0])  # unchanged
    with pytest.raises(RuntimeError):
        sim.next_decision()  # the pending task must be assigned first
    sim.assign(1)
    with pytest.raises(RuntimeError):
        sim.assign(1)  # assigned already: no ready task
    assert not sim.next_decision()


@pytest.mark.parametrize(
    ("arrivals", "count"),
    [([0.0, 2.0, 1.0], 3), ([-1.0, 0.0], 2), ([0.0, np.nan], 2), ([0.0, 1.0], 3), ([], 0)],
)
def test_simulator_rejects_bad_arrivals(arrivals: list[float], count: int) -> None:
    with pytest.raises(ValueError):
        Simulator(Cluster((UNIT,)), [single(1.0) for _ in range(count)], arrivals)


def test_simulator_accepts_equal_arrival_times() -> None:
    sim = Simulator(Cluster((UNIT,)), [single(1.0), single(1.0)], [1.0, 1.0])
    run_assignments(sim, [0, 0])
    # [1, 2] and [2, 3]: RT 1 and 2.
    assert sim.response_times_s() == pytest.approx([1.0, 2.0])


# ---------------------------------------------------------------------------------------------------- (i) transfer
def chain_with_output(size_bytes: float) -> Workflow:
    return Workflow.from_edges(
        "chain", ["a", "b"], [TOOL, TOOL], [1.0, 1.0], [("a", "b")], output_size=[size_bytes, 0.0]
    )


@pytest.mark.parametrize(("child_server", "finish_s"), [(0, 2.0), (1, 5.0)])
def test_transfer_time_on_another_server(child_server: int, finish_s: float) -> None:
    # Bandwidth 100 B/s, a's output 300 B: 3 s to move it. a → s0: [0, 1].
    # b on s0 (same server, no transfer): [1, 2]. b on s1: data there at 1 + 3 = 4, so [4, 5].
    sim = Simulator(Cluster((UNIT, UNIT), bandwidth=100.0), [chain_with_output(300.0)], [0.0])
    assert sim.next_decision()
    sim.assign(0)
    assert sim.next_decision()
    assert sim.now_s == 1.0
    assert sim.data_ready_s() == pytest.approx([1.0, 4.0])
    assert sim.start_times_s() == pytest.approx([1.0, 4.0])
    assert sim.assign(child_server) == pytest.approx(finish_s)
    assert not sim.next_decision()
    assert sim.response_times_s() == pytest.approx([finish_s])


def test_no_transfer_time_without_bandwidth() -> None:
    # Same chain, bandwidth None (the default): b on s1 starts as soon as a finishes: [1, 2].
    sim = Simulator(Cluster((UNIT, UNIT)), [chain_with_output(300.0)], [0.0])
    run_assignments(sim, [0, 1])
    assert sim.task_finish_s == pytest.approx([1.0, 2.0])


def test_transfer_waits_for_slowest_parent() -> None:
    # p1 (work 1) → s0 [0, 1], output 100 B; p2 (work 2) → s1 [0, 2], output 500 B; bandwidth 100 B/s.
    # Child c on s0: p1 local at 1, p2's data at 2 + 5 = 7 → start 7. On s1: p1's data at 1 + 1 = 2, p2 local
    # at 2 → start 2. On s2: max(1 + 1, 2 + 5) = 7.
    wf = Workflow.from_edges(
        "join",
        ["p1", "p2", "c"],
        [TOOL] * 3,
        [1.0, 2.0, 1.0],
        [("p1", "c"), ("p2", "c")],
        output_size=[100.0, 500.0, 0.0],
    )
    sim = Simulator(Cluster((UNIT, UNIT, UNIT), bandwidth=100.0), [wf], [0.0])
    for server in (0, 1):
        assert sim.next_decision()
        sim.assign(server)
    assert sim.next_decision() and sim.now_s == 2.0
    assert sim.start_times_s() == pytest.approx([7.0, 2.0, 7.0])
    assert sim.assign(1) == pytest.approx(3.0)


# ---------------------------------------------------------------------------------------------------- (k) cluster
def test_service_rate_hand_computed() -> None:
    # Brief's case: GPU (llm 10, tool 1), CPU (llm 1, tool 1), one slot each; per workflow 10 llm + 1 tool work.
    # Route a fraction a of llm to the CPU and b of tool to the GPU. Busy seconds per workflow:
    # GPU (1 − a)·10/10 + b·1 = 1 − a + b, CPU a·10 + (1 − b)·1. Their sum 2 + 9a ≥ 2, so max ≥ 1 s, reached at
    # a = b = 0 (GPU 1 s, CPU 1 s): λ* = 1 workflow/s.
    work = np.zeros(5)
    work[LLM], work[TOOL] = 10.0, 1.0
    assert Cluster((GPU, CPU)).service_rate(work) == pytest.approx(1.0, rel=1e-6)
    # Tool work 3: GPU 1 − a + 3b, CPU 10a + 3(1 − b); sum 4 + 9a, so a = 0 and balance 1 + 3b = 3 − 3b → b = 1/3,
    # both busy 2 s per workflow: λ* = 0.5.
    work[TOOL] = 3.0
    assert Cluster((GPU, CPU)).service_rate(work) == pytest.approx(0.5, rel=1e-6)


def test_service_rate_scales_with_slots_and_identical_servers() -> None:
    # One unit server, 4 work units per workflow (tool only): 0.25 workflows/s per slot.
    work = np.zeros(5)
    work[TOOL] = 4.0
    assert Cluster((UNIT,)).service_rate(work) == pytest.approx(0.25, rel=1e-6)
    assert Cluster((UNIT,) * 3).service_rate(work) == pytest.approx(0.75, rel=1e-6)  # pooled: 3 × 0.25
    assert Cluster((ServerType("two", (1.0,) * 5, slots=2),)).service_rate(work) == pytest.approx(0.5, rel=1e-6)
    with pytest.raises(ValueError):
        Cluster((UNIT,)).service_rate(np.zeros(5))


def test_fixed_profile_apportioning() -> None:
    profile = ClusterProfile((GPU, UNIT, CPU), (0.25, 0.25, 0.5))
    # N = 16: one of each first, then 13 × (.25, .25, .5) = (3.25, 3.25, 6.5) → floors (3, 3, 6) = 12, the
    # 16th goes to the largest remainder (.5, the third type): (1+3, 1+3, 1+6+1) = (4, 4, 8).
    c16 = profile.fixed(16)
    assert c16.num_servers == 16
    assert [t.name for t in c16.server_types] == ["gpu"] * 4 + ["unit"] * 4 + ["cpu"] * 8
    # N = 2 < 3 types: no minimum; 2 × weights = (.5, .5, 1) → floors (0, 0, 1); one left for the largest
    # remainder, a tie of .5 broken by the first index: (1, 0, 1).
    c2 = profile.fixed(2)
    assert c2.num_servers == 2
    assert [t.name for t in c2.server_types] == ["gpu", "cpu"]
    # N = 3: one of each.
    assert [t.name for t in profile.fixed(3).server_types] == ["gpu", "unit", "cpu"]
    assert profile.fixed(5, bandwidth=10.0).bandwidth == 10.0


def test_randomized_profile_sums_to_n_and_is_seeded() -> None:
    for n in (1, 2, 3, 16, 48):
        a = AGENTIC_PROFILE.randomized(n, np.random.default_rng(7))
        b = AGENTIC_PROFILE.randomized(n, np.random.default_rng(7))
        assert a.num_servers == n
        assert [t.name for t in a.server_types] == [t.name for t in b.server_types]
        if n >= 3:
            assert {t.name for t in a.server_types} == {"gpu-large", "gpu-small", "cpu"}  # ≥ 1 per type


def test_server_type_validation() -> None:
    with pytest.raises(ValueError, match="unknown task kind"):
        ServerType.from_kind_speeds("x", {"gpu": 2.0})
    with pytest.raises(ValueError, match="positive"):
        ServerType("x", (1.0, 0.0, 1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="slots"):
        ServerType("x", (1.0,) * 5, slots=0)
    with pytest.raises(ValueError):
        Cluster(())
    with pytest.raises(ValueError, match="bandwidth"):
        Cluster((UNIT,), bandwidth=0.0)
