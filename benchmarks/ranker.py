"""Learning to rank response lengths on ShareGPT V3: the LambdaRank ranker vs prompt-length and random baselines.

Parses the packaged ShareGPT V3 file (cut off mid-document: the truncation warning is counted), splits the prompt /
response pairs by original conversation (80 / 20), trains :class:`~scale_rllib.ranking.ResponseLengthRanker` on the
training pairs and measures Kendall's τ on held-out prompts: within random lists of ``--list-size`` prompts (the queue
a scheduler orders; mean over lists, 95 % BCa bootstrap CIs over lists, ``scipy.stats.bootstrap``) and over the whole
held-out set. Writes ``report.md``, ``metrics.json`` and the model (``model/``) to ``--output``.

    python benchmarks/ranker.py [--max-conversations N] [--seed 0] [--list-size 32] [--output results/ranker]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from dataclasses import asdict
from itertools import islice
from pathlib import Path

import numpy as np
from scipy.stats import bootstrap

from scale_rllib.ranking import (
    RankerSettings,
    ResponseLengthRanker,
    kendall_tau,
    list_taus,
    prompt_length_scores,
    random_lists,
    split_by_conversation,
)
from scale_rllib.workloads.formats.sharegpt import (
    TruncatedJSONWarning,
    dataset_file,
    iter_conversations,
    original_id,
    prompt_response_pairs,
)

METHODS = ("ranker", "prompt_length", "random")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-conversations", type=int, default=None, help="first N conversations (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="split, training lists, random baseline, bootstrap")
    parser.add_argument("--list-size", type=int, default=32, help="prompts per list, in training and evaluation")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of conversations held out")
    parser.add_argument(
        "--context",
        choices=("conversation", "message"),
        default="conversation",
        help="prompt = the conversation so far (what a serving engine sees) or the human message alone",
    )
    parser.add_argument("--n-estimators", type=int, default=RankerSettings.n_estimators, help="boosting rounds")
    parser.add_argument("--output", type=Path, default=Path("results/ranker"), help="folder of the report and model")
    return parser.parse_args(argv)


def load(max_conversations: int | None, context: str) -> tuple[list, list[str], dict]:
    """Pairs, the truncation warnings' texts and timing / counts."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedJSONWarning)
        conversations = list(islice(iter_conversations(), max_conversations))
    parse_s = time.perf_counter() - start
    site = str(dataset_file().parents[2])  # the installation's site-packages: not written into the report
    truncation = [str(w.message).replace(site, "<site-packages>") for w in caught
                  if issubclass(w.category, TruncatedJSONWarning)]  # fmt: skip
    for w in caught:
        if not issubclass(w.category, TruncatedJSONWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    start = time.perf_counter()
    pairs = list(prompt_response_pairs(conversations, context=context))
    counts = {
        "file": str(dataset_file().relative_to(dataset_file().parents[2])),  # within site-packages
        "conversations": len(conversations),
        "original_conversations": len({original_id(c.id) for c in conversations}),
        "pairs": len(pairs),
        "parse_s": parse_s,
        "pairs_s": time.perf_counter() - start,
    }
    return pairs, truncation, counts


def mean_ci(values: np.ndarray, seed: int) -> dict:
    """Mean of ``values`` with its 95 % BCa bootstrap CI (9,999 resamples)."""
    ci = bootstrap(
        (values,), np.mean, n_resamples=9999, confidence_level=0.95, method="BCa", rng=np.random.default_rng(seed)
    ).confidence_interval
    return {"mean": float(np.mean(values)), "ci_low": float(ci.low), "ci_high": float(ci.high)}


def evaluate(scores: dict[str, np.ndarray], lengths: np.ndarray, lists: np.ndarray, seed: int) -> dict:
    """τ per method: mean over lists with CI, whole held-out set; paired ranker − prompt-length difference."""
    per_list = {m: list_taus(s, lengths, lists) for m, s in scores.items()}
    out = {m: {"lists": mean_ci(t, seed), "whole_set": kendall_tau(scores[m], lengths)} for m, t in per_list.items()}
    out["ranker_minus_prompt_length"] = mean_ci(per_list["ranker"] - per_list["prompt_length"], seed)
    return out


def run(args: argparse.Namespace, command: str) -> dict:
    pairs, truncation, counts = load(args.max_conversations, args.context)
    train, test = split_by_conversation([p.conversation_id for p in pairs], args.test_fraction, args.seed)
    prompts = [p.prompt for p in pairs]
    lengths = np.array([p.response_tokens for p in pairs], dtype=np.float64)
    settings = RankerSettings(list_size=args.list_size, n_estimators=args.n_estimators, seed=args.seed)
    start = time.perf_counter()
    ranker = ResponseLengthRanker.fit([prompts[i] for i in train], lengths[train], settings)
    train_s = time.perf_counter() - start
    ranker.save(args.output / "model")
    held = [prompts[i] for i in test]
    start = time.perf_counter()
    scores = {"ranker": ranker.score(held)}
    score_s = time.perf_counter() - start
    scores["prompt_length"] = prompt_length_scores(held)
    scores["random"] = np.random.default_rng(args.seed + 1).random(len(test))
    lists = random_lists(len(test), args.list_size, np.random.default_rng(args.seed + 2))
    counts |= {"train_pairs": len(train), "test_pairs": len(test), "test_lists": len(lists)}
    return {
        "command": command,
        "context": args.context,
        "data": counts,
        "truncation_warnings": truncation,
        "settings": asdict(settings),
        "timing_s": {"train": train_s, "score_test": score_s, "score_per_prompt_us": 1e6 * score_s / len(test)},
        "response_tokens_test": {q: float(np.percentile(lengths[test], q)) for q in (10, 50, 90)},
        "tau": evaluate(scores, lengths[test], lists, args.seed),
    }


def report(metrics: dict) -> str:
    """The Markdown report."""
    d, t, tau = metrics["data"], metrics["timing_s"], metrics["tau"]
    size = metrics["settings"]["list_size"]
    lines = [
        "# Learning to rank response lengths on ShareGPT V3",
        "",
        f"Command: `{metrics['command']}`",
        "",
        "## Data",
        "",
        f"- File: `{d['file']}`",
        f"- Conversations read: {d['conversations']:,} ({d['original_conversations']:,} original conversations "
        f"before FastChat's split); prompt / response pairs: {d['pairs']:,}",
        f"- Truncation warnings: {len(metrics['truncation_warnings'])}"
        + "".join(f"\n  - `{w}`" for w in metrics["truncation_warnings"]),
        f"- Parse {d['parse_s']:.1f} s, pairs {d['pairs_s']:.1f} s; split by original conversation: "
        f"{d['train_pairs']:,} training / {d['test_pairs']:,} held-out pairs, {d['test_lists']:,} held-out lists "
        f"of {size}",
        f"- Prompt: {'the conversation so far' if metrics['context'] == 'conversation' else 'the human message alone'}",
        "- Held-out response tokens (⌈chars / 4⌉) p10 / p50 / p90: "
        + " / ".join(f"{v:,.0f}" for v in metrics["response_tokens_test"].values()),
        "",
        "## Kendall's τ (predicted vs true response length, held-out prompts)",
        "",
        f"| method | mean τ over lists of {size} | 95 % CI | τ over the whole held-out set |",
        "|---|---|---|---|",
    ]
    for m in METHODS:
        lst = tau[m]["lists"]
        lines.append(
            f"| {m} | {lst['mean']:.3f} | [{lst['ci_low']:.3f}, {lst['ci_high']:.3f}] | {tau[m]['whole_set']:.3f} |"
        )
    diff = tau["ranker_minus_prompt_length"]
    lines += [
        "",
        f"Paired difference ranker − prompt length, same lists: {diff['mean']:+.3f} "
        f"[{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}].",
        "CIs: BCa bootstrap over lists (`scipy.stats.bootstrap`, 9,999 resamples). τ-b (`scipy.stats.kendalltau`).",
        "",
        f"Training: {t['train']:.0f} s (features + {metrics['settings']['n_estimators']} LambdaRank rounds, one "
        f"thread); scoring: {t['score_per_prompt_us']:.0f} µs per prompt.",
        "",
        "Settings: `" + json.dumps(metrics["settings"]) + "`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    metrics = run(args, "python benchmarks/ranker.py " + shlex.join(argv))
    (args.output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    text = report(metrics)
    (args.output / "report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
