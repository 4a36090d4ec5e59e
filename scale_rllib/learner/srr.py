"""SRR, structured representation regularisation of the attention feature z (Xu et al., "SCALE: Scalable
Cross-Attention Learning with Extrapolation for Agentic Workflow Scheduling", arXiv:2606.06820, 2026; docs/design.md).

On a batch Z ∈ R^{B×d} of attention features (valid rows only):

* μ = mean(Z, 0), σ² = var(Z, 0) + ε, with the *population* variance (divide by B, not B − 1).
* Decorrelation: Ẑ = (Z − μ)/σ, C = ẐᵀẐ / B, L_dec = Σ_{i≠j} C_ij² / (d(d − 1)) — the mean squared off-diagonal
  correlation, akin to the covariance term of VICReg (Bardes et al. 2022) and the redundancy-reduction term of
  Barlow Twins (Zbontar et al. 2021).
* KL toward N(0, I): L_KL = (1/d) Σ_k ½(μ_k² + σ_k² − 1 − ln σ_k²), the closed-form KL(N(μ_k, σ_k²) ‖ N(0, 1))
  of Kingma & Welling 2014 ("Auto-Encoding Variational Bayes", appendix B), averaged over dimensions.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from scale_rllib.metrics import FEATURE_MEAN_ABS_MU as MEAN_ABS_MU
from scale_rllib.metrics import FEATURE_MEAN_ABS_OFFDIAG_CORR as MEAN_ABS_OFFDIAG_CORR
from scale_rllib.metrics import FEATURE_MEAN_SIGMA as MEAN_SIGMA


class SRRStats(NamedTuple):
    """SRR losses and feature statistics; every field is a 0-dim tensor.

    Attributes:
        decorrelation: L_dec (differentiable).
        kl: L_KL (differentiable).
        mean_abs_mu: mean_k |μ_k| (detached).
        mean_sigma: mean_k σ_k (detached).
        mean_abs_offdiag: mean_{i≠j} |C_ij| (detached).
    """

    decorrelation: torch.Tensor
    kl: torch.Tensor
    mean_abs_mu: torch.Tensor
    mean_sigma: torch.Tensor
    mean_abs_offdiag: torch.Tensor


def _valid_rows(z: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Checks ``z`` (B, d) and ``mask`` (B,) and returns the valid rows (B_valid, d).

    Raises:
        ValueError: On a non-2-D ``z`` or a ``mask`` whose shape is not (B,).
    """
    if z.dim() != 2:
        raise ValueError(f"z must be (B, d), got shape {tuple(z.shape)}.")
    if mask is None:
        return z
    if mask.shape != z.shape[:1]:
        raise ValueError(f"mask must be (B,) = ({z.shape[0]},), got shape {tuple(mask.shape)}.")
    return z[mask if mask.dtype == torch.bool else mask != 0]


def srr_losses(z: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-5) -> SRRStats:
    """Computes the SRR losses and feature statistics (formulas in the module docstring).

    Args:
        z: (B, d) attention features.
        mask: Optional (B,) bool (or 0/1) tensor selecting the valid rows, e.g. PPO's ``Columns.LOSS_MASK``.
        eps: ε added to the population variance.

    Returns:
        The :class:`SRRStats`. With fewer than 2 valid rows the statistics are undefined and every field is 0 (no NaN,
        no gradient). With d = 1 the decorrelation terms are 0.

    Raises:
        ValueError: On bad shapes or a non-positive ``eps``.
    """
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}.")
    rows = _valid_rows(z, mask)
    n, d = rows.shape
    if n < 2:
        zero = z.new_zeros(())
        return SRRStats(zero, zero, zero, zero, zero)
    mu = rows.mean(dim=0)
    var = rows.var(dim=0, correction=0) + eps
    sigma = var.sqrt()
    z_hat = (rows - mu) / sigma
    corr = z_hat.T @ z_hat / n
    off_diag = ~torch.eye(d, dtype=torch.bool, device=z.device)
    if d > 1:
        decorrelation = corr[off_diag].pow(2).sum() / (d * (d - 1))
        mean_abs_offdiag = corr[off_diag].abs().mean().detach()
    else:
        decorrelation = mean_abs_offdiag = z.new_zeros(())
    kl = (0.5 * (mu.pow(2) + var - 1.0 - var.log())).mean()
    return SRRStats(
        decorrelation=decorrelation,
        kl=kl,
        mean_abs_mu=mu.abs().mean().detach(),
        mean_sigma=sigma.mean().detach(),
        mean_abs_offdiag=mean_abs_offdiag,
    )


def feature_statistics(z: torch.Tensor, eps: float = 1e-5) -> dict[str, float]:
    """Evaluation-time statistics of attention features (e.g. per cluster size, to show distribution shift).

    Args:
        z: (B, d) attention features (tensor or array-like), all rows valid.
        eps: ε added to the population variance.

    Returns:
        ``{MEAN_ABS_MU: mean_k |μ_k|, MEAN_SIGMA: mean_k σ_k, MEAN_ABS_OFFDIAG_CORR: mean_{i≠j} |C_ij|}``; zeros if
        B < 2.

    Raises:
        ValueError: If ``z`` is not 2-D.
    """
    with torch.no_grad():
        stats = srr_losses(torch.as_tensor(z, dtype=torch.float32), eps=eps)
    return {
        MEAN_ABS_MU: float(stats.mean_abs_mu),
        MEAN_SIGMA: float(stats.mean_sigma),
        MEAN_ABS_OFFDIAG_CORR: float(stats.mean_abs_offdiag),
    }


def check_srr_weights(lambda_dec: float, lambda_kl: float) -> tuple[float, float]:
    """The one validation of the SRR weights, used by every config that carries them.

    Returns:
        ``(lambda_dec, lambda_kl)`` as floats.

    Raises:
        ValueError: a weight that is negative, NaN or infinite (the message names it).
    """
    weights = (float(lambda_dec), float(lambda_kl))
    for name, value in zip(("lambda_dec", "lambda_kl"), weights, strict=True):
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"{name}: must be a finite number ≥ 0, got {value}")
    return weights


def srr_penalty(
    z: torch.Tensor, lambda_dec: float, lambda_kl: float, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, SRRStats]:
    """λ_dec · L_dec + λ_KL · L_KL on ``z``: the one composition of the SRR loss (PPO learner and warm start).

    With both weights 0 the statistics are computed without a graph and the penalty is a zero tensor, so the
    no-SRR ablation logs the same statistics at no gradient cost.

    Args:
        z: (B, d) attention features.
        lambda_dec: Weight of the decorrelation loss (≥ 0).
        lambda_kl: Weight of the KL-to-N(0, I) loss (≥ 0).
        mask: Optional (B,) valid-row mask (RLlib's ``Columns.LOSS_MASK``).

    Returns:
        (penalty, stats): a 0-dim tensor to add to the loss, and the unweighted :class:`SRRStats`.

    Raises:
        ValueError: an invalid weight (:func:`check_srr_weights`) or bad shapes.
    """
    lambda_dec, lambda_kl = check_srr_weights(lambda_dec, lambda_kl)
    if lambda_dec == 0.0 and lambda_kl == 0.0:
        with torch.no_grad():
            return z.new_zeros(()), srr_losses(z.detach(), mask)
    stats = srr_losses(z, mask)
    return lambda_dec * stats.decorrelation + lambda_kl * stats.kl, stats
