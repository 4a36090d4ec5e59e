"""The serving engines' performance model in closed form: a call's time alone, engine capacity, admission estimates,
background traffic (docs/design.md §11). :mod:`scale_rllib.sim.serving` runs the engines; this module only computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scale_rllib.sim.cluster import Cluster
from scale_rllib.sim.llm_engine import EngineProfile, LLMEngine, Request
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


#: How many times its speeds an elastic server counts for in capacity (its slots are unbounded).
ELASTIC_CAPACITY = 1e6


def capacity_cluster(
    cluster: Cluster, mean_sequence_tokens: float | None = None, elastic: np.ndarray | tuple = ()
) -> Cluster:
    """A twin of ``cluster`` whose engines' ``llm`` rates (per slot) are their batched throughput, and whose elastic
    servers (indices ``elastic``) have :data:`ELASTIC_CAPACITY` × their speeds for every kind but ``llm``.

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
    tools = np.arange(speed.shape[1]) != LLM
    for s in elastic:
        speed[s, tools] *= ELASTIC_CAPACITY
        decode[s, tools] *= ELASTIC_CAPACITY
    return cluster.with_speeds(speed, decode)


@dataclass(frozen=True)
class BackgroundTraffic:
    """Requests of other clients of the same serving engines (chat traffic sharing the deployment), B of them.

    They are submitted to their engine at their time, hold batch seats and KV memory and leave their sequence in the
    prefix cache (each its own program), but are no workflow's task: no scheduler places them, and the routers'
    outstanding-request counts do not include them (a router counts only the requests it sent), while KV utilisation
    and queue depth, which engines report, do.

    Attributes:
        time_s: Shape (B,). Non-decreasing submission times (seconds).
        engine: Shape (B,), int. The engine server of each.
        prompt_tokens: Shape (B,), int ≥ 1. Prompt tokens (none cached).
        output_tokens: Shape (B,), int ≥ 1. Output tokens.

    Raises:
        ValueError: arrays of different lengths, decreasing or negative times, or fewer than one token.
    """

    time_s: np.ndarray
    engine: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray

    def __post_init__(self) -> None:
        arrays = (self.time_s, self.engine, self.prompt_tokens, self.output_tokens)
        if len({len(a) for a in arrays}) != 1:
            raise ValueError("background traffic: time_s, engine, prompt_tokens and output_tokens differ in length")
        if len(self.time_s) and (np.min(self.time_s) < 0 or np.any(np.diff(self.time_s) < 0)):
            raise ValueError("background traffic: times must be ≥ 0 and non-decreasing")
        if len(self.time_s) and min(np.min(self.prompt_tokens), np.min(self.output_tokens)) < 1:
            raise ValueError("background traffic: every request needs ≥ 1 prompt and output token")


def hit_tokens(engine: LLMEngine, program: int, context_tokens: int) -> int:
    """Tokens of ``program``'s context (of ``context_tokens``) cached on ``engine``, in whole blocks."""
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
    hit = hit_tokens(engine, request.program, request.context_tokens)
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
    free = prof.kv_tokens - engine.reserved_tokens() - engine.cache_size_tokens() + engine.evictable_tokens()
    queued = sum(r.context_tokens + r.prompt_tokens + r.output_tokens for r in engine.waiting)
    deficit = need + queued - free
    seats = len(engine.running) + len(engine.waiting) + 1 - prof.max_seqs
    if deficit <= 0 and seats <= 0:
        return 0.0
    ends = sorted(
        ((math.ceil(r.prefill_left / prof.chunk_tokens) + engine.decode_left(r)) * step_s, r.reserved)
        for r in engine.running
    )
    released = 0
    for done, (end_s, reserved) in enumerate(ends, start=1):
        released += reserved
        if released >= deficit and done >= seats:
            return end_s
    return ends[-1][0] if ends else 0.0
