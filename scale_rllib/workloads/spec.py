"""Workload spec strings: ``agentic`` | ``wfinstances:PATH`` | ``dax:PATH`` | ``dws:DIR``."""

from __future__ import annotations

import functools
from pathlib import Path

from scale_rllib.workloads.agentic import AgenticWorkload
from scale_rllib.workloads.base import Workload

FILE_FORMATS = ("wfinstances", "dax")


def validate_spec(spec: str) -> None:
    """Check a workload spec without loading files.

    Raises:
        ValueError: unknown workload kind or an empty path.
        FileNotFoundError: the path does not exist.
    """
    kind, _, path = spec.partition(":")
    if kind == "agentic" and not path:
        return
    if kind not in (*FILE_FORMATS, "dws"):
        raise ValueError(f"unknown workload {spec!r}: use 'agentic', 'wfinstances:PATH', 'dax:PATH' or 'dws:DIR'")
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
            (the DWS peer's DAX set "S" on random k×n VM pools, :mod:`scale_rllib.workloads.dws_workload`).
        max_tasks: File workloads only: drop workflows with more tasks than this.

    Raises:
        ValueError, FileNotFoundError: see :func:`validate_spec`; WorkflowError for malformed files.
    """
    validate_spec(spec)
    kind, _, path = spec.partition(":")
    if kind == "agentic":
        return AgenticWorkload()
    if kind == "dws":  # DAX set "S" on random k×n VM pools (scale_rllib.workloads.dws_workload)
        from scale_rllib.workloads.dws_workload import DwsWorkload

        return DwsWorkload.from_dir(path, spec)
    from scale_rllib.workloads.files import load_workflows
    from scale_rllib.workloads.pool import PoolWorkload

    return PoolWorkload(spec, load_workflows(path, fmt=kind, max_tasks=max_tasks))
