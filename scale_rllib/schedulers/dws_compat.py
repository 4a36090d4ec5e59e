"""The DWS peer's heuristics as compatibility schedulers: ``dws-est``, ``dws-heft``, ``dws-peft``
(docs/dws-benchmark.md).

DWS-Testbed ranks VM k by ``L_k``, the finish time of the last task given to k (0 if none), **not clamped to now**:
a VM idle since long ago looks better than one that just became free, however slow it is. The task still starts at
max(now, L_k) — the simulator does that. Priorities (the testbed's ``cloud_simulator.EST/HEFT/PEFT`` and the
``tie_breaking`` field of its reference ``summary.json``), w = the task's work, v_k = VM k's speed (vCPU) for its kind:

- ``dws-est``: L_k (ignores speed);
- ``dws-heft``: L_k + w/v_k;
- ``dws-peft``: L_k + w/v_k + SP/v_k, where SP = the smallest total work along any path from the task's children to
  an exit task (0 for an exit task).

Ties: the testbed takes ``np.random.choice`` among the VMs whose priority is exactly (``==``) the minimum, with numpy's
legacy global RNG seeded by ``env_seed`` (0 for the reference runs) at reset, called at every decision.
``tie_break="testbed"`` (the default) does the same with ``numpy.random.RandomState(seed)`` (a stream numpy keeps
stable), so ``reset(0)`` replays the reference runs decision for decision; ``tie_break="lowest"`` takes the lowest
index instead (deterministic, seed-independent). Our own ``est`` / ``eft`` / ``peft`` use max(now, L_k) and are
unchanged. For servers with several slots, L_k is the time k's earliest slot frees.
"""

from __future__ import annotations

import functools

import numpy as np

from scale_rllib.schedulers.base import Scheduler
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import Workflow

TIE_BREAKS = ("testbed", "lowest")


@functools.lru_cache(maxsize=256)
def min_work_to_exit(workflow: Workflow) -> np.ndarray:
    """Shape (T,). SP_t = min over paths from a child of t to an exit task of the path's total work (work units).

    SP_t = min_{c ∈ children(t)} (w_c + SP_c), 0 for an exit task. DWS-Testbed ``Workflow.get_path2end`` computes
    the same quantity as (min over simple paths t → exit of the summed work) − w_t. Cached per workflow object
    (workflows from the loaders are shared, immutable objects).
    """
    through = np.zeros(workflow.num_tasks)  # w_t + SP_t
    sp = np.zeros(workflow.num_tasks)
    for t in workflow.topo_order[::-1]:
        kids = workflow.children[t]
        sp[t] = min(through[c] for c in kids) if kids else 0.0
        through[t] = workflow.work[t] + sp[t]
    sp.flags.writeable = False
    return sp


class StaleClockScheduler(Scheduler):
    """Base of the peer's heuristics: argmin of :meth:`priorities_s`, ties broken as the testbed does or lowest-first.

    Args:
        tie_break: ``"testbed"`` (random among exact ties, legacy ``RandomState(seed)``) or ``"lowest"``.

    Raises:
        ValueError: unknown ``tie_break``.
    """

    name = "dws"

    def __init__(self, tie_break: str = "testbed") -> None:
        if tie_break not in TIE_BREAKS:
            raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
        self.tie_break = tie_break
        self._rng = np.random.RandomState(0)

    def reset(self, seed: int) -> None:
        """Re-seed the tie-breaking RNG (the testbed's ``np.random.seed(env_seed)``; seeds taken modulo 2³²)."""
        self._rng = np.random.RandomState(int(seed) % 2**32)

    def priorities_s(self, sim: Simulator) -> np.ndarray:
        """Shape (N,). The priority of each server for ``sim.task`` (seconds; lower is better)."""
        raise NotImplementedError

    def select(self, observation, sim: Simulator) -> int:
        """A server of minimal priority."""
        p = self.priorities_s(sim)
        if self.tie_break == "lowest":
            return int(np.argmin(p))
        return int(self._rng.choice(np.flatnonzero(p == p.min())))


class DwsEstScheduler(StaleClockScheduler):
    """The peer's EST: argmin_k L_k with the stale clock (speed ignored)."""

    name = "dws-est"

    def priorities_s(self, sim: Simulator) -> np.ndarray:
        """L_k (seconds)."""
        return sim.server_free_s


class DwsHeftScheduler(StaleClockScheduler):
    """The peer's "HEFT": argmin_k L_k + w/v_k with the stale clock L_k."""

    name = "dws-heft"

    def priorities_s(self, sim: Simulator) -> np.ndarray:
        """L_k + w/v_k (seconds)."""
        return sim.server_free_s + sim.exec_times_s()


class DwsPeftScheduler(StaleClockScheduler):
    """The peer's PEFT: argmin_k L_k + w/v_k + SP/v_k with the stale clock L_k."""

    name = "dws-peft"

    def __init__(self, tie_break: str = "testbed") -> None:
        super().__init__(tie_break)
        self._sim: Simulator | None = None
        self._sp = np.zeros(0)

    def priorities_s(self, sim: Simulator) -> np.ndarray:
        """(L_k + w/v_k) + SP/v_k (seconds), summed in the testbed's order."""
        if sim is not self._sim:
            self._sim, self._sp = sim, np.concatenate([min_work_to_exit(w) for w in sim.workflows])
        t = sim.task
        return (sim.server_free_s + sim.exec_times_s()) + self._sp[t] / sim.cluster.speed[:, sim.task_kind[t]]


#: Peer-compatibility schedulers: in the registry (:func:`scale_rllib.schedulers.make_scheduler`), not in the default
#: heuristic set.
COMPAT_HEURISTICS = {cls.name: cls for cls in (DwsEstScheduler, DwsHeftScheduler, DwsPeftScheduler)}
