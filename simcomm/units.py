"""Quantities with units, parsed once at the edge.

Everything inside simcomm is a plain float in SI base units:

=========  ==========================================  ==================
quantity   accepted strings (examples)                 internal unit
=========  ==========================================  ==================
duration   ``"25ms"`` ``"1.5s"`` ``"2min"`` ``"40us"``   seconds
size       ``"512B"`` ``"4KiB"`` ``"1MB"`` ``"2GiB"``    bytes
bandwidth  ``"100Mbps"`` ``"1Gbps"`` ``"12.5MB/s"``      bits per second
rate       ``"80/s"`` ``"5/min"`` ``"0.2/s"``            events per second
=========  ==========================================  ==================

A plain number (int or float, or a numeric string such as ``"0.025"``) means the SI base unit.
Decimal prefixes (k, M, G, T) are powers of 1000, binary prefixes (Ki, Mi, Gi) powers of 1024,
as in IEC 80000-13. This module is the only place where strings become numbers; every parser
raises :class:`UnitError` with a message that says what was expected.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "UnitError",
    "format_duration",
    "parse_bandwidth",
    "parse_duration",
    "parse_rate",
    "parse_size",
]


class UnitError(ValueError):
    """A quantity could not be parsed; the message says what is accepted."""


_NUM = r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"  # one way to match: no backtracking
_RE = re.compile(r"^\s*" + _NUM + r"\s*([A-Za-zµ/]*(?:/[A-Za-z]+)?)\s*$")

_DURATION = {
    "": 1.0, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9,
    "min": 60.0, "m": 60.0, "h": 3600.0, "hr": 3600.0,
}
_SIZE = {
    "": 1.0, "b": 1.0, "B": 1.0, "bytes": 1.0,
    "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
    "KiB": 1024.0, "MiB": 1024.0**2, "GiB": 1024.0**3, "TiB": 1024.0**4,
}
_BANDWIDTH = {
    "": 1.0, "bps": 1.0, "kbps": 1e3, "Kbps": 1e3, "Mbps": 1e6, "Gbps": 1e9, "Tbps": 1e12,
    "B/s": 8.0, "kB/s": 8e3, "KB/s": 8e3, "MB/s": 8e6, "GB/s": 8e9,
    "KiB/s": 8 * 1024.0, "MiB/s": 8 * 1024.0**2, "GiB/s": 8 * 1024.0**3,
}
_RATE_PER = {"": 1.0, "s": 1.0, "sec": 1.0, "ms": 1e3, "min": 1 / 60.0, "m": 1 / 60.0,
             "h": 1 / 3600.0, "hr": 1 / 3600.0}
_UNLIMITED = {"inf", "infinite", "unlimited"}
_LONGEST = 100
"""Longest text read as a quantity (a longer one is refused before it is matched)."""


def _split(value: object, what: str, example: str) -> tuple[float, str]:
    if isinstance(value, bool):
        raise UnitError(f"expected a {what} such as {example!r}, got {value!r}")
    if isinstance(value, int | float):
        return float(value), ""
    if not isinstance(value, str):
        raise UnitError(f"expected a {what} such as {example!r}, got {value!r}")
    if len(value) > _LONGEST:
        raise UnitError(f"cannot read a {len(value)}-character text as a {what}; write e.g. "
                        f"{example!r}")
    m = _RE.match(value)
    if not m:
        raise UnitError(f"cannot read {value!r} as a {what}; write e.g. {example!r}")
    return float(m.group(1)), m.group(2)


def _parse(value: object, table: dict[str, float], what: str, example: str) -> float:
    number, unit = _split(value, what, example)
    try:
        factor = table[unit]
    except KeyError:
        units = ", ".join(sorted(u for u in table if u))
        raise UnitError(
            f"unknown {what} unit {unit!r} in {value!r}; use one of: {units}"
        ) from None
    result = number * factor
    if not math.isfinite(result):
        raise UnitError(f"{value!r} is not a finite {what}")
    return result


def parse_duration(value: object) -> float:
    """Return *value* in seconds: ``"25ms"`` -> 0.025, ``2`` -> 2.0."""
    return _parse(value, _DURATION, "duration", "25ms")


def parse_size(value: object) -> float:
    """Return *value* in bytes: ``"4KiB"`` -> 4096.0, ``"1MB"`` -> 1e6."""
    return _parse(value, _SIZE, "size", "4KiB")


def parse_bandwidth(value: object) -> float:
    """Return *value* in bits per second; ``"unlimited"`` (or ``inf``) gives ``math.inf``."""
    if isinstance(value, str) and value.strip().lower() in _UNLIMITED:
        return math.inf
    if isinstance(value, float) and value == math.inf:
        return math.inf
    bw = _parse(value, _BANDWIDTH, "bandwidth", "100Mbps")
    if bw > 0 and not math.isfinite(8.0 / bw):
        raise UnitError(f"{value!r} is too small a bandwidth: the time to send one byte "
                        "is not a finite number")
    return bw


def parse_rate(value: object) -> float:
    """Return *value* in events per second: ``"80/s"`` -> 80.0, ``"5/min"`` -> 0.0833…"""
    rate = _parse_rate(value)
    if not math.isfinite(rate):
        raise UnitError(f"{value!r} is not a finite rate")
    if rate > 0 and not math.isfinite(1.0 / rate):
        raise UnitError(f"{value!r} is too small a rate: the mean time between events "
                        "(1/rate) is not a finite number")
    return rate


def _parse_rate(value: object) -> float:
    if isinstance(value, str) and "/" in value:
        head, _, per = value.partition("/")
        number, unit = _split(head.strip() or "1", "rate", "80/s")
        if unit:
            raise UnitError(f"cannot read {value!r} as a rate; write e.g. '80/s' or '5/min'")
        per = per.strip()
        try:
            factor = _RATE_PER[per]
        except KeyError:
            raise UnitError(
                f"unknown rate unit '/{per}' in {value!r}; use /s, /ms, /min or /h"
            ) from None
        return number * factor
    number, unit = _split(value, "rate", "80/s")
    if unit:
        raise UnitError(f"cannot read {value!r} as a rate; write e.g. '80/s' or '5/min'")
    return number


def format_duration(seconds: float) -> str:
    """A short human string for *seconds* (used in tables and plot labels)."""
    if not math.isfinite(seconds):
        return str(seconds)
    a = abs(seconds)
    if a == 0:
        return "0s"
    if a < 1e-3:
        return f"{seconds * 1e6:.3g}us"
    if a < 1:
        return f"{seconds * 1e3:.4g}ms"
    if a < 120:
        return f"{seconds:.4g}s"
    return f"{seconds / 60:.4g}min"
