"""Tests of the WfFormat / DAX loaders and the directory loader, on the real files and on malformed inputs."""

from __future__ import annotations

import gzip
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from scale_rllib.sim.workflow import TaskKind, WorkflowError
from scale_rllib.workloads.errors import WorkloadFileError
from scale_rllib.workloads.formats.dax import load_dax
from scale_rllib.workloads.formats.files import clear_workflow_cache, load_workflows
from scale_rllib.workloads.formats.wfformat import load_wfformat

APPS = ["1000genome", "cycles", "epigenomics", "montage", "seismology", "soykb", "srasearch"]
DAX_NS = "{http://pegasus.isi.edu/schema/DAX}"


# ---------------------------------------------------------------------------------------------------- helpers
def _wf_doc(tasks: dict[str, tuple[float | None, list[str]]], version: str = "1.5") -> dict:
    """A WfFormat 1.5 document; ``tasks`` maps id → (runtime or None to omit it, parent ids)."""
    children: dict[str, list[str]] = {t: [] for t in tasks}
    for tid, (_, parents) in tasks.items():
        for p in parents:
            children.setdefault(p, []).append(tid)
    spec = [{"name": t, "id": t, "parents": ps, "children": children[t]} for t, (_, ps) in tasks.items()]
    execution = [{"id": t, "runtimeInSeconds": rt} for t, (rt, _) in tasks.items() if rt is not None]
    return {
        "name": "synthetic",
        "schemaVersion": version,
        "workflow": {"specification": {"tasks": spec}, "execution": {"tasks": execution}},
    }


def _write_json(path: Path, doc: dict) -> Path:
    data = json.dumps(doc).encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def _write_dax(path: Path, jobs: dict[str, str | None], deps: dict[str, list[str]]) -> Path:
    """A DAX 2.1 file; ``jobs`` maps id → runtime attribute text (None to omit it); ``deps`` child → parents."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<adag xmlns="http://pegasus.isi.edu/schema/DAX" version="2.1">']
    for jid, rt in jobs.items():
        rt_attr = "" if rt is None else f' runtime="{rt}"'
        lines.append(f'  <job id="{jid}" name="x"{rt_attr}><uses file="o_{jid}" link="output" size="10"/></job>')
    for child, parents in deps.items():
        lines.append(f'  <child ref="{child}">' + "".join(f'<parent ref="{p}"/>' for p in parents) + "</child>")
    lines.append("</adag>")
    path.write_text("\n".join(lines))
    return path


def _num_edges(wf) -> int:
    return sum(len(p) for p in wf.parents)


# ---------------------------------------------------------------------------------------------------- real data
@pytest.mark.parametrize("app", APPS)
def test_wfinstances_app_loads(shared_data: Path, app: str) -> None:
    files = sorted((shared_data / "wfinstances" / "pegasus" / app).glob("*.json.gz"))
    assert files, f"no WfInstances files for {app}"
    doc = json.loads(gzip.decompress(files[0].read_bytes()))
    spec = doc["workflow"]["specification"]
    wf = load_wfformat(files[0])
    assert wf.num_tasks == len(spec["tasks"])
    assert wf.name == files[0].name.removesuffix(".json.gz")
    assert wf.work.sum() > 0
    assert np.all(wf.kinds == TaskKind.COMPUTE)
    runtime = {t["id"]: t["runtimeInSeconds"] for t in doc["workflow"]["execution"]["tasks"]}
    np.testing.assert_allclose(wf.work, [runtime[t] for t in wf.task_ids])
    edges = {(p, t["id"]) for t in spec["tasks"] for p in t["parents"]}
    edges |= {(t["id"], c) for t in spec["tasks"] for c in t["children"]}
    assert _num_edges(wf) == len(edges)
    size = {f["id"]: f["sizeInBytes"] for f in spec["files"]}
    expected_out = [sum(size[f] for f in t.get("outputFiles", [])) for t in spec["tasks"]]
    np.testing.assert_allclose(wf.output_size, expected_out)


def test_wfinstances_work_scale(shared_data: Path) -> None:
    path = min((shared_data / "wfinstances" / "pegasus" / "srasearch").glob("*.json.gz"))
    np.testing.assert_allclose(load_wfformat(path, work_scale=2.5).work, 2.5 * load_wfformat(path).work)
    with pytest.raises(ValueError, match="work_scale"):
        load_wfformat(path, work_scale=0)


def test_montage_25_dax(shared_data: Path) -> None:
    path = shared_data / "dws" / "dax" / "Montage_25.xml"
    root = ET.parse(path).getroot()
    runtime = {j.get("id"): float(j.get("runtime")) for j in root.iter(f"{DAX_NS}job")}
    pairs = {(p.get("ref"), c.get("ref")) for c in root.iter(f"{DAX_NS}child") for p in c.iter(f"{DAX_NS}parent")}
    wf = load_dax(path, work_scale=16)
    assert wf.name == "Montage_25"
    assert wf.num_tasks == 25
    np.testing.assert_allclose(wf.work, [16 * runtime[t] for t in wf.task_ids])
    assert _num_edges(wf) == len(pairs) == 45
    assert wf.output_size[wf.task_ids.index("ID00000")] == 2 * 4167312
    assert np.all(wf.kinds == TaskKind.COMPUTE)


def test_load_all_dax(shared_data: Path) -> None:
    directory = shared_data / "dws" / "dax"
    workflows = load_workflows(directory, fmt="dax", work_scale=16)
    stems = sorted(p.stem for p in directory.glob("*.xml"))
    assert [w.name for w in workflows] == stems
    assert all(w.work.sum() > 0 for w in workflows)


def test_load_all_wfinstances(shared_data: Path) -> None:
    directory = shared_data / "wfinstances"  # also holds wfformat-1.5-schema.json, which must be skipped
    workflows = load_workflows(directory, fmt="wfinstances")
    assert len(workflows) == len(list(directory.rglob("*.json.gz")))
    assert {Path(w.source).parent.name for w in workflows} == set(APPS)


def test_directory_filter_and_cache(shared_data: Path) -> None:
    directory = shared_data / "wfinstances" / "pegasus" / "srasearch"
    everything = load_workflows(directory, fmt="wfinstances")
    small = load_workflows(directory, fmt="wfinstances", max_tasks=64)
    assert 0 < len(small) < len(everything)
    assert [w for w in everything if w.num_tasks <= 64] == small  # same cached objects, same order
    assert all(a is b for a, b in zip(everything, load_workflows(directory, fmt="wfinstances")))
    assert not everything[0].work.flags.writeable
    with pytest.raises(ValueError, match="srasearch.*max_tasks=1"):
        load_workflows(directory, fmt="wfinstances", max_tasks=1)


# ---------------------------------------------------------------------------------------------------- directory loader
def test_missing_path_and_empty_dir(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        load_workflows(tmp_path / "no_such_dir", fmt="dax")
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(FileNotFoundError, match=tmp_path.name):
        load_workflows(tmp_path, fmt="wfinstances")
    with pytest.raises(ValueError, match="unknown workload format"):
        load_workflows(tmp_path, fmt="yaml")


def test_directory_recursive_sorted_and_reparsed(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    _write_json(tmp_path / "b" / "first.json", _wf_doc({"t1": (1.0, [])}))
    second = _write_json(tmp_path / "a" / "second.json.gz", _wf_doc({"t1": (2.0, []), "t2": (3.0, ["t1"])}))
    (tmp_path / "a" / "ignored.xml").write_text("<adag/>")
    workflows = load_workflows(tmp_path, fmt="wfinstances", work_scale=2)
    assert [w.name for w in workflows] == ["second", "first"]
    assert workflows[0].work.tolist() == [4.0, 6.0]
    _write_json(second, _wf_doc({"t1": (5.0, [])}))
    stat = second.stat()
    os.utime(second, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert load_workflows(second, fmt="wfinstances").pop().work.tolist() == [5.0]
    clear_workflow_cache()


# ---------------------------------------------------------------------------------------------------- malformed inputs
def _raises(exc_type: type[Exception], fn, path: Path, *needles: str) -> str:
    with pytest.raises(exc_type) as info:
        fn(path)
    msg = str(info.value)
    for needle in (path.name, *needles):
        assert needle in msg, f"{needle!r} not in error message {msg!r}"
    return msg


def test_cycle(tmp_path: Path) -> None:
    tasks = {"t_start": (1.0, []), "t_loop_a": (1.0, ["t_start", "t_loop_b"]), "t_loop_b": (1.0, ["t_loop_a"])}
    msg = _raises(WorkflowError, load_wfformat, _write_json(tmp_path / "cyclic.json", _wf_doc(tasks)), "cycle")
    assert "t_loop_a" in msg or "t_loop_b" in msg
    dax = _write_dax(tmp_path / "cyclic.xml", {"J0": "1", "J1": "1", "J2": "1"}, {"J1": ["J0", "J2"], "J2": ["J1"]})
    msg = _raises(WorkflowError, load_dax, dax, "cycle")
    assert "J1" in msg or "J2" in msg


def test_missing_parent(tmp_path: Path) -> None:
    tasks = {"t_root": (1.0, []), "t_orphan": (1.0, ["t_ghost"])}
    path = _write_json(tmp_path / "orphan.json.gz", _wf_doc(tasks))
    _raises(WorkloadFileError, load_wfformat, path, "t_orphan", "t_ghost")
    dax = _write_dax(tmp_path / "orphan.xml", {"J0": "1", "J1": "1"}, {"J1": ["J0", "J_GHOST"]})
    _raises(WorkloadFileError, load_dax, dax, "J1", "J_GHOST")


def test_negative_runtime(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "negative.json", _wf_doc({"t_ok": (1.0, []), "t_neg": (-3.0, ["t_ok"])}))
    _raises(WorkloadFileError, load_wfformat, path, "t_neg", "negative")
    dax = _write_dax(tmp_path / "negative.xml", {"J0": "1", "J_NEG": "-2.5"}, {})
    _raises(WorkloadFileError, load_dax, dax, "J_NEG", "negative")


def test_missing_runtime(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "noruntime.json", _wf_doc({"t_ok": (1.0, []), "t_none": (None, ["t_ok"])}))
    _raises(WorkloadFileError, load_wfformat, path, "t_none", "runtime")
    dax = _write_dax(tmp_path / "noruntime.xml", {"J0": "1", "J_NONE": None}, {})
    _raises(WorkloadFileError, load_dax, dax, "J_NONE", "runtime")
    dax = _write_dax(tmp_path / "textruntime.xml", {"J_TEXT": "fast"}, {})
    _raises(WorkloadFileError, load_dax, dax, "J_TEXT", "runtime")


def test_bad_xml(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text('<adag>\n  <job id="J0" runtime="1">\n</adag>\n')
    _raises(WorkloadFileError, load_dax, path, "line 3")
    path = tmp_path / "notdax.xml"
    path.write_text("<html/>")
    _raises(WorkloadFileError, load_dax, path, "adag")


def test_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x",\n "schemaVersion": ')
    _raises(WorkloadFileError, load_wfformat, path, "invalid JSON", "line 2")


def test_bad_gzip(tmp_path: Path) -> None:
    path = tmp_path / "garbage.json.gz"
    path.write_bytes(b"\x1f\x8bthis is not gzip data")
    _raises(WorkloadFileError, load_wfformat, path, "gzip")
    path = tmp_path / "truncated.json.gz"
    path.write_bytes(gzip.compress(json.dumps(_wf_doc({"t": (1.0, [])})).encode())[:-12])
    _raises(WorkloadFileError, load_wfformat, path, "gzip")


def test_missing_key_and_version(tmp_path: Path) -> None:
    doc = _wf_doc({"t1": (1.0, [])})
    del doc["workflow"]["execution"]
    _raises(WorkloadFileError, load_wfformat, _write_json(tmp_path / "noexec.json", doc), "workflow.execution")
    doc = _wf_doc({"t1": (1.0, [])})
    del doc["workflow"]["specification"]["tasks"][0]["children"]
    path = _write_json(tmp_path / "nochildren.json", doc)
    _raises(WorkloadFileError, load_wfformat, path, "t1", "workflow.specification.tasks[0].children")
    path = _write_json(tmp_path / "v2.json", _wf_doc({"t1": (1.0, [])}, version="2.0"))
    _raises(WorkloadFileError, load_wfformat, path, "schemaVersion", "2.0")
    assert load_wfformat(_write_json(tmp_path / "v14.json", _wf_doc({"t1": (1.0, [])}, version="1.4"))).num_tasks == 1


def test_edges_union_of_parents_and_children(tmp_path: Path) -> None:
    doc = _wf_doc({"t1": (1.0, []), "t2": (2.0, []), "t3": (3.0, ["t1"])})
    doc["workflow"]["specification"]["tasks"][0]["children"].append("t2")  # t1 → t2 only from t1's children
    wf = load_wfformat(_write_json(tmp_path / "union.json", doc))
    assert wf.children[wf.task_ids.index("t1")] == (wf.task_ids.index("t2"), wf.task_ids.index("t3"))
    assert _num_edges(wf) == 2
