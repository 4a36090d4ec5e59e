"""``agentic-real``: WorFBench shapes × Azure arrivals and token counts × WfInstances tool runtimes.

Spec (a path may not contain ``,``)::

    agentic-real:WORFBENCH_PATH,azure=AZURE_PATH[,wfinstances=WFINSTANCES_PATH][,replay=scaled|raw]

- ``WORFBENCH_PATH`` (required): a WorFBench ``graph_eval.json`` or a directory of them
  (:mod:`scale_rllib.workloads.formats.worfbench`). Each workflow is a gold graph drawn uniformly from all that
  parse; its nodes keep their kinds (llm / tool / retrieval / code).
- ``azure=`` (required): an Azure LLM trace CSV or a directory of them (:mod:`scale_rllib.workloads.formats.azure`).
  Each llm node gets the (context, generated) tokens of a request drawn from the trace: ``work`` = context tokens,
  ``decode_work`` = generated tokens (:mod:`scale_rllib.workloads.generators.llm_model`). Workflow arrivals replay the
  trace's request times, scaled so that their mean rate gives the offered load (``replay=scaled``, the default), or
  as recorded (``replay=raw``: the trace's own rate; ``--load`` then does not change the arrivals).
- ``wfinstances=`` (optional): WfInstances files whose runtimes are fitted at load time
  (:func:`~scale_rllib.workloads.generators.runtime_fit.fit_wfinstances`); without it, the embedded fits
  (:data:`~scale_rllib.workloads.generators.runtime_fit.EMBEDDED_FITS`). Tool / retrieval / code nodes draw their
  work (seconds on a speed-1 server) from them.

The cluster profile is :data:`~scale_rllib.workloads.generators.llm_model.AGENTIC_REAL_PROFILE` (H100, A100 and CPU
servers).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scale_rllib.sim.workflow import NUM_KINDS, TaskKind, Workflow
from scale_rllib.workloads.base import ClusterProfile, Workload
from scale_rllib.workloads.formats.azure import AzureTrace, load_azure_trace
from scale_rllib.workloads.formats.worfbench import load_worfbench
from scale_rllib.workloads.generators.llm_model import AGENTIC_REAL_PROFILE
from scale_rllib.workloads.generators.runtime_fit import EMBEDDED_FITS, RuntimeFit, fit_wfinstances

__all__ = [
    "AgenticRealWorkload",
    "agentic_real_spec",
    "load_sources",
    "make_agentic_real",
    "parse_agentic_real",
    "parse_sources",
    "split_by_shape",
]

PREFIX = "agentic-real"
_PATH_KEYS = ("azure", "wfinstances")
_REPLAY = ("scaled", "raw")


def parse_agentic_real(body: str) -> dict[str, str]:
    """Split the part after ``agentic-real:`` into ``worfbench``, ``azure``, ``wfinstances`` and ``replay``.

    Raises:
        ValueError: no WorFBench path, no ``azure=``, an unknown or repeated key, a bad ``replay`` value.
        FileNotFoundError: a path that does not exist.
    """
    syntax = "WORFBENCH_PATH,azure=AZURE_PATH[,wfinstances=PATH][,replay=scaled|raw]"
    return parse_sources(PREFIX, body, syntax, {"replay": _REPLAY})


def parse_sources(prefix: str, body: str, syntax: str, choices: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Split the body of a ``PREFIX:WORFBENCH_PATH,azure=PATH[,wfinstances=PATH][,KEY=VALUE]…`` spec.

    Args:
        prefix: The workload kind, e.g. ``"agentic-real"`` (quoted in errors).
        body: The part after ``PREFIX:``.
        syntax: The body's syntax, quoted in errors.
        choices: Each further key and its allowed values; the first is its default.

    Returns:
        ``worfbench``, ``azure``, ``wfinstances`` (only when given) and every key of ``choices``.

    Raises:
        ValueError: no WorFBench path, no ``azure=``, an unknown or repeated key, a value not in ``choices``.
        FileNotFoundError: a path that does not exist.
    """
    usage = f"use '{prefix}:{syntax}'"
    head, *options = body.split(",")
    if not head or "=" in head:
        raise ValueError(f"workload '{prefix}:{body}' needs a WorFBench path first: {usage}")
    parts: dict[str, str] = {}
    for option in options:
        key, eq, value = option.partition("=")
        if key not in (*_PATH_KEYS, *choices) or not eq or not value or key in parts:
            raise ValueError(f"workload '{prefix}:{body}': bad or repeated option {option!r}: {usage}")
        parts[key] = value
    parts = {"worfbench": head, **{key: values[0] for key, values in choices.items()}, **parts}
    if "azure" not in parts:
        raise ValueError(f"workload '{prefix}:{body}' needs azure=PATH (an Azure LLM trace CSV or folder): {usage}")
    for key, values in choices.items():
        if parts[key] not in values:
            allowed = " or ".join([", ".join(f"'{v}'" for v in values[:-1]), f"'{values[-1]}'"])
            raise ValueError(f"workload '{prefix}:{body}': {key} must be {allowed}, got {parts[key]!r}")
    for key in ("worfbench", *_PATH_KEYS):
        if key in parts and not Path(parts[key]).exists():
            raise FileNotFoundError(f"workload '{prefix}:{body}': {key} path {parts[key]!r} does not exist")
    return parts


def agentic_real_spec(
    worfbench: str | Path, azure: str | Path, wfinstances: str | Path | None = None, replay: str = "scaled"
) -> str:
    """The spec string of an ``agentic-real`` workload (the inverse of :func:`parse_agentic_real`)."""
    options = [f"azure={azure}"] + ([f"wfinstances={wfinstances}"] if wfinstances else [])
    options += [] if replay == "scaled" else [f"replay={replay}"]
    return f"{PREFIX}:{worfbench}," + ",".join(options)


def make_agentic_real(spec: str) -> AgenticRealWorkload:
    """Load the parts a full ``agentic-real:...`` spec names (see the module docstring)."""
    parts = parse_agentic_real(spec.partition(":")[2])
    graphs, trace, fits = load_sources(parts)
    return AgenticRealWorkload(spec, graphs, trace, fits, parts["replay"])


def load_sources(parts: Mapping[str, str]) -> tuple[list[Workflow], AzureTrace, Mapping[TaskKind, RuntimeFit]]:
    """The WorFBench graphs, Azure trace and runtime fits that :func:`parse_sources`' ``parts`` name."""
    fits = fit_wfinstances(parts["wfinstances"]) if "wfinstances" in parts else EMBEDDED_FITS
    return list(load_worfbench(parts["worfbench"]).graphs), load_azure_trace(parts["azure"]), fits


@dataclass
class AgenticRealWorkload(Workload):
    """Workflows of WorFBench shapes with Azure token counts and WfInstances-fitted tool durations.

    Args:
        name: Spec string.
        graphs: WorFBench DAGs (kinds set; work ignored).
        trace: Azure trace for token counts and arrivals.
        runtimes: Duration distribution (seconds on a speed-1 server) of each non-LLM kind in the graphs.
        replay: ``"scaled"`` (arrivals scaled to the scenario's rate) or ``"raw"`` (as recorded).
        profile: The cluster profile.

    Raises:
        ValueError: no graphs, a graph with a kind that has no runtime distribution, or a bad ``replay``.
    """

    name: str
    graphs: list[Workflow]
    trace: AzureTrace
    runtimes: Mapping[TaskKind, RuntimeFit]
    replay: str = "scaled"
    profile: ClusterProfile = field(default=AGENTIC_REAL_PROFILE)
    _mean_count: np.ndarray = field(init=False, repr=False)  # (K,) mean tasks of each kind per workflow

    def __post_init__(self) -> None:
        if not self.graphs:
            raise ValueError(f"workload {self.name!r}: no WorFBench graphs")
        if self.replay not in _REPLAY:
            raise ValueError(f"workload {self.name!r}: replay must be 'scaled' or 'raw', got {self.replay!r}")
        counts = np.array([np.bincount(g.kinds, minlength=NUM_KINDS) for g in self.graphs])  # (G, K)
        missing = [TaskKind(k).name.lower() for k in np.flatnonzero(counts.sum(0)) if k != TaskKind.LLM]
        missing = [k for k in missing if TaskKind[k.upper()] not in self.runtimes]
        if missing:
            raise ValueError(f"workload {self.name!r}: no runtime distribution for kind(s) {', '.join(missing)}")
        self._mean_count = counts.mean(axis=0)

    def sample(self, rng: np.random.Generator, count: int) -> list[Workflow]:
        """``count`` workflows: graphs drawn uniformly, then token counts and durations per node (all from ``rng``)."""
        shapes = [self.graphs[i] for i in rng.integers(len(self.graphs), size=count)]
        kinds = np.concatenate([s.kinds for s in shapes])
        work, decode = np.zeros(len(kinds)), np.zeros(len(kinds))
        llm = kinds == TaskKind.LLM
        context, generated = self.trace.sample_tokens(rng, int(llm.sum()))
        work[llm], decode[llm] = context, generated
        self._draw_runtimes(rng, kinds, work)
        return split_by_shape(shapes, work=work, decode_work=decode)

    def _draw_runtimes(self, rng: np.random.Generator, kinds: np.ndarray, work: np.ndarray) -> None:
        """Fill ``work`` (in place) at the non-LLM tasks with durations drawn from their kinds' fits."""
        for kind, fit in sorted(self.runtimes.items()):
            mask = kinds == kind
            if mask.any():
                work[mask] = fit.sample(rng, int(mask.sum()))

    def mean_work_by_kind(self) -> np.ndarray:
        """Shape (K,). Exact mean work per workflow: mean tasks of a kind × its mean work (tokens or seconds)."""
        per_task = np.zeros(NUM_KINDS)
        per_task[TaskKind.LLM] = self.trace.context_tokens.mean()
        for kind, fit in self.runtimes.items():
            per_task[kind] = fit.mean()
        return self._mean_count * per_task

    def mean_decode_work_by_kind(self) -> np.ndarray:
        """Shape (K,). Mean generated tokens per workflow (LLM kind only)."""
        decode = np.zeros(NUM_KINDS)
        decode[TaskKind.LLM] = self._mean_count[TaskKind.LLM] * self.trace.generated_tokens.mean()
        return decode

    def arrival_times(self, rng: np.random.Generator, count: int, rate_per_s: float) -> np.ndarray:
        """Replayed Azure request times: scaled to ``rate_per_s`` (``replay="scaled"``) or as recorded (``"raw"``)."""
        return self.trace.arrival_times(rng, count, rate_per_s if self.replay == "scaled" else None)


def split_by_shape(shapes: list[Workflow], **arrays: np.ndarray) -> list[Workflow]:
    """The shapes, renamed ``<name>#<j>``, with per-task arrays (concatenated over the shapes, e.g. ``work=``) set."""
    bounds = np.cumsum([0] + [s.num_tasks for s in shapes])
    return [
        dataclasses.replace(s, name=f"{s.name}#{j}", **{key: arr[a:b] for key, arr in arrays.items()})
        for j, (s, a, b) in enumerate(zip(shapes, bounds[:-1], bounds[1:]))
    ]
