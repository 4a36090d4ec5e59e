"""Discrete-event simulator of workflows arriving online at a heterogeneous cluster (docs/design.md, "Simulator").

The simulator knows nothing about RL: it exposes one *ready task* at a time and waits for a
server index (:meth:`Simulator.assign`). Servers are non-preemptive with ``slots`` concurrent
tasks and a FIFO queue. Because execution times are known at assignment, a task's start and
finish are fixed when it is assigned (start = max(data ready, earliest free slot)), so each
server's queue is summarised by the times its slots become free.

Event order: arrivals (known in advance, non-decreasing) are read in order and task completions are popped from a
heap of ``(time_s, seq, task)``; all events at the earliest time are processed before any decision (arrivals
first, by workflow index, then completions in assignment order), then ready tasks are served
earliest-ready first, ties by workflow index then task index. With ``ready_order="event"`` (the DWS-Testbed's
order, docs/dws-benchmark.md), ties are instead broken by the event that made the task ready: an arrival (by workflow
index) before a completion, completions by server index, then task index within one event.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Sequence

import numpy as np

from scale_rllib.sim.bounds import critical_paths_s, lower_bounds_s
from scale_rllib.sim.cluster import Cluster
from scale_rllib.sim.workflow import Workflow


class Simulator:
    """One episode: a fixed cluster and a fixed stream of workflows.

    Args:
        cluster: The N servers.
        workflows: W workflows, in arrival order.
        arrival_times_s: Shape (W,). Non-decreasing arrival times (seconds).
        ready_order: How ready tasks of equal ready time are ordered: ``"ready-time"`` (default: by workflow,
            then task index) or ``"event"`` (by the event that readied them: arrivals first, then completions
            in server-index order, then task index — the DWS-Testbed's dispatch order).
        interference: Shape (N,), each ≥ 1, or None. A task that starts while another task runs on its server (a
            co-located task: another slot busy at its start) takes this factor × longer on that server — contention
            for memory bandwidth and caches (Delimitrou & Kozyrakis, "Paragon", ASPLOS 2013). None: no interference.

    Raises:
        ValueError: lengths differ, arrival times are negative, non-finite or decreasing, ``ready_order`` is
            unknown, or ``interference`` is not N factors ≥ 1.

    Usage::

        sim = Simulator(cluster, workflows, arrivals)
        while sim.next_decision():
            sim.assign(int(np.argmin(sim.earliest_finish_times())))
        sim.response_times_s()
    """

    def __init__(
        self,
        cluster: Cluster,
        workflows: Sequence[Workflow],
        arrival_times_s: Sequence[float],
        *,
        ready_order: str = "ready-time",
        interference: np.ndarray | None = None,
    ):
        if ready_order not in ("ready-time", "event"):
            raise ValueError(f"ready_order must be 'ready-time' or 'event', got {ready_order!r}")
        if interference is not None:
            interference = np.asarray(interference, dtype=np.float64)
            if interference.shape != (cluster.num_servers,) or not np.all(interference >= 1):
                raise ValueError(f"interference must be {cluster.num_servers} factors ≥ 1, got {interference}")
        self.interference = interference
        self.ready_order = ready_order
        self._order_by_event = ready_order == "event"
        arrivals = np.asarray(arrival_times_s, dtype=np.float64)
        if len(workflows) != len(arrivals) or not len(workflows):
            raise ValueError(f"need one arrival time per workflow (≥ 1), got {len(workflows)} and {len(arrivals)}")
        if not np.all(np.isfinite(arrivals)) or arrivals.min() < 0 or np.any(np.diff(arrivals) < 0):
            raise ValueError("arrival times must be finite, ≥ 0 and non-decreasing")
        self.cluster = cluster
        self.workflows = tuple(workflows)
        self.arrival_s = arrivals
        self._build_task_arrays()
        self.now_s = 0.0
        n, max_slots = cluster.num_servers, int(cluster.slots.max())
        slot_free = np.zeros((n, max_slots))
        slot_free[np.arange(max_slots)[None, :] >= cluster.slots[:, None]] = np.inf
        self.slot_free_s = slot_free  # (N, S_max); +inf marks a slot the server does not have
        self.server_free_s = np.zeros(n)  # (N,) earliest time a slot frees: the server's queue summary
        self.busy_work_s = np.zeros(n)  # (N,) total execution time assigned to each server (seconds)
        self.outstanding = np.zeros(n, dtype=np.int64)  # (N,) tasks assigned to each server and not finished
        self.exec_log_sd: np.ndarray | None = None  # (N, K) a performance model's uncertainty (None: known exactly)
        self.colocation_log_factor: np.ndarray | None = None  # (N,) believed log slowdown of a co-located start
        self.completion_s = np.full(len(workflows), np.nan)
        self.in_system = 0
        self.area_s = 0.0  # ∫ (workflows in system) dt up to now: Σ response times at the end
        self._area_time_s = 0.0
        self._arrivals = arrivals.tolist()  # (W,) arrival times as floats, read in order
        self._next_arrival = 0  # the first workflow that has not arrived
        self._arrivals_end = len(workflows)  # arrivals from this index on are dropped (a fork without the future)
        self._events: list[tuple[float, int, int]] = []  # heap of task completions: (finish time, seq, task)
        self._seq = len(workflows)
        self._ready: list[tuple[float, int, int]] = []  # (ready time, workflow, global task)
        self.task: int = -1  # global index of the ready task awaiting a decision, -1 if none
        self.decisions = 0

    def _build_task_arrays(self) -> None:
        wfs = self.workflows
        sizes = [w.num_tasks for w in wfs]
        self.offset = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.task_workflow = np.repeat(np.arange(len(wfs)), sizes)
        self.task_kind = np.concatenate([w.kinds for w in wfs])
        self.task_work = np.concatenate([w.work for w in wfs])
        self.task_output = np.concatenate([w.output_size for w in wfs])
        self.children = [
            tuple(int(c) + int(o) for c in w.children[t]) for w, o in zip(wfs, self.offset) for t in range(w.num_tasks)
        ]
        self.parents = [
            tuple(int(p) + int(o) for p in w.parents[t]) for w, o in zip(wfs, self.offset) for t in range(w.num_tasks)
        ]
        self._waiting_parents = np.array([len(p) for p in self.parents], dtype=np.int64)  # (T_total,)
        self.remaining_tasks = np.array(sizes, dtype=np.int64)  # (W,) per workflow: tasks not yet finished
        self.task_decode = np.concatenate([w.decode_work for w in wfs])  # (T_total,) decode work (0: none)
        self.task_fastest_s = self._fastest_exec_s()
        cps = critical_paths_s(wfs, self.task_fastest_s, self.offset)
        self.task_critical_path_s = np.concatenate(cps)  # remaining critical path incl. the task, fastest servers
        # (W,) each workflow's critical path, and its lower bound = max(critical path, capacity bounds) (sim.bounds)
        self.critical_path_s, self.lower_bound_s = self._lower_bounds_s(cps)
        self.task_server = np.full(len(self.task_work), -1, dtype=np.int64)
        self.task_finish_s = np.full(len(self.task_work), np.nan)
        self.task_start_s = np.full(len(self.task_work), np.nan)  # (T_total,) when each assigned task starts
        self.task_ready_s = np.full(len(self.task_work), np.nan)  # (T_total,) when its inputs are on its server
        self.task_exec_s = np.full(len(self.task_work), np.nan)  # (T_total,) its execution time on its server
        self.task_slot = np.full(len(self.task_work), -1, dtype=np.int64)  # (T_total,) the slot it runs in
        self.finished: list[int] = []  # tasks in completion order since construction (or fork): what a scheduler sees

    def _fastest_exec_s(self) -> np.ndarray:
        """Shape (T_total,). Each task's fastest execution time (seconds): :func:`fastest_exec_s`."""
        return fastest_exec_s(self.cluster, self.task_kind, self.task_work, self.task_decode)

    def _lower_bounds_s(self, critical: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(critical path, lower bound) per workflow, (W,) each: :func:`~scale_rllib.sim.bounds.lower_bounds_s`."""
        return lower_bounds_s(self.workflows, self.cluster, self.task_fastest_s, critical)

    # ------------------------------------------------------------------ events
    def _advance_area(self, time_s: float) -> None:
        self.area_s += self.in_system * (time_s - self._area_time_s)
        self._area_time_s = time_s

    def _on_arrival(self, wf: int) -> None:
        self.in_system += 1
        o = int(self.offset[wf])
        for t in self.workflows[wf].entries:
            heapq.heappush(self._ready, (self.now_s, wf, o + t))

    def _on_finish(self, task: int) -> None:
        self.finished.append(task)
        self.outstanding[self.task_server[task]] -= 1
        wf = int(self.task_workflow[task])
        # tie key among tasks ready at the same time: the workflow, or (event order) after every arrival, by server
        key = len(self.workflows) + int(self.task_server[task]) if self._order_by_event else wf
        for c in self.children[task]:
            self._waiting_parents[c] -= 1
            if self._waiting_parents[c] == 0:
                heapq.heappush(self._ready, (self.now_s, key, c))
        self.remaining_tasks[wf] -= 1
        if self.remaining_tasks[wf] == 0:
            self.completion_s[wf] = self.now_s
            self.in_system -= 1

    def _next_event_s(self) -> float:
        """Time of the earliest pending event (seconds); +inf when none is left."""
        arrival = self._arrivals[self._next_arrival] if self._next_arrival < self._arrivals_end else np.inf
        return min(arrival, self._events[0][0]) if self._events else arrival

    def _pop_events(self) -> None:
        """Process every event at the earliest pending time: its arrivals, then its completions."""
        self._pop_events_at(self._next_event_s())

    def _pop_events_at(self, time_s: float) -> None:
        """Process every event at ``time_s``, the earliest pending time."""
        self.now_s = time_s
        self._advance_area(time_s)
        while self._next_arrival < self._arrivals_end and self._arrivals[self._next_arrival] == time_s:
            self._next_arrival += 1
            self._on_arrival(self._next_arrival - 1)
        while self._events and self._events[0][0] == time_s:
            self._on_finish(heapq.heappop(self._events)[2])

    @property
    def _has_events(self) -> bool:
        return bool(self._events) or self._next_arrival < self._arrivals_end

    # --------------------------------------------------------------- decisions
    def next_decision(self) -> bool:
        """Advance to the next ready task (``self.task``); False when every workflow has completed."""
        if self.task >= 0:
            raise RuntimeError("the current ready task has not been assigned yet")
        while not self._ready:
            if not self._has_events:
                return False
            self._pop_events()
        self.task = heapq.heappop(self._ready)[2]
        return True

    @property
    def done(self) -> bool:
        """True once every workflow has completed."""
        return not self._has_events and not self._ready and self.task < 0

    @property
    def num_ready(self) -> int:
        """Ready tasks waiting behind the current one."""
        return len(self._ready)

    def can_run(self) -> np.ndarray:
        """Shape (N,), bool. The servers that can run the current ready task's kind (:meth:`Cluster.serves`)."""
        return self.cluster.serves(self.task_kind[self.task])

    def exec_times_s(self) -> np.ndarray:
        """Shape (N,). Execution time of the current ready task on each server (seconds).

        work / speed[s, kind] + decode_work / decode_speed[s, kind] (the second term only for tasks with decode work),
        × the server's interference factor if another task would still run there when this one starts.
        """
        t = self.task
        kind = self.task_kind[t]
        exec_s = self.task_work[t] * self.cluster.inv_speed[:, kind]
        decode = self.task_decode[t]
        if decode:
            exec_s += decode * self.cluster.inv_decode_speed[:, kind]
        if self.interference is not None:
            exec_s = exec_s * np.where(self.co_located(self.start_times_s()), self.interference, 1.0)
        return exec_s

    def co_located(self, start_s: np.ndarray) -> np.ndarray:
        """Shape (N,) bool. Whether the current task, started at ``start_s`` (N,) (seconds) on each server, would run
        beside another task there: another slot of that server is still busy then (what ``interference`` slows)."""
        return ((self.slot_free_s > start_s[:, None]) & np.isfinite(self.slot_free_s)).any(axis=1)

    def colocation_charges(self, start_s: np.ndarray) -> np.ndarray:
        """Shape (N,). The believed slowdown of the current task started at ``start_s`` (N,) (seconds) on each server:
        exp(``colocation_log_factor``) where it would run beside another task, else 1 (everywhere 1 without that
        belief: oracle knowledge)."""
        if self.colocation_log_factor is None:
            return np.ones(self.cluster.num_servers)
        return np.exp(np.where(self.co_located(start_s), self.colocation_log_factor, 0.0))

    def data_ready_s(self) -> np.ndarray | float:
        """When the current task's inputs are on each server: shape (N,), or ``now`` without transfers."""
        if self.cluster.bandwidth is None or not self.parents[self.task]:
            return self.now_s
        ready = np.full(self.cluster.num_servers, self.now_s)
        for p in self.parents[self.task]:
            arrive = np.full_like(ready, self.task_finish_s[p] + self.task_output[p] / self.cluster.bandwidth)
            arrive[self.task_server[p]] = self.task_finish_s[p]
            np.maximum(ready, arrive, out=ready)
        return ready

    def start_times_s(self) -> np.ndarray:
        """Shape (N,). When the current task would start on each server (FIFO, earliest slot)."""
        return np.maximum(self.server_free_s, self.data_ready_s())

    def earliest_finish_times_s(self) -> np.ndarray:
        """Shape (N,). EFT of the current task on each server (seconds, absolute)."""
        return self.start_times_s() + self.exec_times_s()

    def assign(self, server: int) -> float:
        """Give the current ready task to ``server``; returns its finish time (seconds).

        Raises:
            ValueError: ``server`` is not an index in [0, N).
            RuntimeError: there is no ready task (call :meth:`next_decision` first).
        """
        t = self.task
        if t < 0:
            raise RuntimeError("no ready task: call next_decision() first")
        if not 0 <= server < self.cluster.num_servers:
            raise ValueError(f"server index {server!r} out of range [0, {self.cluster.num_servers})")
        ready = self.data_ready_s()
        ready = ready if isinstance(ready, float) else float(ready[server])
        row = self.slot_free_s[server]
        slot = int(row.argmin())
        exec_s = exec_time_s(self.cluster, self.task_work[t], self.task_decode[t], self.task_kind[t], server)
        start = max(ready, float(row[slot]))
        if self.interference is not None and any(f > start for j, f in enumerate(row) if j != slot and f < np.inf):
            exec_s *= float(self.interference[server])
        finish = start + exec_s
        self.task_start_s[t], self.task_ready_s[t], self.task_exec_s[t], self.task_slot[t] = start, ready, exec_s, slot
        row[slot] = finish
        self.server_free_s[server] = row.min()
        self.busy_work_s[server] += exec_s
        self.outstanding[server] += 1
        self.task_server[t] = server
        self.task_finish_s[t] = finish
        heapq.heappush(self._events, (finish, self._seq, t))
        self._seq += 1
        self.task = -1
        self.decisions += 1
        return finish

    def run_to_completion(self) -> None:
        """Process the remaining events once no decision is pending (the episode's tail)."""
        if self.task >= 0 or self._ready:
            raise RuntimeError("ready tasks are still waiting for a decision")
        while self._has_events:
            self._pop_events()

    def fork(self, *, future_arrivals: bool = True, known_arrivals: int = 0) -> Simulator:
        """An independent copy of the episode's current state, for lookahead (rollouts).

        Immutable per-episode data (workflows, task arrays, children/parents) is shared; every piece of mutable
        state is copied, so deciding in the fork never changes ``self``.

        Args:
            future_arrivals: False drops the workflows that have not arrived yet: the fork then ends when the
                workflows in the system complete.
            known_arrivals: With ``future_arrivals`` False, the next ``known_arrivals`` workflows still arrive in
                the fork (a window of the future a clairvoyant rollout may see), ≥ 0.

        Raises:
            ValueError: ``known_arrivals`` < 0.
        """
        if known_arrivals < 0:
            raise ValueError(f"known_arrivals must be ≥ 0, got {known_arrivals}")
        fork = copy.copy(self)
        fork.finished = []  # a fork's own completions
        for name in ("slot_free_s", "server_free_s", "busy_work_s", "completion_s", "task_server", "task_finish_s",
                     "task_start_s", "task_ready_s", "task_exec_s", "task_slot", "outstanding"):  # fmt: skip
            setattr(fork, name, getattr(self, name).copy())
        fork._events = list(self._events)
        if not future_arrivals:
            fork._arrivals_end = self._window_end(known_arrivals)
        fork._ready = list(self._ready)
        fork._waiting_parents = self._waiting_parents.copy()
        fork.remaining_tasks = self.remaining_tasks.copy()
        return fork

    def in_system_workflows(self) -> np.ndarray:
        """Shape (M,). Indices of the workflows that have arrived and not completed, increasing: what a rollout
        without future arrivals finishes."""
        return np.flatnonzero((self.arrival_s <= self.now_s) & np.isnan(self.completion_s))

    def next_arrivals(self, count: int) -> np.ndarray:
        """Shape (≤ count,). Indices of the next ``count`` workflows to arrive (workflows are indexed in arrival
        order), fewer near the episode's end: what a fork with ``known_arrivals=count`` also finishes."""
        return np.arange(self._next_arrival, self._window_end(count))

    def _window_end(self, count: int) -> int:
        """Index past the next ``count`` arrivals, no further than the arrivals this simulator has."""
        return min(self._next_arrival + count, self._arrivals_end)

    # ----------------------------------------------------------------- results
    def response_times_s(self) -> np.ndarray:
        """Shape (W,). Completion − arrival per workflow (seconds); NaN while incomplete."""
        return self.completion_s - self.arrival_s


def exec_time_s(cluster: Cluster, work: float, decode: float, kind: int, server: int) -> float:
    """Execution time (seconds) of a task of ``kind`` with ``work`` (and ``decode`` work) on ``server`` of
    ``cluster``: work / speed + decode / decode speed (:meth:`Simulator.exec_times_s` for every server at once)."""
    exec_s = float(work * cluster.inv_speed[server, kind])
    if decode:
        exec_s += float(decode * cluster.inv_decode_speed[server, kind])
    return exec_s


def fastest_exec_s(cluster: Cluster, kind: np.ndarray, work: np.ndarray, decode: np.ndarray) -> np.ndarray:
    """Shape (T,). Each task's execution time on its fastest server (seconds).

    min over servers of work / speed[s, kind] + decode / decode_speed[s, kind]; with no decode work this is
    ``work / max_s speed[s, kind]``.
    """
    if not decode.any():
        return work / cluster.speed.max(axis=0)[kind]
    types = np.unique(np.column_stack([cluster.inv_speed, cluster.inv_decode_speed]), axis=0, return_index=True)[1]
    return exec_times_s(cluster, types, kind, work, decode).min(axis=0)


def exec_times_s(
    cluster: Cluster, servers: np.ndarray, kind: np.ndarray, work: np.ndarray, decode: np.ndarray
) -> np.ndarray:
    """Shape (S, T). Execution time (seconds) of each of T tasks on each of ``servers`` (S indices): work /
    speed[s, kind] + decode / decode_speed[s, kind], as :func:`exec_time_s` for one pair."""
    return work * cluster.inv_speed[servers][:, kind] + decode * cluster.inv_decode_speed[servers][:, kind]
