"""Per-server co-location model: what the performance model's residuals say about each server's interference.

The :class:`~scale_rllib.sim.performance_model.PerformanceModel` learns one multiplier per (server type, task kind),
so a slowdown that depends on the server and on whether the task ran beside another one (interference,
docs/design.md §10) is averaged into it. This model learns that part online, per server s, from the residual of each
completion, y = log(observed execution time / the performance model's estimate just before the completion):

    y = a_s + φ_s · c + ε,   ε ~ N(0, σ²),

where c ∈ {0, 1} says whether the task started while another task ran on s (a fact the scheduler saw), a_s is the
server's bias on tasks that ran alone and φ_s its log interference factor. One episode shows a server only a few
dozen completions, so the servers share strength (empirical Bayes, Gelman et al., *Bayesian Data Analysis*, 3rd ed.,
§5.1–5.4): the cluster-wide coefficients θ = (a, φ) get the prior N(0, diag(τ_a², τ_φ²)) and every completion;
each server's θ_s gets the prior N(θ̂, diag(δ_a², δ_φ²)) centred on their current posterior mean θ̂, and its own
completions. Each posterior is that of Bayesian linear regression with a known noise variance (Bishop, *Pattern
Recognition and Machine Learning*, 2006, §3.3.1, eqs. 3.50–3.51): with x = (1, c),

    Λ = Λ₀ + Σ x xᵀ / σ²,   m = Λ⁻¹ (Λ₀ m₀ + Σ x y / σ²),

kept as the sufficient statistics Σ x xᵀ and Σ x y per server (a 2 × 2 system, solved in closed form). What a
scheduler reads is max(φ_s, 0) (:meth:`ColocationModel.log_factor`): a_s only absorbs what the performance model's
multipliers get wrong on lone tasks (they average interference in), and φ_s is the extra a co-located start costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ColocationPrior:
    """Prior and noise of the co-location model.

    Attributes:
        bias_sd: τ_a, prior sd of the cluster-wide log bias on lone tasks; 0.3 as the performance model's prior
            log-sd (:class:`~scale_rllib.sim.performance_model.PerformancePrior`).
        factor_sd: τ_φ, prior sd of the cluster-wide log interference factor; 1 spans ``meta-train``'s and the
            held-out factors (1 + U(0, 2c), c ≤ 1.5: log f ≤ 1.4).
        server_bias_sd, server_factor_sd: δ_a, δ_φ, prior sd of one server's coefficients around the cluster's
            (factors are drawn per server: 1 + U(0, 2c) has a log-sd ≈ 0.3 at c = 1).
        noise_sd: σ, sd of one residual (the part of a task's time neither model explains) in log seconds.

    Raises:
        ValueError: a value ≤ 0.
    """

    bias_sd: float = 0.3
    factor_sd: float = 1.0
    server_bias_sd: float = 0.3
    server_factor_sd: float = 0.3
    noise_sd: float = 0.3

    def __post_init__(self) -> None:
        for name in ("bias_sd", "factor_sd", "server_bias_sd", "server_factor_sd", "noise_sd"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


class ColocationModel:
    """Posterior of the cluster's and each server's (a, φ) for N servers (see the module docstring).

    Args:
        num_servers: N ≥ 1.
        prior: The priors and the noise (default :class:`ColocationPrior`).

    Raises:
        ValueError: N < 1.
    """

    def __init__(self, num_servers: int, prior: ColocationPrior | None = None) -> None:
        if num_servers < 1:
            raise ValueError(f"need ≥ 1 server, got {num_servers}")
        self.prior = prior or ColocationPrior()
        self._xx = np.zeros((num_servers, 3))  # per server Σ (1, c, c²) / σ² = the entries (aa, af, ff) of Σ x xᵀ/σ²
        self._xy = np.zeros((num_servers, 2))  # per server Σ (y, c y) / σ²
        self.observations = np.zeros(num_servers, dtype=np.int64)  # (N,)

    def observe(self, server: int, co_located: bool, residual: float) -> None:
        """One completion on ``server``: its residual y (log observed / estimated) and whether it started beside
        another task.

        Raises:
            ValueError: a non-finite residual.
        """
        if not np.isfinite(residual):
            raise ValueError(f"the residual must be finite, got {residual}")
        w, c = 1 / self.prior.noise_sd**2, float(co_located)
        self._xx[server] += (w, w * c, w * c)  # c² = c
        self._xy[server] += (w * residual, w * c * residual)
        self.observations[server] += 1

    def cluster_mean(self) -> np.ndarray:
        """Shape (2,). θ̂ = (a, φ): the posterior mean of the cluster-wide coefficients."""
        p = self.prior
        return _solve(self._xx.sum(axis=0), self._xy.sum(axis=0), np.zeros(2), (p.bias_sd, p.factor_sd))[0]

    def mean(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, φ), each shape (N,): each server's posterior mean of its lone-task log bias and log interference
        factor."""
        p = self.prior
        theta = _solve(self._xx, self._xy, self.cluster_mean(), (p.server_bias_sd, p.server_factor_sd))
        return theta[:, 0], theta[:, 1]

    def log_factor(self) -> np.ndarray:
        """Shape (N,). Each server's believed log slowdown of a co-located start: its posterior mean φ_s, or 0 where
        that is negative — contention only slows co-located tasks (Paragon, Delimitrou & Kozyrakis, ASPLOS 2013), so
        a negative mean is noise (e.g. residuals of a profile that is far off, read before the performance model has
        settled: ``results/adaptation_colocation``), never a discount."""
        return np.maximum(self.mean()[1], 0.0)


def _solve(xx: np.ndarray, xy: np.ndarray, prior_mean: np.ndarray, prior_sd: tuple[float, float]) -> np.ndarray:
    """Posterior means, shape (..., 2), of Bayesian linear regressions with data statistics ``xx`` (..., 3: the
    entries aa, af, ff of Σ x xᵀ/σ²) and ``xy`` (..., 2), under the prior N(prior_mean (2,), diag(prior_sd²))."""
    xx, xy = np.atleast_2d(xx), np.atleast_2d(xy)
    l_aa, l_af, l_ff = xx[:, 0] + prior_sd[0] ** -2, xx[:, 1], xx[:, 2] + prior_sd[1] ** -2
    h_a = xy[:, 0] + prior_mean[0] * prior_sd[0] ** -2
    h_f = xy[:, 1] + prior_mean[1] * prior_sd[1] ** -2
    det = l_aa * l_ff - l_af**2
    return np.stack([(l_ff * h_a - l_af * h_f) / det, (l_aa * h_f - l_af * h_a) / det], axis=1)
