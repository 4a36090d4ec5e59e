"""Ray Tune sweeps of the SRR weights (and any other training field), one MLflow child run per trial under a parent
run per sweep.

Each trial is a Tune function trainable that trains PPO + SRR, reports every iteration with a
checkpoint, and ends with a zero-shot evaluation; its MLflow run id lives in its checkpoints, so
a resumed trial continues its own run.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ray import tune

from scale_rllib import metrics as M
from scale_rllib.evaluation import evaluate, evaluation_metrics, summarize, write_results
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.tracking import MlflowTracker, default_tracking_uri
from scale_rllib.training.checkpoints import read_metadata, save_checkpoint
from scale_rllib.training.ppo import build_algorithm, init_ray
from scale_rllib.training.run import checkpoint_metadata, run_iterations
from scale_rllib.tuning.config import POLICY, SweepConfig, policy_metric
from scale_rllib.validation import ConfigError

SWEEP_STATE = "scale_rllib_sweep.json"


def _trial(config: dict[str, Any]) -> None:
    """The Tune function trainable: one grid point (λ_dec, λ_KL, … , seed) of the sweep, trained by the same loop as
    ``train`` (:func:`~scale_rllib.training.run.run_iterations`), reporting every iteration with a checkpoint."""
    sweep = SweepConfig.from_dict(config["sweep"])
    cfg = sweep.trial_train_config(config["point"])
    torch.set_num_threads(cfg.num_threads)
    restored = tune.get_checkpoint()
    restore_dir = Path(restored.to_directory()) if restored is not None else None
    meta = read_metadata(restore_dir) if restore_dir is not None else {}
    tracker = MlflowTracker(
        config["mlflow_uri"],
        experiment=sweep.name,
        run_name=tune.get_context().get_trial_name(),
        run_id=meta.get("mlflow_run_id"),
        tags={M.TAG_JOB: "tune-trial", "mlflow.parentRunId": config["parent_run_id"] or ""},
    )
    if restored is None:
        tracker.log_params({"train": cfg.to_dict(), **config["point"]})
    algo = build_algorithm(cfg, tracker, restore_from=restore_dir, verbose=False)

    def report(iteration: int, metrics: dict[str, float]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = save_checkpoint(algo, Path(tmp) / "checkpoint", checkpoint_metadata(cfg, iteration, tracker))
            if iteration == cfg.iterations:
                # Tune stops the trial at this report (training_iteration reached): finish everything before it.
                metrics = metrics | _zero_shot(sweep, ckpt, tracker, iteration)
                tracker.finish()
                algo.stop()
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(ckpt)))

    run_iterations(algo, cfg, int(meta.get("iteration", 0)), tracker, report, progress=False)


def _zero_shot(sweep: SweepConfig, checkpoint: Path, tracker: MlflowTracker, iteration: int) -> dict[str, float]:
    """Evaluate the checkpoint's policy at every N of ``sweep.evaluation``; log metrics and artifacts."""
    out = evaluate(sweep.evaluation, [PolicyScheduler.from_checkpoint(checkpoint, name=POLICY)])
    table = summarize(out.results)
    metrics = evaluation_metrics(sweep.evaluation, table, out.features)
    if sweep.evaluation.schedulers:  # paired ratios to the best heuristic exist: their mean over N ranks trials
        ratios = [metrics[policy_metric(M.EVAL_RATIO_TO_BEST.format(n=n))] for n in sweep.evaluation.servers]
        metrics[policy_metric(M.EVAL_MEAN_RATIO_TO_BEST)] = sum(ratios) / len(ratios)
    tracker.log_metrics(metrics, step=iteration)
    with tempfile.TemporaryDirectory() as tmp:
        for path in write_results(out.results, table, out.features, Path(tmp), plot=True):
            tracker.log_artifact(path, "evaluation")
    return metrics


@dataclass(frozen=True)
class SweepResult:
    """The outcome of :func:`run_sweep`.

    Attributes:
        table: One row per trial: its grid point (λ_dec, λ_KL, the grid's keys, seed), the ranking metric, error,
            checkpoint.
        best: The best trial's row (lowest metric), or None if no trial finished.
        best_checkpoint: The best trial's last checkpoint.
        parent_run_id: The sweep's MLflow parent run.
    """

    table: list[dict[str, Any]]
    best: dict[str, Any] | None
    best_checkpoint: Path | None
    parent_run_id: str | None


def run_sweep(
    sweep: SweepConfig,
    output_dir: str | Path,
    *,
    mlflow_uri: str | None = None,
    address: str | None = None,
    resume: bool = False,
) -> SweepResult:
    """Run (or resume) the sweep with Ray Tune; experiment state under ``output_dir/<sweep.name>``.

    Raises:
        ConfigError: ``resume`` with no sweep to resume in ``output_dir``.
    """
    output = Path(output_dir).resolve()
    state_file = output / sweep.name / SWEEP_STATE
    if resume and not state_file.is_file():
        raise ConfigError(f"--resume: no sweep {sweep.name!r} in {output}")
    state = json.loads(state_file.read_text()) if resume else {}
    uri = mlflow_uri or state.get("mlflow_uri") or default_tracking_uri()
    parent = MlflowTracker(
        uri, experiment=sweep.name, run_name=sweep.name, run_id=state.get("parent_run_id"), tags={M.TAG_JOB: "tune"}
    )
    if not resume:
        parent.log_params({"sweep": sweep.to_dict()})
    bundles = _bundles(sweep)
    init_ray(address, min_cpus=bundles)  # one trial fits a local Ray, however few the cores
    tuner = _tuner(sweep, output, uri, parent.run_id, resume, bundles)
    if not resume:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps({"parent_run_id": parent.run_id, "mlflow_uri": uri}))
    grid = tuner.fit()
    return _summarize(sweep, grid, parent)


def _tuner(sweep: SweepConfig, output: Path, uri: str, parent_run_id: str | None, resume: bool, bundles: int):
    resources = tune.PlacementGroupFactory([{"CPU": 1}] * bundles)
    trainable = tune.with_resources(_trial, resources)
    if resume:
        return tune.Tuner.restore(str(output / sweep.name), trainable, resume_unfinished=True, resume_errored=True)
    space = {
        "sweep": sweep.to_dict(),
        "mlflow_uri": uri,
        "parent_run_id": parent_run_id,
        "point": tune.grid_search(sweep.trials()),
    }
    return tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(max_concurrent_trials=sweep.max_concurrent_trials),
        run_config=tune.RunConfig(
            name=sweep.name,
            storage_path=str(output),
            stop={"training_iteration": sweep.train.iterations},
            failure_config=tune.FailureConfig(max_failures=2),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            verbose=1,
        ),
    )


def _bundles(sweep: SweepConfig) -> int:
    """1-CPU bundles reserved for every trial: the ``cpus`` of the grid's largest trial's training config (a grid may
    sweep env runners or a teacher)."""
    return max(sweep.trial_train_config(point).cpus for point in sweep.trials())


def _summarize(sweep: SweepConfig, grid, parent) -> SweepResult:
    rows = []
    for result in grid:
        point = result.config["point"]
        value = (result.metrics or {}).get(sweep.metric, float("nan"))
        rows.append(
            {
                **point,
                sweep.metric: value,
                "error": None if result.error is None else str(result.error)[:200],
                "checkpoint": result.checkpoint.path if result.checkpoint else None,
            }
        )
    done = [r for r in rows if r["error"] is None and r[sweep.metric] == r[sweep.metric]]
    best = min(done, key=lambda r: r[sweep.metric]) if done else None
    best_ckpt = Path(best["checkpoint"]) if best and best["checkpoint"] else None
    if best is not None:
        swept = ("lambda_dec", "lambda_kl", *sweep.grid)  # numeric values as metrics; others are in the table
        numeric = {"best/" + k: float(best[k]) for k in swept if isinstance(best[k], int | float)}
        parent.log_metrics({"best/" + sweep.metric: best[sweep.metric], **numeric}, step=0)
        if best_ckpt is not None:
            parent.log_artifact(best_ckpt, "best_checkpoint")
    parent.finish()
    return SweepResult(rows, best, best_ckpt, parent.run_id)
