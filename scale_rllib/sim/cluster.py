"""Heterogeneous clusters: server types with a speed per task kind and a number of slots."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

from scale_rllib.sim.workflow import NUM_KINDS, TaskKind

#: The speed of a kind a server cannot run (work units / s): not 0, so that execution times stay finite for bounds and
#: heuristics, and small enough that no schedule picks such a server (an LLM call of 100 tokens would take 10⁸ s).
#: :meth:`Cluster.serves` and the policy's action mask exclude it.
UNSERVED_SPEED = 1e-6


def runnable(speed: np.ndarray, decode_speed: np.ndarray) -> np.ndarray:
    """Shape (N, K), bool. Server s can run kind k: both rates above :data:`UNSERVED_SPEED`; for a kind no server
    can run, every server (the simulator accepts any server: bounds and heuristics then see the huge times)."""
    can = (speed > UNSERVED_SPEED) & (decode_speed > UNSERVED_SPEED)
    can[:, ~can.any(axis=0)] = True
    return can


@dataclass(frozen=True)
class ServerType:
    """A kind of server (docs/design.md, "Simulator").

    Attributes:
        name: Type name, e.g. ``"gpu"``.
        speed: Work units per second for each :class:`TaskKind` (length ``NUM_KINDS``).
            Execution time of task t on this server = work(t) / speed[kind(t)].
        slots: Tasks that run concurrently (each at full speed); further tasks wait in a FIFO queue.
        decode_speed: Optional second rate per :class:`TaskKind` (length ``NUM_KINDS``) for a task's
            ``decode_work`` (e.g. generated tokens/s of an LLM call, while ``speed`` is its prefill tokens/s);
            None = ``speed``. Execution time = work / speed[kind] + decode_work / decode_speed[kind].
        engine: Optional: the server is an LLM serving replica with this profile; its ``llm`` tasks run in one
            continuous batch (:mod:`scale_rllib.sim.llm_engine`) when the episode is a
            :class:`~scale_rllib.sim.serving.ServingSimulator`, and ``speed`` / ``decode_speed`` of ``llm`` then hold
            the rates of a call alone on it (for bounds and heuristics that assume slots). None: a slot server.
    """

    name: str
    speed: tuple[float, ...]
    slots: int = 1
    decode_speed: tuple[float, ...] | None = None
    engine: object | None = None  # an EngineProfile (typed loosely: sim.llm_engine imports nothing from here)

    def __post_init__(self) -> None:
        if self.decode_speed is None:
            object.__setattr__(self, "decode_speed", tuple(self.speed))
        for what, vec in (("speed", self.speed), ("decode_speed", self.decode_speed)):
            if len(vec) != NUM_KINDS:
                raise ValueError(f"server type {self.name!r}: {what} needs {NUM_KINDS} entries (one per TaskKind)")
            if any(not np.isfinite(s) or s <= 0 for s in vec):
                raise ValueError(f"server type {self.name!r}: every {what} must be a positive finite number")
        if int(self.slots) != self.slots or self.slots < 1:
            raise ValueError(f"server type {self.name!r}: slots must be a positive integer, got {self.slots!r}")

    @classmethod
    def from_kind_speeds(
        cls,
        name: str,
        speeds: Mapping[str, float],
        slots: int = 1,
        default: float = 1.0,
        decode: Mapping[str, float] | None = None,
    ):
        """Build from ``{"llm": 10.0, "tool": 1.0, ...}``; kinds not named get ``default``.

        ``decode`` names decode speeds the same way (e.g. ``{"llm": 25.0}`` generated tokens/s); kinds it does not
        name decode at their ``speeds`` value.

        Raises:
            ValueError: an unknown kind name or a non-positive speed.
        """
        vec = _kind_vector(name, speeds, [default] * NUM_KINDS)
        dec = None if decode is None else _kind_vector(name, decode, list(vec))
        return cls(name, tuple(vec), slots, dec)


def _kind_vector(name: str, values: Mapping[str, float], vec: list[float]) -> tuple[float, ...]:
    """Overwrite ``vec`` at the kinds ``values`` names (``{"llm": 10.0}``)."""
    for kind_name, value in values.items():
        try:
            vec[TaskKind[kind_name.upper()]] = float(value)
        except KeyError:
            known = ", ".join(k.name.lower() for k in TaskKind)
            raise ValueError(f"server type {name!r}: unknown task kind {kind_name!r} (known: {known})") from None
    return tuple(vec)


@dataclass(frozen=True, eq=False)
class Cluster:
    """N servers, each of a :class:`ServerType`, in a fixed index order.

    Attributes:
        server_types: N server types (server i has type ``server_types[i]``).
        bandwidth: Bytes/s between two servers, or ``None`` for no transfer time (the default).
    """

    server_types: tuple[ServerType, ...]
    bandwidth: float | None = None

    def __post_init__(self) -> None:
        if not self.server_types:
            raise ValueError("a cluster needs at least one server")
        if self.bandwidth is not None and not self.bandwidth > 0:
            raise ValueError(f"bandwidth must be positive (bytes/s) or None, got {self.bandwidth!r}")
        speed = np.array([t.speed for t in self.server_types], dtype=np.float64)
        decode = np.array([t.decode_speed for t in self.server_types], dtype=np.float64)
        object.__setattr__(self, "speed", speed)
        object.__setattr__(self, "slots", np.array([t.slots for t in self.server_types], dtype=np.int64))
        object.__setattr__(self, "inv_speed", 1.0 / speed)
        object.__setattr__(self, "decode_speed", decode)
        object.__setattr__(self, "inv_decode_speed", 1.0 / decode)
        object.__setattr__(self, "is_engine", np.array([t.engine is not None for t in self.server_types]))
        object.__setattr__(self, "fastest_slots", fastest_slots(speed, self.slots))
        object.__setattr__(self, "runnable", runnable(speed, decode))

    speed: np.ndarray = field(init=False, repr=False)  # (N, K) work units / s
    slots: np.ndarray = field(init=False, repr=False)  # (N,)
    inv_speed: np.ndarray = field(init=False, repr=False)  # (N, K) s / work unit
    decode_speed: np.ndarray = field(init=False, repr=False)  # (N, K) decode work units / s
    inv_decode_speed: np.ndarray = field(init=False, repr=False)  # (N, K) s / decode work unit
    is_engine: np.ndarray = field(init=False, repr=False)  # (N,) bool: an LLM serving replica (ServerType.engine)
    fastest_slots: np.ndarray = field(init=False, repr=False)  # (K,) capacity per kind in fastest-server slots
    runnable: np.ndarray = field(init=False, repr=False)  # (N, K) bool: server s can run kind k (:func:`runnable`)

    def with_speeds(self, speed: np.ndarray, decode_speed: np.ndarray) -> Cluster:
        """The same servers (slots, bandwidth, type names) at other speeds — a cluster as a performance model
        believes it to be, or as it really runs.

        Args:
            speed: Shape (N, K). Work units / s per server and task kind.
            decode_speed: Shape (N, K). Decode work units / s.

        Returns:
            A new cluster whose speed arrays are these; its ``server_types`` still list the original speeds.

        Raises:
            ValueError: a shape other than (N, K), or a speed that is not positive and finite.
        """
        speed, decode = np.asarray(speed, dtype=np.float64), np.asarray(decode_speed, dtype=np.float64)
        for name, arr in (("speed", speed), ("decode_speed", decode)):
            if arr.shape != self.speed.shape or not np.all(np.isfinite(arr) & (arr > 0)):
                raise ValueError(f"{name} must be positive and finite with shape {self.speed.shape}, got {arr.shape}")
        other = copy.copy(self)
        for name, value in (("speed", speed), ("inv_speed", 1.0 / speed), ("decode_speed", decode),
                            ("inv_decode_speed", 1.0 / decode),
                            ("fastest_slots", fastest_slots(speed, self.slots)),
                            ("runnable", runnable(speed, decode))):  # fmt: skip
            object.__setattr__(other, name, value)
        return other

    @property
    def num_servers(self) -> int:
        """N."""
        return len(self.server_types)

    def serves(self, kind: int) -> np.ndarray:
        """Shape (N,), bool. Servers that can run tasks of ``kind``: a column of :attr:`runnable`, computed once."""
        return self.runnable[:, kind]

    @classmethod
    def from_counts(cls, counts: Sequence[tuple[ServerType, int]], bandwidth: float | None = None) -> Cluster:
        """``[(gpu, 4), (cpu, 12)]`` → 16 servers, type-major order."""
        types = tuple(t for t, n in counts for _ in range(int(n)))
        return cls(types, bandwidth)

    def service_rate(self, mean_work_by_kind: np.ndarray, mean_decode_work_by_kind: np.ndarray | None = None) -> float:
        """Largest sustainable arrival rate (workflows/s), ignoring precedence and queueing.

        The linear program: maximise λ over routing fractions x[s, k] ≥ 0 with Σ_s x[s, k] = 1
        (every kind's work is routed somewhere) and, for each server s,
        ``Σ_k λ · x[s, k] · (W_k / speed[s, k] + D_k / decode_speed[s, k]) ≤ slots[s]`` (no slot is busy
        more than 100 %), the time per workflow following the simulator's execution-time formula.
        The offered load of a rate λ is ``λ / service_rate`` (docs/design.md, "Offered load and lower bound"); it
        stays fixed across N when the rate scales with this capacity. Identical servers are pooled, so the LP has one
        row per server type. Solved with ``scipy.optimize.linprog``.

        Args:
            mean_work_by_kind: Shape (K,). Mean work W_k per workflow of each kind (work units).
            mean_decode_work_by_kind: Shape (K,). Mean decode work D_k per workflow of each kind (decode work
                units, e.g. generated tokens); None = zeros.

        Returns:
            Workflows per second.

        Raises:
            ValueError: no kind has positive work.
        """
        work = np.asarray(mean_work_by_kind, dtype=np.float64)
        decode = np.zeros_like(work)
        if mean_decode_work_by_kind is not None:
            decode = np.asarray(mean_decode_work_by_kind, dtype=np.float64)
        kinds = np.flatnonzero((work > 0) | (decode > 0))
        if not kinds.size:
            raise ValueError("mean work per workflow must be positive for at least one task kind")
        table = np.column_stack([self.speed, self.decode_speed, self.slots])
        rows, inverse = np.unique(table, axis=0, return_inverse=True)
        capacity = np.bincount(inverse.ravel(), weights=self.slots, minlength=len(rows))  # slots per type
        k = self.speed.shape[1]
        time = work[kinds] / rows[:, kinds] + decode[kinds] / rows[:, k + kinds]  # (G, K') s per workflow
        return _max_rate(time, capacity)


def fastest_slots(speed: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Shape (K,). Each kind's capacity in fastest-server slots: Σ_s slots_s · speed[s, k] / max_s speed[s, k] for
    speeds (N, K) and slots (N,): the denominator of the backlog features
    (:func:`scale_rllib.env.observation.backlog_features`)."""
    return np.maximum(slots @ (speed / np.maximum(speed.max(axis=0), 1e-12)), 1e-12)


def _max_rate(time: np.ndarray, capacity: np.ndarray) -> float:
    """LP of :meth:`Cluster.service_rate` over y[g, k] = λ·x[g, k] for G pooled server groups.

    ``time[g, k]``: slot-seconds one workflow's kind-k work takes on group g; ``capacity[g]``: its slots.
    """
    groups, kinds = time.shape
    # variables: y (G*K, row-major), then λ; minimise −λ
    cost = np.zeros(groups * kinds + 1)
    cost[-1] = -1.0
    a_ub = np.zeros((groups, groups * kinds + 1))
    for g in range(groups):
        a_ub[g, g * kinds : (g + 1) * kinds] = time[g]
    a_eq = np.zeros((kinds, groups * kinds + 1))
    for k in range(kinds):
        a_eq[k, k : groups * kinds : kinds] = 1.0
        a_eq[k, -1] = -1.0
    result = linprog(cost, A_ub=a_ub, b_ub=capacity, A_eq=a_eq, b_eq=np.zeros(kinds), bounds=(0, None), method="highs")
    if not result.success:
        raise RuntimeError(f"service-rate LP failed: {result.message}")
    return float(result.x[-1])
