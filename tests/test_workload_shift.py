"""A workload shift within an episode (EnvConfig.work_shift, docs/design.md §10): the workflows after the shift point
run one task kind's work × X, the profile and what schedulers know of each task stay, and a performance model fitted
on the first part follows the change from the observed durations."""

from __future__ import annotations

import numpy as np
import pytest

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.scheduling_env import SchedulingEnv, shift_work, work_shift_kind
from scale_rllib.evaluation.scenarios import EvalConfig
from scale_rllib.schedulers import make_scheduler, run_episode
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.knowledge import EstimatedRuntimes
from scale_rllib.sim.performance_model import PerformancePrior
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind, Workflow
from scale_rllib.validation import ConfigError
from scale_rllib.workloads.spec import make_workload

CODE = int(TaskKind.CODE)  # agentic's non-LLM kind with the most expected work: the one the shift scales


def agent(name: str) -> Workflow:
    """An LLM call (100 prompt tokens, 20 generated), then a tool call (2 s), then code (3 s), on speed-1 servers."""
    ids = [f"{name}-llm", f"{name}-tool", f"{name}-code"]
    kinds = [TaskKind.LLM, TaskKind.TOOL, TaskKind.CODE]
    return Workflow.from_edges(name, ids, kinds, [100.0, 2.0, 3.0], list(zip(ids, ids[1:])), decode_work=[20, 0, 0])


def hand_built() -> Simulator:
    """Four agents arriving 1 s apart on two speed-1 servers."""
    cluster = Cluster.from_counts([(ServerType.from_kind_speeds("cpu", {}), 2)])
    return Simulator(cluster, [agent(f"w{i}") for i in range(4)], [0.0, 1.0, 2.0, 3.0])


def agentic_episode(seed: int, workflows: int) -> Simulator:
    return make_workload("agentic", 200).build_episode(np.random.default_rng(seed), servers=8, load=0.7,
                         num_workflows=workflows, randomize_mix=False)  # fmt: skip


def test_the_workflows_after_the_shift_point_run_x_times_the_chosen_kinds_work() -> None:
    """With X = 3 at F = 0.5 of four workflows, the last two have 3 × the CODE work (9 s on a speed-1 server); every
    other task, and the first two workflows (the same objects), are unchanged."""
    assert work_shift_kind(make_workload("agentic", 200).mean_work_by_kind()) == CODE
    profile = hand_built()
    env = SchedulingEnv(EnvConfig.fixed(2, work_shift=3.0, work_shift_at=0.5))
    env.reset(seed=0, options={"simulator": profile})
    while env.sim.task >= 0:
        env.step(int(np.argmin(env.view.earliest_finish_times_s())))
    engine = env.sim
    assert all(w is p for w, p in zip(engine.workflows[:2], profile.workflows[:2]))
    late_code = (engine.task_kind == CODE) & (engine.task_workflow >= 2)
    np.testing.assert_array_equal(engine.task_work, np.where(late_code, 3.0, 1.0) * profile.task_work)
    np.testing.assert_array_equal(engine.task_decode, profile.task_decode)
    np.testing.assert_array_equal(engine.task_exec_s[late_code], [9.0, 9.0])
    np.testing.assert_array_equal(engine.task_exec_s[engine.task_kind == CODE], [3.0, 3.0, 9.0, 9.0])
    for w, p in zip(engine.workflows, profile.workflows):
        np.testing.assert_array_equal(w.kinds, p.kinds)
        assert w.parents == p.parents


def test_shift_work_rounds_the_shift_point_and_scales_decode_work_of_the_kind() -> None:
    flows = [agent(f"w{i}") for i in range(4)]
    shifted = shift_work(flows, int(TaskKind.LLM), 0.5, 0.25)
    assert shifted[0] is flows[0]
    for w in shifted[1:]:
        np.testing.assert_array_equal(w.work, [50.0, 2.0, 3.0])
        np.testing.assert_array_equal(w.decode_work, [10.0, 0.0, 0.0])
    assert all(a is b for a, b in zip(shift_work(flows, CODE, 1.0, 0.0), flows))  # X = 1: nothing changes
    assert all(w.work[2] == 6.0 for w in shift_work(flows, CODE, 2.0, 0.0))  # F = 0: the whole stream


def test_estimated_schedulers_see_the_profiles_work_and_the_belief_tracks_the_shift() -> None:
    """Schedulers and the observation read the profile's work; each completion of a shifted CODE task is observed
    log 4 slower than profiled and every other one exactly as profiled, so with the default prior (κ₀ = 1, no
    forgetting) μ[g, CODE] = log 4 · (shifted completions on g) / (1 + completions on g), and 0 for every other kind."""
    config = EnvConfig.fixed(8, num_workflows=64, runtime_knowledge="estimated", work_shift=4.0)
    env, profile = SchedulingEnv(config), SchedulingEnv(EnvConfig.fixed(8, num_workflows=64))
    env.reset(seed=0)
    profile.reset(seed=0)
    late_code = (env.sim.task_kind == CODE) & (env.sim.task_workflow >= 32)
    np.testing.assert_array_equal(env.sim.task_work, np.where(late_code, 4.0, 1.0) * profile.sim.task_work)
    np.testing.assert_array_equal(env.view.task_work, profile.sim.task_work)
    np.testing.assert_array_equal(env.view.critical_path_s, profile.sim.critical_path_s)
    while env.sim.task >= 0:
        env.step(int(np.argmin(env.view.earliest_finish_times_s())))
    knowledge = env.knowledge
    group = knowledge.server_group[env.sim.task_server]
    shifted = np.bincount(group[late_code], minlength=len(knowledge.model.mu))
    seen = knowledge.model.observations[:, CODE]
    np.testing.assert_allclose(knowledge.model.mu[:, CODE], np.log(4.0) * shifted / (1 + seen), rtol=1e-12)
    assert np.all(np.delete(knowledge.model.mu, CODE, axis=1) == 0.0)
    busiest = int(np.argmax(seen))
    assert shifted[busiest] >= 20 and knowledge.model.multiplier()[busiest, CODE] > 2.0  # moved from 1 toward 4
    believed = knowledge.believed_cluster().speed[:, CODE]
    np.testing.assert_allclose(believed, profile.sim.cluster.speed[:, CODE] / knowledge.model.multiplier()[:, CODE][
        knowledge.server_group])  # fmt: skip


def test_a_forgetting_model_follows_the_shift_to_x() -> None:
    """With forgetting γ = 0.8 the model weighs its last few observations: after the shift the busiest server type's
    CODE estimate is X × the profile within 1 %; without forgetting it still averages in the first part."""
    profile = agentic_episode(0, 64)
    multipliers = []
    for gamma in (1.0, 0.8):
        engine = Simulator(profile.cluster, shift_work(profile.workflows, CODE, 4.0, 0.25), profile.arrival_s)
        knowledge = EstimatedRuntimes(engine, profile.cluster, PerformancePrior(forgetting=gamma),
                                      profile_workflows=profile.workflows)  # fmt: skip
        eft = make_scheduler("eft")
        eft.reset(0)
        while knowledge.next_decision():
            knowledge.assign(eft.select(None, knowledge.view()))
        busiest = int(np.argmax(knowledge.model.observations[:, CODE]))
        assert knowledge.model.observations[busiest, CODE] >= 30
        multipliers.append(knowledge.model.multiplier()[busiest, CODE])
    assert multipliers[1] == pytest.approx(4.0, rel=0.01)
    assert multipliers[0] < 3.5


def test_profile_workflows_must_describe_the_engines_tasks() -> None:
    engine = hand_built()
    with pytest.raises(ValueError, match="profile_workflows"):
        EstimatedRuntimes(engine, engine.cluster, profile_workflows=engine.workflows[:3])


def test_no_shift_leaves_the_episode_bit_identical() -> None:
    """work_shift = 1 (the default, at any work_shift_at) runs exactly the episode the workload draws: the same
    arrays, decisions and response times as the bare simulator; X = 4 makes it slower."""
    reference = agentic_episode(3, 32)
    run_episode_on(reference)
    env = SchedulingEnv(EnvConfig.fixed(8, num_workflows=32, work_shift=1.0, work_shift_at=0.1))
    env.reset(seed=3)
    while env.sim.task >= 0:
        env.step(int(np.argmin(env.view.earliest_finish_times_s())))
    for name in ("task_work", "task_decode", "task_server", "task_start_s", "task_finish_s", "completion_s"):
        np.testing.assert_array_equal(getattr(env.sim, name), getattr(reference, name), err_msg=name)
    shifted = run_episode(SchedulingEnv(EnvConfig.fixed(8, num_workflows=32, work_shift=4.0)), make_scheduler("eft"), 3)
    assert shifted.mean_response_time_s > float(reference.response_times_s().mean())


def run_episode_on(sim: Simulator) -> None:
    """EFT (argmin of earliest finish) on ``sim`` to the end, as the env loop above decides."""
    while sim.next_decision():
        sim.assign(int(np.argmin(sim.earliest_finish_times_s())))
    sim.run_to_completion()


@pytest.mark.parametrize(
    ("field", "value"),
    [("work_shift", 0.0), ("work_shift", -2.0), ("work_shift", float("inf")), ("work_shift", 101.0),
     ("work_shift_at", -0.1), ("work_shift_at", 1.5), ("work_shift_at", float("nan"))],
)  # fmt: skip
def test_bad_shift_values_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"^{field}: "):
        EnvConfig(**{field: value})
    with pytest.raises(ConfigError, match=f"^{field}: "):
        EvalConfig(servers=(8,), **{field: value})


def test_the_flags_reach_train_and_evaluate_and_dws_refuses_them() -> None:
    from scale_rllib.cli import build_parser
    from scale_rllib.cli.evaluate import scenario_from_args
    from scale_rllib.cli.train import config_from_args

    shift = ["--work-shift", "2.5", "--work-shift-at", "0.3"]
    env = config_from_args(build_parser().parse_args(["train", "--output", "x", *shift])).env
    assert (env.work_shift, env.work_shift_at) == (2.5, 0.3)
    scenario = scenario_from_args(build_parser().parse_args(["evaluate", "--output", "x", *shift]))
    assert (scenario.env_config(16).work_shift, scenario.env_config(16).work_shift_at) == (2.5, 0.3)
    for flags in (shift, shift[2:], shift[:2]):
        args = build_parser().parse_args(["evaluate", "--output", "x", "--scenario", "dws", *flags])
        with pytest.raises(ConfigError, match="shift flags"):
            scenario_from_args(args)
