"""Tests of the response-length ranker: features, labels, split, τ, training on synthetic and real data, save / load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scale_rllib.ranking import (
    RankerSettings,
    ResponseLengthRanker,
    kendall_tau,
    list_taus,
    prompt_features,
    prompt_length_scores,
    random_lists,
    split_by_conversation,
)
from scale_rllib.ranking.response_length import NUMERIC_FEATURES, bucket_edges, relevance_labels
from scale_rllib.workloads.formats.sharegpt import load_pairs

#: Small, fast settings for the tests (the defaults train 300 rounds on 4,096 hashed columns).
FAST = RankerSettings(n_features=512, list_size=16, n_estimators=40, learning_rate=0.1)
WORDS = ("tiny", "brief", "short", "medium", "detailed", "long", "thorough", "exhaustive")
FILLER = "please about the topic of cats dogs rivers history code music tax law".split()


def _synthetic(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Prompts naming one of 8 length words among random filler; response length 20 · 2^(word index) tokens."""
    rng = np.random.default_rng(seed)
    level = rng.integers(len(WORDS), size=n)
    prompts = [
        " ".join([*rng.choice(FILLER, size=rng.integers(3, 12)), WORDS[k], *rng.choice(FILLER, size=3)]) for k in level
    ]
    return prompts, 20.0 * 2.0**level


@pytest.fixture(scope="module")
def synthetic_ranker() -> ResponseLengthRanker:
    prompts, lengths = _synthetic(1200, seed=0)
    return ResponseLengthRanker.fit(prompts, lengths, FAST)


# ---------------------------------------------------------------------------------------------------- pieces
def test_features_come_from_the_prompt_only() -> None:
    prompts = ["USER: a\n\nASSISTANT: bbbb bbbb\n\nUSER: why?\nand how?", "plain"]
    x = prompt_features(prompts, n_features=64)
    assert x.shape == (2, len(NUMERIC_FEATURES) + 64)
    dense = x.toarray()
    assert len(prompts[0]) == 50  # ⌈50 / 4⌉ = 13 tokens; message "why?\nand how?" 13 chars, reply 9 chars
    assert dense[0, :6] == pytest.approx([np.log1p(13), np.log1p(4), 2, np.log1p(3), 1, 2])
    assert dense[1, :6] == pytest.approx([np.log1p(2), np.log1p(2), 1, 0, 0, 0])
    assert np.linalg.norm(dense[0, 6:]) == pytest.approx(1.0)  # L2-normalised n-gram counts
    np.testing.assert_array_equal(prompt_length_scores(prompts), [13, 2])


def test_labels_make_shorter_responses_more_relevant() -> None:
    lengths = np.arange(1, 101)
    edges = bucket_edges(lengths, 4)
    assert edges == pytest.approx([25.75, 50.5, 75.25])
    labels = relevance_labels(lengths, edges)
    assert labels[0] == 3 and labels[-1] == 0 and np.all(np.diff(labels) <= 0)
    assert np.bincount(labels).tolist() == [25, 25, 25, 25]


def test_split_keeps_the_pieces_of_a_conversation_together() -> None:
    ids = [f"{c}_{k}" for c in "abcdefghij" for k in (0, 7, 12)] + ["k", "l"]
    train, test = split_by_conversation(ids, 0.3, seed=1)
    assert sorted([*train, *test]) == list(range(len(ids)))
    held = {ids[i].split("_")[0] for i in test}
    assert len(held) == 4  # ⌈0.3 × 12⌉ conversations
    assert not held & {ids[i].split("_")[0] for i in train}
    with pytest.raises(ValueError, match="test_fraction"):
        split_by_conversation(ids, 1.0, seed=0)


def test_kendall_tau_and_lists() -> None:
    lengths = np.arange(10.0)
    assert kendall_tau(lengths, lengths) == pytest.approx(1.0) and kendall_tau(-lengths, lengths) == pytest.approx(-1)
    assert kendall_tau(np.ones(10), lengths) == 0.0  # constant scores carry no order
    lists = random_lists(10, 4, np.random.default_rng(0))
    assert lists.shape == (2, 4) and len(set(lists.ravel())) == 8
    np.testing.assert_allclose(list_taus(lengths, lengths, lists), [1.0, 1.0])


def test_invalid_settings_and_inputs_raise() -> None:
    with pytest.raises(ValueError, match="n_buckets=40"):
        RankerSettings(n_buckets=40)
    with pytest.raises(ValueError, match="list_size=16"):
        ResponseLengthRanker.fit(["a"] * 8, np.ones(8), FAST)


# ---------------------------------------------------------------------------------------------------- training
def test_ranker_learns_a_known_length_word(synthetic_ranker: ResponseLengthRanker) -> None:
    prompts, lengths = _synthetic(600, seed=1)
    scores = synthetic_ranker.score(prompts)
    assert scores.shape == (600,)
    tau = kendall_tau(scores, lengths)
    assert tau > 0.8  # 8 tied levels: τ-b ≤ √(7/8) ≈ 0.94 unless the scores tie too
    assert kendall_tau(prompt_length_scores(prompts), lengths) < tau - 0.5  # the words differ in length a little
    shortest, longest = synthetic_ranker.score(["a tiny note please", "an exhaustive note please"])
    assert shortest < longest  # lower score = predicted shorter


def test_training_is_reproducible(synthetic_ranker: ResponseLengthRanker) -> None:
    prompts, lengths = _synthetic(1200, seed=0)
    again = ResponseLengthRanker.fit(prompts, lengths, FAST)
    np.testing.assert_array_equal(again.score(prompts[:50]), synthetic_ranker.score(prompts[:50]))


def test_save_load_round_trip_gives_identical_scores(synthetic_ranker: ResponseLengthRanker, tmp_path: Path) -> None:
    out = synthetic_ranker.save(tmp_path / "model")
    assert sorted(p.name for p in out.iterdir()) == ["model.txt", "ranker.json"]
    loaded = ResponseLengthRanker.load(out)
    prompts, _ = _synthetic(200, seed=2)
    np.testing.assert_array_equal(loaded.score(prompts), synthetic_ranker.score(prompts))
    assert loaded.settings == synthetic_ranker.settings
    np.testing.assert_array_equal(loaded.edges, synthetic_ranker.edges)


def test_load_errors(synthetic_ranker: ResponseLengthRanker, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model.txt"):
        ResponseLengthRanker.load(tmp_path)
    out = synthetic_ranker.save(tmp_path / "m")
    meta = json.loads((out / "ranker.json").read_text())
    (out / "ranker.json").write_text(json.dumps(meta | {"format": 99}))
    with pytest.raises(ValueError, match="format"):
        ResponseLengthRanker.load(out)
    (out / "ranker.json").write_text(json.dumps(meta | {"settings": {"bogus": 1}}))
    with pytest.raises(ValueError, match="unknown field"):
        ResponseLengthRanker.load(out)


def test_ranker_beats_prompt_length_on_real_sharegpt() -> None:
    pairs = load_pairs(1000)  # 3,316 pairs
    train, test = split_by_conversation([p.conversation_id for p in pairs], 0.25, seed=0)
    prompts = [p.prompt for p in pairs]
    lengths = np.array([p.response_tokens for p in pairs], dtype=np.float64)
    ranker = ResponseLengthRanker.fit([prompts[i] for i in train], lengths[train], FAST)
    held = [prompts[i] for i in test]
    lists = random_lists(len(test), 32, np.random.default_rng(0))
    tau = list_taus(ranker.score(held), lengths[test], lists).mean()
    baseline = list_taus(prompt_length_scores(held), lengths[test], lists).mean()
    assert len(pairs) == 3316 and len(lists) >= 20
    assert tau > 0.25 and tau > baseline + 0.15, (tau, baseline)
