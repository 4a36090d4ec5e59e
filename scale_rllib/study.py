"""The SCALE reproduction study (BENCHMARKS.md §2): SRR vs the same net with λ = 0 vs every heuristic, zero-shot.

What: for each workload (``agentic``, ``agentic-real`` = WorFBench × Azure, ``wfinstances``), train SCALE at N ≈ 16
(randomized N in ``train_servers``) with SRR (λ_dec, λ_KL) and with λ = 0, for every seed; then evaluate every trained
policy zero-shot at each N and offered load ρ, with every heuristic on the same seeded episodes; then tabulate mean
response time with 95 % CIs, SRR's gain, ratios to the best heuristic and to the lower bound, and the attention-feature
statistics per N, in CSVs, PNG plots and a Markdown report whose statements are computed from those numbers.

Why pieces: the full study is hours of CPU. Every training is its own run directory
(``RUNS/<workload>/<variant>/seed<k>``: skipped when its checkpoint has the target iteration, resumed when it has
fewer) and every evaluation (workload, ρ, one policy or all heuristics) its own CSV under ``OUTPUT/pieces/``
(skipped when present and covering the requested N, episodes and training iteration), so the study can be stopped
and restarted at any point, or run in parts (``--workloads``, ``--seeds``, …) and reported at once.

Usage (the CLI is ``benchmarks/reproduce_scale.py``)::

    cfg = StudyConfig(output=Path("results/scale_study"), runs_dir=Path("runs/study"), data=Path("../shared/data"))
    outcome = run_study(cfg, command="python benchmarks/reproduce_scale.py")
    print(outcome.report)
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scale_rllib.config import ConfigError, EnvConfig, TrainConfig

WORKLOADS = ("agentic", "agentic-real", "wfinstances")
#: Training variant → the policy's scheduler name (``srr``: the config's λ_dec, λ_KL; ``nosrr``: λ = 0).
VARIANTS = {"srr": "scale-srr", "nosrr": "scale-nosrr"}
HEURISTIC = "heuristic"  # the ``variant`` column of heuristic rows
FEATURE_STATS = ("mean_abs_mu", "mean_sigma", "mean_abs_offdiag_corr")
#: Targets the report checks (BENCHMARKS.md §2 / the issue): SRR gain at N=48, SCALE / best heuristic, drift.
GAIN_TARGET, PAPER_GAIN, GAIN_TARGET_N = 0.10, 0.089, 48
GAIN_SERVERS = (32, 48, 64, 128)
RATIO_TARGET = 0.85
DRIFT_TOLERANCE = 0.10
Say = Callable[[str], None]


def _workload_spec(key: str, data: Path) -> tuple[str, float]:
    """(workload spec, default workflows per server) of a study workload key."""
    return {
        "agentic": ("agentic", EnvConfig.workflows_per_server),
        "agentic-real": (f"agentic-real:{data / 'worfbench'},azure={data / 'azure-llm-2023'}", 4.0),
        "wfinstances": (f"wfinstances:{data / 'wfinstances'}", 1.0),
    }[key]


def _renamed(err: ConfigError, names: dict[str, str], prefix: str = "") -> ConfigError:
    """``err`` with its leading field renamed to the study's field (so the CLI can name the flag)."""
    name, _, rest = str(err).partition(": ")
    return ConfigError(f"{names.get(name, name)}: {prefix}{rest}")


@dataclass(frozen=True)
class StudyConfig:
    """What the study trains and evaluates; validated at construction (errors name the field = the CLI flag).

    Attributes:
        output: Folder of the pieces, CSVs, plots and report.
        runs_dir: Folder of the training runs (``<workload>/<variant>/seed<k>``).
        data: The shared data folder (``worfbench/``, ``azure-llm-2023/``, ``wfinstances/``).
        workloads: Study workload keys, a subset of :data:`WORKLOADS`.
        seeds: Training seeds (each variant is trained once per seed).
        servers: Cluster sizes N of the zero-shot evaluation.
        loads: Offered loads ρ ∈ (0, 1) of the evaluation.
        iterations: PPO iterations per training.
        episodes: Seeded evaluation episodes per (N, ρ); the same ones for every scheduler.
        num_env_runners: RLlib env runners per training (0 = sample in the driver).
        warm_start: Behaviour-clone this heuristic (``eft``/``peft``) before PPO; None = from scratch.
        train_servers: (min, max) of the randomized training N; the observation padding is max.
        train_load: Offered load ρ of the training episodes.
        workflows_per_server: Episode length for every workload; None = per workload (wfinstances 1, others 4).
        train_batch_size: Env steps per PPO iteration.
        minibatch_size: SGD minibatch size.
        num_epochs: SGD epochs per iteration.
        lambda_dec: SRR decorrelation weight of the ``srr`` variant (``nosrr`` uses 0).
        lambda_kl: SRR KL weight of the ``srr`` variant (``nosrr`` uses 0).
    """

    output: Path
    runs_dir: Path
    data: Path
    workloads: tuple[str, ...] = WORKLOADS
    seeds: tuple[int, ...] = (0, 1, 2)
    servers: tuple[int, ...] = (16, 32, 48, 64, 128)
    loads: tuple[float, ...] = (0.5, 0.7, 0.85)
    iterations: int = 30
    episodes: int = 2
    num_env_runners: int = 1
    warm_start: str | None = None
    train_servers: tuple[int, int] = (12, 20)
    train_load: float = 0.7
    workflows_per_server: float | None = None
    train_batch_size: int = TrainConfig.train_batch_size
    minibatch_size: int = TrainConfig.minibatch_size
    num_epochs: int = TrainConfig.num_epochs
    lambda_dec: float = 0.1
    lambda_kl: float = 0.01

    def __post_init__(self) -> None:
        def check(ok: bool, name: str, message: str) -> None:
            if not ok:
                raise ConfigError(f"{name}: {message}")

        unknown = [w for w in self.workloads if w not in WORKLOADS]
        check(bool(self.workloads) and not unknown, "workloads", f"unknown {unknown}; known: {list(WORKLOADS)}")
        check(len(set(self.workloads)) == len(self.workloads), "workloads", "repeated workload")
        check(bool(self.seeds) and min(self.seeds) >= 0, "seeds", f"need seeds ≥ 0, got {self.seeds}")
        check(len(set(self.seeds)) == len(self.seeds), "seeds", f"repeated seed in {self.seeds}")
        check(bool(self.servers) and min(self.servers) >= 1, "servers", f"need N ≥ 1, got {self.servers}")
        bad = [rho for rho in self.loads if not 0 < rho < 1]
        check(bool(self.loads) and not bad, "loads", f"offered loads must be in (0, 1) (a stable queue), got {bad}")
        check(self.episodes >= 1, "episodes", f"must be ≥ 1, got {self.episodes}")
        for key in self.workloads:  # builds every config once: bad values and missing data fail here, before Ray
            for variant in VARIANTS:
                self.train_config(key, variant, self.seeds[0])
            self.eval_config(key, self.loads[0], heuristics=True)

    def workload(self, key: str) -> tuple[str, float]:
        """(workload spec, workflows per server) of workload ``key``."""
        spec, per_server = _workload_spec(key, self.data)
        return spec, per_server if self.workflows_per_server is None else self.workflows_per_server

    def train_config(self, key: str, variant: str, seed: int) -> TrainConfig:
        """The :class:`TrainConfig` of one training (``variant`` ``srr`` or ``nosrr``)."""
        spec, per_server = self.workload(key)
        env_names = {"workload": "data", "servers_range": "train_servers", "max_servers": "train_servers"}
        try:
            env = EnvConfig(
                workload=spec,
                servers_range=tuple(self.train_servers),
                max_servers=max(self.train_servers),
                load=self.train_load,
                workflows_per_server=per_server,
            )
        except ConfigError as err:
            raise _renamed(err, env_names | {"load": "train_load"}, prefix=f"workload {key}: ") from None
        srr = variant == "srr"
        return TrainConfig(
            env=env,
            iterations=self.iterations,
            lambda_dec=self.lambda_dec if srr else 0.0,
            lambda_kl=self.lambda_kl if srr else 0.0,
            num_env_runners=self.num_env_runners,
            train_batch_size=self.train_batch_size,
            minibatch_size=self.minibatch_size,
            num_epochs=self.num_epochs,
            seed=seed,
            warm_start=self.warm_start,
        )

    def eval_config(self, key: str, load: float, heuristics: bool):
        """The :class:`~scale_rllib.evaluation.EvalConfig` of one piece: all heuristics, or none (a policy piece)."""
        from scale_rllib.baselines.heuristics import HEURISTICS
        from scale_rllib.evaluation import EvalConfig

        spec, per_server = self.workload(key)
        try:
            return EvalConfig(
                workload=spec,
                servers=tuple(self.servers),
                load=load,
                episodes=self.episodes,
                workflows_per_server=per_server,
                schedulers=tuple(HEURISTICS) if heuristics else (),
            )
        except ConfigError as err:
            raise _renamed(err, {"workload": "data", "load": "loads"}, prefix=f"workload {key}: ") from None

    def run_dir(self, key: str, variant: str, seed: int) -> Path:
        """The training run folder ``runs_dir/<workload>/<variant>/seed<k>``."""
        return self.runs_dir / key / variant / f"seed{seed}"

    def piece_path(self, key: str, load: float, name: str) -> Path:
        """``output/pieces/<workload>/rho<ρ>/<name>.csv``."""
        return self.output / "pieces" / key / f"rho{load:g}" / f"{name}.csv"

    def trainings(self) -> list[tuple[str, str, int]]:
        """Every (workload, variant, seed) to train, in run order."""
        return [(k, v, s) for k in self.workloads for s in self.seeds for v in VARIANTS]


@dataclass
class StudyOutcome:
    """What :func:`run_study` did and wrote.

    Attributes:
        report: The Markdown report.
        files: Every CSV and PNG written by the assembly.
        counts: ``trained``, ``train_skipped``, ``evaluated``, ``eval_skipped``, ``missing`` pieces.
    """

    report: Path
    files: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------------------ training
def completed_iterations(run_dir: Path) -> int:
    """PPO iterations in the checkpoint of ``run_dir`` (0 if none)."""
    from scale_rllib.checkpoints import find_checkpoint, read_metadata
    from scale_rllib.training import CHECKPOINT_DIR

    found = find_checkpoint(run_dir / CHECKPOINT_DIR)
    return int(read_metadata(found)["iteration"]) if found else 0


def check_runs(cfg: StudyConfig) -> None:
    """Fail (naming ``runs_dir``) if an existing run was trained with other options than ``cfg`` asks for.

    Raises:
        ConfigError: a checkpoint's config differs in anything but ``iterations`` (resuming it would mix studies).
    """
    from scale_rllib.checkpoints import find_checkpoint, read_metadata
    from scale_rllib.tracking import flatten
    from scale_rllib.training import CHECKPOINT_DIR

    for key, variant, seed in cfg.trainings():
        found = find_checkpoint(cfg.run_dir(key, variant, seed) / CHECKPOINT_DIR)
        if found is None:
            continue
        stored = TrainConfig.from_dict(read_metadata(found)["config"])
        wanted = dataclasses.replace(cfg.train_config(key, variant, seed), iterations=stored.iterations)
        if stored != wanted:
            a, b = flatten(stored.to_dict()), flatten(wanted.to_dict())
            diff = ", ".join(f"{k}: {a[k]!r} there, {b[k]!r} asked" for k in a if a[k] != b[k])
            raise ConfigError(f"runs_dir: {found} was trained with other options ({diff}); use another --runs-dir")


def train_all(cfg: StudyConfig, say: Say, progress: bool = False) -> tuple[int, int]:
    """Train (or resume) every (workload, variant, seed) whose checkpoint lacks ``cfg.iterations``.

    Starts a local Ray only if something needs training, and shuts it down after if it started it.

    Returns:
        (trained, skipped) counts.
    """
    todo = cfg.trainings()
    trained = skipped = 0
    started_ray = False
    try:
        for i, (key, variant, seed) in enumerate(todo, 1):
            run_dir, label = cfg.run_dir(key, variant, seed), f"[train {i}/{len(todo)}] {key}/{variant}/seed{seed}"
            done = completed_iterations(run_dir)
            if done >= cfg.iterations:
                skipped += 1
                say(f"{label}: skip (checkpoint at iteration {done})")
                continue
            import ray

            from scale_rllib.training import train

            started_ray = started_ray or not ray.is_initialized()
            start = time.perf_counter()
            train(cfg.train_config(key, variant, seed), run_dir, resume=done > 0, progress=progress)
            trained += 1
            say(f"{label}: trained iterations {done + 1}–{cfg.iterations} in {time.perf_counter() - start:.0f} s")
    finally:
        if started_ray:
            import ray

            ray.shutdown()
    return trained, skipped


# ---------------------------------------------------------------------------------------------------------- evaluation
def _piece_is_complete(path: Path, cfg: StudyConfig, key: str, iteration: int | None) -> bool:
    """The piece CSV exists, has the requested episode length, covers every requested (N, episode seed) and (a
    policy piece) comes from the checkpoint's current iteration."""
    import pandas as pd

    from scale_rllib.evaluation import EVAL_SEED_BASE

    if not path.is_file():
        return False
    frame = pd.read_csv(path)
    have = set(zip(frame["servers"], frame["seed"], strict=True))
    need = {(n, EVAL_SEED_BASE + e) for n in cfg.servers for e in range(cfg.episodes)}
    fresh = iteration is None or set(frame["train_iterations"]) == {iteration}
    return need <= have and fresh and set(frame["workflows_per_server"]) == {cfg.workload(key)[1]}


def _write_atomic(frame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)


def _evaluate_piece(cfg: StudyConfig, key: str, load: float, policy: tuple[str, int] | None) -> None:
    """Evaluate all heuristics (``policy`` None) or one (variant, seed) policy; write its CSV (and features CSV)."""
    import pandas as pd

    from scale_rllib.baselines.policy import PolicyScheduler
    from scale_rllib.checkpoints import find_checkpoint, read_metadata
    from scale_rllib.evaluation import evaluate
    from scale_rllib.training import CHECKPOINT_DIR

    columns = {"workload": key, "variant": HEURISTIC, "train_seed": pd.NA, "train_iterations": pd.NA}
    columns["workflows_per_server"] = cfg.workload(key)[1]
    factories = []
    if policy is not None:
        variant, seed = policy
        ckpt = find_checkpoint(cfg.run_dir(key, variant, seed) / CHECKPOINT_DIR)
        if ckpt is None:
            raise FileNotFoundError(f"no checkpoint for {key}/{variant}/seed{seed} under {cfg.runs_dir}")
        name = VARIANTS[variant]
        columns |= {"variant": variant, "train_seed": seed, "train_iterations": read_metadata(ckpt)["iteration"]}
        factories.append(lambda env_cfg: PolicyScheduler.from_checkpoint(ckpt, env_cfg.max_servers, name=name))
    out = evaluate(cfg.eval_config(key, load, heuristics=policy is None), factories)
    frame = pd.DataFrame([dataclasses.asdict(r) for r in out.results]).assign(**columns)
    path = cfg.piece_path(key, load, _piece_name(policy))
    if out.features:
        feats = pd.DataFrame(out.features).assign(**columns, load=load)
        first = ["workload", "load", "scheduler", "variant", "train_seed", "train_iterations", "servers"]
        first.append("workflows_per_server")
        _write_atomic(feats[first + list(FEATURE_STATS)], path.with_suffix(".features.csv"))
    _write_atomic(frame, path)  # last: its presence marks the piece complete


def _piece_name(policy: tuple[str, int] | None) -> str:
    return "heuristics" if policy is None else f"{VARIANTS[policy[0]]}-seed{policy[1]}"


def eval_pieces(cfg: StudyConfig) -> list[tuple[str, float, tuple[str, int] | None]]:
    """Every evaluation piece: (workload, ρ, None = the heuristics | (variant, seed) = one policy)."""
    policies = [None] + [(v, s) for s in cfg.seeds for v in VARIANTS]
    return [(k, rho, p) for k in cfg.workloads for rho in cfg.loads for p in policies]


def evaluate_all(cfg: StudyConfig, say: Say) -> tuple[int, int]:
    """Evaluate every piece not already complete on disk.

    Returns:
        (evaluated, skipped) counts.
    """
    pieces = eval_pieces(cfg)
    evaluated = skipped = 0
    for i, (key, load, policy) in enumerate(pieces, 1):
        path = cfg.piece_path(key, load, _piece_name(policy))
        label = f"[eval {i}/{len(pieces)}] {key} rho={load:g} {_piece_name(policy)}"
        iteration = None if policy is None else completed_iterations(cfg.run_dir(key, *policy))
        if _piece_is_complete(path, cfg, key, iteration):
            skipped += 1
            say(f"{label}: skip ({path.name} present)")
            continue
        start = time.perf_counter()
        _evaluate_piece(cfg, key, load, policy)
        evaluated += 1
        say(f"{label}: {cfg.episodes} episode(s) × {len(cfg.servers)} N in {time.perf_counter() - start:.0f} s")
    return evaluated, skipped


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
        path = cfg.piece_path(key, load, _piece_name(policy))
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
    p-value is the paired t-test's. Both are NaN with one seed.

    Returns:
        DataFrame: workload, load, servers, rt_nosrr_s, rt_srr_s, gain, gain_ci95 (half-width, as a fraction),
        seeds, p_value.
    """
    import warnings

    import pandas as pd
    from scipy import stats

    policies = results[results["variant"].isin(list(VARIANTS))]
    per_seed = policies.pivot_table(
        index=["workload", "load", "servers", "train_seed"], columns="variant", values="mean_response_time_s"
    )
    columns = ["workload", "load", "servers", "rt_nosrr_s", "rt_srr_s", "gain", "gain_ci95", "seeds", "p_value"]
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
        rows.append([workload, load, n, base, g["srr"].mean(), gain, half, len(g), p])
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
def _fmt(value: float, spec: str = ".1f") -> str:
    import math

    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|",
    ]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _rt_cell(r) -> str:
    return (
        f"{_fmt(r.mean_response_time_s)} ± {_fmt(r.ci95_s)} "
        f"({_fmt(r.ratio_to_best_heuristic, '.2f')} / {_fmt(r.ratio_to_lower_bound, '.2f')})"
    )


def _rt_table(table) -> str:
    """Wide table of one (workload, ρ): a row per scheduler, a column per N."""
    servers = sorted(table["servers"].unique())
    rows = []
    for name, g in table.groupby("scheduler", sort=False):
        by_n = {r.servers: r for r in g.itertuples()}
        cells = [_rt_cell(by_n[n]) if n in by_n else "–" for n in servers]
        rows.append([name, f"{g['n'].iloc[0]} {g['ci_over'].iloc[0]}"] + cells)
    return _md_table(["scheduler", "CI over"] + [f"N={n}" for n in servers], rows)


def _gain_table(gains) -> str:
    rows = [
        [
            str(r.servers),
            _fmt(r.rt_nosrr_s),
            _fmt(r.rt_srr_s),
            _fmt(r.gain, "+.1%"),
            "n/a" if r.gain_ci95 != r.gain_ci95 else f"[{r.gain - r.gain_ci95:+.1%}, {r.gain + r.gain_ci95:+.1%}]",
            str(r.seeds),
            _fmt(r.p_value, ".3f"),
        ]
        for r in gains.itertuples()
    ]
    headers = ["N", "RT λ=0 (s)", "RT SRR (s)", "SRR gain", "gain 95 % CI", "seeds", "paired t p"]
    return _md_table(headers, rows)


def _gain_statement(workload: str, load: float, gains) -> str:
    """One computed sentence on SRR's gain at N = 32/48/64/128 and the N=48 targets."""
    parts = [f"N={r.servers} {_fmt(r.gain, '+.1%')}" for r in gains.itertuples() if r.servers in GAIN_SERVERS]
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
        f"the paper's {PAPER_GAIN:.1%} ({sig})."
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


def _findings(summary, gains, drift) -> list[str]:
    """The report's computed statements (no hard-coded conclusions)."""
    lines = ["## Findings (computed from the tables below)", ""]
    at = gains[gains["servers"] == GAIN_TARGET_N]
    scale = summary[summary["variant"] == "srr"]
    lines += [
        f"- SRR gain at N={GAIN_TARGET_N} ≥ {GAIN_TARGET:.0%} in {int((at['gain'] >= GAIN_TARGET).sum())} of {len(at)} "
        f"(workload, ρ) settings (mean gain {_fmt(at['gain'].mean(), '+.1%')}; paper: {PAPER_GAIN:.1%}).",
        f"- SCALE (SRR) ≤ {RATIO_TARGET} × the best heuristic in "
        f"{int((scale['ratio_to_best_heuristic'] <= RATIO_TARGET).sum())} of {len(scale)} (workload, ρ, N) cells.",
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
    """Write results.csv, summary.csv, srr_gain.csv, features.csv, feature_drift.csv, the PNGs and report.md.

    Returns:
        (report path, every other file written).
    """
    out = cfg.output
    out.mkdir(parents=True, exist_ok=True)
    summary, gains, drift = summarize_study(results), srr_gain(results), feature_drift(features)
    tables = {"results": results, "summary": summary, "srr_gain": gains, "features": features, "feature_drift": drift}
    files = []
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
            [r.workload, r.variant, r.stat, f"{r.value_from:.4f}", f"{r.value_to:.4f}", _fmt(r.relative_change, "+.1%")]
            for r in drift.itertuples()
        ]
        lines += [_md_table(["workload", "variant", "statistic", "at N min", "at N max", "change"], rows), ""]
        lines += [f"![features](features_{w}.png)" for w in drift["workload"].unique()] + [""]
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report, files


def run_study(cfg: StudyConfig, command: str, report_only: bool = False, say: Say = print) -> StudyOutcome:
    """Train, evaluate (both skipping what is done), then assemble CSVs, plots and ``report.md`` in ``cfg.output``.

    Args:
        cfg: The study.
        command: The command line, quoted in the report.
        report_only: Only assemble what is on disk (missing pieces are listed in the report).
        say: Progress printer (one line per finished piece).

    Raises:
        ConfigError: an existing run was trained with other options (see :func:`check_runs`).
    """
    import torch

    torch.set_num_threads(1)
    counts = {"trained": 0, "train_skipped": 0, "evaluated": 0, "eval_skipped": 0}
    check_runs(cfg)  # also for --report-only: the flags must describe the runs being reported
    if not report_only:
        counts["trained"], counts["train_skipped"] = train_all(cfg, say, progress=sys.stdout.isatty())
        counts["evaluated"], counts["eval_skipped"] = evaluate_all(cfg, say)
    results, features, missing = collect(cfg)
    counts["missing"] = len(missing)
    report, files = write_report(cfg, results, features, missing, command)
    return StudyOutcome(report, files, counts)
