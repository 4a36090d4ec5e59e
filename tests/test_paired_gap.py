"""benchmarks/paired_gap.py: two networks per training seed on the same episodes, hand-made evaluate folders."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.scripts import evaluation_folder, load_benchmark


@pytest.fixture
def bench(monkeypatch):
    return load_benchmark("paired_gap", monkeypatch)


def test_shares_and_paired_ratios_per_seed_and_pooled(bench, tmp_path):
    base = [evaluation_folder(tmp_path / f"b{i}", {1: 10.0, 2: 20.0}, 1.15) for i in range(2)]
    pol = [evaluation_folder(tmp_path / "p0", {1: 11.0, 2: 18.0}, 1.10),
           evaluation_folder(tmp_path / "p1", {1: 9.0, 2: 20.0}, 1.05)]  # fmt: skip
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
    base = evaluation_folder(tmp_path / "b", {1: 10.0, 2: 20.0}, 1.15)
    pol = evaluation_folder(tmp_path / "p", {1: 10.0, 2: 20.0}, 1.15, lower_bound=11.0)  # other workflows
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--baseline", str(base), "--policy", str(pol), "--output", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert f"seed 0 ({base} vs {pol}): the two evaluations hold different episodes" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_missing_summary_and_unpaired_folders_are_named(bench, tmp_path, capsys):
    base = evaluation_folder(tmp_path / "b", {1: 10.0}, 1.15)
    (base / "summary.csv").unlink()
    with pytest.raises(SystemExit):
        bench.main(["--baseline", str(base), "--policy", str(base), "--output", str(tmp_path / "out")])
    assert f"{base / 'summary.csv'}: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--baseline", str(base), str(base), "--policy", str(base), "--output", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert "--baseline, --policy and --seeds: 2, 1 and 2 values" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
