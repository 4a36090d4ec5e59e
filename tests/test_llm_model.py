"""Tests of the LLM task model (prefill + decode) through the simulator, the LP, the fits and ``agentic-real``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from scale_rllib.env.observation import SERVER_FEATURES, encode
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import NUM_KINDS, TaskKind, Workflow, WorkflowError
from scale_rllib.workloads.generators.agentic_real import AgenticRealWorkload, parse_agentic_real
from scale_rllib.workloads.generators.llm_model import AGENTIC_REAL_PROFILE, llm_exec_time_s
from scale_rllib.workloads.generators.runtime_fit import EMBEDDED_FITS, fit_runtimes, fit_wfinstances
from scale_rllib.workloads.spec import make_workload, validate_spec

H100, A100, CPU = AGENTIC_REAL_PROFILE.types
LLM = int(TaskKind.LLM)


def _llm_chain(context: list[float], generated: list[float]) -> Workflow:
    ids = [str(i) for i in range(len(context))]
    edges = [(ids[i], ids[i + 1]) for i in range(len(ids) - 1)]
    return Workflow.from_edges("chain", ids, [LLM] * len(ids), context, edges, decode_work=generated)


# ---------------------------------------------------------------------------------------------------- formula
@pytest.mark.parametrize(
    ("server", "context", "generated", "expected_s"),
    [
        (H100, 6400, 25, 1.0 + 1.0),  # 6,400 / 6,400 tokens/s + 25 / 25 tokens/s
        (A100, 2048, 160, 2048 / 2800 + 10.0),  # 0.7314 + 10
        (CPU, 500, 8, 2.0 + 1.0),  # 500 / 250 + 8 / 8
        (H100, 0, 50, 2.0),  # decode only
        (A100, 1400, 0, 0.5),  # prefill only
    ],
)
def test_llm_time_is_prefill_plus_decode(server: ServerType, context, generated, expected_s: float) -> None:
    assert llm_exec_time_s(context, generated, server.speed[LLM], server.decode_speed[LLM]) == pytest.approx(expected_s)
    sim = Simulator(Cluster((H100, A100, CPU)), [_llm_chain([context], [generated])], [0.0])
    assert sim.next_decision()
    index = (H100, A100, CPU).index(server)
    assert sim.exec_times_s()[index] == pytest.approx(expected_s)
    assert sim.assign(index) == pytest.approx(expected_s)  # starts at 0 on an idle server


def test_lower_bound_uses_the_fastest_server_per_task() -> None:
    # task 0: prefill-heavy (H100 fastest); task 1: CPU has a decode rate above the GPUs' in this synthetic cluster
    fast_decode_cpu = ServerType.from_kind_speeds("cpu", {"llm": 100.0}, slots=1, decode={"llm": 200.0})
    cluster = Cluster((H100, fast_decode_cpu))
    wf = _llm_chain([64000.0, 0.0], [0.0, 400.0])
    sim = Simulator(cluster, [wf], [0.0])
    np.testing.assert_allclose(sim.task_fastest_s, [64000 / 6400, 400 / 200])  # 10 s on H100, 2 s on the CPU
    assert sim.lower_bound_s[0] == pytest.approx(12.0)
    np.testing.assert_allclose(sim.task_critical_path_s, [12.0, 2.0])


def test_service_rate_counts_decode_time() -> None:
    one = ServerType.from_kind_speeds("gpu", {"llm": 10.0}, slots=1, decode={"llm": 2.0})
    work, decode = np.zeros(NUM_KINDS), np.zeros(NUM_KINDS)
    work[LLM], decode[LLM] = 20.0, 4.0  # 20 / 10 + 4 / 2 = 4 s per workflow → 0.25 workflows/s
    assert Cluster((one,)).service_rate(work, decode) == pytest.approx(0.25, rel=1e-6)
    assert Cluster((one,)).service_rate(work) == pytest.approx(0.5, rel=1e-6)  # without decode work: 2 s
    cpu = ServerType.from_kind_speeds("cpu", {"llm": 1.0}, slots=1, decode={"llm": 0.2})  # 20 + 20 = 40 s
    assert Cluster((one, cpu)).service_rate(work, decode) == pytest.approx(0.25 + 0.025, rel=1e-6)
    assert Cluster((one,) * 3).service_rate(work, decode) == pytest.approx(0.75, rel=1e-6)  # pooled


def test_defaults_keep_the_single_rate_model() -> None:
    plain = ServerType("x", (2.0,) * NUM_KINDS)
    assert plain.decode_speed == plain.speed
    wf = Workflow.from_edges("w", ["a"], [LLM], [4.0], [])
    np.testing.assert_array_equal(wf.decode_work, [0.0])
    sim = Simulator(Cluster((plain,)), [wf], [0.0])
    sim.next_decision()
    assert sim.exec_times_s()[0] == 2.0 and sim.task_fastest_s[0] == 2.0
    with pytest.raises(ValueError, match="every decode_speed must be a positive"):
        ServerType("x", (1.0,) * NUM_KINDS, decode_speed=(0.0,) * NUM_KINDS)
    with pytest.raises(WorkflowError, match="invalid decode work"):
        Workflow.from_edges("w", ["a"], [LLM], [1.0], [], decode_work=[-1.0])
    with pytest.raises(WorkflowError, match="one entry per task"):
        Workflow.from_edges("w", ["a"], [LLM], [1.0], [], decode_work=[1.0, 2.0])


def test_observation_speed_feature_uses_the_whole_llm_time() -> None:
    sim = Simulator(Cluster((H100, A100, CPU)), [_llm_chain([2048.0], [100.0])], [0.0])
    sim.next_decision()
    obs = encode(sim, max_servers=4, tau_s=1.0)
    exec_s = sim.exec_times_s()
    column = SERVER_FEATURES.index("speed_over_fastest")
    np.testing.assert_allclose(obs["servers"][:3, column], exec_s.min() / exec_s, rtol=1e-6)


# ---------------------------------------------------------------------------------------------------- fits
def test_fit_picks_the_generating_family() -> None:
    data = np.random.default_rng(0).lognormal(np.log(3.0), 0.7, size=4000)
    fit = fit_runtimes(data, "synthetic")
    assert fit.dist == "lognorm" and fit.params[0] == pytest.approx(0.7, rel=0.05)
    assert fit.params[2] == pytest.approx(3.0, rel=0.05) and fit.ks < 0.02
    with pytest.raises(ValueError, match="finite runtimes > 0"):
        fit_runtimes(np.array([1.0, 0.0]), "bad")


def test_embedded_fits_reproduce_from_the_shared_data(shared_data: Path) -> None:
    refit = fit_wfinstances(shared_data / "wfinstances")
    assert set(refit) == set(EMBEDDED_FITS) == {TaskKind.TOOL, TaskKind.RETRIEVAL, TaskKind.CODE}
    for kind, fit in refit.items():
        embedded = EMBEDDED_FITS[kind]
        assert (fit.dist, fit.n) == (embedded.dist, embedded.n)
        np.testing.assert_allclose(fit.params, embedded.params, rtol=1e-3, atol=1e-9)
        assert fit.mean() == pytest.approx(embedded.mean(), rel=1e-3)


# ---------------------------------------------------------------------------------------------------- agentic-real
@pytest.fixture(scope="module")
def real(shared_data: Path) -> AgenticRealWorkload:
    data = shared_data
    return make_workload(f"agentic-real:{data / 'worfbench'},azure={data / 'azure-llm-2023'}")


def test_agentic_real_workflows(real: AgenticRealWorkload) -> None:
    rows = set(zip(real.trace.context_tokens.tolist(), real.trace.generated_tokens.tolist()))
    workflows = real.sample(np.random.default_rng(0), 300)
    for wf in workflows:
        llm = wf.kinds == LLM
        assert set(zip(wf.work[llm].tolist(), wf.decode_work[llm].tolist())) <= rows  # a trace request per llm node
        assert np.all(wf.decode_work[~llm] == 0) and np.all(wf.work[~llm] >= 0)
    names = [w.name.split("#")[0] for w in workflows]
    assert len(set(names)) > 100  # graphs drawn from the whole pool
    kinds = np.concatenate([w.kinds for w in workflows])
    assert set(np.unique(kinds)) == {TaskKind.LLM, TaskKind.TOOL, TaskKind.RETRIEVAL, TaskKind.CODE}


def test_agentic_real_means_match_samples(real: AgenticRealWorkload) -> None:
    workflows = real.sample(np.random.default_rng(1), 20000)
    work = np.mean([np.bincount(w.kinds, weights=w.work, minlength=NUM_KINDS) for w in workflows], axis=0)
    decode = np.mean([np.bincount(w.kinds, weights=w.decode_work, minlength=NUM_KINDS) for w in workflows], axis=0)
    np.testing.assert_allclose(work, real.mean_work_by_kind(), rtol=0.1)
    np.testing.assert_allclose(decode, real.mean_decode_work_by_kind(), rtol=0.1)


def test_agentic_real_episode_replays_azure_arrivals(real: AgenticRealWorkload) -> None:
    sim = real.build_episode(np.random.default_rng(5), servers=16, load=0.7, num_workflows=64, randomize_mix=False)
    rate = 0.7 * sim.cluster.service_rate(real.mean_work_by_kind(), real.mean_decode_work_by_kind())
    windows = np.lib.stride_tricks.sliding_window_view(real.trace.arrival_s, 64)
    recorded = sim.arrival_s * rate / real.trace.mean_rate_per_s
    assert np.abs(windows - windows[:, :1] - recorded).max(axis=1).min() < 1e-6
    while sim.next_decision():
        sim.assign(int(np.argmin(sim.earliest_finish_times_s())))
    sim.run_to_completion()
    assert np.all(sim.response_times_s() >= sim.lower_bound_s - 1e-9)
    raw = dataclasses.replace(real, replay="raw")  # as recorded: the rate is ignored
    np.testing.assert_allclose(
        raw.arrival_times(np.random.default_rng(2), 30, 123.0), real.trace.arrival_times(np.random.default_rng(2), 30)
    )


def test_agentic_real_spec_errors(shared_data: Path) -> None:
    wb, az = shared_data / "worfbench" / "os", shared_data / "azure-llm-2023"
    assert parse_agentic_real(f"{wb},azure={az}") == {"worfbench": str(wb), "replay": "scaled", "azure": str(az)}
    for body, message in [
        (f"{wb}", "needs azure=PATH"),
        (f"azure={az}", "needs a WorFBench path first"),
        (f"{wb},azure={az},colour=red", "bad or repeated option 'colour=red'"),
        (f"{wb},azure={az},azure={az}", "bad or repeated option"),
        (f"{wb},azure={az},replay=fast", "replay must be 'scaled' or 'raw'"),
    ]:
        with pytest.raises(ValueError, match=message):
            validate_spec(f"agentic-real:{body}")
    with pytest.raises(FileNotFoundError, match="wfinstances path"):
        validate_spec(f"agentic-real:{wb},azure={az},wfinstances=/no/such/dir")
