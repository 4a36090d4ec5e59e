"""Loader for Pegasus DAX 2.x workflow files (XML), e.g. the DWS benchmark's ``CyberShake_30.xml``.

Layout read (namespace ``http://pegasus.isi.edu/schema/DAX``; elements without a namespace are accepted too)::

    <adag>
      <job id="ID00000" runtime="13.39">              runtime in seconds
        <uses file="f" link="output" size="4167312"/>  size in bytes (optional, 0 if absent)
      </job>
      <child ref="ID00005"> <parent ref="ID00000"/> </child>
    </adag>

Each job becomes a :attr:`TaskKind.COMPUTE` task with ``work = runtime × work_scale`` (work units, i.e. seconds on
a speed-1 server; the DWS benchmark uses ``work_scale=16``); ``output_size`` is the total ``size`` of its
``uses`` with ``link="output"`` (bytes); each ``<parent ref>`` inside a ``<child ref>`` is an edge parent → child.

Source of the reference data: Pegasus workflow generator DAXes (Bharathi et al., 2008) as shipped by DWS-Testbed
(MIT).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from os import PathLike
from pathlib import Path

from scale_rllib.sim.workflow import TaskKind, Workflow
from scale_rllib.workloads.errors import WorkloadFileError
from scale_rllib.workloads.formats.wfformat import check_work_scale, workflow_name

__all__ = ["load_dax"]


def load_dax(path: str | PathLike[str], *, work_scale: float = 1.0) -> Workflow:
    """Load one Pegasus DAX 2.x file as a :class:`Workflow`.

    Args:
        path: The ``.xml`` / ``.dax`` file.
        work_scale: Work units per second of DAX ``runtime`` (> 0); 16 for the DWS benchmark.

    Returns:
        The workflow, named after the file stem (``Montage_25.xml`` → ``Montage_25``), ``source`` = the path;
        every task is ``TaskKind.COMPUTE`` with work in work units and output_size in bytes.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        WorkloadFileError: malformed XML (the parser's line and column are quoted), a root other than ``<adag>``,
            a job without an id, a missing, non-numeric, negative or non-finite runtime or size, a ``<child>`` or
            ``<parent>`` without ``ref`` or naming an unknown job. The message names the file and the job id.
        WorkflowError: the DAG is invalid (cycle, duplicate job id), from :meth:`Workflow.from_edges`.
        ValueError: ``work_scale`` is not a finite positive number.
    """
    path = Path(path)
    scale = check_work_scale(work_scale)
    src = str(path)
    root = _parse(path)
    ids: list[str] = []
    work: list[float] = []
    out: list[float] = []
    deps: list[ET.Element] = []
    for k, elem in enumerate(root):
        tag = _local(elem.tag)
        if tag == "job":
            jid = elem.get("id")
            if not jid:
                raise WorkloadFileError(f"{src}: <job> #{k} has no 'id' attribute")
            ids.append(jid)
            work.append(_attr_number(elem, "runtime", f"job {jid!r}", src, required=True) * scale)
            out.append(_output_size(elem, jid, src))
        elif tag == "child":
            deps.append(elem)
    edges = _edges(deps, set(ids), src)
    kinds = [int(TaskKind.COMPUTE)] * len(ids)
    return Workflow.from_edges(workflow_name(path), ids, kinds, work, edges, source=src, output_size=out)


def _parse(path: Path) -> ET.Element:
    """Parse the XML file and return its ``<adag>`` root."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line, col = exc.position
        detail = str(exc) if f"line {line}" in str(exc) else f"{exc} (line {line}, column {col})"
        raise WorkloadFileError(f"{path}: malformed XML: {detail}") from exc
    if _local(root.tag) != "adag":
        raise WorkloadFileError(f"{path}: root element is <{_local(root.tag)}>, expected a Pegasus DAX <adag>")
    return root


def _local(tag: str) -> str:
    """Tag name without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _attr_number(elem: ET.Element, attr: str, who: str, src: str, *, required: bool) -> float:
    """A non-negative finite numeric attribute (0 if absent and not required)."""
    text = elem.get(attr)
    if text is None:
        if required:
            raise WorkloadFileError(f"{src}: {who} has no {attr!r} attribute")
        return 0.0
    try:
        value = float(text)
    except ValueError as exc:
        raise WorkloadFileError(f"{src}: {who} has non-numeric {attr}={text!r}") from exc
    if not math.isfinite(value):
        raise WorkloadFileError(f"{src}: {who} has non-finite {attr}={text!r}")
    if value < 0:
        raise WorkloadFileError(f"{src}: {who} has negative {attr}={text!r}")
    return value


def _output_size(job: ET.Element, jid: str, src: str) -> float:
    """Total ``size`` (bytes) of the job's ``<uses link="output">`` files."""
    total = 0.0
    for uses in job:
        if _local(uses.tag) == "uses" and uses.get("link") == "output":
            name = uses.get("file") or uses.get("name") or "?"
            total += _attr_number(uses, "size", f"job {jid!r} output file {name!r}", src, required=False)
    return total


def _edges(deps: list[ET.Element], known: set[str], src: str) -> list[tuple[str, str]]:
    """(parent, child) pairs from ``<child ref><parent ref/></child>`` elements, checking every ref exists."""
    edges: list[tuple[str, str]] = []
    for child in deps:
        cid = child.get("ref")
        if not cid:
            raise WorkloadFileError(f"{src}: a <child> element has no 'ref' attribute")
        if cid not in known:
            raise WorkloadFileError(f"{src}: <child ref={cid!r}> names an unknown job {cid!r}")
        for parent in child:
            if _local(parent.tag) != "parent":
                continue
            pid = parent.get("ref")
            if not pid:
                raise WorkloadFileError(f"{src}: job {cid!r}: a <parent> element has no 'ref' attribute")
            if pid not in known:
                raise WorkloadFileError(f"{src}: job {cid!r} has unknown parent {pid!r} (<parent ref={pid!r}>)")
            edges.append((pid, cid))
    return edges
