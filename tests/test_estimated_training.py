"""PPO on estimated runtimes (real Ray, real RLlib): observations carry the performance model's uncertainty, the
checkpoint's policy reads them at another N, and an evaluation without that column refuses the policy."""

from __future__ import annotations

import dataclasses

import pytest
import ray

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import SERVER_FEATURES, UNCERTAINTY_FEATURES, ObservationSpec
from scale_rllib.evaluation import EvalConfig, evaluate
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.training import train
from scale_rllib.validation import ConfigError
from tests.test_training_e2e import TINY

ESTIMATED = dataclasses.replace(
    TINY,
    env=EnvConfig(servers_range=(6, 10), num_workflows=6, runtime_knowledge="estimated", profile_error=0.5),
    iterations=1,
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("estimated")
    try:
        return train(ESTIMATED, out, progress=False).checkpoint
    finally:
        ray.shutdown()


def test_a_policy_trained_on_estimates_reads_the_uncertainty_at_any_n(checkpoint) -> None:
    policy = PolicyScheduler.from_checkpoint(checkpoint, max_servers=12)
    assert policy.observation_spec == ObservationSpec(uncertainty=True)
    assert policy.module.observation_space["servers"].shape == (12, len(SERVER_FEATURES) + len(UNCERTAINTY_FEATURES))
    cfg = EvalConfig(servers=(12,), episodes=1, schedulers=("eft",), workflows_per_server=1.0,
                     runtime_knowledge="estimated", profile_error=0.5)  # fmt: skip
    rows = evaluate(cfg, [policy]).results
    assert {r["scheduler"] for r in rows} == {"eft", "scale"}
    with pytest.raises(ConfigError, match="--runtime-knowledge estimated"):
        evaluate(dataclasses.replace(cfg, runtime_knowledge="oracle"), [policy])
