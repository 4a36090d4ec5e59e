"""Workload spec strings: ``agentic`` | ``agentic-real:WORFBENCH,azure=PATH[,…]`` | ``wfinstances:PATH`` |
``dax:PATH`` | ``dws:DIR``, each optionally followed by ``@azure:PATH`` (replayed Azure trace arrivals)."""

from __future__ import annotations

import functools
from pathlib import Path

from scale_rllib.workloads.agentic import AgenticWorkload
from scale_rllib.workloads.base import Workload

FILE_FORMATS = ("wfinstances", "dax")


def split_arrivals(spec: str) -> tuple[str, str | None]:
    """``WORKLOAD@azure:PATH`` → (``WORKLOAD``, ``PATH``): the workload with arrivals replayed from an Azure LLM trace
    (CSV or folder; :class:`~scale_rllib.workloads.azure.ReplayedArrivals`). A spec without ``@SOURCE:`` → (spec, None).

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


def validate_spec(spec: str) -> None:
    """Check a workload spec without loading files.

    Raises:
        ValueError: unknown workload kind or an empty path.
        FileNotFoundError: the path does not exist.
    """
    spec, _ = split_arrivals(spec)  # validates a trailing @azure:PATH
    kind, _, path = spec.partition(":")
    if kind == "agentic" and not path:
        return
    if kind == "agentic-real":  # WorFBench × Azure × WfInstances (scale_rllib.workloads.agentic_real)
        from scale_rllib.workloads.agentic_real import parse_agentic_real

        parse_agentic_real(path)
        return
    if kind not in (*FILE_FORMATS, "dws"):
        raise ValueError(
            f"unknown workload {spec!r}: use 'agentic', 'agentic-real:WORFBENCH,azure=PATH', 'wfinstances:PATH', "
            "'dax:PATH' or 'dws:DIR' (optionally followed by '@azure:PATH')"
        )
    if not path:
        raise ValueError(f"workload {spec!r} needs a path after '{kind}:'")
    if not Path(path).exists():
        raise FileNotFoundError(f"workload {spec!r}: path {path!r} does not exist")
    if kind == "dws" and not Path(path).is_dir():
        raise ValueError(f"workload {spec!r}: 'dws:' needs a directory of DAX files, {path!r} is not one")


@functools.lru_cache(maxsize=8)
def make_workload(spec: str, max_tasks: int | None = None) -> Workload:
    """Build (once per process) the workload a spec names.

    Args:
        spec: ``agentic`` (the embedded generator), ``wfinstances:PATH`` (WfFormat 1.5 JSON /
            .json.gz file or directory), ``dax:PATH`` (Pegasus DAX 2.x XML file or directory) or ``dws:DIR``
            (the DWS peer's DAX set "S" on random k×n VM pools, :mod:`scale_rllib.workloads.dws_workload`), or
            ``agentic-real:WORFBENCH,azure=PATH[,wfinstances=PATH][,replay=scaled|raw]``
            (:mod:`scale_rllib.workloads.agentic_real`); any may end in ``@azure:PATH`` (:func:`split_arrivals`).
        max_tasks: File workloads only: drop workflows with more tasks than this.

    Raises:
        ValueError, FileNotFoundError: see :func:`validate_spec`; WorkflowError for malformed files.
    """
    validate_spec(spec)
    base, arrivals = split_arrivals(spec)
    if arrivals is not None:  # WORKLOAD@azure:PATH: the trace's arrival times (scale_rllib.workloads.azure)
        from scale_rllib.workloads.azure import ReplayedArrivals, load_azure_trace

        return ReplayedArrivals(spec, make_workload(base, max_tasks), load_azure_trace(arrivals))
    kind, _, path = spec.partition(":")
    if kind == "agentic":
        return AgenticWorkload()
    if kind == "agentic-real":
        from scale_rllib.workloads.agentic_real import make_agentic_real

        return make_agentic_real(spec)
    if kind == "dws":  # DAX set "S" on random k×n VM pools (scale_rllib.workloads.dws_workload)
        from scale_rllib.workloads.dws_workload import DwsWorkload

        return DwsWorkload.from_dir(path, spec)
    from scale_rllib.workloads.files import load_workflows
    from scale_rllib.workloads.pool import PoolWorkload

    return PoolWorkload(spec, load_workflows(path, fmt=kind, max_tasks=max_tasks))
