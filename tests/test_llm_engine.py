"""The continuous-batching LLM engine (scale_rllib.sim.llm_engine): hand-computed iteration times, batching,
prefix-cache hits and eviction, the KV cap, queue policies, and event-skipping equal to one iteration at a time."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from scale_rllib.sim.llm_engine import ENGINE_PROFILES, EngineProfile, LLMEngine, Request

# t(b, p) = 1 + 0.1 b + 0.01 p; 100 prefill tokens per iteration; 16-token blocks
SIMPLE = EngineProfile("simple", t0_s=1.0, decode_s=0.1, prefill_s=0.01, chunk_tokens=100, kv_tokens=10_000)


def run(engine: LLMEngine, arrivals: list[tuple[float, Request]]) -> dict[int, object]:
    """Submit ``arrivals`` (time, request) in order, run to the end; completions by key."""
    done = {}
    for t, request in arrivals:
        done |= {c.key: c for c in engine.submit(request, t)}
    while engine.running or engine.waiting:
        done |= {c.key: c for c in engine.advance(engine.next_event_s())}
    return done


def test_one_request_by_hand() -> None:
    """250 prompt tokens: 2 full chunks (2 s each) + 50 tokens (1.5 s) → first token at 5.5 s; 2 more tokens at
    1.1 s each (one decoding request) → 7.7 s."""
    c = run(LLMEngine(SIMPLE), [(0.0, Request(1, program=0, context_tokens=0, prompt_tokens=250, output_tokens=3))])[1]
    assert c.ttft_s == pytest.approx(5.5)
    assert c.finish_s == pytest.approx(7.7)
    assert c.tbt_s == pytest.approx(1.1)


def test_a_request_joins_the_batch_at_the_next_iteration_boundary() -> None:
    """a: 50-token prompt (1.5 s), then 9 tokens; b arrives at 2.0 (mid a's first decode, 1.5–2.6): it joins at 2.6,
    its 50-token prefill shares the iteration with a's decode (1 + 0.1 + 0.5 = 1.6 s) → b's first token at 4.2."""
    engine = LLMEngine(SIMPLE)
    done = run(engine, [(0.0, Request(1, 0, 0, 50, 10)), (2.0, Request(2, 1, 0, 50, 2))])
    assert done[2].ttft_s == pytest.approx(4.2 - 2.0)
    # b's second token: one iteration with two decoding requests, 1.2 s
    assert done[2].finish_s == pytest.approx(4.2 + 1.2)


def test_a_prefix_hit_skips_the_cached_prefill() -> None:
    """Program 7's first call leaves 50 + 13 = 63 tokens → 48 cached (16-token blocks); its second call, context 63,
    prefills 63 − 48 + 50 = 65 tokens (1.65 s); another program's call prefills all 113 (2 + 1.13 = 3.13 s)."""
    engine = LLMEngine(SIMPLE)
    run(engine, [(0.0, Request(1, 7, 0, 50, 13))])
    assert engine.cached_tokens(7) == 48
    start = engine.now_s
    hit = run(engine, [(start, Request(2, 7, 63, 50, 1))])[2]
    assert hit.cached_tokens == 48 and hit.ttft_s == pytest.approx(1.65)
    miss = run(LLMEngine(SIMPLE), [(0.0, Request(3, 8, 63, 50, 1))])[3]
    assert miss.cached_tokens == 0 and miss.ttft_s == pytest.approx(2.0 + 1.13)


def test_kv_memory_caps_the_batch_and_evicts_least_recently_used() -> None:
    small = EngineProfile("small", t0_s=1.0, decode_s=0.1, prefill_s=0.01, chunk_tokens=100, kv_tokens=200)
    engine = LLMEngine(small)
    done = run(engine, [(0.0, Request(1, 0, 0, 100, 60)), (0.0, Request(2, 1, 0, 100, 60))])
    assert done[2].finish_s > done[1].finish_s + 60  # 160 + 160 > 200 tokens: b waited for a to finish
    assert list(engine.cache) == [1]  # a's 160 cached tokens were evicted to admit b
    assert engine.kv_utilization() == pytest.approx(160 / 200)


@pytest.mark.parametrize(
    ("policy", "order"), [("fcfs", [1, 2, 3, 4]), ("shortest", [1, 4, 3, 2]), ("predicted", [1, 3, 2, 4])]
)
def test_queue_policies_order_the_waiting_requests(policy: str, order: list[int]) -> None:
    """Room for one request at a time: 1 runs, then 2, 3, 4 wait (outputs 30, 20, 10; ranks 5, 1, 9)."""
    one = EngineProfile("one", t0_s=1.0, decode_s=0.1, prefill_s=0.01, chunk_tokens=100, kv_tokens=160)
    requests = [Request(1, 1, 0, 100, 40), Request(2, 2, 0, 100, 30, rank=5), Request(3, 3, 0, 100, 20, rank=1),
                Request(4, 4, 0, 100, 10, rank=9)]  # fmt: skip
    done = run(LLMEngine(one, policy), [(0.1 * i, r) for i, r in enumerate(requests)])
    assert sorted(done, key=lambda k: done[k].finish_s) == order


def test_plas_serves_the_program_with_the_least_attained_service_first() -> None:
    one = EngineProfile("one", t0_s=1.0, decode_s=0.1, prefill_s=0.01, chunk_tokens=100, kv_tokens=160)
    engine = LLMEngine(one, "plas")
    run(engine, [(0.0, Request(1, program=1, context_tokens=0, prompt_tokens=100, output_tokens=40))])
    t = engine.now_s
    done = run(engine, [(t, Request(9, 2, 0, 100, 50)), (t + 0.1, Request(2, 1, 0, 100, 40)),
                        (t + 0.2, Request(3, 3, 0, 100, 40))])  # fmt: skip
    # 9 runs first (the queue was empty); then program 3 (no service yet) before program 1 (40-token call done)
    assert done[3].finish_s < done[2].finish_s


def test_projected_finish_is_the_finish_without_other_arrivals_and_changes_nothing() -> None:
    engine = LLMEngine(SIMPLE)
    engine.submit(Request(1, 0, 0, 300, 30), 0.0)
    engine.advance(2.5)
    before = (engine.now_s, engine._plan[:2], [(r.prefill_left, engine.decode_left(r)) for r in engine.running])
    probe = Request(2, 1, 0, 120, 5)
    projected = engine.projected_finish_s(probe, 2.5)
    assert (engine.now_s, engine._plan[:2], [(r.prefill_left, engine.decode_left(r)) for r in engine.running]) == before
    assert run(engine, [(2.5, probe)])[2].finish_s == pytest.approx(projected)


class OneIterationAtATime(LLMEngine):
    """The same engine without event skipping: every stretch is one iteration."""

    def _stretch(self):
        tau, _, alloc = super()._stretch()
        return tau, 1, alloc


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("policy", ["fcfs", "plas", "shortest"])
def test_event_skipping_equals_one_iteration_at_a_time(seed: int, policy: str) -> None:
    rng = np.random.default_rng(seed)
    profile = EngineProfile("rand", t0_s=0.02, decode_s=0.001, prefill_s=0.0002, chunk_tokens=256, kv_tokens=30_000)

    def arrivals() -> list[tuple[float, Request]]:
        times = np.cumsum(rng.exponential(0.5, 40))
        return [(float(t), Request(i, int(rng.integers(0, 6)), int(rng.integers(0, 3000)), int(rng.integers(1, 2000)),
                                   int(rng.integers(1, 300)))) for i, t in enumerate(times)]  # fmt: skip

    stream = arrivals()
    fast = run(LLMEngine(profile, policy), [(t, Request(**vars(r))) for t, r in stream])
    slow = run(OneIterationAtATime(profile, policy), [(t, Request(**vars(r))) for t, r in stream])
    assert fast.keys() == slow.keys() == set(range(40))
    for k in fast:
        assert fast[k].finish_s == pytest.approx(slow[k].finish_s, rel=1e-9)
        assert fast[k].ttft_s == pytest.approx(slow[k].ttft_s, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_kv_totals_kept_incrementally_equal_the_sums(seed: int) -> None:
    """The reserved, cached and evictable token totals and the running programs the engine keeps on admission,
    retirement and eviction equal computing them afresh, under memory pressure that evicts (30 k tokens for up to
    5 k-token calls)."""
    rng = np.random.default_rng(seed)
    profile = EngineProfile("tight", t0_s=0.02, decode_s=0.001, prefill_s=0.0002, chunk_tokens=256, kv_tokens=30_000)
    engine, evicted, t = LLMEngine(profile), 0, 0.0
    for i in range(60):
        t += float(rng.exponential(0.3))
        cached = set(engine.cache)
        engine.submit(Request(i, int(rng.integers(0, 20)), int(rng.integers(0, 3000)), int(rng.integers(1, 2000)),
                              int(rng.integers(1, 300))), t)  # fmt: skip
        evicted += len(cached - set(engine.cache))
        assert engine.reserved_tokens() == sum(r.reserved for r in engine.running)
        assert engine.cache_size_tokens() == sum(engine.cache.values())
        assert set(engine.running_programs()) == {r.program for r in engine.running}
        for keep in (None, i % 20):  # no program kept, or one that may be cached, running or neither
            pinned = {r.program for r in engine.running} | {keep}
            unpinned = sum(tokens for p, tokens in engine.cache.items() if p not in pinned)
            assert engine.evictable_tokens(keep) == unpinned
        assert engine.reserved_tokens() + engine.cache_size_tokens() <= profile.kv_tokens
    assert evicted > 0
    while engine.running or engine.waiting:
        engine.advance(engine.next_event_s())
    assert engine.reserved_tokens() == 0 and engine.cache_size_tokens() == sum(engine.cache.values())


def test_a_deep_copy_runs_the_same_future_and_leaves_the_original_alone() -> None:
    """LLMEngine.__deepcopy__ (used by forks): mid-stretch, with requests waiting, decoding and in prefill, the twin
    finishes everything exactly as the original would, and running it changes nothing in the original."""
    rng = np.random.default_rng(7)
    profile = EngineProfile("tight", t0_s=0.02, decode_s=0.001, prefill_s=0.0002, chunk_tokens=256, kv_tokens=30_000)
    engine, t = LLMEngine(profile, "plas"), 0.0
    for i in range(30):
        t += float(rng.exponential(0.2))
        engine.submit(Request(i, int(rng.integers(0, 8)), int(rng.integers(0, 3000)), int(rng.integers(1, 2000)),
                              int(rng.integers(1, 300))), t)  # fmt: skip
    assert engine.waiting and engine._prefilling and engine._decoding and engine._plan
    state = (engine.now_s, engine._plan[:2], [(r.key, r.prefill_left, engine.decode_left(r)) for r in engine.running],
             [r.key for r in engine.waiting], dict(engine.cache), dict(engine.attained_s))  # fmt: skip
    twin = copy.deepcopy(engine)
    assert twin.profile is engine.profile and not set(map(id, twin.running)) & set(map(id, engine.running))
    from_twin = run(twin, [])
    assert state == (engine.now_s, engine._plan[:2],
                     [(r.key, r.prefill_left, engine.decode_left(r)) for r in engine.running],
                     [r.key for r in engine.waiting], dict(engine.cache), dict(engine.attained_s))  # fmt: skip
    from_original = run(engine, [])
    assert from_twin.keys() == from_original.keys() and len(from_twin) > 0
    assert all(from_twin[k] == from_original[k] for k in from_twin)


def test_bad_requests_and_profiles_are_refused() -> None:
    with pytest.raises(ValueError, match="exceed the KV capacity"):
        LLMEngine(SIMPLE).submit(Request(1, 0, 9_000, 1_000, 100), 0.0)
    with pytest.raises(ValueError, match="≥ 1 token"):
        LLMEngine(SIMPLE).submit(Request(1, 0, 0, 0, 10), 0.0)
    with pytest.raises(ValueError, match="queue policy"):
        LLMEngine(SIMPLE, "random")
    with pytest.raises(ValueError, match="do not fit"):
        EngineProfile.roofline("tiny", params=70e9, kv_bytes_per_token=1, gpus=1, tflops=1, tb_per_s=1,
                               gpu_memory_gb=80)  # fmt: skip
    assert math.isinf(LLMEngine(SIMPLE).next_event_s())


def test_the_datasheet_profiles_give_plausible_serving_times() -> None:
    """A 7,000-token prompt with 500 output tokens alone on 4 × A100: ≈ 1.9 s to the first token (13 full chunks of
    512 and one of 344) and ≈ 25 ms per token after it; 4 × H100 is faster on both."""
    a100, h100 = ENGINE_PROFILES["llama2-70b-4xa100"], ENGINE_PROFILES["llama2-70b-4xh100"]
    done = {p.name: run(LLMEngine(p), [(0.0, Request(1, 0, 0, 7000, 500))])[1] for p in (a100, h100)}
    expected_ttft = 13 * (a100.t0_s + 512 * a100.prefill_s) + a100.t0_s + 344 * a100.prefill_s
    assert done[a100.name].ttft_s == pytest.approx(expected_ttft) and 1.5 < expected_ttft < 2.5
    assert done[a100.name].tbt_s == pytest.approx(a100.t0_s + a100.decode_s) and 0.02 < done[a100.name].tbt_s < 0.03
    assert done[h100.name].ttft_s < done[a100.name].ttft_s and done[h100.name].tbt_s < done[a100.name].tbt_s
    assert 400_000 < a100.kv_tokens < 500_000  # 4 × 80 GB × 0.9 − 140 GB of weights, at 320 KiB per token
