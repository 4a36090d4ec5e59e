"""The SRR study (docs/srr-study.md): SCALE with SRR vs λ = 0 vs the heuristics, trained at N ≈ 16, zero-shot to
N = 128 — configuration (:mod:`~scale_rllib.study.config`), run (:mod:`~scale_rllib.study.run`), tables, plots,
report, and the side-by-side table of several studies (:mod:`~scale_rllib.study.sweep`)."""

from __future__ import annotations

from scale_rllib.study.config import DEFAULT_WORKLOADS, STUDY_TRAIN, VARIANTS, WORKLOADS, StudyConfig, StudyOutcome
from scale_rllib.study.run import run_study

__all__ = ["DEFAULT_WORKLOADS", "STUDY_TRAIN", "VARIANTS", "WORKLOADS", "StudyConfig", "StudyOutcome", "run_study"]
