"""The co-location model (scale_rllib.sim.colocation_model): its closed form against the normal equations, its
convergence on a synthetic stream, what the estimated-knowledge layer feeds it on a hand-computed schedule, the
``eft-colocation`` heuristic on hand-built states and the observation column that carries the belief."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import SERVER_FEATURES, UNCERTAINTY_FEATURES
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.schedulers import make_scheduler
from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.colocation_model import ColocationModel, ColocationPrior
from scale_rllib.sim.knowledge import EstimatedRuntimes
from scale_rllib.sim.simulator import Simulator
from tests.test_dws import chain
from tests.test_uncertain import busy_and_idle


def posterior_mean(xs: list[tuple[float, float]], ys: list[float], mean0, sd0, noise: float) -> np.ndarray:
    """Bishop (2006) eq. 3.50–3.51 with full matrices: m = (Λ₀ + XᵀX/σ²)⁻¹ (Λ₀ m₀ + Xᵀy/σ²)."""
    x, y, prec0 = np.array(xs), np.array(ys), np.diag(np.asarray(sd0, dtype=float) ** -2)
    return np.linalg.solve(prec0 + x.T @ x / noise**2, prec0 @ np.asarray(mean0) + x.T @ y / noise**2)


def test_the_closed_form_is_the_two_level_posterior() -> None:
    """Server 0 sees (alone, 0.1), (co-located, 0.8), (co-located, 0.6); server 1 (alone, −0.2). The cluster's θ̂
    is the posterior of all four under N(0, diag(τ²)); each server's, its own under N(θ̂, diag(δ²))."""
    prior = ColocationPrior()
    model = ColocationModel(2, prior)
    data = [(0, False, 0.1), (0, True, 0.8), (0, True, 0.6), (1, False, -0.2)]
    for server, c, y in data:
        model.observe(server, c, y)
    xs = [(1.0, float(c)) for _, c, _ in data]
    ys = [y for *_, y in data]
    cluster = posterior_mean(xs, ys, (0, 0), (prior.bias_sd, prior.factor_sd), prior.noise_sd)
    np.testing.assert_allclose(model.cluster_mean(), cluster)
    deviation = (prior.server_bias_sd, prior.server_factor_sd)
    server0 = posterior_mean(xs[:3], ys[:3], cluster, deviation, prior.noise_sd)
    server1 = posterior_mean(xs[3:], ys[3:], cluster, deviation, prior.noise_sd)
    bias, factor = model.mean()
    np.testing.assert_allclose(bias, [server0[0], server1[0]])
    np.testing.assert_allclose(factor, [server0[1], server1[1]])
    assert (factor > 0).all()
    np.testing.assert_allclose(model.log_factor(), factor)
    assert model.observations.tolist() == [3, 1]
    with pytest.raises(ValueError, match="finite"):
        model.observe(0, True, math.inf)
    with pytest.raises(ValueError, match="noise_sd"):
        ColocationPrior(noise_sd=0.0)


def test_a_negative_factor_is_read_as_no_slowdown() -> None:
    """Co-located completions 0.5 faster (in log) than lone ones: the posterior mean is negative, the belief 0."""
    model = ColocationModel(1)
    for _ in range(50):
        model.observe(0, False, 0.5)
        model.observe(0, True, 0.0)
    assert model.mean()[1][0] < -0.4 and model.log_factor().tolist() == [0.0]


def test_each_server_factor_converges_on_a_stationary_stream() -> None:
    """8 servers with log factors 0 … 1.4 and biases ± 0.2, 2,000 completions each (half co-located), noise sd 0.3
    (standard error of φ_s ≈ 0.3 · √(2 / 1000) ≈ 0.013): every φ_s within 0.06 of the truth; with 3 completions the
    estimate is pulled toward the cluster's."""
    rng = np.random.default_rng(0)
    true_factor, true_bias = np.linspace(0.0, 1.4, 8), rng.uniform(-0.2, 0.2, 8)
    model = ColocationModel(8)
    for _ in range(2000):
        for s in range(8):
            c = bool(rng.random() < 0.5)
            model.observe(s, c, true_bias[s] + true_factor[s] * c + rng.normal(0.0, 0.3))
    np.testing.assert_allclose(model.log_factor(), true_factor, atol=0.06)
    few = ColocationModel(8)
    for s, c in [(0, True), (0, False), (0, True)]:
        few.observe(s, c, 1.0 * c)
    assert 0 < few.log_factor()[0] < 1.0 and few.log_factor()[1] == pytest.approx(few.cluster_mean()[1])


def test_the_knowledge_layer_feeds_co_location_facts_and_residuals() -> None:
    """The schedule of test_knowledge's interference test on an exact profile: a (10 s) starts alone at 0; b (4 s)
    starts at 0 beside a (assigned after it): 6 s; c (2 s) starts at 6 beside a: 3 s; d (2 s) alone on the 1-slot
    server. Completions d (2), b (6), c (9), a (10). Residuals: d 0; b log 1.5 (multiplier still 1); c: the model has
    seen b (κ₀ = 1: μ = log 1.5 / 2), so log(3 / (2 · 1.5^½)) = log 1.5 / 2; a: the model has seen c's
    log(3 / 2) = log 1.5 too, μ = (2 · log 1.5 / 2 + log 1.5) / 3 = 2 log 1.5 / 3, so the residual is −2 log 1.5 / 3."""
    two = ServerType.from_kind_speeds("two", {}, slots=2, default=1.0)
    one = ServerType.from_kind_speeds("one", {}, slots=1, default=1.0)
    cluster = Cluster.from_counts([(two, 1), (one, 1)])
    flows = [chain("a", [10.0]), chain("b", [4.0]), chain("c", [2.0]), chain("d", [2.0])]
    engine = Simulator(cluster, flows, [0.0] * 4, interference=np.array([1.5, 3.0]))
    knowledge = EstimatedRuntimes(engine, cluster)
    seen: list[tuple[int, bool, float]] = []
    observe = knowledge.colocation.observe
    knowledge.colocation.observe = lambda s, c, y: (seen.append((s, c, y)), observe(s, c, y))[1]
    for choice in [0, 0, 0, 1]:
        assert knowledge.next_decision()
        knowledge.assign(choice)
    assert not knowledge.next_decision()
    engine.run_to_completion()
    knowledge.next_decision()
    assert [(s, c) for s, c, _ in seen] == [(1, False), (0, True), (0, True), (0, False)]
    half = math.log(1.5) / 2
    np.testing.assert_allclose([y for *_, y in seen[:3]], [0.0, math.log(1.5), half], atol=1e-12)
    assert seen[3][2] == pytest.approx(-2 * math.log(1.5) / 3)


def contention_state(log_factor: list[float] | None) -> Simulator:
    """:func:`tests.test_uncertain.busy_and_idle` (10 s beside the long task on server 0, 12 s on the idle server 1)
    with the given co-location belief."""
    sim = busy_and_idle()
    sim.colocation_log_factor = None if log_factor is None else np.array(log_factor)
    return sim


@pytest.mark.parametrize(
    ("log_factor", "expected"),
    [
        (None, 0),  # no belief: EFT, 10 s < 12 s
        ([math.log(1.1), 0.0], 0),  # 11 s < 12 s
        ([math.log(1.3), 0.0], 1),  # 13 s > 12 s
        ([0.0, math.log(5.0)], 0),  # server 1's factor does not matter: nothing runs there
    ],
)
def test_colocation_eft_charges_each_server_its_believed_factor(log_factor, expected) -> None:
    assert make_scheduler("eft-colocation").select(None, contention_state(log_factor)) == expected


def test_the_observation_carries_the_believed_charge() -> None:
    """Column ``colocation_charge``: exp(φ_s) where the ready task would start beside another task, else 1."""
    env = SchedulingEnv(EnvConfig.fixed(8, runtime_knowledge="estimated", interference=1.0))
    obs, _ = env.reset(seed=0)
    scheduler = make_scheduler("eft")
    while env.knowledge.colocation.observations.sum() < 30:
        obs, *_ = env.step(scheduler.select(None, env.view))
    column = obs["servers"][:8, len(SERVER_FEATURES) + UNCERTAINTY_FEATURES.index("colocation_charge")]
    beside = env.view.co_located(env.view.start_times_s())
    expected = np.where(beside, np.exp(env.knowledge.colocation.log_factor()), 1.0)
    np.testing.assert_allclose(column, expected, rtol=1e-6)
    assert beside.any() and not np.allclose(column, 1.0)
