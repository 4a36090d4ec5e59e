"""Namespaced metric names, defined once and imported everywhere they are logged (STYLE point 11)."""

from __future__ import annotations

# SRR (DESIGN §6): logged per module by the learner every update, even when λ = 0.
SRR_DECORRELATION = "srr/decorrelation"
SRR_KL = "srr/kl"
SRR_MEAN_ABS_MU = "srr/mean_abs_mu"
SRR_MEAN_SIGMA = "srr/mean_sigma"
SRR_MEAN_ABS_OFFDIAG = "srr/mean_abs_offdiag_corr"
