"""benchmarks/select_by_validation.py: pick a network per training seed on validation, test it against the first."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.scripts import evaluation_folder, load_benchmark

VALIDATION = {20_000: 10.0, 20_001: 12.0}  # validation episode seeds → the network's RT (unused by the score)
TEST = {10_000: 10.0, 10_001: 20.0}


@pytest.fixture
def bench(monkeypatch):
    return load_benchmark("select_by_validation", monkeypatch)


def _candidate(root, name: str, val_over_lb: float, test_rt: dict, test_over_lb: float) -> None:
    """A candidate's validation and test evaluate folders (EFT / LB 1.2 on both)."""
    evaluation_folder(root / "val" / name, VALIDATION, val_over_lb)
    evaluation_folder(root / "test" / name, test_rt, test_over_lb)


def test_the_best_validation_score_is_picked_and_tested_against_the_first(bench, tmp_path):
    # group 0: b has the best validation share, (1.2 − 1.05) / 0.2 = 75 %, vs a 25 % and c 50 %
    _candidate(tmp_path, "a", 1.15, TEST, 1.15)
    _candidate(tmp_path, "b", 1.05, {10_000: 9.0, 10_001: 18.0}, 1.10)
    _candidate(tmp_path, "c", 1.10, TEST, 1.00)  # best on test, but validation decides
    # group 1: its first candidate ties the second on validation, so the first is kept (ratio 1 to itself)
    _candidate(tmp_path, "d", 1.10, TEST, 1.10)
    _candidate(tmp_path, "e", 1.10, TEST, 1.05)
    out = tmp_path / "out"
    argv = ["--validation", str(tmp_path / "val"), "--test", str(tmp_path / "test"),
            "--group", "0=a,b,c", "--group", "1=d,e", "--output", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    selection = pd.read_csv(out / "selection.csv")
    assert selection.loc[selection["picked"], "candidate"].tolist() == ["b", "d"]
    assert selection["validation_gap_closed"].tolist() == pytest.approx([0.25, 0.75, 0.5, 0.5, 0.5])
    assert selection["test_gap_closed"].tolist() == pytest.approx([0.25, 0.5, 1.0, 0.5, 0.75])
    table = pd.read_csv(out / "paired_gap.csv").astype({"training_seed": str}).set_index("training_seed")
    # group 0 on test: a closes 25 %, b 50 %; paired b / a = (0.9 + 0.9) / 2
    assert table.loc["0", ["baseline_gap_closed", "policy_gap_closed", "ratio"]].tolist() == pytest.approx(
        [0.25, 0.5, 0.9]
    )
    assert table.loc["1", "ratio"] == pytest.approx(1.0)
    text = (out / "report.md").read_text()
    assert "| 0 | b | 75% | 50% | yes |" in text
    # ranks: validation (1, 5, 3, 3, 3), test (1, 2.5, 5, 2.5, 4) → 3 / √(8 · 9.5), the ranks' Pearson correlation
    assert "Spearman's ρ of validation and test scores over the 5 candidates: 0.34." in text
    assert "| 0 | 16 | 1.200 | 25% | 50% | 0.900 |" in text


def test_overlapping_episodes_and_missing_folders_exit_2_naming_them(bench, tmp_path, capsys):
    evaluation_folder(tmp_path / "val" / "a", TEST, 1.1)  # validation on the test seeds
    evaluation_folder(tmp_path / "test" / "a", TEST, 1.1)
    _candidate(tmp_path, "c", 1.15, TEST, 1.15)
    evaluation_folder(tmp_path / "val" / "d", VALIDATION, 1.05)  # picked, but tested on other workflows
    evaluation_folder(tmp_path / "test" / "d", TEST, 1.05, lower_bound=11.0)
    argv = ["--validation", str(tmp_path / "val"), "--test", str(tmp_path / "test"), "--output", str(tmp_path / "o")]
    for group, message in (
        ("0=a", f"{tmp_path / 'val' / 'a'} and {tmp_path / 'test' / 'a'}: validation and test share episodes"),
        ("0=b", f"{tmp_path / 'val' / 'b' / 'results.csv'}: no such file"),
        ("0", "'0': expected LABEL=NAME[,NAME…]"),
        ("0=c,d", "group 0 (c vs d on test): the two evaluations hold different episodes"),
    ):
        with pytest.raises(SystemExit) as exit_:
            bench.main([*argv, "--group", group])
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
