"""benchmarks/teacher_gap.py: the gap tables of the network, its self-rollout and eft-rollout, hand-made summary."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.scripts import load_benchmark


@pytest.fixture
def bench(monkeypatch):
    return load_benchmark("teacher_gap", monkeypatch)


def _summary() -> pd.DataFrame:
    ratios = {16: {"eft": 1.40, "eft-rollout": 1.30, "scale": 1.36, "self-rollout": 1.20},
              48: {"eft": 1.10, "eft-rollout": 1.08, "scale": 1.09, "self-rollout": 1.05}}  # fmt: skip
    return pd.DataFrame([{"servers": n, "scheduler": s, "ratio_to_lower_bound": r, "best_heuristic": "eft-rollout",
                          "paired_ratio_to_best": 1.0, "paired_ratio_ci95": 0.0, "episodes": 3}
                         for n, cell in ratios.items() for s, r in cell.items()])  # fmt: skip


def test_each_policy_gets_its_share_of_efts_gap(bench):
    lines = bench.report(_summary(), "python benchmarks/teacher_gap.py --checkpoint C")
    rows = lines[lines.index("|---|---:|---:|---:|---:|---:|") + 1 :]
    # (1.40 − 1.36) / 0.40 = 10 %, (1.40 − 1.20) / 0.40 = 50 %, (1.40 − 1.30) / 0.40 = 25 %; N = 48: over 0.10
    assert rows == [
        "| scale | 16 | 1.400 | 1.360 | 10% | 3 |",
        "| scale | 48 | 1.100 | 1.090 | 10% | 3 |",
        "| self-rollout | 16 | 1.400 | 1.200 | 50% | 3 |",
        "| self-rollout | 48 | 1.100 | 1.050 | 50% | 3 |",
        "| eft-rollout | 16 | 1.400 | 1.300 | 25% | 3 |",
        "| eft-rollout | 48 | 1.100 | 1.080 | 20% | 3 |",
    ]
    assert "python benchmarks/teacher_gap.py --checkpoint C" in lines


def test_no_candidates_is_an_error_before_any_loading(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--checkpoint", str(tmp_path / "none"), "--candidates", "0", "--output", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert "--candidates: must be ≥ 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_missing_checkpoint_is_named(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--checkpoint", str(tmp_path / "none"), "--output", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert f"--checkpoint: no checkpoint folder at {tmp_path / 'none'}" in capsys.readouterr().err


def test_a_clairvoyant_teacher_gets_its_own_rows(bench):
    summary = _summary()
    extra = summary[summary["scheduler"] == "self-rollout"].assign(scheduler="self-rollout+8")
    extra["ratio_to_lower_bound"] = [1.10, 1.02]
    policies = ("scale", "self-rollout", "self-rollout+8", "eft-rollout")
    lines = bench.report(pd.concat([summary, extra]), "cmd", policies)
    # (1.40 − 1.10) / 0.40 = 75 %, (1.10 − 1.02) / 0.10 = 80 %
    assert "| self-rollout+8 | 16 | 1.400 | 1.100 | 75% | 3 |" in lines
    assert "| self-rollout+8 | 48 | 1.100 | 1.020 | 80% | 3 |" in lines


def test_negative_known_arrivals_is_an_error_before_any_loading(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--checkpoint", str(tmp_path / "none"), "--known-arrivals", "0", "-3",
                    "--output", str(tmp_path / "out")])  # fmt: skip
    assert exit_.value.code == 2
    assert "--known-arrivals: must be ≥ 0, got -3" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
