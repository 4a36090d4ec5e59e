"""Finishing a simulator fork with EFT or PEFT in compiled code: the inner loop of the rollout heuristics.

A rollout decision (docs/design.md, "Heuristics") forks the simulator once per candidate server, gives the ready
task to the candidate and lets a base heuristic schedule every remaining task of the workflows in the system, with
no further arrivals. In Python that is one :meth:`~scale_rllib.sim.simulator.Simulator.assign` per remaining task
(≈ 10 µs each); here the same event loop runs in machine code (Numba, https://numba.readthedocs.io), on flat copies
of the simulator's state, for every candidate in one call.

It reproduces :class:`~scale_rllib.sim.simulator.Simulator` exactly: the same event order (completions by finish
time, then assignment order), the same ready order (ready time, then workflow — or, with ``ready_order="event"``,
the finishing server — then task), the same floating-point operations for start, execution and finish times, and
EFT's / PEFT's first-lowest-index tie break; ``tests/test_rollout.py`` checks the costs equal the Python fork's on
random instances.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from scale_rllib.sim.simulator import Simulator

EFT, PEFT = 0, 1  # base heuristics the compiled loop knows


class _Static:
    """A simulator's per-episode arrays in the kernel's layout, shared by its forks.

    Children and parents are CSR lists: the children of task t are ``child_idx[child_ptr[t]:child_ptr[t + 1]]``.
    The DAG part is built once per episode; the part that depends on the cluster's speeds and on the critical paths
    is rebuilt when a simulator (a snapshot with believed speeds, :mod:`scale_rllib.sim.knowledge`) has other ones.
    """

    def __init__(self, sim: Simulator) -> None:
        self.graph = (*_csr(sim.children), *_csr(sim.parents))
        self._key: tuple = ()
        self.arrays: tuple = ()
        self.bandwidth = 0.0 if sim.cluster.bandwidth is None else float(sim.cluster.bandwidth)

    def for_sim(self, sim: Simulator) -> tuple:
        """The kernel's array tuple for ``sim``'s cluster and critical paths."""
        key = (sim.cluster, sim.task_critical_path_s, sim.task_fastest_s, sim.interference)
        if len(self._key) != len(key) or any(a is not b for a, b in zip(key, self._key)):
            speed = sim.cluster.speed
            downstream_s = sim.task_critical_path_s - sim.task_fastest_s  # PEFT's remaining path after the task
            server_type = np.unique(speed, axis=0, return_inverse=True)[1].ravel().astype(np.int64)  # (N,)
            self.arrays = (
                *self.graph, sim.offset, sim.task_workflow, sim.task_kind, sim.task_work, sim.task_decode,
                sim.task_output, downstream_s, sim.cluster.inv_speed, sim.cluster.inv_decode_speed, speed,
                speed.max(axis=0), server_type,
                np.ones(len(speed)) if sim.interference is None else sim.interference,
            )  # fmt: skip
            self._key = key
        return self.arrays


def _csr(lists: Sequence[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(lists) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(x) for x in lists])
    idx = np.fromiter((i for x in lists for i in x), dtype=np.int64, count=int(ptr[-1]))
    return ptr, idx


def _static(sim: Simulator) -> tuple[tuple, float]:
    """The kernel's array tuple and bandwidth for ``sim`` (the DAG part cached on the simulator; forks share it)."""
    static = sim.__dict__.get("_fast_finish_static")
    if static is None:
        static = sim._fast_finish_static = _Static(sim)
    return static.for_sim(sim), static.bandwidth


def rollout_completions_s(sim: Simulator, candidates: int, base: int) -> tuple[np.ndarray, np.ndarray]:
    """The rollout heuristics' candidates and, for each, the completion times of the workflows in the system after
    giving the current ready task to the candidate and every later task of those workflows to ``base``
    (:data:`EFT` or :data:`PEFT`), with no further arrivals.

    Candidates are up to ``candidates`` servers in increasing EFT order for the ready task, one per group of
    interchangeable servers (equal EFT, speeds and slot-free times), as
    :func:`scale_rllib.schedulers.rollout.candidate_servers` picks them.

    Args:
        sim: A simulator with a ready task (``sim.task`` ≥ 0); not changed.
        candidates: The most servers to try, ≥ 1.
        base: :data:`EFT` or :data:`PEFT`.

    Returns:
        ``servers`` (C,) and ``completions_s`` (C, M): completion times (seconds, absolute) of the M workflows in the
        system, in increasing index order, in each candidate's fork. With a single candidate there is nothing to
        compare and no fork is run: ``completions_s`` has 0 rows.

    Raises:
        ValueError: no ready task, ``candidates`` < 1, or an unknown ``base``.
    """
    if sim.task < 0:
        raise ValueError("no ready task: call next_decision() first")
    if candidates < 1:
        raise ValueError(f"candidates must be ≥ 1, got {candidates}")
    if base not in (EFT, PEFT):
        raise ValueError(f"base must be EFT ({EFT}) or PEFT ({PEFT}), got {base!r}")
    arrays, bandwidth = _static(sim)
    state = (
        sim.slot_free_s, sim.server_free_s, _heap_array(sim._events), _heap_array(sim._ready), sim._waiting_parents,
        sim.remaining_tasks, sim.task_server, sim.task_finish_s, sim.completion_s,
    )  # fmt: skip
    scalars = (float(sim.now_s), sim._seq, sim.task, sim._next_arrival, bandwidth, sim._order_by_event)
    return _rollouts(arrays, state, scalars, candidates, base)


def _heap_array(heap: list[tuple]) -> np.ndarray:
    """A heap of 3-tuples as a (len, 3) float64 array (same order, so still a heap)."""
    return np.array(heap, dtype=np.float64).reshape(-1, 3)


@numba.njit(cache=True)
def _rollouts(arrays, state, scalars, candidates, base):
    """Candidates and their forks' completion times (:func:`rollout_completions_s`)."""
    offset, completion = arrays[4], state[8]
    w_hi = scalars[3]
    w_lo = 0  # the workflows in the system are in [w_lo, w_hi): earlier ones have completed
    while w_lo < w_hi and not np.isnan(completion[w_lo]):
        w_lo += 1
    in_system = np.array([w for w in range(w_lo, w_hi) if np.isnan(completion[w])], dtype=np.int64)
    servers = _candidates(arrays, state, scalars, offset[w_lo], candidates)
    out = np.empty((servers.size if servers.size > 1 else 0, in_system.size))
    for ci in range(out.shape[0]):
        _fork(arrays, state, scalars, w_lo, servers[ci], base, in_system, out[ci])
    return servers, out


@numba.njit(cache=True)
def _candidates(arrays, state, scalars, t_lo, k):
    """Up to k servers by increasing EFT of the ready task, one per (EFT, speed row, slot-free row) group."""
    server_type, slot_free, server_free = arrays[15], state[0], state[1]
    now, task, bandwidth = scalars[0], scalars[2], scalars[4]
    eft = np.empty(server_free.size)
    _scores(arrays, state[6][t_lo:], state[7][t_lo:], t_lo, task, now, slot_free, server_free, bandwidth, EFT, eft)
    chosen = np.empty(k, dtype=np.int64)
    count = 0
    for s in np.argsort(eft, kind="mergesort"):
        same = False
        for j in range(count):
            c = chosen[j]
            if eft[c] == eft[s] and server_type[c] == server_type[s] and np.all(slot_free[c] == slot_free[s]):
                same = True
                break
        if not same:
            chosen[count] = s
            count += 1
            if count == k:
                break
    return chosen[:count]


@numba.njit(cache=True, inline="always")
def _scores(arrays, task_server, task_finish, t_lo, t, now, slot_free, server_free, bandwidth, base, out):
    """EFT (or PEFT's score) of task t on every server, into ``out`` (N,); per-task state from t_lo on."""
    task_kind, task_work, task_decode, interference = arrays[6], arrays[7], arrays[8], arrays[16]
    downstream_s, inv_speed, inv_decode, speed, max_speed = arrays[10], arrays[11], arrays[12], arrays[13], arrays[14]
    k = task_kind[t]
    work, decode, downstream = task_work[t], task_decode[t], downstream_s[t] * max_speed[k]
    for srv in range(out.size):
        data_s = now
        if bandwidth > 0.0:
            data_s = _data_ready_s(arrays, task_server, task_finish, t_lo, t, srv, now, bandwidth)
        exec_s = work * inv_speed[srv, k]  # Simulator.exec_times_s
        if decode != 0.0:
            exec_s += decode * inv_decode[srv, k]
        start = max(server_free[srv], data_s)
        if interference[srv] != 1.0 and _co_located(slot_free[srv], -1, start):
            exec_s = exec_s * interference[srv]
        score = start + exec_s
        if base == PEFT:  # PEFTScheduler.select
            score = score + downstream / speed[srv, k]
        out[srv] = score


@numba.njit(cache=True, inline="always")
def _co_located(row, own_slot, start):
    """Whether a slot of ``row`` other than ``own_slot`` is still busy at ``start`` (Simulator's interference)."""
    for j in range(row.size):
        if j != own_slot and start < row[j] < np.inf:
            return True
    return False


@numba.njit(cache=True, inline="always")
def _data_ready_s(arrays, task_server, task_finish, t_lo, t, server, now, bandwidth):
    """When task t's inputs are on ``server`` (Simulator.data_ready_s, one server); per-task state from t_lo on."""
    parent_ptr, parent_idx, task_output = arrays[2], arrays[3], arrays[9]
    ready = now
    for j in range(parent_ptr[t], parent_ptr[t + 1]):
        p = parent_idx[j]
        local = p - t_lo
        arrive = task_finish[local] if task_server[local] == server else task_finish[local] + task_output[p] / bandwidth
        ready = max(ready, arrive)
    return ready


@numba.njit(cache=True)
def _fork(arrays, state, scalars, w_lo, server, base, in_system, out):
    """Give the ready task to ``server``, finish the in-system workflows with ``base``; their completions → out."""
    slot_free0, server_free0, events0, ready0, waiting0, remaining0, task_server0, task_finish0, completion0 = state
    now, seq, t, w_hi, bandwidth, order_by_event = scalars
    t_lo, t_hi = arrays[4][w_lo], arrays[4][w_hi]
    # copies of the mutable state: per-task arrays from t_lo and per-workflow arrays from w_lo only
    fork = (
        slot_free0.copy(), server_free0.copy(), waiting0[t_lo:t_hi].copy(), task_server0[t_lo:t_hi].copy(),
        task_finish0[t_lo:t_hi].copy(), remaining0[w_lo:w_hi].copy(), completion0[w_lo:w_hi].copy(),
    )  # fmt: skip
    pending = fork[5].sum() + 1  # bounds the pushes onto either heap
    events, ready = np.empty((events0.shape[0] + pending, 3)), np.empty((ready0.shape[0] + pending, 3))
    events[: events0.shape[0]], ready[: ready0.shape[0]] = events0, ready0
    n_ev, n_rd = events0.shape[0], ready0.shape[0]
    scores = np.empty(server_free0.size)
    s = server
    while True:
        n_ev = _assign(arrays, fork, events, n_ev, t_lo, t, s, now, seq, bandwidth)
        seq += 1
        now, n_ev, n_rd = _next_ready(arrays, fork, events, n_ev, ready, n_rd, t_lo, w_lo, now, order_by_event,
                                      completion0.size)  # fmt: skip
        if n_rd == 0:
            break
        t = int(ready[0, 2])
        n_rd = _pop(ready, n_rd)
        _scores(arrays, fork[3], fork[4], t_lo, t, now, fork[0], fork[1], bandwidth, base, scores)
        s = int(np.argmin(scores))
    for m in range(in_system.size):
        out[m] = fork[6][in_system[m] - w_lo]


@numba.njit(cache=True, inline="always")
def _assign(arrays, fork, events, n_ev, t_lo, t, s, now, seq, bandwidth):
    """Simulator.assign(s) for task t in the fork; returns the new size of the completion heap."""
    task_kind, task_work, task_decode, inv_speed, inv_decode = arrays[6], arrays[7], arrays[8], arrays[11], arrays[12]
    slot_free, server_free, task_server, task_finish = fork[0], fork[1], fork[3], fork[4]
    data_s = now
    if bandwidth > 0.0:
        data_s = _data_ready_s(arrays, task_server, task_finish, t_lo, t, s, now, bandwidth)
    slot = 0
    for j in range(1, slot_free.shape[1]):
        if slot_free[s, j] < slot_free[s, slot]:
            slot = j
    k = task_kind[t]
    exec_s = task_work[t] * inv_speed[s, k]
    if task_decode[t] != 0.0:
        exec_s += task_decode[t] * inv_decode[s, k]
    start = max(data_s, slot_free[s, slot])
    if arrays[16][s] != 1.0 and _co_located(slot_free[s], slot, start):
        exec_s *= arrays[16][s]
    finish = start + exec_s
    slot_free[s, slot] = finish
    server_free[s] = slot_free[s].min()
    task_server[t - t_lo], task_finish[t - t_lo] = s, finish
    return _push(events, n_ev, finish, seq, t)


@numba.njit(cache=True, inline="always")
def _next_ready(arrays, fork, events, n_ev, ready, n_rd, t_lo, w_lo, now, order_by_event, num_workflows):
    """Simulator.next_decision without arrivals: every completion at the earliest time until a task is ready.

    Returns the new time and the new sizes of the completion and ready heaps.
    """
    child_ptr, child_idx, task_workflow = arrays[0], arrays[1], arrays[5]
    waiting, task_server, remaining, completion = fork[2], fork[3], fork[5], fork[6]
    while n_rd == 0 and n_ev > 0:
        now = events[0, 0]
        while n_ev > 0 and events[0, 0] == now:
            done = int(events[0, 2])
            n_ev = _pop(events, n_ev)
            wf = task_workflow[done]
            key = num_workflows + task_server[done - t_lo] if order_by_event else wf
            for j in range(child_ptr[done], child_ptr[done + 1]):
                child = child_idx[j]
                waiting[child - t_lo] -= 1
                if waiting[child - t_lo] == 0:
                    n_rd = _push(ready, n_rd, now, key, child)
            remaining[wf - w_lo] -= 1
            if remaining[wf - w_lo] == 0:
                completion[wf - w_lo] = now
    return now, n_ev, n_rd


@numba.njit(cache=True, inline="always")
def _less(a0, a1, a2, b0, b1, b2):
    """Lexicographic order of two heap entries, as Python compares tuples."""
    if a0 != b0:
        return a0 < b0
    if a1 != b1:
        return a1 < b1
    return a2 < b2


@numba.njit(cache=True, inline="always")
def _push(h, n, x0, x1, x2):
    """Push (x0, x1, x2) onto the binary heap in the first n rows of ``h`` (capacity, 3); returns n + 1."""
    i = n
    while i > 0:
        p = (i - 1) // 2
        if not _less(x0, x1, x2, h[p, 0], h[p, 1], h[p, 2]):
            break
        h[i, 0], h[i, 1], h[i, 2] = h[p, 0], h[p, 1], h[p, 2]
        i = p
    h[i, 0], h[i, 1], h[i, 2] = x0, x1, x2
    return n + 1


@numba.njit(cache=True, inline="always")
def _pop(h, n):
    """Remove the smallest entry (read it from ``h[0]`` first) of the heap in the first n rows; returns n − 1."""
    n -= 1
    x0, x1, x2 = h[n, 0], h[n, 1], h[n, 2]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and _less(h[child + 1, 0], h[child + 1, 1], h[child + 1, 2], h[child, 0], h[child, 1],
                                   h[child, 2]):  # fmt: skip
            child += 1
        if not _less(h[child, 0], h[child, 1], h[child, 2], x0, x1, x2):
            break
        h[i, 0], h[i, 1], h[i, 2] = h[child, 0], h[child, 1], h[child, 2]
        i = child
    h[i, 0], h[i, 1], h[i, 2] = x0, x1, x2
    return n
