"""Parameter constraints, declared once per public class and checked with one-line errors.

Modelled on scikit-learn's ``_parameter_constraints``: a class lists, for every parameter, the
constraints a value may satisfy; :func:`validate_params` raises ``ValueError`` with the parameter,
what was expected and what was given, e.g. ``"alpha must be a float > 0, got -1"``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class Interval:
    """A real or integer interval. ``kind`` is ``int`` or ``float``; ``None`` bounds are open-ended.

    ``closed`` is one of ``"both"``, ``"left"``, ``"right"``, ``"neither"``. Floats must be finite
    (NaN and inf never satisfy an Interval); bools are never numbers here.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int:
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            return False
        lo_ok = self.low is None or (value >= self.low if self.closed in ("both", "left") else value > self.low)
        hi_ok = self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)
        return lo_ok and hi_ok

    def describe(self) -> str:
        name = "an int" if self.kind is int else "a float"
        parts = []
        if self.low is not None:
            parts.append((">= " if self.closed in ("both", "left") else "> ") + _fmt(self.low))
        if self.high is not None:
            parts.append(("<= " if self.closed in ("both", "right") else "< ") + _fmt(self.high))
        return name + (" " + " and ".join(parts) if parts else "")


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (compared with ``==``, type-strict for str)."""

    values: tuple

    def __init__(self, values: Iterable):
        object.__setattr__(self, "values", tuple(values))

    def accepts(self, value: Any) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class InstanceOf:
    """An instance of the given type(s); ``bool`` is not accepted as ``int``."""

    types: tuple
    label: str

    def __init__(self, *types: type, label: str | None = None):
        object.__setattr__(self, "types", types)
        object.__setattr__(self, "label", label or " or ".join(t.__name__ for t in types))

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) and bool not in self.types:
            return False
        return isinstance(value, self.types)

    def describe(self) -> str:
        return f"a {self.label}"


BOOL = InstanceOf(bool)
NONE = Options([None])


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def describe(constraints: list) -> str:
    return " or ".join(c.describe() if c is not None else "None" for c in constraints)


def check_param(name: str, value: Any, constraints: list) -> None:
    """Raise ``ValueError("name must be <expected>, got <value>")`` unless a constraint accepts value."""
    for c in constraints:
        if c is None:
            if value is None:
                return
        elif c.accepts(value):
            return
    raise ValueError(f"{name} must be {describe(constraints)}, got {value!r}")


def validate_params(owner: str, constraints: Mapping[str, list], params: Mapping[str, Any]) -> None:
    """Check every given parameter; an unknown one names the valid parameters of ``owner``."""
    for name, value in params.items():
        if name not in constraints:
            valid = ", ".join(sorted(constraints))
            raise ValueError(f"{owner} got an unknown parameter {name!r}; valid parameters: {valid}")
        check_param(name, value, constraints[name])


class Registry:
    """Name → factory registry (timm style). ``get`` on an unknown name lists the valid ones."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Any] = {}

    def register(self, name: str):
        def deco(obj):
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str):
        if not isinstance(name, str) or name not in self._items:
            raise ValueError(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
