"""Lower bounds on a workflow's response time that hold for every schedule (docs/design.md, "Offered load and lower
bound").

A workflow w arriving at a_w and completing at c_w has response time T_w = c_w − a_w. Each bound below drops
constraints from the real problem (other workflows, queueing, transfers, indivisible tasks), so no schedule can do
better; the lower bound is their maximum:

1. **Critical path** on the fastest servers: along any path of the DAG, each task runs after its parent finishes
   and takes at least its fastest execution time e_t = min_s (w_t / speed[s, k_t] + d_t / decode_speed[s, k_t]), so
   T_w ≥ max over paths of Σ e_t (Topcuoglu et al., HEFT, IEEE TPDS 2002, use the same rank; Kwok & Ahmad, ACM
   Computing Surveys 1999, call it the critical-path lower bound).
2. **Capacity of a kind** (a fluid bound): a task of kind k on server s occupies one of its ``slots_s`` slots for at
   least w_t / speed[s, k] seconds, all within [a_w, c_w]. So Σ_{t on s} w_t ≤ slots_s · speed[s, k] · T_w for every
   s; summing over s, the workflow's kind-k work W_k satisfies W_k ≤ T_w · Σ_s slots_s · speed[s, k], i.e.
   T_w ≥ W_k / Σ_s slots_s · speed[s, k]. The same holds for the decode work with ``decode_speed``.
3. **Capacity of the cluster**: every task occupies a slot for at least e_t, and the cluster has Σ_s slots_s slots,
   so T_w ≥ Σ_t e_t / Σ_s slots_s (it counts every kind at once, which 2 does not).

Bound 1 binds for narrow workflows (chains, the agentic shapes); 2 and 3 for wide ones (hundreds of parallel tasks
on a few servers, e.g. WfInstances' Makeflow or Montage), where the critical path alone is far below any schedule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scale_rllib.sim.cluster import Cluster
from scale_rllib.sim.workflow import NUM_KINDS, Workflow, critical_path


def critical_paths_s(workflows: Sequence[Workflow], fastest_s: np.ndarray, offset: np.ndarray) -> list[np.ndarray]:
    """Per workflow: shape (T_w,), each task's remaining critical path on the fastest servers (itself included).

    Args:
        workflows: W workflows.
        fastest_s: Shape (T_total,). Each task's fastest execution time (seconds), workflows concatenated.
        offset: Shape (W + 1,). Start of each workflow's tasks in ``fastest_s``.
    """
    return [critical_path(w, fastest_s[o : o + w.num_tasks]) for w, o in zip(workflows, offset, strict=False)]


def capacity_bound_s(
    workflows: Sequence[Workflow], cluster: Cluster, fastest_s: np.ndarray, *, whole_cluster: bool = True
) -> np.ndarray:
    """Shape (W,). Bounds 2 and 3 of the module docstring (seconds): each workflow alone on the whole cluster.

    Args:
        workflows: W workflows.
        cluster: The N servers.
        fastest_s: Shape (T_total,). Each task's fastest execution time (seconds), workflows concatenated.
        whole_cluster: Include bound 3. False where a server runs more tasks at once than its slots (a serving
            engine's batch, :mod:`scale_rllib.sim.serving`), which bound 3 assumes it does not.
    """
    sizes = [w.num_tasks for w in workflows]
    owner = np.repeat(np.arange(len(workflows)), sizes)
    kinds = np.concatenate([w.kinds for w in workflows])
    work = np.zeros((len(workflows), NUM_KINDS))
    decode = np.zeros((len(workflows), NUM_KINDS))
    np.add.at(work, (owner, kinds), np.concatenate([w.work for w in workflows]))
    np.add.at(decode, (owner, kinds), np.concatenate([w.decode_work for w in workflows]))
    slots = cluster.slots.astype(np.float64)
    work_rate = slots @ cluster.speed  # (K,) work units per second the whole cluster can do of each kind
    decode_rate = slots @ cluster.decode_speed  # (K,)
    per_kind = np.maximum(work / work_rate, decode / decode_rate).max(axis=1)  # bound 2
    if not whole_cluster:
        return per_kind
    total = np.bincount(owner, weights=fastest_s, minlength=len(workflows)) / slots.sum()  # bound 3
    return np.maximum(per_kind, total)


def lower_bounds_s(
    workflows: Sequence[Workflow], cluster: Cluster, fastest_s: np.ndarray, critical: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(critical path, lower bound) per workflow, both shape (W,) in seconds: the lower bound is the maximum of the
    critical path and :func:`capacity_bound_s`.

    Args:
        workflows: W workflows.
        cluster: The N servers.
        fastest_s: Shape (T_total,). Each task's fastest execution time (seconds).
        critical: Per workflow, :func:`critical_paths_s`'s remaining critical path of each task.
    """
    path = np.array([cp[list(w.entries)].max() for w, cp in zip(workflows, critical, strict=True)])
    return path, np.maximum(path, capacity_bound_s(workflows, cluster, fastest_s))
