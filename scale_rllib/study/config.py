"""What the SRR study trains and evaluates (docs/srr-study.md): :class:`StudyConfig` and its pieces.

The study trains SCALE with SRR and with λ = 0 for every seed on each workload (a base :class:`TrainConfig` whose
workload and seed are set per training), then evaluates every policy and heuristic zero-shot at each N and offered
load ρ on the same seeded episodes. Every training run and every evaluation piece has its own place on disk, so the
study is resumable piece by piece.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from scale_rllib.env.config import EnvConfig
from scale_rllib.evaluation.scenarios import EvalConfig
from scale_rllib.schedulers import DEFAULT_HEURISTICS
from scale_rllib.training.config import TrainConfig
from scale_rllib.validation import ConfigError, require
from scale_rllib.workloads.generators.agentic_real import agentic_real_spec

WORKLOADS = ("agentic", "agentic-real", "wfinstances", "agentic-serving")
#: The workloads a study runs unless told otherwise.
DEFAULT_WORKLOADS = WORKLOADS[:3]
#: Training variant → the policy's scheduler name (``srr``: the base config's λ_dec, λ_KL; ``nosrr``: λ = 0).
VARIANTS = {"srr": "scale-srr", "nosrr": "scale-nosrr"}
HEURISTIC = "heuristic"  # the ``variant`` column of heuristic rows
#: The study's training defaults: 30 PPO iterations from scratch, N ∈ [12, 20], ρ = 0.7.
STUDY_TRAIN = TrainConfig(env=EnvConfig(servers_range=(12, 20)), iterations=30, lambda_dec=0.1, lambda_kl=0.01)
#: A workload key's default episode length (workflows per server): wfinstances workflows are large.
WORKFLOWS_PER_SERVER = {"agentic": 4.0, "agentic-real": 4.0, "wfinstances": 1.0, "agentic-serving": 4.0}


def workload_spec(key: str, data: Path) -> str:
    """The workload spec of a study workload key, its files under the data folder ``data``."""
    return {
        "agentic": "agentic",
        "agentic-real": agentic_real_spec(data / "worfbench", data / "azure-llm-2023"),
        "wfinstances": f"wfinstances:{data / 'wfinstances'}",
        "agentic-serving": f"agentic-serving:{data / 'worfbench'},azure={data / 'azure-llm-2023'}",
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
        data: The data folder (``worfbench/``, ``azure-llm-2023/``, ``wfinstances/``).
        train: The base training run: PPO, SRR weights of the ``srr`` variant, model, warm start, and the training
            episodes' ``servers_range`` and ``load`` (its workload, seed and episode length are set per training).
        workloads: Study workload keys, a subset of :data:`WORKLOADS`.
        seeds: Training seeds (each variant is trained once per seed).
        servers: Cluster sizes N of the zero-shot evaluation.
        loads: Offered loads ρ ∈ (0, 1) of the evaluation.
        episodes: Seeded evaluation episodes per (N, ρ); the same ones for every scheduler.
        heuristics: Heuristics evaluated beside the policies (any of :data:`scale_rllib.schedulers.SCHEDULERS`).
        workflows_per_server: Episode length for every workload; None = :data:`WORKFLOWS_PER_SERVER`.
    """

    output: Path
    runs_dir: Path
    data: Path
    train: TrainConfig = STUDY_TRAIN
    workloads: tuple[str, ...] = DEFAULT_WORKLOADS
    seeds: tuple[int, ...] = (0, 1, 2)
    servers: tuple[int, ...] = (16, 32, 48, 64, 128)
    loads: tuple[float, ...] = (0.5, 0.7, 0.85)
    episodes: int = 2
    heuristics: tuple[str, ...] = DEFAULT_HEURISTICS
    workflows_per_server: float | None = None

    def __post_init__(self) -> None:
        unknown = [w for w in self.workloads if w not in WORKLOADS]
        require(bool(self.workloads) and not unknown, "workloads", f"unknown {unknown}; known: {list(WORKLOADS)}")
        require(len(set(self.workloads)) == len(self.workloads), "workloads", "repeated workload")
        require(bool(self.seeds) and min(self.seeds) >= 0, "seeds", f"need seeds ≥ 0, got {self.seeds}")
        require(len(set(self.seeds)) == len(self.seeds), "seeds", f"repeated seed in {self.seeds}")
        require(bool(self.servers) and min(self.servers) >= 1, "servers", f"need N ≥ 1, got {self.servers}")
        bad = [rho for rho in self.loads if not 0 < rho < 1]
        require(bool(self.loads) and not bad, "loads", f"offered loads must be in (0, 1) (a stable queue), got {bad}")
        require(self.episodes >= 1, "episodes", f"must be ≥ 1, got {self.episodes}")
        for key in self.workloads:  # builds every config once: bad values and missing data fail here, before Ray
            for variant in VARIANTS:
                self.train_config(key, variant, self.seeds[0])
            self.eval_config(key, self.loads[0], heuristics=True)

    @property
    def iterations(self) -> int:
        """PPO iterations of every training."""
        return self.train.iterations

    def workload(self, key: str) -> tuple[str, float]:
        """(workload spec, workflows per server) of workload ``key``."""
        per_server = WORKFLOWS_PER_SERVER[key] if self.workflows_per_server is None else self.workflows_per_server
        return workload_spec(key, self.data), per_server

    def train_config(self, key: str, variant: str, seed: int) -> TrainConfig:
        """The :class:`TrainConfig` of one training (``variant`` ``srr`` or ``nosrr``)."""
        spec, per_server = self.workload(key)
        try:
            env = dataclasses.replace(self.train.env, workload=spec, workflows_per_server=per_server)
        except ConfigError as err:
            raise _renamed(err, {"workload": "data"}, prefix=f"workload {key}: ") from None
        weights = {} if variant == "srr" else {"lambda_dec": 0.0, "lambda_kl": 0.0}
        return dataclasses.replace(self.train, env=env, seed=seed, **weights)

    def eval_config(self, key: str, load: float, heuristics: bool) -> EvalConfig:
        """The :class:`EvalConfig` of one piece: all heuristics, or none (a policy piece)."""
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


def piece_name(policy: tuple[str, int] | None) -> str:
    """The piece file stem: ``heuristics`` or ``<scheduler>-seed<k>``."""
    return "heuristics" if policy is None else f"{VARIANTS[policy[0]]}-seed{policy[1]}"


def eval_pieces(cfg: StudyConfig) -> list[tuple[str, float, tuple[str, int] | None]]:
    """Every evaluation piece: (workload, ρ, None = the heuristics | (variant, seed) = one policy)."""
    policies = [None] + [(v, s) for s in cfg.seeds for v in VARIANTS]
    return [(k, rho, p) for k in cfg.workloads for rho in cfg.loads for p in policies]


@dataclass
class StudyOutcome:
    """What :func:`~scale_rllib.study.run.run_study` did and wrote.

    Attributes:
        report: The Markdown report.
        files: Every CSV and PNG written by the assembly.
        counts: ``trained``, ``train_skipped``, ``evaluated``, ``eval_skipped``, ``missing`` pieces.
    """

    report: Path
    files: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
