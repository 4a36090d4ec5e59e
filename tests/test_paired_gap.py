"""benchmarks/paired_gap.py: two networks per training seed on the same episodes, hand-made evaluate folders."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.scripts import BENCHMARKS, load_benchmark


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as when the script runs: it imports benchmarks/gap.py
    return load_benchmark("paired_gap")


def _evaluation(folder: Path, scale_rt: dict, scale_over_lb: float, lower_bound: float = 10.0) -> Path:
    """An evaluate folder at N = 16: EFT 12 s on both episodes (EFT / LB 1.2), the network ``scale_rt`` per seed."""
    rows = [("eft", 16, 0.85, seed, 12.0, lower_bound) for seed in scale_rt]
    rows += [("scale", 16, 0.85, seed, rt, lower_bound) for seed, rt in scale_rt.items()]
    folder.mkdir(parents=True)
    columns = ["scheduler", "servers", "load", "seed", "mean_response_time_s", "lower_bound_s"]
    pd.DataFrame(rows, columns=columns).to_csv(folder / "results.csv", index=False)
    summary = [{"servers": 16, "scheduler": s, "ratio_to_lower_bound": r, "best_heuristic": "eft",
                "paired_ratio_to_best": 1.0, "paired_ratio_ci95": 0.0, "episodes": len(scale_rt)}
               for s, r in (("eft", 1.2), ("scale", scale_over_lb))]  # fmt: skip
    pd.DataFrame(summary).to_csv(folder / "summary.csv", index=False)
    return folder


def test_shares_and_paired_ratios_per_seed_and_pooled(bench, tmp_path):
    base = [_evaluation(tmp_path / f"b{i}", {1: 10.0, 2: 20.0}, 1.15) for i in range(2)]
    pol = [_evaluation(tmp_path / "p0", {1: 11.0, 2: 18.0}, 1.10),
           _evaluation(tmp_path / "p1", {1: 9.0, 2: 20.0}, 1.05)]  # fmt: skip
    out = tmp_path / "out"
    argv = ["--baseline", *map(str, base), "--policy", *map(str, pol), "--seeds", "0", "1", "--output", str(out)]
    assert bench.main(argv) == 0
    table = pd.read_csv(out / "paired_gap.csv").set_index("training_seed")
    # EFT/LB 1.2: baseline (1.2 − 1.15) / 0.2 = 25 %; policies (1.2 − 1.10) / 0.2 = 50 %, (1.2 − 1.05) / 0.2 = 75 %
    assert table.loc["0", "baseline_gap_closed"] == pytest.approx(0.25)
    assert table.loc["0", "policy_gap_closed"] == pytest.approx(0.50)
    assert table.loc["1", "policy_gap_closed"] == pytest.approx(0.75)
    assert table.loc["all", "policy_gap_closed"] == pytest.approx(0.625)  # the seeds' mean
    # paired: seed 0 (1.1 + 0.9) / 2 = 1.0, seed 1 (0.9 + 1.0) / 2 = 0.95; pooled over all 4 episodes 0.975
    assert table.loc["0", "ratio"] == pytest.approx(1.0)
    assert table.loc["1", "ratio"] == pytest.approx(0.95)
    assert table.loc["all", "ratio"] == pytest.approx(0.975)
    assert table.loc["all", "episodes"] == 4
    assert "| 1 | 16 | 1.200 | 25% | 75% | 0.950 |" in (out / "report.md").read_text()


def test_different_episodes_are_an_error_naming_the_folders(bench, tmp_path, capsys):
    base = _evaluation(tmp_path / "b", {1: 10.0, 2: 20.0}, 1.15)
    pol = _evaluation(tmp_path / "p", {1: 10.0, 2: 20.0}, 1.15, lower_bound=11.0)  # other workflows
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--baseline", str(base), "--policy", str(pol), "--output", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert f"seed 0 ({base} vs {pol}): the two evaluations hold different episodes" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_missing_summary_and_unpaired_folders_are_named(bench, tmp_path, capsys):
    base = _evaluation(tmp_path / "b", {1: 10.0}, 1.15)
    (base / "summary.csv").unlink()
    with pytest.raises(SystemExit):
        bench.main(["--baseline", str(base), "--policy", str(base), "--output", str(tmp_path / "out")])
    assert f"{base / 'summary.csv'}: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--baseline", str(base), str(base), "--policy", str(base), "--output", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert "--baseline, --policy and --seeds: 2, 1 and 2 values" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
