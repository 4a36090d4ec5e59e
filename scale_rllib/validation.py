"""Validation shared by every typed config: one error type that names the field, and dict → dataclass."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field (or flag, or file)."""


def require(ok: bool, field_name: str, message: str) -> None:
    """Raise :class:`ConfigError` ``"<field_name>: <message>"`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{field_name}: {message}")


def from_dict(cls: type[T], values: dict[str, Any]) -> T:
    """Build the dataclass ``cls`` from a plain dict (lists become tuples), rejecting unknown keys by name.

    Raises:
        ConfigError: an unknown key (the known ones are listed), or what ``cls`` raises on a bad value.
    """
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown field(s) {unknown}; known: {sorted(known)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
