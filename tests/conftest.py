"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The read-only real input data beside the project (see ../shared/data/README.md).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real input data not found at {SHARED_DATA} (expected ../shared/data beside the project)")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def tracking_uri(tmp_path_factory) -> str:
    """The MLflow store of this test session (``$MLFLOW_TRACKING_URI``, inherited by subprocesses), so that no test
    writes the project's default ``./mlflow.db``; tests of the default unset it themselves."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        yield uri
