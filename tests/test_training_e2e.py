"""A short real PPO run (real Ray, real RLlib): its checkpoint loads without Ray and runs at N=48."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap

import pytest

from scale_rllib import EnvConfig, TrainConfig
from scale_rllib import metrics as M

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


def test_training_writes_checkpoint_and_mlflow_run(trained, tracking_uri):
    from mlflow.tracking import MlflowClient

    out, result = trained
    assert result.checkpoint == out / "checkpoint"
    assert (result.checkpoint / "scale_rllib.json").is_file()
    client = MlflowClient(tracking_uri)
    run = client.get_run(result.mlflow_run_id)
    assert run.data.params["train/lambda_dec"] == str(TINY.lambda_dec)
    assert run.data.params["train/env/servers_range"] == "(6, 10)"
    for key in (M.SRR_DECORRELATION, M.SRR_KL, M.TRAIN_ENV_STEPS, "train/policy_loss"):
        assert key in run.data.metrics, key
    assert run.data.metrics[M.TRAIN_ENV_STEPS] >= 2 * TINY.train_batch_size
    assert run.info.status == "FINISHED"
    # The checkpoint's weights, not only its metadata, are in the run.
    logged = {a.path for a in client.list_artifacts(result.mlflow_run_id, "checkpoint")}
    assert {"checkpoint/scale_rllib.json", "checkpoint/learner_group"} <= logged, logged


def test_policy_is_an_mlflow_pyfunc_model_that_picks_servers(trained):
    import mlflow
    import numpy as np

    from scale_rllib import EnvConfig, SchedulingEnv

    _, result = trained
    model = mlflow.pyfunc.load_model(result.model_uri)
    observations = []
    for n, seed in ((8, 0), (48, 1)):  # two cluster sizes in one batch: padded and masked
        env = SchedulingEnv(EnvConfig(servers_range=(n, n), num_workflows=4, randomize_mix=False))
        obs, _ = env.reset(seed=seed)
        observations.append(obs)
    choices = model.predict(observations)
    assert len(choices) == 2 and 0 <= choices[0] < 8 and 0 <= choices[1] < 48
    assert model.predict([{k: np.asarray(v).tolist() for k, v in observations[0].items()}]) == choices[:1]


def test_checkpoint_loads_without_ray_and_runs_at_48_servers(trained):
    out, result = trained
    script = textwrap.dedent(f"""
        import ray
        from scale_rllib.schedulers.policy import PolicyScheduler
        from scale_rllib.schedulers import run_episode
        from scale_rllib.env.config import EnvConfig
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


def test_evaluate_cli_writes_results_for_policy_and_heuristics(trained, tmp_path, tracking_uri):
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
    assert "paired RT/best" in proc.stdout
    summary = list(csv.DictReader(open(tmp_path / "summary.csv")))
    scale = [r for r in summary if r["scheduler"] == "scale"]
    assert len(scale) == 2 and all(float(r["paired_ratio_ci95"]) >= 0 for r in scale)
    # The evaluation run sits in the training run's store and experiment, tagged with the training run.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    training = client.get_run(result.mlflow_run_id)
    runs = client.search_runs([training.info.experiment_id], f"tags.`{M.TAG_TRAINING_RUN}` = '{training.info.run_id}'")
    assert len(runs) == 1 and runs[0].data.tags[M.TAG_JOB] == "evaluate"
    assert "scale/" + M.EVAL_RATIO_TO_BEST.format(n=48) in runs[0].data.metrics
