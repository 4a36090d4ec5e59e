"""What a new user hit on a fresh clone (2026-11-30), one test each: bad input fails before Ray with exit 2, sizes
that cannot fit are refused up front, a stale Ray record is ignored, evaluation pins torch threads, one MLflow store,
``--help`` is complete, dropped workflows are counted, and ``worfbench:PATH`` is a workload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import torch

from scale_rllib.cli import build_parser, main
from scale_rllib.training.memory import estimated_learner_bytes, memory_limit_bytes
from tests.servers import free_port
from tests.test_loaders import _wf_doc, _write_json


def _no_ray() -> None:
    import ray

    assert not ray.is_initialized()


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("{not json", "bad JSON"),  # undecodable
        (json.dumps(_wf_doc({"t_ok": (1.0, []), "t_neg": (-3.0, ["t_ok"])})), "t_neg"),  # a negative runtime
    ],
)
def test_train_on_a_malformed_workflow_file_exits_2_naming_it_before_ray(content, named, tmp_path, capsys):
    bad = tmp_path / "broken.json"
    bad.write_text(content)
    argv = ["train", "--workload", f"wfinstances:{bad}", "--iterations", "1", "--output", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "broken.json" in err and "Traceback" not in err
    if named != "bad JSON":
        assert named in err and "negative" in err
    _no_ray()
    assert not (tmp_path / "run").exists()  # nothing saved, nothing started


def test_train_refuses_a_cluster_size_whose_learner_memory_cannot_fit(tmp_path, capsys):
    assert main(["train", "--servers", "10000", "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "max_servers" in err and "GiB" in err and "--minibatch-size" in err and "Traceback" not in err
    _no_ray()
    # The estimate is the self-attention over N² server pairs: 16 bytes × minibatch × heads × N² dominates at N=10⁴.
    assert estimated_learner_bytes(10_000, 4000, 500, 64, 4) > 16 * 500 * 4 * 10_000**2
    assert estimated_learner_bytes(20, 4000, 500, 64, 4) < 0.01 * memory_limit_bytes()  # the defaults pass easily


def test_local_ray_ignores_a_stale_cluster_record(tmp_path):
    """A `ray_current_cluster` naming a dead cluster (in this test's own Ray temp dir) must not be joined."""
    temp = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))  # short: Ray's socket paths must fit in 107 characters
    (temp / "ray").mkdir()
    (temp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{free_port()}")
    script = textwrap.dedent("""
        import ray
        from scale_rllib.training import init_ray
        init_ray(None)
        print("CPUS", ray.cluster_resources().get("CPU", 0) > 0)
        ray.shutdown()
    """)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_TMPDIR": str(temp)}
    try:
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    finally:
        subprocess.run(["rm", "-rf", str(temp)], check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "CPUS True" in proc.stdout


def test_evaluate_pins_torch_threads_and_takes_a_flag(tmp_path):
    base = ["evaluate", "--servers", "4", "--episodes", "1", "--workflows-per-server", "1", "--schedulers", "eft"]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert main([*base, "--output", str(tmp_path / "a")]) == 0
        assert torch.get_num_threads() == 1
        assert main([*base, "--num-threads", "2", "--output", str(tmp_path / "b")]) == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_one_mlflow_store_in_the_project_directory_by_default(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)
    base = ["evaluate", "--servers", "4", "--episodes", "1", "--workflows-per-server", "1", "--schedulers", "eft"]
    assert main([*base, "--output", "first"]) == 0 and main([*base, "--output", "second"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first", "mlflow.db", "mlruns", "second"]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert sorted(r.info.run_name for r in runs) == ["evaluate-first", "evaluate-second"]


def test_help_shows_defaults_describes_every_flag_and_lists_every_workload():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and "train" in a.choices).choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            if action.option_strings and action.help != "==SUPPRESS==":
                assert action.help, (name, action.option_strings)
        text = sub.format_help()
        assert "``" not in text and ":class:" not in text, name
    train_help = subparsers["train"].format_help()
    assert "(default: 16)" in train_help  # --servers
    for kind in ("agentic-real:", "worfbench:PATH", "wfinstances:PATH", "dax:PATH", "dws:DIR"):
        assert kind in train_help, kind


def test_workflows_dropped_by_max_tasks_are_counted(tmp_path, capsys):
    for i, size in enumerate((2, 5, 8)):
        tasks = {f"t{j}": (1.0, [f"t{j - 1}"] if j else []) for j in range(size)}
        (tmp_path / "wf").mkdir(exist_ok=True)
        _write_json(tmp_path / "wf" / f"w{i}.json", _wf_doc(tasks))
    from scale_rllib.workloads.formats.files import load_workflows

    with pytest.warns(UserWarning, match=r"2 of 3 wfinstances workflow\(s\) left out: .*max_tasks=4"):
        kept = load_workflows(tmp_path / "wf", fmt="wfinstances", max_tasks=4)
    assert [w.num_tasks for w in kept] == [2]


def test_worfbench_path_is_a_workload(shared_data):
    import numpy as np

    from scale_rllib import EnvConfig, SchedulingEnv, make_scheduler, run_episode
    from scale_rllib.workloads import make_workload

    spec = f"worfbench:{shared_data / 'worfbench' / 'os'}"
    workload = make_workload(spec)
    flows = workload.sample(np.random.default_rng(0), 50)
    assert all(w.work.min() > 0 for w in flows) and workload.mean_work_by_kind().sum() > 0
    result = run_episode(SchedulingEnv(EnvConfig.fixed(8, workload=spec)), make_scheduler("eft"), seed=0)
    assert result.mean_response_time_s >= result.lower_bound_s > 0
