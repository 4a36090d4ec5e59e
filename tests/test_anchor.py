"""KL toward the anchor policy (scale_rllib.learner.anchor): the hand-computed divergence, its mask handling, and
the learner adding β · KL to PPO's loss with a frozen copy of the network its first update started from."""

from __future__ import annotations

import math

import gymnasium as gym
import pytest
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.policy.sample_batch import MultiAgentBatch

from scale_rllib import ConfigError, EnvConfig, TrainConfig
from scale_rllib.learner.anchor import anchor_kl
from scale_rllib.learner.srr_learner import ANCHOR_KL, SRRPPOTorchLearner
from scale_rllib.metrics import LEARNER_ANCHOR_KL
from tests.test_scale_module import _hand_built_batch, _ppo_config, obs_space

MASKED = torch.finfo(torch.float32).min


def test_the_divergence_of_two_hand_computed_rows_ignores_masked_servers_and_padding_rows() -> None:
    """π = (1/4, 3/4), anchor (1/2, 1/2): KL(anchor ‖ π) = ½ ln(½ / ¼) + ½ ln(½ / ¾) = ½ ln(4/3). A third, masked
    server changes nothing; a padding row (mask 0) is left out of the mean."""
    logits = torch.tensor([[0.0, math.log(3.0), MASKED], [5.0, -5.0, MASKED]], requires_grad=True)
    anchor = torch.tensor([[0.0, 0.0, MASKED], [0.0, 0.0, MASKED]])
    kl = anchor_kl(logits, anchor, torch.tensor([1.0, 0.0]))
    assert kl.item() == pytest.approx(0.5 * math.log(4 / 3), rel=1e-6)
    kl.backward()
    assert logits.grad[0, 1] > 0 > logits.grad[0, 0]  # descent lowers the over-weighted server toward the anchor
    assert torch.all(logits.grad[1] == 0) and logits.grad[0, 2] == 0
    assert anchor_kl(anchor, anchor).item() == 0.0
    with pytest.raises(ValueError, match="differ"):
        anchor_kl(logits, anchor[:, :2])


def test_the_learner_adds_beta_times_the_kl_to_the_network_of_its_first_update() -> None:
    n_max, beta = 6, 2.0
    config = _ppo_config(0.0, 0.0)
    config.learners(learner_config_dict={"lambda_dec": 0.0, "lambda_kl": 0.0, ANCHOR_KL: beta})
    config.training(use_kl_loss=False)  # PPO's own (adaptive) KL term would change between updates
    learner = config.build_learner(spaces={DEFAULT_MODULE_ID: (obs_space(n_max), gym.spaces.Discrete(n_max))})
    assert isinstance(learner, SRRPPOTorchLearner)
    module = learner.module[DEFAULT_MODULE_ID]
    start = {k: v.clone() for k, v in module.state_dict().items()}
    batch = MultiAgentBatch({DEFAULT_MODULE_ID: _hand_built_batch(module, n_max)}, env_steps=12)
    results = [learner.update(batch=batch)[DEFAULT_MODULE_ID] for _ in range(3)]
    stats = [{k: float(v.peek()) for k, v in r.items()} for r in results]
    assert stats[0][LEARNER_ANCHOR_KL] == pytest.approx(0.0, abs=1e-7)  # the anchor is the network it started from
    assert stats[-1][LEARNER_ANCHOR_KL] > 0.0
    last = stats[-1]
    ppo = last["policy_loss"] + config.vf_loss_coeff * last["vf_loss"]
    assert last["total_loss"] == pytest.approx(ppo + beta * last[LEARNER_ANCHOR_KL], abs=1e-4)
    anchor = learner._anchors[DEFAULT_MODULE_ID].state_dict()
    assert all(torch.equal(anchor[k], v) for k, v in start.items())  # frozen while the module moved
    assert any(not torch.equal(module.state_dict()[k], v) for k, v in start.items())


def test_an_anchor_needs_a_network_to_anchor_to() -> None:
    assert TrainConfig(warm_start="eft", anchor_kl=1.0).anchor_kl == 1.0
    with pytest.raises(ConfigError, match="anchor_kl: anchors PPO to the network it starts from"):
        TrainConfig(anchor_kl=1.0)
    with pytest.raises(ConfigError, match="anchor_kl: must be a finite number ≥ 0"):
        TrainConfig(env=EnvConfig(), warm_start="eft", anchor_kl=-1.0)


def test_a_restored_learner_keeps_the_adapted_kl_coefficient_and_the_original_anchor(tmp_path) -> None:
    """RLlib's PPO learner does not checkpoint its adaptive KL coefficient; ours does, and its anchor too, so a resumed
    run continues as one uninterrupted run instead of restarting at ``kl_coeff`` with the restored network as anchor."""
    n_max = 6
    config = _ppo_config(0.0, 0.0)
    config.learners(learner_config_dict={"lambda_dec": 0.0, "lambda_kl": 0.0, ANCHOR_KL: 1.0})
    spaces = {DEFAULT_MODULE_ID: (obs_space(n_max), gym.spaces.Discrete(n_max))}
    learner = config.build_learner(spaces=spaces)
    module = learner.module[DEFAULT_MODULE_ID]
    batch = MultiAgentBatch({DEFAULT_MODULE_ID: _hand_built_batch(module, n_max)}, env_steps=12)
    for _ in range(3):
        learner.update(batch=batch)
    learner.curr_kl_coeffs_per_module[DEFAULT_MODULE_ID].data.fill_(0.0123)
    anchor = {k: v.clone() for k, v in learner._anchors[DEFAULT_MODULE_ID].state_dict().items()}
    learner.save_to_path(tmp_path / "learner")

    restored = config.build_learner(spaces=spaces)
    assert float(restored.curr_kl_coeffs_per_module[DEFAULT_MODULE_ID]) == pytest.approx(config.kl_coeff)
    restored.restore_from_path(tmp_path / "learner")
    assert float(restored.curr_kl_coeffs_per_module[DEFAULT_MODULE_ID]) == pytest.approx(0.0123)
    weights = restored._anchors[DEFAULT_MODULE_ID].state_dict()
    assert all(torch.equal(weights[k], v) for k, v in anchor.items())
    assert not all(torch.equal(restored.module[DEFAULT_MODULE_ID].state_dict()[k], v) for k, v in anchor.items())
    assert not any(p.requires_grad for p in restored._anchors[DEFAULT_MODULE_ID].parameters())
