"""Tests of the WorFBench gold-graph loader and its task-kind rule, on the real files and on malformed plans."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from scale_rllib.sim.workflow import TaskKind
from scale_rllib.workloads.errors import WorkloadFileError
from scale_rllib.workloads.formats.worfbench import PlanError, load_worfbench, parse_plan
from scale_rllib.workloads.generators.worfbench_kinds import environment, node_kind

SOURCES = ["alfworld", "intercodesql", "lumos", "os", "toolalpaca", "webshop", "wikihow"]
SQL_USER = "Task: count cities\nThe database tables and corresponding fields you can operate are: {'city': ['ID']}"
TOOL_USER = "Task: buy\nThe action list you can take: search[keywords]\nclick[value]."


def _entry(plan: str, user: str = TOOL_USER, gid: str = "g") -> dict:
    turns = [{"role": "system", "content": "plan"}, {"role": "user", "content": user}]
    return {"id": gid, "source": "test", "conversations": [*turns, {"role": "assistant", "content": plan}]}


def _write(path: Path, entries: list) -> Path:
    path.write_text(json.dumps(entries))
    return path


# ---------------------------------------------------------------------------------------------------- real data
@pytest.mark.parametrize("source", SOURCES)
def test_every_real_graph_parses_into_a_dag(shared_data: Path, source: str, caplog) -> None:
    file = shared_data / "worfbench" / source / "graph_eval.json"
    entries = json.loads(file.read_text())
    with caplog.at_level(logging.WARNING):
        result = load_worfbench(file)
    skipped = [str(s) for s in result.skipped]
    print(f"{source}: {len(result.graphs)} parsed, {len(skipped)} skipped {skipped}")
    assert len(result.graphs) + len(result.skipped) == len(entries)
    assert not result.skipped, skipped  # every gold graph of the shared data parses (see the report)
    for graph, entry in zip(result.graphs, entries):
        assert graph.name == entry["id"]
        assert graph.task_ids == tuple(str(i) for i in range(1, graph.num_tasks + 1))  # nodes 1..n, one task each
        first_line = entry["conversations"][-1]["content"].split("Node:")[1].strip().splitlines()[0]
        assert first_line.startswith("1")
        position = np.empty(graph.num_tasks, dtype=int)
        position[graph.topo_order] = np.arange(graph.num_tasks)
        assert all(position[p] < position[c] for c in range(graph.num_tasks) for p in graph.parents[c])
    assert set(result.sources) == {source}


def test_directory_loads_all_1809_graphs(shared_data: Path) -> None:
    result = load_worfbench(shared_data / "worfbench")
    assert len(result.files) == 7
    assert len(result.graphs) == 1809 and not result.skipped
    assert sum(g.num_tasks for g in result.graphs) > 5 * 1809 // 2  # graphs of several nodes, not one


def test_real_kinds_follow_the_environment(shared_data: Path) -> None:
    kinds = {
        s: np.concatenate([g.kinds for g in load_worfbench(shared_data / "worfbench" / s).graphs]) for s in SOURCES
    }
    assert np.all(kinds["wikihow"] == TaskKind.LLM)  # plain-text steps: nothing executable
    assert np.isin(kinds["intercodesql"], [TaskKind.CODE, TaskKind.LLM]).all()
    assert np.mean(kinds["intercodesql"] == TaskKind.CODE) > 0.95
    assert np.mean(kinds["alfworld"] == TaskKind.TOOL) > 0.9  # go to / take / put
    assert np.isin(kinds["os"], [TaskKind.CODE, TaskKind.LLM]).all()
    webshop = load_worfbench(shared_data / "worfbench" / "webshop").graphs
    assert (webshop[1].kinds[0], webshop[1].kinds[1]) == (TaskKind.RETRIEVAL, TaskKind.TOOL)  # search[...], click


# ---------------------------------------------------------------------------------------------------- parsing
def test_parse_plan_diamond_with_start_end_and_bullets() -> None:
    plan = "Node:\n1: Retrieve a\n2. Retrieve b\n\n3: Answer\nEdge:\n- (START, 1)\n- (start,2)\n- (1, 3) (2,3)\n(3,END)"
    nodes, edges = parse_plan(plan)
    assert nodes == [("1", "Retrieve a"), ("2", "Retrieve b"), ("3", "Answer")]
    assert edges == [("1", "3"), ("2", "3")]


def test_node_without_edges_is_an_independent_task(tmp_path: Path) -> None:
    plan = "Node:\n1: search[x]\n2: click y\n3: click z\nEdge: (START,1) (1,2) (2,END)"
    graph = load_worfbench(_write(tmp_path / "g.json", [_entry(plan)])).graphs[0]
    assert graph.parents == ((), (0,), ()) and graph.children == ((1,), (), ())


@pytest.mark.parametrize(
    ("plan", "reason"),
    [
        ("Node:\n1: a\n2: b\nEdge: (START,1) (1,2) (2,1) (2,END)", "cycle"),
        ("Node:\n1: a\nEdge: (START,1) (1,7) (1,END)", "names node 7, not in the node list"),
        ("Steps: do a, then b", "no 'Node:' list"),
        ("Node:\n1: a\n2: b\nThey run in order.", "no edges"),
        ("Node:\n1: a\n1: b\nEdge: (START,1) (1,END)", "node 1 is listed twice"),
        ("Node:\n1: a\nEdge: (END,1)", "leaves END"),
    ],
)
def test_bad_graph_is_skipped_with_file_index_and_reason(tmp_path: Path, plan: str, reason: str, caplog) -> None:
    good = _entry("Node:\n1: search[x]\nEdge: (START,1) (1,END)", gid="ok")
    file = _write(tmp_path / "graphs.json", [good, _entry(plan, gid="bad")])
    with caplog.at_level(logging.WARNING, logger="scale_rllib.workloads.formats.worfbench"):
        result = load_worfbench(file)
    assert [g.name for g in result.graphs] == ["ok"]
    (skipped,) = result.skipped
    assert (skipped.file, skipped.index, skipped.graph_id) == (str(file), 1, "bad")
    assert reason in skipped.reason
    assert "skipped 1 of 2" in caplog.text and f"{file}[1]" in caplog.text
    with pytest.raises(WorkloadFileError, match=re.escape(f"{file}[1] (id 'bad')") + ".*" + re.escape(reason)):
        load_worfbench(file, strict=True)


def test_entry_without_assistant_turn_is_skipped(tmp_path: Path) -> None:
    entry = _entry("Node:\n1: a\nEdge: (START,1) (1,END)")
    bad = {"id": "x", "conversations": entry["conversations"][:2]}
    result = load_worfbench(_write(tmp_path / "g.json", [entry, bad, {"no": "conversations"}]))
    assert len(result.graphs) == 1
    assert [s.reason for s in result.skipped] == [
        "no assistant turn (the gold plan)",
        "entry has no 'conversations' list",
    ]


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_worfbench(tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match="no WorFBench"):
        load_worfbench(tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(WorkloadFileError, match="bad.json: invalid JSON at line 1"):
        load_worfbench(tmp_path / "bad.json")
    _write(tmp_path / "bad.json", {"a": 1})
    with pytest.raises(WorkloadFileError, match="must be a JSON list"):
        load_worfbench(tmp_path / "bad.json")
    _write(tmp_path / "bad.json", [_entry("no plan")])
    with pytest.raises(WorkloadFileError, match="none of the 1 WorFBench graphs parses"):
        load_worfbench(tmp_path / "bad.json")


def test_parse_plan_raises_plan_error() -> None:
    with pytest.raises(PlanError, match="enters START"):
        parse_plan("Node:\n1: a\nEdge: (1,START)")


# ---------------------------------------------------------------------------------------------------- kinds
@pytest.mark.parametrize(
    ("user", "env"),
    [
        ("My problem is: x. The action list you can take: bash: execute some bash code\nanswer: answer", "code"),
        (SQL_USER, "code"),
        ("Task: q. The api list you can use: {'VQA(image_context, query)': 'v', 'QA(context, query)': 'q'}", "llm"),
        ("Task: q. The api list you can use: []", "llm"),
        ("Task: How to X\nThe action list you can take: ['Heat it (40 °C).', 'Trim the video(s).']", "llm"),
        ("Task: q. The api list you can use: {'Calculator(formula)': 'c', 'QA(context, query)': 'q'}", "tools"),
        ("Task: q. The api list you can use: [{'name': 'getQuote', 'description': 'd'}]", "tools"),
        (TOOL_USER, "tools"),
        ("Your task is to: put a mug.The action list you can take: 1. go to {recep}\n2. open {recep}", "tools"),
    ],
)
def test_environment(user: str, env: str) -> None:
    assert environment(user) == env


@pytest.mark.parametrize(
    ("text", "env", "kind"),
    [
        ("Join the tables on id", "code", TaskKind.CODE),
        ("take answer action", "code", TaskKind.LLM),
        ("Output the count", "code", TaskKind.LLM),
        ("search[red shoes]", "tools", TaskKind.RETRIEVAL),
        ("Retrieve the stock data", "tools", TaskKind.RETRIEVAL),
        ("Select the choice from the answers", "tools", TaskKind.LLM),
        ("Calculate the total cost", "tools", TaskKind.CODE),
        ("click on 'Buy Now'", "tools", TaskKind.TOOL),
        ("go to fridge 1", "tools", TaskKind.TOOL),
        ("Retrieve the stock data", "llm", TaskKind.LLM),
    ],
)
def test_node_kind(text: str, env: str, kind: TaskKind) -> None:
    assert node_kind(text, env) == kind


def test_node_kind_rejects_unknown_environment() -> None:
    with pytest.raises(ValueError, match="unknown WorFBench environment"):
        node_kind("x", "web")
