"""The LP lower bound on an episode's mean response time (scale_rllib.sim.lp_bound): hand-computed queues, precedence,
heterogeneous servers, serving engines, and validity against every scheduler on random episodes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scale_rllib.schedulers import make_scheduler
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.lp_bound import lp_lower_bound_s
from scale_rllib.sim.serving import ServingSimulator
from scale_rllib.sim.simulator import Simulator
from tests.scripts import load_benchmark
from tests.test_bounds import UNIT, chain, fanout, random_episode
from tests.test_serving import TOY, call_chain, engine_type


def schedule(sim: Simulator, name: str, seed: int = 0) -> np.ndarray:
    """Run ``name`` on ``sim`` to the end; per-workflow response times (seconds)."""
    scheduler = make_scheduler(name)
    scheduler.reset(seed)
    while sim.next_decision():
        sim.assign(scheduler.select(None, sim))
    sim.run_to_completion()
    return sim.response_times_s()


def bound(sim: Simulator, interval_s: float, reference: np.ndarray) -> float:
    """The LP bound with the horizon the module docstring asks for (last arrival + a schedule's total)."""
    end = float(sim.arrival_s.max() + reference.sum())
    return lp_lower_bound_s(sim, interval_s=interval_s, fine_until_s=end, horizon_s=end).mean_s


@pytest.mark.parametrize(("servers", "tasks", "interval"), [(1, 2, 0.1), (2, 8, 0.25), (3, 6, 0.05)])
def test_a_burst_on_identical_servers_is_bounded_within_half_an_interval_of_the_optimum(servers, tasks, interval):
    # `tasks` one-task workflows of 1 s arrive at 0 on `servers` unit servers: the optimum finishes `servers` of them
    # at 1, 2, … s, mean (tasks / servers + 1) / 2. The per-workflow bound is 1 s. In the LP, Σ C_t = tasks / 2 +
    # Σ y b with at most `servers` · Δ work per interval, ≥ tasks / 2 + (tasks / 2)(tasks / servers − Δ): the mean
    # is ≥ the optimum − Δ / 2.
    sim = Simulator(Cluster.from_counts([(UNIT, servers)]), [fanout(1, 1.0)] * tasks, [0.0] * tasks)
    optimum = (tasks / servers + 1) / 2
    assert sim.lower_bound_s.mean() == pytest.approx(1.0)
    lp = bound(sim, interval, np.full(tasks, optimum * 2))
    assert optimum - interval / 2 - 1e-6 <= lp <= optimum + 1e-6


def test_precedence_and_queueing_together():
    # one unit server; workflow A = chain of two 1-s tasks, B = one 1-s task, both at 0. Orders: B A1 A2 gives
    # (3 + 1) / 2 = 2 s, the others 2.5 s; per-workflow bounds 2 and 1 (mean 1.5). The LP sees that B and A share
    # the server: its bound is above 1.5 and at most 2.
    sim = Simulator(Cluster.from_counts([(UNIT, 1)]), [chain([1.0, 1.0]), fanout(1, 1.0)], [0.0, 0.0])
    assert sim.lower_bound_s.mean() == pytest.approx(1.5)
    lp = bound(sim, 0.05, np.array([3.0, 2.0]))
    assert 1.5 + 0.1 < lp <= 2.0 + 1e-6


def test_a_burst_that_overflows_the_fast_server_pays_the_slow_one():
    # speed 3 and speed 1 servers, three tasks of 3 units at 0: 1 s on the fast, 3 s on the slow one. Optimum: the
    # fast one runs them all (1, 2, 3 s) or two of them plus the slow one (1, 2, 3 s): mean 2 s. Per-workflow
    # bound: 1 s (critical path; capacity 3 / 4 s). The LP charges the burst: between 1.5 and 2.
    fast = ServerType.from_kind_speeds("fast", {}, default=3.0)
    sim = Simulator(Cluster.from_counts([(UNIT, 1), (fast, 1)]), [fanout(1, 3.0)] * 3, [0.0] * 3)
    assert sim.lower_bound_s.mean() == pytest.approx(1.0)
    lp = bound(sim, 0.05, np.full(3, 2.0))
    assert 1.5 < lp <= 2.0 + 1e-6


def test_an_engine_batches_calls_so_the_bound_does_not_queue_them_in_slots():
    # four one-call workflows (2 prompt, 20 output tokens) at 0 on one engine with 2 slots: the batch decodes all
    # four at once, sooner than two slots would (two after two: a mean of 1.5 × a call alone); the LP does not
    # charge engine calls to slots, so it stays below what the engine does.
    flows = [call_chain(f"w{i}", [2], [20], [0]) for i in range(4)]
    sim = ServingSimulator(Cluster((engine_type(TOY),)), flows, [0.0] * 4)
    actual = schedule(sim, "eft")
    fresh = ServingSimulator(Cluster((engine_type(TOY),)), flows, [0.0] * 4)
    alone = fresh.lower_bound_s.mean()
    assert actual.mean() < 1.5 * alone
    lp = bound(fresh, 0.1, actual)
    assert alone - 1e-6 <= lp <= actual.mean() + 1e-6


def test_tasks_of_almost_no_time_are_relaxed_and_the_bound_still_holds():
    # a chain with a 10⁻¹¹-s middle task (WorFBench tool nodes can be that short) and a second workflow on one unit
    # server: the short task takes no time in the LP (1 / e would be 10¹¹), the bound stays between the two others
    flows = [chain([1.0, 1e-11, 1.0]), fanout(1, 1.0)]
    sim = Simulator(Cluster.from_counts([(UNIT, 1)]), flows, [0.0, 0.0])
    actual = schedule(Simulator(Cluster.from_counts([(UNIT, 1)]), flows, [0.0, 0.0]), "eft")
    lp = bound(sim, 0.05, actual)
    assert sim.lower_bound_s.mean() + 0.1 < lp <= actual.mean() + 1e-6


@pytest.mark.parametrize("seed", range(6))
def test_no_scheduler_beats_the_lp_bound_on_random_episodes(seed):
    # smaller than tests/test_bounds.py's, with bursts: 2 types of 1–2 servers, 1–5 tasks, arrival gaps of 0.5 s
    cluster, flows, arrivals = random_episode(seed, types=2, max_count=2, max_size=5, edge_rate=2.0, work=(0.5, 6.0),
                                              gap_s=0.5)  # fmt: skip
    times = {name: schedule(Simulator(cluster, flows, arrivals), name, seed) for name in ("random", "eft", "peft")}
    sim = Simulator(cluster, flows, arrivals)
    lp = bound(sim, 0.25, times["eft"])
    assert lp >= sim.lower_bound_s.mean() - 1e-6
    for name, rt in times.items():
        assert lp <= rt.mean() + 1e-6, name


def test_bad_intervals_and_horizons_are_refused():
    sim = Simulator(Cluster.from_counts([(UNIT, 1)]), [fanout(1, 1.0)] * 2, [0.0, 5.0])
    with pytest.raises(ValueError, match="interval_s"):
        lp_lower_bound_s(sim, interval_s=0.0, fine_until_s=10.0, horizon_s=10.0)
    with pytest.raises(ValueError, match="horizon_s"):
        lp_lower_bound_s(sim, interval_s=0.5, fine_until_s=4.0, horizon_s=4.5)
    with pytest.raises(ValueError, match="fine_until_s"):
        lp_lower_bound_s(sim, interval_s=0.5, fine_until_s=0.0, horizon_s=10.0)


@pytest.fixture
def bench(monkeypatch):
    return load_benchmark("lp_bound", monkeypatch)


def test_the_benchmark_scores_a_policy_against_both_bounds(bench, tmp_path) -> None:
    flags = ["--servers", "4", "--episodes", "1", "--interval", "1.0"]
    assert bench.main([*flags, "--output", str(tmp_path / "plain")]) == 0
    ep = pd.read_csv(tmp_path / "plain" / "episodes.csv").iloc[0]
    assert ep.lower_bound_s - 1e-9 <= ep.lp_bound_s <= ep.eft_s + 1e-9
    policy = (ep.eft_s + ep.lp_bound_s) / 2  # a made-up network halfway between EFT and the LP bound
    csv = tmp_path / "net-a" / "results.csv"
    csv.parent.mkdir()
    pd.DataFrame({"scheduler": ["eft", "scale"], "servers": 4, "seed": int(ep.seed),
                  "mean_response_time_s": [ep.eft_s, policy]}).to_csv(csv, index=False)  # fmt: skip
    out = tmp_path / "scored"
    assert bench.main([*flags, "--results", str(csv), "--group", "nets=net-a", "--output", str(out)]) == 0
    scored = pd.read_csv(out / "shares.csv").set_index("label")
    assert scored.loc["net-a", "gap_closed_lp"] == pytest.approx(0.5)
    assert scored.loc["net-a", "gap_closed"] == pytest.approx((ep.eft_s - policy) / (ep.eft_s - ep.lower_bound_s))
    assert scored.loc["nets (mean of 1)", "gap_closed_lp"] == pytest.approx(0.5)
    assert "| net-a | 4 | 1 |" in (out / "report.md").read_text()


def test_the_benchmark_refuses_other_episodes_and_unknown_groups_before_solving(bench, tmp_path, capsys) -> None:
    csv = tmp_path / "other" / "results.csv"
    csv.parent.mkdir()
    pd.DataFrame({"scheduler": ["eft", "scale"], "servers": 4, "seed": 10000,
                  "mean_response_time_s": [1e6, 1.0]}).to_csv(csv, index=False)  # fmt: skip
    base = ["--servers", "4", "--episodes", "1", "--output", str(tmp_path / "out")]
    for extra, message in (([], "differ from this run's"), (["--group", "g=nobody"], "no --results rows labelled")):
        if extra:  # a CSV of the right episodes, and a group naming a label it lacks
            rows = pd.read_csv(csv)
            rows.loc[rows.scheduler == "eft", "scheduler"] = "peft"
            rows.to_csv(csv, index=False)
        with pytest.raises(SystemExit) as stop:
            bench.main([*base, "--results", str(csv), *extra])
        assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
