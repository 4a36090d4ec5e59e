"""A short real PPO run (real Ray, real RLlib): its checkpoint loads without Ray and runs at N=48."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap

import pytest

from scale_rllib import metrics as M
from scale_rllib.config import EnvConfig, TrainConfig

TINY = TrainConfig(
    env=EnvConfig(servers_range=(6, 10), num_workflows=6),
    iterations=2,
    num_env_runners=1,
    envs_per_runner=2,
    train_batch_size=256,
    minibatch_size=128,
    num_epochs=1,
    embed_dim=16,
    num_heads=2,
    checkpoint_every=1,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import ray

    from scale_rllib.training import train

    out = tmp_path_factory.mktemp("run")
    try:
        result = train(TINY, out, progress=False)
    finally:
        ray.shutdown()
    return out, result


def test_training_writes_checkpoint_and_mlflow_run(trained):
    from mlflow.tracking import MlflowClient

    out, result = trained
    assert result.checkpoint == out / "checkpoint"
    assert (result.checkpoint / "scale_rllib.json").is_file()
    run = MlflowClient(f"sqlite:///{out / 'mlflow.db'}").get_run(result.mlflow_run_id)
    assert run.data.params["train/lambda_dec"] == str(TINY.lambda_dec)
    assert run.data.params["train/env/servers_range"] == "(6, 10)"
    for key in (M.SRR_DECORRELATION, M.SRR_KL, M.TRAIN_ENV_STEPS, "train/policy_loss"):
        assert key in run.data.metrics, key
    assert run.data.metrics[M.TRAIN_ENV_STEPS] >= 2 * TINY.train_batch_size
    assert run.info.status == "FINISHED"


def test_checkpoint_loads_without_ray_and_runs_at_48_servers(trained):
    out, result = trained
    script = textwrap.dedent(f"""
        import ray
        from scale_rllib.baselines.policy import PolicyScheduler
        from scale_rllib.baselines.scheduler import run_episode
        from scale_rllib.config import EnvConfig
        from scale_rllib.env import SchedulingEnv
        env = SchedulingEnv(EnvConfig(servers_range=(48, 48), num_workflows=20, randomize_mix=False))
        policy = PolicyScheduler.from_checkpoint({str(result.checkpoint)!r}, max_servers=48)
        r = run_episode(env, policy, seed=3)
        assert r.servers == 48 and r.decisions > 20 and r.mean_response_time_s >= r.lower_bound_s > 0
        assert len(policy.feature_statistics()) == 3
        print("RAY_INITIALIZED", ray.is_initialized())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "RAY_INITIALIZED False" in proc.stdout


def test_evaluate_cli_writes_results_for_policy_and_heuristics(trained, tmp_path):
    out, result = trained
    cmd = [
        sys.executable,
        "-m",
        "scale_rllib.cli",
        "evaluate",
        "--checkpoint",
        str(result.checkpoint),
        "--servers",
        "8",
        "48",
        "--episodes",
        "2",
        "--workflows-per-server",
        "1",
        "--output",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(tmp_path / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    required = {"scheduler", "servers", "load", "seed", "mean_response_time_s", "lower_bound_s"}
    assert required <= set(rows[0])
    seen = {(r["scheduler"], r["servers"]) for r in rows}
    for name in ("scale", "random", "round-robin", "est", "eft", "peft"):
        assert {(name, "8"), (name, "48")} <= seen
    assert all(float(r["mean_response_time_s"]) >= float(r["lower_bound_s"]) > 0 for r in rows)
    assert (tmp_path / "response_time_vs_servers.png").stat().st_size > 10_000
    assert (tmp_path / "feature_statistics.csv").is_file()
    assert "scale" in proc.stdout and "checkpoint" not in proc.stderr.lower()
