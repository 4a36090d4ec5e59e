"""Tune sweeps log to a real MLflow server (started here on 127.0.0.1), one child run per trial."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scale_rllib import metrics as M
from scale_rllib.tuning.config import SweepConfig
from tests.servers import free_port, mlflow_server

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as uri:
        yield uri


@pytest.fixture(scope="module")
def sweep_result(server, tmp_path_factory):
    import ray

    from scale_rllib.tuning import run_sweep

    sweep = SweepConfig.from_yaml(REPO / "tune_configs" / "smoke.yaml")
    ray.shutdown()  # the sweep starts its own local Ray, sized for its largest trial
    try:
        result = run_sweep(sweep, tmp_path_factory.mktemp("tune"), mlflow_uri=server)
    finally:
        ray.shutdown()
    return sweep, result


def test_two_trial_sweep_logs_params_metrics_artifacts(server, sweep_result):
    from mlflow.tracking import MlflowClient

    sweep, result = sweep_result
    assert len(result.table) == 2 and all(row["error"] is None for row in result.table)
    assert sweep.train.num_env_runners + 1 > 2  # its trials need more CPUs than a 2-core machine: they ran anyway
    client = MlflowClient(server)
    exp = client.get_experiment_by_name(sweep.name)
    runs = client.search_runs([exp.experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run_id]
    assert sorted(r.data.params["lambda_dec"] for r in children) == ["0.0", "0.1"]
    metric = sweep.metric
    assert metric == "scale/" + M.EVAL_MEAN_RATIO_TO_BEST  # smoke.yaml ranks by the paired ratio to EFT
    for run in children:
        assert run.data.params["lambda_kl"] == "0.01"
        assert run.data.params["train/env/servers_range"] == "(6, 10)"
        assert run.data.params["env.observe_backlog"] == "True" == run.data.params["train/env/observe_backlog"]
        per_n = [run.data.metrics["scale/" + M.EVAL_RATIO_TO_BEST.format(n=n)] for n in sweep.evaluation.servers]
        assert run.data.metrics[metric] == pytest.approx(sum(per_n) / len(per_n))
        for key in (M.SRR_DECORRELATION, M.SRR_KL, M.SRR_MEAN_SIGMA, M.TRAIN_ENV_STEPS, metric):
            assert key in run.data.metrics, key
        steps = [m.step for m in client.get_metric_history(run.info.run_id, M.TRAIN_ENV_STEPS)]
        assert sorted(steps) == [1, 2]  # one value per iteration, no duplicate run on the way
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
        assert {"evaluation/results.csv", "evaluation/response_time_vs_servers.png"} <= artifacts
        assert run.info.status == "FINISHED"
    parent = client.get_run(result.parent_run_id)
    assert parent.data.metrics["best/" + metric] == pytest.approx(result.best[metric])
    assert [a.path for a in client.list_artifacts(result.parent_run_id)] == ["best_checkpoint"]
    assert result.best_checkpoint is not None and (result.best_checkpoint / "scale_rllib.json").is_file()
    # A trial checkpoints through the training loop of `train` (run_iterations + checkpoint_metadata): same record.
    meta = json.loads((result.best_checkpoint / "scale_rllib.json").read_text())
    assert set(meta) == {"config", "iteration", "mlflow_run_id", "mlflow_uri"} and meta["iteration"] == 2
    assert meta["config"]["env"]["observe_backlog"] is True  # the grid's value reached the trial's training config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nlambda_dec: [-1]\n", r"bad\.yaml: lambda_dec"),
        ("name: x\ntrain: {iterations: 0}\n", "iterations"),
        ("name: [unclosed\n", "malformed YAML"),
        ("nam: x\n", "unknown field"),
        ("name: x\ngrid: {nope: [1]}\n", "grid.nope: not a training field"),
        ("name: x\ngrid: {seed: [1, 2]}\n", "grid.seed: not a training field"),
        ("name: x\ngrid: {embed_dim: []}\n", "grid.embed_dim: need a non-empty list"),
        ("name: x\ngrid: {embed_dim: 64}\n", "grid.embed_dim: need a non-empty list"),
        ("name: x\ngrid: {embed_dim: [64, 30]}\n", "embed_dim: must be divisible by num_heads"),
        ("name: x\ngrid: [embed_dim]\n", "grid: a mapping"),
        ("name: x\nrank_by: ratio_to_best\n", "ratio_to_best needs evaluation.schedulers"),
        ("name: x\nrank_by: fastest\n", "rank_by: one of"),
    ],
)
def test_sweep_config_errors_name_file_and_field(text, message, tmp_path):
    from scale_rllib import ConfigError

    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=message):
        SweepConfig.from_yaml(bad)


def test_shipped_sweeps_are_valid_and_a_sweep_of_the_lambdas_has_the_ablation():
    for shipped in (REPO / "tune_configs").glob("*.yaml"):
        sweep = SweepConfig.from_yaml(shipped)
        if sweep.name != "smoke" and len(sweep.lambda_dec) * len(sweep.lambda_kl) > 1:  # a sweep of the λ's
            assert any(t["lambda_dec"] == 0 and t["lambda_kl"] == 0 for t in sweep.trials()), shipped


def test_the_grid_crosses_every_field_with_the_lambdas_and_seeds():
    sweep = SweepConfig.from_dict(
        {"lambda_dec": [0, 0.1], "lambda_kl": [0.01], "grid": {"embed_dim": [64, 128], "env.load": [0.7, 0.85]},
         "seeds": [0, 1]}
    )  # fmt: skip
    trials = sweep.trials()
    assert len(trials) == 2 * 2 * 2 * 2
    assert {(t["lambda_dec"], t["embed_dim"], t["env.load"], t["seed"]) for t in trials} == {
        (d, e, rho, s) for d in (0, 0.1) for e in (64, 128) for rho in (0.7, 0.85) for s in (0, 1)
    }
    cfg = sweep.trial_train_config(
        {"lambda_dec": 0.1, "lambda_kl": 0.01, "embed_dim": 128, "env.load": 0.85, "seed": 1}
    )
    assert (cfg.lambda_dec, cfg.embed_dim, cfg.env.load, cfg.seed) == (0.1, 128, 0.85, 1)
    assert cfg.env.workload == sweep.train.env.workload  # the other fields stay the base config's
    assert SweepConfig.from_dict(sweep.to_dict()) == sweep


def test_unreachable_mlflow_server_warns_and_training_continues(tmp_path):
    import ray

    from scale_rllib.training import train
    from tests.test_training_e2e import TINY

    dead = f"http://127.0.0.1:{free_port()}"
    try:
        with pytest.warns(RuntimeWarning, match="continuing without MLflow"):
            result = train(TINY, tmp_path, mlflow_uri=dead, progress=False)
    finally:
        ray.shutdown()
    assert result.mlflow_run_id is None
    assert result.iterations == TINY.iterations and (result.checkpoint / "scale_rllib.json").is_file()
