"""Tests of the ``agentic-serving`` workload: spec, ShareGPT calls, contexts, engine rates, serving episodes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from scale_rllib.env.observation import encode
from scale_rllib.schedulers import make_scheduler
from scale_rllib.sim.cluster import Cluster
from scale_rllib.sim.llm_engine import ENGINE_PROFILES, LLMEngine, Request
from scale_rllib.sim.serving import ServingSimulator, capacity_cluster
from scale_rllib.sim.workflow import TaskKind, Workflow
from scale_rllib.workloads.formats.sharegpt import PromptResponse
from scale_rllib.workloads.generators.agentic_real import AgenticRealWorkload, load_sources
from scale_rllib.workloads.generators.agentic_serving import (
    AGENTIC_SERVING_PROFILE,
    MAX_MODEL_TOKENS,
    SYSTEM_PROMPT_TOKENS,
    AgenticServingWorkload,
    context_tokens,
    parse_agentic_serving,
)
from scale_rllib.workloads.generators.background import background_traffic
from scale_rllib.workloads.generators.llm_model import AGENTIC_REAL_PROFILE
from scale_rllib.workloads.spec import WORKLOAD_KINDS, make_workload, validate_spec

LLM, TOOL = int(TaskKind.LLM), int(TaskKind.TOOL)


@pytest.fixture(scope="module")
def paths(shared_data: Path) -> tuple[Path, Path]:
    return shared_data / "worfbench", shared_data / "azure-llm-2023"


@pytest.fixture(scope="module")
def serving(paths: tuple[Path, Path]) -> AgenticServingWorkload:
    wb, az = paths
    return make_workload(f"agentic-serving:{wb},azure={az},queue=plas")


def _pair(prompt: int, response: int) -> PromptResponse:
    return PromptResponse("c", 0, "p", "r", prompt, response)


# ---------------------------------------------------------------------------------------------------- spec
def test_spec_parses_with_defaults_and_names_the_bad_field(paths: tuple[Path, Path]) -> None:
    wb, az = paths
    assert "agentic-serving" in WORKLOAD_KINDS
    assert parse_agentic_serving(f"{wb},azure={az}") == {
        "worfbench": str(wb), "azure": str(az), "replay": "scaled", "queue": "fcfs", "background": "0",
        "tools": "servers",
    }  # fmt: skip
    parts = parse_agentic_serving(f"{wb},azure={az},queue=predicted,replay=raw")
    assert (parts["queue"], parts["replay"]) == ("predicted", "raw")
    for body, message in [
        (f"{wb}", "needs azure=PATH"),
        (f"azure={az}", "needs a WorFBench path first"),
        (f"{wb},azure={az},queue=lifo", "queue must be 'fcfs', 'plas', 'shortest' or 'predicted', got 'lifo'"),
        (f"{wb},azure={az},replay=fast", "replay must be 'scaled' or 'raw'"),
        (f"{wb},azure={az},queue=fcfs,queue=plas", "bad or repeated option 'queue=plas'"),
        (f"{wb},azure={az},colour=red", "bad or repeated option 'colour=red'"),
        (f"{wb},azure={az},background=0.3", "background must be '0', '0.25', '0.5', '0.75' or '0.9'"),
        (f"{wb},azure={az},tools=cloud", "tools must be 'servers' or 'service'"),
    ]:
        with pytest.raises(ValueError, match=message):
            validate_spec(f"agentic-serving:{body}")
    with pytest.raises(FileNotFoundError, match="wfinstances path '/no/such/dir'"):
        validate_spec(f"agentic-serving:{wb},azure={az},wfinstances=/no/such/dir")
    with pytest.raises(ValueError, match="replays its own azure= trace"):
        validate_spec(f"agentic-serving:{wb},azure={az}@azure:{az}")


# ---------------------------------------------------------------------------------------------------- context
def test_context_grows_along_a_hand_checked_chain() -> None:
    # 0 (llm) → 1 (tool) → 2 (llm) → 3 (llm) ← 4 (llm): prompt / output tokens per task below
    ids = ["0", "1", "2", "3", "4"]
    edges = [("0", "1"), ("1", "2"), ("2", "3"), ("4", "3")]
    kinds = [LLM, TOOL, LLM, LLM, LLM]
    wf = Workflow.from_edges("c", ids, kinds, [100, 9, 20, 10, 7], edges, decode_work=[50, 0, 30, 5, 3])
    s = SYSTEM_PROMPT_TOKENS
    # 2 inherits 0's history through the tool; 3 takes the longer of 2's (s+150+50) and 4's (s+10) histories
    np.testing.assert_array_equal(context_tokens(wf), [s, 0, s + 150, s + 200, s])
    # a cap of s + 209 tokens: 3 (15 new tokens) keeps only the newest s + 194 of its s + 200 history
    np.testing.assert_array_equal(context_tokens(wf, max_tokens=s + 209), [s, 0, s + 150, s + 194, s])


# ---------------------------------------------------------------------------------------------------- sampling
def test_every_call_is_the_sharegpt_pair_it_names(serving: AgenticServingWorkload) -> None:
    workflows = serving.sample(np.random.default_rng(0), 300)
    ids = np.concatenate([w.sample_id[w.kinds == LLM] for w in workflows])
    assert len(np.unique(ids)) > 200  # drawn from the whole list
    for wf in workflows:
        llm = wf.kinds == LLM
        assert np.all(wf.sample_id[~llm] == -1) and np.all(wf.context_tokens[~llm] == 0)
        pairs = [serving.pairs[i] for i in wf.sample_id[llm]]
        np.testing.assert_array_equal(wf.work[llm], [p.prompt_tokens for p in pairs])
        np.testing.assert_array_equal(wf.decode_work[llm], [p.response_tokens for p in pairs])
        np.testing.assert_array_equal(wf.context_tokens, context_tokens(wf))
        assert np.all(wf.context_tokens[llm] >= SYSTEM_PROMPT_TOKENS)
        assert np.all((wf.context_tokens + wf.work + wf.decode_work)[llm] <= MAX_MODEL_TOKENS)
        assert np.all(wf.work[~llm] > 0) and np.all(wf.decode_work[~llm] == 0)  # fitted tool durations


def test_sampling_is_deterministic_given_the_seed(serving: AgenticServingWorkload) -> None:
    def draw(seed: int) -> list[np.ndarray]:
        wfs = serving.sample(np.random.default_rng(seed), 50)
        return [np.concatenate([getattr(w, a) for w in wfs]) for a in ("work", "decode_work", "context_tokens")] + [
            np.concatenate([w.sample_id for w in wfs])
        ]

    for a, b in zip(draw(3), draw(3)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(draw(3)[3], draw(4)[3])


def test_pairs_that_do_not_fit_are_never_drawn_and_means_are_exact(paths: tuple[Path, Path]) -> None:
    graphs, trace, fits = load_sources({"worfbench": str(paths[0]), "azure": str(paths[1])})
    pairs = [_pair(10, 20), _pair(MAX_MODEL_TOKENS, 1), _pair(30, 40)]
    wl = AgenticServingWorkload("t", graphs, trace, fits, pairs=pairs)
    workflows = wl.sample(np.random.default_rng(1), 400)
    ids = np.concatenate([w.sample_id[w.kinds == LLM] for w in workflows])
    assert set(ids.tolist()) == {0, 2}
    llm_per_workflow = np.mean([np.sum(g.kinds == LLM) for g in graphs])
    assert wl.mean_work_by_kind()[LLM] == pytest.approx(llm_per_workflow * 20)  # mean prompt of pairs 0 and 2
    assert wl.mean_decode_work_by_kind()[LLM] == pytest.approx(llm_per_workflow * 30)
    real = AgenticRealWorkload("r", graphs, trace, fits)
    np.testing.assert_array_equal(wl.mean_work_by_kind()[TOOL:], real.mean_work_by_kind()[TOOL:])
    with pytest.raises(ValueError, match="no ShareGPT pair fits"):
        AgenticServingWorkload("t", graphs, trace, fits, pairs=[_pair(MAX_MODEL_TOKENS, 1)])
    with pytest.raises(ValueError, match="queue must be one of"):
        AgenticServingWorkload("t", graphs, trace, fits, pairs=pairs, queue="lifo")
    with pytest.raises(ValueError, match="sample_rank needs one score per pair"):
        AgenticServingWorkload("t", graphs, trace, fits, pairs=pairs, sample_rank=np.zeros(2))


def test_mean_sequence_tokens_is_the_seed_0_estimate(serving: AgenticServingWorkload) -> None:
    workflows = serving.sample(np.random.default_rng(0), 2000)
    calls = np.concatenate([(w.context_tokens + w.work + w.decode_work)[w.kinds == LLM] for w in workflows])
    assert serving.mean_sequence_tokens == pytest.approx(calls.mean())
    assert serving.mean_sequence_tokens > SYSTEM_PROMPT_TOKENS + serving.mean_work_by_kind()[LLM] / 2


# ---------------------------------------------------------------------------------------------------- profile
def test_profile_engine_rates_are_one_call_alone() -> None:
    h100, a100, cpu = AGENTIC_SERVING_PROFILE.types
    for server, key in ((h100, "llama2-70b-4xh100"), (a100, "llama2-70b-4xa100")):
        e = ENGINE_PROFILES[key]
        assert server.engine is e
        assert server.speed[LLM] == pytest.approx(1.0 / (e.prefill_s + e.t0_s / e.chunk_tokens))
        assert server.decode_speed[LLM] == pytest.approx(1.0 / (e.t0_s + e.decode_s))
        assert server.speed[TOOL:4] == (1.0, 1.0, 1.0)
    assert h100.speed[LLM] > a100.speed[LLM] and h100.decode_speed[LLM] > a100.decode_speed[LLM]
    assert cpu == AGENTIC_REAL_PROFILE.types[2] and cpu.engine is None
    assert AGENTIC_SERVING_PROFILE.weights == (0.25, 0.25, 0.5)


# ---------------------------------------------------------------------------------------------------- episode
def test_build_episode_returns_a_serving_simulator(serving: AgenticServingWorkload) -> None:
    ranked = dataclasses.replace(serving, queue="predicted", sample_rank=np.arange(len(serving.pairs), dtype=float))
    sim = ranked.build_episode(np.random.default_rng(5), servers=8, load=0.6, num_workflows=24, randomize_mix=False)
    assert isinstance(sim, ServingSimulator) and sim.queue_policy == "predicted"
    assert sim.cluster.is_engine.sum() == 4
    rate = 0.6 * capacity_cluster(sim.cluster, serving.mean_sequence_tokens).service_rate(
        serving.mean_work_by_kind(), serving.mean_decode_work_by_kind()
    )
    slot_rate = 0.6 * sim.cluster.service_rate(serving.mean_work_by_kind(), serving.mean_decode_work_by_kind())
    assert rate != pytest.approx(slot_rate, rel=0.01)  # the batched capacity twin, not the one-call rates
    windows = np.lib.stride_tricks.sliding_window_view(serving.trace.arrival_s, 24)
    recorded = sim.arrival_s * rate / serving.trace.mean_rate_per_s  # a window of the trace, scaled to the rate
    assert np.abs(windows - windows[:, :1] - recorded).max(axis=1).min() < 1e-6
    llm = sim.task_kind == LLM
    np.testing.assert_array_equal(sim.task_rank[llm], np.concatenate([w.sample_id for w in sim.workflows])[llm])
    while sim.next_decision():
        sim.assign(int(np.argmin(sim.earliest_finish_times_s())))
    sim.run_to_completion()
    assert np.all(sim.response_times_s() >= sim.lower_bound_s - 1e-9)


def test_tools_service_makes_the_engines_the_bottleneck(paths: tuple[Path, Path]) -> None:
    """tools=service: N − 1 engines and one elastic tool service that runs every tool at once; the offered load is
    the engines' (the rate is far above the tool-bound rate of the default cluster)."""
    wb, az = paths
    service = make_workload(f"agentic-serving:{wb},azure={az},tools=service")
    default = make_workload(f"agentic-serving:{wb},azure={az}")
    sim = service.build_episode(np.random.default_rng(0), servers=6, load=0.8, num_workflows=40, randomize_mix=False)
    assert sim.cluster.is_engine.tolist() == [True] * 5 + [False]
    assert sim.elastic.tolist() == [False] * 5 + [True]
    eft = make_scheduler("eft")
    while sim.next_decision():
        sim.assign(eft.select(None, sim))
    sim.run_to_completion()
    tools = sim.task_kind != TaskKind.LLM
    assert (sim.task_server[tools] == 5).all() and (sim.task_start_s[tools] == sim.task_ready_s[tools]).all()
    assert np.all(sim.response_times_s() >= sim.lower_bound_s - 1e-9)
    base = default.build_episode(np.random.default_rng(0), servers=6, load=0.8, num_workflows=40, randomize_mix=False)
    assert 1 / np.diff(sim.arrival_s).mean() > 10 / np.diff(base.arrival_s).mean()
    with pytest.raises(ValueError, match="N ≥ 2"):
        service.build_episode(np.random.default_rng(0), servers=1, load=0.8, num_workflows=4, randomize_mix=False)


def test_background_traffic_uses_the_asked_share_of_the_engines(paths: tuple[Path, Path]) -> None:
    """background=U: requests/s per engine = U / (P · (c_p + t₀ / chunk) + O · c_d), P, O the trace's means."""
    wb, az = paths
    workload = make_workload(f"agentic-serving:{wb},azure={az},background=0.5")
    sim = workload.build_episode(np.random.default_rng(1), servers=4, load=0.5, num_workflows=8, randomize_mix=False)
    bg = sim.background
    assert sim.cluster.is_engine[bg.engine].all() and np.all(np.diff(bg.time_s) >= 0)
    prompt, output = np.maximum(workload.trace.context_tokens, 1).mean(), workload.trace.generated_tokens.mean()
    engines = [t.engine for t in sim.cluster.server_types if t.engine is not None]
    expected = sum(0.5 / (prompt * (e.prefill_s + e.t0_s / e.chunk_tokens) + output * e.decode_s) for e in engines)
    assert len(bg.time_s) / bg.time_s[-1] == pytest.approx(expected, rel=0.5)  # a bursty replay, scaled on average
    assert make_workload(f"agentic-serving:{wb},azure={az}").background == 0.0


@pytest.mark.parametrize("gpu", [0, 1])  # H100, A100 replicas
def test_background_traffic_at_the_highest_level_leaves_an_engine_stable(paths: tuple[Path, Path], gpu: int) -> None:
    """U = 0.9 on one engine alone: it keeps up (done within a minute of the last request; counting the requests'
    decode alone sent 6–11 × as many, and the queue grew without bound)."""
    wb, az = paths
    workload = make_workload(f"agentic-serving:{wb},azure={az}")
    server = AGENTIC_SERVING_PROFILE.types[gpu]
    bg = background_traffic(np.random.default_rng(0), Cluster((server,)), workload.trace, 0.9, horizon_s=600.0)
    engine = LLMEngine(server.engine)
    for i, (time_s, prompt, output) in enumerate(zip(bg.time_s, bg.prompt_tokens, bg.output_tokens, strict=True)):
        engine.submit(Request(i, i, 0, int(prompt), int(output)), float(time_s))
    while engine.running or engine.waiting:
        engine.advance(engine.next_event_s())
    assert len(bg.time_s) > 500 and engine.now_s < bg.time_s[-1] + 60.0


def test_the_action_mask_keeps_llm_calls_off_the_tool_service(paths: tuple[Path, Path]) -> None:
    """tools=service: the tool service cannot run an LLM call (UNSERVED_SPEED), so the policy's mask excludes it for
    LLM calls and keeps it for tools; padding stays masked. (A policy once put a call there: 10⁷ s mean response.)"""
    wb, az = paths
    service = make_workload(f"agentic-serving:{wb},azure={az},tools=service")
    sim = service.build_episode(np.random.default_rng(0), servers=6, load=0.8, num_workflows=20, randomize_mix=False)
    assert sim.cluster.serves(TaskKind.LLM).tolist() == [True] * 5 + [False]
    assert sim.cluster.serves(TaskKind.TOOL).all()
    eft, seen = make_scheduler("eft"), set()
    while sim.next_decision():
        kind = int(sim.task_kind[sim.task])
        mask = encode(sim, max_servers=8, tau_s=1.0)["action_mask"]
        expected = [1.0] * 5 + [0.0 if kind == TaskKind.LLM else 1.0] + [0.0, 0.0]
        assert mask.tolist() == expected
        seen.add(kind == TaskKind.LLM)
        sim.assign(eft.select(None, sim))
    assert seen == {True, False}  # both cases were checked


@pytest.mark.parametrize("name", ["random", "round-robin", "est"])
def test_speed_blind_baselines_keep_llm_calls_off_the_tool_service(paths: tuple[Path, Path], name: str) -> None:
    """random, round-robin and EST ignore speed, so they would put LLM calls on the tool service (10⁸ s for 100
    tokens); they choose among ``Simulator.can_run``, which keeps the service for tools (random and round-robin use
    it; EST's earliest start ties go to the engines' host slots first)."""
    wb, az = paths
    service = make_workload(f"agentic-serving:{wb},azure={az},tools=service")
    sim = service.build_episode(np.random.default_rng(0), servers=6, load=0.8, num_workflows=20, randomize_mix=False)
    scheduler = make_scheduler(name)
    scheduler.reset(0)
    while sim.next_decision():
        sim.assign(scheduler.select(None, sim))
    sim.run_to_completion()
    llm = sim.task_kind == TaskKind.LLM
    assert llm.any() and (sim.task_server[llm] < 5).all()
    assert (sim.task_server[~llm] == 5).any() or name == "est"
