"""benchmarks/gap.py: a missing summary, policy or baseline exits 2 naming the file, before writing a report."""

from __future__ import annotations

import pytest

from tests.scripts import evaluation_folder, load_benchmark


@pytest.fixture
def bench():
    return load_benchmark("gap")


def test_the_gap_table_of_a_hand_made_evaluation(bench, tmp_path, capsys):
    folder = evaluation_folder(tmp_path / "eval", {1: 11.0}, 1.1)  # EFT / LB 1.2, the network 1.1: half the gap
    assert bench.main([str(folder)]) == 0
    assert "| 16 | 1.200 | 1.100 | 50% | 1.000 | 0.000 | eft | 1 |" in (folder / "report.md").read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--policy", "peft-rollout-2"], "no peft-rollout-2 at N = 16 (it has eft, scale)"),
        (["--baseline", "peft"], "no peft at N = 16 (it has eft, scale)"),
    ],
)
def test_a_scheduler_not_in_the_summary_is_named(bench, tmp_path, capsys, flags, message):
    folder = evaluation_folder(tmp_path / "eval", {1: 11.0}, 1.1)
    with pytest.raises(SystemExit) as exit_:
        bench.main([str(folder), *flags])
    assert exit_.value.code == 2
    assert f"{folder / 'summary.csv'}: {message}" in capsys.readouterr().err
    assert not (folder / "report.md").exists()


def test_a_missing_summary_is_named(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main([str(tmp_path / "nowhere")])
    assert exit_.value.code == 2
    assert f"{tmp_path / 'nowhere' / 'summary.csv'}: no such file" in capsys.readouterr().err
