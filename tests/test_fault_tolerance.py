"""Faults during training: an env runner killed mid-run, and the training process itself killed and resumed."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from mlflow.tracking import MlflowClient

from scale_rllib import EnvConfig, TrainConfig
from scale_rllib import metrics as M
from scale_rllib.training.checkpoints import find_checkpoint, read_metadata
from scale_rllib.training.ppo import build_ppo_config

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
    """PIDs of the env runner actors of the training process ``driver_pid``: among its own descendants (the local Ray
    it started, whose raylet forks the workers), those whose process title names the actor class. Env runners of
    any other Ray job on the machine are not descendants, so they are never counted nor touched."""
    try:
        descendants = psutil.Process(driver_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    pids = []
    for proc in descendants:
        try:
            if any("SingleAgentEnvRunner" in part for part in proc.cmdline()):
                pids.append(proc.pid)
        except psutil.Error:
            continue
    return pids


def test_env_runner_lookup_sees_only_the_training_process_own_runners(tmp_path):
    """Another job's env runner on the machine (a decoy titled like one) is neither counted nor a kill target."""
    title = "ray::SingleAgentEnvRunner.sample"
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", title], start_new_session=True)
    parent = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', "
         f"'import time; time.sleep(120)', {title!r}])"],  # a 'driver' whose child is titled like an env runner
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not _env_runner_pids(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        found = _env_runner_pids(parent.pid)
        assert len(found) == 1 and decoy.pid not in found
    finally:
        for proc in (decoy, parent):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_for_checkpoint(ckpt: Path, iteration: int, proc: subprocess.Popen, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = find_checkpoint(ckpt)
        if found is not None and read_metadata(found)["iteration"] >= iteration:
            return read_metadata(found)
        assert proc.poll() is None, f"training exited early with {proc.returncode}"
        time.sleep(0.5)
    raise TimeoutError(f"no checkpoint of iteration {iteration} in {ckpt}")


def _history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in MlflowClient(uri).get_metric_history(run_id, key))


def test_killed_env_runner_is_restarted_and_training_finishes(tmp_path, tracking_uri):
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
        history = _history(tracking_uri, meta["mlflow_run_id"], key)
        assert [step for step, _ in history] == [1, 2, 3, 4, 5, 6], key  # no iteration without metrics
        assert all(math.isfinite(value) for _, value in history), key
    steps = [value for _, value in _history(tracking_uri, meta["mlflow_run_id"], M.TRAIN_ENV_STEPS)]
    assert all(b > a for a, b in zip(steps, steps[1:]))  # sampling went on after the kill


def test_killed_training_resumes_from_checkpoint_in_same_mlflow_run(tmp_path, tracking_uri):
    out = tmp_path / "resumed-run"
    cmd = [*TRAIN, "--num-env-runners", "1", "--iterations", "5", "--output", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        killed_at = _wait_for_checkpoint(out / "checkpoint", 1, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
        proc.wait()
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # Notices a user cannot act on are silenced at their source (RLlib's RLModuleConfig deprecation, its new-API-stack
    # notice, Tune's GPU monitor, MLflow's table creation).
    for notice in ("DeprecationWarning", "new API stack", "gputil", "Creating initial MLflow database tables"):
        assert notice not in resumed.stderr, notice
    final = read_metadata(out / "checkpoint")
    assert final["iteration"] == 5 and final["mlflow_run_id"] == killed_at["mlflow_run_id"]
    client = MlflowClient(tracking_uri)
    experiment = client.get_run(killed_at["mlflow_run_id"]).info.experiment_id
    runs = client.search_runs([experiment], f"attributes.run_name = '{out.name}'")
    assert [r.info.run_id for r in runs] == [killed_at["mlflow_run_id"]]  # no second run
    assert runs[0].info.status == "FINISHED"
    steps = [step for step, _ in _history(tracking_uri, killed_at["mlflow_run_id"], M.TRAIN_ENV_STEPS)]
    assert sorted(set(steps)) == [1, 2, 3, 4, 5]
    redone = len(steps) - len(set(steps))
    assert redone <= 1  # at most the one iteration after the last checkpoint was lost and run again


def test_a_resumed_run_samples_new_episodes_while_a_new_run_keeps_its_seed():
    """Env runners seed their envs once, at creation: a resumed run with the run's own seed would replay the episodes
    of its first iterations. A new run samples from ``seed``; a run resumed after k iterations from a seed derived
    from (seed, k), the same on every resume at k; input-driven groups draw their inputs from it too."""
    cfg = TrainConfig(env=EnvConfig(servers_range=(4, 6)), seed=7, advantage="input-driven", group_size=2,
                      envs_per_runner=2)  # fmt: skip
    new, resumed = build_ppo_config(cfg), build_ppo_config(cfg, resumed_at=5)
    assert new.seed == 7 and new.env_config["input_seed"] == 7
    assert resumed.seed not in (7, build_ppo_config(cfg, resumed_at=6).seed)
    assert resumed.seed == build_ppo_config(cfg, resumed_at=5).seed and resumed.env_config["input_seed"] == resumed.seed
    assert 0 <= resumed.seed < 2**31
