"""benchmarks/clone_regret.py: pricing a policy's choices by the nested teacher's forks, on seeded workload episodes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import ObservationSpec, observation_space
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.evaluation.scenarios import Episode
from scale_rllib.models.scale_module import ScaleRLModule
from scale_rllib.schedulers import make_scheduler, run_episode
from scale_rllib.schedulers.policy import PolicyScheduler
from tests.scripts import load_benchmark


@pytest.fixture
def bench(monkeypatch):
    return load_benchmark("clone_regret", monkeypatch)


def small_episode() -> tuple[EnvConfig, Episode]:
    return EnvConfig.fixed(4, num_workflows=6, load=0.85), Episode(seed=3, servers=4)


def test_summarize_counts_agreement_regret_and_the_dearest_decisions(bench) -> None:
    frame = pd.DataFrame({"agrees": [True, False, False, True], "optimal": [True, True, False, True],
                          "regret_s": [0.0, 0.0, 3.0, 0.0], "stakes_s": [0.0, 2.0, 5.0, 1.0]})  # fmt: skip
    row = bench.summarize(frame)
    assert row["decisions"] == 4 and row["agrees"] == 0.5 and row["in_optimal_set"] == 0.75
    assert row["regret_positive"] == 0.25 and row["regret_s"] == 3.0 and row["no_stakes"] == 0.25
    assert row[f"top{bench.TOP}_share"] == 1.0  # all regret in one decision, within the 20 dearest


def test_the_teacher_priced_by_its_own_forks_agrees_everywhere_and_has_no_regret(bench) -> None:
    env_config, episode = small_episode()
    frame, ratio = bench.decisions(make_scheduler("peft-rollout-2"), env_config, episode)
    run = run_episode(SchedulingEnv(env_config), make_scheduler("peft-rollout-2"), episode.seed, episode.servers)
    assert len(frame) == run.decisions and ratio == pytest.approx(run.mean_response_time_s / run.lower_bound_s)
    assert frame["agrees"].all() and frame["optimal"].all() and (frame["regret_s"] == 0).all()


def test_efts_regret_is_positive_only_where_its_choice_is_outside_the_optimal_set(bench) -> None:
    env_config, episode = small_episode()
    frame, ratio = bench.decisions(make_scheduler("eft"), env_config, episode)
    assert ratio >= 1.0 and (frame["regret_s"] >= 0).all() and (frame["stakes_s"] >= 0).all()
    assert not (frame["optimal"] & (frame["regret_s"] > 1e-6)).any()
    assert np.all(frame["regret_s"] <= frame["stakes_s"] + 1e-9)  # a tried choice costs at most the dearest fork


def test_a_policy_that_reads_the_backlog_is_priced_on_an_env_that_observes_it(bench) -> None:
    env_config, episode = small_episode()
    space = observation_space(4, ObservationSpec(backlog=True))
    module = ScaleRLModule(observation_space=space, action_space=gym.spaces.Discrete(4), model_config={})
    frame, ratio = bench.decisions(PolicyScheduler(module), env_config, episode)
    run = run_episode(SchedulingEnv(env_config), make_scheduler("eft"), episode.seed, episode.servers)
    assert len(frame) == run.decisions and ratio >= 1.0


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--servers", "4", "--load", "2"], "load"), (["--servers", "4", "--episodes", "0"], "episodes")],
)
def test_bad_flags_exit_2_naming_the_field(bench, tmp_path, capsys, flags, message) -> None:
    with pytest.raises(SystemExit) as err:
        bench.main([*flags, "--runs", f"clone/0={tmp_path}", "--output", str(tmp_path / "out")])
    assert err.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
