"""Field types and the error every layer may raise for bad input.

These sit below :mod:`simcomm.scenario` (the schema) so that components and patterns can
declare validated parameters without importing the schema module: quantities with units
(:data:`PosDuration`, :data:`NonNegSize` …), distributions of them (:data:`DurationDist` …),
and :class:`ScenarioError`, whose ``field`` is the dotted path of the offending key.
"""

from __future__ import annotations

import numbers
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo

from .dists import DistError, Distribution, from_spec
from .units import UnitError, parse_bandwidth, parse_duration, parse_rate, parse_size

__all__ = ["Bandwidth", "DurationDist", "Label", "NonNegDuration", "NonNegSize", "PosDuration",
           "PosDurationDist", "PosSize", "Rate", "ScenarioError", "SizeDist", "Whole",
           "check_label", "one_line", "short_repr"]

MAX_MESSAGE = 600
"""Longest message an error carries (longer ones are cut): an error is one readable line."""


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """*text* with control characters escaped (``\\n``) and cut at *limit* characters, so
    that an error stays one line whatever a file held."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


class ScenarioError(ValueError):
    """Bad input. ``field`` is the dotted path of the offending key ('' for the whole file)."""

    def __init__(self, field: str, message: str) -> None:
        field, message = one_line(field, 200), one_line(message)
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


# ---------------------------------------------------------------------------------------------
# Field types. A sub-path inside a value (a distribution's ``mean``) travels as "@sub@ message".

def _q(parse, *, positive: bool, what: str):
    def check(v: Any) -> float:
        if v is None:
            raise ValueError(f"a {what} is required here")
        try:
            x = parse(v)
        except UnitError as e:
            raise ValueError(str(e)) from None
        if positive and not x > 0:
            raise ValueError(f"must be > 0, got {v!r}")
        if not positive and x < 0:
            raise ValueError(f"must be >= 0, got {v!r}")
        return x
    return BeforeValidator(check)


def _dist(parse, *, allow_zero: bool):
    def check(v: Any, info: ValidationInfo) -> Distribution:
        base = (info.context or {}).get("base_dir")
        try:
            return from_spec(v, parse, allow_zero=allow_zero, base_dir=base)
        except DistError as e:
            raise ValueError(f"@{e.path}@ {e.message}" if e.path else e.message) from None
    return BeforeValidator(check)


def short_repr(v: Any, limit: int = 60) -> str:
    """``repr(v)``, cut to *limit* characters (an input echoed in a message)."""
    r = repr(v)
    return r if len(r) <= limit else r[:limit - 4] + " …" + r[-1]


def _whole(v: Any) -> Any:
    # pydantic's lax int takes true as 1 and "7" as 7: a count or a seed is a whole number
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return v
    if isinstance(v, float) and v.is_integer():
        return v
    shown = str(v).lower() if isinstance(v, bool) else short_repr(v)
    raise ValueError(f"must be a whole number, got {shown}")


def check_label(v: Any) -> str:
    """*v* if it is a non-empty, printable string (a row label, a scenario name); else
    ValueError saying what a label is."""
    if not isinstance(v, str):
        hint = f" (quote it in YAML: '{v}')" if isinstance(v, int | float) else ""
        kind = {list: "a list ", dict: "a mapping ", bool: "a boolean "}.get(type(v), "")
        shown = "null" if v is None else short_repr(v)
        raise ValueError(f"must be text{hint}, got {kind}{shown}")
    if not v.strip():
        raise ValueError("must not be empty")
    if not v.isprintable():
        raise ValueError(f"must be printable text without control characters (newlines, "
                         f"tabs …), got {short_repr(v)}")
    return v


Whole = Annotated[int, BeforeValidator(_whole)]
"""An integer given as an integer (``true`` and ``"7"`` are refused)."""
Label = Annotated[str, BeforeValidator(check_label)]
"""A non-empty, printable string naming something in the output."""
PosDuration = Annotated[float, _q(parse_duration, positive=True, what="duration")]
NonNegDuration = Annotated[float, _q(parse_duration, positive=False, what="duration")]
PosSize = Annotated[float, _q(parse_size, positive=True, what="size")]
NonNegSize = Annotated[float, _q(parse_size, positive=False, what="size")]
Bandwidth = Annotated[float, _q(parse_bandwidth, positive=True, what="bandwidth")]
Rate = Annotated[float, _q(parse_rate, positive=True, what="rate")]
DurationDist = Annotated[Distribution, _dist(parse_duration, allow_zero=True)]
PosDurationDist = Annotated[Distribution, _dist(parse_duration, allow_zero=False)]
SizeDist = Annotated[Distribution, _dist(parse_size, allow_zero=False)]
