"""Tests of ScaleRLModule, load_policy and SRRPPOTorchLearner with real RLlib (no mocks)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import ray
import torch
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

from scale_rllib.learner.batches import ppo_batch
from scale_rllib.learner.srr_learner import SRRPPOTorchLearner
from scale_rllib.metrics import SRR_DECORRELATION, SRR_KL, SRR_MEAN_ABS_MU, SRR_MEAN_ABS_OFFDIAG, SRR_MEAN_SIGMA
from scale_rllib.models import scale_module
from scale_rllib.models.layers import attention_mask, key_padding_mask, multihead_attention, single_query_attention
from scale_rllib.models.scale_module import POLICY_SUBDIR, SRR_FEATURE, ScaleRLModule, distinct_rows, load_policy

torch.set_num_threads(1)

F_S, F_T = 5, 4
SMALL_MODEL = {"embed_dim": 16, "num_heads": 2}
SRR_METRICS = (SRR_DECORRELATION, SRR_KL, SRR_MEAN_ABS_MU, SRR_MEAN_SIGMA, SRR_MEAN_ABS_OFFDIAG)


def obs_space(n_max: int) -> gym.spaces.Dict:
    """The env's observation contract for ``n_max`` servers."""
    return gym.spaces.Dict(
        {
            "servers": gym.spaces.Box(-10.0, 10.0, (n_max, F_S), np.float32),
            "task": gym.spaces.Box(-10.0, 10.0, (F_T,), np.float32),
            "action_mask": gym.spaces.Box(0.0, 1.0, (n_max,), np.float32),
        }
    )


def make_module(n_max: int, **model_config) -> ScaleRLModule:
    return ScaleRLModule(
        observation_space=obs_space(n_max), action_space=gym.spaces.Discrete(n_max), model_config=model_config
    )


def random_obs(batch: int, n_max: int, n_valid: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Observations with ``n_valid`` real servers first and zero padding after."""
    gen = torch.Generator().manual_seed(seed)
    servers = torch.zeros(batch, n_max, F_S)
    servers[:, :n_valid] = torch.randn(batch, n_valid, F_S, generator=gen)
    mask = torch.zeros(batch, n_max)
    mask[:, :n_valid] = 1.0
    return {"servers": servers, "task": torch.randn(batch, F_T, generator=gen), "action_mask": mask}


def test_masked_logits_are_finfo_min_and_never_sampled() -> None:
    torch.manual_seed(0)
    module = make_module(8)
    obs = random_obs(4, 8, 5)
    obs["action_mask"][1, 2] = 0.0  # an interior hole, not only trailing padding
    logits = module.forward_exploration({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    invalid = obs["action_mask"] == 0
    assert torch.all(logits[invalid] == torch.finfo(logits.dtype).min)
    assert torch.all(logits[~invalid].abs() <= 10.0)  # tanh clipping, C = 10
    dist = module.get_exploration_action_dist_cls().from_logits(logits.repeat(500, 1))
    actions = dist.sample()
    assert not invalid.repeat(500, 1).gather(1, actions[:, None]).any()
    assert torch.isfinite(dist.entropy()).all() and torch.isfinite(dist.logp(actions)).all()


def test_forward_train_outputs_and_batch_not_mutated() -> None:
    module = make_module(6, **SMALL_MODEL)
    obs = random_obs(3, 6, 4)
    batch = {Columns.OBS: obs}
    before = {k: v.clone() for k, v in obs.items()}
    out = module.forward_train(batch)
    assert set(batch) == {Columns.OBS} and set(obs) == set(before)
    assert all(torch.equal(obs[k], before[k]) for k in before)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (3, 6)
    assert out[SRR_FEATURE].shape == (3, 16)
    values = module.compute_values(batch, embeddings=out[Columns.EMBEDDINGS])
    assert values.shape == (3,)
    torch.testing.assert_close(values, module.compute_values(batch))


def test_no_parameter_depends_on_n_max() -> None:
    small, large = make_module(8), make_module(48)
    assert {k: v.shape for k, v in small.state_dict().items()} == {k: v.shape for k, v in large.state_dict().items()}
    large.load_state_dict(small.state_dict(), strict=True)
    # Same 5 real servers, padded to 8 or to 48: identical logits, value and z.
    obs_small, obs_large = random_obs(2, 8, 5), random_obs(2, 48, 5)
    out_small, out_large = small.forward_train({Columns.OBS: obs_small}), large.forward_train({Columns.OBS: obs_large})
    logits_large = out_large[Columns.ACTION_DIST_INPUTS]
    assert logits_large.shape == (2, 48) and torch.isfinite(logits_large[:, :5]).all()
    torch.testing.assert_close(logits_large[:, :5], out_small[Columns.ACTION_DIST_INPUTS][:, :5])
    torch.testing.assert_close(out_large[SRR_FEATURE], out_small[SRR_FEATURE])
    torch.testing.assert_close(
        large.compute_values({Columns.OBS: obs_large}), small.compute_values({Columns.OBS: obs_small})
    )


def test_permuting_servers_permutes_logits() -> None:
    torch.manual_seed(0)
    module = make_module(10)
    obs = random_obs(3, 10, 7)
    perm = torch.randperm(10)
    permuted = {"servers": obs["servers"][:, perm], "task": obs["task"], "action_mask": obs["action_mask"][:, perm]}
    out, out_perm = module.forward_train({Columns.OBS: obs}), module.forward_train({Columns.OBS: permuted})
    torch.testing.assert_close(out_perm[Columns.ACTION_DIST_INPUTS], out[Columns.ACTION_DIST_INPUTS][:, perm])
    torch.testing.assert_close(out_perm[SRR_FEATURE], out[SRR_FEATURE])
    torch.testing.assert_close(out_perm[Columns.EMBEDDINGS], out[Columns.EMBEDDINGS])


def test_all_masked_row_and_no_self_attention_are_finite() -> None:
    module = make_module(5, server_self_attention=False, logit_clip=None)
    assert module.server_encoder.self_attention is None
    obs = random_obs(2, 5, 3)
    obs["action_mask"][1] = 0.0
    out = module.forward_train({Columns.OBS: obs})
    assert all(torch.isfinite(out[k]).all() for k in (SRR_FEATURE, Columns.EMBEDDINGS))
    assert torch.isfinite(module.compute_values({Columns.OBS: obs})).all()


def reference_forward(module: ScaleRLModule, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's formula as first written: nn.MultiheadAttention with a key_padding_mask, torch.where masking."""
    servers, task, valid = obs["servers"], obs["task"], obs["action_mask"] > 0.5
    kpm = key_padding_mask(valid)
    h = module.server_encoder.mlp(servers)
    block = module.server_encoder.self_attention
    if block is not None:
        attended, _ = block.attn(h, h, h, key_padding_mask=kpm, need_weights=False)
        h = block.norm_attn(h + attended)
        h = block.norm_ffn(h + block.ffn(h))
    q = module.task_encoder(task)
    z = module.cross_attention.attn(q.unsqueeze(1), h, h, key_padding_mask=kpm, need_weights=False)[0].squeeze(1)
    pointer = module.pointer
    context = pointer.w_context(torch.cat([q, z], dim=-1)).unsqueeze(1)
    logits = pointer.v(torch.tanh(pointer.w_server(h) + context)).squeeze(-1)
    if pointer.logit_clip is not None:
        logits = pointer.logit_clip * torch.tanh(logits)
    logits = torch.where(valid, logits, torch.full_like(logits, torch.finfo(logits.dtype).min))
    weight = valid.unsqueeze(-1).to(h.dtype)
    mean = (h * weight).sum(dim=1) / weight.sum(dim=1).clamp_min(1.0)
    mx = torch.where(valid.unsqueeze(-1), h, torch.full_like(h, torch.finfo(h.dtype).min)).amax(dim=1)
    mx = torch.where(valid.any(dim=1, keepdim=True), mx, torch.zeros_like(mx))
    return {
        Columns.ACTION_DIST_INPUTS: logits,
        Columns.EMBEDDINGS: torch.cat([q, z, mean, mx], dim=-1),
        SRR_FEATURE: z,
    }


@pytest.mark.parametrize("self_attention", [True, False])
def test_fused_attention_matches_multihead_attention_reference(self_attention: bool, monkeypatch) -> None:
    torch.manual_seed(0)
    module = make_module(12, server_self_attention=self_attention)
    full = random_obs(3, 12, 12, seed=1)  # every server valid: the unmasked kernel
    holes = random_obs(5, 12, 9, seed=2)
    holes["action_mask"][1, 3] = 0.0  # an interior hole
    holes["action_mask"][2] = 0.0  # a row without any valid server
    tol = {"atol": 1e-5, "rtol": 1e-5}
    for obs in (full, holes):
        valid = obs["action_mask"] > 0.5
        # Training mode, with autograd: outputs and gradients equal the reference.
        module.train()
        out, ref = module.forward_train({Columns.OBS: obs}), reference_forward(module, obs)
        for key in (Columns.ACTION_DIST_INPUTS, SRR_FEATURE):
            torch.testing.assert_close(out[key], ref[key], **tol)
        rows = valid.any(dim=1)  # the embeddings of an all-masked row are garbage by design (finite, masked later)
        torch.testing.assert_close(out[Columns.EMBEDDINGS][rows], ref[Columns.EMBEDDINGS][rows], **tol)
        losses = [
            o[Columns.ACTION_DIST_INPUTS].where(valid, 0.0).sum() + o[SRR_FEATURE].pow(2).sum() for o in (out, ref)
        ]
        grads, ref_grads = (torch.autograd.grad(x, list(module.parameters()), allow_unused=True) for x in losses)
        for grad, ref_grad in zip(grads, ref_grads, strict=True):
            if ref_grad is not None:
                torch.testing.assert_close(grad, ref_grad, **tol)
        # Inference, without autograd (nn.MultiheadAttention's fast path in the reference), in one pass and chunked.
        module.eval()
        with torch.no_grad():
            ref = reference_forward(module, obs)[Columns.ACTION_DIST_INPUTS]
            logits = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
            torch.testing.assert_close(logits, ref, **tol)
            monkeypatch.setattr(scale_module, "INFERENCE_CHUNK_TOKENS", 25)  # chunks of 2 samples
            chunked = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
            monkeypatch.undo()
            torch.testing.assert_close(chunked, ref, **tol)


def test_bad_spaces_and_config_raise() -> None:
    with pytest.raises(ValueError):
        ScaleRLModule(observation_space=obs_space(4), action_space=gym.spaces.Discrete(5), model_config={})
    with pytest.raises(ValueError):
        ScaleRLModule(observation_space=obs_space(4)["servers"], action_space=gym.spaces.Discrete(4))
    with pytest.raises(ValueError):
        make_module(4, embed_dim=10, num_heads=4)
    with pytest.raises(ValueError):
        make_module(4).forward_train({Columns.OBS: {"servers": torch.zeros(1, 4, F_S)}})


@pytest.mark.parametrize("layout", ["module_dir", "algorithm_dir"])
def test_load_policy_rebuilds_for_larger_n(tmp_path, layout: str) -> None:
    module = make_module(8, **SMALL_MODEL)
    module_dir = tmp_path / POLICY_SUBDIR if layout == "algorithm_dir" else tmp_path / "module"
    module.save_to_path(module_dir.as_posix())
    same = load_policy(tmp_path if layout == "algorithm_dir" else module_dir)
    assert same.observation_space["servers"].shape == (8, F_S)
    policy = load_policy(tmp_path if layout == "algorithm_dir" else module_dir, observation_space=obs_space(48))
    assert isinstance(policy, ScaleRLModule) and policy.action_space.n == 48
    obs_small, obs_large = random_obs(2, 8, 6), random_obs(2, 48, 6)
    logits_large = policy.forward_inference({Columns.OBS: obs_large})[Columns.ACTION_DIST_INPUTS]
    logits_small = module.forward_inference({Columns.OBS: obs_small})[Columns.ACTION_DIST_INPUTS]
    torch.testing.assert_close(logits_large[:, :6], logits_small[:, :6])
    with pytest.raises(FileNotFoundError):
        load_policy(tmp_path / "nothing")


def _hand_built_batch(module: ScaleRLModule, n_max: int, batch: int = 12) -> SampleBatch:
    """A PPO train batch: obs, actions, their log-probs and dist inputs from ``module``, advantages, targets."""
    rng = np.random.default_rng(0)
    mask = (rng.random((batch, n_max)) < 0.7).astype(np.float32)
    mask[:, 0] = 1.0
    obs = {
        "servers": (rng.normal(size=(batch, n_max, F_S)) * mask[..., None]).astype(np.float32),
        "task": rng.normal(size=(batch, F_T)).astype(np.float32),
        "action_mask": mask,
    }
    return ppo_batch(module, obs, rng, loss_mask=np.arange(batch) < batch - 2)  # the last 2 rows are padding


def _ppo_config(lambda_dec: float, lambda_kl: float) -> PPOConfig:
    return (
        PPOConfig()
        .rl_module(rl_module_spec=RLModuleSpec(module_class=ScaleRLModule, model_config=SMALL_MODEL))
        .learners(
            learner_class=SRRPPOTorchLearner, learner_config_dict={"lambda_dec": lambda_dec, "lambda_kl": lambda_kl}
        )
        .training(lr=1e-3)
    )


@pytest.mark.parametrize("lam", [0.1, 0.0])
def test_one_learner_update_on_hand_built_batch(lam: float) -> None:
    n_max = 6
    config = _ppo_config(lam, lam)
    learner = config.build_learner(spaces={DEFAULT_MODULE_ID: (obs_space(n_max), gym.spaces.Discrete(n_max))})
    assert isinstance(learner, SRRPPOTorchLearner)
    module = learner.module[DEFAULT_MODULE_ID]
    before = {k: v.clone() for k, v in module.state_dict().items()}
    batch = _hand_built_batch(module, n_max)
    results = learner.update(batch=MultiAgentBatch({DEFAULT_MODULE_ID: batch}, env_steps=len(batch)))

    stats = {k: float(v.peek()) for k, v in results[DEFAULT_MODULE_ID].items()}
    assert all(name in stats and math.isfinite(stats[name]) for name in SRR_METRICS)
    assert stats[SRR_KL] > 0.0 and stats[SRR_MEAN_SIGMA] > 0.0
    # Total = PPO terms (entropy coeff 0, initial KL coeff) + λ·(L_dec + L_KL): SRR is in the loss iff λ > 0.
    ppo = stats["policy_loss"] + config.vf_loss_coeff * stats["vf_loss"] + config.kl_coeff * stats["mean_kl_loss"]
    assert stats["total_loss"] == pytest.approx(ppo + lam * (stats[SRR_DECORRELATION] + stats[SRR_KL]), abs=1e-4)
    assert any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


class TinySchedulingEnv(gym.Env):
    """A toy env with the observation contract: reward = feature 0 of the chosen server, 8 steps."""

    N_MAX = 6

    def __init__(self, config: dict | None = None) -> None:
        self.observation_space = obs_space(self.N_MAX)
        self.action_space = gym.spaces.Discrete(self.N_MAX)

    def _obs(self) -> dict[str, np.ndarray]:
        n_valid = int(self.np_random.integers(2, self.N_MAX + 1))
        self._servers = np.zeros((self.N_MAX, F_S), np.float32)
        self._servers[:n_valid] = self.np_random.normal(size=(n_valid, F_S))
        mask = (np.arange(self.N_MAX) < n_valid).astype(np.float32)
        return {
            "servers": self._servers,
            "task": self.np_random.normal(size=F_T).astype(np.float32),
            "action_mask": mask,
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs(), {}

    def step(self, action: int):
        reward = float(self._servers[action, 0])
        self._t += 1
        return self._obs(), reward, self._t >= 8, False, {}


def test_one_ppo_iteration_then_load_policy_for_larger_n(tmp_path) -> None:
    ray.init(num_cpus=1, include_dashboard=False, ignore_reinit_error=True)
    try:
        config = (
            _ppo_config(0.1, 0.1)
            .environment(TinySchedulingEnv)
            .env_runners(num_env_runners=0)
            .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
        )
        algo = config.build_algo()
        assert algo.env_runner.module.inference_only and not hasattr(algo.env_runner.module, "value_head")
        learner_results = algo.train()["learners"][DEFAULT_MODULE_ID]
        assert all(math.isfinite(learner_results[name]) for name in SRR_METRICS)
        algo.save(tmp_path.as_posix())
        algo.stop()
    finally:
        ray.shutdown()
    policy = load_policy(tmp_path, observation_space=obs_space(24))
    logits = policy.forward_inference({Columns.OBS: random_obs(2, 24, 20)})[Columns.ACTION_DIST_INPUTS]
    assert logits.shape == (2, 24) and torch.isfinite(logits[:, :20]).all()


@pytest.mark.parametrize("self_attention", [True, False])
def test_infer_one_over_distinct_servers_equals_the_full_forward(self_attention: bool) -> None:
    """Real observations of a 96-server cluster (many idle servers of a type are identical rows): the logits and z
    computed over the distinct rows with log-multiplicity key bias equal the full batched computation."""
    from scale_rllib.env.observation import observation_space
    from scale_rllib.env.scheduling_env import SchedulingEnv
    from scale_rllib.schedulers.heuristics import EFTScheduler

    env = SchedulingEnv({"servers_range": (96, 96), "max_servers": 128, "load": 0.5, "num_workflows": 60})
    torch.manual_seed(0)
    module = ScaleRLModule(
        observation_space=observation_space(128),
        action_space=gym.spaces.Discrete(128),
        model_config={"embed_dim": 32, "num_heads": 4, "server_self_attention": self_attention},
    ).eval()
    obs, _ = env.reset(seed=4)
    distinct_counts, checked = [], 0
    for step in range(300):
        if step % 10 == 0:
            one = {k: torch.from_numpy(v)[None] for k, v in obs.items()}
            with torch.no_grad():
                logits, z = module.infer_one(one)
                enc = module.encode({Columns.OBS: one})
                full = module.pointer(enc.h, enc.q, enc.z, enc.valid)
            torch.testing.assert_close(z, enc.z, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(logits, full, atol=1e-4, rtol=1e-5)
            assert bool((logits[0, 96:] == torch.finfo(logits.dtype).min).all())
            distinct_counts.append(len(torch.unique(one["servers"][0, :96], dim=0)))
            checked += 1
        obs, _, done, _, _ = env.step(EFTScheduler().select(obs, env.sim))
        if done:
            break
    assert checked >= 10
    assert min(distinct_counts) < 96  # the shortcut had duplicates to exploit
    # forward_inference at batch 1 goes through the same path
    one = random_obs(1, 12, 9, seed=3)
    with torch.no_grad():
        module12 = make_module(12, **SMALL_MODEL).eval()
        via_forward = module12.forward_inference({Columns.OBS: one})[Columns.ACTION_DIST_INPUTS]
        enc = module12.encode({Columns.OBS: one})
        torch.testing.assert_close(via_forward, module12.pointer(enc.h, enc.q, enc.z, enc.valid), atol=1e-4, rtol=1e-5)


def test_single_query_attention_equals_the_projected_attention() -> None:
    """The absorbed form (keys/values never projected) equals softmax(QKᵀ/√d_h)V for bool masks, float score biases
    (non-zero key and value biases included), and its gradients match."""
    torch.manual_seed(3)
    attn = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        attn.in_proj_bias.normal_()  # the key bias must cancel, the value bias must survive
    query, kv = torch.randn(5, 16), torch.randn(5, 7, 16)
    valid = torch.ones(5, 7, dtype=torch.bool)
    valid[1, 2:] = False
    valid[3] = False  # no valid key: attends to all, as the projected form does
    masks = [attention_mask(valid), torch.randn(5, 1, 1, 7), None]
    for mask in masks:
        got = single_query_attention(attn, query, kv, mask)
        want = multihead_attention(attn, query[:, None], kv, mask)[:, 0]
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        grads = torch.autograd.grad(got.square().sum(), list(attn.parameters()))
        ref_grads = torch.autograd.grad(want.square().sum(), list(attn.parameters()))
        for grad, ref in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(grad, ref, atol=1e-5, rtol=1e-5)
    reference = attn(query[:, None], kv, kv, key_padding_mask=key_padding_mask(valid), need_weights=False)[0][:, 0]
    torch.testing.assert_close(single_query_attention(attn, query, kv, masks[0]), reference, atol=1e-5, rtol=1e-5)


def test_distinct_rows_matches_torch_unique() -> None:
    rng = np.random.default_rng(0)
    rows = torch.from_numpy(rng.integers(0, 3, (200, 4)).astype(np.float32))
    distinct, inverse, counts = distinct_rows(rows)
    ref_distinct, ref_inverse, ref_counts = torch.unique(rows, dim=0, return_inverse=True, return_counts=True)
    assert len(distinct) == len(ref_distinct) < 200
    torch.testing.assert_close(distinct[inverse], rows)  # every row maps back to itself
    assert sorted(counts.tolist()) == sorted(ref_counts.tolist()) and int(counts.sum()) == 200
