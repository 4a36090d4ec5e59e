"""The online performance model (scale_rllib.sim.performance_model): the conjugate update equals the batch posterior,
the estimate converges to the truth on a stationary stream, forgetting tracks a step change that the stationary
model lags behind, and the predictive spread shrinks toward the true noise."""

from __future__ import annotations

import numpy as np
import pytest

from scale_rllib.sim.performance_model import PerformanceModel, PerformancePrior


def feed(model: PerformanceModel, multipliers: np.ndarray, noise_sd: float, seed: int, g: int = 0, k: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for m in multipliers:
        nominal = rng.uniform(1.0, 20.0)
        model.observe(g, k, nominal, nominal * m * np.exp(rng.normal(0.0, noise_sd)))


def test_sequential_updates_equal_the_batch_posterior() -> None:
    """Murphy (2007) eqs. 85–89 in batch form: κ_n = κ₀ + n, μ_n = (κ₀ μ₀ + n ȳ) / κ_n, α_n = α₀ + n/2,
    β_n = β₀ + ½ Σ (y − ȳ)² + κ₀ n (ȳ − μ₀)² / (2 κ_n)."""
    prior = PerformancePrior(log_sd=0.5, pseudo_count=2.0, shape=3.0)
    model = PerformanceModel(1, 1, prior)
    y = np.log([1.2, 0.9, 1.5, 1.1, 1.3])
    for v in y:
        model.observe(0, 0, 10.0, 10.0 * np.exp(v))
    n, ybar, kappa0, beta0 = len(y), y.mean(), 2.0, 0.25 * 2.0
    assert model.kappa[0, 0] == pytest.approx(kappa0 + n)
    assert model.mu[0, 0] == pytest.approx(n * ybar / (kappa0 + n))
    assert model.alpha[0, 0] == pytest.approx(3.0 + n / 2)
    expected_beta = beta0 + 0.5 * ((y - ybar) ** 2).sum() + kappa0 * n * ybar**2 / (2 * (kappa0 + n))
    assert model.beta[0, 0] == pytest.approx(expected_beta)


def test_the_estimate_converges_on_a_stationary_stream() -> None:
    model = PerformanceModel(2, 3)
    feed(model, np.full(400, 1.7), noise_sd=0.2, seed=0, g=1, k=2)
    assert model.multiplier()[1, 2] == pytest.approx(1.7, rel=0.03)
    assert model.log_sd()[1, 2] == pytest.approx(0.2, rel=0.15)  # the predictive spread → the true noise
    assert model.multiplier()[0, 0] == 1.0 and model.observations[0, 0] == 0  # other cells untouched
    np.testing.assert_allclose(model.estimate_s(np.array([10.0, 4.0]), np.array([1, 0]), 2), [17.0, 4.0], rtol=0.03)


def test_forgetting_tracks_a_step_change_the_stationary_model_lags() -> None:
    stream = np.concatenate([np.full(300, 1.0), np.full(100, 2.0)])  # the server becomes 2 × slower
    forgetting, stationary = PerformanceModel(1, 1, PerformancePrior(forgetting=0.95)), PerformanceModel(1, 1)
    feed(forgetting, stream, noise_sd=0.1, seed=1)
    feed(stationary, stream, noise_sd=0.1, seed=1)
    assert forgetting.multiplier()[0, 0] == pytest.approx(2.0, rel=0.05)
    assert stationary.multiplier()[0, 0] < 1.3  # 100 of 400 observations at the new speed: exp(0.25 log 2) ≈ 1.19


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="forgetting"):
        PerformancePrior(forgetting=0.0)
    with pytest.raises(ValueError, match="shape"):
        PerformancePrior(shape=1.0)
    with pytest.raises(ValueError, match="positive"):
        PerformanceModel(1, 1).observe(0, 0, 1.0, 0.0)
    with pytest.raises(ValueError, match="server type"):
        PerformanceModel(0, 1)
