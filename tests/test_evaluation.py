"""One evaluation pipeline: the default scenario (episodes at each N) and the DWS scenario (the peer's streams) go
through the same run loop, summary, files, console table and MLflow logging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scale_rllib.cli.evaluate as cli_evaluate
import scale_rllib.evaluation.run as evaluation_run
from scale_rllib.cli import main
from scale_rllib.evaluation import EvalConfig, evaluate, summarize
from scale_rllib.schedulers.heuristics import EFTScheduler


@pytest.fixture
def spies(monkeypatch):
    """Record which scenario reached each stage of the pipeline (the real functions still run)."""
    seen: dict[str, list[str]] = {}

    def spy(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            seen.setdefault(name, []).append(type(args[0]).__name__ if name == "evaluate" else "call")
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for name in ("evaluate", "summarize", "print_table", "write_results", "log_evaluation"):
        spy(cli_evaluate, name)
    spy(evaluation_run, "run_episode")
    return seen


def test_default_and_dws_scenarios_share_every_stage(spies, shared_data, tmp_path):
    default = ["evaluate", "--servers", "4", "--episodes", "2", "--workflows-per-server", "1", "--schedulers", "eft"]
    assert main([*default, "--output", str(tmp_path / "default")]) == 0
    dws = ["evaluate", "--scenario", "dws", "--dax-dir", str(shared_data / "dws" / "dax"), "--pool", "2x2"]
    dws += ["--rate-per-hour", "20", "--workflows", "4", "--episodes", "2", "--schedulers", "eft", "dws-heft"]
    assert main([*dws, "--output", str(tmp_path / "dws")]) == 0
    assert spies["evaluate"] == ["EvalConfig", "DwsEvalConfig"]
    assert len(spies["run_episode"]) == 2 + 2 * 2  # every episode of both through the one run_episode
    for stage in ("summarize", "print_table", "write_results", "log_evaluation"):
        assert len(spies[stage]) == 2, stage
    for scenario, extra in (("default", set()), ("dws", {"scenario", "pool"})):
        summary = pd.read_csv(tmp_path / scenario / "summary.csv")
        assert {"paired_ratio_to_best", "paired_ratio_ci95", "best_heuristic"} | extra <= set(summary.columns)


def test_paired_ratio_is_the_mean_of_per_episode_ratios_with_a_t_interval():
    rows = [
        {"scheduler": s, "servers": 8, "seed": seed, "mean_response_time_s": rt, "lower_bound_s": 1.0}
        for s, rts in {"eft": [10.0, 20.0, 30.0], "scale": [9.0, 19.0, 28.5]}.items()
        for seed, rt in enumerate(rts)
    ]
    table = summarize(rows).set_index("scheduler")
    ratios = [0.9, 0.95, 0.95]
    assert table.loc["scale", "paired_ratio_to_best"] == pytest.approx(sum(ratios) / 3)
    # t(0.975, 2) = 4.3027; sample sd of the ratios = 0.028868; half-width = 4.3027 · sd / √3
    assert table.loc["scale", "paired_ratio_ci95"] == pytest.approx(4.302653 * 0.0288675 / 3**0.5, rel=1e-4)
    assert table.loc["eft", "paired_ratio_to_best"] == 1.0 and table.loc["scale", "best_heuristic"] == "eft"
    # Unpaired, the same numbers give a CI wider than the difference itself.
    assert table.loc["scale", "ci95_s"] > abs(table.loc["scale", "mean_response_time_s"] - 20.0)


class NoisyEFT(EFTScheduler):
    """A stand-in policy: EFT, but a random server on one decision in fifty (seeded per episode)."""

    name = "noisy-eft"

    def reset(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def select(self, observation, sim) -> int:
        if self._rng.random() < 0.02:
            return int(self._rng.integers(sim.cluster.num_servers))
        return super().select(observation, sim)


def test_target_ci_adds_episodes_until_the_paired_ratio_is_known_well_enough():
    cfg = EvalConfig(servers=(6,), episodes=2, workflows_per_server=2, schedulers=("eft",), target_ci=0.05,
                     max_episodes=25)  # fmt: skip
    out = evaluate(cfg, [NoisyEFT()])
    table = summarize(out.results).set_index("scheduler")
    episodes = int(table.loc["noisy-eft", "episodes"])
    assert 2 < episodes < 25 and episodes == table.loc["eft", "episodes"]  # every scheduler ran every added episode
    assert table.loc["noisy-eft", "paired_ratio_ci95"] <= 0.05  # it stopped as soon as the interval was narrow
    seeds = sorted(r["seed"] for r in out.results if r["scheduler"] == "eft")
    assert seeds == list(range(cfg.seed, cfg.seed + episodes))  # the next seeds, in order
    # Without a target, exactly the episodes asked for.
    fixed = evaluate(EvalConfig(servers=(6,), episodes=2, workflows_per_server=2, schedulers=("eft",)), [NoisyEFT()])
    assert len(fixed.results) == 2 * 2


@pytest.mark.parametrize(("flags", "first"), [([], 10_000), (["--seed", "20000"], 20_000)])
def test_seed_flag_picks_the_episodes_of_the_default_scenario(flags, first):
    """--seed moves the default scenario's episodes (e.g. validation episodes apart from the reported ones)."""
    from scale_rllib.cli import build_parser

    args = build_parser().parse_args(["evaluate", "--output", "x", "--episodes", "2", "--servers", "8", *flags])
    (group,) = cli_evaluate.scenario_from_args(args).groups()
    assert [e.seed for e in group.episodes] == [first, first + 1]
