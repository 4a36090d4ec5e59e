"""The one evaluation loop: every heuristic and policy on the same seeded episodes of a scenario."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.evaluation.scenarios import Episode, EpisodeGroup, Scenario, offered_load
from scale_rllib.evaluation.summary import summarize
from scale_rllib.schedulers import Scheduler, make_scheduler, observing_env, run_episode
from scale_rllib.validation import ConfigError


@dataclass
class EvalOutput:
    """What :func:`evaluate` measured.

    Attributes:
        results: One row per (group, scheduler, episode): the :class:`~scale_rllib.schedulers.EpisodeResult` fields
            and the episode's labels (the DWS stream and pool).
        features: Per (policy, group): attention-feature statistics (:data:`scale_rllib.metrics.FEATURE_STATS`),
            with ``scheduler``, ``servers`` and the group's labels.
    """

    results: list[dict]
    features: list[dict]


def evaluate(
    scenario: Scenario,
    policies: Sequence[Scheduler] = (),
    on_result: Callable[[dict], None] | None = None,
    num_threads: int = 1,
) -> EvalOutput:
    """Run every heuristic of ``scenario.schedulers`` and every policy on each of the scenario's episodes.

    Args:
        scenario: What to evaluate (:class:`~scale_rllib.evaluation.scenarios.EvalConfig` or
            :class:`~scale_rllib.evaluation.scenarios.DwsEvalConfig`).
        policies: Trained policies (e.g. :class:`~scale_rllib.schedulers.policy.PolicyScheduler`), loaded once; no
            parameter depends on N, so one policy runs at every N.
        on_result: Called with each result row (progress reporting).
        num_threads: torch threads (1: robust under CPU contention — unpinned, one episode ran 7× slower).

    A group with a ``target_ci`` grows one episode at a time (for every scheduler) until each policy's paired ratio
    to the best heuristic is known to ± ``target_ci`` (95 %), or ``max_episodes``.

    Raises:
        ValueError: a scheduler returned an invalid server.
    """
    torch.set_num_threads(num_threads)
    out = EvalOutput([], [])
    for group in scenario.groups():
        _check_observations(policies, group.env_config)
        env = observing_env(group.env_config, policies)
        schedulers = [make_scheduler(name) for name in scenario.schedulers] + list(policies)
        rows: list[dict] = []
        episodes, pending = list(group.episodes), list(group.episodes)
        while pending:
            for scheduler in schedulers:
                for episode in pending:
                    rows.append(_run(env, scheduler, episode))
                    if on_result is not None:
                        on_result(rows[-1])
            pending = _more_episodes(group, rows, len(episodes), [p.name for p in policies], scenario.cell_keys)
            episodes += pending
        out.results += rows
        for scheduler in schedulers:
            stats = scheduler.feature_statistics()
            if stats:
                labels = group.episodes[0].labels
                out.features.append({"scheduler": scheduler.name, **labels, "servers": rows[-1]["servers"], **stats})
    return out


def _check_observations(policies: Sequence[Scheduler], env_config) -> None:
    """Every policy reads the observations this evaluation's env produces.

    Raises:
        ConfigError: a policy trained with (without) estimated runtime knowledge evaluated without (with) it, or
            trained with (without) serving engines evaluated on a workload without (with) them.
    """
    for policy in policies:
        spec, name = policy.observation_spec, policy.name
        if spec is None:  # a heuristic reads any observation
            continue
        if spec.uncertainty != env_config.with_uncertainty:
            trained = "estimated" if spec.uncertainty else "oracle"
            raise ConfigError(f"runtime_knowledge: policy {name!r} was trained with {trained} runtime knowledge; "
                              f"evaluate it with --runtime-knowledge {trained}")  # fmt: skip
        if spec.serving != env_config.with_serving:
            trained = "an agentic-serving" if spec.serving else "a non-serving"
            raise ConfigError(f"workload: policy {name!r} was trained on {trained} workload; evaluate it on one too")


def _run(env: SchedulingEnv, scheduler: Scheduler, episode: Episode) -> dict:
    """One episode's result row: :class:`~scale_rllib.schedulers.EpisodeResult`'s fields and the episode's labels."""
    sim = episode.simulator() if episode.simulator is not None else None
    load = offered_load(sim) if sim is not None else None
    servers = None if sim is not None else episode.servers
    result = run_episode(env, scheduler, episode.seed, servers=servers, simulator=sim, load=load)
    return dataclasses.asdict(result) | episode.labels


def _more_episodes(group: EpisodeGroup, rows: list[dict], count: int, policies: list[str], cell_keys) -> list[Episode]:
    """The next episode of ``group`` while a policy's paired-ratio interval is wider than ``group.target_ci``."""
    if group.target_ci is None or group.more is None or count >= group.max_episodes or not policies:
        return []
    table = summarize(rows, cell_keys)
    widths = table.loc[table["scheduler"].isin(policies), "paired_ratio_ci95"]
    if len(widths) and not (widths.isna() | (widths > group.target_ci)).any():
        return []
    return [group.more(count)]
