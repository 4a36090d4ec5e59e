"""eft-marginal: EFT plus the prefill delay an LLM call adds to the workflows' other calls on an engine."""

from __future__ import annotations

import numpy as np
import pytest

from scale_rllib.schedulers import make_scheduler
from scale_rllib.sim.cluster import Cluster
from scale_rllib.sim.llm_engine import EngineProfile
from scale_rllib.sim.serving import BackgroundTraffic, ServingSimulator
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind
from tests.test_bounds import random_episode
from tests.test_serving import CPU, TOY, call_chain, engine_type, real_episode

#: Prefill dearer than a decode seat: c_p · P outweighs the extra decoding requests of a busier batch.
HEAVY = EngineProfile("heavy", t0_s=1.0, decode_s=0.1, prefill_s=0.1, chunk_tokens=4, kv_tokens=1_000, block_tokens=2)


def test_prefill_cost_counts_the_uncached_tokens_on_each_engine():
    # call 1 leaves 10 + 6 + 4 = 20 tokens cached on engine 0; call 2 (context 20, prompt 4) prefills 4 there, 24 on 1
    wf = call_chain("w", [6, 4], [4, 2], [10, 20], tool_s=1.0)
    sim = ServingSimulator(Cluster((engine_type(TOY), engine_type(TOY, "gpu2"), CPU)), [wf], [0.0])
    costs = []
    while sim.next_decision():
        costs.append(sim.prefill_cost_s())
        sim.assign(0 if sim.task_kind[sim.task] == TaskKind.LLM else 2)
    assert costs[0] == pytest.approx([0.16, 0.16, 0.0])  # nothing cached: 16 tokens × 0.01 s on either engine
    assert costs[1].tolist() == [0.0, 0.0, 0.0]  # the tool
    assert costs[2] == pytest.approx([0.04, 0.24, 0.0])


def test_it_leaves_the_engine_where_its_prefill_would_hold_up_another_workflows_call():
    # engine 0: workflow a's call decoding (1 outstanding); engine 1: two background requests (not outstanding).
    # b's call (8 prompt tokens) finishes sooner on 0 (one fewer request in the batch: 3 iterations × 0.1 s earlier)
    # but its prefill there delays a's call by 0.1 × 8 = 0.8 s
    bg = BackgroundTraffic(np.zeros(2), np.ones(2, dtype=int), np.ones(2, dtype=int), np.full(2, 50))
    wfs = [call_chain("a", [2], [50], [0]), call_chain("b", [8], [2], [0])]
    sim = ServingSimulator(Cluster((engine_type(HEAVY), engine_type(HEAVY, "gpu2"))), wfs, [0.0, 0.5], background=bg)
    assert sim.next_decision()
    sim.assign(0)
    assert sim.next_decision() and sim.task_workflow[sim.task] == 1
    finish = sim.earliest_finish_times_s()
    assert np.argmin(finish) == 0 and finish[1] - finish[0] == pytest.approx(0.3)
    assert sim.outstanding.tolist() == [1, 0] and sim.prefill_cost_s() == pytest.approx([0.8, 0.8])
    assert make_scheduler("eft").select(None, sim) == 0
    assert make_scheduler("eft-marginal").select(None, sim) == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_without_engines_or_calls_in_flight_it_is_eft(seed):
    eft, marginal = make_scheduler("eft"), make_scheduler("eft-marginal")
    sim = Simulator(*random_episode(seed))  # no engines: EFT at every decision
    while sim.next_decision():
        assert marginal.select(None, sim) == eft.select(None, sim)
        sim.assign(eft.select(None, sim))
    sim, idle = real_episode(seed), 0  # engines: EFT whenever the router has no call outstanding on any of them
    while sim.next_decision():
        choice = marginal.select(None, sim)
        if not sim.outstanding[sim.cluster.is_engine].any():
            assert choice == eft.select(None, sim)
            idle += 1
        sim.assign(choice)
    assert idle > 0
