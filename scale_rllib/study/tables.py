"""The SRR study's tables: its evaluation pieces assembled (:func:`collect`), mean response time with 95 % CIs and
ratios to the best heuristic and to the lower bound (:func:`summarize_study`), SRR's seed-paired gain
(:func:`srr_gain`) and the attention-feature drift with N (:func:`feature_drift`)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from scale_rllib.evaluation import EVAL_SEED_BASE, ci95_half_width
from scale_rllib.metrics import FEATURE_STATS
from scale_rllib.schedulers import DEFAULT_HEURISTICS
from scale_rllib.study.config import HEURISTIC, VARIANTS, StudyConfig, eval_pieces, piece_name


# ------------------------------------------------------------------------------------------------------------- assembly
def _read_piece(path: Path, cfg: StudyConfig, key: str):
    """A piece's rows (and its feature rows, or None) restricted to ``cfg``'s N, episodes and episode length."""

    def keep(frame):
        same = frame["servers"].isin(cfg.servers) & (frame["workflows_per_server"] == cfg.workload(key)[1])
        if "seed" in frame:  # episode rows (feature rows aggregate all episodes of an N)
            same &= frame["seed"] < EVAL_SEED_BASE + cfg.episodes
        return frame[same]

    features = path.with_suffix(".features.csv")
    return keep(pd.read_csv(path)), keep(pd.read_csv(features)) if features.is_file() else None


def collect(cfg: StudyConfig):
    """Concatenate the pieces of ``cfg`` on disk, restricted to its N, episodes and episode length.

    Returns:
        (results, features, missing): episode rows and feature-statistic rows (pandas DataFrames), and the paths of
        the pieces missing (or with no row for ``cfg``).

    Raises:
        FileNotFoundError: no piece at all.
    """

    results, features, missing = [], [], []
    for key, load, policy in eval_pieces(cfg):
        path = cfg.piece_path(key, load, piece_name(policy))
        rows, feats = _read_piece(path, cfg, key) if path.is_file() else (None, None)
        if rows is None or rows.empty:
            missing.append(path)
            continue
        results.append(rows)
        features += [] if feats is None else [feats]
    if not results:
        raise FileNotFoundError(f"no evaluation piece for this study under {cfg.output / 'pieces'}: run it first")
    frame = pd.concat(results, ignore_index=True)
    order = ["workload", "load", "scheduler", "variant", "train_seed", "train_iterations", "servers", "seed"]
    frame = frame[order + [c for c in frame.columns if c not in order]]
    empty = pd.DataFrame(columns=["workload", "load", "variant", "train_seed", "servers", *FEATURE_STATS])
    return frame, pd.concat(features, ignore_index=True) if features else empty, missing


# -------------------------------------------------------------------------------------------------------------- tables
def summarize_study(results):
    """Per (workload, ρ, scheduler, N): mean response time (s) with its 95 % CI, ratios to the best heuristic and to
    the lower bound.

    A policy's samples are its training seeds (each the mean over the episodes); a heuristic's are the episodes.

    Args:
        results: Episode rows as in ``results.csv`` (a DataFrame).

    Returns:
        DataFrame with ``mean_response_time_s``, ``ci95_s``, ``n``, ``ci_over``, ``lower_bound_s``,
        ``ratio_to_lower_bound``, ``best_heuristic``, ``ratio_to_best_heuristic``, ``paired_ratio_to_best``,
        ``paired_ratio_ci95`` (see :func:`_paired_ratios`).
    """

    keys = ["workload", "load", "scheduler", "variant", "servers"]
    policy = results["variant"] != HEURISTIC
    frame = results.assign(unit=np.where(policy, results["train_seed"], results["seed"]))
    per_unit = frame.groupby(keys + ["unit"], as_index=False, sort=False).agg(
        rt=("mean_response_time_s", "mean"), lb=("lower_bound_s", "mean")
    )
    table = per_unit.groupby(keys, as_index=False, sort=False).agg(
        mean_response_time_s=("rt", "mean"),
        ci95_s=("rt", ci95_half_width),
        n=("rt", "size"),
        lower_bound_s=("lb", "mean"),
    )
    table["ci_over"] = np.where(table["variant"] == HEURISTIC, "episodes", "training seeds")
    table["ratio_to_lower_bound"] = table["mean_response_time_s"] / table["lower_bound_s"]
    cell = ["workload", "load", "servers"]
    heuristics = table[table["variant"] == HEURISTIC]
    best = heuristics.loc[heuristics.groupby(cell)["mean_response_time_s"].idxmin(), cell + ["scheduler"]]
    best["best_heuristic_s"] = heuristics.loc[best.index, "mean_response_time_s"]
    table = table.merge(best.rename(columns={"scheduler": "best_heuristic"}), on=cell, how="left")
    table["ratio_to_best_heuristic"] = table["mean_response_time_s"] / table.pop("best_heuristic_s")
    table = table.merge(_paired_ratios(frame, table, keys), on=keys, how="left")
    rank = {name: i for i, name in enumerate([*VARIANTS.values(), *DEFAULT_HEURISTICS])}
    table["rank"] = table["scheduler"].map(rank).fillna(len(rank))
    table = table.sort_values(["workload", "load", "rank", "servers"], kind="stable").drop(columns="rank")
    return table.reset_index(drop=True)


def _paired_ratios(frame, table, keys: list[str]):
    """Per row of ``table``: the paired ratio to the cell's best heuristic and its 95 % half-width.

    Every scheduler ran the same episodes, so each episode e gives RT(e) / RT_best(e); a unit's ratio is the mean over
    its episodes, and the interval is over units (training seeds for a policy, episodes for a heuristic), as for the
    response time.
    """
    cell = ["workload", "load", "servers"]
    best = table[["workload", "load", "servers", "best_heuristic"]].drop_duplicates()
    best_rt = frame.merge(best, left_on=cell + ["scheduler"], right_on=cell + ["best_heuristic"])
    best_rt = best_rt[cell + ["seed", "mean_response_time_s"]].rename(columns={"mean_response_time_s": "best_rt"})
    paired = frame.merge(best_rt, on=cell + ["seed"])
    paired["ratio"] = paired["mean_response_time_s"] / paired["best_rt"]
    per_unit = paired.groupby(keys + ["unit"], as_index=False, sort=False)["ratio"].mean()
    return per_unit.groupby(keys, as_index=False, sort=False).agg(
        paired_ratio_to_best=("ratio", "mean"), paired_ratio_ci95=("ratio", ci95_half_width)
    )


def srr_gain(results):
    """SRR's gain = (RT_λ=0 − RT_SRR) / RT_λ=0 per (workload, ρ, N), paired by training seed.

    RT_v is the mean over seeds of each seed's mean over the episodes, so the gain is the ratio of the means shown
    beside it. Its 95 % CI is the Student-t interval of the per-seed paired differences RT_λ=0 − RT_SRR (same seed:
    same initial weights and training episodes) divided by RT_λ=0 (the denominator's own spread is ignored); the
    p-value is the paired t-test's. Both are NaN with one seed. One collapsed seed can dominate those means, so the
    robust view is given too: ``srr_wins``, the seeds whose SRR run has the lower RT (a sign test's count), and
    ``median_seed_gain``, the median over seeds of (RT_λ=0 − RT_SRR) / RT_λ=0.

    Returns:
        DataFrame: workload, load, servers, rt_nosrr_s, rt_srr_s, gain, gain_ci95 (half-width, as a fraction),
        seeds, p_value, srr_wins, median_seed_gain.
    """

    policies = results[results["variant"].isin(list(VARIANTS))]
    per_seed = policies.pivot_table(
        index=["workload", "load", "servers", "train_seed"], columns="variant", values="mean_response_time_s"
    )
    columns = [
        "workload",
        "load",
        "servers",
        "rt_nosrr_s",
        "rt_srr_s",
        "gain",
        "gain_ci95",
        "seeds",
        "p_value",
    ]
    columns += ["srr_wins", "median_seed_gain"]
    if not set(VARIANTS) <= set(per_seed.columns):
        return pd.DataFrame(columns=columns)
    per_seed = per_seed.dropna(subset=list(VARIANTS))
    rows = []
    for (workload, load, n), g in per_seed.groupby(level=["workload", "load", "servers"], sort=False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = stats.ttest_rel(g["nosrr"], g["srr"]).pvalue if len(g) > 1 else float("nan")
        base = g["nosrr"].mean()
        gain, half = (base - g["srr"].mean()) / base, ci95_half_width(g["nosrr"] - g["srr"]) / base
        wins, median = int((g["srr"] < g["nosrr"]).sum()), float(((g["nosrr"] - g["srr"]) / g["nosrr"]).median())
        rows.append([workload, load, n, base, g["srr"].mean(), gain, half, len(g), p, wins, median])
    return pd.DataFrame(rows, columns=columns)


def feature_drift(features):
    """Relative change of each attention-feature statistic from the smallest to the largest N, per variant.

    Values are means over training seeds and loads; change = (stat(N_max) − stat(N_min)) / |stat(N_min)|.

    Returns:
        DataFrame: workload, variant, stat, n_from, n_to, value_from, value_to, relative_change.
    """

    rows = []
    means = features.groupby(["workload", "variant", "servers"], sort=False)[list(FEATURE_STATS)].mean()
    for (workload, variant), g in means.groupby(level=["workload", "variant"], sort=False):
        g = g.droplevel(["workload", "variant"]).sort_index()
        lo, hi = g.index.min(), g.index.max()
        for stat in FEATURE_STATS:
            a, b = g.loc[lo, stat], g.loc[hi, stat]
            rows.append([workload, variant, stat, lo, hi, a, b, (b - a) / abs(a) if a else float("nan")])
    columns = ["workload", "variant", "stat", "n_from", "n_to", "value_from", "value_to", "relative_change"]
    return pd.DataFrame(rows, columns=columns)
