"""Per-cell statistics of an evaluation: mean response time with its 95 % interval, ratios to the lower bound and
to the best heuristic, and the *paired* ratio to the best heuristic with its 95 % interval.

Every scheduler runs the same seeded episodes, so the fair comparison is paired: per episode e, r_e = RT_s(e) /
RT_best(e), where "best" is the heuristic with the lowest mean response time in the cell. The paired ratio is the mean
of r_e and its interval the Student-t interval of that mean (n − 1 degrees of freedom) — the spread of the episodes'
common difficulty cancels in the ratio, so it is far tighter than the interval of either mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from scale_rllib.schedulers import SCHEDULERS

#: Columns of ``summary.csv`` after the cell keys.
SUMMARY_COLUMNS = (
    "scheduler",
    "servers",
    "mean_response_time_s",
    "ci95_s",
    "lower_bound_s",
    "ratio_to_lower_bound",
    "episodes",
    "best_heuristic",
    "ratio_to_best_heuristic",
    "paired_ratio_to_best",
    "paired_ratio_ci95",
)


def ci95_half_width(values) -> float:
    """Half-width of the 95 % Student-t interval of the mean of ``values`` (NaN for fewer than 2)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(values) - 1) * stats.sem(values))


def paired_by_seed(rows: pd.DataFrame, name: str, baseline: str) -> pd.DataFrame:
    """Paired ratios of two policies over training seeds: per (seed, N), and per N over every seed's episodes.

    Args:
        rows: One row per (policy ``scheduler``, training ``seed``, ``servers``, ``episode``) with its
            ``mean_response_time_s``; both policies ran the same episodes.
        name: The policy in the numerator.
        baseline: The policy in the denominator.

    Returns:
        Columns policy, baseline, seed (``all`` for the pooled rows, last), servers, episodes, ratio (mean over
        episodes of RT(name) / RT(baseline)) and ci95 (its Student-t 95 % half-width, :func:`ci95_half_width`).
    """
    keys = ["seed", "servers", "episode"]
    a = rows[rows["scheduler"] == name].set_index(keys)["mean_response_time_s"]
    b = rows[rows["scheduler"] == baseline].set_index(keys)["mean_response_time_s"]
    ratio = (a / b).rename("ratio").reset_index()
    out = [(name, baseline, seed, n, len(g), g["ratio"].mean(), ci95_half_width(g["ratio"]))
           for (seed, n), g in ratio.groupby(["seed", "servers"])]  # fmt: skip
    pooled = [(name, baseline, "all", n, len(g), g["ratio"].mean(), ci95_half_width(g["ratio"]))
              for n, g in ratio.groupby("servers")]  # fmt: skip
    return pd.DataFrame(out + pooled, columns=["policy", "baseline", "seed", "servers", "episodes", "ratio", "ci95"])


def _cell_rows(cell: tuple, keys: Sequence[str], frame: pd.DataFrame) -> list[dict]:
    """The summary rows of one cell (every scheduler), with the paired ratio to the cell's best heuristic."""
    per_seed = frame.pivot_table(index="seed", columns="scheduler", values="mean_response_time_s")
    means = frame.groupby("scheduler", sort=False)["mean_response_time_s"].mean()
    heuristic_means = means[means.index.isin(list(SCHEDULERS))]
    best = heuristic_means.idxmin() if len(heuristic_means) else None
    rows = []
    for name, group in frame.groupby("scheduler", sort=False):
        rt = group["mean_response_time_s"].to_numpy()
        lb = group["lower_bound_s"].mean()
        paired = (per_seed[name] / per_seed[best]).dropna().to_numpy() if best is not None else np.array([])
        rows.append(
            dict(zip(keys, cell, strict=True))
            | {
                "scheduler": name,
                "servers": int(group["servers"].iloc[0]),
                "mean_response_time_s": rt.mean(),
                "ci95_s": ci95_half_width(rt),
                "lower_bound_s": lb,
                "ratio_to_lower_bound": rt.mean() / lb,
                "episodes": len(rt),
                "best_heuristic": best,
                "ratio_to_best_heuristic": rt.mean() / heuristic_means[best] if best is not None else float("nan"),
                "paired_ratio_to_best": paired.mean() if len(paired) else float("nan"),
                "paired_ratio_ci95": ci95_half_width(paired),
            }
        )
    return rows


def summarize(results: Sequence[dict], cell_keys: Sequence[str] = ("servers",)) -> pd.DataFrame:
    """Per (cell, scheduler): the statistics of :data:`SUMMARY_COLUMNS` (see the module docstring).

    Args:
        results: Result rows of :func:`~scale_rllib.evaluation.run.evaluate` (or ``results.csv``), with a ``seed``
            column that pairs the schedulers' episodes.
        cell_keys: Columns that identify a cell: ``("servers",)`` (default scenario) or ``("scenario", "pool")``.

    Returns:
        A DataFrame, cells in order of appearance.
    """
    frame = pd.DataFrame(list(results))
    keys = list(cell_keys)
    rows = [
        row
        for cell, group in frame.groupby(keys, sort=False)
        for row in _cell_rows(cell if isinstance(cell, tuple) else (cell,), keys, group)
    ]
    columns = keys + [c for c in SUMMARY_COLUMNS if c not in keys]
    return pd.DataFrame(rows, columns=columns)
