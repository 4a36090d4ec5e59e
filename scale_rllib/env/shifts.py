"""Distributions of tasks for meta-training: per episode, the shift of the truth away from the performance profile.

A *task* of the meta-learning problem is the way the true execution times differ from what the profile says: the
profile's error σ, interference c between co-located tasks, a new hardware generation x, and a workload drift (the
main tool kind's work × w from fraction F of the stream on) — the :class:`~scale_rllib.env.config.EnvConfig` fields
of docs/design.md §10. With ``EnvConfig.shift_distribution`` ≠ ``none`` the env draws these five values per episode
from the episode's own generator (after the workflows, arrivals, N and the server mix), so every episode stays
reproducible from its seed, and with ``none`` nothing is drawn and episodes are exactly as before.

Each value's law is a :class:`Law`: with probability ``p`` uniform (or log-uniform) on [lo, hi], otherwise ``off``
(the no-shift value). The distributions, and the real phenomenon each range stands for, are in docs/design.md §10:

- ``meta-train``: the training distribution (:data:`META_TRAIN`);
- ``heldout-newtype``: a hardware generation 4 × faster than profiled, beyond the training range [1/3, 3];
- ``heldout-drift``: a tool's work × 5 from 30 % of the stream on, beyond the training range [1/4, 4], under
  interference c = 0.5;
- ``heldout-error``: a profile error σ = 1.5, beyond the training range [0, 1];
- ``heldout-interference``: interference c = 1.5 (co-located tasks up to 4 × slower), beyond [0, 1].

``results/adaptation_headroom`` measures how much better knowledge is worth on each: EFT with the true times is
0.997 × EFT on the estimates on ``heldout-newtype`` (no room for adaptation to win), 0.73 on ``heldout-drift``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The EnvConfig fields a shift distribution draws, in draw order.
SHIFT_FIELDS = ("profile_error", "interference", "new_type_speedup", "work_shift", "work_shift_at")
#: Their values when nothing shifts (EnvConfig's defaults).
NO_SHIFT = {"profile_error": 0.0, "interference": 0.0, "new_type_speedup": 1.0, "work_shift": 1.0, "work_shift_at": 0.5}


@dataclass(frozen=True)
class Law:
    """One value's law: with probability ``p`` uniform on [lo, hi] (log-uniform with ``log``), else ``off``.

    Attributes:
        lo, hi: The support of the shifted value (lo == hi: a point mass), in the field's unit.
        p: Probability that the value is shifted at all.
        log: Draw log(value) uniformly (for multipliers: as likely × 2 as × 1/2).
        off: The value when not shifted.
    """

    lo: float
    hi: float
    p: float = 1.0
    log: bool = False
    off: float = 0.0

    def draw(self, u_on: float, u_value: float) -> float:
        """The value for two uniform [0, 1) numbers (each law takes exactly two, so the stream stays aligned)."""
        if u_on >= self.p:
            return self.off
        if self.log:
            return float(math.exp(math.log(self.lo) + u_value * (math.log(self.hi) - math.log(self.lo))))
        return float(self.lo + u_value * (self.hi - self.lo))

    def support(self) -> tuple[float, float]:
        """(min, max) of every value this law can give, ``off`` included when p < 1."""
        values = (self.lo, self.hi, self.off) if self.p < 1 else (self.lo, self.hi)
        return min(values), max(values)


def point(value: float) -> Law:
    """The law that always gives ``value``."""
    return Law(value, value)


#: Training: each shift on in half the episodes (σ always drawn), magnitudes spanning what production sees.
META_TRAIN = {
    "profile_error": Law(0.0, 1.0),
    "interference": Law(0.0, 1.0, p=0.5),
    "new_type_speedup": Law(1 / 3, 3.0, p=0.5, log=True, off=1.0),
    "work_shift": Law(0.25, 4.0, p=0.5, log=True, off=1.0),
    "work_shift_at": Law(0.25, 0.75),
}
#: Every named distribution (``none`` draws nothing).
SHIFT_DISTRIBUTIONS: dict[str, dict[str, Law] | None] = {
    "none": None,
    "meta-train": META_TRAIN,
    "heldout-newtype": {"new_type_speedup": point(4.0), "profile_error": point(0.3)},
    "heldout-drift": {"work_shift": point(5.0), "work_shift_at": point(0.3), "interference": point(0.5)},
    "heldout-error": {"profile_error": point(1.5)},
    "heldout-interference": {"interference": point(1.5)},
}
#: The value that makes each held-out distribution held out (outside META_TRAIN's support).
HELD_OUT = {
    "heldout-newtype": "new_type_speedup",
    "heldout-drift": "work_shift",
    "heldout-error": "profile_error",
    "heldout-interference": "interference",
}


def laws(name: str) -> dict[str, Law]:
    """Every field's law under distribution ``name`` (fields it does not name: a point mass at the no-shift value).

    Raises:
        KeyError: ``name`` is ``none`` or unknown.
    """
    given = SHIFT_DISTRIBUTIONS[name]
    if given is None:
        raise KeyError(name)
    return {f: given.get(f, point(NO_SHIFT[f])) for f in SHIFT_FIELDS}


def draw_shift(name: str, rng: np.random.Generator) -> dict[str, float]:
    """One episode's shift: ``{field: value}`` for every field of :data:`SHIFT_FIELDS`, from 2 × 5 uniforms of ``rng``.

    Raises:
        KeyError: ``name`` is ``none`` or unknown.
    """
    fields = laws(name)
    u = rng.random(2 * len(SHIFT_FIELDS))
    return {f: fields[f].draw(u[2 * i], u[2 * i + 1]) for i, f in enumerate(SHIFT_FIELDS)}


def may_shift_work(name: str) -> bool:
    """Whether distribution ``name`` can draw a ``work_shift`` ≠ 1 (the env then needs the kind it scales)."""
    return name != "none" and laws(name)["work_shift"].support() != (1.0, 1.0)


def episode_config(cfg: Any, rng: np.random.Generator) -> Any:
    """The episode's :class:`~scale_rllib.env.config.EnvConfig`: ``cfg`` itself with ``shift_distribution`` ``none``
    (nothing drawn), else ``cfg`` with the fields of :data:`SHIFT_FIELDS` drawn from ``rng`` and ``shift_distribution``
    ``none`` (a concrete episode)."""
    if cfg.shift_distribution == "none":
        return cfg
    return dataclasses.replace(cfg, shift_distribution="none", **draw_shift(cfg.shift_distribution, rng))
