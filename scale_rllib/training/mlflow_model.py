"""The trained policy as an MLflow pyfunc model: ``mlflow.pyfunc.load_model(uri).predict(observations)``.

Logged with this module as the pyfunc ``loader_module`` (MLflow's documented way to add a custom flavour: MLflow calls
:func:`_load_pyfunc` with the model's data directory, the policy's RLModule checkpoint). ``predict`` takes a list of
observations — each a dict of arrays, the env's observation contract (docs/design.md, "The MDP") — and returns the
greedy server choices. https://mlflow.org/docs/latest/ml/traditional-ml/creating-custom-pyfunc/
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch
from ray.rllib.core.columns import Columns

from scale_rllib.models.scale_module import OBS_KEYS, POLICY_SUBDIR, ScaleRLModule, load_policy

#: Name of the logged model inside its run.
MODEL_NAME = "policy"


class PolicyModel:
    """Greedy SCALE policy behind MLflow's pyfunc ``predict``.

    Args:
        module: The trained module.
    """

    def __init__(self, module: ScaleRLModule) -> None:
        self.module = module

    def predict(self, model_input: list[dict[str, Any]], params: dict | None = None) -> list[int]:
        """Greedy server choices for a batch of observations.

        Args:
            model_input: B observations, each ``{"servers": (N, F_s), "task": (F_t,), "action_mask": (N,)}`` (arrays
                or nested lists; N may differ between observations: they are padded to the largest, masked).
            params: Unused (MLflow passes inference parameters here).

        Returns:
            B server indices, each < the number of real servers of its observation.

        Raises:
            ValueError: an observation without one of the keys.
        """
        batch = pad_observations(model_input)
        with torch.no_grad():
            logits = self.module.forward_inference({Columns.OBS: batch})[Columns.ACTION_DIST_INPUTS]
        return [int(a) for a in logits.argmax(-1)]


def _load_pyfunc(data_path: str) -> PolicyModel:
    """MLflow's loader hook: the policy from the model's data directory."""
    return PolicyModel(load_policy(data_path))


def pad_observations(observations: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """B observations of possibly different N → one batch padded to the largest N: ``servers`` (B, N, F_s),
    ``task`` (B, F_t), ``action_mask`` (B, N) float32 tensors (padded rows are zero and masked).

    Raises:
        ValueError: an observation without one of the keys.
    """
    for i, obs in enumerate(observations):
        missing = [k for k in OBS_KEYS if k not in obs]
        if missing:
            raise ValueError(f"observation {i} lacks {missing}; expected keys {list(OBS_KEYS)}")
    servers = [np.asarray(o["servers"], dtype=np.float32) for o in observations]
    n_max = max(len(x) for x in servers)
    padded = np.zeros((len(servers), n_max, servers[0].shape[1]), dtype=np.float32)
    mask = np.zeros((len(servers), n_max), dtype=np.float32)
    for i, (x, obs) in enumerate(zip(servers, observations, strict=True)):
        padded[i, : len(x)] = x
        mask[i, : len(x)] = np.asarray(obs["action_mask"], dtype=np.float32)
    task = np.stack([np.asarray(o["task"], dtype=np.float32) for o in observations])
    return {"servers": torch.from_numpy(padded), "task": torch.from_numpy(task), "action_mask": torch.from_numpy(mask)}


def log_policy_model(tracking_uri: str, run_id: str, checkpoint: Path) -> str:
    """Log the policy of an Algorithm ``checkpoint`` as the pyfunc model :data:`MODEL_NAME` of MLflow run ``run_id``.

    Returns:
        The model URI to give ``mlflow.pyfunc.load_model``.
    """
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            loader_module=__name__,
            data_path=str(Path(checkpoint) / POLICY_SUBDIR),
            pip_requirements=["scale_rllib", "torch", "ray[rllib]"],
        )
    return info.model_uri
