"""Workflow DAGs: tasks with a kind and an amount of work, and precedence edges.

A :class:`Workflow` is immutable and validated at construction: it is acyclic, every
edge names existing tasks, and every task's work is finite and non-negative. Every
loader and generator in :mod:`scale_rllib.workloads` builds workflows through
:meth:`Workflow.from_edges`, so malformed input fails here with the source and task named.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


class TaskKind(enum.IntEnum):
    """What a task does; a server's speed depends on it (docs/design.md, "Simulator")."""

    LLM = 0
    TOOL = 1
    RETRIEVAL = 2
    CODE = 3
    COMPUTE = 4  # a scientific-workflow job (WfInstances, DAX)


NUM_KINDS = len(TaskKind)


class WorkflowError(ValueError):
    """A workflow is malformed (cycle, unknown parent, negative or non-finite work).

    The message names the source (file or generator) and the offending task.
    """


@dataclass(frozen=True, eq=False)
class Workflow:
    """An immutable, validated DAG of tasks.

    Attributes:
        name: Human-readable name (e.g. the file stem).
        source: Where it came from (file path or generator name), used in error messages.
        task_ids: Shape (T,). The original task identifiers, for error messages and traces.
        kinds: Shape (T,), int. :class:`TaskKind` value of each task.
        work: Shape (T,), float. Work of each task in work units (seconds on a speed-1 server).
        parents: T tuples of parent indices.
        children: T tuples of child indices.
        topo_order: Shape (T,), int. A topological order (parents before children).
        output_size: Shape (T,), float. Output data size of each task (bytes; 0 if unknown).
        decode_work: Shape (T,), float. Optional second work component, run at the server's decode speed
            (e.g. an LLM call's generated tokens, while ``work`` holds its context tokens); zeros by default.
            Execution time on server s = work / speed[s, kind] + decode_work / decode_speed[s, kind].
        context_tokens: Shape (T,), float. Optional: tokens of its workflow's context an LLM call starts with
            (earlier prompts and outputs an agent framework resends), read only by serving engines
            (:mod:`scale_rllib.sim.serving`), where ``work`` = the call's new prompt tokens and ``decode_work`` = its
            output tokens; zeros by default.
        sample_id: Shape (T,), int. Optional: the dataset sample (e.g. ShareGPT prompt / response pair) a task
            drew, for a learned ranker's score; −1 (none) by default.
    """

    name: str
    source: str
    task_ids: tuple[str, ...]
    kinds: np.ndarray
    work: np.ndarray
    parents: tuple[tuple[int, ...], ...]
    children: tuple[tuple[int, ...], ...]
    topo_order: np.ndarray
    output_size: np.ndarray = field(repr=False)
    decode_work: np.ndarray | None = field(default=None, repr=False)
    context_tokens: np.ndarray | None = field(default=None, repr=False)
    sample_id: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.decode_work is None:
            object.__setattr__(self, "decode_work", np.zeros(len(self.task_ids)))
        if self.context_tokens is None:
            object.__setattr__(self, "context_tokens", np.zeros(len(self.task_ids)))
        if self.sample_id is None:
            object.__setattr__(self, "sample_id", np.full(len(self.task_ids), -1, dtype=np.int64))

    @functools.cached_property
    def entries(self) -> tuple[int, ...]:
        """Indices of the entry tasks (no parents), computed once."""
        return tuple(i for i, p in enumerate(self.parents) if not p)

    @property
    def num_tasks(self) -> int:
        """Number of tasks T."""
        return len(self.task_ids)

    @classmethod
    def from_edges(
        cls,
        name: str,
        task_ids: Sequence[str],
        kinds: Sequence[int],
        work: Sequence[float],
        edges: Sequence[tuple[str, str]],
        *,
        source: str = "<memory>",
        output_size: Sequence[float] | None = None,
        decode_work: Sequence[float] | None = None,
    ) -> Workflow:
        """Build and validate a workflow from task lists and (parent_id, child_id) edges.

        Args:
            name: Workflow name.
            task_ids: T unique task identifiers.
            kinds: T :class:`TaskKind` values.
            work: T non-negative finite work amounts (work units).
            edges: (parent_id, child_id) pairs; duplicates are merged.
            source: File path or generator name, quoted in errors.
            output_size: T output sizes in bytes (default zeros).
            decode_work: T non-negative finite decode work amounts (e.g. generated tokens; default zeros).

        Raises:
            WorkflowError: empty workflow, duplicate task id, unknown task in an edge,
                self-loop, cycle, unknown kind, or negative/non-finite work. The message
                names ``source`` and the task.
        """
        ids = tuple(str(t) for t in task_ids)
        where = f"{source} (workflow {name!r})"
        if not ids:
            raise WorkflowError(f"{where}: workflow has no tasks")
        if not (len(kinds) == len(work) == len(ids)):
            raise WorkflowError(f"{where}: task_ids, kinds and work differ in length")
        index: dict[str, int] = {}
        for i, tid in enumerate(ids):
            if tid in index:
                raise WorkflowError(f"{where}: duplicate task id {tid!r}")
            index[tid] = i
        work_arr = np.asarray(work, dtype=np.float64)
        for i, w in enumerate(work_arr):
            if not np.isfinite(w) or w < 0:
                raise WorkflowError(f"{where}: task {ids[i]!r} has invalid work/runtime {w!r} (must be ≥ 0)")
        kinds_arr = np.asarray(kinds, dtype=np.int64)
        bad = np.flatnonzero((kinds_arr < 0) | (kinds_arr >= NUM_KINDS))
        if bad.size:
            raise WorkflowError(f"{where}: task {ids[bad[0]]!r} has unknown kind {kinds_arr[bad[0]]}")
        parents, children = _adjacency(ids, index, edges, where)
        topo = _topological_order(ids, parents, children, where)
        sizes = np.zeros(len(ids)) if output_size is None else np.asarray(output_size, dtype=np.float64)
        decode = _decode_work(decode_work, ids, where)
        return cls(name, source, ids, kinds_arr, work_arr, parents, children, topo, sizes, decode)


def _decode_work(decode_work, ids, where) -> np.ndarray | None:
    """Validate the optional decode work (length T, finite, ≥ 0); None stays None (zeros)."""
    if decode_work is None:
        return None
    arr = np.asarray(decode_work, dtype=np.float64)
    if arr.shape != (len(ids),):
        raise WorkflowError(f"{where}: decode_work needs one entry per task ({len(ids)}), got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
    if bad.size:
        raise WorkflowError(f"{where}: task {ids[bad[0]]!r} has invalid decode work {arr[bad[0]]!r} (must be ≥ 0)")
    return arr


def _adjacency(ids, index, edges, where):
    par: list[set[int]] = [set() for _ in ids]
    chi: list[set[int]] = [set() for _ in ids]
    for parent, child in edges:
        for tid, role in ((parent, "parent"), (child, "child")):
            if str(tid) not in index:
                raise WorkflowError(f"{where}: edge {parent!r}->{child!r} names unknown {role} task {tid!r}")
        p, c = index[str(parent)], index[str(child)]
        if p == c:
            raise WorkflowError(f"{where}: task {ids[p]!r} depends on itself (cycle)")
        par[c].add(p)
        chi[p].add(c)
    return tuple(tuple(sorted(s)) for s in par), tuple(tuple(sorted(s)) for s in chi)


def _topological_order(ids, parents, children, where) -> np.ndarray:
    """Kahn's algorithm; raises WorkflowError naming a task on a cycle."""
    indeg = [len(p) for p in parents]
    stack = [i for i, d in enumerate(indeg) if d == 0]
    order: list[int] = []
    while stack:
        i = stack.pop()
        order.append(i)
        for c in children[i]:
            indeg[c] -= 1
            if indeg[c] == 0:
                stack.append(c)
    if len(order) != len(ids):
        on_cycle = next(i for i, d in enumerate(indeg) if d > 0)
        raise WorkflowError(f"{where}: dependency cycle through task {ids[on_cycle]!r}")
    return np.asarray(order, dtype=np.int64)


def critical_path(workflow: Workflow, exec_time: np.ndarray) -> np.ndarray:
    """Longest path from each task to an exit task, including the task itself.

    Args:
        workflow: The DAG.
        exec_time: Shape (T,). Execution time of each task (seconds).

    Returns:
        Shape (T,). ``cp[t] = exec_time[t] + max(cp[c] for c in children(t))`` (0 for no
        children), in seconds. The workflow's critical path is ``cp[entries].max()``.
    """
    cp = np.array(exec_time, dtype=np.float64)
    for t in workflow.topo_order[::-1]:
        kids = workflow.children[t]
        if kids:
            cp[t] += max(cp[c] for c in kids)
    return cp
