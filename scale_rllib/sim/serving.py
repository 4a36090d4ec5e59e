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
import math

import numpy as np

from scale_rllib.sim.bounds import capacity_bound_s
from scale_rllib.sim.cluster import Cluster
from scale_rllib.sim.llm_engine import QUEUE_POLICIES, Completion, EngineProfile, LLMEngine, Request
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind

LLM = int(TaskKind.LLM)


def alone_time_s(profile: EngineProfile, prompt_tokens: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
    """Shape as the inputs. Seconds a call takes alone on an engine with its context cached (no other request):
    ⌈p / chunk⌉ prefill iterations of t0 + c_p · (their tokens), the last emitting the first token, then o − 1 decode
    iterations of t0 + c_d (the iteration model of :mod:`scale_rllib.sim.llm_engine`). No schedule is faster: other
    requests only lengthen iterations, and a cache hit covers at most the context.

    Args:
        profile: The engine.
        prompt_tokens: New prompt tokens p (≥ 1 after rounding).
        output_tokens: Output tokens o (≥ 1 after rounding).
    """
    p, o = call_tokens(prompt_tokens, output_tokens)
    return (
        np.ceil(p / profile.chunk_tokens) * profile.t0_s
        + profile.prefill_s * p
        + (o - 1) * (profile.t0_s + profile.decode_s)
    )


def call_tokens(work: np.ndarray, decode_work: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(prompt, output) tokens of LLM calls from their ``work`` and ``decode_work``: rounded, at least 1 each."""
    return np.maximum(np.rint(work), 1.0), np.maximum(np.rint(decode_work), 1.0)


def capacity_cluster(cluster: Cluster, mean_sequence_tokens: float | None = None) -> Cluster:
    """A twin of ``cluster`` whose engines' ``llm`` rates (per slot) are their batched throughput.

    With ``mean_sequence_tokens`` (sustained throughput, for the offered load): the batch holds
    B = min(max_seqs, kv_tokens / mean_sequence_tokens) requests; prefill runs at 1 / c_p tokens/s and decode at
    B / (t0 + c_d · B) tokens/s. With None (peak, for the capacity lower bound): B = max_seqs and decode at
    max(B / (t0 + c_d · B), 1 / c_p) — an iteration's first tokens may come with prefill tokens, each costing ≥ c_p —
    so no schedule exceeds either rate. Rates are divided by the server's slots because
    :meth:`~scale_rllib.sim.cluster.Cluster.service_rate` and the capacity bound multiply them back. Slot servers
    are unchanged.
    """
    speed, decode = cluster.speed.copy(), cluster.decode_speed.copy()
    for s in np.flatnonzero(cluster.is_engine):
        prof: EngineProfile = cluster.server_types[s].engine
        peak = mean_sequence_tokens is None
        batch = prof.max_seqs if peak else float(np.clip(prof.kv_tokens / mean_sequence_tokens, 1, prof.max_seqs))
        decode_rate = batch / (prof.t0_s + prof.decode_s * batch)
        if peak:
            decode_rate = max(decode_rate, 1.0 / prof.prefill_s)
        speed[s, LLM] = 1.0 / prof.prefill_s / cluster.slots[s]
        decode[s, LLM] = decode_rate / cluster.slots[s]
    return cluster.with_speeds(speed, decode)


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

    Raises:
        ValueError: a cluster with transfer bandwidth, an unknown queue policy, a ``sample_id`` outside
            ``sample_rank``, or as :class:`~scale_rllib.sim.simulator.Simulator`.
    """

    def __init__(self, cluster, workflows, arrival_times_s, *, queue_policy="fcfs", sample_rank=None,
                 ready_order="ready-time"):  # fmt: skip
        if cluster.bandwidth is not None:
            raise ValueError("ServingSimulator does not model transfers: use a cluster with bandwidth=None")
        if queue_policy not in QUEUE_POLICIES:
            raise ValueError(f"queue policy must be one of {', '.join(QUEUE_POLICIES)}, got {queue_policy!r}")
        super().__init__(cluster, workflows, arrival_times_s, ready_order=ready_order)
        self.queue_policy = queue_policy
        self.engines = [None if t.engine is None else LLMEngine(t.engine, queue_policy) for t in cluster.server_types]
        self._engine_ids = np.flatnonzero(cluster.is_engine)  # (E,) servers with an engine
        self._engine_next_s = np.full(len(self._engine_ids), np.inf)  # (E,) each engine's next event
        self.task_context = np.rint(np.concatenate([w.context_tokens for w in self.workflows]))  # (T_total,)
        self.task_rank = _ranks(np.concatenate([w.sample_id for w in self.workflows]), sample_rank)
        n_tasks = len(self.task_work)
        self.task_ttft_s = np.full(n_tasks, np.nan)  # (T_total,) LLM calls on engines: time to first token
        self.task_tbt_s = np.full(n_tasks, np.nan)  # (T_total,) mean time between output tokens
        self.task_cached_tokens = np.zeros(n_tasks, dtype=np.int64)  # (T_total,) prefill skipped by a cache hit
        self._estimate_key: tuple = ()
        self._estimate: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))

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
        if not self.cluster.is_engine.any():
            return super()._lower_bounds_s(critical)
        path = np.array([cp[list(w.entries)].max() for w, cp in zip(self.workflows, critical, strict=True)])
        twin = capacity_cluster(self.cluster)
        return path, np.maximum(path, capacity_bound_s(self.workflows, twin, self.task_fastest_s, whole_cluster=False))

    # ------------------------------------------------------------------ events
    def _next_event_s(self) -> float:
        first = super()._next_event_s()
        return min(first, float(self._engine_next_s.min())) if len(self._engine_ids) else first

    @property
    def _has_events(self) -> bool:
        return super()._has_events or bool(np.isfinite(self._engine_next_s).any())

    def _pop_events(self) -> None:
        time_s = self._next_event_s()
        super()._pop_events()
        for i in np.flatnonzero(self._engine_next_s == time_s):
            engine = self.engines[self._engine_ids[i]]
            for completion in engine.advance(time_s):
                self._finish_call(completion)
            self._engine_next_s[i] = engine.next_event_s()

    def _finish_call(self, c: Completion) -> None:
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
        if not (0 <= server < self.cluster.num_servers and self._on_engine(server)):
            return super().assign(server)
        t = self.task
        i = int(np.searchsorted(self._engine_ids, server))
        finish = float(self.start_times_s()[server] + self.exec_times_s()[server])
        if self.engines[server].submit(self._request(t), self.now_s):
            raise RuntimeError("an engine completion was skipped by the event loop")
        self._engine_next_s[i] = self.engines[server].next_event_s()
        self.task_start_s[t] = self.task_ready_s[t] = self.now_s
        self.busy_work_s[server] += float(self.task_fastest_s[t])
        self.outstanding[server] += 1
        self.task_server[t] = server
        self.task = -1
        self.decisions += 1
        return finish

    def fork(self, *, future_arrivals: bool = True) -> ServingSimulator:
        """As :meth:`Simulator.fork`, with deep copies of the engines."""
        fork = super().fork(future_arrivals=future_arrivals)
        fork.engines = [copy.deepcopy(e) for e in self.engines]
        for name in ("_engine_next_s", "task_ttft_s", "task_tbt_s", "task_cached_tokens"):
            setattr(fork, name, getattr(self, name).copy())
        fork._estimate_key = ()
        return fork

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
        return self._per_engine(lambda e: _hit(e, wf, ctx), np.int64)

    def cache_tokens(self) -> np.ndarray:
        """Shape (N,), int. Tokens cached on each engine, every program (its prefix tree's size); 0 on slot servers."""
        return self._per_engine(lambda e: sum(e.cache.values()), np.int64)

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
        """Shape (N,), int. Requests queued at each server and not started (an engine's queue depth)."""
        return np.maximum(self.outstanding - self.running_requests(), 0)


def _ranks(sample_id: np.ndarray, sample_rank: np.ndarray | None) -> np.ndarray:
    if sample_rank is None:
        return np.zeros(len(sample_id))
    sample_rank = np.asarray(sample_rank, dtype=np.float64)
    if sample_id.max(initial=-1) >= len(sample_rank):
        raise ValueError(f"sample_id {int(sample_id.max())} is outside sample_rank (length {len(sample_rank)})")
    return np.where(sample_id >= 0, sample_rank[np.maximum(sample_id, 0)], 0.0)


def _hit(engine: LLMEngine, program: int, context_tokens: int) -> int:
    hit = min(engine.cached_tokens(program), context_tokens)
    return hit - hit % engine.profile.block_tokens


def estimate_on_engine(engine: LLMEngine, request: Request, now_s: float) -> tuple[float, float]:
    """(start, execution) in seconds of ``request`` submitted to ``engine`` at ``now_s``, estimated in O(batch):

    - hit h = its program's cached tokens, up to its context, in whole blocks; prefill P = context + prompt − h and
      memory M = P + output tokens o;
    - it joins a batch of b = min(running + waiting + 1, max_seqs) requests: P tokens of prefill in ⌈P / chunk⌉
      iterations of t0 + c_d · (b − 1) + c_p · (their tokens), then o − 1 iterations of t0 + c_d · b;
    - it starts once KV memory for the queue ahead and itself is free (unpinned cached prefixes count as free) and a
      batch seat is: the running requests finish in order of their remaining iterations, each releasing its
      reservation and seat.

    The estimate ignores requests that arrive later and prefills that share its iterations; the engine is not
    changed (:meth:`~scale_rllib.sim.llm_engine.LLMEngine.projected_finish_s` simulates exactly, at a higher cost).
    """
    prof = engine.profile
    hit = _hit(engine, request.program, request.context_tokens)
    prefill = request.context_tokens + request.prompt_tokens - hit
    need = prefill + request.output_tokens
    batch = min(len(engine.running) + len(engine.waiting) + 1, prof.max_seqs)
    step_s = prof.t0_s + prof.decode_s * batch
    exec_s = math.ceil(prefill / prof.chunk_tokens) * (step_s - prof.decode_s) + prof.prefill_s * prefill
    exec_s += (request.output_tokens - 1) * step_s
    return now_s + _admission_wait_s(engine, need, step_s), exec_s


def _admission_wait_s(engine: LLMEngine, need: int, step_s: float) -> float:
    """Seconds until ``need`` KV tokens (after the queue ahead) and a batch seat are free, as running requests end."""
    prof = engine.profile
    pinned = {r.program for r in engine.running}
    free = prof.kv_tokens - sum(r.reserved for r in engine.running)
    free -= sum(v for p, v in engine.cache.items() if p in pinned)
    queued = sum(r.context_tokens + r.prompt_tokens + r.output_tokens for r in engine.waiting)
    deficit = need + queued - free
    seats = len(engine.running) + len(engine.waiting) + 1 - prof.max_seqs
    if deficit <= 0 and seats <= 0:
        return 0.0
    ends = sorted(
        ((math.ceil(r.prefill_left / prof.chunk_tokens) + r.decode_left) * step_s, r.reserved) for r in engine.running
    )
    released = 0
    for done, (end_s, reserved) in enumerate(ends, start=1):
        released += reserved
        if released >= deficit and done >= seats:
            return end_s
    return ends[-1][0] if ends else 0.0
