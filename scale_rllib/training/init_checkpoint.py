"""Fine-tuning: PPO that starts from another run's network (``TrainConfig.init_checkpoint``).

Unlike ``--resume``, which continues a run (its config, iteration count, optimizer state and MLflow run), an initial
checkpoint only supplies the network's weights: the new run has its own config — typically another task, e.g. a
held-out shift (``benchmarks/adaptation.py``) — a fresh Adam state and its own iteration count and MLflow run.
"""

from __future__ import annotations

from pathlib import Path

import torch
from ray.rllib.core import DEFAULT_MODULE_ID

from scale_rllib.env.observation import ObservationSpec
from scale_rllib.models.scale_module import load_policy, resolve_model_config
from scale_rllib.training.config import TrainConfig
from scale_rllib.validation import ConfigError, require


def initial_weights(cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """The network of ``cfg.init_checkpoint`` (an Algorithm or RLModule checkpoint), checked against ``cfg``.

    Returns:
        The module's ``state_dict`` (no parameter depends on N, so any padding fits).

    Raises:
        ConfigError: no module there, or one that reads other observations (runtime knowledge, serving engines,
            backlog) or has another width or head count than ``cfg``.
    """
    try:
        module = load_policy(Path(cfg.init_checkpoint))
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(f"init_checkpoint: {err}") from None
    spec, env = ObservationSpec.of(module.observation_space), cfg.env
    knowledge = "estimated" if spec.uncertainty else "oracle"
    require(spec.uncertainty == env.with_uncertainty, "init_checkpoint",
            f"{cfg.init_checkpoint} was trained with {knowledge} runtime knowledge; this run has "
            f"{env.runtime_knowledge}")  # fmt: skip
    require(spec.serving == env.with_serving, "init_checkpoint",
            f"{cfg.init_checkpoint} and this run's workload differ in serving engines (agentic-serving)")  # fmt: skip
    require(spec.backlog == env.observe_backlog, "init_checkpoint",
            f"{cfg.init_checkpoint} and this run differ in observing the backlog (--observe-backlog)")  # fmt: skip
    model = resolve_model_config(module.model_config)
    require(
        (model["embed_dim"], model["num_heads"]) == (cfg.embed_dim, cfg.num_heads),
        "init_checkpoint",
        f"{cfg.init_checkpoint} has embed_dim={model['embed_dim']}, num_heads={model['num_heads']}; this run has "
        f"{cfg.embed_dim}, {cfg.num_heads}",
    )
    return module.state_dict()


def load_initial_weights(algo, cfg: TrainConfig) -> None:
    """Put ``cfg.init_checkpoint``'s network into the learner's module (strictly: every tensor) and push it to the env
    runners.

    Raises:
        ConfigError: as :func:`initial_weights`.
    """
    state = initial_weights(cfg)
    for result in algo.learner_group.foreach_learner(
        lambda learner: learner.module[DEFAULT_MODULE_ID].load_state_dict(state, strict=True)
    ):
        result.get()  # raises what the learner raised
    algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)
