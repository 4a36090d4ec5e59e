"""Workflows on a cluster whose LLM servers are continuous-batching serving engines (docs/design.md, §11).

:class:`ServingSimulator` is the :class:`~scale_rllib.sim.simulator.Simulator` with one change: an ``llm`` task
given to a server whose type has an ``engine`` (:class:`~scale_rllib.sim.cluster.ServerType`) is submitted to that
server's :class:`~scale_rllib.sim.llm_engine.LLMEngine` as a request — context tokens = the task's
``context_tokens`` (its workflow's history, the engine's prefix-cache key is the workflow), prompt tokens = its
``work``, output tokens = its ``decode_work`` — and finishes when the engine's batch gets it there, which depends on
what else runs: its finish time is not known at assignment. Every other task (tools on any server, LLM calls on slot
servers) runs in slots exactly as in the base simulator. The engines' next events (a prefill ends, a request
finishes, the queue may move) join the event loop; events at one time are processed as arrivals, slot completions,
then engine completions by server index.

What a scheduler sees for an LLM call on an engine is an *estimate* (:meth:`ServingSimulator.start_times_s`,
:meth:`~ServingSimulator.exec_times_s`): the request's prefix-cache hit on that engine, its admission wait (until
enough running requests finish to free KV memory and a batch seat) and the batch it would join
(:func:`estimate_on_engine`). EFT over these estimates is EFT made cache- and batch-aware.

Lower bound (sim.bounds): a call's fastest time is its time alone on the fastest engine with its whole context cached
(:func:`alone_time_s`) or on the fastest slot server; capacity bound 2 uses each engine's peak throughput
(:func:`capacity_cluster`); bound 3 (every task holds one slot) does not hold for a batch and is dropped.

Transfers (``bandwidth``) and interference are not modelled with engines.
"""

from __future__ import annotations

import copy
import heapq

import numpy as np

from scale_rllib.sim.bounds import capacity_bound_s
from scale_rllib.sim.llm_engine import QUEUE_POLICIES, Completion, LLMEngine, Request
from scale_rllib.sim.serving_model import (
    ELASTIC_CAPACITY,
    LLM,
    BackgroundTraffic,
    alone_time_s,
    call_tokens,
    capacity_cluster,
    estimate_on_engine,
    hit_tokens,
)
from scale_rllib.sim.simulator import Simulator, exec_time_s

__all__ = [
    "ELASTIC_CAPACITY",
    "BackgroundTraffic",
    "ServingSimulator",
    "alone_time_s",
    "call_tokens",
    "capacity_cluster",
    "estimate_on_engine",
]


class ServingSimulator(Simulator):
    """One episode with serving engines (see the module docstring).

    Args:
        cluster: The N servers; those whose type has an ``engine`` serve ``llm`` tasks in a continuous batch.
        workflows: W workflows (``context_tokens`` and ``sample_id`` are read for ``llm`` tasks).
        arrival_times_s: Shape (W,). Non-decreasing arrival times (seconds).
        queue_policy: Every engine's queue order, one of :data:`~scale_rllib.sim.llm_engine.QUEUE_POLICIES`.
        sample_rank: Optional, one score per dataset sample (lower: shorter response), for ``queue_policy=
            "predicted"``: a call's rank is ``sample_rank[sample_id]`` (0 where ``sample_id`` < 0).
        ready_order: As :class:`~scale_rllib.sim.simulator.Simulator`.
        background: Optional :class:`BackgroundTraffic` on the engines (None: the engines serve the workflows only).
        elastic: Indices of elastic servers: a task given to one starts as soon as its inputs are ready, whatever
            else runs there — an autoscaled service (serverless functions, a hosted tool API) rather than a fixed
            number of slots. Their capacity bound counts :data:`ELASTIC_CAPACITY` × their speeds.

    Raises:
        ValueError: a cluster with transfer bandwidth, an unknown queue policy, a ``sample_id`` outside
            ``sample_rank``, background traffic on a server without an engine, or as
            :class:`~scale_rllib.sim.simulator.Simulator`.
    """

    def __init__(self, cluster, workflows, arrival_times_s, *, queue_policy="fcfs", sample_rank=None,
                 ready_order="ready-time", background: BackgroundTraffic | None = None, elastic=()):  # fmt: skip
        self.elastic = np.zeros(cluster.num_servers, dtype=bool)  # (N,) read by the bounds, set before them
        self.elastic[list(elastic)] = True
        if cluster.bandwidth is not None:
            raise ValueError("ServingSimulator does not model transfers: use a cluster with bandwidth=None")
        if queue_policy not in QUEUE_POLICIES:
            raise ValueError(f"queue policy must be one of {', '.join(QUEUE_POLICIES)}, got {queue_policy!r}")
        super().__init__(cluster, workflows, arrival_times_s, ready_order=ready_order)
        self.queue_policy = queue_policy
        self.engines = [None if t.engine is None else LLMEngine(t.engine, queue_policy) for t in cluster.server_types]
        self._engine_ids = np.flatnonzero(cluster.is_engine)  # (E,) servers with an engine
        self._engine_next_s = [np.inf] * len(self._engine_ids)  # (E,) each engine's next event
        self._engine_events: list[tuple[float, int]] = []  # heap of (time, engine row); stale once next_s moved
        self._engine_slot = {int(s): i for i, s in enumerate(self._engine_ids)}  # server → its row in (E,) arrays
        #: (N,) each engine's largest batch (``EngineProfile.max_seqs``); 1 on slot servers
        self.max_seqs = np.array([1 if t.engine is None else t.engine.max_seqs for t in cluster.server_types])
        #: (N,) each engine's compute per prefill token (``EngineProfile.prefill_s``, seconds); 0 on slot servers
        self.prefill_s = np.array([0.0 if t.engine is None else t.engine.prefill_s for t in cluster.server_types])
        self.task_context = np.rint(np.concatenate([w.context_tokens for w in self.workflows]))  # (T_total,)
        self.task_rank = _ranks(np.concatenate([w.sample_id for w in self.workflows]), sample_rank)
        n_tasks = len(self.task_work)
        self.task_ttft_s = np.full(n_tasks, np.nan)  # (T_total,) LLM calls on engines: time to first token
        self.task_tbt_s = np.full(n_tasks, np.nan)  # (T_total,) mean time between output tokens
        self.task_cached_tokens = np.zeros(n_tasks, dtype=np.int64)  # (T_total,) prefill skipped by a cache hit
        self._estimate_key: tuple = ()
        self._estimate: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))
        self.background = background
        if background is not None and len(background.engine):
            engines = np.asarray(background.engine)
            if engines.min() < 0 or engines.max() >= cluster.num_servers or not cluster.is_engine[engines].all():
                raise ValueError("background traffic must go to engine servers")
        self._bg_next = 0  # the first background request not yet submitted
        self._bg_end = 0 if background is None else len(background.time_s)

    # ------------------------------------------------------------------ bounds
    def _fastest_exec_s(self) -> np.ndarray:
        fastest = super()._fastest_exec_s()
        llm = np.flatnonzero(self.task_kind == LLM)
        if not llm.size or not self.cluster.is_engine.any():
            return fastest
        slot_servers = np.flatnonzero(~self.cluster.is_engine)
        work, decode = self.task_work[llm], self.task_decode[llm]
        best = np.full(llm.size, np.inf)
        if slot_servers.size:
            rows = work * self.cluster.inv_speed[slot_servers, LLM][:, None]
            best = (rows + decode * self.cluster.inv_decode_speed[slot_servers, LLM][:, None]).min(axis=0)
        for prof in {self.cluster.server_types[s].engine for s in np.flatnonzero(self.cluster.is_engine)}:
            best = np.minimum(best, alone_time_s(prof, work, decode))
        fastest[llm] = best
        return fastest

    def _lower_bounds_s(self, critical):
        if not self.cluster.is_engine.any() and not self.elastic.any():
            return super()._lower_bounds_s(critical)
        path = np.array([cp[list(w.entries)].max() for w, cp in zip(self.workflows, critical, strict=True)])
        twin = capacity_cluster(self.cluster, elastic=np.flatnonzero(self.elastic))
        return path, np.maximum(path, capacity_bound_s(self.workflows, twin, self.task_fastest_s, whole_cluster=False))

    # ------------------------------------------------------------------ events
    def _next_event_s(self) -> float:
        first = super()._next_event_s()
        if self._bg_next < self._bg_end:
            first = min(first, float(self.background.time_s[self._bg_next]))
        events, next_s = self._engine_events, self._engine_next_s
        while events and next_s[events[0][1]] != events[0][0]:  # drop stale entries
            heapq.heappop(events)
        return min(first, events[0][0]) if events else first

    def _set_engine_next(self, i: int, time_s: float) -> None:
        self._engine_next_s[i] = time_s
        if time_s < np.inf:
            heapq.heappush(self._engine_events, (time_s, i))

    @property
    def _has_events(self) -> bool:
        # background requests alone keep nothing going: the episode ends with its workflows' last request
        return super()._has_events or bool(self.outstanding[self._engine_ids].any())

    def _pop_events_at(self, time_s: float) -> None:
        super()._pop_events_at(time_s)
        events = self._engine_events
        while events and events[0][0] == time_s:  # engines in row order, as their completions are processed
            i = heapq.heappop(events)[1]
            if self._engine_next_s[i] != time_s:
                continue  # stale, or a duplicate of an entry just processed
            engine = self.engines[self._engine_ids[i]]
            for completion in engine.advance(time_s):
                self._finish_call(completion)
            self._set_engine_next(i, engine.next_event_s())
        while self._bg_next < self._bg_end and self.background.time_s[self._bg_next] == time_s:
            self._submit_background(self._bg_next, time_s)
            self._bg_next += 1

    def _submit_background(self, b: int, time_s: float) -> None:
        bg, key = self.background, -1 - b
        server = int(bg.engine[b])
        request = Request(key, key, 0, int(bg.prompt_tokens[b]), int(bg.output_tokens[b]))
        if self.engines[server].submit(request, time_s):
            raise RuntimeError("an engine completion was skipped by the event loop")
        self._set_engine_next(self._engine_slot[server], self.engines[server].next_event_s())

    def _finish_call(self, c: Completion) -> None:
        if c.key < 0:  # a background request
            return
        t = c.key
        self.task_finish_s[t], self.task_exec_s[t] = c.finish_s, c.finish_s - self.task_start_s[t]
        self.task_ttft_s[t], self.task_tbt_s[t], self.task_cached_tokens[t] = c.ttft_s, c.tbt_s, c.cached_tokens
        self._on_finish(t)

    def next_decision(self) -> bool:
        """As :meth:`Simulator.next_decision`; engines are brought to ``now`` (whole iterations) for the estimates."""
        if not super().next_decision():
            return False
        for e in self._engine_ids:
            if self.engines[e].running and self.engines[e].advance(self.now_s):
                raise RuntimeError("an engine completion was skipped by the event loop")
        return True

    # ------------------------------------------------------------------ decisions
    def _on_engine(self, server: int) -> bool:
        """Whether the current task would run in ``server``'s engine."""
        return self.task >= 0 and self.task_kind[self.task] == LLM and bool(self.cluster.is_engine[server])

    def _request(self, t: int) -> Request:
        prompt, output = call_tokens(self.task_work[t], self.task_decode[t])
        wf = int(self.task_workflow[t])
        return Request(t, wf, int(self.task_context[t]), int(prompt), int(output), float(self.task_rank[t]))

    def _estimates(self) -> tuple[np.ndarray, np.ndarray]:
        """(start, execution) seconds of the current LLM call on each engine, shape (E,) each, cached per decision."""
        key = (self.decisions, self.task)
        if self._estimate_key != key:
            request = self._request(self.task)
            pairs = [estimate_on_engine(self.engines[e], request, self.now_s) for e in self._engine_ids]
            self._estimate = (np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
            self._estimate_key = key
        return self._estimate

    def start_times_s(self) -> np.ndarray:
        """Shape (N,). As :meth:`Simulator.start_times_s`; for an LLM call on an engine, the estimated admission."""
        start = super().start_times_s()
        if self.elastic.any():
            start = np.array(start, dtype=np.float64)
            start[self.elastic] = self.now_s  # no queue (transfers are not modelled here)
        if self.task_kind[self.task] == LLM and len(self._engine_ids):
            start = np.array(start, dtype=np.float64)
            start[self._engine_ids] = self._estimates()[0]
        return start

    def exec_times_s(self) -> np.ndarray:
        """Shape (N,). As :meth:`Simulator.exec_times_s`; for an LLM call on an engine, the estimated time from
        admission to its last token (:func:`estimate_on_engine`)."""
        exec_s = super().exec_times_s()
        if self.task_kind[self.task] == LLM and len(self._engine_ids):
            exec_s = np.array(exec_s, dtype=np.float64)
            exec_s[self._engine_ids] = self._estimates()[1]
        return exec_s

    def assign(self, server: int) -> float:
        """As :meth:`Simulator.assign`; an LLM call given to an engine is submitted to it and the *estimated* finish
        time is returned (its real finish is known only when the engine completes it)."""
        if 0 <= server < self.cluster.num_servers and self.elastic[server] and self.task >= 0:
            return self._assign_elastic(server)
        if not (0 <= server < self.cluster.num_servers and self._on_engine(server)):
            return super().assign(server)
        t = self.task
        i = self._engine_slot[server]
        finish = float(self.start_times_s()[server] + self.exec_times_s()[server])
        if self.engines[server].submit(self._request(t), self.now_s):
            raise RuntimeError("an engine completion was skipped by the event loop")
        self._set_engine_next(i, self.engines[server].next_event_s())
        self.task_start_s[t] = self.task_ready_s[t] = self.now_s
        self.busy_work_s[server] += float(self.task_fastest_s[t])
        self.outstanding[server] += 1
        self.task_server[t] = server
        self.task = -1
        self.decisions += 1
        return finish

    def _assign_elastic(self, server: int) -> float:
        """Start the current task now on elastic ``server`` (no slot is taken); returns its finish time."""
        t = self.task
        exec_s = exec_time_s(self.cluster, self.task_work[t], self.task_decode[t], self.task_kind[t], server)
        finish = self.now_s + exec_s
        self.task_start_s[t] = self.task_ready_s[t] = self.now_s
        self.task_exec_s[t], self.task_finish_s[t] = exec_s, finish
        self.busy_work_s[server] += exec_s
        self.outstanding[server] += 1
        self.task_server[t] = server
        heapq.heappush(self._events, (finish, self._seq, t))
        self._seq += 1
        self.task = -1
        self.decisions += 1
        return finish

    def fork(self, *, future_arrivals: bool = True, known_arrivals: int = 0) -> ServingSimulator:
        """As :meth:`Simulator.fork`, with deep copies of the engines; without ``future_arrivals`` the engines'
        background traffic is dropped too (``known_arrivals`` counts workflows only)."""
        fork = super().fork(future_arrivals=future_arrivals, known_arrivals=known_arrivals)
        fork.engines = [copy.deepcopy(e) for e in self.engines]
        for name in ("_engine_next_s", "_engine_events", "task_ttft_s", "task_tbt_s", "task_cached_tokens"):
            setattr(fork, name, getattr(self, name).copy())
        fork._estimate_key = ()
        if not future_arrivals:
            fork._bg_end = self._bg_next
        return fork

    def alone(self, w: int, warmup_s: float) -> ServingSimulator:
        """A fresh episode with workflow ``w`` as its only workflow: the same cluster, queue policy and ranks, the
        background requests submitted from ``warmup_s`` seconds before ``w`` arrives (the episode's clock starts
        there, shifted to 0). Earlier background requests are dropped, so the engines' state at ``w``'s arrival is the
        background's own once ``warmup_s`` exceeds how long a background request stays. What ``w`` costs with no other
        workflow's call in the engines (``benchmarks/agent_contention.py``).

        Raises:
            ValueError: ``w`` is not a workflow of the episode, or ``warmup_s`` < 0.
        """
        if not 0 <= w < len(self.workflows) or warmup_s < 0:
            raise ValueError(f"alone: need 0 ≤ w < {len(self.workflows)} and warmup_s ≥ 0, got {w}, {warmup_s}")
        start_s = max(0.0, float(self.arrival_s[w]) - warmup_s)
        bg = self.background
        if bg is not None:
            keep = bg.time_s >= start_s
            bg = BackgroundTraffic(bg.time_s[keep] - start_s, bg.engine[keep], bg.prompt_tokens[keep],
                                   bg.output_tokens[keep])  # fmt: skip
        lone = ServingSimulator(self.cluster, [self.workflows[w]], np.array([self.arrival_s[w] - start_s]),
                                queue_policy=self.queue_policy, ready_order=self.ready_order, background=bg,
                                elastic=np.flatnonzero(self.elastic))  # fmt: skip
        lone.task_rank = self.task_rank[self.offset[w] : self.offset[w + 1]].copy()
        return lone

    # ------------------------------------------------------------------ engine state (what routers observe)
    def _per_engine(self, value, dtype=np.float64) -> np.ndarray:
        out = np.zeros(self.cluster.num_servers, dtype=dtype)
        for e in self._engine_ids:
            out[e] = value(self.engines[e])
        return out

    def request_tokens(self) -> int:
        """The current LLM call's prompt as an engine sees it: context + new prompt tokens."""
        return int(self.task_context[self.task] + call_tokens(self.task_work[self.task], 1.0)[0])

    def cached_prefix_tokens(self) -> np.ndarray:
        """Shape (N,), int. Tokens of the current call's context cached on each engine in whole blocks (what it
        would skip), 0 on slot servers."""
        wf, ctx = int(self.task_workflow[self.task]), int(self.task_context[self.task])
        return self._per_engine(lambda e: hit_tokens(e, wf, ctx), np.int64)

    def prefill_cost_s(self) -> np.ndarray:
        """Shape (N,). Seconds the current LLM call's prefill adds to the iterations of each engine it would run on:
        c_p × (its context + prompt tokens less the cached prefix there), c_p = ``EngineProfile.prefill_s``; every
        request decoding in that batch meanwhile is delayed by it. 0 on slot servers and for a task other than an
        LLM call."""
        if self.task < 0 or self.task_kind[self.task] != LLM:
            return np.zeros(self.cluster.num_servers)
        return self.prefill_s * (self.request_tokens() - self.cached_prefix_tokens())

    def cache_tokens(self) -> np.ndarray:
        """Shape (N,), int. Tokens cached on each engine, every program (its prefix tree's size); 0 on slot servers."""
        return self._per_engine(LLMEngine.cache_size_tokens, np.int64)

    def kv_utilization(self) -> np.ndarray:
        """Shape (N,). Fraction of each engine's KV memory held by running requests and cached prefixes; 0 on slot
        servers."""
        return self._per_engine(LLMEngine.kv_utilization)

    def running_requests(self) -> np.ndarray:
        """Shape (N,), int. Requests in each engine's batch; on a slot server, its busy slots."""
        busy = ((self.slot_free_s > self.now_s) & np.isfinite(self.slot_free_s)).sum(axis=1)
        busy[self._engine_ids] = self._per_engine(lambda e: len(e.running), np.int64)[self._engine_ids]
        return busy

    def waiting_requests(self) -> np.ndarray:
        """Shape (N,), int. Requests queued at each server and not started (an engine's queue depth, background
        requests included)."""
        waiting = np.maximum(self.outstanding - self.running_requests(), 0)
        waiting[self._engine_ids] = self._per_engine(lambda e: len(e.waiting), np.int64)[self._engine_ids]
        return waiting


def _ranks(sample_id: np.ndarray, sample_rank: np.ndarray | None) -> np.ndarray:
    if sample_rank is None:
        return np.zeros(len(sample_id))
    sample_rank = np.asarray(sample_rank, dtype=np.float64)
    if sample_id.max(initial=-1) >= len(sample_rank):
        raise ValueError(f"sample_id {int(sample_id.max())} is outside sample_rank (length {len(sample_rank)})")
    return np.where(sample_id >= 0, sample_rank[np.maximum(sample_id, 0)], 0.0)
