"""Background traffic on serving engines: other clients' chat requests replayed from the Azure LLM inference trace.

A production LLM deployment serves many clients; agent workflows share its replicas with chat traffic (the Azure
LLM inference trace 2023 — Patel et al., "Splitwise", ISCA 2024 — records such a deployment's conversation
requests: their times and their context / generated tokens). ``agentic-serving``'s ``background=U`` adds such
requests so that each engine spends a fraction U of its sustained decode throughput on them:

    requests/s on engine e = U × decode tokens/s of e at its sustained batch / mean generated tokens of the trace,

the decode throughput being :func:`~scale_rllib.sim.serving.capacity_cluster`'s (a batch of
min(max_seqs, KV tokens / mean sequence) requests). Times replay the trace (bursty) scaled to the total rate;
each request goes to an engine drawn with probability ∝ its rate (the other clients' own router balances by
capacity); its prompt and output tokens are a trace request's context and generated tokens (at least 1 each;
capped to fit the engine's KV memory). Requests are drawn until ``horizon_s``.
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
        utilization: U ∈ [0, 1): the share of each engine's sustained decode throughput the traffic uses.
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
    twin = capacity_cluster(cluster, mean_sequence_tokens)
    decode_tps = twin.decode_speed[engines, TaskKind.LLM] * cluster.slots[engines]  # (E,) tokens/s
    rates = utilization * decode_tps / trace.generated_tokens.mean()  # (E,) requests/s
    count = max(1, math.ceil(rates.sum() * horizon_s))
    times = trace.arrival_times(rng, count, float(rates.sum()))
    where = engines[rng.choice(len(engines), size=count, p=rates / rates.sum())]
    context, generated = trace.sample_tokens(rng, count)
    prompt, output = np.maximum(context, 1), np.maximum(generated, 1)
    kv = np.array([cluster.server_types[s].engine.kv_tokens for s in where])
    prompt = np.minimum(prompt, kv - output)
    return BackgroundTraffic(times, where, prompt.astype(np.int64), output.astype(np.int64))
