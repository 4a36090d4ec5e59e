"""Every metric name the project logs, defined once (MLflow keys, RLlib metrics-logger keys, CSV columns), and the
keys of the env's info dicts.

Names are namespaced like cleanrl's (``srr/…``, ``train/…``, ``eval/…``); per-scheduler evaluation metrics are
prefixed ``<scheduler>/``. docs/cli.md lists where each appears.
"""

from __future__ import annotations

# Attention-feature statistics (docs/design.md, "SRR"): per SRR update and per evaluated (policy, N).
FEATURE_MEAN_ABS_MU = "mean_abs_mu"
FEATURE_MEAN_SIGMA = "mean_sigma"
FEATURE_MEAN_ABS_OFFDIAG_CORR = "mean_abs_offdiag_corr"
FEATURE_STATS = (FEATURE_MEAN_ABS_MU, FEATURE_MEAN_SIGMA, FEATURE_MEAN_ABS_OFFDIAG_CORR)

# SRR: logged per module by the learner every update, even when λ = 0.
SRR_DECORRELATION = "srr/decorrelation"
SRR_KL = "srr/kl"
SRR_MEAN_ABS_MU = f"srr/{FEATURE_MEAN_ABS_MU}"
SRR_MEAN_SIGMA = f"srr/{FEATURE_MEAN_SIGMA}"
SRR_MEAN_ABS_OFFDIAG = f"srr/{FEATURE_MEAN_ABS_OFFDIAG_CORR}"

# Episode metrics, logged by the env runners' callback at every episode end.
EPISODE_RESPONSE_TIME = "episode/mean_response_time_s"
EPISODE_RESPONSE_TIME_RATIO = "episode/response_time_over_lower_bound"
EPISODE_NUM_SERVERS = "episode/num_servers"  # the episode's N (MLflow key kept from the first release)

# Training metrics as logged to MLflow (short names of RLlib result keys).
TRAIN_RETURN = "train/episode_return_mean"
TRAIN_EPISODE_LEN = "train/episode_len_mean"
TRAIN_RESPONSE_TIME = "train/mean_response_time_s"
TRAIN_RESPONSE_TIME_RATIO = "train/response_time_over_lower_bound"
TRAIN_NUM_SERVERS = "train/num_servers"
TRAIN_ENV_STEPS = "train/env_steps"
TRAIN_ITER_TIME = "train/time_this_iter_s"

# Warm start (behaviour cloning + DAgger) and policy iteration (self-rollout labels + distillation), at step 0.
WARM_START_PREFIX = "warm_start/"
POLICY_ITERATION_PREFIX = "policy_iteration/"

_RESULT_KEYS = {
    "env_runners/episode_return_mean": TRAIN_RETURN,
    "env_runners/episode_len_mean": TRAIN_EPISODE_LEN,
    f"env_runners/{EPISODE_RESPONSE_TIME}": TRAIN_RESPONSE_TIME,
    f"env_runners/{EPISODE_RESPONSE_TIME_RATIO}": TRAIN_RESPONSE_TIME_RATIO,
    f"env_runners/{EPISODE_NUM_SERVERS}": TRAIN_NUM_SERVERS,
    "num_env_steps_sampled_lifetime": TRAIN_ENV_STEPS,
    "time_this_iter_s": TRAIN_ITER_TIME,
}
_LEARNER_PREFIX = "learners/default_policy/"
#: KL(π_anchor ‖ π) of the learner's anchor regularisation (scale_rllib.learner.anchor), logged as train/anchor_kl.
LEARNER_ANCHOR_KL = "anchor_kl"
_LEARNER_KEYS = ("policy_loss", "vf_loss", "entropy", "mean_kl_loss", "total_loss", "vf_explained_var",
                 LEARNER_ANCHOR_KL)  # fmt: skip

# Evaluation metrics (prefixed ``<scheduler>/``): one per cluster size N of the default scenario …
EVAL_RESPONSE_TIME = "eval/mean_response_time_s/N{n}"
EVAL_RATIO_TO_BOUND = "eval/response_time_over_lower_bound/N{n}"
EVAL_RATIO_TO_BEST = "eval/response_time_over_best_heuristic/N{n}"
EVAL_MEAN_RATIO_TO_BEST = "eval/response_time_over_best_heuristic/mean"  # of the paired ratios over the evaluated N
EVAL_FEATURE_STAT = "eval/{stat}/N{n}"
# … and one per (stream, pool) of the DWS scenario (flowtime = response time, the peer's term).
EVAL_DWS_FLOWTIME = "eval/dws/mean_flowtime_s/{scenario}/{pool}"
EVAL_DWS_RATIO = "eval/dws/flowtime_over_lower_bound/{scenario}/{pool}"

# Keys of the env's info dicts (scalars only: gymnasium's vector env stacks each key across its envs).
INFO_SERVERS = "servers"  # every info: N of the episode
INFO_TIME_S = "time_s"  # every info: the observation's simulated time (s); at the end, the last completion
INFO_INPUT_ID = "input_id"  # with EnvConfig.shared_inputs: the group of episodes that share one input
INFO_MEAN_RESPONSE_TIME_S = "mean_response_time_s"  # the final info: mean response time over the workflows (s)
INFO_MEAN_LOWER_BOUND_S = "mean_lower_bound_s"  # the final info: mean lower bound over the workflows (s)

# MLflow tag on an evaluation run: the training run whose checkpoint it evaluated.
TAG_TRAINING_RUN = "scale_rllib.training_run_id"
TAG_JOB = "job"


def short_training_name(result_key: str) -> str | None:
    """The MLflow name of a flattened ``Algorithm.train()`` result key, or None to drop it."""
    if result_key in _RESULT_KEYS:
        return _RESULT_KEYS[result_key]
    if result_key.startswith(_LEARNER_PREFIX):
        rest = result_key[len(_LEARNER_PREFIX) :]
        if rest.startswith("srr/"):
            return rest
        if rest in _LEARNER_KEYS:
            return f"train/{rest}"
    return None
