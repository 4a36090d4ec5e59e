"""MLflow tracking: one run per training/evaluation job, metrics logged in batches.

A tracker never crashes the job it tracks: if the tracking server is unreachable or rejects a
call, it warns once and turns itself off (training goes on; nothing already saved is lost).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import time
import warnings
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import requests
from filelock import FileLock
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)
# "Creating initial MLflow database tables…" at INFO, once per new sqlite store: nothing for a user to act on.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)

DEFAULT_EXPERIMENT = "scale_rllib"
#: MLflow caps a batch at 1000 metrics and 100 params.
_MAX_METRICS, _MAX_PARAMS = 1000, 100


#: The project's store, in the current directory, when neither ``--mlflow-uri`` nor ``MLFLOW_TRACKING_URI`` names one.
DEFAULT_STORE = "mlflow.db"


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<cwd>/mlflow.db``: one store per project directory for
    training, evaluation and sweeps alike, so one ``mlflow ui --backend-store-uri sqlite:///mlflow.db`` shows them
    all (MLflow ≥ 3.13 refuses plain file stores, hence sqlite)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd().resolve() / DEFAULT_STORE}"


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a/b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


def _probe(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast on an unreachable server (MLflow's own client retries for minutes)."""
    requests.get(uri.rstrip("/") + "/health", timeout=timeout_s).raise_for_status()


def sqlite_database(tracking_uri: str) -> Path | None:
    """The database file of a local sqlite store (``sqlite:///<path>``); None for any other store (a server)."""
    prefix = "sqlite:///"
    return Path(tracking_uri[len(prefix) :]) if tracking_uri.startswith(prefix) else None


def check_tracking_uri(tracking_uri: str) -> str:
    """``tracking_uri`` if MLflow can open a store of its kind; else ValueError (a typo in ``--mlflow-uri`` would
    otherwise only turn tracking off, with a warning, after the job has started).

    A local sqlite store is only checked for its ``sqlite:///`` form (opening it would create it); any other URI is
    handed to ``MlflowClient``, which refuses unknown schemes, the filesystem backend (MLflow ≥ 3.13) and databases
    without their driver installed, without connecting (a server that does not answer still only warns later).

    Raises:
        ValueError: naming the URI, with MLflow's reason.
    """
    if tracking_uri.startswith("sqlite:"):
        if sqlite_database(tracking_uri) is None or tracking_uri == "sqlite:///":
            raise ValueError(f"{tracking_uri!r}: a local store is sqlite:///<path of its database file>")
        return tracking_uri
    try:
        MlflowClient(tracking_uri)
    except Exception as error:  # noqa: BLE001 - MLflow raises several types for a URI it cannot use
        reason = str(error).strip().split(". ")[0]
        raise ValueError(f"{tracking_uri!r}: MLflow cannot track there ({reason})") from None
    return tracking_uri


def store_lock(tracking_uri: str) -> AbstractContextManager:
    """An inter-process lock on a local sqlite store, held while a tracker creates the store's tables and its
    experiment: two jobs started at once on a new store otherwise race in MLflow's schema migration and both lose
    tracking. The lock file lives in the temporary directory, named by a hash of the database's absolute path, so the
    project directory holds only the store. A no-op for a server, which serializes its own store."""
    database = sqlite_database(tracking_uri)
    if database is None:
        return nullcontext()
    key = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:16]
    return FileLock(Path(tempfile.gettempdir()) / f"scale_rllib-mlflow-{key}.lock")


def artifact_location(tracking_uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: for a local sqlite store, ``mlruns/`` beside the database file (the
    store is one self-contained folder, wherever the process runs; MLflow's own default is ``./mlruns`` of the
    current directory); for a server, None (the server's ``--default-artifact-root``)."""
    database = sqlite_database(tracking_uri)
    return None if database is None else (database.parent / "mlruns").resolve().as_uri()


def experiment_of(tracking_uri: str, run_id: str) -> str | None:
    """The experiment name of run ``run_id`` in the store at ``tracking_uri``; None if it cannot be read (a training
    run in another store, or an unreachable server)."""
    try:
        client = MlflowClient(tracking_uri)
        return client.get_experiment(client.get_run(run_id).info.experiment_id).name
    except Exception:  # noqa: BLE001 - only a link between runs is lost
        return None


class MlflowTracker:
    """A handle on one MLflow run.

    Args:
        tracking_uri: e.g. ``sqlite:///runs/mlflow.db`` or ``http://127.0.0.1:5000``.
        experiment: Experiment name (created if missing).
        run_name: Name of a new run.
        run_id: Continue this existing run instead of creating one (resume).
        tags: Tags of a new run.
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment: str = DEFAULT_EXPERIMENT,
        run_name: str | None = None,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
    ):
        self.tracking_uri = tracking_uri
        self.run_id: str | None = None
        self._client = None
        self.guard("start", self._start, experiment, run_name, run_id, tags)

    @property
    def active(self) -> bool:
        """False once tracking was turned off by an error."""
        return self._client is not None and self.run_id is not None

    def _start(self, experiment, run_name, run_id, tags) -> None:
        if self.tracking_uri.startswith(("http://", "https://")):
            # MLflow's defaults retry a dead server for minutes per call; fail within seconds instead.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
            _probe(self.tracking_uri)

        with store_lock(self.tracking_uri):  # the client's store creates a new database's tables
            client = MlflowClient(self.tracking_uri)
            if run_id is None:
                exp = client.get_experiment_by_name(experiment)
                location = artifact_location(self.tracking_uri)
                exp_id = exp.experiment_id if exp else client.create_experiment(experiment, location)
                run_id = client.create_run(exp_id, run_name=run_name, tags=dict(tags or {})).info.run_id
            else:
                client.get_run(run_id)  # raises if it does not exist
        self.run_id, self._client = run_id, client

    def guard(self, what: str, fn, *args) -> Any:
        """``fn(*args)``, or None if tracking is off; an exception warns once and turns tracking off."""
        if what != "start" and not self.active:
            return None
        try:
            return fn(*args)
        except Exception as err:  # noqa: BLE001 - tracking must never kill the job
            warnings.warn(
                f"MLflow {what} failed at {self.tracking_uri} ({type(err).__name__}: {err}); "
                "continuing without MLflow tracking",
                RuntimeWarning,
                stacklevel=3,
            )
            self._client = None
            return None

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log flattened params (values stringified, 500 chars max) in batches."""
        items = [Param(k, str(v)[:500]) for k, v in flatten(params).items()]
        for i in range(0, len(items), _MAX_PARAMS):
            self.guard(
                "log_params", lambda b: self._client.log_batch(self.run_id, params=b), items[i : i + _MAX_PARAMS]
            )

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> int:
        """Log the finite numeric entries of ``metrics`` (flattened) in one batch call per 1000.

        Returns:
            How many metrics were sent.
        """
        now_ms = int(time.time() * 1000)
        items = [
            Metric(k, float(v), now_ms, step)
            for k, v in flatten(metrics).items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        ]
        for i in range(0, len(items), _MAX_METRICS):
            self.guard(
                "log_metrics", lambda b: self._client.log_batch(self.run_id, metrics=b), items[i : i + _MAX_METRICS]
            )
        return len(items) if self.active else 0

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Upload a file or directory."""
        if not self.active:
            return
        path = Path(path)
        upload = self._client.log_artifacts if path.is_dir() else self._client.log_artifact
        self.guard("log_artifact", upload, self.run_id, str(path), artifact_path)

    def set_tag(self, key: str, value: str) -> None:
        """Set one tag on the run."""
        self.guard("set_tag", lambda: self._client.set_tag(self.run_id, key, value))

    def finish(self, status: str = "FINISHED") -> None:
        """Mark the run FINISHED (or FAILED / KILLED)."""
        self.guard("finish", lambda: self._client.set_terminated(self.run_id, status))
