"""A time-indexed linear-programming lower bound on an episode's mean response time (docs/design.md, "Offered load
and lower bound").

The per-workflow bounds of :mod:`scale_rllib.sim.bounds` drop every other workflow, so they never see queueing: when
a burst of arrivals is more than the fastest servers can take, every schedule makes some tasks wait or run on slower
servers, and those bounds cannot tell. This bound keeps the servers' capacity, shared by all workflows, and drops
only what makes the problem hard (which slot, the order in a queue, indivisibility in time). It is the mean-busy-time
relaxation of scheduling unrelated machines (Schulz & Skutella, "Scheduling unrelated machines by randomized
rounding", SIAM J. Discrete Math. 15(4), 2002: ``C_j ≥ M_j + p_j / 2`` for a job processed without interruption)
with precedence, in intervals of ``interval_s`` seconds.

**The LP.** Servers with the same speeds, slots and serving role form a group g of ``n_g`` servers with ``slots_g``
slots each. e_tg = task t's execution time on group g (work / speed + decode / decode speed). Time is cut into
intervals I_τ = [b_τ, b_τ + Δ_τ): ``interval_s`` wide up to ``fine_until_s``, then one last interval up to
``horizon_s``. Variables per task: start S_t, finish C_t, and y_tgτ ≥ 0, the seconds t runs on group g within I_τ;
per workflow w (arrival a_w): T_w. Minimize Σ_w T_w subject to

1. Σ_gτ y_tgτ / e_tg = 1 (t is done once), and d_t := Σ_gτ y_tgτ (its duration), C_t = S_t + d_t;
2. Σ_gτ (y_tgτ / e_tg) b_τ ≤ S_t + d_t / 2 ≤ Σ_gτ (y_tgτ / e_tg)(b_τ + Δ_τ) (its mean busy time lies in the
   intervals where it runs);
3. S_c ≥ C_p for every edge p → c, S_t ≥ a_w + h_t (h_t: the longest path of fastest times before t), y_tgτ = 0
   where I_τ ends by then;
4. Σ_t y_tgτ ≤ n_g · slots_g · Δ_τ (capacity) and Σ_g y_tgτ ≤ Δ_τ (a task holds one slot at a time);
5. T_w ≥ C_t − a_w for every task t of w, and T_w ≥ the per-workflow bound of :mod:`~scale_rllib.sim.bounds`.

**Validity** (the LP's minimum / W ≤ every schedule's mean response time). Take an optimal schedule σ. Each of its
workflows completes by a_w + Σ_w' T_w'(σ) ≤ max_w a_w + Σ_w' T_w'(ρ) for any schedule ρ (e.g. EFT's), so all of σ
runs before ``horizon_s`` when it is at least that (checked by :func:`lp_lower_bound_s`'s caller; the benchmark
passes EFT's total). Map σ to the LP: a task that ran on a server of group g from s to c (c − s ≥ e_tg: interference,
transfers and batching only add time) gets S_t = c − e_tg, C_t = c and y_tgτ = |[S_t, C_t) ∩ I_τ|. Then (1) holds
with d_t = e_tg; (2) because the mean of the busy instants, S_t + d_t / 2, lies between the weighted interval starts
and ends; (3) since S_t ≥ the real start ≥ every parent's finish and ≥ a_w + h_t; (4) because a server's slots run
at most one task each and only the last e_tg of a task's real run is counted; (5) by definition, and the per-workflow
bound holds for σ. So σ gives a feasible point of the same objective, and the LP's minimum is at most OPT.

**Serving engines and elastic servers** (:class:`~scale_rllib.sim.serving.ServingSimulator`): an engine runs many
calls in one batch, so an LLM call on an engine group has no capacity row (only rule 4's one-slot-at-a-time row) and
its e_tg is its fastest time (alone on the fastest engine, context cached; batching only slows it); an elastic server
has no capacity row either. Everything else on those servers runs in slots as above.

Tasks shorter than :data:`MIN_TASK_S` on every group are relaxed to take no time (no y, C_t = S_t).

Size: tasks × groups × intervals variables (≈ 0.3 M at N = 16, ρ = 0.85, 0.5 s intervals); HiGHS solves it in
seconds to minutes on one core. For benchmarks, not for the training loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from scale_rllib.sim.simulator import Simulator, exec_times_s
from scale_rllib.sim.workflow import TaskKind

__all__ = ["MIN_TASK_S", "LPBound", "lp_lower_bound_s"]

#: Tasks shorter than this everywhere (seconds) are relaxed to take no time and no slot: dropping a constraint keeps
#: the bound valid, and it keeps the LP's coefficients (1 / e_tg) below 10³ (WorFBench tool nodes can be 10⁻¹¹ s).
MIN_TASK_S = 1e-3


@dataclass(frozen=True)
class LPBound:
    """What :func:`lp_lower_bound_s` solved.

    Attributes:
        mean_s: The bound on the episode's mean response time (seconds).
        per_workflow_s: Shape (W,). T_w of the LP's optimum (seconds); only their mean is a bound.
        variables: Columns of the LP.
    """

    mean_s: float
    per_workflow_s: np.ndarray
    variables: int


def _head_s(sim: Simulator) -> np.ndarray:
    """Shape (T_total,). Each task's arrival + longest path of fastest times before it (seconds)."""
    head = np.zeros(len(sim.task_work))
    for w, wf in enumerate(sim.workflows):
        o = int(sim.offset[w])
        for t in wf.topo_order:
            for c in wf.children[t]:
                head[o + c] = max(head[o + c], head[o + t] + sim.task_fastest_s[o + t])
        head[o : o + wf.num_tasks] += sim.arrival_s[w]
    return head


def _groups(sim: Simulator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(representative server, total slots, is engine or elastic) per group of interchangeable servers."""
    cl = sim.cluster
    elastic = getattr(sim, "elastic", np.zeros(cl.num_servers, dtype=bool))
    rows = np.column_stack([cl.speed, cl.decode_speed, cl.slots, cl.is_engine, elastic])
    _, rep, group = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    return rep, np.bincount(group.ravel(), weights=cl.slots, minlength=len(rep)), elastic[rep]


def _exec_s(sim: Simulator, rep: np.ndarray, elastic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(e, capped): shape (T_total, G) execution times (seconds), and whether each (task, group) uses slot capacity
    (not an LLM call on an engine, not an elastic server)."""
    cl, kind = sim.cluster, sim.task_kind
    e = exec_times_s(cl, rep, kind, sim.task_work, sim.task_decode).T
    on_engine = cl.is_engine[rep][None, :] & (kind == TaskKind.LLM)[:, None]
    e = np.where(on_engine, sim.task_fastest_s[:, None], e)
    return e, ~on_engine & ~elastic[None, :]


class _Rows:
    """A sparse constraint matrix built from blocks of (row, column, value) triples."""

    def __init__(self):
        self.r, self.c, self.v, self.b, self.n = [], [], [], [], 0

    def add(self, rows, cols, vals) -> None:
        self.r.append(np.asarray(rows, dtype=np.int64))
        self.c.append(np.asarray(cols, dtype=np.int64))
        self.v.append(np.broadcast_to(np.asarray(vals, dtype=np.float64), np.shape(rows)))

    def rhs(self, values) -> int:
        first = self.n
        self.b.extend(np.asarray(values, dtype=np.float64).tolist())
        self.n += len(values)
        return first

    def matrix(self, columns: int) -> sp.csr_matrix:
        return sp.csr_matrix((np.concatenate(self.v), (np.concatenate(self.r), np.concatenate(self.c))),
                             shape=(self.n, columns))  # fmt: skip


@dataclass(frozen=True)
class _Columns:
    """The LP's columns: T_w (W), S_t (T), C_t (T), then one y per (timed task, group, interval ending after the
    task's release); ``timed`` are the tasks of at least :data:`MIN_TASK_S` (the others are relaxed to take no time)
    and ``pos`` their rows (−1 for the others)."""

    num_w: int
    num_t: int
    timed: np.ndarray
    pos: np.ndarray
    y_task: np.ndarray
    y_group: np.ndarray
    y_int: np.ndarray
    y: np.ndarray  # the y columns' indices

    @classmethod
    def lay_out(cls, sim: Simulator, edges: np.ndarray, head: np.ndarray, e: np.ndarray) -> _Columns:
        num_t, num_g, num_i = len(sim.task_work), e.shape[1], len(edges) - 1
        timed = np.flatnonzero(e.min(axis=1) >= MIN_TASK_S)
        pos = np.full(num_t, -1)
        pos[timed] = np.arange(len(timed))
        first = np.searchsorted(edges[1:], head[timed], side="right")  # first interval ending after the release
        y_group = np.concatenate([np.repeat(np.arange(num_g), num_i - f) for f in first])
        y_int = np.concatenate([np.tile(np.arange(f, num_i), num_g) for f in first])
        y_task = np.repeat(timed, (num_i - first) * num_g)
        y = len(sim.workflows) + 2 * num_t + np.arange(len(y_task))
        return cls(len(sim.workflows), num_t, timed, pos, y_task, y_group, y_int, y)

    @property
    def start(self) -> int:
        return self.num_w

    @property
    def finish(self) -> int:
        return self.num_w + self.num_t

    @property
    def y0(self) -> int:
        return self.num_w + 2 * self.num_t

    @property
    def total(self) -> int:
        return self.y0 + len(self.y_task)


def _task_rows(eq: _Rows, ub: _Rows, col: _Columns, e: np.ndarray, edges: np.ndarray) -> None:
    """Rules (1) and (2) of the module docstring."""
    ey, y_row, tasks, timed = e[col.y_task, col.y_group], col.pos[col.y_task], np.arange(col.num_t), col.timed
    row = eq.rhs(np.ones(len(timed)))  # (1) done once
    eq.add(row + y_row, col.y, 1.0 / ey)
    row = eq.rhs(np.zeros(col.num_t))  # (1) C − S − d = 0
    eq.add(row + tasks, col.finish + tasks, 1.0)
    eq.add(row + tasks, col.start + tasks, -1.0)
    eq.add(row + col.y_task, col.y, -1.0)
    row = ub.rhs(np.zeros(len(timed)))  # (2) Σ (y/e) b − S − d/2 ≤ 0
    ub.add(row + y_row, col.y, edges[:-1][col.y_int] / ey - 0.5)
    ub.add(row + col.pos[timed], col.start + timed, -1.0)
    row = ub.rhs(np.zeros(len(timed)))  # (2) S + d/2 − Σ (y/e)(b + Δ) ≤ 0
    ub.add(row + y_row, col.y, 0.5 - edges[1:][col.y_int] / ey)
    ub.add(row + col.pos[timed], col.start + timed, 1.0)


def _graph_rows(ub: _Rows, col: _Columns, sim: Simulator) -> None:
    """Rules (3) (precedence; releases are the columns' lower bounds) and (5) of the module docstring."""
    pairs = np.array([(p, c) for c in range(col.num_t) for p in sim.parents[c]], dtype=np.int64).reshape(-1, 2)
    row = ub.rhs(np.zeros(len(pairs)))  # (3) C_p − S_c ≤ 0
    ub.add(row + np.arange(len(pairs)), col.finish + pairs[:, 0], 1.0)
    ub.add(row + np.arange(len(pairs)), col.start + pairs[:, 1], -1.0)
    tasks = np.arange(col.num_t)
    row = ub.rhs(sim.arrival_s[sim.task_workflow])  # (5) C_t − T_w ≤ a_w
    ub.add(row + tasks, col.finish + tasks, 1.0)
    ub.add(row + tasks, sim.task_workflow, -1.0)


def _capacity_rows(ub: _Rows, col: _Columns, capped: np.ndarray, group_slots: np.ndarray, width: np.ndarray) -> None:
    """Rule (4) of the module docstring: slot capacity of each group (where ``capped``), one slot per task."""
    num_i, use = len(width), capped[col.y_task, col.y_group]
    row = ub.rhs(np.outer(group_slots, width).ravel())
    ub.add(row + col.y_group[use] * num_i + col.y_int[use], col.y[use], 1.0)
    row = ub.rhs(np.tile(width, len(col.timed)))
    ub.add(row + col.pos[col.y_task] * num_i + col.y_int, col.y, 1.0)


def lp_lower_bound_s(sim: Simulator, *, interval_s: float, fine_until_s: float, horizon_s: float) -> LPBound:
    """The LP bound of the module docstring on ``sim``'s episode (a fresh simulator or a fork: only its workflows,
    arrivals and cluster are read).

    Args:
        sim: The episode: W workflows, T tasks, N servers.
        interval_s: Width Δ of the intervals up to ``fine_until_s`` (seconds); smaller is tighter and slower.
        fine_until_s: End of the fine intervals (seconds), e.g. a reference schedule's makespan.
        horizon_s: End of the last interval (seconds): at least the last arrival + a schedule's total response time
            (module docstring, "Validity"); below that the result may not be a bound.

    Returns:
        :class:`LPBound`; ``mean_s`` ≥ the mean per-workflow bound ``sim.lower_bound_s.mean()``.

    Raises:
        ValueError: ``interval_s`` ≤ 0, ``fine_until_s`` not after the first arrival, ``horizon_s`` before
            ``fine_until_s`` or before the last arrival.
        RuntimeError: the solver did not reach the optimum.
    """
    last_arrival = float(sim.arrival_s.max())
    if not interval_s > 0:
        raise ValueError(f"interval_s must be positive, got {interval_s!r}")
    if not fine_until_s > float(sim.arrival_s.min()):
        raise ValueError(f"fine_until_s must be after the first arrival, got {fine_until_s!r}")
    if not horizon_s >= max(fine_until_s, last_arrival):
        raise ValueError(f"horizon_s must be ≥ fine_until_s and the last arrival ({last_arrival:.3f} s)")
    edges = np.append(np.arange(0.0, fine_until_s, interval_s), horizon_s)
    rep, group_slots, elastic = _groups(sim)
    e, capped = _exec_s(sim, rep, elastic)
    head = _head_s(sim)
    col = _Columns.lay_out(sim, edges, head, e)
    eq, ub = _Rows(), _Rows()
    _task_rows(eq, ub, col, e, edges)
    _graph_rows(ub, col, sim)
    _capacity_rows(ub, col, capped, group_slots, np.diff(edges))
    low = np.concatenate([sim.lower_bound_s, head, head, np.zeros(len(col.y_task))])
    high = np.concatenate([np.full(col.y0, np.inf), np.diff(edges)[col.y_int]])
    cost = np.zeros(col.total)
    cost[: col.num_w] = 1.0
    res = linprog(cost, A_ub=ub.matrix(col.total), b_ub=ub.b, A_eq=eq.matrix(col.total), b_eq=eq.b,
                  bounds=np.column_stack([low, high]), method="highs")  # fmt: skip
    if res.status != 0:
        raise RuntimeError(f"LP bound: the solver stopped without the optimum: {res.message}")
    per_workflow = res.x[: col.num_w]
    return LPBound(float(per_workflow.mean()), per_workflow, col.total)
