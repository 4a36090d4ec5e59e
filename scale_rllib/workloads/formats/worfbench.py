"""Loader for WorFBench gold agentic-workflow graphs (``graph_eval.json``: a JSON list of conversations).

Source: WorFBench (ZJUNLP, MIT; Qiao et al., "Benchmarking Agentic Workflow Generation", ICLR 2025). Each entry holds
``conversations`` (system, user, assistant) and an ``id``; the *last assistant turn* is the gold plan::

    Node:
    1: go to countertop
    2: take potato from countertop
    Edge: (START,1) (1,2) (2,END)

Parsing rule:

- **Nodes**: after the first line that starts with ``Node:`` / ``Nodes:``, the consecutive lines ``<n>: text`` or
  ``<n>. text`` (blank lines are skipped; the list ends at the first other line). Node numbers must be unique.
- **Edges**: every ``(a, b)`` with ``a``, ``b`` each ``START``, ``END`` or a number, anywhere after the node list
  (``Edge:`` / ``Edges:`` line, bullet lists, ``->`` chains; case-insensitive, spaces allowed). ``(START, n)`` and
  ``(n, END)`` only mark entries / exits (the DAG has them anyway) and are dropped; other parenthesised text is ignored.
- A node no edge mentions is kept as an independent task (an entry and an exit).
- A graph is **skipped**, with its file, index, id and reason, when: the JSON entry has no assistant turn, the plan has
  no node list or no numbered edge at all, an edge names a node not in the list, leaves ``END`` or enters ``START``,
  or the edges have a cycle (:meth:`Workflow.from_edges`). The count of skipped graphs is logged (and returned).

Each node becomes a task with id ``"<n>"``, its kind from :mod:`scale_rllib.workloads.generators.worfbench_kinds`,
and zero work: the graphs carry no durations; :mod:`scale_rllib.workloads.generators.agentic_real` and
:mod:`scale_rllib.workloads.generators.worfbench_shapes` fill them in.
"""

from __future__ import annotations

import errno
import json
import logging
import re
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from scale_rllib.sim.workflow import Workflow, WorkflowError
from scale_rllib.workloads.errors import WorkloadFileError
from scale_rllib.workloads.formats.files import find_workflow_files
from scale_rllib.workloads.generators.worfbench_kinds import environment, node_kind

__all__ = ["PlanError", "SkippedGraph", "WorfbenchGraphs", "graph_workflow", "load_worfbench", "parse_plan"]

log = logging.getLogger(__name__)

_HEADER = re.compile(r"^\W*nodes?\W*:", re.IGNORECASE)
_NODE = re.compile(r"^\s*(\d+)\s*[:.]\s*(.*\S)\s*$")
_EDGE = re.compile(r"\(\s*(START|END|\d+)\s*,\s*(START|END|\d+)\s*\)", re.IGNORECASE)


class PlanError(ValueError):
    """A gold plan does not describe a graph (no node list, no edges, an edge to an unknown node)."""


@dataclass(frozen=True)
class SkippedGraph:
    """A graph left out, and why.

    Attributes:
        file: The JSON file.
        index: Position of the entry in the file's list (0-based).
        graph_id: The entry's ``id`` (``"?"`` if none).
        reason: What is wrong with it.
    """

    file: str
    index: int
    graph_id: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}[{self.index}] (id {self.graph_id!r}): {self.reason}"


@dataclass(frozen=True)
class WorfbenchGraphs:
    """What :func:`load_worfbench` read.

    Attributes:
        graphs: The parsed DAGs (kinds set, zero work), in file order.
        sources: Per graph, the WorFBench source (the entry's ``source``, else its file's folder name).
        skipped: The graphs left out, with reasons.
        files: The JSON files read.
    """

    graphs: tuple[Workflow, ...]
    sources: tuple[str, ...]
    skipped: tuple[SkippedGraph, ...]
    files: tuple[str, ...]


def parse_plan(text: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Parse a gold plan into its nodes and its node-to-node edges.

    Args:
        text: The assistant turn.

    Returns:
        ``(nodes, edges)``: nodes as ``(number, text)`` in list order; edges as ``(parent, child)`` numbers, without
        the START / END edges.

    Raises:
        PlanError: no node list, a node number listed twice, no numbered edge, an edge to a node not in the list,
            out of ``END`` or into ``START``.
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _HEADER.match(line)), None)
    if start is None:
        raise PlanError("no 'Node:' list in the plan")
    nodes, end = _node_lines(lines, start + 1)
    if not nodes:
        raise PlanError("the 'Node:' list has no numbered node ('1: ...')")
    numbers = [n for n, _ in nodes]
    if len(set(numbers)) != len(numbers):
        dup = next(n for n in numbers if numbers.count(n) > 1)
        raise PlanError(f"node {dup} is listed twice")
    pairs = [(a.upper(), b.upper()) for a, b in _EDGE.findall("\n".join(lines[end:]))]
    if not pairs:
        raise PlanError("no edges '(a, b)' after the node list")
    known = set(numbers)
    edges = []
    for a, b in pairs:
        if a == "END" or b == "START":
            raise PlanError(f"edge ({a},{b}) {'leaves END' if a == 'END' else 'enters START'}")
        for n in (a, b):
            if n not in ("START", "END") and str(int(n)) not in known:
                raise PlanError(f"edge ({a},{b}) names node {n}, not in the node list ({', '.join(numbers)})")
        if a != "START" and b != "END":
            edges.append((str(int(a)), str(int(b))))
    return nodes, edges


def _node_lines(lines: list[str], first: int) -> tuple[list[tuple[str, str]], int]:
    """The numbered lines from ``first`` on (blank lines skipped) and the index just past them."""
    nodes, i = [], first
    while i < len(lines):
        if lines[i].strip():
            match = _NODE.match(lines[i])
            if not match:
                break
            nodes.append((str(int(match.group(1))), match.group(2)))
        i += 1
    return nodes, i


def graph_workflow(entry: Any, file: str, index: int) -> Workflow:
    """One WorFBench entry as a zero-work :class:`Workflow` (name = its ``id``, source = ``file[index]``).

    Raises:
        PlanError: the entry has no assistant turn, or its plan does not parse (:func:`parse_plan`).
        WorkflowError: the edges have a cycle (the message names a task on it).
    """
    turns = entry.get("conversations") if isinstance(entry, dict) else None
    if not isinstance(turns, list):
        raise PlanError("entry has no 'conversations' list")
    plan = _last_turn(turns, "assistant")
    if plan is None:
        raise PlanError("no assistant turn (the gold plan)")
    nodes, edges = parse_plan(plan)
    env = environment(_last_turn(turns, "user") or "")
    kinds = [int(node_kind(text, env)) for _, text in nodes]
    ids = [n for n, _ in nodes]
    name = str(entry.get("id", f"graph-{index}"))
    return Workflow.from_edges(name, ids, kinds, [0.0] * len(ids), edges, source=f"{file}[{index}]")


def _last_turn(turns: list, role: str) -> str | None:
    for turn in reversed(turns):
        if isinstance(turn, dict) and turn.get("role") == role and isinstance(turn.get("content"), str):
            return turn["content"]
    return None


def load_worfbench(path: str | PathLike[str], *, strict: bool = False) -> WorfbenchGraphs:
    """Load the gold graphs of one WorFBench JSON file, or of every ``*.json`` file under a directory.

    Args:
        path: A ``graph_eval.json``-style file, or a directory searched recursively (sorted by relative path).
        strict: Raise on the first graph that does not parse instead of skipping it.

    Returns:
        The graphs, their sources and the skipped graphs (logged as a warning with their count).

    Raises:
        FileNotFoundError: ``path`` does not exist, or the directory holds no ``.json`` file.
        WorkloadFileError: a file is not JSON or not a JSON list; with ``strict``, a graph that does not parse
            (file, index and id named); without it, when no graph at all parses.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(errno.ENOENT, f"WorFBench path does not exist: {root}", str(root))
    files = [root] if root.is_file() else find_workflow_files(root, (".json",))
    if not files:
        raise FileNotFoundError(errno.ENOENT, f"no WorFBench *.json files under directory {root}", str(root))
    graphs, sources, skipped = [], [], []
    for file in files:
        for index, entry in enumerate(_read_list(file)):
            try:
                graphs.append(graph_workflow(entry, str(file), index))
            except (PlanError, WorkflowError) as err:
                bad = SkippedGraph(str(file), index, str(_get_id(entry)), str(err))
                if strict:
                    raise WorkloadFileError(f"WorFBench graph {bad}") from err
                skipped.append(bad)
                continue
            sources.append(str(entry.get("source") or file.parent.name))
    _report(root, len(graphs), skipped)
    return WorfbenchGraphs(tuple(graphs), tuple(sources), tuple(skipped), tuple(str(f) for f in files))


def _get_id(entry: Any) -> Any:
    return entry.get("id", "?") if isinstance(entry, dict) else "?"


def _read_list(file: Path) -> list:
    try:
        doc = json.loads(file.read_bytes())
    except json.JSONDecodeError as exc:
        raise WorkloadFileError(f"{file}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise WorkloadFileError(f"{file}: invalid JSON: not UTF-8 text ({exc})") from exc
    if not isinstance(doc, list):
        raise WorkloadFileError(f"{file}: a WorFBench file must be a JSON list of conversations")
    return doc


def _report(root: Path, parsed: int, skipped: list[SkippedGraph]) -> None:
    if not parsed:
        reasons = "; ".join(str(s) for s in skipped[:3])
        raise WorkloadFileError(f"{root}: none of the {len(skipped)} WorFBench graphs parses ({reasons})")
    if skipped:
        log.warning(
            "%s: skipped %d of %d WorFBench graphs that do not parse; first: %s",
            root,
            len(skipped),
            parsed + len(skipped),
            skipped[0],
        )
