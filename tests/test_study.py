"""The SRR study runner (benchmarks/reproduce_scale.py + scale_rllib.study), end to end on a tiny configuration:
real PPO (1 iteration of 200 steps per variant), real zero-shot evaluation at N=8 and 16, report, plots, resume."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from scale_rllib.schedulers.heuristics import HEURISTICS
from tests.scripts import load_benchmark

POLICIES = ("scale-srr", "scale-nosrr")


def _load_script():
    return load_benchmark("reproduce_scale")


def _tiny_argv(root: Path) -> list[str]:
    return [
        "--workloads", "agentic", "--seeds", "0", "--iterations", "1",
        "--train-batch-size", "200", "--minibatch-size", "100", "--num-epochs", "1", "--num-env-runners", "0",
        "--servers", "8", "16", "--loads", "0.7", "--episodes", "1", "--workflows-per-server", "1",
        "--output", str(root / "out"), "--runs-dir", str(root / "runs"),
    ]  # fmt: skip


def _run(argv: list[str]) -> str:
    import ray

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            assert _load_script().main(argv) == 0
    finally:
        ray.shutdown()
    return out.getvalue()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    stdout = _run(_tiny_argv(root))
    return root, stdout


def test_results_cover_every_scheduler_and_variant_at_every_n_on_the_same_episodes(study):
    root, stdout = study
    results = pd.read_csv(root / "out" / "results.csv")
    seen = set(zip(results["scheduler"], results["servers"], strict=True))
    for name in (*HEURISTICS, *POLICIES):
        assert {(name, 8), (name, 16)} <= seen, name
    policies = results[results["scheduler"].isin(POLICIES)]
    assert set(policies["variant"]) == {"srr", "nosrr"} and set(policies["train_seed"]) == {0}
    assert set(policies["train_iterations"]) == {1}
    assert (results["mean_response_time_s"] >= results["lower_bound_s"]).all() and (results["lower_bound_s"] > 0).all()
    # Same seeded episodes for everyone: one lower bound per (N, episode seed), whatever the scheduler.
    assert (results.groupby(["servers", "seed"])["lower_bound_s"].nunique() == 1).all()
    summary = pd.read_csv(root / "out" / "summary.csv")
    best = summary[summary["scheduler"] == summary["best_heuristic"]]
    assert len(best) == 2 and (best["ratio_to_best_heuristic"] == 1.0).all()
    assert (best["paired_ratio_to_best"] == 1.0).all() and summary["paired_ratio_to_best"].notna().all()
    assert {"gain", "gain_ci95", "p_value", "srr_wins", "median_seed_gain"} <= set(
        pd.read_csv(root / "out" / "srr_gain.csv")
    )
    features = pd.read_csv(root / "out" / "features.csv")
    assert set(zip(features["variant"], features["servers"], strict=True)) == {
        (v, n) for v in ("srr", "nosrr") for n in (8, 16)
    }
    assert features[["mean_abs_mu", "mean_sigma", "mean_abs_offdiag_corr"]].notna().all().all()
    assert "report:" in stdout and "trained 2" in stdout


def test_report_has_command_tables_and_computed_findings(study):
    root, _ = study
    report = (root / "out" / "report.md").read_text()
    assert "python benchmarks/reproduce_scale.py --workloads agentic --seeds 0 --iterations 1" in report
    header = "| N | RT λ=0 (s) | RT SRR (s) | SRR gain | gain 95 % CI | seeds | paired t p | SRR better in |"
    assert header in report
    for n in (8, 16):  # numeric RTs and gain per N
        row = rf"^\| {n} \| \d+\.\d \| \d+\.\d \| [+-]\d+\.\d% \| n/a \| 1 \| n/a \| [01] of 1 \| [+-]\d+\.\d% \|$"
        assert re.search(row, report, re.M), n
    assert re.search(
        r"^\| scale-srr \| 1 training seeds \| \d+\.\d ± n/a \(\d+\.\d{3} ± n/a / \d+\.\d\d\)", report, re.M
    )
    assert re.search(r"scale-srr / best heuristic: N=8 \d+\.\d\d \(\w+\); N=16", report)
    assert "Expected pattern (drift without, stable with) holds: " in report
    assert "N=48 not evaluated" in report


def test_plots_are_png_files(study):
    root, _ = study
    for name in ("response_time_agentic_rho0.7.png", "features_agentic.png"):
        data = (root / "out" / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, name


def test_rerun_skips_every_piece_and_reproduces_the_results(study):
    import ray

    root, _ = study
    out = root / "out"
    before = pd.read_csv(out / "results.csv")
    watched = sorted(root.glob("runs/**/scale_rllib.json")) + sorted(out.glob("pieces/**/*.csv"))
    mtimes = {p: p.stat().st_mtime_ns for p in watched}
    assert len(watched) == 2 + 5  # 2 checkpoints; heuristics + 2 × (policy, its features)

    stdout = _run(_tiny_argv(root))
    assert len(re.findall(r": skip \(", stdout)) == 2 + 3 and "trained 0" in stdout and "evaluated 0" in stdout
    assert {p: p.stat().st_mtime_ns for p in watched} == mtimes
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), before)

    # A lost piece is re-evaluated alone, with the same numbers (greedy policy, seeded episodes); no Ray needed.
    piece = out / "pieces" / "agentic" / "rho0.7" / "scale-srr-seed0.csv"
    piece.unlink()
    stdout = _run(_tiny_argv(root) + ["--report-only"])
    assert "1 evaluation piece(s) missing" in (out / "report.md").read_text()
    stdout = _run(_tiny_argv(root))
    assert "evaluated 1" in stdout and "trained 0" in stdout and not ray.is_initialized()
    after = pd.read_csv(out / "results.csv")
    cols = ["scheduler", "servers", "seed", "mean_response_time_s", "lower_bound_s", "decisions"]
    pd.testing.assert_frame_equal(after[cols], before[cols])


def test_rerun_with_other_options_is_refused_or_not_mixed(study, capsys):
    root, _ = study
    main = _load_script().main
    # The runs were trained with λ_KL = 0.01: resuming them with another value would mix two studies.
    assert main(_tiny_argv(root) + ["--lambda-kl", "0.5"]) == 2
    assert "lambda_kl: 0.01 there, 0.5 asked" in capsys.readouterr().err
    # Pieces of another episode length are not reported as this study's (another --runs-dir passes check_runs).
    argv = _tiny_argv(root) + ["--workflows-per-server", "2", "--runs-dir", str(root / "other"), "--report-only"]
    assert main(argv) == 2
    assert "no evaluation piece for this study" in capsys.readouterr().err


def test_invalid_arguments_fail_naming_the_flag_before_any_ray_work(tmp_path, capsys):
    import ray

    main = _load_script().main
    base = ["--output", str(tmp_path / "out"), "--runs-dir", str(tmp_path / "runs")]
    cases = {  # flag → (argv, what the message must also say)
        "--loads": (["--loads", "0.7", "1.5"], "(0, 1)"),
        "--data": (["--workloads", "wfinstances", "--data", str(tmp_path / "no-such-data")], "does not exist"),
        "--workloads": (["--workloads", "agentic", "nope"], "unknown ['nope']"),
        "--minibatch-size": (["--workloads", "agentic", "--train-batch-size", "200", "--minibatch-size", "300"], "≤"),
        "--heuristics": (["--workloads", "agentic", "--heuristics", "eft", "nope"], "unknown ['nope']"),
        "--warm-start-dagger-rounds": (["--warm-start", "eft", "--warm-start-dagger-rounds", "-1"], "≥ 0"),
    }
    for flag, (argv, detail) in cases.items():
        with pytest.raises(SystemExit) as exit_info:
            main(argv + base)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {flag}:" in err and detail in err, (flag, err)
    assert not ray.is_initialized() and not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_srr_sweep_table_reads_the_study_back(study, tmp_path, capsys):
    """benchmarks/srr_sweep.py: one row per (study, workload) with the study's λ, gains and feature statistics."""
    root, _ = study
    sweep = load_benchmark("srr_sweep")
    out = tmp_path / "sweep.md"
    assert sweep.main([str(root / "out"), "--servers", "16", "--output", str(out)]) == 0
    table = pd.read_csv(out.with_suffix(".csv"))
    gains = pd.read_csv(root / "out" / "srr_gain.csv")
    assert len(table) == 1 and table.loc[0, "lambda_dec"] == 0.1 and table.loc[0, "lambda_kl"] == 0.01
    assert table.loc[0, "gain_mean"] == pytest.approx(gains.loc[gains["servers"] == 16, "gain"].mean())
    assert re.search(r"^\| out \| none \| 0\.1 \| 0\.01 \| agentic \| [+-]\d+\.\d%", out.read_text(), re.M)
    assert r"SRR \|μ\| N=8" in out.read_text() and "λ=0 σ drift → N=16" in out.read_text()
    assert sweep.main([str(tmp_path / "nothing")]) == 2
    assert "nothing: not a finished study (missing study.json" in capsys.readouterr().err


def test_srr_gain_counts_wins_and_the_median_past_a_collapsed_seed():
    """The mean gain follows one collapsed seed; the win count and the median per-seed gain do not."""
    from scale_rllib.study.tables import srr_gain

    rts = {"nosrr": [10.0, 10.0, 10.0], "srr": [9.0, 9.0, 1000.0]}
    results = pd.DataFrame(
        [
            {"workload": "w", "load": 0.7, "servers": 48, "variant": v, "train_seed": seed, "mean_response_time_s": rt}
            for v, values in rts.items()
            for seed, rt in enumerate(values)
        ]
    )
    row = srr_gain(results).iloc[0]
    assert row["gain"] == pytest.approx((10.0 - 1018.0 / 3) / 10.0)
    assert row["srr_wins"] == 2 and row["median_seed_gain"] == pytest.approx(0.1) and row["seeds"] == 3
