"""Faults during training: an env runner killed mid-run, and the training process itself killed and resumed."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scale_rllib import metrics as M
from scale_rllib.checkpoints import find_checkpoint, read_metadata

TRAIN = [
    sys.executable,
    "-m",
    "scale_rllib.cli",
    "train",
    "--servers-range",
    "6",
    "10",
    "--workflows-per-server",
    "1",
    "--envs-per-runner",
    "1",
    "--train-batch-size",
    "256",
    "--minibatch-size",
    "128",
    "--checkpoint-every",
    "1",
]


def _env_runner_pids(driver_pid: int) -> list[int]:
    """PIDs of env runner actor processes (their process title names the actor class)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"SingleAgentEnvRunner" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _wait_for_checkpoint(ckpt: Path, iteration: int, proc: subprocess.Popen, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = find_checkpoint(ckpt)
        if found is not None and read_metadata(found)["iteration"] >= iteration:
            return read_metadata(found)
        assert proc.poll() is None, f"training exited early with {proc.returncode}"
        time.sleep(0.5)
    raise TimeoutError(f"no checkpoint of iteration {iteration} in {ckpt}")


def _history(db: Path, run_id: str, key: str) -> list[tuple[int, float]]:
    from mlflow.tracking import MlflowClient

    return sorted((m.step, m.value) for m in MlflowClient(f"sqlite:///{db}").get_metric_history(run_id, key))


def test_killed_env_runner_is_restarted_and_training_finishes(tmp_path):
    out = tmp_path / "run"
    cmd = [*TRAIN, "--num-env-runners", "2", "--iterations", "6", "--output", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        meta = _wait_for_checkpoint(out / "checkpoint", 2, proc)
        victims = _env_runner_pids(proc.pid)
        assert len(victims) == 2
        os.kill(victims[0], signal.SIGKILL)
        output, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, output[-3000:]
    final = read_metadata(out / "checkpoint")
    assert final["iteration"] == 6 and final["mlflow_run_id"] == meta["mlflow_run_id"]
    for key in (M.TRAIN_ENV_STEPS, "train/policy_loss", M.SRR_KL, M.SRR_DECORRELATION):
        history = _history(out / "mlflow.db", meta["mlflow_run_id"], key)
        assert [step for step, _ in history] == [1, 2, 3, 4, 5, 6], key  # no iteration without metrics
        assert all(math.isfinite(value) for _, value in history), key
    steps = [value for _, value in _history(out / "mlflow.db", meta["mlflow_run_id"], M.TRAIN_ENV_STEPS)]
    assert all(b > a for a, b in zip(steps, steps[1:]))  # sampling went on after the kill


def test_killed_training_resumes_from_checkpoint_in_same_mlflow_run(tmp_path):
    out = tmp_path / "run"
    cmd = [*TRAIN, "--num-env-runners", "1", "--iterations", "5", "--output", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        killed_at = _wait_for_checkpoint(out / "checkpoint", 1, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
        proc.wait()
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = read_metadata(out / "checkpoint")
    assert final["iteration"] == 5 and final["mlflow_run_id"] == killed_at["mlflow_run_id"]
    from mlflow.tracking import MlflowClient

    runs = MlflowClient(f"sqlite:///{out / 'mlflow.db'}").search_runs(["0", "1"])
    assert [r.info.run_id for r in runs] == [killed_at["mlflow_run_id"]]  # no second run
    assert runs[0].info.status == "FINISHED"
    steps = [step for step, _ in _history(out / "mlflow.db", killed_at["mlflow_run_id"], M.TRAIN_ENV_STEPS)]
    assert sorted(set(steps)) == [1, 2, 3, 4, 5]
    redone = len(steps) - len(set(steps))
    assert redone <= 1  # at most the one iteration after the last checkpoint was lost and run again
