"""Schedulers: the :class:`Scheduler` base class, the heuristic registry and ``run_episode``.

Every heuristic is registered by name (:data:`SCHEDULERS`, :func:`make_scheduler`): the default set
(:data:`DEFAULT_HEURISTICS`: random, round-robin, EST, EFT, PEFT), the rollouts (``eft-rollout``, ``peft-rollout``
and the rollout of a rollout, ``peft-rollout-2``), the DWS peer's stale-clock compatibility schedulers (``dws-est``,
``dws-heft``, ``dws-peft``) and the routers of LLM serving stacks (``power-of-two``, ``least-outstanding``, and the
prefix-cache-aware ``cache-aware``, ``prefix-affinity``, ``llm-d``), and for estimated runtimes ``eft-ucb``
(explores where the performance model is unsure) and ``eft-contention`` (charges co-location a slowdown), and for
serving engines ``eft-marginal`` (charges an LLM call the delay its prefill adds to the other workflows' calls). The
trained policy is :class:`scale_rllib.schedulers.policy.PolicyScheduler` (it imports torch and RLlib, so it is not
loaded here).
"""

from __future__ import annotations

from scale_rllib.schedulers.base import EpisodeResult, Scheduler, observing_env, run_episode
from scale_rllib.schedulers.dws_compat import COMPAT_HEURISTICS
from scale_rllib.schedulers.heuristics import HEURISTICS
from scale_rllib.schedulers.marginal import MARGINAL_HEURISTICS
from scale_rllib.schedulers.rollout import ROLLOUT_HEURISTICS
from scale_rllib.schedulers.routers import ROUTERS
from scale_rllib.schedulers.uncertain import UNCERTAIN_HEURISTICS

#: Every heuristic by name.
SCHEDULERS: dict[str, type[Scheduler]] = {
    **HEURISTICS,
    **ROLLOUT_HEURISTICS,
    **COMPAT_HEURISTICS,
    **ROUTERS,
    **UNCERTAIN_HEURISTICS,
    **MARGINAL_HEURISTICS,
}
#: The heuristics an evaluation compares against by default.
DEFAULT_HEURISTICS: tuple[str, ...] = tuple(HEURISTICS)


def scheduler_names() -> tuple[str, ...]:
    """Every registered heuristic name."""
    return tuple(SCHEDULERS)


def make_scheduler(name: str) -> Scheduler:
    """A fresh heuristic scheduler by name (one of :data:`SCHEDULERS`).

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    try:
        return SCHEDULERS[name]()
    except KeyError:
        raise ValueError(f"unknown scheduler {name!r}; known: {', '.join(SCHEDULERS)}") from None


__all__ = [
    "DEFAULT_HEURISTICS",
    "SCHEDULERS",
    "EpisodeResult",
    "Scheduler",
    "make_scheduler",
    "observing_env",
    "run_episode",
    "scheduler_names",
]
