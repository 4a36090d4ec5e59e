"""The prefix-cache-aware routers that LLM serving stacks ship, as schedulers, each reimplemented from its
documentation and source comments with its documented defaults (no code copied).

- ``cache-aware`` — the cache-aware policy of SGLang's router (sgl-project/sglang ``sgl-router``, now
  sgl-model-gateway; ``sgl-router/src/policies/cache_aware.rs`` and ``docs/router/router.md``) and of vLLM's router
  (vllm-project/router ``src/policies/cache_aware.rs``, the same algorithm): the load is *imbalanced* when
  busiest − idlest > ``balance_abs_threshold`` AND busiest > ``balance_rel_threshold`` × idlest (loads: outstanding
  requests); then the least loaded replica. Otherwise the replica with the highest prefix match rate if that rate
  > ``cache_threshold`` (strict), else the one with the smallest tree (the most free cache). Defaults 0.3, 64, 1.5
  (the gateway's CLI defaults; the older router docs said 0.5, 32, 1.0001).
- ``prefix-affinity`` — Ray Serve LLM's ``PrefixCacheAffinityRouter`` (docs.ray.io, "Prefix-aware routing";
  ray-project/ray ``python/ray/llm/_internal/serve/request_router/prefix_aware/prefix_aware_router.py``): imbalanced
  when highest − lowest queue length > ``imbalanced_threshold`` (10); then Power of Two Choices (two random replicas,
  the shorter queue). Otherwise the candidates are the replicas with the highest match rate if it is
  ≥ ``match_rate_threshold`` (0.1, inclusive), else the smallest tenants (smallest trees); of the candidates, the
  one with the shortest queue.
- ``llm-d`` — llm-d's inference scheduler with the default scoring profile of its endpoint picker
  (kubernetes-sigs/gateway-api-inference-extension ``config/charts/inferencepool/templates/epp-config.yaml``, used
  by llm-d's ``guides/inference-scheduling``): total = 3·prefix + 2·queue + 2·kv, the max-score picker taking the
  highest total, ties at random. Scorers (``pkg/epp/scheduling/framework/plugins``): ``prefix-cache-scorer`` = the
  matched fraction of the prompt; ``queue-scorer`` = (max − waiting) / (max − min) of the waiting-queue sizes over the
  candidates, 1 for all when they are equal; ``kv-cache-utilization-scorer`` = 1 − KV-cache utilization.

In this simulator the routers' approximate trees are exact: a replica's prefix match is its cached tokens of the
call's workflow, ``min(cached_prefix_tokens, request_tokens) / request_tokens`` (0 for an empty request), counted in
tokens rather than characters or 64-character blocks; a tree's size is the replica's cached tokens, ``cache_tokens``.
A router routes LLM calls among the engine replicas only (``cluster.is_engine``); every other task, and every task
when the cluster has no engine, goes to :func:`fallback_server`. Deterministic choices break ties by the lowest index.

**Threshold scaling.** An absolute request-count threshold is a load gap on the reference systems' replicas, which
batch up to 1024 requests (vLLM's default ``max_num_seqs`` on ≥ 70 GiB GPUs — H100, H200, MI300X — the class these
routers are deployed on; ``EngineArgs.get_batch_defaults``). Ours batch up to ``EngineProfile.max_seqs`` = 256, so
such thresholds are multiplied by ``load_scale`` = 256 / 1024 = 0.25 (a constructor argument): SGLang's 64 becomes 16
and Ray's 10 becomes 2.5 (a gap of 3 requests). Ratios (``balance_rel_threshold``) and match rates are not scaled;
llm-d has no count threshold (its queue score is min-max normalized). ``load_scale=1`` restores the raw defaults.
"""

from __future__ import annotations

import numpy as np

from scale_rllib.schedulers.base import Scheduler
from scale_rllib.sim.llm_engine import EngineProfile
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind

#: The reference replicas' batch cap: vLLM's default ``max_num_seqs`` on ≥ 70 GiB GPUs (requests).
REFERENCE_MAX_SEQS = 1024
#: Our engines' batch cap over the reference's: the factor applied to request-count thresholds (0.25).
LOAD_SCALE = EngineProfile.max_seqs / REFERENCE_MAX_SEQS


def fallback_server(sim: Simulator) -> int:
    """Where a task no router fronts goes. On a cluster with serving engines, a non-LLM task goes to its earliest
    finish time over every server (EFT, ``sim.earliest_finish_times_s``): the workflow engine places tools, the same
    way under every router, so that routers differ only in how they route LLM calls. On a cluster without engines,
    every task goes to the server with the fewest outstanding requests (``sim.outstanding``). Ties: lowest index."""
    if np.asarray(sim.cluster.is_engine, dtype=bool).any():
        return int(np.argmin(sim.earliest_finish_times_s()))
    return int(np.argmin(sim.outstanding))


def router_pool(sim: Simulator) -> np.ndarray | None:
    """Shape (M,). The servers a load-balancing router chooses among: every server on a cluster without serving
    engines; with engines (:mod:`scale_rllib.sim.serving`), the engine replicas for an LLM call (the serving
    deployment the router fronts), and None for any other task (it goes to :func:`fallback_server`)."""
    engines = np.asarray(sim.cluster.is_engine, dtype=bool)
    if not engines.any():
        return np.arange(sim.cluster.num_servers)
    return np.flatnonzero(engines) if sim.task_kind[sim.task] == TaskKind.LLM else None


def llm_engines(sim: Simulator) -> np.ndarray | None:
    """Indices (E,) of the engine replicas when the current task is an LLM call and the cluster has engines; else
    None (the task goes to :func:`fallback_server`)."""
    return router_pool(sim) if np.asarray(sim.cluster.is_engine, dtype=bool).any() else None


def match_rates(sim: Simulator, engines: np.ndarray) -> np.ndarray:
    """Prefix match rate of the current call on each engine, shape (E,), in [0, 1]: its workflow's cached tokens
    there (capped at the call's prompt) over the call's prompt tokens (context + new prompt); 0 for an empty call."""
    tokens = int(sim.request_tokens())
    if tokens <= 0:
        return np.zeros(len(engines))
    return np.minimum(np.asarray(sim.cached_prefix_tokens())[engines], tokens) / tokens


def power_of_two(rng: np.random.Generator, loads: np.ndarray) -> int:
    """Power of Two Choices over ``loads`` (E,): two distinct random positions, the one with the smaller load (ties:
    the first sampled); the only one when E = 1."""
    if len(loads) == 1:
        return 0
    first, second = rng.choice(len(loads), size=2, replace=False)
    return int(second if loads[second] < loads[first] else first)


def queue_scores(waiting: np.ndarray) -> np.ndarray:
    """llm-d's ``queue-scorer``: (max − w) / (max − min) of waiting-queue sizes ``waiting`` (E,), all 1 when equal."""
    lo, hi = waiting.min(), waiting.max()
    if hi == lo:
        return np.ones(len(waiting))
    return (hi - waiting) / (hi - lo)


class ServingRouter(Scheduler):
    """A router of LLM calls among engine replicas: :meth:`select` sends LLM calls to ``engines[route(...)]`` and
    everything else to :func:`fallback_server`. Subclasses implement :meth:`route`."""

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)

    def reset(self, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 0x5E12])

    def select(self, observation, sim: Simulator) -> int:
        engines = llm_engines(sim)
        return fallback_server(sim) if engines is None else int(engines[self.route(sim, engines)])

    def route(self, sim: Simulator, engines: np.ndarray) -> int:
        """Position in ``engines`` (E,) of the replica for the current LLM call; ``sim`` must offer the serving
        methods (``cached_prefix_tokens``, ``request_tokens``, ``cache_tokens``, ...)."""
        raise NotImplementedError


class CacheAwareScheduler(ServingRouter):
    """SGLang's / vLLM's router cache-aware policy (see the module docstring).

    Args:
        cache_threshold: Match rate above which (strictly) the best-matching replica is taken.
        balance_abs_threshold: Reference load gap (requests) before scaling; imbalanced above it.
        balance_rel_threshold: Imbalanced also needs busiest > this × idlest.
        load_scale: Factor on ``balance_abs_threshold`` (module docstring, "Threshold scaling").
    """

    name = "cache-aware"

    def __init__(self, cache_threshold: float = 0.3, balance_abs_threshold: float = 64,
                 balance_rel_threshold: float = 1.5, load_scale: float = LOAD_SCALE) -> None:  # fmt: skip
        super().__init__()
        self.cache_threshold = cache_threshold
        self.balance_abs_threshold = balance_abs_threshold * load_scale
        self.balance_rel_threshold = balance_rel_threshold

    def imbalanced(self, loads: np.ndarray) -> bool:
        """Both conditions on the outstanding requests ``loads`` (E,): gap > absolute, busiest > relative × idlest."""
        hi, lo = loads.max(), loads.min()
        return bool(hi - lo > self.balance_abs_threshold and hi > self.balance_rel_threshold * lo)

    def route(self, sim: Simulator, engines: np.ndarray) -> int:
        loads = sim.outstanding[engines]
        if self.imbalanced(loads):
            return int(np.argmin(loads))
        rates = match_rates(sim, engines)
        best = int(np.argmax(rates))
        if rates[best] > self.cache_threshold:
            return best
        return int(np.argmin(np.asarray(sim.cache_tokens())[engines]))


class PrefixAffinityScheduler(ServingRouter):
    """Ray Serve LLM's ``PrefixCacheAffinityRouter`` (see the module docstring).

    Args:
        imbalanced_threshold: Reference queue-length gap (requests) before scaling; imbalanced above it.
        match_rate_threshold: Match rate from which (inclusive) the best-matching replicas are the candidates.
        load_scale: Factor on ``imbalanced_threshold`` (module docstring, "Threshold scaling").
    """

    name = "prefix-affinity"

    def __init__(self, imbalanced_threshold: float = 10, match_rate_threshold: float = 0.1,
                 load_scale: float = LOAD_SCALE) -> None:  # fmt: skip
        super().__init__()
        self.imbalanced_threshold = imbalanced_threshold * load_scale
        self.match_rate_threshold = match_rate_threshold

    def candidates(self, sim: Simulator, engines: np.ndarray) -> np.ndarray:
        """Positions in ``engines`` of the replicas with the highest match rate when it reaches the threshold,
        else of the smallest tenants (fewest cached tokens)."""
        rates = match_rates(sim, engines)
        if rates.max() >= self.match_rate_threshold:
            return np.flatnonzero(rates == rates.max())
        sizes = np.asarray(sim.cache_tokens())[engines]
        return np.flatnonzero(sizes == sizes.min())

    def route(self, sim: Simulator, engines: np.ndarray) -> int:
        loads = sim.outstanding[engines]
        if loads.max() - loads.min() > self.imbalanced_threshold:
            return power_of_two(self._rng, loads)
        chosen = self.candidates(sim, engines)
        return int(chosen[np.argmin(loads[chosen])])


class LlmDScheduler(ServingRouter):
    """llm-d's default scoring profile with the max-score picker (see the module docstring).

    Args:
        prefix_weight: Weight of ``prefix-cache-scorer``.
        queue_weight: Weight of ``queue-scorer``.
        kv_cache_weight: Weight of ``kv-cache-utilization-scorer``.
    """

    name = "llm-d"

    def __init__(self, prefix_weight: float = 3.0, queue_weight: float = 2.0, kv_cache_weight: float = 2.0) -> None:
        super().__init__()
        self.weights = (prefix_weight, queue_weight, kv_cache_weight)

    def scores(self, sim: Simulator, engines: np.ndarray) -> np.ndarray:
        """Weighted total score of each engine, shape (E,), in [0, sum of weights]."""
        prefix = match_rates(sim, engines)
        queue = queue_scores(np.asarray(sim.waiting_requests())[engines].astype(float))
        kv = 1.0 - np.asarray(sim.kv_utilization(), dtype=float)[engines]
        w_prefix, w_queue, w_kv = self.weights
        return w_prefix * prefix + w_queue * queue + w_kv * kv

    def route(self, sim: Simulator, engines: np.ndarray) -> int:
        total = self.scores(sim, engines)
        best = np.flatnonzero(total >= total.max() - 1e-12)
        return int(best[0] if best.size == 1 else self._rng.choice(best))


#: The serving routers by name (merged into :data:`scale_rllib.schedulers.routers.ROUTERS`).
SERVING_ROUTERS: dict[str, type[Scheduler]] = {
    cls.name: cls for cls in (CacheAwareScheduler, PrefixAffinityScheduler, LlmDScheduler)
}
