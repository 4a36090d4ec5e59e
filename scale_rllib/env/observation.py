"""Observation encoding: simulator state at a decision → padded, N-independent feature arrays.

Every feature is a ratio or a log1p of a ratio, so its scale does not drift with the number of
servers N or the offered load (docs/design.md, "The MDP"). Times are divided either by the ready task's fastest
execution time ``e_min`` (how much worse than the best server) or by the episode's time scale
``τ`` = mean critical path of its workflows on the fastest servers (how long in workflow terms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import NUM_KINDS, TaskKind

#: Per-server features, in column order.
SERVER_FEATURES = (
    "log_exec_over_min",  # log(exec_s / e_min) ≥ 0
    "log1p_wait_over_min",  # log1p((start_s − now) / e_min)
    "log1p_eft_gap_over_min",  # log1p((EFT_s − min EFT) / e_min)
    "speed_over_fastest",  # speed[s, kind] / max_s speed[s, kind] ∈ (0, 1]; min exec / exec_s with decode work
    "slots_over_max",  # slots_s / max slots ∈ (0, 1]
    "busy_slot_fraction",  # busy slots / slots ∈ [0, 1]
    "is_min_eft",  # 1 for the server(s) of minimal EFT
    "log1p_wait_over_tau",  # log1p((start_s − now) / τ)
    "log1p_exec_over_tau",  # log1p(exec_s / τ)
)
#: The extra per-server features with estimated runtime knowledge (docs/design.md §10), the belief a policy adapts
#: through: the performance model's predictive standard deviation of log(execution time) for the ready task's kind on
#: each server (0: known exactly), and the co-location model's believed slowdown of the ready task there: exp(φ_s) if
#: it would start beside another task on s, else 1 (:class:`~scale_rllib.sim.colocation_model.ColocationModel`).
UNCERTAINTY_FEATURES = ("exec_log_sd", "colocation_charge")
#: The extra per-server features of episodes with LLM serving engines (docs/design.md §11), after the uncertainty
#: column: what cache-aware routers read. 0 on slot servers and, except the first, for tasks that are not LLM calls.
SERVING_FEATURES = (
    "is_engine",  # 1 for an LLM serving replica
    "cached_prefix_share",  # this call's context cached there (whole blocks) / its context + prompt tokens ∈ [0, 1]
    "kv_utilization",  # KV memory held by running requests and cached prefixes / capacity ∈ [0, 1]
    "batch_over_max_seqs",  # running requests / max batch ∈ [0, 1]
    "log1p_queue_depth",  # log1p(requests waiting for admission)
)
#: Ready-task features, in order (the first NUM_KINDS are the kind one-hot).
TASK_FEATURES = tuple(f"kind_{k}" for k in range(NUM_KINDS)) + (
    "log1p_min_exec_over_tau",
    "log1p_critical_path_over_tau",  # remaining critical path to the workflow's exit, fastest servers
    "log1p_age_over_tau",  # now − workflow arrival
    "log1p_children",
    "log1p_ready_waiting",
    "remaining_task_fraction",
    "workflows_in_system_per_server",
    "log1p_min_wait_over_min",
)
#: The extra ready-task features of observations with the cluster's backlog (``EnvConfig.observe_backlog``,
#: docs/design.md §3), after :data:`TASK_FEATURES`: how long the whole cluster needs to drain the work it knows of, in
#: units of τ. Pending work is every not-yet-assigned task of the workflows in the system (the ready one included; the
#: tasks a lookahead teacher's forks schedule), each at its fastest execution time; a kind's capacity is the cluster's
#: slots weighted by their speed for that kind relative to the fastest server (fastest-server slot equivalents).
BACKLOG_FEATURES = (
    "log1p_pending_kind_drain_over_tau",  # pending work of the ready task's kind / that kind's capacity / τ
    "log1p_pending_drain_over_tau",  # Σ over kinds of pending work / capacity (the kinds share the servers) / τ
    "log1p_committed_drain_over_tau",  # Σ over slots of assigned work not yet done (max(free − now, 0)) / slots / τ
)


#: Upper bound of every feature: all are ratios in [0, 1] or logs of ratios (log(1e30) ≈ 69).
FEATURE_MAX = 1e3


@dataclass(frozen=True)
class ObservationSpec:
    """Which optional feature groups observations carry beyond :data:`SERVER_FEATURES` and :data:`TASK_FEATURES`: one
    value names an observation layout wherever one is built or read — the env (:attr:`EnvConfig.observation_spec
    <scale_rllib.env.config.EnvConfig.observation_spec>`), a trained module (:meth:`of` its observation space), the
    policies that encode observations themselves.

    Attributes:
        uncertainty: The :data:`UNCERTAINTY_FEATURES` server columns (estimated runtime knowledge, docs/design.md §10).
        serving: The :data:`SERVING_FEATURES` server columns, after those (LLM serving engines, docs/design.md §11).
        backlog: The :data:`BACKLOG_FEATURES` task features (``EnvConfig.observe_backlog``, docs/design.md §3).
    """

    uncertainty: bool = False
    serving: bool = False
    backlog: bool = False

    @classmethod
    def of(cls, space: spaces.Dict) -> ObservationSpec:
        """The spec of an observation space (e.g. a trained module's), read from its feature widths.

        Raises:
            ValueError: a ``servers`` or ``task`` width that no spec has.
        """
        servers, task = space["servers"].shape[-1], space["task"].shape[-1]
        extra = servers - len(SERVER_FEATURES)
        spec = cls(
            uncertainty=extra % len(SERVING_FEATURES) == len(UNCERTAINTY_FEATURES),
            serving=extra >= len(SERVING_FEATURES),
            backlog=task == len(TASK_FEATURES) + len(BACKLOG_FEATURES),
        )
        if (len(spec.server_features), len(spec.task_features)) != (servers, task):
            raise ValueError(f"an observation space with {servers} server and {task} task features matches no layout")
        return spec

    @property
    def server_features(self) -> tuple[str, ...]:
        """The per-server feature names in column order: :data:`SERVER_FEATURES`, then :data:`UNCERTAINTY_FEATURES`
        and :data:`SERVING_FEATURES` where the spec has them."""
        return (
            SERVER_FEATURES
            + (UNCERTAINTY_FEATURES if self.uncertainty else ())
            + (SERVING_FEATURES if self.serving else ())
        )

    @property
    def task_features(self) -> tuple[str, ...]:
        """The ready-task feature names in order: :data:`TASK_FEATURES`, then :data:`BACKLOG_FEATURES` if the spec has
        them."""
        return TASK_FEATURES + (BACKLOG_FEATURES if self.backlog else ())

    def read(self, observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``observation`` as a network of this layout reads it: task features past its width (the backlog features,
        produced for another policy of the same evaluation) left out; the same dict when nothing is.

        Raises:
            ValueError: the observation has fewer task features than the layout (a network trained with
                ``observe_backlog`` on an env without it).
        """
        width = len(TASK_FEATURES) + (len(BACKLOG_FEATURES) if self.backlog else 0)
        given = observation["task"].shape[-1]
        if given < width:
            raise ValueError(f"reads {width} task features, the env gives {given}: it was trained with "
                             "observe_backlog; evaluate it on an env that observes the backlog")  # fmt: skip
        return observation if given == width else observation | {"task": observation["task"][..., :width]}


#: The observations of the default env: no optional feature group.
BASE_SPEC = ObservationSpec()
#: Every optional feature group: the widest observation (for memory estimates).
WIDEST_SPEC = ObservationSpec(uncertainty=True, serving=True, backlog=True)


def observation_space(max_servers: int, spec: ObservationSpec = BASE_SPEC) -> spaces.Dict:
    """The env's Dict observation space.

    Keys: ``servers`` (max_servers, F_s) float32 (F_s = len(``spec.server_features``)), ``task`` (F_t,) float32
    (F_t = len(``spec.task_features``)), ``action_mask`` (max_servers,) float32 in {0, 1} (1 = a real server that
    can run the ready task's kind, :meth:`~scale_rllib.sim.cluster.Cluster.serves`).
    """
    return spaces.Dict(
        {
            "servers": spaces.Box(0.0, FEATURE_MAX, (max_servers, len(spec.server_features)), np.float32),
            "task": spaces.Box(0.0, FEATURE_MAX, (len(spec.task_features),), np.float32),
            "action_mask": spaces.Box(0.0, 1.0, (max_servers,), np.float32),
        }
    )


def encode(sim: Simulator, max_servers: int, tau_s: float, spec: ObservationSpec = BASE_SPEC) -> dict[str, np.ndarray]:
    """Encode the simulator's current decision.

    Args:
        sim: A simulator with a ready task pending (``sim.task >= 0``).
        max_servers: Padding size N_max ≥ N.
        tau_s: The episode's time scale τ (seconds, > 0).
        spec: The optional feature groups: uncertainty columns from ``sim.exec_log_sd`` and
            ``sim.colocation_log_factor`` (0 and 1 where None); serving columns (``sim`` must then be a
            :class:`~scale_rllib.sim.serving.ServingSimulator`, or a simulator with the same engine-state methods);
            backlog task features (:func:`backlog_features`).

    Returns:
        A dict matching :func:`observation_space` of ``spec``.
    """
    n, now, t = sim.cluster.num_servers, sim.now_s, sim.task
    exec_s = sim.exec_times_s()
    start = sim.start_times_s()
    eft = start + exec_s
    e_min = max(float(exec_s.min()), 1e-9)
    wait = start - now
    slot_free = sim.slot_free_s
    busy = ((slot_free > now) & np.isfinite(slot_free)).sum(axis=1) / sim.cluster.slots
    speed = sim.cluster.speed[:, sim.task_kind[t]] if not sim.task_decode[t] else 1.0 / np.maximum(exec_s, 1e-12)
    servers = np.zeros((max_servers, len(spec.server_features)), dtype=np.float32)
    columns = servers[:n].T
    columns[0] = np.log(np.maximum(exec_s, e_min) / e_min)
    columns[1] = np.log1p(wait / e_min)
    gap = eft - eft.min()
    columns[2] = np.log1p(gap / e_min)
    columns[3] = speed / speed.max()
    columns[4] = sim.cluster.slots / sim.cluster.slots.max()
    columns[5] = busy
    columns[6] = gap <= 1e-9 * max(abs(float(eft.min())), 1.0)
    columns[7] = np.log1p(wait / tau_s)
    columns[8] = np.log1p(exec_s / tau_s)
    if spec.uncertainty:
        _uncertainty_columns(sim, start, columns[len(SERVER_FEATURES) :])
    if spec.serving:
        _serving_columns(sim, columns[-len(SERVING_FEATURES) :])
    mask = np.zeros(max_servers, dtype=np.float32)
    mask[:n] = sim.can_run()
    task = _task_features(sim, tau_s, e_min, wait)
    if spec.backlog:
        task = np.concatenate([task, backlog_features(sim, tau_s)])
    return {"servers": servers, "task": task, "action_mask": mask}


def _uncertainty_columns(sim: Simulator, start: np.ndarray, columns: np.ndarray) -> None:
    """Fill the :data:`UNCERTAINTY_FEATURES` rows of ``columns`` (shape (≥ 2, N)) for starts at ``start`` (N,)."""
    if sim.exec_log_sd is not None:
        columns[0] = sim.exec_log_sd[:, sim.task_kind[sim.task]]
    columns[1] = sim.colocation_charges(start)


def _serving_columns(sim, columns: np.ndarray) -> None:
    """Fill the :data:`SERVING_FEATURES` rows of ``columns`` (shape (5, N)) from the engines' state."""
    is_engine = np.asarray(sim.cluster.is_engine, dtype=bool)
    columns[0] = is_engine
    if not is_engine.any() or sim.task_kind[sim.task] != TaskKind.LLM:
        return
    columns[1] = sim.cached_prefix_tokens() / max(sim.request_tokens(), 1)
    columns[2] = sim.kv_utilization()
    columns[3] = np.where(is_engine, sim.running_requests() / sim.max_seqs, 0.0)
    columns[4] = np.where(is_engine, np.log1p(sim.waiting_requests()), 0.0)


def _task_features(sim: Simulator, tau_s: float, e_min: float, wait: np.ndarray) -> np.ndarray:
    t = sim.task
    wf = int(sim.task_workflow[t])
    task = np.zeros(len(TASK_FEATURES), dtype=np.float32)
    task[sim.task_kind[t]] = 1.0
    k = NUM_KINDS
    task[k] = np.log1p(sim.task_fastest_s[t] / tau_s)
    task[k + 1] = np.log1p(sim.task_critical_path_s[t] / tau_s)
    task[k + 2] = np.log1p((sim.now_s - sim.arrival_s[wf]) / tau_s)
    task[k + 3] = np.log1p(len(sim.children[t]))
    task[k + 4] = np.log1p(sim.num_ready)
    task[k + 5] = sim.remaining_tasks[wf] / sim.workflows[wf].num_tasks
    task[k + 6] = sim.in_system / sim.cluster.num_servers
    task[k + 7] = np.log1p(float(wait.min()) / e_min)
    return task


def backlog_features(sim: Simulator, tau_s: float) -> np.ndarray:
    """Shape (3,) float32: the :data:`BACKLOG_FEATURES` of ``sim``'s current decision (``sim.task`` ≥ 0).

    With P_k the fastest execution times (seconds) summed over the unassigned tasks of kind k of the workflows in the
    system and C_k = Σ_s slots_s · speed[s, k] / max_s speed[s, k] (fastest-server slots), the features are
    log1p(P_kind / C_kind / τ), log1p(Σ_k P_k / C_k / τ) and log1p(Σ_slots max(free − now, 0) / Σ_s slots_s / τ).
    Completed workflows between the in-system ones have every task assigned, so one contiguous slice of the task
    arrays is scanned: O(tasks of the in-system workflows' span) per decision.
    """
    wfs = sim.in_system_workflows()
    lo, hi = int(sim.offset[wfs[0]]), int(sim.offset[wfs[-1] + 1])
    unassigned = sim.task_server[lo:hi] < 0
    kinds = sim.task_kind[lo:hi][unassigned]
    pending = np.bincount(kinds, weights=sim.task_fastest_s[lo:hi][unassigned], minlength=NUM_KINDS)
    drain = pending / sim.cluster.fastest_slots  # computed once per cluster
    free = sim.slot_free_s[np.isfinite(sim.slot_free_s)]
    committed = np.maximum(free - sim.now_s, 0.0).sum() / sim.cluster.slots.sum()
    values = (drain[sim.task_kind[sim.task]], drain.sum(), committed)
    return np.log1p(np.asarray(values, dtype=np.float64) / tau_s).astype(np.float32)


def terminal_observation(
    max_servers: int, num_servers: int, spec: ObservationSpec = BASE_SPEC
) -> dict[str, np.ndarray]:
    """Zero features of ``spec``'s layout with the real servers unmasked (returned once the episode is over)."""
    mask = np.zeros(max_servers, dtype=np.float32)
    mask[:num_servers] = 1.0
    return {
        "servers": np.zeros((max_servers, len(spec.server_features)), dtype=np.float32),
        "task": np.zeros(len(spec.task_features), dtype=np.float32),
        "action_mask": mask,
    }
