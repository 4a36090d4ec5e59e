"""Checkpoints: an RLlib Algorithm checkpoint plus ``scale_rllib.json`` (config, iteration, MLflow run).

Saving is atomic at the directory level: the new checkpoint is written beside the old one and
swapped in by renames, so a process killed mid-save leaves the previous checkpoint loadable.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

METADATA_FILE = "scale_rllib.json"


def read_metadata(checkpoint: str | Path) -> dict[str, Any]:
    """The project's metadata stored in a checkpoint directory.

    Returns:
        ``{"config": TrainConfig dict, "iteration": int, "mlflow_run_id": str | None, "mlflow_uri": str | None}``.

    Raises:
        FileNotFoundError: ``checkpoint`` is not a scale_rllib checkpoint directory.
    """
    path = Path(checkpoint) / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{checkpoint}: not a scale_rllib checkpoint (missing {METADATA_FILE})")
    return json.loads(path.read_text())


def save_checkpoint(algo, directory: str | Path, metadata: dict[str, Any]) -> Path:
    """Save ``algo`` and ``metadata`` to ``directory``, replacing what was there only once complete.

    Writes ``<dir>.new``, renames the old ``<dir>`` to ``<dir>.old``, ``<dir>.new`` to ``<dir>``,
    then deletes ``<dir>.old``; :func:`find_checkpoint` recovers from a crash between the renames.
    """
    final = Path(directory).resolve()
    new, old = final.with_name(final.name + ".new"), final.with_name(final.name + ".old")
    shutil.rmtree(new, ignore_errors=True)
    algo.save_to_path(str(new))
    (new / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str))
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def find_checkpoint(directory: str | Path) -> Path | None:
    """The complete checkpoint at ``directory`` (or the ``.old`` one a crash left behind), else None."""
    final = Path(directory)
    for candidate in (final, final.with_name(final.name + ".old")):
        if (candidate / METADATA_FILE).is_file():
            return candidate
    return None
