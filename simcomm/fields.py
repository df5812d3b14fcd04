"""Field types and the error every layer may raise for bad input.

These sit below :mod:`simcomm.scenario` (the schema) so that components and patterns can
declare validated parameters without importing the schema module: quantities with units
(:data:`PosDuration`, :data:`NonNegSize` …), distributions of them (:data:`DurationDist` …),
and :class:`ScenarioError`, whose ``field`` is the dotted path of the offending key.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo

from .dists import DistError, Distribution, from_spec
from .units import UnitError, parse_bandwidth, parse_duration, parse_rate, parse_size

__all__ = ["Bandwidth", "DurationDist", "NonNegDuration", "NonNegSize", "PosDuration",
           "PosDurationDist", "PosSize", "Rate", "ScenarioError", "SizeDist"]


class ScenarioError(ValueError):
    """Bad input. ``field`` is the dotted path of the offending key ('' for the whole file)."""

    def __init__(self, field: str, message: str) -> None:
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


PosDuration = Annotated[float, _q(parse_duration, positive=True, what="duration")]
NonNegDuration = Annotated[float, _q(parse_duration, positive=False, what="duration")]
PosSize = Annotated[float, _q(parse_size, positive=True, what="size")]
NonNegSize = Annotated[float, _q(parse_size, positive=False, what="size")]
Bandwidth = Annotated[float, _q(parse_bandwidth, positive=True, what="bandwidth")]
Rate = Annotated[float, _q(parse_rate, positive=True, what="rate")]
DurationDist = Annotated[Distribution, _dist(parse_duration, allow_zero=True)]
PosDurationDist = Annotated[Distribution, _dist(parse_duration, allow_zero=False)]
SizeDist = Annotated[Distribution, _dist(parse_size, allow_zero=False)]
