"""benchmarks/dws_seeds.py on hand-written benchmarks/dws.py outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.scripts import load_benchmark


def _folder(path: Path, flowtimes: dict[str, float], bound: float = 100.0) -> Path:
    rows = [
        {"scenario": "6x4_r5.4_const_100", "pool": "6x4", "method": m, "source": "ours", "mean_flowtime_s": f,
         "lower_bound_s": bound, "ratio_to_lower_bound": f / bound, "relative_difference_to_peer": None}
        for m, f in flowtimes.items()
    ]  # fmt: skip
    rows.append({**rows[0], "method": "GOODRL", "source": "peer", "ratio_to_lower_bound": 1.5})
    path.mkdir(parents=True)
    (path / "dws.json").write_text(json.dumps(rows))
    return path


def test_network_and_self_rollout_per_seed(tmp_path: Path) -> None:
    heuristics = {"peft-rollout-2": 101.1, "eft": 105.0}
    a = _folder(tmp_path / "a", {"scale": 101.4, "self-rollout": 101.0, **heuristics})
    b = _folder(tmp_path / "b", {"scale": 101.6, **heuristics})  # an output without --self-rollout
    bench = load_benchmark("dws_seeds")
    assert bench.main(["--runs", f"pi/0={a}", f"pi/1={b}", "--output", str(tmp_path / "out")]) == 0
    got = pd.read_csv(tmp_path / "out" / "summary.csv").set_index(["recipe", "seed"])["ratio_to_lower_bound"]
    assert got.to_dict() == pytest.approx(
        {("pi", 0): 1.014, ("pi self-rollout", 0): 1.010, ("pi", 1): 1.016, ("peft-rollout-2", -1): 1.011,
         ("eft", -1): 1.05}
    )  # fmt: skip
    report = (tmp_path / "out" / "report.md").read_text()
    assert "pi on 6x4_r5.4_const_100: 1.0150 (1.0160)" in report
    assert "pi self-rollout on 6x4_r5.4_const_100: 1.0100 (1.0100)" in report
    assert "GOODRL" not in report
