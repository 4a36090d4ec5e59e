"""Background traffic on serving engines: other clients' chat requests replayed from the Azure LLM inference trace.

A production LLM deployment serves many clients; agent workflows share its replicas with chat traffic (the Azure
LLM inference trace 2023 — Patel et al., "Splitwise", ISCA 2024 — records such a deployment's conversation
requests: their times and their context / generated tokens). ``agentic-serving``'s ``background=U`` adds such
requests so that they take a fraction U of each engine's sustained serving time:

    requests/s on engine e = U / (mean prompt tokens / prefill tokens/s of e
                                  + mean output tokens / decode tokens/s of e at its sustained batch),

the two rates being :func:`~scale_rllib.sim.serving.capacity_cluster`'s (prefill at 1 / c_p; decode with a batch of
min(max_seqs, KV tokens / mean sequence) requests), the same time per request as the workflows' offered load
(:meth:`~scale_rllib.sim.cluster.Cluster.service_rate`). A chat request's prompt is its whole conversation so far
(the trace's context tokens, 1,434 on average, against 154 generated), so prefill is most of its cost: counting the
decode alone sends 6 (H100) to 11 (A100) × as many requests and overloads every engine already at U = 0.25.
Times replay the trace (bursty) scaled to the total rate; each request goes to an engine drawn with probability
∝ its rate (the other clients' own router balances by capacity); its prompt and output tokens are a trace
request's context and generated tokens (at least 1 each; capped to fit the engine's KV memory). Requests are
drawn until ``horizon_s``.
"""

from __future__ import annotations

import math

import numpy as np

from scale_rllib.sim.cluster import Cluster
from scale_rllib.sim.serving import BackgroundTraffic, capacity_cluster
from scale_rllib.sim.workflow import TaskKind
from scale_rllib.workloads.formats.azure import AzureTrace

#: The background utilisations ``agentic-serving`` accepts (``background=U``).
BACKGROUND_LEVELS = ("0", "0.25", "0.5", "0.75", "0.9")


def request_tokens(context: np.ndarray, generated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shapes (R,), (R,). A trace request's (prompt, output) tokens as a background request: at least 1 each."""
    return np.maximum(context, 1), np.maximum(generated, 1)


def request_seconds(cluster: Cluster, trace: AzureTrace, mean_sequence_tokens: float) -> np.ndarray:
    """Shape (N,). Seconds of server s's sustained serving time one background request takes on average (inf for a
    server without an engine): mean prompt / prefill tokens/s + mean output / decode tokens/s, at
    ``capacity_cluster(cluster, mean_sequence_tokens)``'s rates (module docstring)."""
    twin = capacity_cluster(cluster, mean_sequence_tokens)
    prompt, output = (tokens.mean() for tokens in request_tokens(trace.context_tokens, trace.generated_tokens))
    llm = TaskKind.LLM
    seconds = prompt / (twin.speed[:, llm] * cluster.slots) + output / (twin.decode_speed[:, llm] * cluster.slots)
    return np.where(cluster.is_engine, seconds, np.inf)


def background_traffic(
    rng: np.random.Generator,
    cluster: Cluster,
    trace: AzureTrace,
    utilization: float,
    mean_sequence_tokens: float,
    horizon_s: float,
) -> BackgroundTraffic:
    """Background requests on ``cluster``'s engines from time 0 to ``horizon_s`` (see the module docstring).

    Args:
        rng: The episode's random generator.
        cluster: Its servers (engines carry ``ServerType.engine``).
        trace: The Azure trace whose times and token counts are replayed.
        utilization: U ∈ [0, 1): the share of each engine's sustained serving time the traffic takes.
        mean_sequence_tokens: The workload's mean tokens per LLM call, which sets the sustained batch.
        horizon_s: Seconds of traffic (> 0).

    Raises:
        ValueError: U outside [0, 1), a non-positive horizon, or a cluster without engines when U > 0.
    """
    if not 0 <= utilization < 1 or not horizon_s > 0:
        raise ValueError(f"background utilization must be in [0, 1) and horizon > 0, got {utilization}, {horizon_s}")
    engines = np.flatnonzero(cluster.is_engine)
    if utilization == 0:
        return BackgroundTraffic(np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
    if not engines.size:
        raise ValueError("background traffic needs engine servers in the cluster")
    rates = utilization / request_seconds(cluster, trace, mean_sequence_tokens)[engines]  # (E,) requests/s
    count = max(1, math.ceil(rates.sum() * horizon_s))
    times = trace.arrival_times(rng, count, float(rates.sum()))
    where = engines[rng.choice(len(engines), size=count, p=rates / rates.sum())]
    prompt, output = request_tokens(*trace.sample_tokens(rng, count))
    kv = np.array([cluster.server_types[s].engine.kv_tokens for s in where])
    prompt = np.minimum(prompt, kv - output)
    return BackgroundTraffic(times, where, prompt.astype(np.int64), output.astype(np.int64))
