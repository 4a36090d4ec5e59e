"""The adaptation protocol's statistics, report and plot (pure: data frames in, data frames and files out).

Rows (one per evaluation episode): ``shift``, ``method``, ``seed`` (training seed; −1 for a heuristic), ``step``
(adaptation PPO iterations; −1 for a heuristic: it does not adapt), ``episode`` (the evaluation seed, the same for
every method, so per-episode ratios are paired), ``mean_response_time_s`` (seconds) and ``lower_bound_s``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scale_rllib.env.shifts import HELD_OUT, laws
from scale_rllib.evaluation.summary import ci95_half_width

#: The reference of the paired ratios: EFT on the same estimates as the policies.
REFERENCE = "eft-estimated"
#: The heuristic with true execution times: what perfect knowledge buys EFT.
ORACLE = "eft-oracle"
#: The pseudo-method of :func:`adaptation_table` whose "response time" is each episode's lower bound
#: (:func:`scale_rllib.sim.bounds.lower_bounds_s`, averaged like a response time): how far every scheduler stays
#: from what no scheduler can beat.
LOWER_BOUND = "lower-bound"
#: Columns of :func:`adaptation_table`.
TABLE_COLUMNS = ("shift", "method", "step", "seeds", "episodes", "mean_response_time_s", "ci95_s",
                 "ratio_to_reference", "ratio_ci95", "worst_seed_ratio")  # fmt: skip


def with_reference_ratio(rows: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """``rows`` plus ``ratio``: each row's response time / ``reference``'s on the same (shift, episode).

    Raises:
        ValueError: ``reference`` has no row for some (shift, episode), or more than one.
    """
    ref = rows[rows["method"] == reference].set_index(["shift", "episode"])["mean_response_time_s"]
    if not ref.index.is_unique:
        raise ValueError(f"{reference}: more than one row per (shift, episode)")
    keys = pd.MultiIndex.from_frame(rows[["shift", "episode"]])
    missing = keys.difference(ref.index)
    if len(missing):
        raise ValueError(f"{reference}: no row for (shift, episode) {list(missing)[:3]}")
    return rows.assign(ratio=rows["mean_response_time_s"].to_numpy() / ref.reindex(keys).to_numpy())


def adaptation_table(rows: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Per (shift, method, step): mean response time ± 95 % (over every seed × episode), the paired ratio to
    ``reference`` (mean over seed × episode pairs) ± 95 % (Student t), and the worst training seed's mean ratio;
    last, per shift, :data:`LOWER_BOUND` (step −1) with the lower bound of ``reference``'s episodes in place of a
    response time.

    Returns:
        :data:`TABLE_COLUMNS`, cells in order of appearance.
    """
    ref = rows[rows["method"] == reference]
    bound = ref.assign(method=LOWER_BOUND, mean_response_time_s=ref["lower_bound_s"])
    rows = with_reference_ratio(pd.concat([rows, bound], ignore_index=True), reference)
    out = []
    for (shift, method, step), g in rows.groupby(["shift", "method", "step"], sort=False):
        per_seed = g.groupby("seed")["ratio"].mean()
        rt = g["mean_response_time_s"]
        out.append((shift, method, int(step), g["seed"].nunique(), g["episode"].nunique(), rt.mean(),
                    ci95_half_width(rt), g["ratio"].mean(), ci95_half_width(g["ratio"]), per_seed.max()))  # fmt: skip
    return pd.DataFrame(out, columns=list(TABLE_COLUMNS))


def paired_methods(rows: pd.DataFrame, method: str, baseline: str) -> pd.DataFrame:
    """Per (shift, step) both methods reached: mean over (seed, episode) of RT(method) / RT(baseline) on the same
    training seed, step and evaluation episode, ± 95 % (Student t), and the number of pairs.

    Returns:
        Columns ``shift, step, baseline, pairs, ratio, ci95``.
    """
    keys = ["shift", "seed", "step", "episode"]
    a = rows[rows["method"] == method].set_index(keys)["mean_response_time_s"]
    b = rows[rows["method"] == baseline].set_index(keys)["mean_response_time_s"]
    ratio = (a / b).dropna().rename("ratio").reset_index()
    out = [(shift, int(step), baseline, len(g), g["ratio"].mean(), ci95_half_width(g["ratio"]))
           for (shift, step), g in ratio.groupby(["shift", "step"], sort=True)]  # fmt: skip
    return pd.DataFrame(out, columns=["shift", "step", "baseline", "pairs", "ratio", "ci95"])


def held_out_lines(shifts: tuple[str, ...]) -> dict[str, str]:
    """Per held-out shift of :data:`~scale_rllib.env.shifts.HELD_OUT`, the sentence that says which value lies
    outside the meta-training range."""
    train = laws("meta-train")
    out = {}
    for shift in (s for s in shifts if s in HELD_OUT):
        name = HELD_OUT[shift]
        lo, hi = train[name].support()
        out[shift] = f"Held out: `{name}` = {laws(shift)[name].lo:g} (meta-training draws it in [{lo:.3g}, {hi:.3g}])."
    return out


def _cell(value: float, digits: int = 3) -> str:
    return "—" if not np.isfinite(value) else f"{value:.{digits}f}"


def report_lines(table: pd.DataFrame, versus: pd.DataFrame, held_out: dict[str, str]) -> list[str]:
    """Markdown: per shift, one row per (method, step), then the paired meta / no-meta ratio per step.

    Args:
        table: :func:`adaptation_table`.
        versus: :func:`paired_methods` of ``meta`` against ``no-meta`` (and any other baselines, concatenated).
        held_out: Per shift, the line that says what is held out.
    """
    lines: list[str] = []
    for shift, g in table.groupby("shift", sort=False):
        lines += [f"## {shift}", "", held_out.get(shift, ""), "",
                  "| method | adaptation iterations | seeds | episodes | mean RT (s) | ± 95 % | / EFT (estimates), "
                  "paired | ± 95 % | worst seed |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in g.itertuples():
            step, seeds = ("—", "—") if r.step < 0 else (r.step, r.seeds)
            lines.append(f"| {r.method} | {step} | {seeds} | {r.episodes} | {_cell(r.mean_response_time_s, 2)} | "
                         f"{_cell(r.ci95_s, 2)} | {_cell(r.ratio_to_reference)} | {_cell(r.ratio_ci95)} | "
                         f"{_cell(r.worst_seed_ratio)} |")  # fmt: skip
        v = versus[versus["shift"] == shift]
        if len(v):
            lines += ["", "Meta-trained / trained without meta-learning, paired by training seed, adaptation "
                      "iterations and episode:", "", "| adaptation iterations | baseline | pairs | meta / baseline | "
                      "± 95 % |", "|---:|---|---:|---:|---:|"]  # fmt: skip
            lines += [f"| {r.step} | {r.baseline} | {r.pairs} | {_cell(r.ratio)} | {_cell(r.ci95)} |"
                      for r in v.sort_values(["baseline", "step"], kind="stable").itertuples()]  # fmt: skip
        lines.append("")
    return lines


def plot_adaptation(table: pd.DataFrame, path: Path, ratio_top: float = 1.2) -> Path:
    """``path`` (PNG): per shift (columns), against adaptation iterations, one line per learned method and the
    heuristics and the lower bound as horizontal lines: mean response time (top; log scale, 95 % bars clipped at half
    the value) and the paired ratio to EFT on the same estimates (bottom; linear, from just under the lower bound's
    ratio to ``ratio_top``, so that differences of a few percent show; a method above it is named with its range)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shifts = list(dict.fromkeys(table["shift"]))
    fig, axes = plt.subplots(2, len(shifts), figsize=(5.5 * len(shifts), 7.5), squeeze=False, sharex="col")
    for column, shift in enumerate(shifts):
        g = table[table["shift"] == shift]
        learned, fixed = g[g["step"] >= 0], g[g["step"] < 0]
        top, bottom = axes[:, column]
        floor = 0.95 * min(g["ratio_to_reference"].min(), 1.0)
        for method, m in learned.groupby("method", sort=False):
            mean, half = m["mean_response_time_s"], m["ci95_s"].fillna(0)
            top.errorbar(m["step"], mean, yerr=[np.minimum(half, 0.5 * mean), half], marker="o", capsize=3,
                         label=method)  # fmt: skip
            ratio = m["ratio_to_reference"]
            off = f" ({ratio.min():.3g}–{ratio.max():.3g} ×, off scale)" if ratio.max() > ratio_top else ""
            label = method + off
            bottom.errorbar(m["step"], ratio, yerr=m["ratio_ci95"].fillna(0), marker="o", capsize=3, label=label)
        for r, style in zip(fixed.itertuples(), ("--", ":", "-.", "-"), strict=False):
            color = "black" if r.method == LOWER_BOUND else "grey"
            top.axhline(r.mean_response_time_s, linestyle=style, color=color, linewidth=1, label=r.method)
            bottom.axhline(r.ratio_to_reference, linestyle=style, color=color, linewidth=1,
                           label=f"{r.method} {r.ratio_to_reference:.3f}")  # fmt: skip
        top.set(ylabel="mean response time (s)", yscale="log", title=shift)
        bottom.set(ylabel="/ EFT on the same estimates (paired)", ylim=(floor, ratio_top),
                   xlabel="adaptation PPO iterations", xticks=sorted(learned["step"].unique()))  # fmt: skip
        top.legend(fontsize="small")
        bottom.legend(fontsize="x-small", loc="lower right", bbox_to_anchor=(1.0, 0.06))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def compared_rows(paths: list[Path]) -> pd.DataFrame:
    """The ``no-meta`` rows of other adaptation runs' ``results.csv`` (``benchmarks/adaptation.py --compare-with``), as
    method ``no-meta (<their folder>)``: paired with this run's ``meta`` where seed, step and episode match.

    Raises:
        ValueError: a file that cannot be read, lacks the columns of a results.csv, or has no ``no-meta`` row.
    """
    frames = []
    for path in paths:
        try:
            other = pd.read_csv(path)
        except (OSError, ValueError) as err:
            raise ValueError(f"--compare-with {path}: cannot read it ({err})") from None
        missing = {"shift", "method", "seed", "step", "episode", "mean_response_time_s"} - set(other.columns)
        if missing or not (other["method"] == "no-meta").any():
            raise ValueError(f"--compare-with {path}: not an adaptation results.csv with no-meta rows "
                             f"(missing columns: {sorted(missing) or 'none'})")  # fmt: skip
        frames.append(other[other["method"] == "no-meta"].assign(method=f"no-meta ({path.parent.name})"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
