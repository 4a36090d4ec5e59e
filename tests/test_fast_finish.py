"""The compiled rollout loop (scale_rllib.sim.fast_finish) against the Python fork it replaces: the same candidates
and bit-identical completion times on random clusters and workflows — multi-slot servers, transfers, decode work,
interference, both ready orders, EFT and PEFT — and the simulator it reads is left unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from scale_rllib.schedulers.heuristics import EFTScheduler, PEFTScheduler
from scale_rllib.schedulers.rollout import candidate_servers
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.fast_finish import EFT, PEFT, rollout_completions_s
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind, Workflow
from tests.test_rollout import state

BASES = {EFT: EFTScheduler, PEFT: PEFTScheduler}


def random_sim(
    seed: int,
    *,
    bandwidth: float | None,
    ready_order: str,
    workflows: int = 12,
    mean_gap_s: float = 1.5,
    interference: bool = False,
) -> Simulator:
    """3 server types (1–2 slots, some decode speeds), 2–7 servers, ``workflows`` random DAGs arriving close together
    (``mean_gap_s`` apart on average, so several are in the system at once; 0: all at once), integer-valued work so
    that ties happen."""
    rng = np.random.default_rng(seed)
    types = [
        ServerType.from_kind_speeds(f"s{i}", {"llm": float(rng.integers(1, 5)), "tool": float(rng.integers(1, 3))},
                                    slots=int(rng.integers(1, 3)), decode={"llm": float(rng.integers(2, 6))})
        for i in range(3)
    ]  # fmt: skip
    cluster = Cluster.from_counts([(t, int(rng.integers(1, 3))) for t in types], bandwidth=bandwidth)
    flows = []
    for w in range(workflows):
        size = int(rng.integers(1, 12))
        ids = [f"t{i}" for i in range(size)]
        edges = [(ids[i], ids[j]) for i in range(size) for j in range(i + 1, size) if rng.random() < 2.5 / size]
        kinds = rng.choice([TaskKind.LLM, TaskKind.TOOL, TaskKind.COMPUTE], size=size)
        flows.append(
            Workflow.from_edges(f"w{w}", ids, kinds, rng.integers(0, 8, size).astype(float), edges,
                                output_size=rng.integers(0, 4, size) * 1e6, decode_work=rng.integers(0, 3, size) * 4.0)
        )  # fmt: skip
    arrivals = np.floor(np.cumsum(rng.exponential(mean_gap_s, size=workflows))) if mean_gap_s else np.zeros(workflows)
    factors = rng.choice([1.0, 1.5, 2.0], size=cluster.num_servers) if interference else None
    return Simulator(cluster, flows, arrivals - arrivals[0], ready_order=ready_order, interference=factors)


def python_costs(sim: Simulator, servers: list[int], base) -> list[np.ndarray]:
    """Completion times of the in-system workflows per candidate, by the Python fork (the reference)."""
    in_system = np.flatnonzero(np.isnan(sim.completion_s) & (sim.arrival_s <= sim.now_s))
    rows = []
    for server in servers:
        fork = sim.fork(future_arrivals=False)
        fork.assign(server)
        while fork.next_decision():
            fork.assign(base.select(None, fork))
        rows.append(fork.completion_s[in_system])
    return rows


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bandwidth", [None, 2e6])
@pytest.mark.parametrize("ready_order", ["ready-time", "event"])
@pytest.mark.parametrize("interference", [False, True])
def test_compiled_forks_equal_the_python_forks(
    seed: int, bandwidth: float | None, ready_order: str, interference: bool
) -> None:
    sim = random_sim(seed, bandwidth=bandwidth, ready_order=ready_order, interference=interference)
    compared = 0
    while sim.next_decision():
        for base, heuristic in BASES.items():
            before = state(sim)
            servers, completions = rollout_completions_s(sim, 3, base)
            assert state(sim) == before
            assert list(servers) == candidate_servers(sim, 3)
            if len(servers) > 1:
                expected = python_costs(sim, list(servers), heuristic())
                np.testing.assert_array_equal(completions, np.array(expected))
                # the scheduler's cost is the row sum: the same as the Python fork's 1-D sum, bit for bit
                assert completions.sum(axis=1).tolist() == [row.sum() for row in expected]
                compared += 1
            else:
                assert completions.shape[0] == 0
        sim.assign(EFTScheduler().select(None, sim))
    assert compared > 0


def test_many_workflows_in_the_system_sum_like_numpy_1d() -> None:
    """≥ 128 in-system workflows: numpy's pairwise summation blocks apply; the row sums still equal the 1-D sums."""
    sim = random_sim(0, bandwidth=None, ready_order="ready-time", workflows=300, mean_gap_s=0.0)
    while sim.next_decision():
        servers, completions = rollout_completions_s(sim, 4, EFT)
        if len(servers) > 1:
            break
        sim.assign(EFTScheduler().select(None, sim))
    assert completions.shape[1] >= 128
    expected = python_costs(sim, list(servers), EFTScheduler())
    assert completions.sum(axis=1).tolist() == [row.sum() for row in expected]


def test_bad_calls_are_refused() -> None:
    sim = random_sim(0, bandwidth=None, ready_order="ready-time")
    with pytest.raises(ValueError, match="no ready task"):
        rollout_completions_s(sim, 2, EFT)
    assert sim.next_decision()
    with pytest.raises(ValueError, match="candidates"):
        rollout_completions_s(sim, 0, EFT)
    with pytest.raises(ValueError, match="base"):
        rollout_completions_s(sim, 2, 7)
