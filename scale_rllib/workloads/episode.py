"""One episode's setup: a cluster of N servers and a stream of workflows at offered load ρ."""

from __future__ import annotations

import numpy as np

from scale_rllib.sim.simulator import Simulator
from scale_rllib.workloads.base import Workload


def build_episode(
    workload: Workload,
    rng: np.random.Generator,
    *,
    servers: int,
    load: float,
    num_workflows: int,
    randomize_mix: bool,
    bandwidth: float | None = None,
) -> Simulator:
    """``workload.build_episode(rng, …)``: the workload's cluster, workflows and arrivals (see
    :meth:`Workload.build_episode`; a workload such as ``dws:DIR`` overrides it with its own VM pools).

    Returns:
        A fresh :class:`Simulator`.
    """
    return workload.build_episode(
        rng,
        servers=servers,
        load=load,
        num_workflows=num_workflows,
        randomize_mix=randomize_mix,
        bandwidth=bandwidth,
    )
