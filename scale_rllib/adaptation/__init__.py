"""Sample-efficient adaptation to a wrong performance model: meta-training vs fine-tuning vs from scratch
(docs/design.md §10; ``benchmarks/adaptation.py``)."""

from __future__ import annotations

from scale_rllib.adaptation.plan import METHODS, QUICK, AdaptationPlan, with_overrides
from scale_rllib.adaptation.protocol import run_protocol
from scale_rllib.adaptation.tables import (
    adaptation_table,
    compared_rows,
    held_out_lines,
    paired_methods,
    plot_adaptation,
    report_lines,
)

__all__ = [
    "METHODS",
    "QUICK",
    "AdaptationPlan",
    "adaptation_table",
    "compared_rows",
    "held_out_lines",
    "paired_methods",
    "plot_adaptation",
    "report_lines",
    "run_protocol",
    "with_overrides",
]
