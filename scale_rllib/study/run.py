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

This module holds the configuration, the training and the evaluation pieces; the assembly of the results, their
statistics, plots and report are in :mod:`scale_rllib.study_report`.

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

from scale_rllib.config import ConfigError, EnvConfig, TrainConfig, train_fields

WORKLOADS = ("agentic", "agentic-real", "wfinstances")
#: Training variant → the policy's scheduler name (``srr``: the config's λ_dec, λ_KL; ``nosrr``: λ = 0).
VARIANTS = {"srr": "scale-srr", "nosrr": "scale-nosrr"}
HEURISTIC = "heuristic"  # the ``variant`` column of heuristic rows
FEATURE_STATS = ("mean_abs_mu", "mean_sigma", "mean_abs_offdiag_corr")
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
        warm_start: Behaviour-clone this heuristic (:data:`~scale_rllib.config.WARM_START_TEACHERS`) before PPO;
            None = from scratch.
        warm_start_episodes: Teacher episodes of the warm start (per DAgger round).
        warm_start_epochs: Cloning epochs.
        warm_start_dagger_rounds: DAgger rounds after the first clone.
        lr: PPO learning rate.
        entropy_coeff: PPO entropy bonus.
        heuristics: Heuristics evaluated beside the policies (any of
            :func:`~scale_rllib.baselines.heuristics.known_heuristics`).
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
    warm_start_episodes: int = TrainConfig.warm_start_episodes
    warm_start_epochs: int = TrainConfig.warm_start_epochs
    warm_start_dagger_rounds: int = TrainConfig.warm_start_dagger_rounds
    lr: float = TrainConfig.lr
    entropy_coeff: float = TrainConfig.entropy_coeff
    heuristics: tuple[str, ...] = ("random", "round-robin", "est", "eft", "peft")
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
        weights = (
            {"lambda_dec": self.lambda_dec, "lambda_kl": self.lambda_kl}
            if srr
            else {"lambda_dec": 0.0, "lambda_kl": 0.0}
        )
        return TrainConfig(**(train_fields(self) | weights), env=env, seed=seed)

    def eval_config(self, key: str, load: float, heuristics: bool):
        """The :class:`~scale_rllib.evaluation.EvalConfig` of one piece: all heuristics, or none (a policy piece)."""
        from scale_rllib.evaluation import EvalConfig

        spec, per_server = self.workload(key)
        try:
            return EvalConfig(
                workload=spec,
                servers=tuple(self.servers),
                load=load,
                episodes=self.episodes,
                workflows_per_server=per_server,
                schedulers=tuple(self.heuristics) if heuristics else (),
            )
        except ConfigError as err:
            names = {"workload": "data", "load": "loads", "schedulers": "heuristics"}
            raise _renamed(err, names, prefix=f"workload {key}: ") from None

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
    policy piece) comes from the checkpoint's current iteration or (the heuristics piece) has every heuristic."""
    import pandas as pd

    from scale_rllib.evaluation import EVAL_SEED_BASE

    if not path.is_file():
        return False
    frame = pd.read_csv(path)
    have = set(zip(frame["servers"], frame["seed"], strict=True))
    need = {(n, EVAL_SEED_BASE + e) for n in cfg.servers for e in range(cfg.episodes)}
    fresh = iteration is None or set(frame["train_iterations"]) == {iteration}
    if iteration is None and not set(cfg.heuristics) <= set(frame["scheduler"]):
        return False  # a heuristics piece without every requested heuristic
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
    path = cfg.piece_path(key, load, piece_name(policy))
    if out.features:
        feats = pd.DataFrame(out.features).assign(**columns, load=load)
        first = ["workload", "load", "scheduler", "variant", "train_seed", "train_iterations", "servers"]
        first.append("workflows_per_server")
        _write_atomic(feats[first + list(FEATURE_STATS)], path.with_suffix(".features.csv"))
    _write_atomic(frame, path)  # last: its presence marks the piece complete


def piece_name(policy: tuple[str, int] | None) -> str:
    """The piece file stem: ``heuristics`` or ``<scheduler>-seed<k>``."""
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
        path = cfg.piece_path(key, load, piece_name(policy))
        label = f"[eval {i}/{len(pieces)}] {key} rho={load:g} {piece_name(policy)}"
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

    from scale_rllib.study_report import collect, write_report  # lazily: study_report imports this module

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
