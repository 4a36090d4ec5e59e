"""The one evaluation loop: every heuristic and policy on the same seeded episodes of a scenario."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.evaluation.scenarios import Scenario, offered_load
from scale_rllib.schedulers import Scheduler, make_scheduler, run_episode


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

    Raises:
        ValueError: a scheduler returned an invalid server.
    """
    torch.set_num_threads(num_threads)
    out = EvalOutput([], [])
    for group in scenario.groups():
        env = SchedulingEnv(group.env_config)
        for scheduler in [make_scheduler(name) for name in scenario.schedulers] + list(policies):
            for episode in group.episodes:
                sim = episode.simulator() if episode.simulator is not None else None
                load = offered_load(sim) if sim is not None else None
                servers = None if sim is not None else episode.servers
                result = run_episode(env, scheduler, episode.seed, servers=servers, simulator=sim, load=load)
                row = dataclasses.asdict(result) | episode.labels
                out.results.append(row)
                if on_result is not None:
                    on_result(row)
            stats = scheduler.feature_statistics()
            if stats:
                labels = group.episodes[0].labels
                out.features.append({"scheduler": scheduler.name, **labels, "servers": row["servers"], **stats})
    return out
