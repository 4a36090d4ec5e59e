"""Loader for WfCommons WfFormat 1.x instances (``.json`` or ``.json.gz``), e.g. the WfInstances Pegasus traces.

Layout read (WfFormat 1.5, schema ``wfformat-1.5-schema.json``)::

    schemaVersion                      "1.x"
    workflow.specification.tasks[]     id, parents[], children[], outputFiles[] (optional)
    workflow.specification.files[]     id, sizeInBytes (optional section)
    workflow.execution.tasks[]         id, runtimeInSeconds

Each task becomes a :attr:`TaskKind.COMPUTE` task with ``work = runtimeInSeconds × work_scale`` (work units, i.e.
seconds on a speed-1 server); edges are the union of every task's ``parents`` and ``children`` lists; a task's
``output_size`` is the total ``sizeInBytes`` of its ``outputFiles`` (bytes; zeros when the file has no
``specification.files`` section).

Source of the reference data: WfCommons WfInstances (LGPL-3.0), "WfCommons: A framework for enabling scientific
workflow research and development", FGCS 2022.
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from os import PathLike
from pathlib import Path
from typing import Any

from scale_rllib.sim.workflow import TaskKind, Workflow
from scale_rllib.workloads.errors import WorkloadFileError

__all__ = ["check_work_scale", "load_wfformat", "workflow_name"]

_SUFFIXES = (".json.gz", ".json", ".xml", ".dax", ".gz")


def load_wfformat(path: str | PathLike[str], *, work_scale: float = 1.0) -> Workflow:
    """Load one WfFormat 1.x instance as a :class:`Workflow`.

    Args:
        path: A ``.json`` or gzipped ``.json.gz`` file (gzip is detected from the content, not only the name).
        work_scale: Work units per second of recorded runtime (> 0).

    Returns:
        The workflow, named after the file (``name.json.gz`` → ``name``), ``source`` = the path; every task is
        ``TaskKind.COMPUTE`` with work in work units and output_size in bytes.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        WorkloadFileError: bad gzip, bad JSON, missing or mistyped key (the JSON path is named), schemaVersion
            not 1.x, a task without a runtime or with a negative/non-finite one, an unknown parent/child, an output
            file missing from ``specification.files``. The message names the file and the task.
        WorkflowError: the DAG is invalid (cycle, duplicate task id), from :meth:`Workflow.from_edges`.
        ValueError: ``work_scale`` is not a finite positive number.
    """
    path = Path(path)
    scale = check_work_scale(work_scale)
    src = str(path)
    doc = _read_json(path)
    _check_version(doc, src)
    spec_tasks = _get(doc, "workflow.specification.tasks", list, src)
    runtimes = _runtimes(_get(doc, "workflow.execution.tasks", list, src), src)
    files = _get(doc, "workflow.specification.files", list, src) if _has(doc, "workflow.specification.files") else None
    sizes = None if files is None else _file_sizes(files, src)
    ids = [_field(t, "id", str, f"workflow.specification.tasks[{i}]", src) for i, t in enumerate(spec_tasks)]
    known = set(ids)
    edges: list[tuple[str, str]] = []
    work: list[float] = []
    out: list[float] = []
    for i, (tid, task) in enumerate(zip(ids, spec_tasks)):
        jp = f"workflow.specification.tasks[{i}]"
        if tid not in runtimes:
            raise WorkloadFileError(f"{src}: task {tid!r} has no runtime (no entry in workflow.execution.tasks)")
        work.append(runtimes[tid] * scale)
        edges.extend(_task_edges(task, tid, jp, known, src))
        out.append(_output_size(task, tid, jp, sizes, src))
    kinds = [int(TaskKind.COMPUTE)] * len(ids)
    return Workflow.from_edges(workflow_name(path), ids, kinds, work, edges, source=src, output_size=out)


def check_work_scale(work_scale: float) -> float:
    """Validate a work scale factor.

    Args:
        work_scale: Work units per second of recorded runtime.

    Returns:
        ``work_scale`` as a float.

    Raises:
        ValueError: not a finite number > 0.
    """
    try:
        scale = float(work_scale)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"work_scale must be a number, got {work_scale!r}") from exc
    if isinstance(work_scale, bool) or not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"work_scale must be a finite number > 0, got {work_scale!r}")
    return scale


def workflow_name(path: Path) -> str:
    """The file name without its workload suffix (``montage-001.json.gz`` → ``montage-001``)."""
    name = path.name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _read_json(path: Path) -> Any:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b" or path.name.lower().endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise WorkloadFileError(f"{path}: not a valid gzip file ({type(exc).__name__}: {exc})") from exc
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise WorkloadFileError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise WorkloadFileError(f"{path}: invalid JSON: not UTF-8 text ({exc})") from exc


def _check_version(doc: Any, src: str) -> None:
    version = _get(doc, "schemaVersion", str, src)
    if version.split(".")[0].strip() != "1":
        raise WorkloadFileError(f"{src}: unsupported WfFormat schemaVersion {version!r} (this loader reads 1.x)")


def _has(doc: Any, dotted: str) -> bool:
    obj = doc
    for key in dotted.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return False
        obj = obj[key]
    return True


def _get(doc: Any, dotted: str, typ: type, src: str) -> Any:
    """Follow a dotted JSON path from the document root, checking the final value's type."""
    obj, walked = doc, ""
    for key in dotted.split("."):
        if not isinstance(obj, dict):
            raise WorkloadFileError(f"{src}: {walked or 'document root'} must be a JSON object, got {_tname(obj)}")
        walked = f"{walked}.{key}" if walked else key
        if key not in obj:
            raise WorkloadFileError(f"{src}: missing key {walked!r}")
        obj = obj[key]
    if not isinstance(obj, typ):
        raise WorkloadFileError(f"{src}: {walked} must be {_tname(typ())}, got {_tname(obj)}")
    return obj


def _field(obj: Any, key: str, typ: type, jpath: str, src: str, task: str | None = None) -> Any:
    """Read a required key of a JSON object at ``jpath``; errors name the path (and the task if known)."""
    who = f"task {task!r}: " if task is not None else ""
    if not isinstance(obj, dict):
        raise WorkloadFileError(f"{src}: {who}{jpath} must be a JSON object, got {_tname(obj)}")
    if key not in obj:
        raise WorkloadFileError(f"{src}: {who}missing key '{jpath}.{key}'")
    value = obj[key]
    if not isinstance(value, typ):
        raise WorkloadFileError(f"{src}: {who}{jpath}.{key} must be {_tname(typ())}, got {_tname(value)}")
    return value


def _number(value: Any, what: str, src: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise WorkloadFileError(f"{src}: {what} must be a finite number, got {value!r}")
    if value < 0:
        raise WorkloadFileError(f"{src}: {what} is negative ({value!r})")
    return float(value)


def _runtimes(exec_tasks: list, src: str) -> dict[str, float]:
    """Map task id → runtime in seconds from ``workflow.execution.tasks``."""
    runtimes: dict[str, float] = {}
    for i, task in enumerate(exec_tasks):
        jp = f"workflow.execution.tasks[{i}]"
        tid = _field(task, "id", str, jp, src)
        if "runtimeInSeconds" not in task:
            raise WorkloadFileError(f"{src}: task {tid!r} has no runtime (missing key '{jp}.runtimeInSeconds')")
        if tid in runtimes:
            raise WorkloadFileError(f"{src}: task {tid!r} appears twice in workflow.execution.tasks ({jp})")
        runtimes[tid] = _number(task["runtimeInSeconds"], f"task {tid!r}: {jp}.runtimeInSeconds (s)", src)
    return runtimes


def _file_sizes(files: list, src: str) -> dict[str, float]:
    """Map file id → size in bytes from ``workflow.specification.files``."""
    sizes: dict[str, float] = {}
    for i, entry in enumerate(files):
        jp = f"workflow.specification.files[{i}]"
        fid = _field(entry, "id", str, jp, src)
        if "sizeInBytes" not in entry:
            raise WorkloadFileError(f"{src}: file {fid!r}: missing key '{jp}.sizeInBytes'")
        sizes[fid] = _number(entry["sizeInBytes"], f"file {fid!r}: {jp}.sizeInBytes", src)
    return sizes


def _task_edges(task: dict, tid: str, jp: str, known: set[str], src: str) -> list[tuple[str, str]]:
    """(parent, child) pairs from a task's ``parents`` and ``children`` lists, checking every id exists."""
    edges = []
    for key in ("parents", "children"):
        for j, other in enumerate(_field(task, key, list, jp, src, tid)):
            if not isinstance(other, str) or other not in known:
                role = "parent" if key == "parents" else "child"
                raise WorkloadFileError(f"{src}: task {tid!r} lists unknown {role} {other!r} ({jp}.{key}[{j}])")
            edges.append((other, tid) if key == "parents" else (tid, other))
    return edges


def _output_size(task: dict, tid: str, jp: str, sizes: dict[str, float] | None, src: str) -> float:
    """Total size in bytes of a task's ``outputFiles`` (0 when the document has no file sizes)."""
    if "outputFiles" not in task or sizes is None:
        return 0.0
    total = 0.0
    for j, fid in enumerate(_field(task, "outputFiles", list, jp, src, tid)):
        if not isinstance(fid, str) or fid not in sizes:
            raise WorkloadFileError(
                f"{src}: task {tid!r}: output file {fid!r} ({jp}.outputFiles[{j}]) "
                "is not in workflow.specification.files"
            )
        total += sizes[fid]
    return total


def _tname(value: Any) -> str:
    """JSON type name of a Python value."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
