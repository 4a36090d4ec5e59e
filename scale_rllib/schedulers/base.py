"""One scheduler interface for heuristics and trained policies, and one ``run_episode`` for every scenario."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import ObservationSpec
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.sim.simulator import Simulator


class Scheduler:
    """Picks a server for the simulator's current ready task (the base class of every scheduler).

    Subclasses set :attr:`name` and implement :meth:`select`; :meth:`reset` and :meth:`feature_statistics` are
    optional hooks with do-nothing defaults.

    Attributes:
        name: Short name used in tables, CSVs and metric keys (``eft``, ``scale``, …).
    """

    name: str = "scheduler"
    #: The observation layout a policy reads; None: a heuristic, which reads any observation (or none). An evaluation
    #: refuses a policy whose uncertainty or serving columns its env does not produce, and produces the backlog task
    #: features if a policy reads them (the policies without them leave them out).
    observation_spec: ObservationSpec | None = None

    def reset(self, seed: int) -> None:
        """Called at the start of every episode (re-seed any randomness); default: nothing to reset."""

    def select(self, observation: dict[str, np.ndarray] | None, sim: Simulator) -> int:
        """Return a server index in [0, N) for ``sim.task``.

        Args:
            observation: The env's observation of this decision (see :mod:`scale_rllib.env.observation`); None
                when a heuristic is run on a bare simulator (rollouts).
            sim: The simulator (heuristics read its state; they must not modify it).
        """
        raise NotImplementedError

    def feature_statistics(self) -> dict[str, float]:
        """Statistics of internal features gathered since the last call (a policy's attention features, per
        :data:`scale_rllib.metrics.FEATURE_STATS`), then forgotten; default: none (empty dict)."""
        return {}


@dataclass(frozen=True)
class EpisodeResult:
    """What one episode measured.

    Attributes:
        scheduler: Scheduler name.
        servers: N.
        load: Offered load ρ.
        seed: Episode seed.
        mean_response_time_s: Mean over workflows of completion − arrival (seconds).
        lower_bound_s: Mean over workflows of the lower bound on their response time: max(critical path on the
            fastest servers, capacity bounds) (seconds; :mod:`scale_rllib.sim.bounds`).
        decisions: Number of scheduling decisions.
        wall_time_s: Wall-clock time of the episode (seconds).
    """

    scheduler: str
    servers: int
    load: float
    seed: int
    mean_response_time_s: float
    lower_bound_s: float
    decisions: int
    wall_time_s: float


def observing_env(env_config: EnvConfig, schedulers: Iterable[Scheduler]) -> SchedulingEnv:
    """An env of ``env_config`` whose observations each of ``schedulers`` reads: with the backlog task features if
    any of them reads them (:attr:`Scheduler.observation_spec`); a policy without them slices them off
    (:meth:`~scale_rllib.schedulers.policy.PolicyScheduler.select`)."""
    backlog = any(s.observation_spec is not None and s.observation_spec.backlog for s in schedulers)
    return SchedulingEnv(dataclasses.replace(env_config, observe_backlog=backlog))


def run_episode(
    env: SchedulingEnv,
    scheduler: Scheduler,
    seed: int,
    servers: int | None = None,
    simulator: Simulator | None = None,
    load: float | None = None,
    on_decision: Callable[[Simulator, int], None] | None = None,
) -> EpisodeResult:
    """Run one full episode of ``env`` with ``scheduler``; the same seed gives the same workflows and cluster.

    Args:
        env: The env (its config fixes workload, load and episode length).
        scheduler: Who decides.
        seed: Seeds the env's episode and the scheduler's own randomness.
        servers: Fix N (default: drawn from the env's ``servers_range``).
        simulator: Run this fresh simulator (e.g. a replayed DWS stream) instead of drawing an episode.
        load: The offered load to record (default: the env config's).
        on_decision: Called with the simulator (at the decision: ``sim.task`` is the ready task) and the chosen
            server before each decision is applied, e.g. to record the schedule; it must not change the simulator.

    Raises:
        ValueError: the scheduler returned an invalid server.
    """
    options = {k: v for k, v in (("servers", servers), ("simulator", simulator)) if v is not None}
    start = time.perf_counter()
    obs, info = env.reset(seed=seed, options=options or None)
    scheduler.reset(seed)
    terminated = False
    while not terminated:
        server = scheduler.select(obs, env.view)
        if on_decision is not None:
            on_decision(env.sim, server)
        obs, _, terminated, _, info = env.step(server)
    return EpisodeResult(
        scheduler.name,
        env.sim.cluster.num_servers,
        env.config.load if load is None else load,
        seed,
        info["mean_response_time_s"],
        info["mean_lower_bound_s"],
        env.sim.decisions,
        time.perf_counter() - start,
    )


def schedule_to_end(sim: Simulator, scheduler: Scheduler) -> Simulator:
    """Let ``scheduler`` — a heuristic: it reads the simulator, not an observation — make every decision of ``sim``
    and run ``sim`` to completion; returns ``sim`` (no env, no reward: for benchmarks on hand-built episodes)."""
    while sim.next_decision():
        sim.assign(scheduler.select(None, sim))
    sim.run_to_completion()
    return sim
