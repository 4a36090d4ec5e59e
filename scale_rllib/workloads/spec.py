"""Workload spec strings → workloads.

A spec is ``KIND`` or ``KIND:ARGS``, optionally followed by ``@azure:PATH`` (arrivals replayed from an Azure LLM
trace); :data:`WORKLOAD_KINDS` lists every kind with its syntax, and docs/workloads.md describes each.
"""

from __future__ import annotations

import functools
from pathlib import Path

from scale_rllib.workloads.base import Workload
from scale_rllib.workloads.dws.workload import DwsWorkload
from scale_rllib.workloads.formats.azure import load_azure_trace
from scale_rllib.workloads.formats.files import load_workflows
from scale_rllib.workloads.generators.agentic import AgenticWorkload
from scale_rllib.workloads.generators.agentic_real import make_agentic_real, parse_agentic_real
from scale_rllib.workloads.generators.agentic_serving import make_agentic_serving, parse_agentic_serving
from scale_rllib.workloads.generators.worfbench_shapes import make_worfbench
from scale_rllib.workloads.pool import PoolWorkload
from scale_rllib.workloads.replay import ReplayedArrivals

#: Every workload kind: its syntax and what it is (the CLI's ``--workload`` help is built from this).
WORKLOAD_KINDS: dict[str, tuple[str, str]] = {
    "agentic": ("agentic", "embedded agentic-workflow generator (default; no data files)"),
    "agentic-real": (
        "agentic-real:WORFBENCH,azure=AZURE[,wfinstances=PATH][,replay=scaled|raw]",
        "WorFBench shapes, Azure token counts and arrivals, WfInstances tool runtimes",
    ),
    "agentic-serving": (
        "agentic-serving:WORFBENCH,azure=AZURE[,wfinstances=PATH][,replay=scaled|raw][,queue=fcfs|plas|shortest|"
        "predicted]",
        "agentic-real's shapes as LLM-serving traffic: ShareGPT calls with growing contexts on batching engines",
    ),
    "worfbench": ("worfbench:PATH", "WorFBench gold-graph shapes with the embedded agentic runtimes"),
    "wfinstances": ("wfinstances:PATH", "WfFormat 1.5 JSON / .json.gz workflows (a file or a directory)"),
    "dax": ("dax:PATH", "Pegasus DAX 2.x XML workflows (a file or a directory)"),
    "dws": ("dws:DIR", "the DWS peer benchmark's DAX set on random k×n VM pools"),
}
#: Kinds whose argument is one file or directory path.
PATH_KINDS = ("worfbench", "wfinstances", "dax", "dws")
FILE_FORMATS = ("wfinstances", "dax")
#: Kinds whose argument is ``WORFBENCH,azure=...`` options: their parser and maker.
OPTION_KINDS = {
    "agentic-real": (parse_agentic_real, make_agentic_real),
    "agentic-serving": (parse_agentic_serving, make_agentic_serving),
}


def split_arrivals(spec: str) -> tuple[str, str | None]:
    """``WORKLOAD@azure:PATH`` → (``WORKLOAD``, ``PATH``): the workload with arrivals replayed from an Azure LLM
    trace (CSV or folder; :class:`~scale_rllib.workloads.replay.ReplayedArrivals`). Without ``@SOURCE:`` → (spec,
    None).

    Raises:
        ValueError: an arrival source other than ``azure``, or no path after it.
        FileNotFoundError: the arrivals path does not exist.
    """
    base, at, arrivals = spec.rpartition("@")
    source, colon, path = arrivals.partition(":")
    if not at or not colon or not source.isidentifier():
        return spec, None
    if source != "azure":
        raise ValueError(f"workload {spec!r}: unknown arrival source {source!r} (use WORKLOAD@azure:PATH)")
    if not path:
        raise ValueError(f"workload {spec!r} needs a path after '@azure:'")
    if not Path(path).exists():
        raise FileNotFoundError(f"workload {spec!r}: arrivals path {path!r} does not exist")
    return base, path


def with_arrivals(workload: str, arrivals: str | None) -> str:
    """The spec of ``workload`` with ``arrivals`` (``azure:PATH``, as given to ``--arrivals``) appended, if any."""
    return workload if not arrivals else f"{workload}@{arrivals}"


def validate_spec(spec: str) -> None:
    """Check a workload spec without loading files.

    Raises:
        ValueError: unknown workload kind or an empty path.
        FileNotFoundError: the path does not exist.
    """
    spec, arrivals = split_arrivals(spec)  # validates a trailing @azure:PATH
    kind, _, path = spec.partition(":")
    if kind == "agentic" and not path:
        return
    if kind in OPTION_KINDS:
        if arrivals is not None and kind == "agentic-serving":
            raise ValueError(f"workload {spec!r} replays its own azure= trace: drop '@azure:{arrivals}'")
        OPTION_KINDS[kind][0](path)
        return
    if kind not in PATH_KINDS:
        usage = ", ".join(f"'{syntax}'" for syntax, _ in WORKLOAD_KINDS.values())
        raise ValueError(f"unknown workload {spec!r}: use {usage} (optionally followed by '@azure:PATH')")
    if not path:
        raise ValueError(f"workload {spec!r} needs a path after '{kind}:'")
    if not Path(path).exists():
        raise FileNotFoundError(f"workload {spec!r}: path {path!r} does not exist")
    if kind == "dws" and not Path(path).is_dir():
        raise ValueError(f"workload {spec!r}: 'dws:' needs a directory of DAX files, {path!r} is not one")


@functools.lru_cache(maxsize=8)
def make_workload(spec: str, max_tasks: int | None = None) -> Workload:
    """Build (once per process) the workload a spec names (:data:`WORKLOAD_KINDS`; docs/workloads.md).

    Args:
        spec: A workload spec, optionally ending in ``@azure:PATH`` (:func:`split_arrivals`).
        max_tasks: File workloads only: drop workflows with more tasks than this (with a warning that counts them).

    Raises:
        ValueError, FileNotFoundError: see :func:`validate_spec`; WorkflowError for malformed files (the file and
            task are named).
    """
    validate_spec(spec)
    base, arrivals = split_arrivals(spec)
    if arrivals is not None:
        return ReplayedArrivals(spec, make_workload(base, max_tasks), load_azure_trace(arrivals))
    kind, _, path = spec.partition(":")
    if kind == "agentic":
        return AgenticWorkload()
    if kind in OPTION_KINDS:
        return OPTION_KINDS[kind][1](spec)
    if kind == "worfbench":
        return make_worfbench(spec)
    if kind == "dws":
        return DwsWorkload.from_dir(path, spec)
    return PoolWorkload(spec, load_workflows(path, fmt=kind, max_tasks=max_tasks))
