"""Learning to rank requests by predicted response length (Fu et al., NeurIPS 2024), for shortest-first serving.

:mod:`scale_rllib.ranking.response_length`: features of a prompt, a LightGBM LambdaRank ranker trained on ShareGPT V3
prompt / response pairs (:mod:`scale_rllib.workloads.formats.sharegpt`), Kendall's τ, save / load. See
docs/ranking.md.
"""

from __future__ import annotations

from scale_rllib.ranking.response_length import (
    RankerSettings,
    ResponseLengthRanker,
    kendall_tau,
    list_taus,
    prompt_features,
    prompt_length_scores,
    random_lists,
    split_by_conversation,
)

__all__ = [
    "RankerSettings",
    "ResponseLengthRanker",
    "kendall_tau",
    "list_taus",
    "prompt_features",
    "prompt_length_scores",
    "random_lists",
    "split_by_conversation",
]
