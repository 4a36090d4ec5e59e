"""Training: :class:`TrainConfig` → RLlib PPO with the SRR learner, warm start, callbacks, checkpoints, MLflow."""

from __future__ import annotations

from scale_rllib.training.config import WARM_START_TEACHERS, TrainConfig
from scale_rllib.training.ppo import build_ppo_config, init_ray
from scale_rllib.training.run import CHECKPOINT_DIR, WARM_START_DIR, TrainResult, train

__all__ = [
    "CHECKPOINT_DIR",
    "WARM_START_DIR",
    "WARM_START_TEACHERS",
    "TrainConfig",
    "TrainResult",
    "build_ppo_config",
    "init_ray",
    "train",
]
