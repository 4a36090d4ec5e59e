"""Task kinds of WorFBench plan nodes: a documented rule over the task's action list and the node's text.

WorFBench (Qiao et al., "Benchmarking Agentic Workflow Generation", ICLR 2025) gold plans say *what* each node does in
words, not which resource it needs. This module maps a node to a :class:`TaskKind` in two steps.

1. **Environment of the graph**, from the action / API list in its user turn (:func:`environment`):

   - ``code``: the agent acts by running code: the list offers a ``bash`` action (WorFBench ``os``), or the task gives
     database tables to query with SQL (``intercodesql``).
   - ``llm``: nothing executable: no list, an empty one, plain-text steps without call syntax (``wikihow``), or only
     model APIs (``VQA(...)``, ``QA(...)``: lumos visual QA), so each step is the model's own work.
   - ``tools`` otherwise: callable actions: quoted ``'name(args)'`` APIs (lumos), ``'name':`` API specs
     (toolalpaca), web actions ``search[...]`` / ``click[...]`` (webshop), templated actions ``go to {recep}``
     (alfworld).

2. **Kind of each node**, from its lower-cased text and its *lead* (first word) (:func:`node_kind`):

   - in ``code``: LLM if it produces the answer (lead in :data:`ANSWER_VERBS`, or "answer action" / "finish action"
     in the text), else CODE;
   - in ``llm``: LLM;
   - in ``tools``: RETRIEVAL if the lead is in :data:`RETRIEVE_VERBS` or the text holds ``search[``; else LLM if the
     lead is in :data:`REASON_VERBS` (deciding, checking, answering); else CODE if it is in :data:`COMPUTE_VERBS`
     (arithmetic, equation solving, sorting: lumos's Calculator / SolveEquation / Code APIs); else TOOL (acting in
     the environment: click, go to, take, put, open, call an API).
"""

from __future__ import annotations

import re

from scale_rllib.sim.workflow import TaskKind

__all__ = ["ANSWER_VERBS", "COMPUTE_VERBS", "REASON_VERBS", "RETRIEVE_VERBS", "environment", "node_kind"]

#: Leads of nodes that produce the final answer.
ANSWER_VERBS = frozenset(
    "answer respond reply output summarize summarise conclude report explain describe provide finish".split()
)
#: Leads of nodes that decide, inspect or reason (LLM work) in a tool environment.
REASON_VERBS = ANSWER_VERBS | frozenset(
    "identify determine decide choose select compare verify review confirm check examine evaluate assess consider "
    "analyze analyse think plan validate finalize understand ask interpret infer express guide assist".split()
)
#: Leads of nodes that look something up.
RETRIEVE_VERBS = frozenset(
    "search retrieve fetch find look lookup query locate gather obtain get acquire collect browse download read "
    "scan".split()
)
#: Leads of nodes that compute (run code / a calculator / a solver).
COMPUTE_VERBS = frozenset(
    "calculate compute solve count sum subtract multiply divide convert simplify distribute substitute define set "
    "setup round sort filter combine rewrite square factor expand generate compress resize shuffle".split()
)
#: APIs that are themselves model calls.
MODEL_APIS = frozenset({"vqa", "qa"})

_LIST_START = re.compile(r"(?:action list you can take|api list you can use)\s*:?", re.IGNORECASE)
_CALL = re.compile(r"['\"]([A-Za-z_]\w*)\(")  # an API signature as a quoted key: 'VQA(image_context, query)'
_TOOL_SYNTAX = re.compile(r"\w\[|\{\w+\}|'name'\s*:")
_WORD = re.compile(r"[a-z]+")


def environment(user_text: str) -> str:
    """The environment of a WorFBench task from its user turn: ``"code"``, ``"tools"`` or ``"llm"``.

    Args:
        user_text: The user message (task description and action / API list).

    Returns:
        See the module docstring for the rule.
    """
    low = user_text.lower()
    match = _LIST_START.search(user_text)
    actions = user_text[match.end() :] if match else ""
    if "database tables" in low or re.search(r"\bbash\b", actions.lower()):
        return "code"
    calls = {name.lower() for name in _CALL.findall(actions)}
    if calls and calls <= MODEL_APIS:
        return "llm"
    if calls or _TOOL_SYNTAX.search(actions):
        return "tools"
    return "llm"


def node_kind(text: str, env: str) -> TaskKind:
    """The kind of one plan node.

    Args:
        text: The node's text (without its number).
        env: Its graph's :func:`environment`.

    Returns:
        The :class:`TaskKind` (LLM, TOOL, RETRIEVAL or CODE) by the rule of the module docstring.

    Raises:
        ValueError: unknown ``env``.
    """
    low = text.lower()
    words = _WORD.findall(low)
    lead = words[0] if words else ""
    if env == "llm":
        return TaskKind.LLM
    if env == "code":
        answers = lead in ANSWER_VERBS or "answer action" in low or "finish action" in low
        return TaskKind.LLM if answers else TaskKind.CODE
    if env != "tools":
        raise ValueError(f"unknown WorFBench environment {env!r} (expected code, tools or llm)")
    if lead in RETRIEVE_VERBS or "search[" in low:
        return TaskKind.RETRIEVAL
    if lead in REASON_VERBS:
        return TaskKind.LLM
    if lead in COMPUTE_VERBS:
        return TaskKind.CODE
    return TaskKind.TOOL
