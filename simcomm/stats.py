"""Statistics across replications: Student-t intervals and paired differences.

Replications are independent runs (distinct seeds), so one value per replication (a run's
``latency_p99``, its ``messages``) is i.i.d. and a Student-t interval with R − 1 degrees of
freedom is the right interval for its mean. Values within one run (per-request latencies) are
autocorrelated and never used for this.

Pattern entries of one run share common random numbers (the same workload), so two patterns'
values of the same replication are paired: the interval of their per-replication difference is
much narrower than the two intervals side by side suggest.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

__all__ = ["Interval", "crossovers", "paired_difference", "t_interval"]

CONFIDENCE = 0.95


class Interval(tuple):
    """``(mean, ci_low, ci_high, n)``: a Student-t interval of a mean; the bounds are NaN
    with fewer than two finite values, the mean NaN with none."""

    __slots__ = ()

    def __new__(cls, mean: float, low: float, high: float, n: int) -> Interval:
        return super().__new__(cls, (mean, low, high, n))

    mean = property(lambda self: self[0])
    low = property(lambda self: self[1])
    high = property(lambda self: self[2])
    n = property(lambda self: self[3])

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """The two-sided Student-t interval of the mean of *values* (one per replication):
    mean ± t_{n−1, (1+confidence)/2} · s / √n, s the sample standard deviation. Non-finite
    values (a metric a run could not measure, NaN) are left out and not counted in ``n``."""
    from scipy.stats import t

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    x = np.asarray(values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired_difference(a: Sequence[float], b: Sequence[float],
                      confidence: float = CONFIDENCE) -> Interval:
    """The interval of the mean of ``a[i] − b[i]`` (the same replication of two patterns);
    pairs where either value is not finite are left out."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired values need the same length, got {x.size} and {y.size}")
    return t_interval(x - y, confidence)


def _zero(xa: float, ya: float, xb: float, yb: float) -> float:
    """Where the line through (xa, ya) and (xb, yb) crosses y = 0 (xa when ya = yb = 0)."""
    if ya == yb:
        return xa
    return xa + ya / (ya - yb) * (xb - xa)


def crossovers(x: Sequence[float], mean: Sequence[float], low: Sequence[float],
               high: Sequence[float], *, log: bool = False) -> list[dict]:
    """Where a paired difference ``a − b`` (its mean and interval at each *x*, sorted by x)
    changes sign: one ``{"at", "at_low", "at_high", "sign_before"}`` per change.

    ``at`` is where the mean difference crosses zero (linear interpolation between the two
    grid values around it; in log x with *log*). ``[at_low, at_high]`` is where the difference
    is not resolved: from where the interval last excluded zero on the side before the change
    (its bound nearer zero crossing zero, interpolated) to where it first excludes zero on the
    other side; NaN when the grid never resolves that side. ``sign_before`` is −1 when a < b
    before the change (a > b after it), +1 the other way. Points with a NaN mean are left
    out; a mean of exactly zero is not a change by itself."""
    keep = [i for i in range(len(x)) if math.isfinite(mean[i])]
    xs = np.asarray([x[i] for i in keep], dtype=float)
    if log:
        if np.any(xs <= 0):
            raise ValueError("a log scale needs x > 0")
        xs = np.log(xs)
    m = np.asarray([mean[i] for i in keep], dtype=float)
    lo = np.asarray([low[i] for i in keep], dtype=float)
    hi = np.asarray([high[i] for i in keep], dtype=float)
    back = np.exp if log else (lambda v: v)
    found = []
    nonzero = [i for i in range(len(m)) if m[i] != 0]
    for i, k in itertools.pairwise(nonzero):
        if np.sign(m[i]) == np.sign(m[k]):
            continue
        s = float(np.sign(m[i]))
        # before: confident while u < 0; after: confident once v > 0 (signs folded by s)
        u = hi if s < 0 else -lo
        v = lo if s < 0 else -hi
        mm = m if s < 0 else -m
        at = _zero(xs[i], mm[i], xs[k], mm[k])
        j = next((j for j in range(i, -1, -1) if u[j] < 0), None)
        at_low = math.nan if j is None else _zero(xs[j], u[j], xs[j + 1], u[j + 1])
        q = next((q for q in range(k, len(m)) if v[q] > 0), None)
        at_high = math.nan if q is None else _zero(xs[q - 1], v[q - 1], xs[q], v[q])
        found.append({"at": float(back(at)), "at_low": float(back(at_low)),
                      "at_high": float(back(at_high)), "sign_before": int(s)})
    return found
