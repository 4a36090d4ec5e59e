"""A performance model: estimated execution times per task kind × server type, corrected online from completions.

Real schedulers do not know a task's execution time; they take it from a performance model (profiles, regressions)
that is wrong on new hardware, under interference and when the workload shifts. This model starts from a profile —
a nominal execution time, e.g. work / the server type's nominal speed — and learns, per (server type g, task kind k),
the multiplier between what the profile predicts and what is observed:

    y = log(observed execution time / nominal execution time),   y ~ N(μ_gk, σ²_gk),

with the conjugate Normal-Inverse-Gamma prior on (μ, σ²) (Murphy, "Conjugate Bayesian analysis of the Gaussian
distribution", 2007, §6; Gelman et al., *Bayesian Data Analysis*, 3rd ed., §3.3). After n observations the posterior
is NIG(μ_n, κ_n, α_n, β_n) with, for each new y,

    κ' = κ + 1,   μ' = (κ μ + y) / (κ + 1),   α' = α + 1/2,   β' = β + κ (y − μ)² / (2 (κ + 1)).

Estimate: nominal × exp(μ_n) (the median of the log-normal multiplier). Uncertainty: the standard deviation of the
posterior predictive of y, a Student-t with ν = 2 α_n degrees of freedom and scale² = β_n (κ_n + 1) / (α_n κ_n), so
sd = scale · sqrt(ν / (ν − 2)) (Murphy 2007, eq. 110). To follow a performance that changes (a step change), the
model forgets: before each update the statistics are pulled toward the prior, (κ, α, β) ← γ (κ, α, β) + (1 − γ)
(κ₀, α₀, β₀) — stabilised exponential forgetting (Kulhavý & Kraus, "On duality of regularized exponential and linear
forgetting", Automatica 32(10), 1996) — so that the model weighs the last ≈ 1 / (1 − γ) observations; γ = 1 keeps
every observation (the stationary posterior above).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PerformancePrior:
    """Prior belief about the profile's error, the same for every (server type, kind).

    Attributes:
        log_sd: Prior guess of the spread of log(observed / nominal), e.g. 0.3 ≈ ±30 %; the prior's E[σ²] = log_sd².
        pseudo_count: κ₀, the prior's weight on μ₀ = 0 (the profile is unbiased a priori) in observations.
        shape: α₀ > 1, the prior's weight on σ² (larger: σ² stays near log_sd² longer).
        forgetting: γ in (0, 1]; 1 keeps every observation, 0.95 weighs about the last 20.

    Raises:
        ValueError: a value outside its range.
    """

    log_sd: float = 0.3
    pseudo_count: float = 1.0
    shape: float = 2.0
    forgetting: float = 1.0

    def __post_init__(self) -> None:
        if not self.log_sd > 0:
            raise ValueError(f"log_sd must be > 0, got {self.log_sd}")
        if not self.pseudo_count > 0:
            raise ValueError(f"pseudo_count must be > 0, got {self.pseudo_count}")
        if not self.shape > 1:
            raise ValueError(f"shape must be > 1 (a finite prior E[σ²]), got {self.shape}")
        if not 0 < self.forgetting <= 1:
            raise ValueError(f"forgetting must be in (0, 1], got {self.forgetting}")


class PerformanceModel:
    """Estimated execution-time multipliers for G server types × K task kinds, updated from observed completions.

    Args:
        num_types: G server types.
        num_kinds: K task kinds.
        prior: The prior and the forgetting factor.

    Raises:
        ValueError: G or K < 1.
    """

    def __init__(self, num_types: int, num_kinds: int, prior: PerformancePrior | None = None) -> None:
        if num_types < 1 or num_kinds < 1:
            raise ValueError(f"need ≥ 1 server type and ≥ 1 kind, got {num_types} and {num_kinds}")
        self.prior = prior or PerformancePrior()
        p, shape = self.prior, (num_types, num_kinds)
        self._prior_stats = (p.pseudo_count, p.shape, p.log_sd**2 * (p.shape - 1))  # κ₀, α₀, β₀ (E[σ²] = β₀/(α₀−1))
        self.mu = np.zeros(shape)  # (G, K) posterior mean of log(observed / nominal)
        self.kappa = np.full(shape, self._prior_stats[0])  # (G, K)
        self.alpha = np.full(shape, self._prior_stats[1])  # (G, K)
        self.beta = np.full(shape, self._prior_stats[2])  # (G, K)
        self.observations = np.zeros(shape, dtype=np.int64)  # (G, K) completions seen

    def observe(self, server_type: int, kind: int, nominal_s: float, observed_s: float) -> None:
        """One completion: a task of ``kind`` ran ``observed_s`` seconds on a server of ``server_type``, where the
        profile predicted ``nominal_s``.

        Raises:
            ValueError: a non-positive or non-finite time.
        """
        if not (np.isfinite(nominal_s) and np.isfinite(observed_s) and nominal_s > 0 and observed_s > 0):
            raise ValueError(f"execution times must be positive and finite, got {nominal_s} and {observed_s}")
        g, k, gamma = server_type, kind, self.prior.forgetting
        kappa0, alpha0, beta0 = self._prior_stats
        kappa = gamma * self.kappa[g, k] + (1 - gamma) * kappa0
        alpha = gamma * self.alpha[g, k] + (1 - gamma) * alpha0
        beta = gamma * self.beta[g, k] + (1 - gamma) * beta0
        y, mu = float(np.log(observed_s / nominal_s)), self.mu[g, k]
        self.mu[g, k] = (kappa * mu + y) / (kappa + 1)
        self.beta[g, k] = beta + kappa * (y - mu) ** 2 / (2 * (kappa + 1))
        self.kappa[g, k], self.alpha[g, k] = kappa + 1, alpha + 0.5
        self.observations[g, k] += 1

    def multiplier(self) -> np.ndarray:
        """Shape (G, K). Estimated observed / nominal execution time: exp(μ)."""
        return np.exp(self.mu)

    def log_sd(self) -> np.ndarray:
        """Shape (G, K). Standard deviation of the posterior predictive of log(observed / nominal) (Student-t)."""
        nu = 2 * self.alpha
        scale2 = self.beta * (self.kappa + 1) / (self.alpha * self.kappa)
        return np.sqrt(scale2 * nu / (nu - 2))

    def estimate_s(self, nominal_s: np.ndarray, server_type: np.ndarray, kind: int) -> np.ndarray:
        """Estimated execution times (seconds) of one task of ``kind`` on several servers.

        Args:
            nominal_s: Shape (N,). The profile's execution time on each server.
            server_type: Shape (N,). Each server's type index in [0, G).
        """
        return nominal_s * np.exp(self.mu[server_type, kind])
