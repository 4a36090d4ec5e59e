"""The DWS peer benchmark's scenario (GOODRL / DWS-Testbed; docs/dws-benchmark.md) as a configuration of our simulator.

- Workflows: Pegasus DAX 2.1 files, set "S" (:data:`DWS_SET_S`); task work = DAX ``runtime`` × 16 (work units), so
  a 16-vCPU VM runs a task in its DAX runtime.
- VMs: vCPU types :data:`DWS_VCPUS`; pool "k×n" = the first k types, n VMs of each, type-major index order; speed =
  vCPU (work units/s) for every task kind; one slot (one task at a time, FIFO, non-preemptive); no transfer time.
- Arrivals: replayed from a ``stream.csv`` (``workflow_index,arrival_time_s,dax_file``), or Poisson at a rate per hour,
  constant or the peer's piecewise ``change5`` / ``change10`` patterns (:func:`dws_arrivals`).
- Decisions in the testbed's event order (``Simulator(..., ready_order="event")``).

Source of every rule: ``../shared/data/dws/README.md`` and each scenario's ``summary.json`` (exported from DWS-Testbed
commit 1f65495, MIT), and for the rate patterns DWS-Testbed ``utils/evaluation_utils.py::_sample_arrivals`` and
``env/workflow_scheduling_v3/lib/poissonSampling.py::sample_poisson_piecewise``.
"""

from __future__ import annotations

import csv
import errno
import math
import re
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from scale_rllib.sim.cluster import Cluster, ServerType
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import Workflow
from scale_rllib.workloads.errors import WorkloadFileError
from scale_rllib.workloads.formats.files import load_workflows

#: vCPU count of the six VM types, in type-major pool order (slowest first).
DWS_VCPUS: tuple[int, ...] = (8, 16, 32, 48, 64, 96)
#: Work units per second of DAX runtime: taskSize = float(runtime) × 16 (summary.json ``task_size_rule``).
DWS_WORK_SCALE = 16.0
#: Workflow set "S" (type ids 0..3 in the testbed); arrivals draw uniformly among them.
DWS_SET_S: tuple[str, ...] = ("CyberShake_30.xml", "Montage_25.xml", "Inspiral_30.xml", "Sipht_30.xml")
#: Rate patterns of the testbed (``--rate_dist``): per-hour rates of three equal segments of the stream, keyed by the
#: base rate (/h). The testbed defines ``change5`` / ``change10`` for 5.4/h and 9/h only (0.0015 and 0.0025 /s).
RATE_PATTERNS: dict[str, dict[float, tuple[float, ...]]] = {
    "change5": {5.4: (5.4, 7.2, 9.0), 9.0: (9.0, 7.2, 5.4)},
    "change10": {5.4: (5.4, 9.0, 12.6), 9.0: (12.6, 9.0, 5.4)},
}
PATTERNS: tuple[str, ...] = ("constant", *RATE_PATTERNS)
STREAM_COLUMNS = ("workflow_index", "arrival_time_s", "dax_file")
_POOL = re.compile(r"^\s*(\d+)\s*[x×X]\s*(\d+)\s*$")


def parse_pool(pool: str) -> tuple[int, int]:
    """``"6x4"`` (or ``"6×4"``) → (k, n) = (6 types, 4 VMs of each).

    Raises:
        ValueError: not of the form ``KxN``, k outside 1..6 or n < 1 (the message quotes the string).
    """
    match = _POOL.match(str(pool))
    if not match:
        raise ValueError(f"pool {pool!r}: expected 'KxN' (K VM types, N VMs of each), e.g. '6x4'")
    k, n = int(match.group(1)), int(match.group(2))
    if not 1 <= k <= len(DWS_VCPUS):
        raise ValueError(f"pool {pool!r}: K={k} VM types, must be in 1..{len(DWS_VCPUS)} (vCPU types {DWS_VCPUS})")
    if n < 1:
        raise ValueError(f"pool {pool!r}: N={n} VMs per type, must be ≥ 1")
    return k, n


def vm_type(vcpu: int) -> ServerType:
    """One DWS VM type: speed = vCPU work units/s for every task kind, one slot."""
    return ServerType.from_kind_speeds(f"{vcpu}vcpu", {}, slots=1, default=float(vcpu))


def dws_cluster(counts: tuple[int, ...] | list[int], bandwidth: float | None = None) -> Cluster:
    """Type-major pool with ``counts[i]`` VMs of type ``DWS_VCPUS[i]`` (trailing types may be omitted)."""
    if len(counts) > len(DWS_VCPUS) or any(c < 0 for c in counts) or sum(counts) < 1:
        raise ValueError(f"VM counts {list(counts)}: need ≤ {len(DWS_VCPUS)} counts ≥ 0, at least one VM")
    return Cluster.from_counts([(vm_type(v), int(c)) for v, c in zip(DWS_VCPUS, counts)], bandwidth)


def pool_cluster(pool: str) -> Cluster:
    """The "k×n" pool: ``[8]*n + [16]*n + …`` (first k types). Raises ValueError for a bad pool string."""
    k, n = parse_pool(pool)
    return dws_cluster([n] * k)


def load_dws_workflow(dax_dir: str | PathLike[str], dax_file: str) -> Workflow:
    """Load ``dax_dir/dax_file`` with work = runtime × 16 (parsed once per process, cached).

    Raises:
        FileNotFoundError: the directory or the file does not exist (both named).
        WorkflowError: the file is malformed.
    """
    path = Path(dax_dir) / dax_file
    if not Path(dax_dir).is_dir():
        raise FileNotFoundError(errno.ENOENT, f"DAX directory does not exist: {dax_dir}", str(dax_dir))
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, f"DAX file {dax_file!r} is not in directory {dax_dir}", str(path))
    return load_workflows(path, fmt="dax", work_scale=DWS_WORK_SCALE)[0]


@dataclass(frozen=True)
class DwsStream:
    """A fixed stream of workflows: what one DWS episode replays.

    Attributes:
        name: Label (the stream file's folder name, or ``r{rate}_{pattern}_{W}`` for generated streams: streams
            of one rate, pattern and length share it and are told apart by their seed).
        dax_files: W DAX file names, in arrival order.
        arrival_times_s: Shape (W,). Non-decreasing arrival times (seconds).
    """

    name: str
    dax_files: tuple[str, ...]
    arrival_times_s: np.ndarray

    def simulator(self, dax_dir: str | PathLike[str], cluster: Cluster) -> Simulator:
        """A fresh simulator replaying this stream on ``cluster``, in the testbed's event order."""
        workflows = [load_dws_workflow(dax_dir, f) for f in self.dax_files]
        return Simulator(cluster, workflows, self.arrival_times_s, ready_order="event")

    def rate_per_hour(self) -> float:
        """Empirical arrival rate (workflows/hour): (W − 1) / (last − first arrival); NaN for W < 2."""
        span = float(self.arrival_times_s[-1] - self.arrival_times_s[0])
        return (len(self.dax_files) - 1) / span * 3600.0 if span > 0 else math.nan


def read_stream(path: str | PathLike[str], dax_dir: str | PathLike[str] | None = None) -> DwsStream:
    """Read a ``stream.csv`` (``workflow_index,arrival_time_s,dax_file``; floats in repr form, exact).

    Args:
        path: The CSV file.
        dax_dir: If given, every ``dax_file`` must exist in it.

    Raises:
        FileNotFoundError: ``path`` does not exist, or a row names a DAX file not in ``dax_dir`` (file, line and
            DAX name quoted).
        WorkloadFileError: wrong header, a bad or out-of-order ``workflow_index``, a non-numeric, negative,
            non-finite or decreasing ``arrival_time_s``, an empty ``dax_file`` or no rows (file and line named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, f"stream file does not exist: {path}", str(path))
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or tuple(c.strip() for c in rows[0]) != STREAM_COLUMNS:
        raise WorkloadFileError(f"{path}: line 1: header must be {','.join(STREAM_COLUMNS)}")
    names, times = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        name, time_s = _stream_row(path, line, row, len(names), times[-1] if times else 0.0)
        if dax_dir is not None and not (Path(dax_dir) / name).is_file():
            raise FileNotFoundError(
                errno.ENOENT, f"{path}: line {line}: dax_file {name!r} is not in DAX directory {dax_dir}", name
            )
        names.append(name)
        times.append(time_s)
    if not names:
        raise WorkloadFileError(f"{path}: no workflows (only a header)")
    return DwsStream(path.parent.name, tuple(names), np.asarray(times, dtype=np.float64))


def _stream_row(path: Path, line: int, row: list[str], expected: int, previous_s: float) -> tuple[str, float]:
    """Validate one stream row; returns (dax_file, arrival_time_s)."""
    where = f"{path}: line {line}"
    if len(row) != len(STREAM_COLUMNS):
        raise WorkloadFileError(f"{where}: expected {len(STREAM_COLUMNS)} fields, got {len(row)}")
    index, time_text, name = (c.strip() for c in row)
    if index != str(expected):
        raise WorkloadFileError(f"{where}: workflow_index {index!r}, expected {expected} (rows in arrival order)")
    try:
        time_s = float(time_text)
    except ValueError:
        raise WorkloadFileError(f"{where}: arrival_time_s {time_text!r} is not a number") from None
    if not math.isfinite(time_s) or time_s < 0 or time_s < previous_s:
        raise WorkloadFileError(f"{where}: arrival_time_s {time_text!r} must be finite, ≥ 0 and non-decreasing")
    if not name:
        raise WorkloadFileError(f"{where}: empty dax_file")
    return name, time_s


def dws_arrivals(rng: np.random.Generator, count: int, rate_per_hour: float, pattern: str = "constant") -> np.ndarray:
    """Arrival times (s) of ``count`` workflows, as the testbed draws them (with our generator, not its RNG).

    The testbed draws ``count`` exponential gaps; workflow 0 arrives at 0 and workflow i at the sum of the first i
    gaps (the last gap is unused). ``constant``: every gap at ``rate_per_hour``. ``change5`` / ``change10``: the
    ``count`` gaps are split into three segments of ``count // 3`` (the last takes the remainder), each at the rate of
    :data:`RATE_PATTERNS` — 5.4/h → 5.4, 7.2, 9 (change5) or 5.4, 9, 12.6 (change10); 9/h → the reverse sequences
    9, 7.2, 5.4 and 12.6, 9, 5.4.

    Args:
        rng: Source of randomness.
        count: W ≥ 1 workflows.
        rate_per_hour: Base rate (workflows/hour, > 0); 5.4 or 9 for the change patterns.
        pattern: ``constant``, ``change5`` or ``change10``.

    Returns:
        Shape (W,), seconds, non-decreasing, first 0.

    Raises:
        ValueError: unknown pattern, a non-positive rate or count, or a change pattern at a rate other than 5.4/9.
    """
    if pattern not in PATTERNS:
        raise ValueError(f"rate pattern {pattern!r}: expected one of {', '.join(PATTERNS)}")
    if not (math.isfinite(rate_per_hour) and rate_per_hour > 0) or count < 1:
        raise ValueError(f"need a rate per hour > 0 and ≥ 1 workflow, got {rate_per_hour!r} and {count!r}")
    if pattern == "constant":
        rates = np.full(count, rate_per_hour)
    else:
        table = RATE_PATTERNS[pattern]
        base = next((r for r in table if math.isclose(r, rate_per_hour)), None)
        if base is None:
            raise ValueError(f"rate pattern {pattern!r} is defined for 5.4/h and 9/h only, got {rate_per_hour}/h")
        sizes = [count // 3] * 3
        sizes[-1] += count - 3 * (count // 3)
        rates = np.repeat(np.asarray(table[base]), sizes)
    gaps = rng.exponential(3600.0 / rates)
    return np.concatenate([[0.0], np.cumsum(gaps)[:-1]])


def poisson_stream(
    count: int, rate_per_hour: float, seed: int, pattern: str = "constant", names: tuple[str, ...] = DWS_SET_S
) -> DwsStream:
    """A stream of ``count`` workflows drawn uniformly from ``names``, arriving by :func:`dws_arrivals`.

    Deterministic given ``seed`` (one ``numpy.random.default_rng(seed)`` draws the types, then the gaps).
    """
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(names), size=count)
    arrivals = dws_arrivals(rng, count, rate_per_hour, pattern)
    return DwsStream(f"r{rate_per_hour:g}_{pattern}_{count}", tuple(names[i] for i in picks), arrivals)
