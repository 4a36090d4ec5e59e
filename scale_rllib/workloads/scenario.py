"""One episode's setup: a cluster of N servers and a stream of workflows at offered load ρ."""

from __future__ import annotations

import numpy as np

from scale_rllib.sim.simulator import Simulator
from scale_rllib.workloads.base import Workload, poisson_arrivals


def build_episode(
    workload: Workload,
    rng: np.random.Generator,
    *,
    num_servers: int,
    load: float,
    num_workflows: int,
    randomize_mix: bool,
    bandwidth: float | None = None,
) -> Simulator:
    """Draw a cluster, workflows and Poisson arrivals, all from ``rng``.

    The arrival rate is ``load × cluster.service_rate(workload.mean_work_by_kind())``, so the
    offered load ρ is the same for every N (DESIGN §3).

    Args:
        workload: Source of workflows and the cluster profile.
        rng: The episode's only source of randomness.
        num_servers: N.
        load: Offered load ρ.
        num_workflows: W workflows in the stream.
        randomize_mix: Draw the server-type proportions (training) or use the profile's (evaluation).
        bandwidth: Bytes/s between servers, or None for no transfer time.

    Returns:
        A fresh :class:`Simulator`.
    """
    if randomize_mix:
        cluster = workload.profile.randomized(num_servers, rng, bandwidth)
    else:
        cluster = workload.profile.fixed(num_servers, bandwidth)
    workflows = workload.sample(rng, num_workflows)
    rate = load * cluster.service_rate(workload.mean_work_by_kind())
    return Simulator(cluster, workflows, poisson_arrivals(rng, num_workflows, rate))
