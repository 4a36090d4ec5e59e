"""``agentic-serving``: ``agentic-real``'s workflows as LLM-serving traffic — ShareGPT calls with a growing context.

Spec (a path may not contain ``,``)::

    agentic-serving:WORFBENCH_PATH,azure=AZURE_PATH[,wfinstances=PATH][,replay=…][,queue=…][,background=U][,tools=…]

``WORFBENCH_PATH``, ``azure=``, ``wfinstances=`` and ``replay=`` as in
:mod:`~scale_rllib.workloads.generators.agentic_real` (WorFBench shapes; Azure trace arrivals; WfInstances-fitted
tool / retrieval / code durations, :data:`~scale_rllib.workloads.generators.runtime_fit.EMBEDDED_FITS` by default).
``queue=`` (default ``fcfs``): the engines' admission order, one of
:data:`~scale_rllib.sim.llm_engine.QUEUE_POLICIES`. ``background=`` (default 0): the share U of every engine's
capacity (prefill and decode) taken by other clients' chat requests replayed from the Azure trace
(:mod:`~scale_rllib.workloads.generators.background`), one of 0, 0.25, 0.5, 0.75, 0.9. ``tools=`` (default
``servers``): ``service`` runs every tool / retrieval / code task on one elastic tool service (hosted APIs scale out
on their own) and makes the other N − 1 servers LLM replicas, so the engines, not the tools, bound the sustainable
rate and the offered load is the engines' (:data:`TOOL_SERVICE`).

Every LLM node draws a ShareGPT V3 prompt / response pair uniformly (``load_pairs(context="message")``,
:mod:`~scale_rllib.workloads.formats.sharegpt`; tokens ≈ ⌈characters / 4⌉) from the pairs that fit (below):
``work`` = the pair's prompt tokens (the new message), ``decode_work`` = its response tokens, ``sample_id`` = the
pair's index in the loaded list, and ``context_tokens`` = the history an agent framework resends before it
(:func:`context_tokens`): the system prompt, then, along the longest chain of earlier LLM calls, each call's context,
prompt and output.

- System prompt :data:`SYSTEM_PROMPT_TOKENS` = 171: WorFBench's own system prompt (683 or 685 characters in every
  ``graph_eval.json`` entry of ``../shared/data/worfbench`` → ⌈/4⌉ = 171–172 tokens); LangChain's ReAct agent prompt
  (LangChain hub ``hwchase17/react``) is ≈ 534 characters (134 tokens) before its tool list — the same order.
- Tool / retrieval / code nodes pass their input context on unchanged: none of the data sets gives their outputs'
  token counts, so tool observations are not counted.
- Max model length :data:`MAX_MODEL_TOKENS` = 32,768 (context + prompt + output of one call). The engines' model
  geometry is Llama-2-70B's (80 layers, 8 KV heads × 128), which Llama-3.1-70B shares with a 131,072-token window; the
  cap is a quarter of that, over 2 × the longest request of the Azure 2023 trace (14,089 tokens) and ≈ 7 % of a
  replica's KV capacity (451,660 tokens, :data:`~scale_rllib.sim.llm_engine.ENGINE_PROFILES`). Pairs whose
  system prompt + prompt + response exceed it are never drawn (dropped); a call whose history would exceed it keeps
  only the newest ``MAX_MODEL_TOKENS − prompt − output`` tokens of it (the oldest history is truncated, as frameworks
  trim old messages), which is never less than the system prompt.

The cluster profile :data:`AGENTIC_SERVING_PROFILE` has LLM serving replicas of two GPU generations and CPU tool
servers; :meth:`AgenticServingWorkload.build_episode` returns a :class:`~scale_rllib.sim.serving.ServingSimulator`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from scale_rllib.sim.cluster import UNSERVED_SPEED, Cluster, ServerType
from scale_rllib.sim.llm_engine import ENGINE_PROFILES, QUEUE_POLICIES, EngineProfile
from scale_rllib.sim.serving import ServingSimulator, capacity_cluster
from scale_rllib.sim.workflow import TaskKind, Workflow
from scale_rllib.workloads.base import ClusterProfile
from scale_rllib.workloads.formats.sharegpt import PromptResponse, load_pairs
from scale_rllib.workloads.generators.agentic_real import (
    _REPLAY,
    AgenticRealWorkload,
    load_sources,
    parse_sources,
    split_by_shape,
)
from scale_rllib.workloads.generators.background import BACKGROUND_LEVELS, background_traffic
from scale_rllib.workloads.generators.llm_model import AGENTIC_REAL_PROFILE, GPU_SLOTS

__all__ = [
    "AGENTIC_SERVING_PROFILE",
    "MAX_MODEL_TOKENS",
    "SYSTEM_PROMPT_TOKENS",
    "AgenticServingWorkload",
    "context_tokens",
    "engine_rates",
    "engine_server",
    "make_agentic_serving",
    "parse_agentic_serving",
    "sharegpt_pairs",
]

PREFIX = "agentic-serving"
SYNTAX = (
    "WORFBENCH_PATH,azure=AZURE_PATH[,wfinstances=PATH][,replay=scaled|raw][,queue=fcfs|plas|shortest|predicted]"
    "[,background=0|0.25|0.5|0.75|0.9][,tools=servers|service]"
)
#: Where tool / retrieval / code tasks run: on the cluster's servers, or on one elastic tool service.
TOOL_CHOICES = ("servers", "service")
#: Background traffic runs until this × the last workflow arrival + BACKGROUND_TAIL_S (an episode ends with its last
#: workflow; requests drawn for later are never simulated).
BACKGROUND_HORIZON = 2.0
BACKGROUND_TAIL_S = 3_600.0
#: Tokens of the agent's system prompt, the context of a call without LLM ancestors (module docstring).
SYSTEM_PROMPT_TOKENS = 171
#: The most tokens (context + prompt + output) of one call (module docstring).
MAX_MODEL_TOKENS = 32_768
#: Workflows (seed 0) from which :attr:`AgenticServingWorkload.mean_sequence_tokens` is estimated.
MEAN_SEQUENCE_WORKFLOWS = 2_000


def engine_rates(engine: EngineProfile) -> tuple[float, float]:
    """(prefill, decode) tokens/s of ONE call alone on ``engine`` with its whole context cached.

    Prefill: ``1 / engine.chunked_prefill_s`` (each iteration of ``chunk_tokens`` prompt tokens also pays ``t0_s``);
    decode: ``1 / (t0_s + decode_s)`` (one token per iteration of batch 1).
    """
    return 1.0 / engine.chunked_prefill_s, 1.0 / (engine.t0_s + engine.decode_s)


def engine_server(name: str, engine: EngineProfile, slots: int = GPU_SLOTS) -> ServerType:
    """An LLM serving replica: ``llm`` at :func:`engine_rates`, other kinds at speed 1 on its host CPUs, ``slots``."""
    prefill, decode = engine_rates(engine)
    slot_type = ServerType.from_kind_speeds(name, {"llm": prefill}, slots=slots, decode={"llm": decode})
    return dataclasses.replace(slot_type, engine=engine)


#: H100 and A100 replicas of Llama-2-70B on 4 GPUs (:data:`~scale_rllib.sim.llm_engine.ENGINE_PROFILES`; ``llm``
#: speeds = :func:`engine_rates`; 8 slots and speed 1 for tool / retrieval / code on the host CPUs, as
#: AGENTIC_REAL_PROFILE's GPU servers) and AGENTIC_REAL_PROFILE's CPU servers (tools faster, small-model LLM calls
#: slowly), 0.25 : 0.25 : 0.5 as in AGENTIC_REAL_PROFILE.
AGENTIC_SERVING_PROFILE = ClusterProfile(
    types=(
        engine_server("gpu-h100", ENGINE_PROFILES["llama2-70b-4xh100"]),
        engine_server("gpu-a100", ENGINE_PROFILES["llama2-70b-4xa100"]),
        AGENTIC_REAL_PROFILE.types[2],
    ),
    weights=(0.25, 0.25, 0.5),
)


#: ``tools=service``: the LLM deployment alone (H100 and A100 replicas, 1 : 1) …
SERVICE_ENGINES_PROFILE = ClusterProfile(types=AGENTIC_SERVING_PROFILE.types[:2], weights=(0.5, 0.5))
#: … and one elastic tool service (hosted tool APIs, serverless code sandboxes: they scale out on their own, so no
#: tool call queues) at the CPU servers' tool speeds; it cannot serve LLM calls (:data:`UNSERVED_SPEED`).
TOOL_SERVICE = dataclasses.replace(
    AGENTIC_REAL_PROFILE.types[2],
    name="tool-service",
    speed=(UNSERVED_SPEED, *AGENTIC_REAL_PROFILE.types[2].speed[1:]),
    decode_speed=(UNSERVED_SPEED, *AGENTIC_REAL_PROFILE.types[2].decode_speed[1:]),
    slots=1,
)


def parse_agentic_serving(body: str) -> dict[str, str]:
    """Split the part after ``agentic-serving:`` into ``worfbench``, ``azure``, ``wfinstances``, ``replay``, ``queue``.

    Raises:
        ValueError: no WorFBench path, no ``azure=``, an unknown or repeated key, a bad ``replay`` / ``queue``.
        FileNotFoundError: a path that does not exist.
    """
    return parse_sources(
        PREFIX,
        body,
        SYNTAX,
        {"replay": _REPLAY, "queue": QUEUE_POLICIES, "background": BACKGROUND_LEVELS, "tools": TOOL_CHOICES},
    )


def make_agentic_serving(spec: str) -> AgenticServingWorkload:
    """Load the parts a full ``agentic-serving:...`` spec names, and the ShareGPT pairs (module docstring)."""
    parts = parse_agentic_serving(spec.partition(":")[2])
    graphs, trace, fits = load_sources(parts)
    return AgenticServingWorkload(
        spec,
        graphs,
        trace,
        fits,
        parts["replay"],
        pairs=sharegpt_pairs(),
        queue=parts["queue"],
        background=float(parts["background"]),
        tools=parts["tools"],
    )


@functools.lru_cache(maxsize=1)
def sharegpt_pairs() -> tuple[PromptResponse, ...]:
    """The packaged ShareGPT V3 file's pairs, prompt = the human message alone (parsed once per process, ≈ 3 s; the
    file's known cut raises its :class:`~scale_rllib.workloads.formats.sharegpt.TruncatedJSONWarning` once)."""
    return tuple(load_pairs(context="message"))


def context_tokens(
    workflow: Workflow, system_tokens: float = SYSTEM_PROMPT_TOKENS, max_tokens: float = MAX_MODEL_TOKENS
) -> np.ndarray:
    """Shape (T,). Context tokens each LLM call starts with (0 for other kinds), from ``work`` / ``decode_work``.

    In topological order, a task inherits ``h = max(system_tokens, max over parents p of out[p])``; an LLM call gets
    ``ctx = min(h, max_tokens − work − decode_work)`` (≥ 0) and passes on ``out = ctx + work + decode_work``; other
    kinds pass on ``out = h``. So a call without LLM ancestors has ``ctx = system_tokens``, and otherwise (below the
    cap) ``ctx = max over its LLM ancestors a of ctx[a] + prompt[a] + output[a]``.
    """
    llm = workflow.kinds == TaskKind.LLM
    new = workflow.work + workflow.decode_work  # (T,) tokens a call adds
    out, ctx = np.zeros(workflow.num_tasks), np.zeros(workflow.num_tasks)
    for t in workflow.topo_order:
        inherited = max([system_tokens] + [out[p] for p in workflow.parents[t]])
        if llm[t]:
            ctx[t] = max(0.0, min(inherited, max_tokens - new[t]))
            inherited = ctx[t] + new[t]
        out[t] = inherited
    return ctx


@dataclass
class AgenticServingWorkload(AgenticRealWorkload):
    """:class:`AgenticRealWorkload` with ShareGPT calls and contexts, run by LLM serving engines.

    Args:
        name, graphs, trace, runtimes, replay: As :class:`AgenticRealWorkload` (the trace gives only arrivals).
        profile: The cluster profile (default :data:`AGENTIC_SERVING_PROFILE`).
        pairs: The loaded ShareGPT pairs (:func:`sharegpt_pairs`); LLM calls draw uniformly among those that fit.
        queue: The engines' queue policy (:data:`~scale_rllib.sim.llm_engine.QUEUE_POLICIES`).
        sample_rank: Optional, shape (len(pairs),): a ranker's score per pair (the ``predicted`` policy's order).

    Attributes:
        mean_sequence_tokens: Mean context + prompt + output tokens of an LLM call, over the calls of
            :data:`MEAN_SEQUENCE_WORKFLOWS` workflows drawn with seed 0.

    Raises:
        ValueError: as :class:`AgenticRealWorkload`; an unknown ``queue``, no pair that fits, or a ``sample_rank`` of
            another length.
    """

    profile: ClusterProfile = field(default=AGENTIC_SERVING_PROFILE)
    pairs: Sequence[PromptResponse] = ()
    queue: str = "fcfs"
    sample_rank: np.ndarray | None = None
    background: float = 0.0
    tools: str = "servers"
    mean_sequence_tokens: float = field(init=False)
    _prompt: np.ndarray = field(init=False, repr=False)  # (P,) prompt tokens per pair
    _output: np.ndarray = field(init=False, repr=False)  # (P,) response tokens per pair
    _fits: np.ndarray = field(init=False, repr=False)  # indices of the pairs that fit MAX_MODEL_TOKENS

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.queue not in QUEUE_POLICIES:
            raise ValueError(f"workload {self.name!r}: queue must be one of {', '.join(QUEUE_POLICIES)}")
        if self.sample_rank is not None and len(self.sample_rank) != len(self.pairs):
            raise ValueError(f"workload {self.name!r}: sample_rank needs one score per pair ({len(self.pairs)})")
        self._prompt = np.array([p.prompt_tokens for p in self.pairs], dtype=np.float64)
        self._output = np.array([p.response_tokens for p in self.pairs], dtype=np.float64)
        self._fits = np.flatnonzero(SYSTEM_PROMPT_TOKENS + self._prompt + self._output <= MAX_MODEL_TOKENS)
        if not self._fits.size:
            raise ValueError(f"workload {self.name!r}: no ShareGPT pair fits in {MAX_MODEL_TOKENS} tokens")
        estimate = self.sample(np.random.default_rng(0), MEAN_SEQUENCE_WORKFLOWS)
        calls = [(w.context_tokens + w.work + w.decode_work)[w.kinds == TaskKind.LLM] for w in estimate]
        self.mean_sequence_tokens = float(np.concatenate(calls).mean())

    def sample(self, rng: np.random.Generator, count: int) -> list[Workflow]:
        """``count`` workflows: graphs, then a pair per LLM call, then tool durations (all from ``rng``); contexts
        by :func:`context_tokens`."""
        shapes = [self.graphs[i] for i in rng.integers(len(self.graphs), size=count)]
        kinds = np.concatenate([s.kinds for s in shapes])
        work, decode = np.zeros(len(kinds)), np.zeros(len(kinds))
        sample_id = np.full(len(kinds), -1, dtype=np.int64)
        llm = kinds == TaskKind.LLM
        sample_id[llm] = self._fits[rng.integers(len(self._fits), size=int(llm.sum()))]
        work[llm], decode[llm] = self._prompt[sample_id[llm]], self._output[sample_id[llm]]
        self._draw_runtimes(rng, kinds, work)
        workflows = split_by_shape(shapes, work=work, decode_work=decode, sample_id=sample_id)
        return [dataclasses.replace(w, context_tokens=context_tokens(w)) for w in workflows]

    def mean_work_by_kind(self) -> np.ndarray:
        """Shape (K,). Exact mean work per workflow: tools as agentic-real; LLM = mean LLM calls × mean prompt."""
        work = super().mean_work_by_kind()
        work[TaskKind.LLM] = self._mean_count[TaskKind.LLM] * self._prompt[self._fits].mean()
        return work

    def mean_decode_work_by_kind(self) -> np.ndarray:
        """Shape (K,). Exact mean output tokens per workflow (LLM kind only): mean LLM calls × mean response."""
        decode = np.zeros_like(self._mean_count)
        decode[TaskKind.LLM] = self._mean_count[TaskKind.LLM] * self._output[self._fits].mean()
        return decode

    def build_episode(
        self,
        rng: np.random.Generator,
        *,
        servers: int,
        load: float,
        num_workflows: int,
        randomize_mix: bool,
        bandwidth: float | None = None,
    ) -> ServingSimulator:
        """As :meth:`Workload.build_episode`, but the rate comes from the engines' batched throughput
        (``capacity_cluster(cluster, mean_sequence_tokens)``) and the episode is a ``ServingSimulator``."""
        service = self.tools == "service"
        if service and servers < 2:
            raise ValueError(f"workload {self.name!r}: tools=service needs N ≥ 2 (engines + the tool service)")
        profile = SERVICE_ENGINES_PROFILE if service else self.profile
        engines = servers - 1 if service else servers
        cluster = profile.draw(engines, rng, randomize_mix, bandwidth)
        elastic = (servers - 1,) if service else ()
        if service:
            cluster = Cluster((*cluster.server_types, TOOL_SERVICE), bandwidth)
        workflows = self.sample(rng, num_workflows)
        capacity = capacity_cluster(cluster, self.mean_sequence_tokens, elastic)
        rate = load * capacity.service_rate(self.mean_work_by_kind(), self.mean_decode_work_by_kind())
        arrivals = self.arrival_times(rng, num_workflows, rate)
        traffic = None
        if self.background:  # other clients' requests until well after the last workflow arrives
            horizon_s = BACKGROUND_HORIZON * float(arrivals[-1]) + BACKGROUND_TAIL_S
            traffic = background_traffic(rng, cluster, self.trace, self.background, horizon_s)
        return ServingSimulator(cluster, workflows, arrivals, queue_policy=self.queue, sample_rank=self.sample_rank,
                                background=traffic, elastic=elastic)  # fmt: skip
