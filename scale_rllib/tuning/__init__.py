"""Ray Tune sweeps of the SRR weights: :class:`SweepConfig` (``tune_configs/*.yaml``) → :func:`run_sweep`."""

from __future__ import annotations

from scale_rllib.tuning.config import SweepConfig
from scale_rllib.tuning.sweep import SweepResult, run_sweep

__all__ = ["SweepConfig", "SweepResult", "run_sweep"]
