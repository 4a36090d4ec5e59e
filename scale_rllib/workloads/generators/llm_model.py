"""The LLM task model: an ``llm`` task's work = prefill(context tokens) + decode(generated tokens).

An ``llm`` task carries ``work`` = its context (prompt) tokens and ``decode_work`` = its generated tokens; a server type
has a prefill rate ``speed[llm]`` and a decode rate ``decode_speed[llm]`` (tokens/s per slot), so the simulator's
execution time is::

    exec_s = context_tokens / prefill_tokens_per_s + generated_tokens / decode_tokens_per_s

(:func:`llm_exec_time_s`). Other kinds keep one work component (seconds on a speed-1 server) and run at the speeds of
:data:`~scale_rllib.workloads.generators.agentic.AGENTIC_PROFILE`.

Rates (tokens/s per slot):

- **GPU** (Llama2-70B, tensor-parallel 2), from the measured performance model of Splitwise (Patel et al.,
  "Splitwise: Efficient Generative LLM Inference Using Phase Splitting", ISCA 2024), file ``data/perf_model.csv`` of
  github.com/Mutinifni/splitwise-sim @ 3780880: at batch 1, a prompt of 512 / 1,024 / 2,048 / 4,096 / 8,192 tokens
  takes 84 / 158 / 308 / 642 / 1,339 ms on H100 (6,100–6,650 tokens/s, mean ≈ 6,400) and 196 / 377 / 687 / 1,481 /
  2,990 ms on A100 (2,600–3,000 tokens/s, mean ≈ 2,800); at batch 8, each request gets a token every 40.4 ms on H100
  (≈ 25 tokens/s) and 61.7 ms on A100 (≈ 16 tokens/s). A GPU server has 8 slots: the batch those decode rates hold at.
  (Prefill is compute-bound, so 8 concurrent prefills at full rate overstate it; prefill is a small share of an
  Azure request's time: ~0.2–0.3 s of ~1–9 s on H100.)
- **CPU-only** server running a small (7–8B, 4-bit) model, as CPU fallbacks do: prefill ≈ 250 tokens/s (LLaMA-3.1-8B
  PP-512 = 254 t/s on a Ryzen-7950X, github.com/ikawrakow/ik_llama.cpp pull 128) and decode ≈ 8 tokens/s
  (Mistral-7B Q5_K_M on an Intel CPU, github.com/ggml-org/llama.cpp issue 5619); 2 slots.
"""

from __future__ import annotations

from scale_rllib.sim.cluster import ServerType
from scale_rllib.workloads.base import ClusterProfile

__all__ = [
    "A100_DECODE_TPS",
    "A100_PREFILL_TPS",
    "AGENTIC_REAL_PROFILE",
    "CPU_DECODE_TPS",
    "CPU_PREFILL_TPS",
    "H100_DECODE_TPS",
    "H100_PREFILL_TPS",
    "llm_exec_time_s",
]

#: Prefill (context) tokens/s of one slot of an H100 server (Splitwise perf model, Llama2-70B).
H100_PREFILL_TPS = 6400.0
#: Decode (generated) tokens/s of one slot of an H100 server at batch 8 (1 / 40.4 ms).
H100_DECODE_TPS = 25.0
#: Prefill tokens/s of one slot of an A100 server.
A100_PREFILL_TPS = 2800.0
#: Decode tokens/s of one slot of an A100 server at batch 8 (1 / 61.7 ms).
A100_DECODE_TPS = 16.0
#: Prefill tokens/s of a CPU-only server (small model, llama.cpp-class runtime).
CPU_PREFILL_TPS = 250.0
#: Decode tokens/s of a CPU-only server.
CPU_DECODE_TPS = 8.0
#: Concurrent requests (slots) of a GPU server: the decode batch above.
GPU_SLOTS = 8

#: The ``agentic-real`` cluster: H100 and A100 LLM servers (tool / retrieval / code at speed 1, like the GPU types of
#: AGENTIC_PROFILE) and CPU servers (AGENTIC_PROFILE's CPU speeds; LLM at the CPU rates above), 1 : 1 : 2.
AGENTIC_REAL_PROFILE = ClusterProfile(
    types=(
        ServerType.from_kind_speeds(
            "gpu-h100", {"llm": H100_PREFILL_TPS}, slots=GPU_SLOTS, decode={"llm": H100_DECODE_TPS}
        ),
        ServerType.from_kind_speeds(
            "gpu-a100", {"llm": A100_PREFILL_TPS}, slots=GPU_SLOTS, decode={"llm": A100_DECODE_TPS}
        ),
        ServerType.from_kind_speeds(
            "cpu",
            {"llm": CPU_PREFILL_TPS, "tool": 1.5, "retrieval": 2.0, "code": 2.0, "compute": 2.0},
            slots=2,
            decode={"llm": CPU_DECODE_TPS},
        ),
    ),
    weights=(0.25, 0.25, 0.5),
)


def llm_exec_time_s(
    context_tokens: float, generated_tokens: float, prefill_tokens_per_s: float, decode_tokens_per_s: float
) -> float:
    """Execution time of one LLM call (seconds): prefill of the context, then decode of the generated tokens.

    Args:
        context_tokens: Prompt tokens (≥ 0).
        generated_tokens: Output tokens (≥ 0).
        prefill_tokens_per_s: Prefill rate (> 0).
        decode_tokens_per_s: Decode rate (> 0).

    Returns:
        ``context_tokens / prefill_tokens_per_s + generated_tokens / decode_tokens_per_s``.
    """
    return context_tokens / prefill_tokens_per_s + generated_tokens / decode_tokens_per_s
