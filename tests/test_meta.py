"""Meta-training across shifts (scale_rllib.env.shifts, docs/design.md §10) and the adaptation protocol's pure parts
(scale_rllib.adaptation): per-episode shift draws within their documented ranges and reproducible per seed, held-out
shifts outside the training ranges, ``none`` bit-identical to the episodes before, clear errors, fine-tuning from a
checkpoint, and the paired statistics of the report on hand-built rows."""

from __future__ import annotations

import dataclasses
import json

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scale_rllib.adaptation import (
    QUICK,
    AdaptationPlan,
    adaptation_table,
    compared_rows,
    paired_methods,
    plot_adaptation,
)
from scale_rllib.adaptation.protocol import heuristic_rows, train_to
from scale_rllib.adaptation.tables import LOWER_BOUND, held_out_lines, report_lines, with_reference_ratio
from scale_rllib.cli import main
from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import ObservationSpec, observation_space
from scale_rllib.env.scheduling_env import SchedulingEnv, _with_knowledge, work_shift_kind
from scale_rllib.env.shifts import HELD_OUT, SHIFT_FIELDS, draw_shift, laws
from scale_rllib.evaluation import EvalConfig
from scale_rllib.models.scale_module import ScaleRLModule
from scale_rllib.sim.simulator import Simulator
from scale_rllib.training.checkpoints import METADATA_FILE
from scale_rllib.training.config import TrainConfig
from scale_rllib.training.init_checkpoint import initial_weights
from scale_rllib.validation import ConfigError
from scale_rllib.workloads.spec import make_workload

ARRAYS = ("arrival_s", "task_work", "task_exec_s", "task_start_s", "task_finish_s", "task_server")


def run_eft(env: SchedulingEnv, seed: int) -> Simulator:
    env.reset(seed=seed)
    while env.sim.task >= 0:
        env.step(int(np.argmin(env.view.earliest_finish_times_s())))
    return env.sim


# ---------------------------------------------------------------------------------------------- the distributions
def test_meta_train_draws_lie_in_their_documented_ranges_with_each_shift_on_half_the_time() -> None:
    """σ ~ U(0, 1); c ~ U(0, 1) w.p. ½ else 0; x ~ logU(1/3, 3) w.p. ½ else 1; w ~ logU(1/4, 4) w.p. ½ else 1;
    F ~ U(1/4, 3/4) (docs/design.md §10). Log-uniform: log x is symmetric about 0 (a plain uniform on [1/3, 3] would
    put its median at log 1.67)."""
    rng = np.random.default_rng(0)
    draws = pd.DataFrame([draw_shift("meta-train", rng) for _ in range(4000)])
    assert list(draws.columns) == list(SHIFT_FIELDS)
    assert draws["profile_error"].between(0, 1).all() and draws["profile_error"].std() > 0.25
    assert draws["work_shift_at"].between(0.25, 0.75).all()
    for name, off, lo, hi in (("interference", 0.0, 0.0, 1.0), ("new_type_speedup", 1.0, 1 / 3, 3.0),
                              ("work_shift", 1.0, 0.25, 4.0)):  # fmt: skip
        on = draws[name][draws[name] != off]
        assert 0.46 < len(on) / len(draws) < 0.54, name
        assert on.between(lo, hi).all() and on.min() < lo + 0.1 * (hi - lo), name
    for name, bound in (("new_type_speedup", 3.0), ("work_shift", 4.0)):
        logs = np.log(draws[name][draws[name] != 1.0])
        assert abs(np.median(logs)) < 0.1 and logs.max() > 0.9 * np.log(bound), name
        assert stats.kstest((logs + np.log(bound)) / (2 * np.log(bound)), "uniform").pvalue > 0.01, name


def test_draws_are_reproducible_per_seed_and_come_from_the_episodes_generator() -> None:
    """The same seed gives the same shift and episode; another seed another shift. The shift is drawn after the
    episode's workflows, arrivals, N and mix, so a meta-train episode runs the same input as the unshifted one."""
    assert draw_shift("meta-train", np.random.default_rng(7)) == draw_shift("meta-train", np.random.default_rng(7))
    assert draw_shift("meta-train", np.random.default_rng(7)) != draw_shift("meta-train", np.random.default_rng(8))
    config = EnvConfig(servers_range=(6, 10), runtime_knowledge="estimated", shift_distribution="meta-train")
    first, again = SchedulingEnv(config), SchedulingEnv(config)
    runs = [run_eft(first, 5), run_eft(again, 5)]
    assert first.episode_config == again.episode_config and first.episode_config.shift_distribution == "none"
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(runs[0], name), getattr(runs[1], name))
    first.reset(seed=6)
    assert first.episode_config != again.episode_config
    plain = SchedulingEnv(EnvConfig(servers_range=(6, 10), runtime_knowledge="estimated"))
    for seed in (5, 6):
        first.reset(seed=seed)
        plain.reset(seed=seed)
        np.testing.assert_array_equal(first.sim.arrival_s, plain.sim.arrival_s)
        np.testing.assert_array_equal(first.knowledge.profile.speed, plain.knowledge.profile.speed)
        np.testing.assert_array_equal(first.knowledge.task_work, plain.knowledge.task_work)


def test_held_out_values_lie_outside_the_training_ranges_and_reach_the_engine() -> None:
    """heldout-newtype: x = 4 > 3; heldout-drift: w = 5 > 4 (at F = 0.3, c = 0.5); heldout-error σ and
    heldout-interference c = 1.5 > 1. In an episode of heldout-drift the
    engine runs 5 × the profile's CODE work in the workflows from 30 % of the stream on, and nothing else changes."""
    train = laws("meta-train")
    assert HELD_OUT == {"heldout-newtype": "new_type_speedup", "heldout-drift": "work_shift",
                        "heldout-error": "profile_error", "heldout-interference": "interference"}  # fmt: skip
    for shift, name in HELD_OUT.items():
        lo, hi = train[name].support()
        value = laws(shift)[name].lo
        assert laws(shift)[name].support() == (value, value) and not lo <= value <= hi, shift
        assert f"= {value:g} (meta-training draws it in [{lo:.3g}, {hi:.3g}])" in held_out_lines((shift,))[shift]
    assert draw_shift("heldout-newtype", np.random.default_rng(0)) == {
        "profile_error": 0.3,
        "interference": 0.0,
        "new_type_speedup": 4.0,
        "work_shift": 1.0,
        "work_shift_at": 0.5,
    }
    env = SchedulingEnv(EnvConfig.fixed(8, runtime_knowledge="estimated", shift_distribution="heldout-drift"))
    env.reset(seed=1)
    engine, profile = env.sim, env.knowledge
    code = work_shift_kind(make_workload("agentic", 200).mean_work_by_kind())
    late = (engine.task_kind == code) & (engine.task_workflow >= round(0.3 * len(engine.workflows)))
    np.testing.assert_allclose(engine.task_work, np.where(late, 5.0, 1.0) * profile.task_work)
    assert late.any() and env.episode_config.interference == 0.5
    assert ((engine.interference >= 1) & (engine.interference <= 2)).all()


@pytest.mark.parametrize(
    "fields",
    [{}, {"runtime_knowledge": "estimated", "profile_error": 0.3, "interference": 0.5, "work_shift": 2.0}],
)
def test_none_leaves_episodes_bit_identical(fields: dict) -> None:
    """With ``none`` the env draws nothing more: the episode is the one built straight from the seed's generator
    (build_episode; then the fixed shifts' own draws), array for array, and the generator ends in the same state."""
    config = EnvConfig(**fields)  # the default config (N = 16, random mix), with or without fixed shifts
    assert config == EnvConfig(shift_distribution="none", **fields)
    env = SchedulingEnv(config)
    env.reset(seed=3)
    rng = np.random.default_rng(3)
    sim = env.workload.build_episode(rng, servers=int(rng.integers(16, 17)), load=0.7, num_workflows=64,
                                     randomize_mix=True)  # fmt: skip
    if fields:
        sim, knowledge = _with_knowledge(sim, config, rng, env._shift_kind)
    assert env.np_random.bit_generator.state == rng.bit_generator.state
    ran = run_eft(env, 3)
    assert env.episode_config is config
    expected = knowledge if fields else sim
    while expected.next_decision():
        expected.assign(int(np.argmin((expected.view() if fields else sim).earliest_finish_times_s())))
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(ran, name), getattr(sim, name), err_msg=name)
    np.testing.assert_array_equal(ran.cluster.speed, sim.cluster.speed)


# --------------------------------------------------------------------------------------------------- the errors
def test_a_bad_distribution_name_or_a_fixed_shift_beside_one_names_the_field(capsys) -> None:
    with pytest.raises(ConfigError, match=r"shift_distribution: must be one of none, meta-train, .*'meta-trian'"):
        EnvConfig(shift_distribution="meta-trian")
    with pytest.raises(ConfigError, match="shift_distribution: 'meta-train' draws .* leave work_shift at the default"):
        EnvConfig(shift_distribution="meta-train", work_shift=2.0)
    with pytest.raises(ConfigError, match="shift_distribution"):
        EvalConfig(shift_distribution="bogus")
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--output", "/tmp/unused", "--shift-distribution", "bogus"])
    assert exit_.value.code == 2 and "--shift-distribution: invalid choice: 'bogus'" in capsys.readouterr().err


def module_checkpoint(tmp_path, with_uncertainty: bool) -> str:
    """An RLModule checkpoint of an untrained SCALE network (embed_dim 64, 4 heads) for N_max = 8."""
    space = observation_space(8, ObservationSpec(uncertainty=with_uncertainty))
    module = ScaleRLModule(observation_space=space, action_space=gym.spaces.Discrete(8),
                           model_config={"embed_dim": 64, "num_heads": 4})  # fmt: skip
    path = tmp_path / ("estimated" if with_uncertainty else "oracle")
    module.save_to_path(str(path))
    return str(path)


def test_init_checkpoint_supplies_the_weights_and_rejects_a_network_that_does_not_fit(tmp_path) -> None:
    estimated = module_checkpoint(tmp_path, True)
    cfg = TrainConfig(env=EnvConfig(servers_range=(12, 20), runtime_knowledge="estimated"), init_checkpoint=estimated)
    weights = initial_weights(cfg)  # another padding (N_max 20 vs 8) fits: no parameter depends on N
    loaded = ScaleRLModule.from_checkpoint(estimated).state_dict()
    assert weights.keys() == loaded.keys() and all(bool((weights[k] == loaded[k]).all()) for k in weights)
    with pytest.raises(ConfigError, match="init_checkpoint: .* trained with estimated runtime knowledge; this run"):
        initial_weights(TrainConfig(init_checkpoint=estimated))
    with pytest.raises(ConfigError, match="init_checkpoint: .* embed_dim=64, num_heads=4; this run has 32, 4"):
        initial_weights(TrainConfig(env=cfg.env, init_checkpoint=estimated, embed_dim=32))
    with pytest.raises(ConfigError, match="init_checkpoint: No RLModule checkpoint"):
        initial_weights(TrainConfig(init_checkpoint=str(tmp_path / "missing")))
    with pytest.raises(ConfigError, match="init_checkpoint: give either --init-checkpoint .* or --warm-start"):
        TrainConfig(init_checkpoint=estimated, warm_start="eft")


# ------------------------------------------------------------------------------------------ the adaptation study
def hand_rows() -> pd.DataFrame:
    """Two episodes (10, 11) of one shift: EFT on estimates 10 s and 20 s, EFT oracle 8 s and 16 s; meta (seeds 0, 1)
    and no-meta (seed 0) at step 0."""
    rows = [("eft-estimated", -1, -1, [10.0, 20.0]), ("eft-oracle", -1, -1, [8.0, 16.0]),
            ("meta", 0, 0, [12.0, 22.0]), ("meta", 1, 0, [9.0, 18.0]), ("no-meta", 0, 0, [15.0, 20.0])]  # fmt: skip
    return pd.DataFrame([{"shift": "s", "method": m, "seed": seed, "step": step, "episode": 10 + e,
                          "mean_response_time_s": rt[e], "lower_bound_s": 5.0}
                         for m, seed, step, rt in rows for e in range(2)])  # fmt: skip


def test_adaptation_table_pairs_every_row_with_eft_on_the_same_episode() -> None:
    """meta's ratios: seed 0 → 1.2, 1.1; seed 1 → 0.9, 0.9: mean 1.025, worst seed 1.15, 95 % half-width
    t(0.975, 3) · sd / 2."""
    table = adaptation_table(hand_rows()).set_index("method")
    meta = table.loc["meta"]
    ratios = np.array([1.2, 1.1, 0.9, 0.9])
    assert (meta["seeds"], meta["episodes"], meta["step"]) == (2, 2, 0)
    assert meta["mean_response_time_s"] == pytest.approx(15.25)
    assert meta["ratio_to_reference"] == pytest.approx(1.025)
    assert meta["worst_seed_ratio"] == pytest.approx(1.15)
    assert meta["ratio_ci95"] == pytest.approx(stats.t.ppf(0.975, 3) * ratios.std(ddof=1) / 2)
    assert table.loc["eft-estimated", "ratio_to_reference"] == 1.0 and table.loc["eft-estimated", "ratio_ci95"] == 0
    assert table.loc["eft-oracle", "ratio_to_reference"] == pytest.approx(0.8)
    bound = table.loc[LOWER_BOUND]  # 5 s on both episodes: 5 / 10 and 5 / 20
    assert (bound["step"], bound["mean_response_time_s"]) == (-1, 5.0)
    assert bound["ratio_to_reference"] == pytest.approx(0.375)
    with pytest.raises(ValueError, match="eft-estimated: no row for"):
        with_reference_ratio(hand_rows().query("not (method == 'eft-estimated' and episode == 11)"))


def test_paired_methods_compares_the_same_seed_step_and_episode_only() -> None:
    """meta / no-meta: only seed 0 has both: 12 / 15 and 22 / 20 → mean 0.95 over 2 pairs."""
    versus = paired_methods(hand_rows(), "meta", "no-meta")
    (row,) = versus.to_dict("records")
    assert (row["shift"], row["step"], row["baseline"], row["pairs"]) == ("s", 0, "no-meta", 2)
    assert row["ratio"] == pytest.approx(0.95)
    assert row["ci95"] == pytest.approx(stats.t.ppf(0.975, 1) * np.std([0.8, 1.1], ddof=1) / np.sqrt(2))
    lines = report_lines(adaptation_table(hand_rows()), versus, {"s": "Held out: x."})
    assert "| eft-estimated | — | — | 2 | 15.00 |" in "\n".join(lines)
    assert "| meta | 0 | 2 | 2 | 15.25 |" in "\n".join(lines) and "| 0 | no-meta | 2 | 0.950 |" in "\n".join(lines)


def test_the_plot_is_a_png_even_with_a_method_off_the_ratio_scale(tmp_path) -> None:
    rows = hand_rows()
    rows.loc[rows["method"] == "no-meta", "mean_response_time_s"] *= 50  # 75 ×, 50 × EFT: named, not drawn
    path = plot_adaptation(adaptation_table(rows), tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_fine_tuning_may_take_its_own_learning_rate() -> None:
    plan = AdaptationPlan(adapt_lr=3e-4)
    assert plan.pretrain_config("meta", 0).lr == 3e-5
    assert plan.adapt_config("meta", "heldout-drift", 0, 1, "x").lr == 3e-4
    assert AdaptationPlan().adapt_config("no-meta", "heldout-drift", 0, 1, "x").lr == 3e-5
    with pytest.raises(ConfigError, match="adapt_lr: must be > 0"):
        AdaptationPlan(adapt_lr=0.0)


def test_the_plan_differs_between_meta_and_no_meta_only_in_the_training_episodes(tmp_path) -> None:
    plan = AdaptationPlan()
    meta, plain = plan.pretrain_config("meta", 1).to_dict(), plan.pretrain_config("no-meta", 1).to_dict()
    assert meta["env"].pop("shift_distribution") == "meta-train" and plain["env"].pop("shift_distribution") == "none"
    assert meta == plain and meta["env"]["runtime_knowledge"] == "estimated"
    adapt = plan.adapt_config("meta", "heldout-drift", 1, 5, tmp_path)
    assert (adapt.init_checkpoint, adapt.iterations) == (str(tmp_path), 5)
    assert adapt.env.shift_distribution == "heldout-drift" and adapt.lr == plan.lr
    scratch = plan.adapt_config("scratch", "heldout-drift", 1, 5, None)
    assert scratch.init_checkpoint is None and scratch.warm_start is None and scratch.lr == TrainConfig.lr
    assert QUICK.steps == (0, 1, 2) and QUICK.seeds == (0,) and QUICK.episodes == 2 and QUICK.eval_servers == 8
    for bad in ({"shifts": ("meta-train",)}, {"steps": (2, 1)}, {"shifts": ("heldout-bogus",)}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            AdaptationPlan(**bad)
    privileged = AdaptationPlan(warm_start_privileged=True, warm_start_dagger_rounds=2)
    assert all(privileged.pretrain_config(m, 1).warm_start_privileged for m in ("meta", "no-meta"))
    assert privileged.pretrain_config("meta", 1).warm_start_dagger_rounds == 2
    assert not privileged.adapt_config("meta", "heldout-drift", 1, 5, tmp_path).warm_start_privileged
    with pytest.raises(ConfigError, match="warm_start_privileged"):
        AdaptationPlan(warm_start=None, warm_start_privileged=True)


def test_train_to_reuses_a_finished_stage_and_refuses_to_go_back(tmp_path) -> None:
    """No Ray: a checkpoint at the wanted iteration is reused as is; one beyond it cannot give the earlier step."""
    ckpt = tmp_path / "checkpoint"
    ckpt.mkdir()
    (ckpt / METADATA_FILE).write_text(json.dumps({"iteration": 2}))
    assert train_to(TrainConfig(iterations=2), tmp_path, None) == ckpt
    with pytest.raises(RuntimeError, match="at iteration 2 > 1"):
        train_to(TrainConfig(iterations=1), tmp_path, None)


def test_the_protocol_compares_eft_on_estimates_the_contention_aware_eft_and_eft_with_true_times() -> None:
    """Under held-out interference the four heuristics run the same episodes, and only EFT with true times reads
    the truth: EFT on the estimates, eft-contention and eft-colocation must decide differently somewhere."""
    rows = heuristic_rows(dataclasses.replace(QUICK, episodes=3), "heldout-interference")
    assert rows.groupby("method")["episode"].apply(sorted).to_dict() == {
        m: [10000, 10001, 10002] for m in ("eft-estimated", "eft-contention", "eft-colocation", "eft-oracle")
    }
    rt = rows.pivot(index="episode", columns="method", values="mean_response_time_s")
    assert (rt["eft-contention"] != rt["eft-estimated"]).any()
    assert (rt["eft-colocation"] != rt["eft-estimated"]).any()
    assert (rows["seed"] == -1).all() and (rows["step"] == -1).all()


def test_another_runs_no_meta_policy_joins_under_its_folder_name(tmp_path) -> None:
    """--compare-with: the other run's no-meta rows, renamed, pair with this run's meta (12 / 15, 22 / 20)."""
    other = tmp_path / "other_run" / "results.csv"
    other.parent.mkdir()
    hand_rows().to_csv(other, index=False)
    compared = compared_rows([other])
    assert set(compared["method"]) == {"no-meta (other_run)"}
    rows = pd.concat([hand_rows().query("method != 'no-meta'"), compared], ignore_index=True)
    (row,) = paired_methods(rows, "meta", "no-meta (other_run)").to_dict("records")
    assert row["pairs"] == 2 and row["ratio"] == pytest.approx(0.95)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="bad.csv: not an adaptation results.csv"):
        compared_rows([bad])
    with pytest.raises(ValueError, match="missing.csv: cannot read it"):
        compared_rows([tmp_path / "missing.csv"])
