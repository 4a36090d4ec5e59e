"""Headroom of ``agentic-serving``: every router × engine queue discipline against the lower bound (docs/design.md §11).

For each N of ``--servers`` and ρ of ``--loads``, the same seeded episodes (``--episodes``; a cluster of the
workload's default mix, ``--workflows-per-server`` × N workflows, Azure-replayed arrivals) run with every router of
``--routers`` and every queue discipline of ``--queues``. Per cell the report gives the mean and p99 response time
(over every workflow of the cell's episodes), the prefix-cache hit rate (context tokens served from cache / context
tokens of the LLM calls sent to engines), the mean time to first token, the mean batch (requests in an engine at a
time, averaged over engines and episode: Σ call durations / (engines × makespan)), the realized load (the replayed
window's own arrival rate over the capacity: Azure arrivals are bursty, so a window's rate differs from the trace's
mean that ρ scales), and the best (router, queue) mean response time over the mean lower bound
(:mod:`scale_rllib.sim.serving`). Tools are placed by EFT under every router
(:func:`~scale_rllib.schedulers.serving_routers.fallback_server`).

The ``predicted`` queue ranks calls by a LightGBM LambdaRank ranker of response length
(:mod:`scale_rllib.ranking`) scored out of sample: the ShareGPT conversations are split in two halves, a ranker
trained on each half scores the pairs of the other (2-fold cross-fitting), so no call is ranked by a model that saw
it; Kendall's τ of these scores is reported.

    python benchmarks/headroom.py --output results/headroom [--servers 16 32 48 64 128] [--loads 0.5 0.7 0.85 0.95]
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scale_rllib.ranking.response_length import ResponseLengthRanker, kendall_tau, split_by_conversation
from scale_rllib.schedulers import make_scheduler
from scale_rllib.schedulers.base import schedule_to_end
from scale_rllib.sim.serving import capacity_cluster
from scale_rllib.sim.workflow import TaskKind
from scale_rllib.workloads.generators.agentic_serving import sharegpt_pairs
from scale_rllib.workloads.spec import make_workload

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_WORKLOAD = f"agentic-serving:{DATA / 'worfbench'},azure={DATA / 'azure-llm-2023'}"


def cross_fitted_ranks(seed: int) -> tuple[np.ndarray, float]:
    """One out-of-sample ranker score per ShareGPT pair (2-fold by conversation), and their Kendall's τ."""
    pairs = sharegpt_pairs()
    prompts = [p.prompt for p in pairs]
    lengths = np.array([p.response_tokens for p in pairs], dtype=np.float64)
    first, second = split_by_conversation([p.conversation_id for p in pairs], 0.5, seed)
    scores = np.zeros(len(pairs))
    for train, test in ((first, second), (second, first)):
        ranker = ResponseLengthRanker.fit([prompts[i] for i in train], lengths[train])
        scores[test] = ranker.score([prompts[i] for i in test])
    return scores, kendall_tau(scores, lengths)


def run_cell(workload, router: str, seed: int, servers: int, load: float, per_server: int) -> dict:
    """One episode with ``router``; returns its per-workflow response times and call statistics."""
    sim = workload.build_episode(np.random.default_rng([seed, servers]), servers=servers, load=load,
                                 num_workflows=per_server * servers, randomize_mix=False)  # fmt: skip
    chooser = make_scheduler(router)
    chooser.reset(seed)
    start = time.perf_counter()
    schedule_to_end(sim, chooser)
    on_engine = (sim.task_kind == TaskKind.LLM) & sim.cluster.is_engine[sim.task_server]
    capacity = capacity_cluster(sim.cluster, workload.mean_sequence_tokens, np.flatnonzero(sim.elastic))
    rate = (len(sim.arrival_s) - 1) / sim.arrival_s[-1]  # the replayed window's own arrival rate
    return {"response_s": sim.response_times_s(), "lower_bound_s": sim.lower_bound_s,
            "realized_load": rate / capacity.service_rate(workload.mean_work_by_kind(),
                                                          workload.mean_decode_work_by_kind()),
            "cached": sim.task_cached_tokens[on_engine].sum(), "context": sim.task_context[on_engine].sum(),
            "ttft_s": sim.task_ttft_s[on_engine], "tbt_s": sim.task_tbt_s[on_engine],
            "wall_s": time.perf_counter() - start,
            "engine_s": (sim.task_finish_s - sim.task_start_s)[on_engine].sum(),
            "engine_span_s": int(sim.cluster.is_engine.sum()) * np.nanmax(sim.completion_s)}  # fmt: skip


def measure(args: argparse.Namespace, ranks: np.ndarray | None) -> pd.DataFrame:
    """One row per (N, ρ, queue, router), pooled over the episodes."""
    base = make_workload(args.workload)
    rows = []
    for servers in args.servers:
        for load in args.loads:
            for queue in args.queues:
                workload = dataclasses.replace(base, queue=queue, sample_rank=ranks if queue == "predicted" else None)
                for router in args.routers:
                    cells = [run_cell(workload, router, s, servers, load, args.workflows_per_server)
                             for s in range(args.episodes)]  # fmt: skip
                    rows.append(summarize(cells, servers, load, queue, router))
                    print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)
    return pd.DataFrame(rows)


def summarize(cells: list[dict], servers: int, load: float, queue: str, router: str) -> dict:
    """Pool a cell's episodes: mean / p99 response time, mean bound, cache hit rate, TTFT and TBT (mean / p99 over
    the LLM calls on engines; TBT: a call's decode time / its output tokens − 1), wall time."""
    response = np.concatenate([c["response_s"] for c in cells])
    bound = np.concatenate([c["lower_bound_s"] for c in cells])
    context = sum(c["context"] for c in cells)
    return {"servers": servers, "load": load, "queue": queue, "router": router, "workflows": len(response),
            "mean_rt_s": response.mean(), "p99_rt_s": np.percentile(response, 99), "lower_bound_s": bound.mean(),
            "rt_over_lb": response.mean() / bound.mean(),
            "realized_load": np.mean([c["realized_load"] for c in cells]),
            "cache_hit_rate": sum(c["cached"] for c in cells) / context if context else np.nan,
            **latency_stats(cells),
            "mean_batch": sum(c["engine_s"] for c in cells) / sum(c["engine_span_s"] for c in cells),
            "wall_s": sum(c["wall_s"] for c in cells)}  # fmt: skip


def latency_stats(cells: list[dict]) -> dict:
    """Mean and p99 time to first token (s) and time between tokens (ms) over a cell's LLM calls on engines."""
    ttft = np.concatenate([c["ttft_s"] for c in cells])
    tbt = np.concatenate([c["tbt_s"] for c in cells])
    return {"mean_ttft_s": np.nanmean(ttft), "p99_ttft_s": np.nanpercentile(ttft, 99),
            "mean_tbt_ms": 1e3 * np.nanmean(tbt), "p99_tbt_ms": 1e3 * np.nanpercentile(tbt, 99)}  # fmt: skip


BEST_COLUMNS = {"servers": ("N", "d"), "load": ("ρ", "g"), "realized_load": ("realized ρ", ".2f"),
                "router": ("router", "s"), "queue": ("queue", "s"), "mean_rt_s": ("mean RT (s)", ".2f"),
                "p99_rt_s": ("p99 RT (s)", ".2f"), "lower_bound_s": ("lower bound (s)", ".2f"),
                "rt_over_lb": ("best / LB", ".3f"), "cache_hit_rate": ("cache hit rate", ".3f")}  # fmt: skip
ALL_COLUMNS = {"servers": ("N", "d"), "load": ("ρ", "g"), "queue": ("queue", "s"), "router": ("router", "s"),
               "mean_rt_s": ("mean RT (s)", ".2f"), "p99_rt_s": ("p99 RT (s)", ".2f"), "rt_over_lb": ("RT / LB", ".3f"),
               "cache_hit_rate": ("cache hit rate", ".3f"), "mean_ttft_s": ("mean TTFT (s)", ".3f"),
               "p99_ttft_s": ("p99 TTFT (s)", ".3f"), "mean_tbt_ms": ("mean TBT (ms)", ".1f"),
               "p99_tbt_ms": ("p99 TBT (ms)", ".1f"),
               "mean_batch": ("mean batch", ".2f"), "wall_s": ("wall (s)", ".1f")}  # fmt: skip


def markdown(table: pd.DataFrame, columns: dict[str, tuple[str, str]]) -> list[str]:
    """A Markdown table of ``columns`` (column → (header, format spec)); text columns left-aligned."""
    lines = ["| " + " | ".join(h for h, _ in columns.values()) + " |",
             "|" + "|".join("---" if f == "s" else "---:" for _, f in columns.values()) + "|"]  # fmt: skip
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(format(getattr(row, c), f) for c, (_, f) in columns.items()) + " |")
    return lines


def report(table: pd.DataFrame, tau: float | None, command: str, args: argparse.Namespace, path: Path) -> None:
    """``report.md``: the best (router, queue) per (N, ρ), then every row."""
    best = table.loc[table.groupby(["servers", "load"])["rt_over_lb"].idxmin()]
    lines = ["# Headroom of agentic-serving: routers × queue disciplines vs the lower bound", "",
             f"{args.episodes} episode(s) per cell, {args.workflows_per_server} workflows per server. Command:", "",
             "```", command, "```", ""]  # fmt: skip
    if tau is not None:
        lines += [f"Ranker for `predicted` (2-fold cross-fitted on ShareGPT messages): Kendall's τ = {tau:.3f} over "
                  "all pairs at once (results/ranker reports τ within lists of 32, prompts with their conversation).",
                  ""]  # fmt: skip
    lines += ["## Best router and queue per cell", "", *markdown(best, BEST_COLUMNS), "", *queue_section(table),
              "## Every cell", "", *markdown(table, ALL_COLUMNS)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


def queue_section(table: pd.DataFrame, load: float = 0.85) -> list[str]:
    """At ρ = ``load``: each queue discipline's mean / p99 response time under the router that is best on average
    over the queues there, per N (empty without that load or with one queue)."""
    cells = table[table["load"] == load]
    if cells.empty or cells["queue"].nunique() < 2:
        return []
    lines = [f"## Queue disciplines at ρ = {load:g}", "", "Under the router with the lowest mean RT / LB over the "
             "queue disciplines at that N.", "", "| N | router | " + " | ".join(
                 f"{q} mean / p99 (s)" for q in cells["queue"].unique()) + " |",
             "|---:|---|" + "---:|" * cells["queue"].nunique()]  # fmt: skip
    for n, g in cells.groupby("servers"):
        router = g.groupby("router")["rt_over_lb"].mean().idxmin()
        rows = g[g["router"] == router].set_index("queue")
        lines.append(f"| {n} | {router} | " + " | ".join(
            f"{rows.loc[q, 'mean_rt_s']:.2f} / {rows.loc[q, 'p99_rt_s']:.2f}" for q in rows.index) + " |")  # fmt: skip
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    """Run every cell; write ``results.csv`` and ``report.md`` into ``--output``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default=DEFAULT_WORKLOAD, help="an agentic-serving spec")
    parser.add_argument("--servers", type=int, nargs="+", default=[16, 32, 48, 64, 128], help="N values")
    parser.add_argument("--loads", type=float, nargs="+", default=[0.5, 0.7, 0.85, 0.95], help="ρ values")
    parser.add_argument("--routers", nargs="+", default=["power-of-two", "least-outstanding", "cache-aware",
                        "prefix-affinity", "llm-d", "eft"], help="schedulers")  # fmt: skip
    parser.add_argument("--queues", nargs="+", default=["fcfs", "plas", "predicted", "shortest"], help="disciplines")
    parser.add_argument("--episodes", type=int, default=2, help="seeded episodes per cell (the same for every row)")
    parser.add_argument("--workflows-per-server", type=int, default=10, help="workflows per episode / N")
    parser.add_argument("--seed", type=int, default=0, help="ranker cross-fitting split")
    parser.add_argument("--output", type=Path, default=Path("results/headroom"), help="report and CSV")
    parser.add_argument("--report-only", action="store_true", help="rewrite report.md from OUTPUT/results.csv")
    args = parser.parse_args(argv)
    ranks, tau = cross_fitted_ranks(args.seed) if "predicted" in args.queues else (None, None)
    if args.report_only:
        table = pd.read_csv(args.output / "results.csv")
        argv = [a for a in argv if a != "--report-only"]
    else:
        table = measure(args, ranks)
        args.output.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.output / "results.csv", index=False)
    report(table, tau, shlex.join(["python", "benchmarks/headroom.py", *argv]), args, args.output / "report.md")
    print((args.output / "report.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
