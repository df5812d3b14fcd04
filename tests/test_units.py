"""Unit strings become SI floats in one place: simcomm.units."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simcomm.units import (
    UnitError,
    format_duration,
    parse_bandwidth,
    parse_duration,
    parse_rate,
    parse_size,
)

# --------------------------------------------------------------------------------------------
# Good input: (text, value in SI units)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("25ms", 0.025),
        ("1.5s", 1.5),
        ("2min", 120.0),
        ("40us", 40e-6),
        ("40µs", 40e-6),
        ("7ns", 7e-9),
        ("1h", 3600.0),
        ("3 s", 3.0),
        (" 10ms ", 0.010),
        ("1e-3s", 1e-3),
        (".5s", 0.5),
        ("0.025", 0.025),
        ("2", 2.0),
        (2, 2.0),
        (0.25, 0.25),
        ("0s", 0.0),
    ],
)
def test_parse_duration(text, seconds):
    """Durations are read in seconds; a plain number or numeric string already means seconds."""
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [
        ("512B", 512.0),
        ("4KiB", 4096.0),
        ("1MB", 1e6),
        ("1MiB", 1024.0**2),
        ("2GiB", 2 * 1024.0**3),
        ("1kB", 1e3),
        ("1.5KiB", 1536.0),
        ("100 bytes", 100.0),
        ("300", 300.0),
        (300, 300.0),
    ],
)
def test_parse_size(text, nbytes):
    """Sizes are read in bytes; decimal prefixes are powers of 1000, binary (Ki, Mi) of 1024."""
    assert parse_size(text) == pytest.approx(nbytes, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("100Mbps", 1e8),
        ("1Gbps", 1e9),
        ("12.5MB/s", 1e8),
        ("1KiB/s", 8192.0),
        ("56kbps", 56e3),
        ("1000", 1000.0),
        ("unlimited", math.inf),
        ("Unlimited", math.inf),
        ("inf", math.inf),
        (math.inf, math.inf),
    ],
)
def test_parse_bandwidth(text, bps):
    """Bandwidths are read in bits per second (bytes/s × 8); 'unlimited' means infinity."""
    assert parse_bandwidth(text) == pytest.approx(bps, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("80/s", 80.0),
        ("5/min", 5 / 60),
        ("0.2/s", 0.2),
        ("3/ms", 3000.0),
        ("36/h", 0.01),
        ("80 / s", 80.0),
        ("/s", 1.0),
        ("12", 12.0),
        (12, 12.0),
    ],
)
def test_parse_rate(text, per_second):
    """Rates are read in events per second, whatever the time unit after the slash."""
    assert parse_rate(text) == pytest.approx(per_second, rel=1e-12)


@given(st.floats(min_value=0, exclude_min=True, allow_nan=False, allow_infinity=False))
def test_milliseconds_are_thousandths_of_seconds(x):
    """For any positive float x, 'x ms' is x/1000 seconds (Python's repr, exponents included)."""
    assert parse_duration(f"{x}ms") == pytest.approx(x / 1000)


# --------------------------------------------------------------------------------------------
# Bad input: every parser raises UnitError, and the message says what would have worked.


@pytest.mark.parametrize(
    ("parse", "text", "accepted"),
    [
        (parse_duration, "25mss", ["ms", "s", "min", "us"]),
        (parse_duration, "3 lightyears", ["ms", "s"]),
        (parse_size, "4KB/s", ["B", "KiB", "MB"]),
        (parse_size, "2Kib", ["KiB", "MiB"]),
        (parse_bandwidth, "100Mbit", ["Mbps", "Gbps", "MB/s"]),
        (parse_rate, "80/fortnight", ["/s", "/ms", "/min", "/h"]),
    ],
)
def test_unknown_unit_lists_accepted_units(parse, text, accepted):
    """An unknown unit names the offending unit and lists the accepted ones."""
    with pytest.raises(UnitError) as info:
        parse(text)
    message = str(info.value)
    assert "unknown" in message
    assert repr(text) in message
    for unit in accepted:
        assert unit in message


@pytest.mark.parametrize(
    ("parse", "text", "example"),
    [
        (parse_duration, "fast", "25ms"),
        (parse_duration, "ms", "25ms"),
        (parse_duration, "1.2.3s", "25ms"),
        (parse_size, "big", "4KiB"),
        (parse_bandwidth, "fast", "100Mbps"),
        (parse_rate, "often", "80/s"),
        (parse_rate, "5ms/s", "80/s"),
        (parse_rate, "5ms", "80/s"),
    ],
)
def test_unreadable_string_gives_an_example(parse, text, example):
    """A string that is not a number with a unit is refused with an example of good input."""
    with pytest.raises(UnitError, match="cannot read") as info:
        parse(text)
    assert example in str(info.value)


@pytest.mark.parametrize("parse", [parse_duration, parse_size, parse_bandwidth, parse_rate])
@pytest.mark.parametrize("value", [None, True, [1], {"a": 1}])
def test_non_quantities_are_refused(parse, value):
    """Values that are neither numbers nor strings (or are booleans) raise UnitError."""
    with pytest.raises(UnitError, match="expected a"):
        parse(value)


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_duration, "1e400s"),
        (parse_duration, math.nan),
        (parse_size, "1e400B"),
        (parse_bandwidth, "1e400bps"),
    ],
)
def test_non_finite_values_are_refused(parse, text):
    """An overflowing or NaN quantity is refused rather than turned into inf or nan."""
    with pytest.raises(UnitError, match="finite"):
        parse(text)


@pytest.mark.parametrize("text", ["1e400/s", "1e400", math.inf])
def test_non_finite_rates_are_refused(text):
    """A rate that overflows to infinity is refused like any other non-finite quantity."""
    with pytest.raises(UnitError):
        parse_rate(text)


def test_unit_error_is_a_value_error():
    """UnitError subclasses ValueError, so generic validation code can catch it."""
    assert issubclass(UnitError, ValueError)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (40e-6, "40us"), (0.025, "25ms"), (1.5, "1.5s"), (300, "5min")],
)
def test_format_duration(seconds, text):
    """format_duration picks a readable unit, and parse_duration reads its output back."""
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
