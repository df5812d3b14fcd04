"""Statistics across replications: Student-t intervals and paired differences; and the MSER-5
warm-up truncation of one run's output series.

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
from dataclasses import dataclass

import numpy as np

__all__ = ["Interval", "Truncation", "crossovers", "mser", "paired_difference", "t_interval"]

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


@dataclass(frozen=True)
class Truncation:
    """What MSER-m found in one output series (:func:`mser`)."""

    drop: int
    """Observations to discard from the start (a multiple of the batch size)."""
    batches: int
    """Batch means the series gave (its length // batch size)."""
    statistic: float
    """MSER(d*) = Σ_{j>d*} (Z_j − Z̄_{d*})² / (k − d*)², the minimised statistic."""
    settled: bool
    """False when the minimum lies at the end of the searched first half, or the series was
    too short for 4 batches: the run did not clearly reach a steady state — lengthen it."""


def mser(values: Sequence[float], batch: int = 5) -> Truncation:
    """The MSER-*batch* truncation point of an output series (MSER-5 with the default).

    The series (in the order its observations were made) is cut into k = ⌊n / batch⌋ batch
    means Z_1 … Z_k (a trailing partial batch is left out). For each d the statistic
    MSER(d) = Σ_{j=d+1..k} (Z_j − Z̄_d)² / (k − d)², Z̄_d the mean of the batches kept, is
    the squared half-width (up to a constant) of the confidence interval of the truncated
    mean: it falls while initialisation bias is removed and rises once deleting more only
    loses data. d* minimises it over d ≤ k/2, the rule's usual search range (White 1997;
    White, Cobb & Spratt 2000; Hoad, Robinson & Davies 2010, who found MSER-5 the most
    reliable of the automatic warm-up rules they compared); ``drop`` = batch·d*."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a whole number ≥ 1, got {batch!r}")
    x = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(x).all():
        raise ValueError("the series has non-finite values")
    k = x.size // batch
    if k < 4:
        return Truncation(0, k, math.nan, False)
    z = x[:k * batch].reshape(k, batch).mean(axis=1)
    z = z - z.mean()                                    # numerically kinder sums
    s1 = np.cumsum(z[::-1])[::-1]                        # Σ_{j≥d} Z_j, d = 0 … k−1
    s2 = np.cumsum((z * z)[::-1])[::-1]
    m = np.arange(k, 0, -1, dtype=float)                 # k − d batches kept
    stat = np.maximum(s2 - s1 * s1 / m, 0.0) / (m * m)
    last = k // 2
    d = int(np.argmin(stat[:last + 1]))
    return Truncation(d * batch, k, float(stat[d]), d < last)
