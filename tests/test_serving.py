"""ServingSimulator: LLM calls in continuous-batching engines inside the workflow event loop (sim.serving)."""

from __future__ import annotations

import dataclasses
import itertools

import gymnasium as gym
import numpy as np
import pytest

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import (
    SERVER_FEATURES,
    SERVING_FEATURES,
    ObservationSpec,
    encode,
    observation_space,
)
from scale_rllib.evaluation.run import _check_observations
from scale_rllib.schedulers import make_scheduler
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.llm_engine import ENGINE_PROFILES, EngineProfile, LLMEngine, Request
from scale_rllib.sim.serving import (
    BackgroundTraffic,
    ServingSimulator,
    alone_time_s,
    capacity_cluster,
    estimate_on_engine,
)
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind, Workflow
from scale_rllib.validation import ConfigError

# t0 = 1 s, c_d = 0.1 s per decoding request, c_p = 0.01 s per prefill token, chunks of 4 tokens, blocks of 2
TOY = EngineProfile("toy", t0_s=1.0, decode_s=0.1, prefill_s=0.01, chunk_tokens=4, kv_tokens=1_000, block_tokens=2)


def engine_type(profile: EngineProfile, name: str = "gpu") -> ServerType:
    prefill = 1.0 / (profile.prefill_s + profile.t0_s / profile.chunk_tokens)
    decode = 1.0 / (profile.t0_s + profile.decode_s)
    base = ServerType.from_kind_speeds(name, {"llm": prefill}, slots=2, decode={"llm": decode})
    return dataclasses.replace(base, engine=profile)


CPU = ServerType.from_kind_speeds("cpu", {"llm": 1.0, "tool": 1.0}, slots=1, decode={"llm": 0.1})


def call_chain(name: str, prompts, outputs, contexts, tool_s: float | None = None) -> Workflow:
    """LLM calls in a chain (optionally a tool between the first two), with the given token counts."""
    ids = [f"c{i}" for i in range(len(prompts))]
    kinds, work, decode, ctx = [TaskKind.LLM] * len(ids), list(prompts), list(outputs), list(contexts)
    if tool_s is not None:
        ids.insert(1, "tool")
        kinds.insert(1, TaskKind.TOOL)
        work.insert(1, tool_s)
        decode.insert(1, 0.0)
        ctx.insert(1, 0.0)
    edges = list(zip(ids[:-1], ids[1:]))
    wf = Workflow.from_edges(name, ids, kinds, work, edges, decode_work=decode)
    return dataclasses.replace(wf, context_tokens=np.asarray(ctx, dtype=float))


def run(sim, choose) -> None:
    while sim.next_decision():
        sim.assign(choose(sim))
    sim.run_to_completion()


def test_one_call_alone_takes_the_hand_computed_iterations():
    # prompt 6 → prefill iterations of 4 and 2 tokens: 1.04 + 1.02 s (first token at 2.06 s); 2 more tokens at 1.1 s
    sim = ServingSimulator(Cluster((engine_type(TOY),)), [call_chain("w", [6], [3], [0])], [0.0])
    run(sim, lambda s: 0)
    assert sim.completion_s[0] == pytest.approx(4.26)
    assert sim.task_ttft_s[0] == pytest.approx(2.06)
    assert sim.task_tbt_s[0] == pytest.approx(1.1)
    assert alone_time_s(TOY, np.array([6.0]), np.array([3.0]))[0] == pytest.approx(4.26)
    assert sim.lower_bound_s[0] == pytest.approx(4.26)  # the bound is tight for a call alone


def test_event_loop_matches_the_engine_driven_directly():
    """Two workflows whose calls share one engine: the simulator's finish times equal a hand-driven LLMEngine's."""
    wfs = [call_chain("a", [6], [5], [0]), call_chain("b", [3], [2], [0])]
    sim = ServingSimulator(Cluster((engine_type(TOY),)), wfs, [0.0, 0.5])
    run(sim, lambda s: 0)
    engine = LLMEngine(TOY)
    done = engine.submit(Request(0, 0, 0, 6, 5), 0.0) + engine.submit(Request(1, 1, 0, 3, 2), 0.5)
    while engine.running or engine.waiting:
        done += engine.advance(engine.next_event_s())
    expected = {c.key: c.finish_s for c in done}
    assert sim.task_finish_s[0] == expected[0] and sim.task_finish_s[1] == expected[1]
    assert sim.completion_s.tolist() == [expected[0], expected[1]]


def test_a_later_call_of_the_workflow_hits_its_cached_prefix():
    # call 1: context 10 + prompt 6 + output 4 = 20 tokens cached; call 2 has context 20 → skips 20 tokens of prefill
    wf = call_chain("w", [6, 4], [4, 2], [10, 20])
    sim = ServingSimulator(Cluster((engine_type(TOY), engine_type(TOY, "gpu2"))), [wf], [0.0])
    choices = iter([0, 0])
    run(sim, lambda s: next(choices))
    assert sim.task_cached_tokens.tolist() == [0, 20]
    # the second call alone: prefill 4 tokens (1.04 s), then 1 decode iteration (1.1 s)
    assert sim.task_finish_s[1] - sim.task_finish_s[0] == pytest.approx(2.14)


def test_the_router_view_shows_the_cached_prefix_only_where_it_is():
    wf = call_chain("w", [6, 4], [4, 2], [10, 20], tool_s=1.0)
    sim = ServingSimulator(Cluster((engine_type(TOY), engine_type(TOY, "gpu2"), CPU)), [wf], [0.0])
    assert sim.next_decision()
    sim.assign(1)  # first call on engine 1
    assert sim.next_decision()  # the tool
    assert sim.running_requests().tolist() == [0, 0, 0]
    assert sim.kv_utilization().tolist() == [0.0, 0.02, 0.0]  # its 20 cached tokens of 1,000
    sim.assign(2)
    assert sim.next_decision()  # the second call
    assert sim.cached_prefix_tokens().tolist() == [0, 20, 0]
    assert sim.cache_tokens().tolist() == [0, 20, 0]
    assert sim.request_tokens() == 24
    eft = sim.earliest_finish_times_s()
    assert np.argmin(eft) == 1  # cache-aware EFT keeps the workflow where its prefix is


def test_estimate_on_an_idle_engine_is_the_alone_time():
    engine = LLMEngine(TOY)
    start, exec_s = estimate_on_engine(engine, Request(0, 0, 0, 6, 3), 7.0)
    assert start == 7.0 and exec_s == pytest.approx(4.26)


def test_estimate_waits_for_kv_memory_held_by_running_requests():
    small = dataclasses.replace(TOY, kv_tokens=30)
    engine = LLMEngine(small)
    engine.submit(Request(0, 0, 0, 8, 10), 0.0)  # holds 18 of 30 tokens for 2 prefill + 9 decode iterations
    start, _ = estimate_on_engine(engine, Request(1, 1, 0, 8, 10), 0.0)
    step = small.t0_s + small.decode_s * 2
    assert start == pytest.approx((2 + 9) * step)  # waits for request 0's 18 tokens


def test_slot_only_clusters_reproduce_the_base_simulator():
    rng = np.random.default_rng(3)
    wfs = [call_chain(f"w{i}", rng.integers(1, 9, 2), rng.integers(1, 9, 2), [0, 0], tool_s=0.5) for i in range(30)]
    arrivals = np.cumsum(rng.exponential(1.0, 30))
    cluster = Cluster((CPU, CPU, dataclasses.replace(CPU, slots=2)))
    base, serving = Simulator(cluster, wfs, arrivals), ServingSimulator(cluster, wfs, arrivals)
    eft = make_scheduler("eft")
    for sim in (base, serving):
        run(sim, lambda s: eft.select(None, s))
    np.testing.assert_array_equal(base.completion_s, serving.completion_s)
    np.testing.assert_array_equal(base.lower_bound_s, serving.lower_bound_s)


def real_episode(seed: int, policy: str = "fcfs") -> ServingSimulator:
    rng = np.random.default_rng(seed)
    types = [engine_type(ENGINE_PROFILES["llama2-70b-4xh100"], "h100"),
             engine_type(ENGINE_PROFILES["llama2-70b-4xa100"], "a100"), CPU]  # fmt: skip
    wfs = []
    for i in range(60):
        prompts, outputs = rng.integers(50, 2000, 2), rng.integers(20, 600, 2)
        wfs.append(call_chain(f"w{i}", prompts, outputs, [300, 300 + prompts[0] + outputs[0]], tool_s=2.0))
    return ServingSimulator(Cluster.from_counts([(types[0], 2), (types[1], 2), (types[2], 2)]), wfs,
                            np.cumsum(rng.exponential(0.2, 60)), queue_policy=policy)  # fmt: skip


@pytest.mark.parametrize("scheduler", ["eft", "least-outstanding", "round-robin"])
def test_every_response_time_respects_the_lower_bound(scheduler):
    sim = real_episode(1)
    chooser = make_scheduler(scheduler)
    chooser.reset(1)
    run(sim, lambda s: chooser.select(None, s))
    assert np.all(sim.response_times_s() >= sim.lower_bound_s - 1e-9)
    assert np.all(sim.lower_bound_s >= sim.critical_path_s)


def test_a_fork_runs_without_touching_the_original():
    sim, twin = real_episode(2), real_episode(2)
    eft = make_scheduler("eft")
    for _ in range(40):
        for s in (sim, twin):
            s.next_decision()
            s.assign(eft.select(None, s))
    fork = sim.fork()
    run(fork, lambda s: eft.select(None, s))
    run(sim, lambda s: eft.select(None, s))
    run(twin, lambda s: eft.select(None, s))
    np.testing.assert_array_equal(sim.completion_s, twin.completion_s)
    np.testing.assert_array_equal(fork.completion_s, sim.completion_s)


def test_capacity_twin_rates():
    prof = ENGINE_PROFILES["llama2-70b-4xa100"]
    cluster = Cluster.from_counts([(engine_type(prof), 1), (CPU, 1)])
    peak, sustained = capacity_cluster(cluster), capacity_cluster(cluster, 4_000.0)
    slots = cluster.slots[0]
    assert peak.speed[0, TaskKind.LLM] * slots == pytest.approx(1.0 / prof.prefill_s)
    batch = prof.max_seqs
    assert peak.decode_speed[0, TaskKind.LLM] * slots == pytest.approx(
        max(batch / (prof.t0_s + prof.decode_s * batch), 1 / prof.prefill_s)
    )
    batch = min(prof.kv_tokens / 4_000.0, prof.max_seqs)
    assert sustained.decode_speed[0, TaskKind.LLM] * slots == pytest.approx(batch / (prof.t0_s + prof.decode_s * batch))
    np.testing.assert_array_equal(peak.speed[1], cluster.speed[1])


def test_bad_arguments_are_refused():
    wf = call_chain("w", [6], [3], [0])
    with pytest.raises(ValueError, match="transfers"):
        ServingSimulator(Cluster((engine_type(TOY),), bandwidth=1e9), [wf], [0.0])
    with pytest.raises(ValueError, match="queue policy"):
        ServingSimulator(Cluster((engine_type(TOY),)), [wf], [0.0], queue_policy="lifo")
    with pytest.raises(ValueError, match="sample_rank"):
        ServingSimulator(Cluster((engine_type(TOY),)), [dataclasses.replace(wf, sample_id=np.array([5]))], [0.0],
                         sample_rank=np.zeros(3))  # fmt: skip


def test_rollouts_run_in_python_forks_and_one_candidate_is_eft():
    eft, one, four = make_scheduler("eft"), make_scheduler("eft-rollout"), make_scheduler("peft-rollout")
    one.candidates = 1
    sims = [real_episode(4) for _ in range(3)]
    for sim, chooser in zip(sims, (eft, one, four)):
        run(sim, lambda s, c=chooser: c.select(None, s))
    np.testing.assert_array_equal(sims[0].task_server, sims[1].task_server)
    assert np.all(sims[2].response_times_s() >= sims[2].lower_bound_s - 1e-9)


@pytest.mark.parametrize("router", ["power-of-two", "least-outstanding", "cache-aware", "prefix-affinity", "llm-d"])
def test_routers_send_llm_calls_to_engines_and_tools_where_eft_does(router):
    sim = real_episode(5)
    chooser = make_scheduler(router)
    chooser.reset(5)
    tools = 0
    while sim.next_decision():
        server = chooser.select(None, sim)
        if sim.task_kind[sim.task] == TaskKind.LLM:
            assert sim.cluster.is_engine[server]
        else:
            assert server == int(np.argmin(sim.earliest_finish_times_s()))
            tools += 1
        sim.assign(server)
    sim.run_to_completion()
    assert tools == 60 and sim.task_cached_tokens.sum() > 0  # second calls find their prefix somewhere


def test_the_observation_carries_the_engines_state():
    wf = call_chain("w", [6, 4], [4, 2], [10, 20], tool_s=1.0)
    sim = ServingSimulator(Cluster((engine_type(TOY), engine_type(TOY, "gpu2"), CPU)), [wf], [0.0])
    for server in (1, 2):  # first call on engine 1, the tool on the CPU server
        assert sim.next_decision()
        sim.assign(server)
    assert sim.next_decision()  # the second call: 20 of its 24 prompt tokens cached on engine 1
    obs = encode(sim, 4, 1.0, ObservationSpec(serving=True))
    serving = obs["servers"][:, len(SERVER_FEATURES) :]
    assert obs["servers"].shape == (4, len(SERVER_FEATURES) + len(SERVING_FEATURES))
    np.testing.assert_allclose(serving[:, 0], [1, 1, 0, 0])  # is_engine (row 3 is padding)
    np.testing.assert_allclose(serving[:, 1], [0, 20 / 24, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(serving[:, 2], [0, 0.02, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(serving[:, 3:], 0.0)  # nothing running or queued
    base = encode(sim, 4, 1.0)["servers"]
    np.testing.assert_array_equal(obs["servers"][:, : len(SERVER_FEATURES)], base)


@pytest.mark.parametrize("spec", [ObservationSpec(*flags) for flags in itertools.product((False, True), repeat=3)])
def test_trained_spaces_say_which_columns_they_have(spec):
    assert ObservationSpec.of(observation_space(8, spec)) == spec
    wide = observation_space(8, dataclasses.replace(spec, serving=True))
    odd = gym.spaces.Dict(dict(wide.spaces, servers=gym.spaces.Box(0, 1, (8, wide["servers"].shape[1] + 1))))
    with pytest.raises(ValueError, match="matches no layout"):
        ObservationSpec.of(odd)


def test_serving_workloads_refuse_estimated_runtimes_and_policies_of_other_workloads(shared_data):
    spec = f"agentic-serving:{shared_data / 'worfbench'},azure={shared_data / 'azure-llm-2023'}"
    with pytest.raises(ConfigError, match="workload"):
        EnvConfig(workload=spec, runtime_knowledge="estimated")
    assert EnvConfig(workload=spec).with_serving and not EnvConfig().with_serving
    policy = make_scheduler("eft")
    policy.observation_spec = ObservationSpec(serving=True)
    with pytest.raises(ConfigError, match="agentic-serving"):
        _check_observations([policy], EnvConfig())


def test_background_requests_share_the_engine_and_match_the_engine_driven_by_hand():
    bg = BackgroundTraffic(np.array([0.0, 0.2, 50.0]), np.array([0, 0, 0]), np.array([8, 5, 3]), np.array([6, 4, 2]))
    sim = ServingSimulator(Cluster((engine_type(TOY),)), [call_chain("w", [6], [5], [0])], [0.1], background=bg)
    assert sim.next_decision()
    assert sim.outstanding[0] == 0 and sim.running_requests()[0] == 1  # the router does not count others' requests
    sim.assign(0)
    assert not sim.next_decision()
    sim.run_to_completion()
    engine = LLMEngine(TOY)
    done = engine.submit(Request(-1, -1, 0, 8, 6), 0.0) + engine.submit(Request(0, 0, 0, 6, 5), 0.1)
    done += engine.submit(Request(-2, -2, 0, 5, 4), 0.2)
    while not any(c.key == 0 for c in done):
        done += engine.advance(engine.next_event_s())
    finish = next(c.finish_s for c in done if c.key == 0)
    assert sim.completion_s[0] == finish
    assert sim.background is bg and sim._bg_next == 2  # the request at 50 s comes after the workflow: not simulated
    alone = ServingSimulator(Cluster((engine_type(TOY),)), [call_chain("w", [6], [5], [0])], [0.1])
    run(alone, lambda s: 0)
    assert alone.completion_s[0] < finish  # sharing the batch slows the workflow's call


def test_background_traffic_is_validated():
    with pytest.raises(ValueError, match="differ in length"):
        BackgroundTraffic(np.zeros(2), np.zeros(1, dtype=int), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="non-decreasing"):
        BackgroundTraffic(np.array([1.0, 0.5]), np.zeros(2, dtype=int), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="engine servers"):
        bg = BackgroundTraffic(np.zeros(1), np.array([1]), np.ones(1), np.ones(1))
        ServingSimulator(Cluster((engine_type(TOY), CPU)), [call_chain("w", [6], [3], [0])], [0.0], background=bg)


def test_an_elastic_server_starts_every_task_at_once_and_its_capacity_is_unbounded():
    tool = dataclasses.replace(CPU, slots=1)
    wfs = [call_chain(f"w{i}", [6], [3], [0], tool_s=4.0) for i in range(3)]
    sim = ServingSimulator(Cluster((engine_type(TOY), tool)), wfs, [0.0, 0.0, 0.0], elastic=(1,))
    run(sim, lambda s: 0 if s.task_kind[s.task] == TaskKind.LLM else 1)
    tools = sim.task_kind == TaskKind.TOOL
    np.testing.assert_array_equal(sim.task_start_s[tools], sim.task_ready_s[tools])  # three at once on one slot
    np.testing.assert_allclose(sim.task_finish_s[tools] - sim.task_start_s[tools], 4.0)
    slotted = ServingSimulator(Cluster((engine_type(TOY), tool)), wfs, [0.0, 0.0, 0.0])
    run(slotted, lambda s: 0 if s.task_kind[s.task] == TaskKind.LLM else 1)
    assert slotted.completion_s.max() > sim.completion_s.max()  # the same tools queue on a plain slot
    assert np.all(sim.response_times_s() >= sim.lower_bound_s - 1e-9)


def test_a_workflow_alone_keeps_the_background_from_its_warmup():
    bg = BackgroundTraffic(np.array([0.0, 0.2, 5.0, 19.5, 50.0]), np.zeros(5, dtype=int), np.array([8, 5, 6, 7, 3]),
                           np.array([6, 4, 5, 6, 2]))  # fmt: skip
    wfs = [call_chain("a", [6], [5], [0]), call_chain("b", [4], [3], [0])]
    sim = ServingSimulator(Cluster((engine_type(TOY), CPU)), wfs, [0.1, 20.0], background=bg)
    lone = sim.alone(1, warmup_s=1.0)  # starts at 19 s: keeps the requests at 19.5 and 50 s, workflow b at 1 s
    assert len(lone.workflows) == 1 and lone.arrival_s.tolist() == [1.0]
    assert lone.background.time_s.tolist() == [0.5, 31.0] and lone.background.prompt_tokens.tolist() == [7, 3]
    assert lone.lower_bound_s[0] == sim.lower_bound_s[1]
    run(lone, lambda s: 0)
    engine = LLMEngine(TOY)  # the same request mix by hand
    done = engine.submit(Request(-1, -1, 0, 7, 6), 0.5) + engine.submit(Request(0, 0, 0, 4, 3), 1.0)
    while not any(c.key == 0 for c in done):
        done += engine.advance(engine.next_event_s())
    assert lone.completion_s[0] == pytest.approx(next(c.finish_s for c in done if c.key == 0))
    whole = sim.alone(1, warmup_s=20.0)  # every earlier request has left the engine by 19.5 s: the same time
    run(whole, lambda s: 0)
    assert whole.response_times_s()[0] == pytest.approx(lone.response_times_s()[0])
    late = sim.alone(1, warmup_s=0.2)  # drops the request at 19.5 s, which is still in the batch at 20 s
    run(late, lambda s: 0)
    assert late.response_times_s()[0] < lone.response_times_s()[0]
    for w, warmup in ((2, 1.0), (0, -1.0)):
        with pytest.raises(ValueError, match="alone"):
            sim.alone(w, warmup)
