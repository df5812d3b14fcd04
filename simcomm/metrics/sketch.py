"""A streaming quantile sketch for runs too long to keep every latency (``latency_sketch``).

:class:`Sketch` is DDSketch (Masson, Rim & Lee, "DDSketch: a fast and fully-mergeable quantile
sketch with relative-error guarantees", VLDB 2019) for non-negative values: with relative
accuracy α, value x > 0 goes to bucket i = ⌈log_γ x⌉ with γ = (1 + α)/(1 − α), i.e. the bucket
(γ^(i−1), γ^i]; the bucket answers 2γ^i/(γ + 1), within α·x of every value in it. So the
q-quantile it returns — the order statistic x_(k), k = ⌊q·(n − 1)⌋ (0-based), of the n values
added — is within a relative error α of that order statistic, **whatever the distribution**
(the largest, q = 1, exactly), and memory is one counter per bucket used:
⌈log(max/min)/log γ⌉, about 1 000 buckets for α = 1 % over nine decades (1 µs to 1 000 s),
however long the run. Zero goes to a bucket of its
own and is answered exactly. Count, sum (so the mean) and maximum are kept exactly.

A run's ``latency_p50`` etc. are NumPy's linear interpolation between the order statistics
x_(k) and x_(k+1) around q·(n − 1); with the sketch they are the estimate of x_(k): the gap
between two neighbouring latencies comes on top of α (nothing, for all practical n).
"""

from __future__ import annotations

import math

__all__ = ["Sketch"]


class Sketch:
    """Relative-accuracy quantiles of a stream of non-negative values (see the module)."""

    __slots__ = ("_buckets", "_lg", "alpha", "count", "gamma", "max", "sum", "zeros")

    def __init__(self, alpha: float) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        self.alpha = alpha
        self.gamma = (1 + alpha) / (1 - alpha)
        self._lg = math.log(self.gamma)
        self._buckets: dict[int, int] = {}
        self.zeros = 0
        self.count = 0
        self.sum = 0.0
        self.max = -math.inf

    def add(self, x: float) -> None:
        self.count += 1
        self.sum += x
        if x > self.max:
            self.max = x
        if x > 0.0:
            i = math.ceil(math.log(x) / self._lg)
            b = self._buckets
            b[i] = b.get(i, 0) + 1
        else:
            self.zeros += 1

    def quantile(self, q: float) -> float:
        """The estimate of the order statistic x_(⌊q·(n − 1)⌋); NaN when empty."""
        if not self.count:
            return math.nan
        rank = math.floor(q * (self.count - 1))
        if rank >= self.count - 1:
            return self.max  # kept exactly
        if rank < self.zeros:
            return 0.0
        seen = self.zeros
        for i in sorted(self._buckets):
            seen += self._buckets[i]
            if seen > rank:
                return min(2.0 * self.gamma ** i / (self.gamma + 1.0), self.max)
        return self.max  # pragma: no cover - rank < count always lands in a bucket

    @property
    def buckets(self) -> int:
        """Buckets in use (the sketch's memory, one counter each)."""
        return len(self._buckets) + (self.zeros > 0)
