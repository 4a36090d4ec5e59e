"""What a scheduler knows about execution times: the truth (oracle) or a performance model's estimates.

With ``oracle`` knowledge every scheduler reads the simulator itself, true execution times included. With
``estimated`` knowledge (docs/design.md §10) a :class:`EstimatedRuntimes` stands between them: the simulator (the
*engine*) runs the true cluster, and schedulers and the observation read :meth:`EstimatedRuntimes.view`, a snapshot
:class:`~scale_rllib.sim.simulator.Simulator` of the current decision that holds only what a real scheduler could
know:

- the cluster's speeds are the profile's divided by the performance model's multipliers, so ``exec_times_s()`` and
  everything built on it (EFT, PEFT, rollouts, the observation) are estimates;
- a task in flight that has started is believed to end at start + its estimate (or now, if that has passed); one
  that has not started is placed, in assignment order, on the earliest believed-free slot of its server (FIFO);
  slot and server free times, finish times and the event heap of the snapshot follow those beliefs;
- each task's fastest time, remaining critical path and lower bound are computed from the profile;
- each task's work is the profile's (``profile_workflows``): after a workload shift (``EnvConfig.work_shift``) the
  true work of a kind differs, and only the observed durations reveal it;
- facts stay facts: arrivals, completions, observed durations of completed tasks, data-ready times (a task is
  assigned only once its parents have completed).

Each completion updates the model with the observed duration (:class:`~scale_rllib.sim.performance_model.
PerformanceModel`, one entry per server type name × task kind), and the per-server co-location model
(:class:`~scale_rllib.sim.colocation_model.ColocationModel`) with the residual of that estimate and whether the task
started beside another one on its server (a fact: which tasks ran where, and when). The snapshot carries its belief as
``colocation_log_factor``; ``exec_times_s()`` stays the performance model's estimate, so EFT "on the estimates" does not
use it.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from scale_rllib.sim.bounds import critical_paths_s, lower_bounds_s
from scale_rllib.sim.cluster import Cluster
from scale_rllib.sim.colocation_model import ColocationModel
from scale_rllib.sim.performance_model import PerformanceModel, PerformancePrior
from scale_rllib.sim.simulator import Simulator, exec_time_s, fastest_exec_s
from scale_rllib.sim.workflow import Workflow

RUNTIME_KNOWLEDGE = ("oracle", "estimated")


class EstimatedRuntimes:
    """Decisions on a performance model's estimates while ``engine`` runs the truth (see the module docstring).

    Args:
        engine: A fresh simulator on the true cluster.
        profile: The cluster as the performance profile describes it: the engine's servers (same N, slots and type
            names) at the profile's speeds.
        prior: The performance model's prior and forgetting factor.
        profile_workflows: The engine's workflows as the profile describes them: the same DAGs and kinds, whose work
            may differ from the engine's true work (a workload shift, ``EnvConfig.work_shift``); schedulers see this
            work. None: the engine's own.

    Raises:
        ValueError: the profile's N or slots differ from the engine's, ``profile_workflows`` do not match the engine's
            tasks and kinds, or the engine has already started.

    Usage::

        knowledge = EstimatedRuntimes(engine, profile)
        while knowledge.next_decision():
            knowledge.assign(scheduler.select(None, knowledge.view()))
    """

    def __init__(
        self,
        engine: Simulator,
        profile: Cluster,
        prior: PerformancePrior | None = None,
        *,
        profile_workflows: Sequence[Workflow] | None = None,
    ) -> None:
        if profile.num_servers != engine.cluster.num_servers or not np.array_equal(profile.slots, engine.cluster.slots):
            raise ValueError("the profile must describe the engine's servers (same N and slots)")
        if engine.decisions or engine.task >= 0:
            raise ValueError("the engine must be fresh (no decision taken)")
        self.engine, self.profile = engine, profile
        self.workflows, self.task_work, self.task_decode = _profile_work(engine, profile_workflows)
        names = [t.name for t in profile.server_types]
        type_names = sorted(set(names))
        self.server_group = np.array([type_names.index(n) for n in names], dtype=np.int64)  # (N,)
        self.model = PerformanceModel(len(type_names), profile.speed.shape[1], prior)
        self.colocation = ColocationModel(profile.num_servers)
        fastest = fastest_exec_s(profile, engine.task_kind, self.task_work, self.task_decode)
        paths = critical_paths_s(self.workflows, fastest, engine.offset)
        bounds = lower_bounds_s(self.workflows, profile, fastest, paths)  # (critical paths, lower bounds)
        self._profile_paths = (fastest, np.concatenate(paths), *bounds)
        self._in_flight: list[list[int]] = [[] for _ in range(profile.num_servers)]  # per server, assignment order
        self._slot_done_s = np.where(np.isfinite(engine.slot_free_s), 0.0, np.inf)  # (N, S) last completion per slot
        self._done_work_s = np.zeros(profile.num_servers)  # (N,) observed execution time of completed tasks
        self._done: list[list[int]] = [[] for _ in range(profile.num_servers)]  # per server, completion order
        self._order = np.full(len(engine.task_kind), -1, dtype=np.int64)  # (T_total,) decision that assigned each task
        self._seen = 0  # engine.finished entries already observed
        self._cluster: Cluster | None = None  # the believed cluster, rebuilt when the model changes
        self._log_factor: np.ndarray | None = None  # (N,) the co-location model's φ, recomputed when it changes

    # ------------------------------------------------------------------ the engine's steps
    def next_decision(self) -> bool:
        """Advance the engine to its next ready task; observe the completions on the way (False: episode over)."""
        more = self.engine.next_decision()
        self._observe_completions()
        return more

    def assign(self, server: int) -> float:
        """Give the engine's ready task to ``server`` (the true finish time is returned for the caller's
        bookkeeping, e.g. rewards; schedulers never see it).

        Raises:
            ValueError, RuntimeError: as :meth:`Simulator.assign`.
        """
        task = self.engine.task
        self._order[task] = self.engine.decisions
        finish = self.engine.assign(server)
        self._in_flight[server].append(task)
        return finish

    def _observe_completions(self) -> None:
        e = self.engine
        for t in e.finished[self._seen :]:
            s, kind = int(e.task_server[t]), int(e.task_kind[t])
            self._in_flight[s].remove(t)
            self._slot_done_s[s, e.task_slot[t]] = max(self._slot_done_s[s, e.task_slot[t]], e.task_finish_s[t])
            self._done_work_s[s] += e.task_exec_s[t]
            nominal, observed = self._nominal_s(t, s), float(e.task_exec_s[t])
            residual = np.log(observed / (nominal * np.exp(self.model.mu[self.server_group[s], kind])))
            self.colocation.observe(s, self._started_beside_another(t, s), float(residual))
            self.model.observe(self.server_group[s], kind, nominal, observed)
            self._done[s].append(t)
            self._cluster = self._log_factor = None
        self._seen = len(e.finished)

    def _started_beside_another(self, t: int, s: int) -> bool:
        """Whether completed task t started while another task ran on server s (observed facts only): one that
        started before it (at the same time: was assigned before it, as the engine's rule) and had not finished."""
        e = self.engine
        start = e.task_start_s[t]

        def first(u: int) -> bool:
            return e.task_start_s[u] < start or (e.task_start_s[u] == start and self._order[u] < self._order[t])

        if any(first(u) for u in self._in_flight[s]):  # still running (a queued one starts after t ended)
            return True
        for u in reversed(self._done[s]):  # completion order = finish order: stop at those done before t started
            if e.task_finish_s[u] <= start:
                return False
            if first(u):
                return True
        return False

    def _nominal_s(self, t: int, s: int) -> float:
        """The profile's execution time of task t on server s (seconds)."""
        return exec_time_s(self.profile, self.task_work[t], self.task_decode[t], self.engine.task_kind[t], s)

    # ------------------------------------------------------------------ what schedulers see
    def believed_cluster(self) -> Cluster:
        """The profile's servers at speeds / the model's current multipliers (server type × kind)."""
        if self._cluster is None:
            multiplier = self.model.multiplier()[self.server_group]  # (N, K)
            self._cluster = self.profile.with_speeds(self.profile.speed / multiplier,
                                                     self.profile.decode_speed / multiplier)  # fmt: skip
        return self._cluster

    def view(self) -> Simulator:
        """A snapshot of the current decision as the scheduler knows it (see the module docstring); a Simulator
        that may be forked and decided in (rollouts) without touching the engine."""
        e, view = self.engine, self.engine.fork()
        view.cluster = self.believed_cluster()
        view.workflows, view.task_work, view.task_decode = self.workflows, self.task_work, self.task_decode
        view.interference = None  # unknown to the scheduler: the multipliers absorb its average effect
        view.exec_log_sd = self.model.log_sd()[self.server_group]  # (N, K)
        if self._log_factor is None:
            self._log_factor = self.colocation.log_factor()
        view.colocation_log_factor = self._log_factor  # (N,), shared: read-only for schedulers
        view.task_fastest_s, view.task_critical_path_s, view.critical_path_s, view.lower_bound_s = self._profile_paths
        seq = {t: q for _, q, t in e._events}
        view._events = []
        for s, tasks in enumerate(self._in_flight):
            self._believe_server(view, s, tasks, seq)
        heapq.heapify(view._events)
        return view

    def _believe_server(self, view: Simulator, s: int, tasks: list[int], seq: dict[int, int]) -> None:
        """Believed slot free times of server s and believed start/finish of its in-flight ``tasks``, into view."""
        e, now = self.engine, self.engine.now_s
        row = self._slot_done_s[s].copy()
        work = self._done_work_s[s]
        running = [t for t in tasks if e.task_start_s[t] <= now]  # observable: they hold their slots
        for t in running + [t for t in tasks if e.task_start_s[t] > now]:  # then the queue, FIFO
            estimate = exec_time_s(view.cluster, view.task_work[t], view.task_decode[t], view.task_kind[t], s)
            work += estimate
            if e.task_start_s[t] <= now:
                slot, start = int(e.task_slot[t]), float(e.task_start_s[t])
                finish = max(start + estimate, now)
            else:
                slot = int(row.argmin())
                start = max(float(row[slot]), float(e.task_ready_s[t]))
                finish = start + estimate
            row[slot] = finish
            view.task_start_s[t], view.task_finish_s[t], view.task_slot[t] = start, finish, slot
            view.task_exec_s[t] = np.nan
            view._events.append((finish, seq[t], t))
        view.slot_free_s[s] = row
        view.server_free_s[s] = row.min()
        view.busy_work_s[s] = work


def _profile_work(
    engine: Simulator, workflows: Sequence[Workflow] | None
) -> tuple[tuple[Workflow, ...], np.ndarray, np.ndarray]:
    """The workflows, work and decode work (both (T_total,)) as the profile describes the engine's tasks.

    Raises:
        ValueError: ``workflows`` differ from the engine's in number, tasks or kinds.
    """
    if workflows is None:
        return engine.workflows, engine.task_work, engine.task_decode
    workflows = tuple(workflows)
    same = len(workflows) == len(engine.workflows) and all(
        p.num_tasks == w.num_tasks and np.array_equal(p.kinds, w.kinds) for p, w in zip(workflows, engine.workflows)
    )
    if not same:
        raise ValueError("profile_workflows must be the engine's workflows (same tasks and kinds)")
    return workflows, np.concatenate([w.work for w in workflows]), np.concatenate([w.decode_work for w in workflows])
