"""Durations of tool / retrieval / code tasks, fitted to WfInstances task runtimes (embedded parameters, no data).

Rule: every WfInstances task with a runtime > 0 and an ``avgCPU`` (percent of one core) is put in a kind by how
CPU-bound it is: ``avgCPU < 25`` → RETRIEVAL (waits on data: downloads, format conversions, I/O), ``avgCPU ≥ 75`` →
CODE (CPU-bound computation), otherwise TOOL. Per kind, ``scipy.stats`` lognorm, gamma and weibull_min are fitted by
maximum likelihood (location fixed at 0) and the one of least Kolmogorov–Smirnov distance is kept. Task runtimes are
seconds on the machine of the trace, i.e. work units (seconds on a speed-1 server).

:data:`EMBEDDED_FITS` holds the result for the 120 WfInstances Pegasus executions of ``../shared/data/wfinstances``
(WfCommons WfInstances @ f085867, LGPL-3.0; "WfCommons: A framework for enabling scientific workflow research and
development", FGCS 2022), computed by :func:`fit_wfinstances` (``benchmarks/workload_stats.py`` prints it again).
The pooled runtimes are multi-modal (many applications), so the fits are rough (KS distance 0.09–0.15).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from scipy import stats

from scale_rllib.sim.workflow import TaskKind
from scale_rllib.workloads.errors import WorkloadFileError
from scale_rllib.workloads.formats.files import find_workflow_files

__all__ = ["CANDIDATES", "EMBEDDED_FITS", "RuntimeFit", "fit_runtimes", "fit_wfinstances", "wfinstances_runtimes"]

#: Distributions tried per kind (``scipy.stats`` names).
CANDIDATES = ("lognorm", "gamma", "weibull_min")
#: avgCPU (% of one core) below which a task counts as RETRIEVAL, and at or above which as CODE.
IO_BOUND_CPU, CPU_BOUND_CPU = 25.0, 75.0
_SOURCE = "WfInstances Pegasus @ f085867 (../shared/data/wfinstances, 120 executions)"


@dataclass(frozen=True)
class RuntimeFit:
    """A fitted duration distribution of one task kind.

    Attributes:
        dist: ``scipy.stats`` distribution name.
        params: Its parameters (shape(s), loc, scale), scale in seconds.
        n: Number of runtimes fitted.
        ks: Kolmogorov–Smirnov distance of the fit to them.
        source: Where the runtimes came from.
    """

    dist: str
    params: tuple[float, ...]
    n: int
    ks: float
    source: str

    def frozen(self):
        """The frozen ``scipy.stats`` distribution."""
        return getattr(stats, self.dist)(*self.params)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` durations (seconds on a speed-1 server), drawn with ``rng``."""
        return np.asarray(self.frozen().rvs(size=size, random_state=rng), dtype=np.float64).reshape(size)

    def mean(self) -> float:
        """Mean duration (seconds)."""
        return float(self.frozen().mean())


#: Fits of :func:`fit_wfinstances` on ../shared/data/wfinstances (see the module docstring); means 44.7 / 46.6 /
#: 48.1 s, medians 5.7 / 6.7 / 13.3 s (tool / retrieval / code).
EMBEDDED_FITS: dict[TaskKind, RuntimeFit] = {
    TaskKind.TOOL: RuntimeFit("gamma", (0.21743, 0.0, 205.59), 9318, 0.1365, _SOURCE),
    TaskKind.RETRIEVAL: RuntimeFit("weibull_min", (0.41967, 0.0, 15.933), 18966, 0.0915, _SOURCE),
    TaskKind.CODE: RuntimeFit("gamma", (0.32604, 0.0, 147.54), 21351, 0.1494, _SOURCE),
}


def wfinstances_runtimes(path: str | PathLike[str]) -> dict[TaskKind, np.ndarray]:
    """Runtimes (s) of the WfInstances tasks under ``path`` (file or directory), split into kinds by avgCPU.

    Raises:
        FileNotFoundError: no ``.json`` / ``.json.gz`` file at ``path``.
        WorkloadFileError: a file is not JSON, lacks ``workflow.execution.tasks``, or no task has both a positive
            runtime and an ``avgCPU``.
    """
    root = Path(path)
    files = [root] if root.is_file() else find_workflow_files(root, (".json", ".json.gz"))
    if not files:
        raise FileNotFoundError(f"no WfInstances (.json, .json.gz) files at {root}")
    found: dict[TaskKind, list[float]] = {TaskKind.TOOL: [], TaskKind.RETRIEVAL: [], TaskKind.CODE: []}
    for file in files:
        for runtime, cpu in _runtime_cpu(file):
            kind = (
                TaskKind.RETRIEVAL if cpu < IO_BOUND_CPU else TaskKind.CODE if cpu >= CPU_BOUND_CPU else TaskKind.TOOL
            )
            found[kind].append(runtime)
    if not any(found.values()):
        raise WorkloadFileError(f"{root}: no WfInstances task with both runtimeInSeconds > 0 and avgCPU")
    return {k: np.asarray(v) for k, v in found.items() if v}


def _runtime_cpu(file: Path) -> list[tuple[float, float]]:
    raw = file.read_bytes()
    try:
        doc = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        tasks = doc["workflow"]["execution"]["tasks"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WorkloadFileError(f"{file}: not a WfFormat file with workflow.execution.tasks ({exc})") from exc
    out = []
    for task in tasks:
        runtime, cpu = task.get("runtimeInSeconds"), task.get("avgCPU")
        if isinstance(runtime, (int, float)) and isinstance(cpu, (int, float)) and runtime > 0:
            out.append((float(runtime), float(cpu)))
    return out


def fit_runtimes(runtimes: np.ndarray, source: str) -> RuntimeFit:
    """The best of :data:`CANDIDATES` (least KS distance) fitted to positive runtimes (seconds).

    Raises:
        ValueError: fewer than 2 runtimes, or a runtime that is not finite and > 0.
    """
    data = np.asarray(runtimes, dtype=np.float64)
    if data.size < 2 or not np.all(np.isfinite(data) & (data > 0)):
        raise ValueError("need at least two finite runtimes > 0 to fit a distribution")
    best = None
    for name in CANDIDATES:
        params = tuple(float(p) for p in getattr(stats, name).fit(data, floc=0))
        ks = float(stats.kstest(data, name, args=params).statistic)
        if best is None or ks < best.ks:
            best = RuntimeFit(name, params, int(data.size), ks, source)
    return best


def fit_wfinstances(path: str | PathLike[str]) -> dict[TaskKind, RuntimeFit]:
    """Fit every kind's runtimes of :func:`wfinstances_runtimes` (:func:`fit_runtimes`)."""
    return {kind: fit_runtimes(values, str(path)) for kind, values in wfinstances_runtimes(path).items()}


def mean_durations(fits: Mapping[TaskKind, RuntimeFit]) -> dict[TaskKind, float]:
    """Mean duration (s) per kind of ``fits``."""
    return {kind: fit.mean() for kind, fit in fits.items()}
