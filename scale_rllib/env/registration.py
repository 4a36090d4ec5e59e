"""Registration of the env under :data:`ENV_ID` with gymnasium and Ray Tune's registry."""

from __future__ import annotations

import gymnasium as gym
from ray.tune.registry import register_env

from scale_rllib.env import ENV_ID, SchedulingEnv


def register() -> str:
    """Register :class:`SchedulingEnv` under :data:`ENV_ID` with gymnasium and Ray's registry.

    Call it in every process that builds the env by name (the driver, before ``Algorithm.from_checkpoint``); env
    runners get it through the PPO config. Idempotent.

    Returns:
        The env id.
    """
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point=SchedulingEnv, disable_env_checker=True)
    register_env(ENV_ID, lambda env_config: SchedulingEnv(dict(env_config)))
    return ENV_ID
