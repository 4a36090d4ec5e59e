"""The SRR study's plots: response time vs N per (workload, ρ), and the attention-feature statistics vs N."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scale_rllib.evaluation import ci95_half_width
from scale_rllib.metrics import FEATURE_STATS
from scale_rllib.study.config import HEURISTIC, VARIANTS


def plot_response_times(summary, output: Path) -> list[Path]:
    """One PNG per (workload, ρ): mean response time (log y, 95 % CI bars) vs N; SCALE with / without SRR as solid
    lines (over training seeds), heuristics dashed (over episodes), the lower bound dotted."""

    paths = []
    for (workload, load), table in summary.groupby(["workload", "load"], sort=False):
        fig = Figure(figsize=(7.5, 4.8))
        ax = fig.subplots()
        for name, g in table.groupby("scheduler", sort=False):
            policy = g["variant"].iloc[0] != HEURISTIC
            ax.errorbar(
                g["servers"],
                g["mean_response_time_s"],
                yerr=np.nan_to_num(g["ci95_s"]),
                marker="o" if policy else ".",
                linestyle="-" if policy else "--",
                linewidth=2.2 if policy else 1.2,
                capsize=3,
                label=name,
            )
        bound = table.groupby("servers")["lower_bound_s"].mean()
        ax.plot(bound.index, bound.values, ":", color="grey", label="lower bound")
        ax.set(xlabel="servers N", ylabel="mean response time (s)", yscale="log")
        ax.set_title(f"{workload}, ρ = {load:g}: zero-shot response time vs N (trained at N≈16)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(output / f"response_time_{workload}_rho{load:g}.png")
        fig.savefig(paths[-1], dpi=120)
    return paths


def plot_features(features, output: Path) -> list[Path]:
    """One PNG per workload: mean |μ|, mean σ, mean |off-diagonal corr| of the attention features vs N, with and
    without SRR (mean over training seeds of each seed's mean over loads; 95 % CI bars over seeds)."""

    paths = []
    titles = {"mean_abs_mu": "mean |μ|", "mean_sigma": "mean σ", "mean_abs_offdiag_corr": "mean |off-diag corr|"}
    for workload, table in features.groupby("workload", sort=False):
        fig = Figure(figsize=(13, 3.8))
        axes = fig.subplots(1, 3)
        per_seed = table.groupby(["variant", "train_seed", "servers"], as_index=False)[list(FEATURE_STATS)].mean()
        for ax, stat in zip(axes, FEATURE_STATS, strict=True):
            for variant, colour in zip(VARIANTS, ("tab:red", "tab:blue"), strict=True):
                agg = per_seed[per_seed["variant"] == variant].groupby("servers")[stat].agg(["mean", ci95_half_width])
                label = VARIANTS[variant]
                ax.errorbar(
                    agg.index,
                    agg["mean"],
                    yerr=np.nan_to_num(agg["ci95_half_width"]),
                    marker="o",
                    capsize=3,
                    label=label,
                    color=colour,
                )
            ax.set(xlabel="servers N", title=titles[stat])
            ax.grid(True, alpha=0.3)
        axes[0].legend()
        fig.suptitle(f"{workload}: attention-feature statistics vs N, with vs without SRR")
        fig.tight_layout()
        paths.append(output / f"features_{workload}.png")
        fig.savefig(paths[-1], dpi=120)
    return paths
