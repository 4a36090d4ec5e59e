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
    """Draw a cluster, workflows and arrivals, all from ``rng``.

    The arrival rate is ``load × cluster.service_rate(workload.mean_work_by_kind())``, so the
    offered load ρ is the same for every N (DESIGN §3). A workload may add
    ``mean_decode_work_by_kind()`` (decode work, e.g. generated tokens, in the same LP) and
    ``arrival_times(rng, count, rate_per_s)`` (its own arrival source, e.g. a replayed trace scaled
    to that rate); without the latter, arrivals are Poisson.

    Args:
        workload: Source of workflows and the cluster profile.
        rng: The episode's only source of randomness.
        num_servers: N.
        load: Offered load ρ.
        num_workflows: W workflows in the stream.
        randomize_mix: Draw the server-type proportions (training) or use the profile's (evaluation).
        bandwidth: Bytes/s between servers, or None for no transfer time.

    Returns:
        A fresh :class:`Simulator`. A workload with its own ``build_episode`` method (e.g. ``dws:DIR``'s k×n VM
        pools) is given the same arguments and builds it.
    """
    if hasattr(workload, "build_episode"):
        return workload.build_episode(
            rng,
            num_servers=num_servers,
            load=load,
            num_workflows=num_workflows,
            randomize_mix=randomize_mix,
            bandwidth=bandwidth,
        )
    if randomize_mix:
        cluster = workload.profile.randomized(num_servers, rng, bandwidth)
    else:
        cluster = workload.profile.fixed(num_servers, bandwidth)
    workflows = workload.sample(rng, num_workflows)
    decode = getattr(workload, "mean_decode_work_by_kind", None)  # optional: workloads with decode work (LLM)
    rate = load * cluster.service_rate(workload.mean_work_by_kind(), decode() if decode else None)
    replay = getattr(workload, "arrival_times", None)  # optional arrival source (e.g. a replayed Azure trace)
    arrivals = replay(rng, num_workflows, rate) if replay else poisson_arrivals(rng, num_workflows, rate)
    return Simulator(cluster, workflows, arrivals)
