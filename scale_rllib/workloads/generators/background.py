"""Background traffic on serving engines: other clients' chat requests replayed from the Azure LLM inference trace.

A production LLM deployment serves many clients; agent workflows share its replicas with chat traffic (the Azure
LLM inference trace 2023 — Patel et al., "Splitwise", ISCA 2024 — records such a deployment's conversation
requests: their times and their context / generated tokens). ``agentic-serving``'s ``background=U`` adds such
requests so that they take a fraction U of each engine's serving capacity for such requests:

    requests/s on engine e = U / (P · (c_p + t₀ / chunk) + O · c_d),

P and O the trace's mean prompt (context) and output tokens, c_p, t₀, c_d, chunk engine e's profile
(:class:`~scale_rllib.sim.llm_engine.EngineProfile`). That is an engine saturated with these requests: a chat
request's prompt is its whole conversation so far (P = 1,434 against O = 154 tokens), so every iteration carries a
full chunk of prefill, t₀ + c_d · b + c_p · chunk seconds, which finishes chunk / P prefills while b = chunk · O / P
requests decode (Little's law); seconds per request = that time × P / chunk, the formula above (Sarathi-Serve's
chunked prefill: Agrawal et al., OSDI 2024). A100 replicas take 2.45 requests/s, H100 6.48 at U = 1. (Before
2026-12-07 the rate counted the decode alone, at the full batch's throughput: 6–11 × as many requests, which
overloaded every engine already at U = 0.25.)
Times replay the trace (bursty) scaled to the total rate; each request goes to an engine drawn with probability
∝ its rate (the other clients' own router balances by capacity); its prompt and output tokens are a trace
request's context and generated tokens (at least 1 each; capped to fit the engine's KV memory). Requests are
drawn until ``horizon_s``.
"""

from __future__ import annotations

import math

import numpy as np

from scale_rllib.sim.cluster import Cluster
from scale_rllib.sim.serving import BackgroundTraffic
from scale_rllib.workloads.formats.azure import AzureTrace

#: The background utilisations ``agentic-serving`` accepts (``background=U``).
BACKGROUND_LEVELS = ("0", "0.25", "0.5", "0.75", "0.9")


def request_tokens(context: np.ndarray, generated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shapes (R,), (R,). A trace request's (prompt, output) tokens as a background request: at least 1 each."""
    return np.maximum(context, 1), np.maximum(generated, 1)


def request_seconds(cluster: Cluster, trace: AzureTrace) -> np.ndarray:
    """Shape (N,). Seconds of server s's capacity one background request takes on average (module docstring:
    P · (c_p + t₀ / chunk) + O · c_d); inf for a server without an engine."""
    prompt, output = (tokens.mean() for tokens in request_tokens(trace.context_tokens, trace.generated_tokens))
    seconds = np.full(len(cluster.server_types), np.inf)
    for s, server in enumerate(cluster.server_types):
        if (e := server.engine) is not None:
            seconds[s] = prompt * e.chunked_prefill_s + output * e.decode_s
    return seconds


def background_traffic(
    rng: np.random.Generator,
    cluster: Cluster,
    trace: AzureTrace,
    utilization: float,
    horizon_s: float,
) -> BackgroundTraffic:
    """Background requests on ``cluster``'s engines from time 0 to ``horizon_s`` (see the module docstring).

    Args:
        rng: The episode's random generator.
        cluster: Its servers (engines carry ``ServerType.engine``).
        trace: The Azure trace whose times and token counts are replayed.
        utilization: U ∈ [0, 1): the share of each engine's capacity the traffic takes.
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
    rates = utilization / request_seconds(cluster, trace)[engines]  # (E,) requests/s
    count = max(1, math.ceil(rates.sum() * horizon_s))
    times = trace.arrival_times(rng, count, float(rates.sum()))
    where = engines[rng.choice(len(engines), size=count, p=rates / rates.sum())]
    prompt, output = request_tokens(*trace.sample_tokens(rng, count))
    kv = np.array([cluster.server_types[s].engine.kv_tokens for s in where])
    prompt = np.minimum(prompt, kv - output)
    return BackgroundTraffic(times, where, prompt.astype(np.int64), output.astype(np.int64))
