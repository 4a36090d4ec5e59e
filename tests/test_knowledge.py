"""Estimated runtime knowledge (scale_rllib.sim.knowledge): schedulers and the observation never read a true
execution time, the belief of a queue is what a FIFO of estimates gives, completions teach the performance model,
and with an exact profile the estimates reproduce the oracle bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import SERVER_FEATURES, UNCERTAINTY_FEATURES, ObservationSpec, encode
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.schedulers import SCHEDULERS, make_scheduler, run_episode
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.knowledge import EstimatedRuntimes
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind
from scale_rllib.validation import ConfigError
from scale_rllib.workloads.spec import make_workload
from tests.test_dws import chain

COMPUTE = int(TaskKind.COMPUTE)  # the kind of test_dws.chain's tasks


def profile_and_truths() -> tuple[Simulator, list[Simulator]]:
    """An agentic episode at N = 16 whose 48 workflows all arrive at t = 0 (many decisions before the first
    completion), and two engines that run it on clusters 3 × slower and 3 × faster than the profile says."""
    sim = make_workload("agentic", 200).build_episode(np.random.default_rng(0), servers=16, load=0.7,
                                                      num_workflows=48, randomize_mix=False)  # fmt: skip
    profile = sim.cluster
    truths = [profile.with_speeds(profile.speed * f, profile.decode_speed * f) for f in (1 / 3, 3.0)]
    engines = [Simulator(c, sim.workflows, np.zeros(len(sim.workflows))) for c in truths]
    return Simulator(profile, sim.workflows, np.zeros(len(sim.workflows))), engines


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_no_scheduler_or_observation_reads_a_true_runtime(name: str) -> None:
    """Until the first completion nothing about the truth is observable: every decision and every observation
    must be the same on two engines whose true speeds differ by 9 ×."""
    profile_sim, engines = profile_and_truths()
    runs = [EstimatedRuntimes(engine, profile_sim.cluster) for engine in engines]
    schedulers = [make_scheduler(name) for _ in runs]
    decisions = 0
    while all(k.next_decision() for k in runs) and not any(k.engine.finished for k in runs):
        views = [k.view() for k in runs]
        observations = [encode(v, 16, 10.0, ObservationSpec(uncertainty=True)) for v in views]
        for key in observations[0]:
            np.testing.assert_array_equal(observations[0][key], observations[1][key])
        choices = []
        for scheduler, view in zip(schedulers, views):
            scheduler.reset(0) if not decisions else None
            choices.append(scheduler.select(None, view))
        assert choices[0] == choices[1], f"{name} decided differently on different truths"
        for k, choice in zip(runs, choices):
            k.assign(choice)
        decisions += 1
    assert decisions >= 16  # the test saw many decisions (and queues) before the first completion


def test_completions_teach_the_model_and_the_belief_follows() -> None:
    """One 1-slot server that the profile says runs 1 work unit/s, really 0.5: chains a (10 units) and b (4 units)
    arrive at 0, c (1 unit) at 25. a really ends at 20 (y = log 2; prior κ₀ = 1, μ₀ = 0: μ = log 2 / 2, a multiplier
    of √2); at c's decision b is running since 20 and is believed to end at 20 + 4 √2; after b (y = log 2 again)
    μ = 2 log 2 / 3."""
    cpu = ServerType.from_kind_speeds("cpu", {}, default=1.0)
    profile = Cluster.from_counts([(cpu, 1)])
    engine = Simulator(profile.with_speeds(profile.speed * 0.5, profile.decode_speed * 0.5),
                       [chain("a", [10.0]), chain("b", [4.0]), chain("c", [1.0])], [0.0, 0.0, 25.0])  # fmt: skip
    k = EstimatedRuntimes(engine, profile)
    for _ in range(2):
        assert k.next_decision()
        k.assign(0)
    assert k.next_decision() and engine.now_s == 25.0
    assert k.model.observations[0, COMPUTE] == 1
    assert k.model.multiplier()[0, COMPUTE] == pytest.approx(np.sqrt(2))
    view = k.view()
    assert view.task_finish_s[1] == pytest.approx(20 + 4 * np.sqrt(2))
    assert view.exec_times_s()[0] == pytest.approx(np.sqrt(2))  # c's estimate
    k.assign(0)
    assert not k.next_decision()
    assert engine.completion_s.tolist() == [20.0, 28.0, 30.0]
    assert k.model.observations[0, COMPUTE] == 3


def test_the_view_of_a_running_and_a_queued_task() -> None:
    fast = ServerType.from_kind_speeds("cpu", {}, default=1.0)
    profile = Cluster.from_counts([(fast, 1)])
    engine = Simulator(profile.with_speeds(profile.speed * 0.5, profile.decode_speed * 0.5),
                       [chain("a", [10.0]), chain("b", [4.0]), chain("c", [1.0])], [0.0, 0.0, 0.0])  # fmt: skip
    k = EstimatedRuntimes(engine, profile)
    for _ in range(2):
        assert k.next_decision()
        k.assign(0)
    assert k.next_decision()  # c is ready at 0: a runs (true end 20), b is queued (true 20–28)
    view = k.view()
    a, b = 0, 1
    assert (view.task_start_s[a], view.task_finish_s[a]) == (0.0, 10.0)  # running: start + estimate
    assert (view.task_start_s[b], view.task_finish_s[b]) == (10.0, 14.0)  # queued: FIFO behind a's estimate
    assert np.isnan(view.task_exec_s[[a, b]]).all()  # no true duration of a task in flight
    assert sorted(e[0] for e in view._events) == [10.0, 14.0]
    assert engine.task_finish_s[b] == 28.0  # the engine keeps the truth


@pytest.mark.parametrize("name", ["eft", "peft", "eft-rollout"])
def test_an_exact_profile_reproduces_the_oracle(name: str) -> None:
    results = {
        knowledge: run_episode(SchedulingEnv(EnvConfig.fixed(16, runtime_knowledge=knowledge)), make_scheduler(name), 3)
        for knowledge in ("oracle", "estimated")
    }
    assert results["oracle"].mean_response_time_s == results["estimated"].mean_response_time_s


def test_a_wrong_profile_costs_eft_and_the_oracle_default_is_unchanged() -> None:
    def rt(**fields) -> float:
        return run_episode(SchedulingEnv(EnvConfig.fixed(16, **fields)), make_scheduler("eft"), 3).mean_response_time_s

    assert rt() == rt(runtime_knowledge="oracle", profile_error=0.0)
    wrong = [rt(runtime_knowledge=k, profile_error=1.0) for k in ("oracle", "estimated")]
    assert wrong[0] != wrong[1]


def test_bad_knowledge_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="runtime_knowledge"):
        EnvConfig(runtime_knowledge="psychic")
    with pytest.raises(ConfigError, match="profile_error"):
        EnvConfig(profile_error=-1.0)
    sim = Simulator(Cluster.from_counts([(ServerType.from_kind_speeds("cpu", {}), 2)]), [chain("a", [1.0])], [0.0])
    other = Cluster.from_counts([(ServerType.from_kind_speeds("cpu", {}), 3)])
    with pytest.raises(ValueError, match="same N"):
        EstimatedRuntimes(sim, other)


def test_interference_slows_co_located_tasks_by_the_drawn_factor() -> None:
    """Server 0 has 2 slots and factor 1.5, server 1 one slot (never co-located). a (10 s) starts alone at 0: 10 s.
    b (4 s) starts at 0 while a runs: 6 s, ends at 6. c (2 s) starts at 6 in b's slot, a still runs: 3 s, ends at 9.
    d (2 s) on the 1-slot server: 2 s. The EFT the heuristics read applies the same rule."""
    two = ServerType.from_kind_speeds("two", {}, slots=2, default=1.0)
    one = ServerType.from_kind_speeds("one", {}, slots=1, default=1.0)
    cluster = Cluster.from_counts([(two, 1), (one, 1)])
    flows = [chain("a", [10.0]), chain("b", [4.0]), chain("c", [2.0]), chain("d", [2.0])]
    sim = Simulator(cluster, flows, [0.0, 0.0, 0.0, 0.0], interference=np.array([1.5, 3.0]))
    expected_eft = [(10.0, 10.0), (6.0, 4.0), (9.0, 2.0), None]
    for choice, eft in zip([0, 0, 0, 1], expected_eft):
        assert sim.next_decision()
        if eft is not None:
            assert tuple(sim.earliest_finish_times_s()) == eft
        sim.assign(choice)
    assert not sim.next_decision()
    assert sim.completion_s.tolist() == [10.0, 6.0, 9.0, 2.0]
    with pytest.raises(ValueError, match="interference"):
        Simulator(cluster, flows, [0.0] * 4, interference=np.array([0.5, 1.0]))


def test_interference_is_drawn_per_server_and_hidden_from_estimated_schedulers() -> None:
    env = SchedulingEnv(EnvConfig.fixed(16, interference=0.5, runtime_knowledge="estimated"))
    env.reset(seed=1)
    factors = env.sim.interference
    assert factors.shape == (16,) and np.all((factors >= 1.0) & (factors <= 2.0)) and len(set(factors)) > 1
    assert env.view.interference is None
    plain = run_episode(SchedulingEnv(EnvConfig.fixed(16)), make_scheduler("eft"), 1).mean_response_time_s
    slowed = run_episode(SchedulingEnv(EnvConfig.fixed(16, interference=0.5)), make_scheduler("eft"), 1)
    assert slowed.mean_response_time_s > plain


def test_a_new_server_type_runs_faster_than_profiled_and_only_the_engine_knows() -> None:
    env = SchedulingEnv(EnvConfig.fixed(16, new_type_speedup=3.0, runtime_knowledge="estimated"))
    env.reset(seed=2)
    names = [t.name for t in env.sim.cluster.server_types]
    first = np.array([n == min(names) for n in names])
    profile = SchedulingEnv(EnvConfig.fixed(16))
    profile.reset(seed=2)
    np.testing.assert_array_equal(env.sim.cluster.speed[first], 3.0 * profile.sim.cluster.speed[first])
    np.testing.assert_array_equal(env.sim.cluster.speed[~first], profile.sim.cluster.speed[~first])
    np.testing.assert_array_equal(env.view.cluster.speed, profile.sim.cluster.speed)  # not yet observed
    with pytest.raises(ConfigError, match="new_type_speedup"):
        EnvConfig(new_type_speedup=0.0)


def test_estimated_observations_carry_the_model_uncertainty() -> None:
    """The extra column is the predictive sd of log(exec time) for the ready task's kind: the prior's at first
    (α₀ = 2, β₀ = 0.3², κ₀ = 1: √(0.09 · 2 / 2 · 2) ≈ 0.424), smaller once completions have been seen."""
    env = SchedulingEnv(EnvConfig.fixed(8, runtime_knowledge="estimated", profile_error=0.5))
    obs, _ = env.reset(seed=0)
    column = obs["servers"][:8, len(SERVER_FEATURES)]
    np.testing.assert_allclose(column, np.sqrt(0.18), rtol=1e-6)
    while not env.knowledge.model.observations.sum() >= 20:
        obs, *_ = env.step(int(np.argmin(env.view.earliest_finish_times_s())))
    kind = env.view.task_kind[env.view.task]
    expected = env.knowledge.model.log_sd()[env.knowledge.server_group, kind]
    np.testing.assert_allclose(obs["servers"][:8, len(SERVER_FEATURES)], expected, rtol=1e-6)
    assert env.observation_space["servers"].shape == (8, len(SERVER_FEATURES) + len(UNCERTAINTY_FEATURES))
    assert SchedulingEnv(EnvConfig.fixed(8)).observation_space["servers"].shape == (8, len(SERVER_FEATURES))
