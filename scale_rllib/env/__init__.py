"""The gymnasium env (:class:`SchedulingEnv`), its config and observation encoding.

Registration with gymnasium / Ray Tune (:func:`scale_rllib.env.registration.register`, id :data:`ENV_ID`) lives in
its own module so that building an env does not import Ray.
"""

from __future__ import annotations

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import observation_space
from scale_rllib.env.scheduling_env import SchedulingEnv

#: The env id under which :func:`scale_rllib.env.registration.register` registers :class:`SchedulingEnv`.
ENV_ID = "scale_rllib/Scheduling-v0"

__all__ = ["ENV_ID", "EnvConfig", "SchedulingEnv", "observation_space"]
