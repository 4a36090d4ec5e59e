"""Tests of the SRR losses (docs/design.md, "SRR"): hand-computed values, masking, degenerate batches, gradient flow."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from scale_rllib.learner.srr import MEAN_ABS_MU, MEAN_ABS_OFFDIAG_CORR, MEAN_SIGMA, feature_statistics, srr_losses

torch.set_num_threads(1)

EPS = 1e-5
# Column 0 = (1, 3, 5, 7): μ = 4, population var = (9 + 1 + 1 + 9)/4 = 5.
# Column 1 = (2, 0, 4, 2): μ = 2, population var = (0 + 4 + 4 + 0)/4 = 2.
# Covariance = ((-3)(0) + (-1)(-2) + (1)(2) + (3)(0))/4 = 1.
Z = torch.tensor([[1.0, 2.0], [3.0, 0.0], [5.0, 4.0], [7.0, 2.0]], dtype=torch.float64)
VAR = (5.0 + EPS, 2.0 + EPS)
C12 = 1.0 / math.sqrt(VAR[0] * VAR[1])  # Ẑ_1ᵀẐ_2 / B = cov / (σ_1 σ_2)
EXPECTED = {
    # Σ_{i≠j} C_ij² / (d(d−1)) with d = 2: (C12² + C21²) / 2.
    "decorrelation": C12**2,
    # (1/d) Σ_k ½(μ_k² + σ_k² − 1 − ln σ_k²) with μ = (4, 2).
    "kl": 0.5 * (0.5 * (16 + VAR[0] - 1 - math.log(VAR[0])) + 0.5 * (4 + VAR[1] - 1 - math.log(VAR[1]))),
    "mean_abs_mu": 3.0,
    "mean_sigma": 0.5 * (math.sqrt(VAR[0]) + math.sqrt(VAR[1])),
    "mean_abs_offdiag": C12,
}


def _assert_expected(stats) -> None:
    for name, value in EXPECTED.items():
        assert getattr(stats, name).item() == pytest.approx(value, rel=1e-9), name


def test_srr_losses_match_hand_computed_values() -> None:
    assert EXPECTED["decorrelation"] == pytest.approx(0.1, rel=1e-4)  # sanity of the hand computation: 1/10
    assert EXPECTED["kl"] == pytest.approx(0.25 * (25 - math.log(10)), rel=1e-4)
    _assert_expected(srr_losses(Z, eps=EPS))


def test_srr_mask_excludes_rows() -> None:
    padded = torch.cat([Z[:2], torch.full((3, 2), 100.0, dtype=torch.float64), Z[2:]])
    mask = torch.tensor([True, True, False, False, False, True, True])
    _assert_expected(srr_losses(padded, mask, eps=EPS))
    _assert_expected(srr_losses(padded, mask.to(torch.float32), eps=EPS))


@pytest.mark.parametrize("rows", [0, 1])
def test_srr_fewer_than_two_valid_rows_gives_zeros(rows: int) -> None:
    z = torch.randn(4, 3, requires_grad=True)
    mask = torch.arange(4) < rows
    stats = srr_losses(z, mask)
    assert all(torch.isfinite(v) and v.item() == 0.0 for v in stats)


def test_srr_identical_rows_and_single_dim_are_finite() -> None:
    stats = srr_losses(torch.ones(5, 3))  # σ² = ε only
    assert all(torch.isfinite(v) for v in stats)
    stats = srr_losses(torch.randn(5, 1))
    assert stats.decorrelation.item() == 0.0 and torch.isfinite(stats.kl)


def test_srr_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        srr_losses(torch.randn(4))
    with pytest.raises(ValueError):
        srr_losses(torch.randn(4, 2), torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError):
        srr_losses(torch.randn(4, 2), eps=0.0)


def test_feature_statistics_on_hand_computed_batch() -> None:
    stats = feature_statistics(Z.numpy(), eps=EPS)
    assert set(stats) == {MEAN_ABS_MU, MEAN_SIGMA, MEAN_ABS_OFFDIAG_CORR}
    assert all(isinstance(v, float) for v in stats.values())
    assert stats[MEAN_ABS_MU] == pytest.approx(EXPECTED["mean_abs_mu"], rel=1e-6)
    assert stats[MEAN_SIGMA] == pytest.approx(EXPECTED["mean_sigma"], rel=1e-6)
    assert stats[MEAN_ABS_OFFDIAG_CORR] == pytest.approx(EXPECTED["mean_abs_offdiag"], rel=1e-5)


def test_srr_gradient_reaches_encoders_not_value_head() -> None:
    from scale_rllib.models.scale_module import SRR_FEATURE, ScaleRLModule

    torch.manual_seed(0)
    n_max = 6
    space = gym.spaces.Dict(
        {
            "servers": gym.spaces.Box(-10, 10, (n_max, 5), np.float32),
            "task": gym.spaces.Box(-10, 10, (4,), np.float32),
            "action_mask": gym.spaces.Box(0, 1, (n_max,), np.float32),
        }
    )
    module = ScaleRLModule(observation_space=space, action_space=gym.spaces.Discrete(n_max), model_config={})
    mask = torch.ones(16, n_max)
    mask[:, 4:] = 0.0
    obs = {"servers": torch.randn(16, n_max, 5), "task": torch.randn(16, 4), "action_mask": mask}
    stats = srr_losses(module.forward_train({"obs": obs})[SRR_FEATURE])
    (stats.decorrelation + stats.kl).backward()

    def grad_norm(part: torch.nn.Module) -> float:
        return sum(float(p.grad.abs().sum()) for p in part.parameters() if p.grad is not None)

    assert grad_norm(module.server_encoder.mlp) > 0.0
    assert grad_norm(module.task_encoder) > 0.0
    assert grad_norm(module.cross_attention) > 0.0
    assert all(p.grad is None for p in module.value_head.parameters())
