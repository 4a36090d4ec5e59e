"""PPO learner with the SRR auxiliary loss on the attention feature z (docs/design.md, "SRR").

``L = L_PPO + λ_dec · L_dec + λ_KL · L_KL [+ β · KL(π_anchor ‖ π)]``, with λ's from ``config.learner_config_dict``
(keys :data:`LAMBDA_DEC`, :data:`LAMBDA_KL`, default 0). λ_dec = λ_KL = 0 is the no-SRR ablation: the SRR terms are
then left out of the loss graph, but their values and the feature statistics are still logged. β (key
:data:`ANCHOR_KL`, default 0) keeps the policy near the network the learner's first update started from
(:mod:`scale_rllib.learner.anchor`).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.learner.general_advantage_estimation import GeneralAdvantageEstimation
from ray.rllib.core.columns import Columns
from ray.rllib.utils.annotations import override
from ray.rllib.utils.typing import ModuleID, TensorType

from scale_rllib.learner.anchor import anchor_kl
from scale_rllib.learner.input_driven import InputDrivenAdvantageEstimation
from scale_rllib.learner.srr import SRRStats, check_srr_weights, srr_penalty
from scale_rllib.metrics import (
    LEARNER_ANCHOR_KL,
    SRR_DECORRELATION,
    SRR_KL,
    SRR_MEAN_ABS_MU,
    SRR_MEAN_ABS_OFFDIAG,
    SRR_MEAN_SIGMA,
)
from scale_rllib.models.scale_module import SRR_FEATURE

LAMBDA_DEC = "lambda_dec"
"""``learner_config_dict`` key of λ_dec, the weight of the decorrelation loss."""
LAMBDA_KL = "lambda_kl"
"""``learner_config_dict`` key of λ_KL, the weight of the KL-to-N(0, I) loss."""
ADVANTAGE = "advantage"
"""``learner_config_dict`` key: ``gae`` (RLlib's) or ``input-driven`` (:class:`InputDrivenAdvantageEstimation`)."""
AVERAGE_REWARD = "average_reward"
"""``learner_config_dict`` key: input-driven advantages on average-reward (differential) returns."""
GROUP_SIZE = "group_size"
"""``learner_config_dict`` key: K, the episodes of one input."""
ANCHOR_KL = "anchor_kl"
"""``learner_config_dict`` key: β, the weight of KL(π_anchor ‖ π) (0: off)."""
KL_COEFFS_STATE = "ppo_kl_coeffs"
"""Learner state key: PPO's adaptive KL coefficient per module (RLlib's PPO learner does not checkpoint it)."""
ANCHORS_STATE = "anchor_weights"
"""Learner state key: the frozen anchor networks' weights per module (so a resume keeps the original anchor)."""


def srr_coefficients(config: PPOConfig) -> tuple[float, float]:
    """Reads (λ_dec, λ_KL) from ``config.learner_config_dict``.

    Args:
        config: The (per-module) algorithm config.

    Returns:
        ``(lambda_dec, lambda_kl)``, 0.0 where absent.

    Raises:
        ValueError: If a coefficient is negative or not finite.
    """
    learner_cfg = config.learner_config_dict or {}
    try:
        return check_srr_weights(learner_cfg.get(LAMBDA_DEC, 0.0), learner_cfg.get(LAMBDA_KL, 0.0))
    except ValueError as err:
        raise ValueError(f"learner_config_dict: {err}") from None


class SRRPPOTorchLearner(PPOTorchLearner):
    """``PPOTorchLearner`` adding λ_dec · L_dec + λ_KL · L_KL on ``fwd_out[SRR_FEATURE]``, masked by the loss mask.

    Logs, per module and per update (``window=1``): :data:`~scale_rllib.metrics.SRR_DECORRELATION`,
    :data:`~scale_rllib.metrics.SRR_KL` (unweighted), and the feature statistics
    :data:`~scale_rllib.metrics.SRR_MEAN_ABS_MU`, :data:`~scale_rllib.metrics.SRR_MEAN_SIGMA`,
    :data:`~scale_rllib.metrics.SRR_MEAN_ABS_OFFDIAG`.
    """

    @override(PPOTorchLearner)
    def build(self) -> None:
        """PPO's learner, with RLlib's GAE piece replaced by :class:`InputDrivenAdvantageEstimation` when
        ``learner_config_dict["advantage"] == "input-driven"``."""
        super().build()
        self._anchors: dict[ModuleID, Any] = {}  # frozen copies for the anchor KL, made at each module's first update
        options = self.config.learner_config_dict or {}
        if options.get(ADVANTAGE, "gae") == "input-driven" and self._learner_connector is not None:
            self._learner_connector.remove(GeneralAdvantageEstimation)
            self._learner_connector.append(
                InputDrivenAdvantageEstimation(
                    gamma=self.config.gamma,
                    lambda_=self.config.lambda_,
                    average_reward=bool(options.get(AVERAGE_REWARD, False)),
                    group_size=int(options.get(GROUP_SIZE, 2)),
                )
            )

    @override(PPOTorchLearner)
    def compute_loss_for_module(
        self,
        *,
        module_id: ModuleID,
        config: PPOConfig,
        batch: dict[str, Any],
        fwd_out: dict[str, TensorType],
    ) -> TensorType:
        """Computes PPO's loss plus the weighted SRR terms.

        Args:
            module_id: The module whose loss is computed.
            config: The module's algorithm config.
            batch: The train batch; ``Columns.LOSS_MASK`` (B,) selects valid rows when present.
            fwd_out: Output of ``_forward_train``; must hold :data:`SRR_FEATURE` (B, d) when a λ > 0.

        Returns:
            The scalar total loss.

        Raises:
            ValueError: If a λ > 0 but the module does not output :data:`SRR_FEATURE`, or a λ is invalid.
        """
        total_loss = super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
        total_loss = total_loss + self._anchor_term(module_id, config, batch, fwd_out)
        lambda_dec, lambda_kl = srr_coefficients(config)
        z = fwd_out.get(SRR_FEATURE)
        if z is None:
            if lambda_dec > 0.0 or lambda_kl > 0.0:
                raise ValueError(f"SRR needs fwd_out[{SRR_FEATURE!r}]; module {module_id!r} does not return it.")
            return total_loss
        penalty, stats = srr_penalty(z, lambda_dec, lambda_kl, batch.get(Columns.LOSS_MASK))
        self._log_srr(module_id, stats)
        return total_loss + penalty

    @override(PPOTorchLearner)
    def get_state(self, components=None, *, not_components=None, **kwargs) -> dict[str, Any]:
        """RLlib's learner state plus :data:`KL_COEFFS_STATE` ({module: float}) and :data:`ANCHORS_STATE` ({module:
        {tensor name: array}}), so that a resumed run continues with PPO's adapted KL coefficient and the same anchor
        instead of restarting from ``kl_coeff`` and anchoring to the restored network."""
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component(KL_COEFFS_STATE, components, not_components):
            state[KL_COEFFS_STATE] = {mid: float(v) for mid, v in self.curr_kl_coeffs_per_module.items()}
        if self._check_component(ANCHORS_STATE, components, not_components):
            state[ANCHORS_STATE] = {mid: {k: v.detach().cpu().numpy() for k, v in anchor.state_dict().items()}
                                    for mid, anchor in self._anchors.items()}  # fmt: skip
        return state

    @override(PPOTorchLearner)
    def set_state(self, state: dict[str, Any]) -> None:
        """Restores what :meth:`get_state` saved (checkpoints without the extra keys restore as RLlib's)."""
        super().set_state(state)
        for mid, value in state.get(KL_COEFFS_STATE, {}).items():
            self.curr_kl_coeffs_per_module[mid].data.fill_(value)
        for mid, weights in state.get(ANCHORS_STATE, {}).items():
            anchor = copy.deepcopy(self.module[mid]).requires_grad_(False)
            anchor.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})
            self._anchors[mid] = anchor

    def _anchor_term(self, module_id: ModuleID, config: PPOConfig, batch: dict[str, Any], fwd_out: dict) -> TensorType:
        """β · KL(π_anchor ‖ π) (0 with β = 0). The anchor is a frozen copy of the module as it was at its first
        update in this learner — after the warm start, policy iteration or ``init_checkpoint``; a resumed run keeps
        it (:meth:`get_state`)."""
        beta = float((config.learner_config_dict or {}).get(ANCHOR_KL, 0.0))
        if beta <= 0.0:
            return 0.0
        if module_id not in self._anchors:
            self._anchors[module_id] = copy.deepcopy(self.module[module_id]).requires_grad_(False)
        with torch.no_grad():
            anchor_logits = self._anchors[module_id].forward_train(batch)[Columns.ACTION_DIST_INPUTS]
        kl = anchor_kl(fwd_out[Columns.ACTION_DIST_INPUTS], anchor_logits, batch.get(Columns.LOSS_MASK))
        self.metrics.log_value((module_id, LEARNER_ANCHOR_KL), kl.detach(), window=1)
        return beta * kl

    def _log_srr(self, module_id: ModuleID, stats: SRRStats) -> None:
        """Logs the unweighted SRR losses and feature statistics of one update.

        Args:
            module_id: The module the statistics belong to.
            stats: Output of :func:`~scale_rllib.learner.srr.srr_losses`.
        """
        values = {
            SRR_DECORRELATION: stats.decorrelation,
            SRR_KL: stats.kl,
            SRR_MEAN_ABS_MU: stats.mean_abs_mu,
            SRR_MEAN_SIGMA: stats.mean_sigma,
            SRR_MEAN_ABS_OFFDIAG: stats.mean_abs_offdiag,
        }
        for name, value in values.items():
            self.metrics.log_value((module_id, name), value.detach(), window=1)
