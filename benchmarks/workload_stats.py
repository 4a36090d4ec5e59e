"""The embedded agentic generator checked against the real sources (WorFBench, Azure LLM trace, WfInstances).

Prints tables: WorFBench parse counts per source, the Azure traces, the WfInstances runtime fits (refitted here and
compared with the embedded ones), DAG shape (tasks, depth, width) and kind mix, and task-duration quantiles, each for
the ``agentic`` generator vs the data. Durations are seconds: tool / retrieval / code as work units (seconds on a
speed-1 server, the unit of WfInstances runtimes); llm as the call's time on the fastest GPU type of each profile
(``agentic``: work / 12 on gpu-large; data: Azure tokens on the H100 type, context / 6,400 + generated / 25).

    python benchmarks/workload_stats.py [--data ../shared/data] [--samples 3000] [--output stats.json]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy import stats

from scale_rllib.sim.workflow import TaskKind, Workflow
from scale_rllib.workloads.formats.azure import load_azure_trace
from scale_rllib.workloads.formats.worfbench import load_worfbench
from scale_rllib.workloads.generators.agentic import AGENTIC_PROFILE, WORK_LOGNORMAL, AgenticWorkload
from scale_rllib.workloads.generators.llm_model import H100_DECODE_TPS, H100_PREFILL_TPS
from scale_rllib.workloads.generators.runtime_fit import EMBEDDED_FITS, fit_runtimes, wfinstances_runtimes

QUANTILES = (10, 50, 90, 99)
KINDS = (TaskKind.LLM, TaskKind.TOOL, TaskKind.RETRIEVAL, TaskKind.CODE)
console = Console(width=160)


def shape(wf: Workflow) -> tuple[int, int, int]:
    """(tasks, depth = nodes on the longest path, width = most tasks at one longest-path level)."""
    level = np.zeros(wf.num_tasks, dtype=int)
    for t in wf.topo_order:
        level[t] = 1 + max((level[p] for p in wf.parents[t]), default=0)
    return wf.num_tasks, int(level.max()), int(np.bincount(level).max())


def _row(label: str, values: np.ndarray) -> list[str]:
    q = np.percentile(values, QUANTILES)
    return [label, f"{len(values):,}", *(f"{v:,.3g}" for v in q), f"{np.mean(values):,.3g}"]


def _quantile_table(title: str, rows: list[list[str]]) -> None:
    table = Table(title=title)
    for column in ("", "n", *(f"p{q}" for q in QUANTILES), "mean"):
        table.add_column(column, justify="right" if column else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def worfbench_table(root: Path) -> list[Workflow]:
    """Parse counts and kind mix per source; returns every parsed graph."""
    table = Table(title="WorFBench gold graphs (parsed / skipped, kind mix of the nodes)")
    for column in ("source", "graphs", "parsed", "skipped", "nodes", "llm", "tool", "retrieval", "code"):
        table.add_column(column, justify="left" if column == "source" else "right")
    graphs: list[Workflow] = []
    for file in sorted(root.glob("*/graph_eval.json")):
        result = load_worfbench(file)
        graphs += result.graphs
        kinds = np.concatenate([g.kinds for g in result.graphs])
        mix = [f"{np.mean(kinds == k):.0%}" for k in KINDS]
        total = len(result.graphs) + len(result.skipped)
        table.add_row(
            file.parent.name, str(total), str(len(result.graphs)), str(len(result.skipped)), str(len(kinds)), *mix
        )
        for skipped in result.skipped:
            console.print(f"  skipped {skipped}")
    console.print(table)
    return graphs


def azure_table(root: Path):
    """Requests, span and token quantiles per trace file; returns the merged trace."""
    table = Table(title="Azure LLM inference trace 2023")
    for column in ("file", "requests", "span (s)", "req/s", "context p50 / p90", "generated p50 / p90"):
        table.add_column(column, justify="left" if column == "file" else "right")
    for file in [*sorted(root.glob("*.csv")), root]:
        trace = load_azure_trace(file)
        ctx, gen = (np.percentile(x, (50, 90)) for x in (trace.context_tokens, trace.generated_tokens))
        row = [f"{trace.num_requests:,}", f"{trace.span_s:,.3f}", f"{trace.mean_rate_per_s:.3f}"]
        table.add_row(
            file.name + ("/ (all)" if file.is_dir() else ""),
            *row,
            f"{ctx[0]:.0f} / {ctx[1]:.0f}",
            f"{gen[0]:.0f} / {gen[1]:.0f}",
        )
    console.print(table)
    return trace


def fits_table(root: Path) -> dict[TaskKind, np.ndarray]:
    """Refit the WfInstances runtimes and compare with the embedded fits; returns the runtimes per kind."""
    runtimes = wfinstances_runtimes(root)
    table = Table(title="WfInstances runtime fits (kind by avgCPU: <25 % retrieval, ≥75 % code, else tool)")
    for column in ("kind", "n", "refit: dist (params)", "KS", "embedded: dist (params)", "KS", "data p50", "fit p50"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, values in runtimes.items():
        fit, embedded = fit_runtimes(values, str(root)), EMBEDDED_FITS[kind]
        params = ", ".join(f"{p:.4g}" for p in fit.params)
        emb = ", ".join(f"{p:.4g}" for p in embedded.params)
        table.add_row(
            kind.name.lower(), f"{fit.n:,}", f"{fit.dist} ({params})", f"{fit.ks:.3f}", f"{embedded.dist} ({emb})",
            f"{embedded.ks:.3f}", f"{np.median(values):.3g}", f"{fit.frozen().median():.3g}",
        )  # fmt: skip
    console.print(table)
    return runtimes


def shape_rows(generated: list[Workflow], graphs: list[Workflow]) -> list[list[str]]:
    """Quantile rows of tasks / depth / width, generator vs WorFBench."""
    rows = []
    for i, name in enumerate(("tasks", "depth", "width")):
        gen = np.array([shape(w)[i] for w in generated])
        data = np.array([shape(w)[i] for w in graphs])
        rows += [_row(f"{name}: agentic generator", gen), _row(f"{name}: WorFBench", data)]
    return rows


def kind_mix_table(generated: list[Workflow], graphs: list[Workflow]) -> None:
    table = Table(title="Kind mix of the tasks")
    for column in ("", *(k.name.lower() for k in KINDS), "mean tasks"):
        table.add_column(column, justify="right" if column else "left")
    for label, wfs in (("agentic generator", generated), ("WorFBench", graphs)):
        counts = Counter(int(k) for w in wfs for k in w.kinds)
        total = sum(counts.values())
        table.add_row(label, *(f"{counts[int(k)] / total:.0%}" for k in KINDS), f"{total / len(wfs):.2f}")
    console.print(table)


def duration_rows(generated: list[Workflow], trace, runtimes: dict[TaskKind, np.ndarray], rng) -> list[list[str]]:
    """Quantile rows of task durations (s) per kind, generator vs data (and the fit the data workload samples)."""
    gpu_llm = max(t.speed[TaskKind.LLM] for t in AGENTIC_PROFILE.types)
    rows = []
    for kind in KINDS:
        gen = np.concatenate([w.work[w.kinds == kind] for w in generated])
        rows.append(_row(f"{kind.name.lower()}: agentic generator", gen / gpu_llm if kind == TaskKind.LLM else gen))
        if kind == TaskKind.LLM:
            llm_s = trace.context_tokens / H100_PREFILL_TPS + trace.generated_tokens / H100_DECODE_TPS
            rows.append(_row("llm: Azure requests on H100", llm_s))
        else:
            rows.append(_row(f"{kind.name.lower()}: WfInstances runtimes", runtimes[kind]))
            rows.append(_row(f"{kind.name.lower()}: embedded fit (samples)", EMBEDDED_FITS[kind].sample(rng, 20000)))
    return rows


def refit_table(trace, runtimes: dict[TaskKind, np.ndarray]) -> None:
    """The generator's lognormal (median, σ) per kind next to a lognormal fitted to the data, in generator units."""
    gpu_llm = max(t.speed[TaskKind.LLM] for t in AGENTIC_PROFILE.types)
    llm_s = trace.context_tokens / H100_PREFILL_TPS + trace.generated_tokens / H100_DECODE_TPS
    data = {TaskKind.LLM: llm_s[llm_s > 0] * gpu_llm, **runtimes}  # LLM: work units that take that long on gpu-large
    table = Table(title="Generator lognormal (median work units, σ) vs a lognormal fitted to the data")
    for column in ("kind", "generator median", "generator σ", "data median", "data σ", "data KS", "median ratio"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind in KINDS:
        sigma, _, median = stats.lognorm.fit(data[kind], floc=0)
        ks = stats.kstest(data[kind], "lognorm", args=(sigma, 0, median)).statistic
        gen_median, gen_sigma = WORK_LOGNORMAL[kind]
        row = [
            f"{gen_median:g}",
            f"{gen_sigma:g}",
            f"{median:.3g}",
            f"{sigma:.2f}",
            f"{ks:.3f}",
            f"{median / gen_median:.2f}",
        ]
        table.add_row(kind.name.lower(), *row)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--samples", type=int, default=3000, help="workflows drawn from the agentic generator")
    parser.add_argument("--output", type=Path, help="also write the numbers as JSON here")
    args = parser.parse_args()
    graphs = worfbench_table(args.data / "worfbench")
    trace = azure_table(args.data / "azure-llm-2023")
    runtimes = fits_table(args.data / "wfinstances")
    rng = np.random.default_rng(0)
    generated = AgenticWorkload().sample(rng, args.samples)
    kind_mix_table(generated, graphs)
    shapes = shape_rows(generated, graphs)
    _quantile_table("DAG shape: agentic generator vs WorFBench", shapes)
    durations = duration_rows(generated, trace, runtimes, rng)
    _quantile_table("Task durations (s): agentic generator vs data", durations)
    refit_table(trace, runtimes)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        header = ["row", "n", *(f"p{q}" for q in QUANTILES), "mean"]
        args.output.write_text(json.dumps([dict(zip(header, r)) for r in shapes + durations], indent=2))
        console.print(f"written: {args.output}")


if __name__ == "__main__":
    main()
