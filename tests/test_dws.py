"""The DWS peer benchmark: pools, streams, the peer's stale-clock heuristics replayed on its real streams."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scale_rllib.cli import main
from scale_rllib.schedulers import make_scheduler
from scale_rllib.schedulers.dws_compat import DwsHeftScheduler, DwsPeftScheduler, min_work_to_exit
from scale_rllib.schedulers.heuristics import EFTScheduler
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind, Workflow
from scale_rllib.workloads.dws.streams import dws_arrivals, parse_pool, pool_cluster, read_stream
from scale_rllib.workloads.dws.workload import fixed_pool_counts, random_pool_counts
from scale_rllib.workloads.errors import WorkloadFileError
from tests.scripts import load_benchmark

SCENARIOS = {"6x4_r5.4_const_100": "6x4", "5x5_r9_const_100": "5x5"}
#: Correct EFT / lower bound on the two streams (about 1.05 × and 1.04 ×, docs/dws-benchmark.md).
EFT_RATIO = {"6x4_r5.4_const_100": 1.05, "5x5_r9_const_100": 1.04}


def chain(name: str, works: list[float]) -> Workflow:
    ids = [f"{name}{i}" for i in range(len(works))]
    edges = list(zip(ids, ids[1:]))
    return Workflow.from_edges(name, ids, [TaskKind.COMPUTE] * len(works), works, edges)


def speed(name: str, value: float) -> ServerType:
    return ServerType.from_kind_speeds(name, {}, default=value)


def replay(sim: Simulator, scheduler, seed: int = 0) -> Simulator:
    """Run ``scheduler`` on ``sim`` to the end; returns it (response times filled)."""
    scheduler.reset(seed)
    while sim.next_decision():
        sim.assign(scheduler.select(None, sim))
    sim.run_to_completion()
    return sim


def scenario_sim(shared_data: Path, scenario: str) -> Simulator:
    stream = read_stream(shared_data / "dws" / scenario / "stream.csv", shared_data / "dws" / "dax")
    return stream.simulator(shared_data / "dws" / "dax", pool_cluster(SCENARIOS[scenario]))


def reference(shared_data: Path, scenario: str, column: str) -> np.ndarray:
    with (shared_data / "dws" / scenario / "reference.csv").open() as handle:
        return np.array([float(row[column]) for row in csv.DictReader(handle)])


# ------------------------------------------------------------------------------------------- the real streams
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_replay_reproduces_peer_heft_and_peft(shared_data: Path, scenario: str) -> None:
    summary = json.loads((shared_data / "dws" / scenario / "summary.json").read_text())
    for name, method in (("dws-heft", "HEFT"), ("dws-peft", "PEFT")):
        peer = summary["methods"][method]["mean_flowtime"]
        # the testbed's own tie-breaking (RandomState(env_seed=0).choice among exact ties): every workflow equal
        ours = replay(scenario_sim(shared_data, scenario), make_scheduler(name), seed=0).response_times_s()
        assert ours.mean() == pytest.approx(peer, rel=0.01)
        np.testing.assert_allclose(ours, reference(shared_data, scenario, method), rtol=1e-9, atol=1e-6)
        # deterministic lowest-index tie-breaking: within 1 % too (6x4 PEFT differs by +0.44 %: dispatch order)
        cls = DwsHeftScheduler if name == "dws-heft" else DwsPeftScheduler
        lowest = replay(scenario_sim(shared_data, scenario), cls(tie_break="lowest")).response_times_s()
        assert lowest.mean() == pytest.approx(peer, rel=0.01)
        if name == "dws-heft":  # = the testbed's own lowest-index variant, workflow by workflow
            np.testing.assert_allclose(
                lowest, reference(shared_data, scenario, "HEFT_lowest_index_tiebreak"), atol=1e-6
            )


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_correct_eft_ratio_to_lower_bound(shared_data: Path, scenario: str) -> None:
    sim = replay(scenario_sim(shared_data, scenario), EFTScheduler())
    ratio = sim.response_times_s().mean() / sim.lower_bound_s.mean()
    assert ratio == pytest.approx(EFT_RATIO[scenario], abs=0.006)
    bound = {"6x4_r5.4_const_100": 257.59, "5x5_r9_const_100": 386.38}[scenario]  # docs/dws-benchmark.md
    assert sim.lower_bound_s.mean() == pytest.approx(bound, abs=0.01)


@pytest.mark.parametrize(
    ("trace", "tie_break"), [("heft_trace.csv", "testbed"), ("heft_lowest_index_trace.csv", "lowest")]
)
def test_every_heft_decision_matches_the_peer_trace(shared_data: Path, trace: str, tie_break: str) -> None:
    for scenario in SCENARIOS:
        with (shared_data / "dws" / scenario / trace).open() as handle:
            rows = list(csv.DictReader(handle))
        sim, scheduler = scenario_sim(shared_data, scenario), DwsHeftScheduler(tie_break)
        scheduler.reset(0)
        for row in rows:
            assert sim.next_decision()
            wf = int(sim.task_workflow[sim.task])
            task_id = int(sim.workflows[wf].task_ids[sim.task - sim.offset[wf]][2:])  # "ID00007" → 7
            server = scheduler.select(None, sim)
            assert (wf, task_id, server) == (int(row["workflow_index"]), int(row["task_id"]), int(row["vm_index"]))
            assert sim.now_s == pytest.approx(float(row["decision_time"]), rel=1e-12, abs=1e-12)
            # ≤ 1 ulp-level differences: we multiply by 1/vCPU, the testbed divides by vCPU
            assert sim.assign(server) == pytest.approx(float(row["finish"]), rel=1e-12)
        assert not sim.next_decision()


# ------------------------------------------------------------------------------------- semantics, small cases
def test_stale_clock_prefers_a_long_idle_slow_vm_and_correct_eft_does_not() -> None:
    cluster = Cluster((speed("slow", 1.0), speed("fast", 10.0)))
    for scheduler, server, finish in ((DwsHeftScheduler(), 0, 110.0), (EFTScheduler(), 1, 101.0)):
        sim = Simulator(cluster, [chain("a", [950.0]), chain("b", [10.0])], [0.0, 100.0])
        sim.next_decision()
        assert scheduler.select(None, sim) == 1  # 950 work: fast (L = 95) either way
        sim.assign(1)
        sim.next_decision()
        # at t = 100 the fast VM (L = 95, 95 + 1 = 96) looks worse than the slow one idle since 0 (0 + 10 = 10)
        assert scheduler.select(None, sim) == server
        assert sim.assign(server) == pytest.approx(finish)  # it still starts at max(now, L) = 100


def test_min_work_to_exit_and_peft_lookahead() -> None:
    ids, works = ["a", "b", "c", "d"], [4.0, 2.0, 5.0, 1.0]
    wf = Workflow.from_edges(
        "dia", ids, [TaskKind.COMPUTE] * 4, works, [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    )
    np.testing.assert_allclose(min_work_to_exit(wf), [3.0, 1.0, 1.0, 0.0])
    # slow VM idle since 0 vs fast VM busy until 5: PEFT's SP/v term tips the choice to the fast one
    cluster = Cluster((speed("slow", 1.0), speed("fast", 4.0)))
    sim = Simulator(cluster, [chain("x", [20.0]), wf], [0.0, 0.0])
    sim.next_decision()
    sim.assign(1)  # x0 on fast until 5
    sim.next_decision()  # task a: heft 0 + 4 = 4 (slow) vs 5 + 1 = 6; peft 4 + 3 = 7 vs 6 + 0.75
    assert DwsHeftScheduler().select(None, sim) == 0
    assert DwsPeftScheduler().select(None, sim) == 1


def test_event_ready_order_serves_completions_by_server_index() -> None:
    unit = speed("unit", 1.0)
    orders = {}
    for order in ("ready-time", "event"):
        sim = Simulator(
            Cluster((unit, unit)), [chain("p", [1.0, 1.0]), chain("q", [1.0, 1.0])], [0.0, 0.0], ready_order=order
        )
        for server in (1, 0):  # p0 on server 1, q0 on server 0: both finish at t = 1
            sim.next_decision()
            sim.assign(server)
        sim.next_decision()
        orders[order] = int(sim.task_workflow[sim.task])
    assert orders == {"ready-time": 0, "event": 1}
    with pytest.raises(ValueError, match="ready_order"):
        Simulator(Cluster((unit,)), [chain("p", [1.0])], [0.0], ready_order="fifo")


# ------------------------------------------------------------------------------------------ inputs and errors
def test_pool_strings() -> None:
    assert parse_pool("6x4") == (6, 4) and parse_pool(" 5×5 ") == (5, 5)
    assert pool_cluster("3x2").speed[:, TaskKind.COMPUTE].tolist() == [8, 8, 16, 16, 32, 32]
    for bad in ("7x4", "6x0", "6-4", "", "0x3"):
        with pytest.raises(ValueError, match="pool"):
            parse_pool(bad)


def test_stream_file_errors_name_file_and_line(tmp_path: Path, shared_data: Path) -> None:
    dax = shared_data / "dws" / "dax"
    with pytest.raises(FileNotFoundError, match="stream file does not exist"):
        read_stream(tmp_path / "nope.csv", dax)
    cases = {
        "a,b,c\n": "line 1: header",
        "workflow_index,arrival_time_s,dax_file\n0,zero,Montage_25.xml\n": "line 2: arrival_time_s 'zero'",
        "workflow_index,arrival_time_s,dax_file\n0,5.0,Montage_25.xml\n1,4.0,Montage_25.xml\n": "line 3",
        "workflow_index,arrival_time_s,dax_file\n3,0.0,Montage_25.xml\n": "workflow_index '3'",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"s{i}.csv"
        path.write_text(text)
        with pytest.raises(WorkloadFileError, match=message):
            read_stream(path, dax)
    path = tmp_path / "missing_dax.csv"
    path.write_text("workflow_index,arrival_time_s,dax_file\n0,0.0,Montage_25.xml\n1,3.0,Nope_9.xml\n")
    with pytest.raises(FileNotFoundError, match=r"line 3: dax_file 'Nope_9.xml' is not in DAX directory"):
        read_stream(path, dax)


def test_rate_patterns() -> None:
    rng = np.random.default_rng(0)
    arrivals = dws_arrivals(rng, 3001, 5.4, "change10")
    assert arrivals[0] == 0.0 and np.all(np.diff(arrivals) >= 0) and len(arrivals) == 3001
    gaps = np.diff(arrivals)  # gap j is sample j of the testbed (segments of 1000, 1000, 1001)
    for segment, rate in zip((gaps[:1000], gaps[1000:2000], gaps[2000:]), (5.4, 9.0, 12.6)):
        assert segment.mean() == pytest.approx(3600.0 / rate, rel=0.1)
    assert np.array_equal(
        dws_arrivals(np.random.default_rng(1), 9, 9.0), dws_arrivals(np.random.default_rng(1), 9, 9.0)
    )
    with pytest.raises(ValueError, match="5.4/h and 9/h only"):
        dws_arrivals(rng, 10, 7.0, "change5")
    with pytest.raises(ValueError, match="rate pattern"):
        dws_arrivals(rng, 10, 5.4, "cyclic")


# --------------------------------------------------------------------------- training workload, env, CLI, benchmark
def test_dws_pools() -> None:
    assert [fixed_pool_counts(n) for n in (24, 25, 16, 17)] == [[4] * 6, [5] * 5, [4] * 4, [3, 3, 3, 3, 3, 2]]
    rng = np.random.default_rng(0)
    for n in (16, 19, 24, 3):
        counts = random_pool_counts(n, rng)
        assert sum(counts) == n and min(3, n) <= len(counts) <= 6 and max(counts) - min(counts) <= 1


def test_dws_workload_spec_trains_on_random_pools(shared_data: Path) -> None:
    from scale_rllib.env.config import EnvConfig
    from scale_rllib.env.scheduling_env import SchedulingEnv

    spec = f"dws:{shared_data / 'dws' / 'dax'}"
    env = SchedulingEnv(EnvConfig(workload=spec, servers_range=(16, 25), max_servers=32, load=0.11, num_workflows=3))
    vcpus = set()
    for seed in range(4):
        obs, info = env.reset(seed=seed)
        speeds = env.sim.cluster.speed[:, TaskKind.COMPUTE]
        types = sorted(set(speeds.tolist()))
        assert 16 <= info["servers"] <= 25 and types == [8, 16, 32, 48, 64, 96][: len(types)] and len(types) >= 3
        assert np.all(np.diff(speeds) >= 0) and env.sim.ready_order == "event"  # type-major pool, testbed event order
        vcpus.add(tuple(speeds))
        done = False
        while not done:
            obs, _, done, _, info = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
        assert np.isfinite(info["mean_response_time_s"])
    assert len(vcpus) > 1
    with pytest.raises(ValueError, match="needs a directory"):
        EnvConfig(workload=f"dws:{shared_data / 'dws' / 'dax' / 'Montage_25.xml'}")


def test_env_runs_a_given_simulator_and_rejects_a_used_one(shared_data: Path) -> None:
    import gymnasium as gym
    import torch

    from scale_rllib.env.config import EnvConfig
    from scale_rllib.env.observation import observation_space
    from scale_rllib.env.scheduling_env import SchedulingEnv
    from scale_rllib.evaluation import DwsEvalConfig, evaluate
    from scale_rllib.models.scale_module import ScaleRLModule
    from scale_rllib.schedulers import run_episode
    from scale_rllib.schedulers.policy import PolicyScheduler

    env = SchedulingEnv(EnvConfig(servers_range=(24, 24), max_servers=24))
    direct = replay(scenario_sim(shared_data, "6x4_r5.4_const_100"), DwsHeftScheduler(), seed=0)
    sim = scenario_sim(shared_data, "6x4_r5.4_const_100")
    through_env = run_episode(env, DwsHeftScheduler(), 0, simulator=sim, load=0.1)
    assert through_env.mean_response_time_s == pytest.approx(direct.response_times_s().mean(), rel=1e-12)
    with pytest.raises(ValueError, match="fresh, unstarted Simulator"):
        env.reset(seed=0, options={"simulator": direct})
    with pytest.raises(ValueError, match="differs from the given simulator"):
        env.reset(seed=0, options={"simulator": scenario_sim(shared_data, "6x4_r5.4_const_100"), "servers": 20})
    torch.manual_seed(0)
    module = ScaleRLModule(observation_space=observation_space(4), action_space=gym.spaces.Discrete(4), model_config={})
    cfg = DwsEvalConfig(
        shared_data / "dws" / "dax", "2x2", rate_per_hour=20.0, workflows=4, episodes=2, schedulers=("eft",)
    )
    out = evaluate(cfg, [PolicyScheduler(module)])
    rows, features = out.results, out.features
    assert [r["scheduler"] for r in rows] == ["eft", "scale"] * 2 and {r["seed"] for r in rows} == {0, 1}
    assert all(r["servers"] == 4 and r["pool"] == "2x2" and r["mean_response_time_s"] > 0 for r in rows)
    assert len(features) == 2


def test_cli_evaluate_dws_replay_and_errors(shared_data: Path, tmp_path: Path, capsys) -> None:
    from scale_rllib.evaluation.report import RESULT_COLUMNS

    dws = shared_data / "dws"
    base = ["evaluate", "--scenario", "dws", "--dax-dir", str(dws / "dax"), "--output", str(tmp_path / "out")]
    replay_args = ["--stream", str(dws / "5x5_r9_const_100" / "stream.csv")]
    assert main([*base, "--pool", "5x5", *replay_args]) == 0
    with (tmp_path / "out" / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == (*RESULT_COLUMNS, "scenario", "pool") and [r["scheduler"] for r in rows] == [
        "est",
        "eft",
        "peft",
        "eft-rollout",
        "peft-rollout",
        "dws-heft",
        "dws-peft",
    ]
    assert {(r["servers"], r["pool"], r["scenario"]) for r in rows} == {("25", "5x5", "5x5_r9_const_100")}
    flowtime = {r["scheduler"]: float(r["mean_response_time_s"]) for r in rows}
    assert flowtime["dws-heft"] == pytest.approx(481.53987, rel=1e-6)
    assert flowtime["eft-rollout"] < flowtime["eft"] < flowtime["dws-heft"]
    assert "dws-peft" in capsys.readouterr().out
    errors = {
        "--pool": [*base, "--pool", "7x4", *replay_args],
        "stream file does not exist": [*base, "--pool", "5x5", "--stream", str(tmp_path / "none.csv")],
        "give --stream FILE or --rate-per-hour": [*base, "--pool", "5x5"],
        "only with --scenario dws": ["evaluate", "--pool", "5x5", "--output", str(tmp_path / "x")],
    }
    for message, argv in errors.items():
        assert main(argv) == 2
        assert message in capsys.readouterr().err


def test_benchmark_script(shared_data: Path, tmp_path: Path, capsys) -> None:
    bench = load_benchmark("dws")
    argv = ["--data", str(shared_data / "dws"), "--output", str(tmp_path), "--pools", "4x10", "--patterns", "change5"]
    assert bench.main([*argv, "--episodes", "2", "--workflows", "12"]) == 0
    general = pd.read_csv(tmp_path / "dws_generalization.csv")
    # 4x10 at 9/h, and change5 on both reference pools: every scheduler, 2 streams each, a finite ratio ≥ 1
    assert set(zip(general["scenario"], general["pool"])) == {
        ("r9_constant_12", "4x10"),
        ("r5.4_change5_12", "6x4"),
        ("r9_change5_12", "5x5"),
    }
    assert set(general["scheduler"]) == set(bench.GENERALIZATION_SCHEDULERS)
    assert (general["episodes"] == 2).all() and (general["ratio_to_lower_bound"] >= 1.0).all()
    rows = json.loads((tmp_path / "dws.json").read_text())
    compat = [r for r in rows if r["relative_difference_to_peer"] is not None]
    assert {r["method"] for r in compat} == {"dws-est", "dws-heft", "dws-peft"}
    assert all(abs(r["relative_difference_to_peer"]) < 0.01 for r in compat)
    assert {r["method"] for r in rows if r["source"] == "peer"} >= {"HEFT", "PEFT", "GPHH", "GOODRL"}
    assert "GOODRL" in capsys.readouterr().out


def test_benchmark_self_rollout_option(shared_data: Path, tmp_path: Path, capsys) -> None:
    import gymnasium as gym
    import torch

    from scale_rllib.env.observation import observation_space
    from scale_rllib.models.scale_module import ScaleRLModule

    bench = load_benchmark("dws")
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--data", str(shared_data / "dws"), "--self-rollout", "4"])
    assert exit_info.value.code == 2 and "--self-rollout" in capsys.readouterr().err
    module = ScaleRLModule(observation_space=observation_space(4), action_space=gym.spaces.Discrete(4), model_config={})
    module.save_to_path((tmp_path / "policy").as_posix())
    assert [p.name for p in bench._policies(tmp_path / "policy")] == ["scale"]
    network, rollout = bench._policies(tmp_path / "policy", self_rollout=3)
    assert (network.name, rollout.name, rollout.candidates) == ("scale", "self-rollout", 3)
    # the self-rollout improves on the very network it wraps: same weights
    assert all(torch.equal(a, b) for a, b in zip(network.module.parameters(), rollout.base.module.parameters()))
