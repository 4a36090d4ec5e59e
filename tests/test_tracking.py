"""MLflow tracking on a local sqlite store shared by jobs that start together."""

from __future__ import annotations

import multiprocessing as mp
import warnings

from mlflow.tracking import MlflowClient

from scale_rllib.tracking import DEFAULT_EXPERIMENT, MlflowTracker

JOBS = 3


def start_tracker(uri: str, name: str, barrier, results) -> None:
    """Wait for every job, then start a tracker as `scale-rllib train` does; report its run id (None: tracking off)."""
    barrier.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracker = MlflowTracker(uri, run_name=name)
    results.put((name, tracker.run_id if tracker.active else None))


def test_jobs_started_together_on_a_new_store_all_track(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(JOBS), ctx.Queue()
    jobs = [ctx.Process(target=start_tracker, args=(uri, f"job{i}", barrier, results)) for i in range(JOBS)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=600)  # spawning and importing MLflow take long on a busy machine
    runs = dict(results.get(timeout=5) for _ in jobs)
    assert None not in runs.values(), f"a job lost tracking: {runs}"
    experiment = MlflowClient(uri).get_experiment_by_name(DEFAULT_EXPERIMENT)
    stored = MlflowClient(uri).search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in stored) == sorted(runs) and {r.info.run_id for r in stored} == set(
        runs.values()
    )
