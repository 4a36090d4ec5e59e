"""Loader for the Azure LLM inference trace 2023 (``TIMESTAMP,ContextTokens,GeneratedTokens`` CSV).

Source: Microsoft Azure Public Dataset, AzureLLMInferenceTrace_{code,conv}.csv (CC-BY-4.0); Patel et al.,
"Splitwise: Efficient Generative LLM Inference Using Phase Splitting", ISCA 2024. One row per production request:
its arrival time and its prompt (context) and output (generated) token counts.

Two uses:

- **Arrivals** (:meth:`AzureTrace.arrival_times`): a window of ``count`` consecutive request times, starting at a
  request drawn uniformly, shifted to start at 0 and, for a target rate λ, multiplied by
  ``trace mean rate / λ`` where the trace mean rate = (R − 1) / span. The trace's burstiness is kept; its mean rate
  becomes λ (the offered load ρ then holds on average over windows, not in every window). A window longer than the
  trace wraps around, the trace repeated after one mean gap.
- **Token counts** (:meth:`AzureTrace.sample_tokens`): (context, generated) pairs drawn jointly, uniformly, with
  replacement from all requests.

A directory is read as every ``*.csv`` under it (e.g. both the code and the conversation traces), the requests
merged by time (relative to the earliest one).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from scale_rllib.workloads.errors import WorkloadFileError
from scale_rllib.workloads.formats.files import find_workflow_files

__all__ = ["COLUMNS", "AzureTrace", "load_azure_trace"]

#: The columns the loader reads.
COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


@dataclass(frozen=True, eq=False)
class AzureTrace:
    """Requests of one or more Azure LLM trace files, merged by time.

    Attributes:
        files: The CSV files read.
        arrival_s: Shape (R,). Request times, sorted, in seconds since the earliest request.
        context_tokens: Shape (R,), int. Prompt tokens of each request.
        generated_tokens: Shape (R,), int. Output tokens of each request.
    """

    files: tuple[str, ...]
    arrival_s: np.ndarray = field(repr=False)
    context_tokens: np.ndarray = field(repr=False)
    generated_tokens: np.ndarray = field(repr=False)

    @property
    def num_requests(self) -> int:
        """R."""
        return len(self.arrival_s)

    @property
    def span_s(self) -> float:
        """Time from the first to the last request (seconds)."""
        return float(self.arrival_s[-1] - self.arrival_s[0])

    @property
    def mean_rate_per_s(self) -> float:
        """Mean arrival rate (R − 1) / span (requests per second)."""
        return (self.num_requests - 1) / self.span_s

    def arrival_times(self, rng: np.random.Generator, count: int, rate_per_s: float | None = None) -> np.ndarray:
        """Shape (count,). Replayed arrival times (s), first at 0, time-scaled to ``rate_per_s`` (None: as recorded).

        Raises:
            ValueError: ``count`` < 1 or a non-positive rate.
        """
        if count < 1:
            raise ValueError(f"need at least one arrival, got count={count!r}")
        if rate_per_s is not None and not rate_per_s > 0:
            raise ValueError(f"arrival rate must be positive, got {rate_per_s!r}")
        start = int(rng.integers(self.num_requests))
        laps = -(-(start + count) // self.num_requests)  # ceil: how many copies of the trace the window touches
        period = self.span_s + 1.0 / self.mean_rate_per_s
        times = (self.arrival_s[None, :] + period * np.arange(laps)[:, None]).ravel()[start : start + count]
        times = times - times[0]
        return times if rate_per_s is None else times * (self.mean_rate_per_s / rate_per_s)

    def sample_tokens(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` (context, generated) token pairs of requests drawn uniformly with replacement."""
        picks = rng.integers(self.num_requests, size=count)
        return self.context_tokens[picks], self.generated_tokens[picks]


def load_azure_trace(path: str | PathLike[str]) -> AzureTrace:
    """Read one Azure LLM trace CSV, or every ``*.csv`` under a directory.

    Args:
        path: A CSV file with the columns ``TIMESTAMP`` (``YYYY-MM-DD HH:MM:SS.fffffff``), ``ContextTokens``,
            ``GeneratedTokens``; or a directory of them (merged by time).

    Returns:
        The merged trace.

    Raises:
        FileNotFoundError: ``path`` does not exist, or the directory holds no ``.csv`` file.
        WorkloadFileError: a missing column, an unparsable timestamp or token count, a negative token count (file
            and line named), or fewer than two requests at distinct times in all.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(errno.ENOENT, f"Azure trace path does not exist: {root}", str(root))
    files = [root] if root.is_file() else find_workflow_files(root, (".csv",))
    if not files:
        raise FileNotFoundError(errno.ENOENT, f"no Azure trace *.csv files under directory {root}", str(root))
    frame = pd.concat([_read_csv(f) for f in files], ignore_index=True).sort_values("time", kind="stable")
    arrival = (frame["time"] - frame["time"].iloc[0]).dt.total_seconds().to_numpy(np.float64)
    if len(arrival) < 2 or arrival[-1] == 0.0:
        raise WorkloadFileError(f"{root}: an Azure trace needs at least two requests at distinct times")
    return AzureTrace(
        tuple(str(f) for f in files),
        arrival,
        frame["ContextTokens"].to_numpy(np.int64),
        frame["GeneratedTokens"].to_numpy(np.int64),
    )


def _read_csv(file: Path) -> pd.DataFrame:
    """One file's requests: ``time`` (datetime64) and the two token counts, validated."""
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise WorkloadFileError(f"{file}: not a readable CSV file ({exc})") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise WorkloadFileError(f"{file}: missing column(s) {', '.join(missing)} (expected {', '.join(COLUMNS)})")
    out = pd.DataFrame({"time": pd.to_datetime(frame["TIMESTAMP"], format="ISO8601", errors="coerce")})
    _check(file, frame["TIMESTAMP"], out["time"].isna(), "TIMESTAMP", "is not a timestamp")
    for column in COLUMNS[1:]:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | (values < 0) | (values != values.round())
        _check(file, frame[column], bad, column, "is not a token count (an integer ≥ 0)")
        out[column] = values.astype(np.int64)
    return out


def _check(file: Path, raw: pd.Series, bad: pd.Series, column: str, what: str) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise WorkloadFileError(f"{file}: line {row + 2}: {column} {raw.iloc[row]!r} {what}")
