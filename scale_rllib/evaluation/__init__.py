"""Evaluation: one pipeline (:func:`evaluate` → :func:`summarize` → files, table, MLflow) for every scenario.

Scenarios (:mod:`scale_rllib.evaluation.scenarios`): :class:`EvalConfig`, seeded episodes of a workload at each N,
and :class:`DwsEvalConfig`, the DWS peer benchmark's streams on a VM pool.
"""

from __future__ import annotations

from scale_rllib.evaluation.report import evaluation_metrics, log_evaluation, print_table, write_results
from scale_rllib.evaluation.run import EvalOutput, evaluate
from scale_rllib.evaluation.scenarios import (
    DWS_SCHEDULERS,
    EVAL_SEED_BASE,
    DwsEvalConfig,
    EvalConfig,
    Scenario,
)
from scale_rllib.evaluation.summary import ci95_half_width, summarize

__all__ = [
    "DWS_SCHEDULERS",
    "EVAL_SEED_BASE",
    "DwsEvalConfig",
    "EvalConfig",
    "EvalOutput",
    "Scenario",
    "ci95_half_width",
    "evaluate",
    "evaluation_metrics",
    "log_evaluation",
    "print_table",
    "summarize",
    "write_results",
]
