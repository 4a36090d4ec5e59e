"""Load every workflow file of a format from a file or a directory tree, with a parse cache.

Parsed workflows are cached per (resolved path, modification time, size, format, work_scale), so repeated
environment resets and several environments in one process share one parse per file; an edited file is re-parsed.
Cached workflows are shared objects: their arrays are made read-only.
"""

from __future__ import annotations

import errno
import functools
import warnings
from collections.abc import Callable
from os import PathLike
from pathlib import Path

from scale_rllib.sim.workflow import Workflow
from scale_rllib.workloads.formats.dax import load_dax
from scale_rllib.workloads.formats.wfformat import check_work_scale, load_wfformat

__all__ = ["FORMATS", "clear_workflow_cache", "load_workflows"]

_LOADERS: dict[str, tuple[tuple[str, ...], Callable[..., Workflow]]] = {
    "wfinstances": ((".json", ".json.gz"), load_wfformat),
    "dax": ((".xml", ".dax"), load_dax),
}
#: The accepted ``fmt`` values of :func:`load_workflows`.
FORMATS: tuple[str, ...] = tuple(_LOADERS)


def load_workflows(
    path: str | PathLike[str],
    *,
    fmt: str,
    work_scale: float = 1.0,
    max_tasks: int | None = None,
) -> list[Workflow]:
    """Load the workflows of one file, or of every matching file under a directory.

    Args:
        path: A workflow file (loaded whatever its extension), or a directory searched recursively for files
            ending in ``.json`` / ``.json.gz`` (``fmt="wfinstances"``) or ``.xml`` / ``.dax`` (``fmt="dax"``),
            case-insensitively; names starting with ``.`` and JSON schemas (``*schema.json``, e.g. the
            ``wfformat-1.5-schema.json`` beside the WfInstances) are skipped.
        fmt: ``"wfinstances"`` (WfFormat 1.x JSON, :func:`load_wfformat`) or ``"dax"`` (Pegasus DAX 2.x,
            :func:`load_dax`).
        work_scale: Work units per second of recorded runtime (> 0), passed to the loader.
        max_tasks: If given, workflows with more tasks than this are left out, with a ``UserWarning`` that says
            how many.

    Returns:
        The workflows in sorted path order (relative to ``path``). They are cached and shared between calls: do not
        modify them (their arrays are read-only).

    Raises:
        FileNotFoundError: ``path`` does not exist, or the directory holds no file with a matching extension.
        ValueError: unknown ``fmt``, invalid ``work_scale`` or ``max_tasks``, or every workflow found has more than
            ``max_tasks`` tasks (the message names the path and the smallest task count).
        WorkflowError: a file is malformed (:class:`WorkloadFileError` or a DAG error); the file and task are named.
    """
    if fmt not in _LOADERS:
        raise ValueError(f"unknown workload format {fmt!r}; expected one of {', '.join(FORMATS)}")
    scale = check_work_scale(work_scale)
    if max_tasks is not None and (isinstance(max_tasks, bool) or not isinstance(max_tasks, int) or max_tasks < 1):
        raise ValueError(f"max_tasks must be a positive integer or None, got {max_tasks!r}")
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(errno.ENOENT, f"workload path does not exist: {root}", str(root))
    suffixes = _LOADERS[fmt][0]
    files = [root] if root.is_file() else find_workflow_files(root, suffixes)
    if not files:
        raise FileNotFoundError(
            errno.ENOENT, f"no {fmt} files ({', '.join('*' + s for s in suffixes)}) under directory {root}", str(root)
        )
    workflows = [_load_cached(f, fmt, scale) for f in files]
    kept = [w for w in workflows if max_tasks is None or w.num_tasks <= max_tasks]
    if not kept:
        smallest = min(w.num_tasks for w in workflows)
        raise ValueError(
            f"{root}: all {len(workflows)} {fmt} workflow(s) have more than max_tasks={max_tasks} tasks "
            f"(the smallest has {smallest})"
        )
    if len(kept) < len(workflows):
        warnings.warn(
            f"{root}: {len(workflows) - len(kept)} of {len(workflows)} {fmt} workflow(s) left out: they have more "
            f"than max_tasks={max_tasks} tasks (raise --max-tasks to keep them)",
            UserWarning,
            stacklevel=2,
        )
    return kept


def find_workflow_files(directory: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files under ``directory`` (recursive) whose name ends with one of ``suffixes``, sorted by relative path.

    Args:
        directory: The directory to search.
        suffixes: Lower-case name endings, e.g. ``(".json", ".json.gz")``.

    Returns:
        Matching regular files, sorted by their path relative to ``directory``; hidden names (starting with
        ``.``) and JSON schemas (names ending in ``schema.json``) are excluded.
    """
    found = []
    for p in directory.rglob("*"):
        rel = p.relative_to(directory)
        if any(part.startswith(".") for part in rel.parts):
            continue
        name = p.name.lower()
        if name.endswith(suffixes) and not name.endswith("schema.json") and p.is_file():
            found.append(rel)
    return [directory / rel for rel in sorted(found, key=lambda r: r.parts)]


def clear_workflow_cache() -> None:
    """Forget every cached parse (the next :func:`load_workflows` call re-reads the files)."""
    _load_file.cache_clear()


def _load_cached(file: Path, fmt: str, scale: float) -> Workflow:
    st = file.stat()
    return _load_file(str(file.resolve()), st.st_mtime_ns, st.st_size, fmt, scale)


@functools.lru_cache(maxsize=4096)
def _load_file(path: str, mtime_ns: int, size: int, fmt: str, scale: float) -> Workflow:
    """Parse one file (cached; ``mtime_ns`` and ``size`` are part of the key only)."""
    del mtime_ns, size
    workflow = _LOADERS[fmt][1](path, work_scale=scale)
    for arr in (workflow.kinds, workflow.work, workflow.topo_order, workflow.output_size):
        arr.flags.writeable = False
    return workflow
