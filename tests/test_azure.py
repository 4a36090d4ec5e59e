"""Tests of the Azure LLM inference trace loader, its replayed arrivals and the ``@azure:`` / ``--arrivals`` specs."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from scale_rllib.cli import main
from scale_rllib.workloads.errors import WorkloadFileError
from scale_rllib.workloads.formats.azure import load_azure_trace
from scale_rllib.workloads.replay import ReplayedArrivals
from scale_rllib.workloads.spec import make_workload, split_arrivals, validate_spec

#: file → (requests, first-to-last span in s), counted independently below with the csv module.
TRACES = {
    "AzureLLMInferenceTrace_code.csv": (8819, 3435.948056),
    "AzureLLMInferenceTrace_conv.csv": (19366, 3501.721937),
}


def _write_csv(path: Path, rows: list[tuple[str, str, str]], header=("TIMESTAMP", "ContextTokens", "GeneratedTokens")):
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _seconds(stamp: str) -> float:
    day, clock = stamp.split(" ")
    whole, _, frac = clock.partition(".")
    return datetime.fromisoformat(f"{day} {whole}").timestamp() + float(f"0.{frac or 0}")


# ---------------------------------------------------------------------------------------------------- real data
@pytest.mark.parametrize("name", sorted(TRACES))
def test_real_trace_request_count_and_span(shared_data: Path, name: str) -> None:
    file = shared_data / "azure-llm-2023" / name
    with file.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    trace = load_azure_trace(file)
    count, span = TRACES[name]
    assert trace.num_requests == len(rows) == count
    assert trace.span_s == pytest.approx(_seconds(rows[-1]["TIMESTAMP"]) - _seconds(rows[0]["TIMESTAMP"]), abs=1e-6)
    assert trace.span_s == pytest.approx(span, abs=1e-6)
    assert trace.context_tokens.sum() == sum(int(r["ContextTokens"]) for r in rows)
    assert trace.generated_tokens.sum() == sum(int(r["GeneratedTokens"]) for r in rows)
    assert trace.arrival_s[0] == 0.0 and np.all(np.diff(trace.arrival_s) >= 0)
    print(f"{name}: {trace.num_requests} requests over {trace.span_s:.3f} s ({trace.mean_rate_per_s:.3f} req/s)")


def test_directory_merges_both_traces_by_time(shared_data: Path) -> None:
    trace = load_azure_trace(shared_data / "azure-llm-2023")
    assert trace.num_requests == sum(n for n, _ in TRACES.values()) == 28185
    assert len(trace.files) == 2 and np.all(np.diff(trace.arrival_s) >= 0)
    assert trace.span_s == pytest.approx(3513.247426, abs=1e-6)  # conv starts first, code ends last


def test_replay_keeps_the_trace_gaps_and_scales_the_rate(shared_data: Path) -> None:
    trace = load_azure_trace(shared_data / "azure-llm-2023" / "AzureLLMInferenceTrace_code.csv")
    start = int(np.random.default_rng(7).integers(trace.num_requests))
    raw = trace.arrival_times(np.random.default_rng(7), 50, None)
    np.testing.assert_allclose(raw, trace.arrival_s[start : start + 50] - trace.arrival_s[start])
    scaled = trace.arrival_times(np.random.default_rng(7), 50, 2 * trace.mean_rate_per_s)
    np.testing.assert_allclose(scaled, raw / 2)
    long = trace.arrival_times(np.random.default_rng(1), 5 * trace.num_requests, 3.0)  # wraps around the trace
    assert np.all(np.diff(long) >= 0) and (len(long) - 1) / long[-1] == pytest.approx(3.0, rel=0.01)


# ---------------------------------------------------------------------------------------------------- synthetic
def test_synthetic_trace_window_and_wrap(tmp_path: Path) -> None:
    stamps = ["2023-11-16 18:00:00.0000000", "2023-11-16 18:00:01", "2023-11-16 18:00:03.5", "2023-11-16 18:00:06"]
    file = _write_csv(tmp_path / "t.csv", [(s, str(10 * i), str(i)) for i, s in enumerate(stamps)])
    trace = load_azure_trace(file)
    np.testing.assert_allclose(trace.arrival_s, [0, 1, 3.5, 6])
    assert trace.mean_rate_per_s == pytest.approx(0.5)
    for seed in range(6):  # the window starts at a random request and wraps with a period of span + mean gap = 8 s
        start = int(np.random.default_rng(seed).integers(4))
        times = np.array([0, 1, 3.5, 6, 8, 9, 11.5, 14])[start : start + 4]
        np.testing.assert_allclose(trace.arrival_times(np.random.default_rng(seed), 4), times - times[0])
        np.testing.assert_allclose(trace.arrival_times(np.random.default_rng(seed), 4, 1.0), (times - times[0]) / 2)
    context, generated = trace.sample_tokens(np.random.default_rng(0), 100)
    assert set(zip(context, generated)) <= {(0, 0), (10, 1), (20, 2), (30, 3)}  # pairs drawn jointly


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([("2023-11-16 18:00:00", "1", "1")], ("TIMESTAMP", "ContextTokens"), "missing column.*GeneratedTokens"),
        ([("2023-11-16 18:00:00", "1", "1"), ("yesterday", "1", "1")], None, "line 3: TIMESTAMP 'yesterday'"),
        ([("2023-11-16 18:00:00", "1", "1"), ("2023-11-16 18:00:01", "-4", "1")], None, "line 3: ContextTokens '-4'"),
        ([("2023-11-16 18:00:00", "1", "x")], None, "line 2: GeneratedTokens 'x'"),
        ([("2023-11-16 18:00:00", "1", "1")], None, "at least two requests at distinct times"),
    ],
)
def test_malformed_trace_names_file_and_line(tmp_path: Path, rows, header, message: str) -> None:
    file = _write_csv(tmp_path / "bad.csv", rows, *(header,) if header else ())
    with pytest.raises(WorkloadFileError, match=message) as info:
        load_azure_trace(file)
    assert "bad.csv" in str(info.value)


def test_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_azure_trace(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="no Azure trace"):
        load_azure_trace(tmp_path)


# ---------------------------------------------------------------------------------------------------- specs, CLI
def test_any_workload_with_replayed_arrivals(shared_data: Path) -> None:
    path = shared_data / "azure-llm-2023" / "AzureLLMInferenceTrace_conv.csv"
    workload = make_workload(f"agentic@azure:{path}")
    assert isinstance(workload, ReplayedArrivals) and workload.profile is make_workload("agentic").profile
    sim = workload.build_episode(np.random.default_rng(3), servers=8, load=0.5, num_workflows=40, randomize_mix=False)
    rate = 0.5 * sim.cluster.service_rate(workload.mean_work_by_kind())
    recorded = sim.arrival_s * rate / workload.trace.mean_rate_per_s  # back in trace seconds
    windows = np.lib.stride_tricks.sliding_window_view(workload.trace.arrival_s, 40)  # every 40-request window
    error = np.abs(windows - windows[:, :1] - recorded).max(axis=1)
    assert error.min() < 1e-6  # the arrivals are one window of the trace, time-scaled


def test_arrivals_spec_errors(tmp_path: Path) -> None:
    assert split_arrivals("agentic") == ("agentic", None)
    assert split_arrivals("wfinstances:/data/a@b") == ("wfinstances:/data/a@b", None)
    with pytest.raises(ValueError, match="unknown arrival source 'poisson'"):
        validate_spec("agentic@poisson:1.0")
    with pytest.raises(FileNotFoundError, match="arrivals path"):
        validate_spec(f"agentic@azure:{tmp_path / 'nope.csv'}")


def test_cli_arrivals_flag_is_validated(tmp_path: Path, capsys) -> None:
    args = ["evaluate", "--workload", "agentic", "--arrivals", f"azure:{tmp_path / 'nope.csv'}"]
    assert main([*args, "--output", str(tmp_path / "out")]) == 2
    assert "arrivals path" in capsys.readouterr().err
