"""Distributions of durations and sizes.

Every distribution knows its theory (``mean``, ``variance``) and builds a fast sampler on a
named random stream (see :mod:`simcomm.rng`). Values are SI floats (seconds or bytes); the unit
strings of a scenario are parsed by :func:`from_spec` with the parser of the quantity.

A spec in a scenario is either a plain quantity (a constant: ``service_time: 10ms``) or a
mapping with ``dist`` and that distribution's parameters:

=================  ==============================================================
``constant``       ``value``
``exponential``    ``mean`` (or ``rate``)
``uniform``        ``low``, ``high``
``lognormal``      ``median`` and ``p99``, or ``mu`` and ``sigma`` (of log seconds/bytes)
``truncnormal``    ``mean``, ``std``, optional ``low`` (default 0) and ``high``
``empirical``      ``samples: [..]`` inline, or ``file: trace.csv`` with optional ``column``
=================  ==============================================================
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._suggest import did_you_mean
from .rng import Buffered
from .units import UnitError, parse_rate

__all__ = [
    "Constant",
    "DistError",
    "Distribution",
    "Empirical",
    "Exponential",
    "LogNormal",
    "TruncNormal",
    "Uniform",
    "from_spec",
]

Z99 = 2.3263478740408408  # standard normal quantile at 0.99


class DistError(ValueError):
    """A distribution spec is wrong. *path* is relative to the spec (``""`` = the spec itself)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class Distribution:
    """Base class: ``mean``, ``variance`` and ``sampler(rng)`` returning a zero-arg callable."""

    name = "distribution"

    def __str__(self) -> str:
        """The spec in scenario terms (SI units): ``exponential(mean=10)``."""
        fields = ", ".join(f"{k.rstrip('_')}={v:g}" for k, v in vars(self).items()
                           if isinstance(v, float))
        return f"{self.name}({fields})"

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def variance(self) -> float:
        raise NotImplementedError

    def sampler(self, rng: np.random.Generator) -> Callable[[], float]:
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Distribution):
    value: float
    name = "constant"

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    def sampler(self, rng):
        v = self.value
        return lambda: v


@dataclass(frozen=True)
class Exponential(Distribution):
    mean_: float
    name = "exponential"

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def variance(self) -> float:
        return self.mean_**2

    def sampler(self, rng):
        scale = self.mean_
        return Buffered(rng, lambda g, n: g.exponential(scale, n))


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float
    name = "uniform"

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12

    def sampler(self, rng):
        lo, hi = self.low, self.high
        return Buffered(rng, lambda g, n: g.uniform(lo, hi, n))


@dataclass(frozen=True)
class LogNormal(Distribution):
    mu: float
    sigma: float
    name = "lognormal"

    @classmethod
    def from_median_p99(cls, median: float, p99: float) -> LogNormal:
        return cls(math.log(median), (math.log(p99) - math.log(median)) / Z99)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    @property
    def variance(self) -> float:
        s2 = self.sigma**2
        return (math.exp(s2) - 1) * math.exp(2 * self.mu + s2)

    def sampler(self, rng):
        mu, sigma = self.mu, self.sigma
        return Buffered(rng, lambda g, n: g.lognormal(mu, sigma, n))


@dataclass(frozen=True)
class TruncNormal(Distribution):
    """Normal(*loc*, *scale*) conditioned on [*low*, *high*] (rejection sampling)."""

    loc: float
    scale: float
    low: float = 0.0
    high: float = math.inf
    name = "truncnormal"

    def _moments(self) -> tuple[float, float]:
        from scipy.stats import truncnorm

        a = (self.low - self.loc) / self.scale
        b = (self.high - self.loc) / self.scale
        m, v = truncnorm.stats(a, b, loc=self.loc, scale=self.scale, moments="mv")
        return float(m), float(v)

    @property
    def mean(self) -> float:
        return self._moments()[0]

    @property
    def variance(self) -> float:
        return self._moments()[1]

    def sampler(self, rng):
        from scipy.stats import truncnorm

        a = (self.low - self.loc) / self.scale
        b = (self.high - self.loc) / self.scale
        loc, scale = self.loc, self.scale
        # inverse-CDF sampling: exact, and it never loops however little mass is inside
        return Buffered(rng, lambda g, n: truncnorm.rvs(a, b, loc=loc, scale=scale, size=n,
                                                        random_state=g))


@dataclass(frozen=True)
class Empirical(Distribution):
    """Resamples uniformly (with replacement) from observed values."""

    samples: tuple[float, ...]
    name = "empirical"

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))

    @property
    def variance(self) -> float:
        return float(np.var(self.samples))

    def sampler(self, rng):
        values = np.asarray(self.samples, dtype=float)
        return Buffered(rng, lambda g, n: g.choice(values, n))


# ---------------------------------------------------------------------------------------------
# Specs from scenarios

_PARAMS = {
    "constant": {"value"},
    "exponential": {"mean", "rate"},
    "uniform": {"low", "high"},
    "lognormal": {"median", "p99", "mu", "sigma"},
    "truncnormal": {"mean", "std", "low", "high"},
    "empirical": {"samples", "file", "column"},
}




def _q(spec: dict, key: str, parse: Callable[[object], float], *, positive=True,
       allow_zero=False) -> float:
    try:
        value = parse(spec[key])
    except UnitError as e:
        raise DistError(key, str(e)) from None
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        raise DistError(key, f"must be {'>= 0' if allow_zero else '> 0'}, got {spec[key]!r}")
    return value


def _read_trace(path: str, column: str | None, parse, base_dir: Path | None) -> tuple:
    p = Path(path)
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    if not p.is_file():
        raise DistError("file", f"no such file: {str(p)!r}")
    with p.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise DistError("file", f"{str(p)!r} is empty")
    header, body = rows[0], rows[1:]
    try:  # no header row: the first row is data
        [parse(x) for x in header[:1]]
        header, body = [str(i) for i in range(len(rows[0]))], rows
    except UnitError:
        pass
    if column is None:
        idx = 0
    elif column in header:
        idx = header.index(column)
    else:
        raise DistError("column", f"no column {column!r} in {str(p)!r} (has {header})")
    try:
        return tuple(parse(r[idx]) for r in body if r and r[idx].strip())
    except (UnitError, IndexError) as e:
        raise DistError("file", f"bad value in {str(p)!r}: {e}") from None


def from_spec(spec: object, parse: Callable[[object], float], *,
              allow_zero: bool = True, base_dir: Path | None = None) -> Distribution:
    """Build a :class:`Distribution` from a scenario spec; quantities read with *parse*.

    Raises :class:`DistError` naming the offending key.
    """
    if isinstance(spec, Distribution):
        return spec
    if not isinstance(spec, dict):
        try:
            value = parse(spec)
        except UnitError as e:
            raise DistError("", str(e)) from None
        if value < 0 or (value == 0 and not allow_zero):
            raise DistError("", f"must be {'>= 0' if allow_zero else '> 0'}, got {spec!r}")
        return Constant(value)
    spec = dict(spec)
    name = spec.pop("dist", None)
    if name is None:
        raise DistError("dist", "missing; name a distribution: " + ", ".join(_PARAMS))
    if not isinstance(name, str) or name not in _PARAMS:
        raise DistError("dist", f"unknown distribution {name!r}{did_you_mean(str(name), _PARAMS)}"
                        f" (known: {', '.join(_PARAMS)})")
    for key in spec:
        if key not in _PARAMS[name]:
            raise DistError(key, f"unknown parameter for {name}{did_you_mean(key, _PARAMS[name])}"
                            f" (accepted: {', '.join(sorted(_PARAMS[name]))})")

    def need(*keys: str) -> None:
        for k in keys:
            if k not in spec:
                raise DistError(k, f"missing; {name} needs {' and '.join(keys)}")

    if name == "constant":
        need("value")
        return Constant(_q(spec, "value", parse, allow_zero=allow_zero))
    if name == "exponential":
        if "rate" in spec and "mean" not in spec:
            try:
                rate = parse_rate(spec["rate"])
            except UnitError as e:
                raise DistError("rate", str(e)) from None
            if rate <= 0:
                raise DistError("rate", f"must be > 0, got {spec['rate']!r}")
            return Exponential(1.0 / rate)
        if "rate" in spec:
            raise DistError("rate", "give either mean or rate, not both")
        need("mean")
        return Exponential(_q(spec, "mean", parse))
    if name == "uniform":
        need("low", "high")
        lo = _q(spec, "low", parse, allow_zero=True)
        hi = _q(spec, "high", parse)
        if hi <= lo:
            raise DistError("high", f"must be > low ({spec['low']!r}), got {spec['high']!r}")
        return Uniform(lo, hi)
    if name == "lognormal":
        if "median" in spec or "p99" in spec:
            if "mu" in spec or "sigma" in spec:
                raise DistError("mu", "give median and p99, or mu and sigma, not both")
            need("median", "p99")
            med, p99 = _q(spec, "median", parse), _q(spec, "p99", parse)
            if p99 <= med:
                raise DistError("p99", f"must be > median ({spec['median']!r}), "
                                f"got {spec['p99']!r}")
            return LogNormal.from_median_p99(med, p99)
        need("mu", "sigma")
        try:
            mu, sigma = float(spec["mu"]), float(spec["sigma"])
        except (TypeError, ValueError):
            raise DistError("mu", "mu and sigma are plain numbers (log of SI units)") from None
        if not sigma > 0:
            raise DistError("sigma", f"must be > 0, got {spec['sigma']!r}")
        return LogNormal(mu, sigma)
    if name == "truncnormal":
        need("mean", "std")
        try:
            loc = parse(spec["mean"])
        except UnitError as e:
            raise DistError("mean", str(e)) from None
        std = _q(spec, "std", parse)
        lo = _q(spec, "low", parse, allow_zero=True) if "low" in spec else 0.0
        hi = _q(spec, "high", parse) if "high" in spec else math.inf
        if hi <= lo:
            raise DistError("high", f"must be > low, got {spec['high']!r}")
        from scipy.stats import norm

        mass = norm.cdf((hi - loc) / std) - norm.cdf((lo - loc) / std)
        if not mass >= 1e-9:
            raise DistError("mean", f"a normal({spec['mean']!r}, {spec['std']!r}) has almost no "
                            f"probability inside [low, high] = [{lo:g}, {hi:g}]; move the mean "
                            "inside the range or widen std")
        return TruncNormal(loc, std, lo, hi)
    # empirical
    if ("samples" in spec) == ("file" in spec):
        raise DistError("samples", "give exactly one of samples: [..] or file: path.csv")
    if "samples" in spec:
        raw = spec["samples"]
        if not isinstance(raw, list) or not raw:
            raise DistError("samples", "must be a non-empty list of values")
        try:
            values = tuple(parse(v) for v in raw)
        except UnitError as e:
            raise DistError("samples", str(e)) from None
    else:
        values = _read_trace(str(spec["file"]), spec.get("column"), parse, base_dir)
        if not values:
            raise DistError("file", "the trace holds no values")
    where = "samples" if "samples" in spec else "file"
    if min(values) < 0:
        raise DistError(where, "values must be >= 0")
    if not allow_zero and max(values) == 0:
        raise DistError(where, "values must not all be 0")
    return Empirical(values)
