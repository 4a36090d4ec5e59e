"""Flags shared by several commands, and the one conversion from flags to each typed config.

Every flag's ``dest`` is the name of the config field it sets, so :func:`fields_of` maps parsed flags to a config
with no second list of names.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.shifts import SHIFT_DISTRIBUTIONS
from scale_rllib.sim.knowledge import RUNTIME_KNOWLEDGE
from scale_rllib.tracking import check_tracking_uri
from scale_rllib.training.config import ADVANTAGES, RETURNS, TEACHERS, WARM_START_TEACHERS, TrainConfig
from scale_rllib.workloads.spec import WORKLOAD_KINDS, with_arrivals

WORKLOAD_HELP = "workload spec: one of the workload kinds below (docs/workloads.md)"
#: The epilog of every command that takes ``--workload``: one line per kind.
WORKLOAD_EPILOG = "workload kinds (any may end in @azure:PATH, the same as --arrivals azure:PATH):\n" + "\n".join(
    f"  {syntax}\n      {what}" for syntax, what in WORKLOAD_KINDS.values()
)
ARRIVALS_HELP = "replay the Azure LLM trace's request times (a CSV or folder), scaled to --load"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions' and epilogs' line breaks, and appends ``(default: X)`` to every flag that has a default
    and does not state it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text or not action.option_strings:
            return text
        default = " ".join(map(str, action.default)) if isinstance(action.default, list | tuple) else action.default
        return f"{text} (default: {default})"


def fields_of(config_cls: type, args: argparse.Namespace, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The parsed flags named like a field of the dataclass ``config_cls`` (lists → tuples)."""
    names = (f.name for f in dataclasses.fields(config_cls) if f.name not in exclude)
    values = {name: getattr(args, name) for name in names if hasattr(args, name)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


class DeprecatedAlias(argparse.Action):
    """A flag kept as an alias of ``--new``: stores into the new flag's dest and warns once on stderr."""

    def __init__(self, option_strings, dest, new: str, **kwargs) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"{parser.prog}: warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_workload_arguments(p: argparse.ArgumentParser, load_help: str = "offered load ρ") -> None:
    """``--workload``, ``--arrivals``, ``--load``, ``--workflows-per-server``, ``--max-tasks``,
    ``--runtime-knowledge``, ``--profile-error``, ``--interference``, ``--new-type-speedup``, ``--work-shift``,
    ``--work-shift-at``, ``--shift-distribution``, ``--model-forgetting``, ``--model-prior-count``."""
    p.add_argument("--workload", default=EnvConfig.workload, help=WORKLOAD_HELP)
    p.add_argument("--arrivals", metavar="azure:PATH", help=ARRIVALS_HELP)
    p.add_argument("--load", type=float, default=EnvConfig.load, help=f"{load_help}: arrival rate / sustainable rate")
    p.add_argument(
        "--workflows-per-server",
        type=float,
        default=EnvConfig.workflows_per_server,
        help="episode length: W = this × N",
    )
    p.add_argument(
        "--max-tasks", type=int, default=EnvConfig.max_tasks, help="file workloads: leave out larger workflows"
    )
    p.add_argument(
        "--runtime-knowledge",
        choices=RUNTIME_KNOWLEDGE,
        default=EnvConfig.runtime_knowledge,
        help="what schedulers know of execution times: the truth, or a performance model's estimates corrected "
        "online from completions (docs/design.md §10)",
    )
    p.add_argument(
        "--profile-error",
        type=float,
        default=EnvConfig.profile_error,
        help="σ of the profile's log speed error per server type × task kind, drawn per episode (0: exact)",
    )
    p.add_argument(
        "--interference",
        type=float,
        default=EnvConfig.interference,
        help="c: a task that starts while another runs on its server takes f ~ 1 + U(0, 2c) × longer (f per server)",
    )
    p.add_argument(
        "--new-type-speedup",
        type=float,
        default=EnvConfig.new_type_speedup,
        help="the first server type (by name) really runs this × faster than the profile says (a new generation)",
    )
    p.add_argument(
        "--work-shift",
        type=float,
        default=EnvConfig.work_shift,
        help="the workflows after --work-shift-at of the stream have this × the work of the workload's main non-LLM "
        "task kind (a new tool version, bigger inputs); the profile stays (docs/design.md §10)",
    )
    p.add_argument(
        "--work-shift-at",
        type=float,
        default=EnvConfig.work_shift_at,
        help="fraction F of each episode's stream (by arrival index) before the --work-shift",
    )
    p.add_argument(
        "--shift-distribution",
        choices=tuple(SHIFT_DISTRIBUTIONS),
        default=EnvConfig.shift_distribution,
        help="each episode draws --profile-error, --interference, --new-type-speedup, --work-shift and "
        "--work-shift-at from this distribution (meta-training, held-out shifts; docs/design.md §10); none: those "
        "flags as given",
    )
    p.add_argument(
        "--model-forgetting",
        type=float,
        default=EnvConfig.model_forgetting,
        help="γ in (0, 1]: the performance model weighs about the last 1/(1−γ) completions per server type × task "
        "kind (follows a drift; 1: all); with --runtime-knowledge estimated",
    )
    p.add_argument(
        "--model-prior-count",
        type=float,
        default=EnvConfig.model_prior_count,
        help="κ₀ > 0: the profile's weight in the performance model, in completions; with --runtime-knowledge "
        "estimated",
    )


def workload_of(args: argparse.Namespace) -> str:
    """The workload spec of ``--workload`` with ``--arrivals`` appended."""
    return with_arrivals(args.workload, args.arrivals)


def add_ppo_arguments(p: argparse.ArgumentParser, defaults: TrainConfig | None = None) -> None:
    """Every :class:`TrainConfig` field but ``env`` and ``seed`` as a flag (PPO, SRR, model, warm start), with the
    defaults of ``defaults`` (default: :class:`TrainConfig`'s)."""
    d = defaults or TrainConfig()
    p.add_argument("--iterations", type=int, default=d.iterations, help="PPO iterations")
    p.add_argument("--lambda-dec", type=float, default=d.lambda_dec, help="SRR decorrelation weight λ_dec (0: off)")
    p.add_argument("--lambda-kl", type=float, default=d.lambda_kl, help="SRR KL-to-N(0, I) weight λ_KL (0: off)")
    p.add_argument("--num-env-runners", type=int, default=d.num_env_runners, help="env runner actors (0: the driver)")
    p.add_argument("--envs-per-runner", type=int, default=d.envs_per_runner, help="vectorised envs per env runner")
    p.add_argument("--train-batch-size", type=int, default=d.train_batch_size, help="env steps per iteration")
    p.add_argument("--minibatch-size", type=int, default=d.minibatch_size, help="SGD minibatch (decisions)")
    p.add_argument("--num-epochs", type=int, default=d.num_epochs, help="SGD passes over each train batch")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    p.add_argument("--entropy-coeff", type=float, default=d.entropy_coeff, help="PPO entropy bonus")
    p.add_argument("--vf-loss-coeff", type=float, default=d.vf_loss_coeff, help="value loss weight")
    p.add_argument("--embed-dim", type=int, default=d.embed_dim, help="model width d")
    p.add_argument("--num-heads", type=int, default=d.num_heads, help="attention heads (must divide d)")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="checkpoint every K iterations")
    p.add_argument("--warm-start", choices=WARM_START_TEACHERS, help="behaviour-clone this heuristic before PPO")
    p.add_argument("--warm-start-episodes", type=int, default=d.warm_start_episodes, help="teacher episodes per round")
    p.add_argument("--warm-start-epochs", type=int, default=d.warm_start_epochs, help="cloning passes per round")
    p.add_argument(
        "--warm-start-dagger-rounds",
        type=int,
        default=d.warm_start_dagger_rounds,
        help="DAgger rounds after the clone (the teacher labels the student's own states)",
    )
    p.add_argument(
        "--warm-start-privileged",
        action="store_true",
        help="with --runtime-knowledge estimated: the teacher decides on the true execution times, the student learns "
        "from the estimated observation (imitation of a privileged teacher)",
    )
    p.add_argument(
        "--warm-start-cost-sensitive",
        action="store_true",
        help="with a rollout teacher: any server as cheap as its cheapest fork is right, and decisions weigh by "
        "what a wrong choice can cost",
    )
    p.add_argument(
        "--warm-start-select-episodes",
        type=int,
        default=d.warm_start_select_episodes,
        help="score every warm-start round on this many validation episodes and keep the best (0: the last round)",
    )
    p.add_argument(
        "--warm-start-select-load",
        type=float,
        help="offered load ρ of those validation episodes (default: --load): pick the round for the target load",
    )
    p.add_argument(
        "--advantage",
        choices=ADVANTAGES,
        default=d.advantage,
        help="gae, or input-driven: each env runner's envs run groups of episodes with one input, and the baseline "
        "is the group's mean return-to-go at the same simulated time (Mao et al., ICLR 2019)",
    )
    p.add_argument(
        "--group-size", type=int, default=d.group_size, help="input-driven: episodes per input (= --envs-per-runner)"
    )
    p.add_argument(
        "--returns",
        choices=RETURNS,
        default=d.returns,
        help="input-driven: discounted returns, or average-reward (differential, undiscounted; Decima)",
    )
    p.add_argument(
        "--teacher",
        choices=TEACHERS,
        help="before PPO (after --warm-start): policy iteration — the network acts, its own rollout labels the "
        "states it visits, the network is distilled on the labels",
    )
    p.add_argument("--policy-iterations", type=int, default=d.policy_iterations, help="rounds of policy iteration")
    p.add_argument(
        "--policy-iteration-episodes", type=int, default=d.policy_iteration_episodes, help="episodes labelled per round"
    )
    p.add_argument(
        "--policy-iteration-lr",
        type=float,
        default=d.policy_iteration_lr,
        help="Adam learning rate of each round's distillation (lower fine-tunes a trained network more gently)",
    )
    p.add_argument(
        "--rollout-candidates", type=int, default=d.rollout_candidates, help="servers a self-rollout tries per decision"
    )
    p.add_argument(
        "--rollout-known-arrivals",
        type=int,
        default=d.rollout_known_arrivals,
        help="future workflows a self-rollout also simulates (a clairvoyant teacher for training; 0: none)",
    )
    p.add_argument(
        "--labelling-workers",
        type=int,
        default=d.labelling_workers,
        help="Ray tasks (1 CPU each, spread over the cluster's nodes) that label a round's episodes",
    )
    p.add_argument(
        "--anchor-kl",
        type=float,
        default=d.anchor_kl,
        help="β: PPO's loss adds β · KL(network PPO started from ‖ policy) — keeps a clone's skill while PPO learns "
        "(needs --warm-start, --teacher or --init-checkpoint; 0: off)",
    )
    add_threads_argument(p)


def add_threads_argument(p: argparse.ArgumentParser) -> None:
    """``--num-threads``: torch threads of this process."""
    p.add_argument(
        "--num-threads",
        type=int,
        default=TrainConfig.num_threads,
        help="torch threads of this process (1 keeps an episode fast when other jobs share the cores)",
    )


def add_tracking_arguments(p: argparse.ArgumentParser, ray: bool = True) -> None:
    """``--mlflow-uri`` (and ``--address``)."""
    p.add_argument(
        "--mlflow-uri",
        type=tracking_uri,
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the current directory)",
    )
    if ray:
        p.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else a new local Ray instance)")


def tracking_uri(value: str) -> str:
    """argparse type of ``--mlflow-uri``: :func:`~scale_rllib.tracking.check_tracking_uri`.

    Raises:
        argparse.ArgumentTypeError: a URI MLflow cannot track to (argparse exits with status 2, naming the flag).
    """
    try:
        return check_tracking_uri(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def output_argument(p: argparse.ArgumentParser, what: str, required: bool = True, default: Path | None = None) -> None:
    """``--output DIR``, checked by :func:`output_directory` while the flags are parsed."""
    p.add_argument("--output", type=output_directory, required=required, default=default, help=what)


def output_directory(value: str) -> Path:
    """argparse type of ``--output``: a directory that exists or can be created (its nearest existing ancestor is a
    writable directory), so a run does not fail on it after its work is done. Nothing is created here.

    Raises:
        argparse.ArgumentTypeError: a file stands where a directory must be, or the directory is not writable
            (argparse exits with status 2, naming ``--output``).
    """
    path = Path(value)
    existing = next(p for p in (path, *path.parents) if p.exists())  # the first parent of a relative path: "."
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{existing} is a file, not a directory: cannot write under {path}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{existing} is not writable: cannot write under {path}")
    return path
