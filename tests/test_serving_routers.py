"""The serving stacks' prefix-cache-aware routers on hand-built states: SGLang's / vLLM's cache-aware policy, Ray Serve
LLM's PrefixCacheAffinityRouter and llm-d's scoring profile follow their documented rules at every threshold edge;
non-LLM tasks go to the least-outstanding non-engine server; all three are registered by name."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from scale_rllib.schedulers import make_scheduler, scheduler_names
from scale_rllib.schedulers.routers import ROUTERS
from scale_rllib.schedulers.serving_routers import (
    LOAD_SCALE,
    CacheAwareScheduler,
    LlmDScheduler,
    PrefixAffinityScheduler,
    match_rates,
    queue_scores,
)
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind
from tests.test_dws import chain

NAMES = ("cache-aware", "prefix-affinity", "llm-d")


def _unavailable():
    raise AssertionError("a fallback decision must not read the serving engines' state")


def state(is_engine, outstanding, *, llm=True, cached=None, request=1000, tree=None, kv=None, waiting=None,
          serving=True) -> SimpleNamespace:  # fmt: skip
    """A stub with exactly the serving simulator's interface: N servers, the current task (0) an LLM call or a tool
    call; per-server arrays default to zeros. ``serving=False``: the serving methods raise."""
    n = len(is_engine)

    def per_server(values):
        return lambda: np.asarray(values if values is not None else [0] * n)

    methods = dict(cached_prefix_tokens=per_server(cached), request_tokens=lambda: request,
                   kv_utilization=per_server(kv), running_requests=per_server(None),
                   waiting_requests=per_server(waiting), cache_tokens=per_server(tree))  # fmt: skip
    if not serving:
        methods = {key: _unavailable for key in methods}
    return SimpleNamespace(
        task=0,
        task_kind=np.array([TaskKind.LLM if llm else TaskKind.TOOL]),
        cluster=SimpleNamespace(is_engine=np.array(is_engine, dtype=bool), num_servers=n),
        outstanding=np.array(outstanding, dtype=np.int64),
        **methods,
    )


# --- cache-aware (SGLang / vLLM router) ---------------------------------------------------------------------------


@pytest.mark.parametrize(("busiest", "expected"), [(63, 1), (64, 1), (65, 2)])
def test_cache_aware_absolute_balance_threshold(busiest: int, expected: int) -> None:
    """Raw defaults (64): a gap of exactly 64 is still balanced (strict >), so the 90 % match on server 1 wins; 65
    sends the call to the least loaded engine. The CPU server 0 (500 outstanding) is not part of the engines' load."""
    sim = state([False, True, True], [500, busiest, 0], cached=[0, 900, 0])
    assert CacheAwareScheduler(load_scale=1.0).select(None, sim) == expected


@pytest.mark.parametrize(("busiest", "expected"), [(299, 1), (300, 1), (301, 2)])
def test_cache_aware_relative_balance_threshold(busiest: int, expected: int) -> None:
    """Idlest engine at 200, gap > 64 throughout: imbalanced only once busiest > 1.5 × 200 = 300 (strict)."""
    sim = state([False, True, True], [0, busiest, 200], cached=[0, 900, 0])
    assert CacheAwareScheduler(load_scale=1.0).select(None, sim) == expected


@pytest.mark.parametrize(("cached", "expected"), [(299, 2), (300, 2), (301, 1)])
def test_cache_aware_cache_threshold(cached: int, expected: int) -> None:
    """Balanced load; a match rate of exactly 0.3 is not above the threshold, so the call goes to the smallest tree
    (server 2, 100 cached tokens), not to the best match (server 1)."""
    sim = state([False, True, True], [0, 1, 1], cached=[0, cached, 0], tree=[0, 5000, 100])
    assert CacheAwareScheduler().select(None, sim) == expected


def test_cache_aware_scaled_default_threshold() -> None:
    """The default absolute threshold is 64 × 256 / 1024 = 16; the relative and cache thresholds keep their values."""
    router = CacheAwareScheduler()
    assert LOAD_SCALE == 0.25
    assert (router.balance_abs_threshold, router.balance_rel_threshold, router.cache_threshold) == (16, 1.5, 0.3)
    assert router.select(None, state([True, True], [16, 0], cached=[900, 0])) == 0
    assert router.select(None, state([True, True], [17, 0], cached=[900, 0])) == 1


def test_cache_aware_empty_call_goes_to_the_smallest_tree() -> None:
    sim = state([True, True, True], [0, 0, 0], cached=[0, 0, 0], request=0, tree=[30, 10, 20])
    assert match_rates(sim, np.arange(3)).tolist() == [0.0, 0.0, 0.0]
    assert CacheAwareScheduler().select(None, sim) == 1


# --- prefix-affinity (Ray Serve LLM) ------------------------------------------------------------------------------


@pytest.mark.parametrize(("busiest", "prefix_wins"), [(9, True), (10, True), (11, False)])
def test_prefix_affinity_imbalanced_threshold(busiest: int, prefix_wins: bool) -> None:
    """Raw default 10: a queue gap of exactly 10 is balanced (the 90 % match on server 1 wins); 11 falls back to
    Power of Two Choices, which with two engines always picks the shorter queue (server 2)."""
    sim = state([False, True, True], [500, busiest, 0], cached=[0, 900, 0])
    router = PrefixAffinityScheduler(load_scale=1.0)
    for seed in range(8):
        router.reset(seed)
        assert router.select(None, sim) == (1 if prefix_wins else 2)


@pytest.mark.parametrize(("cached", "expected"), [(99, 2), (100, 1), (101, 1)])
def test_prefix_affinity_match_rate_threshold_is_inclusive(cached: int, expected: int) -> None:
    """A match rate of exactly 0.1 reaches the threshold (≥), so the best match (server 1) is taken; below it the
    smallest tenant (server 2)."""
    sim = state([False, True, True], [0, 0, 0], cached=[0, cached, 0], tree=[0, 5000, 100])
    assert PrefixAffinityScheduler().select(None, sim) == expected


def test_prefix_affinity_takes_the_shortest_queue_among_candidates() -> None:
    """Two engines share the best match: the one with the shorter queue (server 1), not the globally idlest (2). With
    no match, the smallest tenants (0 and 1) are the candidates, again the shorter queue wins."""
    router = PrefixAffinityScheduler()
    assert router.select(None, state([True] * 3, [2, 1, 0], cached=[500, 500, 0])) == 1
    assert router.select(None, state([True] * 3, [2, 1, 0], tree=[10, 10, 50])) == 1


def test_prefix_affinity_imbalanced_is_power_of_two() -> None:
    """Imbalanced: two random engines, the shorter queue; the busiest (with the best match) is never chosen, and the
    second idlest is chosen when it is paired with the busiest — unlike a least-loaded rule."""
    sim = state([True] * 3, [20, 0, 5], cached=[900, 0, 0])
    router = PrefixAffinityScheduler()
    choices = set()
    for seed in range(60):
        router.reset(seed)
        choices.add(router.select(None, sim))
    assert choices == {1, 2}


def test_prefix_affinity_scaled_default_threshold() -> None:
    """Default threshold 10 × 0.25 = 2.5: a gap of 2 keeps the match, a gap of 3 routes by load."""
    router = PrefixAffinityScheduler()
    assert (router.imbalanced_threshold, router.match_rate_threshold) == (2.5, 0.1)
    assert router.select(None, state([True, True], [2, 0], cached=[900, 0])) == 0
    assert router.select(None, state([True, True], [3, 0], cached=[900, 0])) == 1


# --- llm-d --------------------------------------------------------------------------------------------------------


def llm_d_example() -> SimpleNamespace:
    """Server 0 a CPU server; engines 1, 2, 3 with prefix scores 1, 0, 0.5 (1000-token call), waiting 6, 2, 4 (queue
    scores 0, 1, 0.5) and KV utilization 0.5, 0.1, 0.6 (scores 0.5, 0.9, 0.4)."""
    return state([False, True, True, True], [0, 9, 9, 9], cached=[0, 1000, 0, 500], kv=[0, 0.5, 0.1, 0.6],
                 waiting=[0, 6, 2, 4])  # fmt: skip


def test_llm_d_scores_a_hand_computed_example() -> None:
    """3·prefix + 2·queue + 2·kv = 3 + 0 + 1 = 4.0, 0 + 2 + 1.8 = 3.8, 1.5 + 1 + 0.8 = 3.3: engine 1 (server 1);
    equal weights would prefer the short queue (1.5, 1.9, 1.4: server 2)."""
    sim = llm_d_example()
    np.testing.assert_allclose(LlmDScheduler().scores(sim, np.array([1, 2, 3])), [4.0, 3.8, 3.3])
    assert LlmDScheduler().select(None, sim) == 1
    assert LlmDScheduler(1.0, 1.0, 1.0).select(None, sim) == 2


def test_llm_d_scorers() -> None:
    """Queue: min-max normalized, all 1 when equal; prefix: capped at a full match."""
    np.testing.assert_allclose(queue_scores(np.array([3.0, 5.0, 7.0])), [1.0, 0.5, 0.0])
    np.testing.assert_allclose(queue_scores(np.array([4.0, 4.0])), [1.0, 1.0])
    sim = state([True, True], [0, 0], cached=[1500, 250])
    np.testing.assert_allclose(match_rates(sim, np.array([0, 1])), [1.0, 0.25])


def test_llm_d_breaks_ties_at_random_among_the_best() -> None:
    """Engines 1 and 2 tie, engine 3 scores less (busier KV cache): the picker takes 1 or 2, both over seeds."""
    sim = state([False, True, True, True], [0, 0, 0, 0], kv=[0, 0.2, 0.2, 0.3])
    router, choices = LlmDScheduler(), set()
    for seed in range(30):
        router.reset(seed)
        choices.add(router.select(None, sim))
    assert choices == {1, 2}


# --- shared fallback and registry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_non_llm_tasks_go_where_eft_puts_them(name: str) -> None:
    """With engines in the cluster a tool call goes to its earliest finish time over every server (here an engine
    server's host slot, 3), whatever the loads; without engines every task goes to the least outstanding server; no
    fallback decision reads the engines' state."""
    router = make_scheduler(name)
    sim = state([True, False, False, True], [0, 3, 2, 5], llm=False, serving=False)
    sim.earliest_finish_times_s = lambda: np.array([5.0, 3.0, 4.0, 1.0])
    assert router.select(None, sim) == 3
    assert router.select(None, state([False] * 3, [4, 1, 1], serving=False)) == 1


@pytest.mark.parametrize("name", NAMES)
def test_llm_calls_go_to_engines_only(name: str) -> None:
    """An idle CPU server (0) never gets an LLM call, however busy the engines are."""
    sim = state([False, True, True], [0, 40, 30], cached=[0, 0, 900], tree=[0, 10, 20])
    assert make_scheduler(name).select(None, sim) in (1, 2)


@pytest.mark.parametrize("name", NAMES)
def test_on_a_plain_simulator_without_engines_they_are_least_outstanding(name: str) -> None:
    """On the workflow simulator (no engine replicas) each router reduces to least-outstanding: the 6th task goes to
    the idle server 3 after five were placed on servers 0, 0, 1, 1, 2."""
    cpu = ServerType.from_kind_speeds("cpu", {}, default=1.0)
    sim = Simulator(Cluster.from_counts([(cpu, 4)]), [chain(f"w{i}", [5.0]) for i in range(6)], [0.0] * 6)
    for server in (0, 0, 1, 1, 2):
        assert sim.next_decision()
        sim.assign(server)
    assert sim.next_decision()
    router = make_scheduler(name)
    router.reset(0)
    assert router.select(None, sim) == 3


def test_routers_are_registered_by_name() -> None:
    classes = {"cache-aware": CacheAwareScheduler, "prefix-affinity": PrefixAffinityScheduler, "llm-d": LlmDScheduler}
    for name, cls in classes.items():
        assert ROUTERS[name] is cls and name in scheduler_names()
        assert type(make_scheduler(name)) is cls and make_scheduler(name).name == name
