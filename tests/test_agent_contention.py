"""benchmarks/agent_contention.py: workflows replayed alone with the background, paired with whole episodes."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.scripts import load_benchmark


@pytest.fixture
def bench(monkeypatch):
    return load_benchmark("agent_contention", monkeypatch)


def test_the_summary_pairs_the_replays_with_each_router_within_an_episode(bench):
    # episode 1: bound 10, eft 12 / 14 (mean 13), lone 11 / 13 (mean 12) → 12 / 13; episode 2: 10 / 11 (mean 10.5),
    # lone 10 / 11 (mean 10.5) → 1.0; one of four workflows is faster in the episode than alone (10 < 11)
    frame = pd.DataFrame({"servers": 16, "seed": [1, 1, 2, 2], "workflow": [0, 3, 1, 2],
                          "lower_bound_s": 10.0, "eft_s": [12.0, 14.0, 11.0, 10.0],
                          "lone_s": [11.0, 13.0, 10.0, 11.0]})  # fmt: skip
    row = bench.summarize(frame, ["eft"]).iloc[0]
    assert row.lone_over_router == pytest.approx((12 / 13 + 1.0) / 2)
    assert row.router_over_lb == pytest.approx((1.3 + 1.05) / 2)
    assert row.lone_over_lb == pytest.approx((1.2 + 1.05) / 2)
    assert row.ci95 > 0 and row.faster_in_episode == 0.25 and (row.episodes, row.sampled) == (2, 4)
    lines = bench.report(bench.summarize(frame, ["eft"]), "cmd")
    assert lines[-1] == "| 16 | eft | 2 | 4 | 1.175 | 1.125 | 0.962 | 0.489 | 25% |"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sample", "0"], "--sample: must be ≥ 1, got 0"),
        (["--warmup-s", "-1"], "--warmup-s: must be ≥ 0, got -1.0"),
        (["--routers", "eft", "nope"], "--routers: unknown nope"),
        (["--lone-routers", "nope"], "--lone-routers: unknown nope"),
        (["--workload", "agentic"], "--workload: 'agentic' has no serving engines"),
    ],
)
def test_bad_arguments_exit_2_before_any_episode(bench, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--workload", "agentic", "--output", str(tmp_path / "out"), *argv])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_small_episode_end_to_end(bench, tmp_path, shared_data):
    spec = (f"agentic-serving:{shared_data / 'worfbench'},azure={shared_data / 'azure-llm-2023'},tools=service,"
            "background=0.75")  # fmt: skip
    out = tmp_path / "out"
    bench.main(["--workload", spec, "--servers", "4", "--episodes", "1", "--workflows-per-server", "3",
                "--sample", "4", "--routers", "eft", "least-outstanding", "--lone-routers", "eft", "eft-rollout",
                "--output", str(out)])  # fmt: skip
    workflows = pd.read_csv(out / "workflows.csv")
    assert len(workflows) == 4 and workflows.workflow.is_unique
    assert (
        (workflows[["eft_s", "least-outstanding_s", "lone_s"]].ge(workflows.lower_bound_s - 1e-9, axis=0)).all().all()
    )
    assert "| 4 | least-outstanding | 1 | 4 |" in (out / "report.md").read_text()
