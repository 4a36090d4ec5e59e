"""benchmarks/offline_headroom.py: the clairvoyant local search on a hand-computed EFT trap, its report, bad flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.schedulers import make_scheduler, run_episode
from scale_rllib.sim.cluster import Cluster
from scale_rllib.sim.simulator import Simulator
from tests.scripts import load_benchmark
from tests.test_dws import chain, speed

SLOW, FAST = 0, 1


@pytest.fixture
def bench(monkeypatch):
    return load_benchmark("offline_headroom", monkeypatch)


def eft_trap() -> Simulator:
    """Servers of speed 1 and 1.25, one slot each; a 10-unit task at t = 0, then a 100-unit one at t = 0.1.

    EFT gives the first task the fast server (finish 8 s vs 10 s), so the second waits for it there (8 + 80 = 88 s,
    vs 100.1 s on the slow one): responses 8 and 87.9 s, mean 47.95 s. Had the first taken the slow server, the second
    runs at once on the fast one: 10 and 80 s, mean 45 s — the optimum (the other two schedules are 54 and 60 s).
    """
    cluster = Cluster.from_counts([(speed("slow", 1.0), 1), (speed("fast", 1.25), 1)])
    sim = Simulator(cluster, [chain("a", [10.0]), chain("b", [100.0])], [0.0, 0.1])
    assert sim.next_decision()
    return sim


def test_the_search_leaves_efts_trap_for_the_hand_computed_optimum(bench) -> None:
    start = eft_trap()
    eft = {0: FAST, 1: FAST}
    assert bench.finish(start.fork(), eft) == pytest.approx(47.95)
    schedule, cost, sweeps = bench.search(start, eft, candidates=2, sweeps=10)
    assert schedule == {0: SLOW, 1: FAST} and cost == pytest.approx(45.0)
    assert sweeps == 2  # the first sweep moves task 0 to the slow server; the second changes nothing
    assert start.task == 0 and start.decisions == 0  # the start is not changed


def test_record_keeps_every_decision_and_its_replay_is_the_episode(bench) -> None:
    env = SchedulingEnv({"num_workflows": 15})
    start, schedule = bench.record(env, make_scheduler("eft"), seed=7, servers=6)
    episode = run_episode(env, make_scheduler("eft"), seed=7, servers=6)
    assert start.decisions == 0 and start.task >= 0  # forked at the first decision, before it was applied
    assert len(schedule) == episode.decisions == sum(w.num_tasks for w in start.workflows)
    assert bench.finish(start.fork(), schedule) == pytest.approx(episode.mean_response_time_s)


def test_a_sweep_never_returns_a_worse_schedule(bench) -> None:
    start = eft_trap()
    optimum = {0: SLOW, 1: FAST}
    schedule, cost = bench.sweep(start, optimum, 45.0, candidates=2)
    assert (schedule, cost) == (optimum, 45.0)


def test_iterated_search_never_loses_and_kicks_keep_every_task_scheduled(bench) -> None:
    start = eft_trap()
    kicked = bench.kick(start, {0: FAST, 1: FAST}, size=1, candidates=2, rng=np.random.default_rng(0))
    assert set(kicked) == {0, 1} and set(kicked.values()) <= {SLOW, FAST}
    args = {"kicks": 3, "size": 2, "candidates": 2, "sweeps": 10}
    assert bench.iterated_search(start, {0: SLOW, 1: FAST}, 45.0, **args, rng=np.random.default_rng(0)) == 45.0
    rng = np.random.default_rng(0)  # from EFT's schedule (not a local optimum) a kick's descent reaches the optimum
    assert bench.iterated_search(start, {0: FAST, 1: FAST}, 47.95, **args, rng=rng) == pytest.approx(45.0)


def test_report_gives_each_policy_its_share_of_efts_gap(bench) -> None:
    rows = [(16, s, name, rt, 10.0) for s in (1, 2) for name, rt in (("eft", 14.0), ("scale", 13.0), ("search", 12.0))]
    results = pd.DataFrame(rows, columns=["servers", "seed", "scheduler", "mean_response_time_s", "lower_bound_s"])
    lines = bench.report(results, "python benchmarks/offline_headroom.py")
    # EFT / LB 1.4; scale 1.3 closes (1.4 − 1.3) / 0.4 = 25 %, the search 1.2 closes 50 %; EFT has no row of its own
    assert lines[-4:] == [
        "| policy | N | eft / LB | policy / LB | gap closed | episodes |",
        "|---|---:|---:|---:|---:|---:|",
        "| scale | 16 | 1.400 | 1.300 | 25% | 2 |",
        "| search | 16 | 1.400 | 1.200 | 50% | 2 |",
    ]
    assert "python benchmarks/offline_headroom.py" in lines


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--candidates", "1"], "--candidates: must be ≥ 2"),
        (["--checkpoint", "nowhere"], "--checkpoint: no checkpoint folder at nowhere"),
        (["--start", "fifo"], "unknown scheduler 'fifo'"),
        (["--kick-size", "0"], "--kicks must be ≥ 0 and --kick-size ≥ 1, got 0 and 0"),
    ],
)
def test_bad_flags_exit_2_before_any_search(bench, tmp_path, capsys, flags, message) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench.main([*flags, "--output", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
