"""Assembly and report of the SCALE reproduction study (:mod:`scale_rllib.study`, BENCHMARKS.md §2).

What: concatenate the study's evaluation pieces on disk (:func:`collect`), compute the statistics — mean response
time with 95 % CIs and ratios to the best heuristic and to the lower bound (:func:`summarize_study`), SRR's seed-paired
gain (:func:`srr_gain`), the attention-feature drift with N (:func:`feature_drift`) — then write the CSVs, PNG plots
and a Markdown report whose statements are computed from those numbers (:func:`write_report`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from scale_rllib.study import FEATURE_STATS, HEURISTIC, VARIANTS, StudyConfig, eval_pieces, piece_name

#: Targets the report checks (BENCHMARKS.md §2 / the issue): SRR gain at N=48, SCALE / best heuristic, drift.
GAIN_TARGET, PAPER_GAIN, GAIN_TARGET_N = 0.10, 0.089, 48
GAIN_SERVERS = (32, 48, 64, 128)
RATIO_TARGET = 0.85
DRIFT_TOLERANCE = 0.10


# ------------------------------------------------------------------------------------------------------------- assembly
def _read_piece(path: Path, cfg: StudyConfig, key: str):
    """A piece's rows (and its feature rows, or None) restricted to ``cfg``'s N, episodes and episode length."""
    import pandas as pd

    from scale_rllib.evaluation import EVAL_SEED_BASE

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
    import pandas as pd

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
def _ci95(values) -> float:
    """Half-width of the 95 % Student-t interval of the mean of ``values`` (NaN for fewer than 2)."""
    import numpy as np
    from scipy import stats

    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(values) - 1) * stats.sem(values))


def summarize_study(results):
    """Per (workload, ρ, scheduler, N): mean response time (s) with its 95 % CI, ratios to the best heuristic and to
    the lower bound.

    A policy's samples are its training seeds (each the mean over the episodes); a heuristic's are the episodes.

    Args:
        results: Episode rows as in ``results.csv`` (a DataFrame).

    Returns:
        DataFrame with ``mean_response_time_s``, ``ci95_s``, ``n``, ``ci_over``, ``lower_bound_s``,
        ``ratio_to_lower_bound``, ``best_heuristic``, ``ratio_to_best_heuristic``.
    """
    import numpy as np

    from scale_rllib.baselines.heuristics import HEURISTICS

    keys = ["workload", "load", "scheduler", "variant", "servers"]
    policy = results["variant"] != HEURISTIC
    frame = results.assign(unit=np.where(policy, results["train_seed"], results["seed"]))
    per_unit = frame.groupby(keys + ["unit"], as_index=False, sort=False).agg(
        rt=("mean_response_time_s", "mean"), lb=("lower_bound_s", "mean")
    )
    table = per_unit.groupby(keys, as_index=False, sort=False).agg(
        mean_response_time_s=("rt", "mean"), ci95_s=("rt", _ci95), n=("rt", "size"), lower_bound_s=("lb", "mean")
    )
    table["ci_over"] = np.where(table["variant"] == HEURISTIC, "episodes", "training seeds")
    table["ratio_to_lower_bound"] = table["mean_response_time_s"] / table["lower_bound_s"]
    cell = ["workload", "load", "servers"]
    heuristics = table[table["variant"] == HEURISTIC]
    best = heuristics.loc[heuristics.groupby(cell)["mean_response_time_s"].idxmin(), cell + ["scheduler"]]
    best["best_heuristic_s"] = heuristics.loc[best.index, "mean_response_time_s"]
    table = table.merge(best.rename(columns={"scheduler": "best_heuristic"}), on=cell, how="left")
    table["ratio_to_best_heuristic"] = table["mean_response_time_s"] / table.pop("best_heuristic_s")
    rank = {name: i for i, name in enumerate([*VARIANTS.values(), *HEURISTICS])}
    table["rank"] = table["scheduler"].map(rank).fillna(len(rank))
    table = table.sort_values(["workload", "load", "rank", "servers"], kind="stable").drop(columns="rank")
    return table.reset_index(drop=True)


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
    import warnings

    import pandas as pd
    from scipy import stats

    policies = results[results["variant"].isin(list(VARIANTS))]
    per_seed = policies.pivot_table(
        index=["workload", "load", "servers", "train_seed"], columns="variant", values="mean_response_time_s"
    )
    columns = ["workload", "load", "servers", "rt_nosrr_s", "rt_srr_s", "gain", "gain_ci95", "seeds", "p_value"]
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
        gain, half = (base - g["srr"].mean()) / base, _ci95(g["nosrr"] - g["srr"]) / base
        wins, median = int((g["srr"] < g["nosrr"]).sum()), float(((g["nosrr"] - g["srr"]) / g["nosrr"]).median())
        rows.append([workload, load, n, base, g["srr"].mean(), gain, half, len(g), p, wins, median])
    return pd.DataFrame(rows, columns=columns)


def feature_drift(features):
    """Relative change of each attention-feature statistic from the smallest to the largest N, per variant.

    Values are means over training seeds and loads; change = (stat(N_max) − stat(N_min)) / |stat(N_min)|.

    Returns:
        DataFrame: workload, variant, stat, n_from, n_to, value_from, value_to, relative_change.
    """
    import pandas as pd

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


# --------------------------------------------------------------------------------------------------------------- plots
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_response_times(summary, output: Path) -> list[Path]:
    """One PNG per (workload, ρ): mean response time (log y, 95 % CI bars) vs N; SCALE with / without SRR as solid
    lines (over training seeds), heuristics dashed (over episodes), the lower bound dotted."""
    import numpy as np

    plt = _pyplot()
    paths = []
    for (workload, load), table in summary.groupby(["workload", "load"], sort=False):
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
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
        plt.close(fig)
    return paths


def plot_features(features, output: Path) -> list[Path]:
    """One PNG per workload: mean |μ|, mean σ, mean |off-diagonal corr| of the attention features vs N, with and
    without SRR (mean over training seeds of each seed's mean over loads; 95 % CI bars over seeds)."""
    import numpy as np

    plt = _pyplot()
    paths = []
    titles = {"mean_abs_mu": "mean |μ|", "mean_sigma": "mean σ", "mean_abs_offdiag_corr": "mean |off-diag corr|"}
    for workload, table in features.groupby("workload", sort=False):
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
        per_seed = table.groupby(["variant", "train_seed", "servers"], as_index=False)[list(FEATURE_STATS)].mean()
        for ax, stat in zip(axes, FEATURE_STATS, strict=True):
            for variant, colour in zip(VARIANTS, ("tab:red", "tab:blue"), strict=True):
                agg = per_seed[per_seed["variant"] == variant].groupby("servers")[stat].agg(["mean", _ci95])
                label = VARIANTS[variant]
                ax.errorbar(
                    agg.index,
                    agg["mean"],
                    yerr=np.nan_to_num(agg["_ci95"]),
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
        plt.close(fig)
    return paths


# -------------------------------------------------------------------------------------------------------------- report
def fmt_value(value: float, spec: str = ".1f") -> str:
    import math

    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def md_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|",
    ]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _rt_cell(r) -> str:
    return (
        f"{fmt_value(r.mean_response_time_s)} ± {fmt_value(r.ci95_s)} "
        f"({fmt_value(r.ratio_to_best_heuristic, '.2f')} / {fmt_value(r.ratio_to_lower_bound, '.2f')})"
    )


def _rt_table(table) -> str:
    """Wide table of one (workload, ρ): a row per scheduler, a column per N."""
    servers = sorted(table["servers"].unique())
    rows = []
    for name, g in table.groupby("scheduler", sort=False):
        by_n = {r.servers: r for r in g.itertuples()}
        cells = [_rt_cell(by_n[n]) if n in by_n else "–" for n in servers]
        rows.append([name, f"{g['n'].iloc[0]} {g['ci_over'].iloc[0]}"] + cells)
    return md_table(["scheduler", "CI over"] + [f"N={n}" for n in servers], rows)


def _gain_table(gains) -> str:
    rows = [
        [
            str(r.servers),
            fmt_value(r.rt_nosrr_s),
            fmt_value(r.rt_srr_s),
            fmt_value(r.gain, "+.1%"),
            "n/a" if r.gain_ci95 != r.gain_ci95 else f"[{r.gain - r.gain_ci95:+.1%}, {r.gain + r.gain_ci95:+.1%}]",
            str(r.seeds),
            fmt_value(r.p_value, ".3f"),
            f"{r.srr_wins} of {r.seeds}",
            fmt_value(r.median_seed_gain, "+.1%"),
        ]
        for r in gains.itertuples()
    ]
    headers = ["N", "RT λ=0 (s)", "RT SRR (s)", "SRR gain", "gain 95 % CI", "seeds", "paired t p", "SRR better in"]
    headers += ["median seed gain"]
    return md_table(headers, rows)


def _gain_statement(workload: str, load: float, gains) -> str:
    """One computed sentence on SRR's gain at N = 32/48/64/128 and the N=48 targets."""
    parts = [f"N={r.servers} {fmt_value(r.gain, '+.1%')}" for r in gains.itertuples() if r.servers in GAIN_SERVERS]
    line = f"- **{workload}, ρ={load:g}**: SRR gain " + ("; ".join(parts) or "n/a at N=32/48/64/128")
    at = gains[gains["servers"] == GAIN_TARGET_N]
    if at.empty:
        return line + f". N={GAIN_TARGET_N} not evaluated."
    r = at.iloc[0]
    verdict = "meets" if r.gain >= GAIN_TARGET else "misses"
    paper = "above" if r.gain > PAPER_GAIN else "not above"
    if r.gain_ci95 != r.gain_ci95:
        sig = f"no CI with {r.seeds} seed(s)"
    else:
        sig = "CI excludes 0" if abs(r.gain) > r.gain_ci95 else "CI includes 0: not significant at 95 %"
    return (
        line + f". At N={GAIN_TARGET_N}: {r.gain:+.1%}, which {verdict} the ≥ {GAIN_TARGET:.0%} target and is {paper} "
        f"the paper's {PAPER_GAIN:.1%} ({sig}); SRR better in {r.srr_wins} of {r.seeds} seeds, median per-seed gain "
        f"{fmt_value(r.median_seed_gain, '+.1%')}."
    )


def _ratio_statement(workload: str, load: float, table) -> str:
    """One computed sentence on SCALE (SRR) / best heuristic at every N against :data:`RATIO_TARGET`."""
    scale = table[table["variant"] == "srr"]
    parts = [f"N={r.servers} {r.ratio_to_best_heuristic:.2f} ({r.best_heuristic})" for r in scale.itertuples()]
    met = int((scale["ratio_to_best_heuristic"] <= RATIO_TARGET).sum())
    return (
        f"- **{workload}, ρ={load:g}**: scale-srr / best heuristic: {'; '.join(parts) or 'n/a'} → ≤ {RATIO_TARGET} "
        f"at {met} of {len(scale)} N."
    )


def _drift_statement(workload: str, drift) -> str:
    """One computed sentence: do the feature statistics drift with N without SRR, and stay put with it?"""
    by = {v: g.set_index("stat")["relative_change"] for v, g in drift.groupby("variant")}
    if not set(VARIANTS) <= set(by):
        return f"- **{workload}**: feature statistics of both variants are needed for a drift comparison."
    nos, srr = by["nosrr"].abs(), by["srr"].abs()
    n_from, n_to = drift["n_from"].iloc[0], drift["n_to"].iloc[0]
    text = {v: ", ".join(f"{s} {by[v][s]:+.1%}" for s in FEATURE_STATS) for v in VARIANTS}
    drifts, stays = bool((nos > DRIFT_TOLERANCE).any()), bool((srr <= DRIFT_TOLERANCE).all())
    smaller = int((srr < nos).sum())
    return (
        f"- **{workload}** (N={n_from} → {n_to}): without SRR {text['nosrr']}; with SRR {text['srr']}. "
        f"Without SRR some statistic drifts by more than ±{DRIFT_TOLERANCE:.0%}: {'yes' if drifts else 'no'}; "
        f"with SRR all stay within ±{DRIFT_TOLERANCE:.0%}: {'yes' if stays else 'no'}; SRR's drift is smaller for "
        f"{smaller} of {len(FEATURE_STATS)} statistics. Expected pattern (drift without, stable with) holds: "
        f"{'yes' if drifts and stays else 'no'}."
    )


def _floor_statement(scale) -> str:
    """Where the lower bound itself rules out :data:`RATIO_TARGET`: no schedule beats the bound, so SCALE /
    best heuristic ≥ lower bound / best heuristic (= ratio to best heuristic / ratio to lower bound, per cell)."""
    floor = scale["ratio_to_best_heuristic"] / scale["ratio_to_lower_bound"]
    possible = int((floor <= RATIO_TARGET).sum())
    return (
        f"- The lower bound leaves room for ≤ {RATIO_TARGET} × the best heuristic in {possible} of {len(scale)} cells "
        f"(lower bound / best heuristic {fmt_value(floor.min(), '.2f')}–{fmt_value(floor.max(), '.2f')}, median "
        f"{fmt_value(floor.median(), '.2f')}): in the others no scheduler can meet that target."
    )


def _findings(summary, gains, drift) -> list[str]:
    """The report's computed statements (no hard-coded conclusions)."""
    lines = ["## Findings (computed from the tables below)", ""]
    at = gains[gains["servers"] == GAIN_TARGET_N]
    scale = summary[summary["variant"] == "srr"]
    lines += [
        f"- SRR gain at N={GAIN_TARGET_N} ≥ {GAIN_TARGET:.0%} in {int((at['gain'] >= GAIN_TARGET).sum())} of {len(at)} "
        f"(workload, ρ) settings (mean gain {fmt_value(at['gain'].mean(), '+.1%')}; paper: {PAPER_GAIN:.1%}).",
        f"- SCALE (SRR) ≤ {RATIO_TARGET} × the best heuristic in "
        f"{int((scale['ratio_to_best_heuristic'] <= RATIO_TARGET).sum())} of {len(scale)} (workload, ρ, N) cells.",
        _floor_statement(scale),
        "",
        "SRR gain = (RT_λ=0 − RT_SRR) / RT_λ=0 (means over training seeds; CI from the seed-paired differences):",
        "",
    ]
    for (workload, load), g in gains.groupby(["workload", "load"], sort=False):
        lines.append(_gain_statement(workload, load, g))
    lines += ["", f"SCALE with SRR vs the best heuristic at each N (target ≤ {RATIO_TARGET}):", ""]
    for (workload, load), g in summary.groupby(["workload", "load"], sort=False):
        lines.append(_ratio_statement(workload, load, g))
    lines += ["", "Attention-feature statistics, relative change from the smallest to the largest N:", ""]
    for workload, g in drift.groupby("workload", sort=False):
        lines.append(_drift_statement(workload, g))
    return lines + [""]


def _setup(cfg: StudyConfig, results, missing: list[Path]) -> list[str]:
    iterations = sorted(int(i) for i in results["train_iterations"].dropna().unique())
    lines = [
        "## Setup",
        "",
        f"- Training: SCALE with SRR (λ_dec={cfg.lambda_dec}, λ_KL={cfg.lambda_kl}) and with λ = 0, seeds "
        f"{list(cfg.seeds)}, N ∈ [{cfg.train_servers[0]}, {cfg.train_servers[1]}] per episode, ρ={cfg.train_load}, "
        f"{cfg.iterations} PPO iterations × {cfg.train_batch_size} env steps (checkpoints at iterations {iterations}), "
        f"warm start: {cfg.warm_start or 'none'}; runs in `{cfg.runs_dir}`.",
        f"- Evaluation: zero-shot at N = {list(cfg.servers)}, ρ = {list(cfg.loads)}, {cfg.episodes} seeded episode(s) "
        "per (N, ρ), the same for every scheduler; greedy policies.",
    ]
    lines += [
        f"- Workload `{key}`: `{cfg.workload(key)[0]}`, {cfg.workload(key)[1]:g} workflows per server."
        for key in cfg.workloads
    ]
    if missing:
        shown = ", ".join(f"`{p.relative_to(cfg.output)}`" for p in missing[:10])
        lines.append(
            f"- **{len(missing)} evaluation piece(s) missing** (not in the tables): {shown}"
            + (" …" if len(missing) > 10 else "")
        )
    return lines + [""]


def write_report(cfg: StudyConfig, results, features, missing: list[Path], command: str) -> tuple[Path, list[Path]]:
    """Write study.json (``cfg``), results.csv, summary.csv, srr_gain.csv, features.csv, feature_drift.csv, the PNGs
    and report.md.

    Returns:
        (report path, every other file written).
    """
    out = cfg.output
    out.mkdir(parents=True, exist_ok=True)
    summary, gains, drift = summarize_study(results), srr_gain(results), feature_drift(features)
    tables = {"results": results, "summary": summary, "srr_gain": gains, "features": features, "feature_drift": drift}
    files = [out / "study.json"]  # the configuration, for scale_rllib.study_sweep
    files[0].write_text(json.dumps(dataclasses.asdict(cfg), indent=2, default=str))
    for name, frame in tables.items():
        files.append(out / f"{name}.csv")
        frame.to_csv(files[-1], index=False)
    files += plot_response_times(summary, out) + plot_features(features, out)
    lines = ["# SCALE reproduction: SRR vs λ = 0 vs heuristics (BENCHMARKS.md §2)", "", "Command:", "", "```"]
    lines += [command, "```", ""] + _setup(cfg, results, missing) + _findings(summary, gains, drift)
    legend = (
        "Cell: mean response time (s) ± 95 % CI half-width (ratio to the best heuristic / ratio to the lower bound)."
    )
    for (workload, load), table in summary.groupby(["workload", "load"], sort=False):
        lines += [f"## {workload}, ρ = {load:g}", "", legend, "", _rt_table(table), ""]
        g = gains[(gains["workload"] == workload) & (gains["load"] == load)]
        lines += ["SRR gain:", "", _gain_table(g) if not g.empty else "(needs both variants)", ""]
        lines += [f"![response time](response_time_{workload}_rho{load:g}.png)", ""]
    if not drift.empty:
        lines += ["## Attention-feature statistics vs N", ""]
        rows = [
            [
                r.workload,
                r.variant,
                r.stat,
                f"{r.value_from:.4f}",
                f"{r.value_to:.4f}",
                fmt_value(r.relative_change, "+.1%"),
            ]
            for r in drift.itertuples()
        ]
        lines += [md_table(["workload", "variant", "statistic", "at N min", "at N max", "change"], rows), ""]
        lines += [f"![features](features_{w}.png)" for w in drift["workload"].unique()] + [""]
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report, files
