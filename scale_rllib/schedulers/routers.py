"""Load-balancing routers of LLM serving stacks, as heuristics: they look only at each server's outstanding
requests (tasks assigned to it and not finished), never at speeds or execution times.

- ``power-of-two`` — Ray Serve's default request router (docs.ray.io, "Request routing" and
  ``PowerOfTwoChoicesRequestRouter``): sample two distinct replicas uniformly at random and send the request to the
  one with the shorter queue; ties go to the first sampled. The policy of Mitzenmacher, "The Power of Two Choices in
  Randomized Load Balancing", IEEE TPDS 12(10), 2001. Ray Serve also skips replicas at ``max_ongoing_requests``;
  our servers queue without limit, so no replica is skipped.
- ``least-outstanding`` — least outstanding requests (NGINX ``least_conn``, Envoy ``LEAST_REQUEST`` with all hosts
  compared): the server with the fewest outstanding requests, ties by lowest index. Counts are not weighted by
  speed or slots, as in those routers' unweighted defaults.

On a cluster with serving engines both route LLM calls among the engine replicas, and other tasks go where EFT puts
them (:func:`~scale_rllib.schedulers.serving_routers.fallback_server`). The counts are facts a router observes
(requests sent minus responses received), so both routers behave the same
with oracle and estimated runtime knowledge.

:data:`ROUTERS` also holds the prefix-cache-aware routers of LLM serving stacks (``cache-aware``, ``prefix-affinity``,
``llm-d``), which route LLM calls among engine replicas (:mod:`scale_rllib.schedulers.serving_routers`).
"""

from __future__ import annotations

import numpy as np

from scale_rllib.schedulers.base import Scheduler
from scale_rllib.schedulers.serving_routers import SERVING_ROUTERS, fallback_server, router_pool
from scale_rllib.sim.simulator import Simulator


class PowerOfTwoScheduler(Scheduler):
    """Two random servers; the one with fewer outstanding requests (see the module docstring)."""

    name = "power-of-two"

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)

    def reset(self, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 0x2C40])

    def select(self, observation, sim: Simulator) -> int:
        pool = router_pool(sim)
        if pool is None:
            return fallback_server(sim)
        if len(pool) == 1:
            return int(pool[0])
        first, second = pool[self._rng.choice(len(pool), size=2, replace=False)]
        return int(second if sim.outstanding[second] < sim.outstanding[first] else first)


class LeastOutstandingScheduler(Scheduler):
    """The server with the fewest outstanding requests (see the module docstring)."""

    name = "least-outstanding"

    def select(self, observation, sim: Simulator) -> int:
        pool = router_pool(sim)
        return fallback_server(sim) if pool is None else int(pool[np.argmin(sim.outstanding[pool])])


ROUTERS = {cls.name: cls for cls in (PowerOfTwoScheduler, LeastOutstandingScheduler)} | SERVING_ROUTERS
