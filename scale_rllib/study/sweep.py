"""SRR weight sweep: several SRR studies (one per (λ_dec, λ_KL) or warm start) side by side (docs/srr-study.md).

Each study folder (written by :func:`scale_rllib.study.run.run_study`) holds ``study.json`` (its
:class:`~scale_rllib.study.config.StudyConfig`), ``srr_gain.csv``, ``summary.csv`` and ``feature_drift.csv``; this
module reads them back and reduces each (study, workload) to one row at one N: SRR's gain over the loads, SCALE's
ratio to the best heuristic with and without SRR, and the attention-feature statistics (level at the smallest N, σ
drift to the largest).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from scale_rllib.metrics import FEATURE_STATS
from scale_rllib.study.config import VARIANTS
from scale_rllib.study.report import fmt_value, md_table

STUDY_FILE = "study.json"
"""The file in a study's output folder that records its configuration."""


def _training_config(study: dict) -> dict:
    """The training part of a ``study.json``: ``train`` (nested, current) or the top level (flat, older studies)."""
    return study.get("train", study)


def _study_rows(folder: Path, servers: int) -> list[dict]:
    tables = ("srr_gain.csv", "summary.csv", "feature_drift.csv")
    missing = [n for n in (STUDY_FILE, *tables) if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: not a finished study (missing {', '.join(missing)})")
    cfg = _training_config(json.loads((folder / STUDY_FILE).read_text()))
    gains, summary, drift = (pd.read_csv(folder / f) for f in tables)
    rows = []
    for workload, gain in gains[gains["servers"] == servers].groupby("workload", sort=False):
        table = summary[(summary["workload"] == workload) & (summary["servers"] == servers)]
        stats = drift[drift["workload"] == workload].set_index(["variant", "stat"])  # study_report.feature_drift
        n_min, n_max = int(stats["n_from"].iloc[0]), int(stats["n_to"].iloc[0])
        rows.append(
            {
                "study": folder.name,
                "warm_start": cfg.get("warm_start") or "none",
                "lambda_dec": cfg["lambda_dec"],
                "lambda_kl": cfg["lambda_kl"],
                "workload": workload,
                "servers": servers,
                "gain_mean": gain["gain"].mean(),
                "gain_min": gain["gain"].min(),
                "gain_max": gain["gain"].max(),
                "significant": f"{int((gain['p_value'] < 0.05).sum())} of {len(gain)}",
                "srr_better": f"{int(gain['srr_wins'].sum())} of {int(gain['seeds'].sum())}",
                "median_seed_gain": gain["median_seed_gain"].mean(),
                "srr_vs_best": table.loc[table["variant"] == "srr", "ratio_to_best_heuristic"].mean(),
                "nosrr_vs_best": table.loc[table["variant"] == "nosrr", "ratio_to_best_heuristic"].mean(),
                **{f"{v}_{c}_n{n_min}": stats.loc[(v, c), "value_from"] for v in VARIANTS for c in FEATURE_STATS},
                **{f"{v}_sigma_drift_to_n{n_max}": stats.loc[(v, "mean_sigma"), "relative_change"] for v in VARIANTS},
            }
        )
    return rows


def sweep_table(studies: list[Path], servers: int = 48):
    """One row per (study, workload) at N = ``servers`` (gains and ratios averaged over the study's loads).

    Args:
        studies: Output folders of finished studies.
        servers: The N the gains and ratios are read at (48: the paper's claim).

    Returns:
        A pandas DataFrame (see :func:`write_sweep` for the columns).

    Raises:
        FileNotFoundError: A folder lacks ``study.json`` or one of the study's CSVs (named in the message).
    """
    return pd.DataFrame([row for folder in studies for row in _study_rows(Path(folder), servers)])


def _label(column: str) -> str:
    """``srr_mean_abs_mu_n16`` → ``SRR |μ| N=16``; ``nosrr_sigma_drift_to_n128`` → ``λ=0 σ drift → N=128``."""
    names = {"mean_abs_mu": "|μ|", "mean_sigma": "σ", "mean_abs_offdiag_corr": "|corr|", "sigma_drift_to": "σ drift →"}
    variant, _, rest = column.partition("_")
    stat, _, n = rest.rpartition("_n")
    return f"{'SRR' if variant == 'srr' else 'λ=0'} {names[stat]} N={n}"


def write_sweep(table, output: Path, command: str) -> Path:
    """Write the sweep table as Markdown (and ``<output>.csv`` beside it).

    Returns:
        The Markdown file's path.
    """

    def pct(value: float) -> str:
        return fmt_value(value, "+.1%")

    feature_cols = [c for c in table.columns if c.startswith(("srr_mean", "nosrr_mean", "srr_sigma", "nosrr_sigma"))]
    headers = ["study", "warm start", "λ_dec", "λ_KL", "workload", "SRR gain (mean, min…max over ρ)", "p<0.05"]
    headers += ["SRR better (seed × ρ)", "median seed gain"]
    headers += ["SRR / best heur.", "λ=0 / best heur."] + [_label(c).replace("|", "\\|") for c in feature_cols]
    rows = [
        [
            r["study"], r["warm_start"], f"{r['lambda_dec']:g}", f"{r['lambda_kl']:g}", r["workload"],
            f"{pct(r['gain_mean'])} ({pct(r['gain_min'])}…{pct(r['gain_max'])})",
            r["significant"], r["srr_better"], pct(r["median_seed_gain"]),
            fmt_value(r["srr_vs_best"], ".3f"), fmt_value(r["nosrr_vs_best"], ".3f"),
            *(fmt_value(r[c], "+.1%" if "drift" in c else ".3f") for c in feature_cols),
        ]
        for _, r in table.iterrows()
    ]  # fmt: skip
    n = int(table["servers"].iloc[0]) if len(table) else 48
    lines = [
        "# SRR weight sweep",
        "",
        "Command:",
        "",
        "```",
        command,
        "```",
        "",
        f"SRR gain = (RT_λ=0 − RT_SRR) / RT_λ=0 at N={n}, one value per ρ (each a mean over training seeds); "
        "p<0.05: settings whose seed-paired t-test rejects 0; SRR better: (seed, ρ) pairs where SRR's RT is lower; "
        "median seed gain: the median over seeds of the per-seed gain, averaged over ρ (robust to a collapsed seed). "
        "Feature columns: the attention feature z's statistics at "
        "the smallest evaluated N (target of SRR's KL term: |μ| = 0, σ = 1, |off-diag corr| = 0) and the relative "
        "change of σ to the largest N.",
        "",
        md_table(headers, rows),
        "",
    ]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines))
    table.to_csv(output.with_suffix(".csv"), index=False)
    return output
