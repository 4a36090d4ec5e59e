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

__all__ = ["AgenticRealWorkload", "agentic_real_spec", "make_agentic_real", "parse_agentic_real"]

PREFIX = "agentic-real"
_KEYS = ("azure", "wfinstances", "replay")
_REPLAY = ("scaled", "raw")


def parse_agentic_real(body: str) -> dict[str, str]:
    """Split the part after ``agentic-real:`` into ``worfbench``, ``azure``, ``wfinstances`` and ``replay``.

    Raises:
        ValueError: no WorFBench path, no ``azure=``, an unknown or repeated key, a bad ``replay`` value.
        FileNotFoundError: a path that does not exist.
    """
    usage = f"use '{PREFIX}:WORFBENCH_PATH,azure=AZURE_PATH[,wfinstances=PATH][,replay=scaled|raw]'"
    head, *options = body.split(",")
    if not head or "=" in head:
        raise ValueError(f"workload '{PREFIX}:{body}' needs a WorFBench path first: {usage}")
    parts: dict[str, str] = {}
    for option in options:
        key, eq, value = option.partition("=")
        if key not in _KEYS or not eq or not value or key in parts:
            raise ValueError(f"workload '{PREFIX}:{body}': bad or repeated option {option!r}: {usage}")
        parts[key] = value
    parts = {"worfbench": head, "replay": "scaled", **parts}
    if "azure" not in parts:
        raise ValueError(f"workload '{PREFIX}:{body}' needs azure=PATH (an Azure LLM trace CSV or folder): {usage}")
    if parts["replay"] not in _REPLAY:
        raise ValueError(f"workload '{PREFIX}:{body}': replay must be 'scaled' or 'raw', got {parts['replay']!r}")
    for key in ("worfbench", "azure", "wfinstances"):
        if key in parts and not Path(parts[key]).exists():
            raise FileNotFoundError(f"workload '{PREFIX}:{body}': {key} path {parts[key]!r} does not exist")
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
    fits = fit_wfinstances(parts["wfinstances"]) if "wfinstances" in parts else EMBEDDED_FITS
    graphs = load_worfbench(parts["worfbench"]).graphs
    return AgenticRealWorkload(spec, list(graphs), load_azure_trace(parts["azure"]), fits, parts["replay"])


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
        for kind, fit in sorted(self.runtimes.items()):
            mask = kinds == kind
            if mask.any():
                work[mask] = fit.sample(rng, int(mask.sum()))
        bounds = np.cumsum([0] + [s.num_tasks for s in shapes])
        return [
            dataclasses.replace(s, name=f"{s.name}#{j}", work=work[a:b], decode_work=decode[a:b])
            for j, (s, a, b) in enumerate(zip(shapes, bounds[:-1], bounds[1:]))
        ]

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
