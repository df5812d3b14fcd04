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
``sequence``       ``values: [..]``, returned in turn and then again from the first
                   (not random: for tests whose answer is worked out by hand)
=================  ==============================================================

Each distribution registers itself under its scenario name with :func:`register_dist`; the
class lists the keys it accepts in ``params`` and builds itself from them in ``from_params``.
:data:`DISTRIBUTIONS` maps every registered name to its class.
"""

from __future__ import annotations

import functools
import itertools
import math
import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from ._csvfile import CsvFileError, read_rows
from ._suggest import did_you_mean
from .rng import Buffered
from .units import UnitError, parse_duration, parse_rate, parse_size

__all__ = [
    "DISTRIBUTIONS",
    "Constant",
    "DistError",
    "Distribution",
    "Empirical",
    "Exponential",
    "LogNormal",
    "Sequence",
    "TruncNormal",
    "Uniform",
    "from_spec",
    "register_dist",
    "zero",
]

Z99 = 2.3263478740408408  # standard normal quantile at 0.99

Parse = Callable[[object], float]


class DistError(ValueError):
    """A distribution spec is wrong. *path* is relative to the spec (``""`` = the spec itself)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class Distribution:
    """Base class: ``mean``, ``variance`` and ``sampler(rng)`` returning a zero-arg callable.

    A subclass usable in scenarios is decorated with :func:`register_dist`, lists the spec keys
    it accepts (besides ``dist``) in ``params`` and builds itself in :meth:`from_params`.
    """

    name = "distribution"
    params: frozenset[str] = frozenset()

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

    def culprit(self, given: set[str]) -> str:
        """The spec key to blame when the mean or variance is not finite (of *given* keys)."""
        return min(given, default="")

    @classmethod
    def from_params(cls, params: dict, parse: Parse, *, allow_zero: bool,
                    base_dir: Path | None) -> Distribution:
        """Build from a spec's *params* (only keys in ``cls.params``; ``dist`` removed).

        Quantities are read with *parse*; *allow_zero* says whether a zero value is allowed
        where the distribution leaves that to the field; *base_dir* resolves relative paths.
        Raises :class:`DistError` naming the offending key.
        """
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# The registry: scenario name -> class

DISTRIBUTIONS: dict[str, type[Distribution]] = {}
"""Every distribution a scenario can name, in registration order."""

D = TypeVar("D", bound=type[Distribution])


def register_dist(name: str) -> Callable[[D], D]:
    """Class decorator: make the distribution available as ``dist: name`` in scenarios.

    The class must define ``params`` (its accepted keys) and ``from_params``. Registering a
    name twice is an error.
    """

    def deco(cls: D) -> D:
        if name in DISTRIBUTIONS:
            raise ValueError(f"distribution name {name!r} is already registered "
                             f"(by {DISTRIBUTIONS[name].__name__})")
        if not (isinstance(cls, type) and issubclass(cls, Distribution)):
            raise TypeError(f"{cls!r} is not a Distribution subclass")
        if "from_params" not in vars(cls) or not cls.params:
            raise TypeError(f"{cls.__name__} must define params and from_params to be "
                            "registered")
        cls.name = name
        DISTRIBUTIONS[name] = cls
        return cls

    return deco


def _need(spec: dict, name: str, *keys: str) -> None:
    """DistError on the first of *keys* missing from *spec* (*name* needs them together)."""
    for k in keys:
        if k not in spec:
            raise DistError(k, f"missing; {name} needs {' and '.join(keys)}")


def _number(spec: dict, key: str, what: str) -> float:
    """``spec[key]`` as a finite float (not a boolean, not NaN or infinite)."""
    v = spec[key]
    try:
        if isinstance(v, bool):
            raise ValueError
        x = float(v)
    except (TypeError, ValueError):
        raise DistError(key, f"must be {what}, got {v!r}") from None
    if not math.isfinite(x):
        raise DistError(key, f"must be a finite number, got {v!r}")
    return x


def _q(spec: dict, key: str, parse: Parse, *, positive=True, allow_zero=False) -> float:
    try:
        value = parse(spec[key])
    except UnitError as e:
        raise DistError(key, str(e)) from None
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        raise DistError(key, f"must be {'>= 0' if allow_zero else '> 0'}, got {spec[key]!r}")
    return value


# ---------------------------------------------------------------------------------------------
# The distributions


def zero() -> float:
    """A sampler that always gives 0.0: one function for every client that needs one (a
    lambda made per client is memory per client)."""
    return 0.0


# One draw function per distinct parameters, shared by every sampler of them: a world has
# samplers per client (its session lengths …), and a closure each is memory per client.
@functools.lru_cache(maxsize=256)
def _constant(value: float):
    return lambda: value


@functools.lru_cache(maxsize=256)
def _exponential(scale: float):
    return lambda g, n: g.exponential(scale, n)


@functools.lru_cache(maxsize=256)
def _uniform(lo: float, hi: float):
    return lambda g, n: g.uniform(lo, hi, n)


@functools.lru_cache(maxsize=256)
def _lognormal(mu: float, sigma: float):
    return lambda g, n: g.lognormal(mu, sigma, n)


@register_dist("constant")
@dataclass(frozen=True)
class Constant(Distribution):
    value: float
    params = frozenset({"value"})

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    def sampler(self, rng):
        return _constant(self.value)

    @classmethod
    def from_params(cls, params, parse, *, allow_zero, base_dir):
        _need(params, cls.name, "value")
        return cls(_q(params, "value", parse, allow_zero=allow_zero))


@register_dist("exponential")
@dataclass(frozen=True)
class Exponential(Distribution):
    mean_: float
    params = frozenset({"mean", "rate"})

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def variance(self) -> float:
        return self.mean_**2

    def sampler(self, rng):
        return Buffered(rng, _exponential(self.mean_))

    @classmethod
    def from_params(cls, params, parse, *, allow_zero, base_dir):
        if "rate" in params and "mean" not in params:
            try:
                rate = parse_rate(params["rate"])
            except UnitError as e:
                raise DistError("rate", str(e)) from None
            if rate <= 0:
                raise DistError("rate", f"must be > 0, got {params['rate']!r}")
            return cls(1.0 / rate)
        if "rate" in params:
            raise DistError("rate", "give either mean or rate, not both")
        _need(params, cls.name, "mean")
        return cls(_q(params, "mean", parse))


@register_dist("uniform")
@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float
    params = frozenset({"low", "high"})

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12

    def sampler(self, rng):
        return Buffered(rng, _uniform(self.low, self.high))

    def culprit(self, given):
        return "high"

    @classmethod
    def from_params(cls, params, parse, *, allow_zero, base_dir):
        _need(params, cls.name, "low", "high")
        lo = _q(params, "low", parse, allow_zero=True)
        hi = _q(params, "high", parse)
        if hi <= lo:
            raise DistError("high", f"must be > low ({params['low']!r}), got {params['high']!r}")
        return cls(lo, hi)


@register_dist("lognormal")
@dataclass(frozen=True)
class LogNormal(Distribution):
    mu: float
    sigma: float
    params = frozenset({"median", "p99", "mu", "sigma"})

    @classmethod
    def from_median_p99(cls, median: float, p99: float) -> LogNormal:
        return cls(math.log(median), (math.log(p99) - math.log(median)) / Z99)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    @property
    def variance(self) -> float:
        # (e^s² − 1)·e^(2μ+s²), written so that no factor overflows when the product does not
        s2 = self.sigma**2
        return -math.expm1(-s2) * math.exp(2 * self.mu + 2 * s2)

    def sampler(self, rng):
        return Buffered(rng, _lognormal(self.mu, self.sigma))

    def culprit(self, given):
        if "p99" in given:
            return "p99"
        return "sigma" if self.sigma**2 / 2 > abs(self.mu) else "mu"

    @classmethod
    def from_params(cls, params, parse, *, allow_zero, base_dir):
        if "median" in params or "p99" in params:
            if "mu" in params or "sigma" in params:
                raise DistError("mu", "give median and p99, or mu and sigma, not both")
            _need(params, cls.name, "median", "p99")
            med, p99 = _q(params, "median", parse), _q(params, "p99", parse)
            if p99 <= med:
                raise DistError("p99", f"must be > median ({params['median']!r}), "
                                f"got {params['p99']!r}")
            return cls.from_median_p99(med, p99)
        _need(params, cls.name, "mu", "sigma")
        mu, sigma = (_number(params, k, "a number: mu and sigma are plain numbers (log of SI "
                             "units)") for k in ("mu", "sigma"))
        if not sigma > 0:
            raise DistError("sigma", f"must be > 0, got {params['sigma']!r}")
        return cls(mu, sigma)


@register_dist("truncnormal")
@dataclass(frozen=True)
class TruncNormal(Distribution):
    """Normal(*loc*, *scale*) conditioned on [*low*, *high*] (rejection sampling)."""

    loc: float
    scale: float
    low: float = 0.0
    high: float = math.inf
    params = frozenset({"mean", "std", "low", "high"})

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

    def culprit(self, given):
        return "std"

    @classmethod
    def from_params(cls, params, parse, *, allow_zero, base_dir):
        _need(params, cls.name, "mean", "std")
        try:
            loc = parse(params["mean"])
        except UnitError as e:
            raise DistError("mean", str(e)) from None
        std = _q(params, "std", parse)
        lo = _q(params, "low", parse, allow_zero=True) if "low" in params else 0.0
        hi = _q(params, "high", parse) if "high" in params else math.inf
        if hi <= lo:
            raise DistError("high", f"must be > low, got {params['high']!r}")
        from scipy.stats import norm

        mass = norm.cdf((hi - loc) / std) - norm.cdf((lo - loc) / std)
        if not mass >= 1e-9:
            raise DistError("mean", f"a normal({params['mean']!r}, {params['std']!r}) has almost "
                            f"no probability inside [low, high] = [{lo:g}, {hi:g}]; move the "
                            "mean inside the range or widen std")
        return cls(loc, std, lo, hi)


@register_dist("empirical")
@dataclass(frozen=True)
class Empirical(Distribution):
    """Resamples uniformly (with replacement) from observed values."""

    samples: tuple[float, ...]
    params = frozenset({"samples", "file", "column"})

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))

    @property
    def variance(self) -> float:
        return float(np.var(self.samples))

    def sampler(self, rng):
        values = np.asarray(self.samples, dtype=float)
        return Buffered(rng, lambda g, n: g.choice(values, n))

    def culprit(self, given):
        return "samples" if "samples" in given else "file"

    @classmethod
    def from_params(cls, params, parse, *, allow_zero, base_dir):
        if ("samples" in params) == ("file" in params):
            raise DistError("samples", "give exactly one of samples: [..] or file: path.csv")
        if "samples" in params:
            raw = params["samples"]
            if not isinstance(raw, list) or not raw:
                raise DistError("samples", "must be a non-empty list of values")
            try:
                values = tuple(parse(v) for v in raw)
            except UnitError as e:
                raise DistError("samples", str(e)) from None
        else:
            values = _read_trace(str(params["file"]), params.get("column"), parse, base_dir)
            if not values:
                raise DistError("file", "the trace holds no values")
        where = "samples" if "samples" in params else "file"
        if min(values) < 0:
            raise DistError(where, "values must be >= 0")
        if not allow_zero and max(values) == 0:
            raise DistError(where, "values must not all be 0")
        return cls(values)


@register_dist("sequence")
@dataclass(frozen=True)
class Sequence(Distribution):
    """The given values in turn, then again from the first (like Ciw's ``Sequential``).

    Not random (the stream is ignored): for tests whose answer is computed by hand. ``mean``
    and ``variance`` are those of the values taken as equally likely (population variance),
    which is what a run sees over whole cycles.
    """

    values: tuple[float, ...]
    params = frozenset({"values"})

    def __str__(self) -> str:
        return f"{self.name}(values=[{', '.join(f'{v:g}' for v in self.values)}])"

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def variance(self) -> float:
        return float(statistics.pvariance(self.values))

    def sampler(self, rng):
        return itertools.cycle(self.values).__next__

    @classmethod
    def from_params(cls, params, parse, *, allow_zero, base_dir):
        _need(params, cls.name, "values")
        raw = params["values"]
        if not isinstance(raw, (list, tuple)) or not raw:
            raise DistError("values", f"must be a non-empty list of values, got {raw!r}")
        values = []
        for i, v in enumerate(raw):
            try:
                x = parse(v)
            except UnitError as e:
                raise DistError(f"values.{i}", str(e)) from None
            if x < 0 or (x == 0 and not allow_zero):
                raise DistError(f"values.{i}",
                                f"must be {'>= 0' if allow_zero else '> 0'}, got {v!r}")
            values.append(float(x))
        return cls(tuple(values))


# ---------------------------------------------------------------------------------------------
# Specs from scenarios


_EXPECTED = {parse_duration: "a duration (seconds, or e.g. 25ms)",
             parse_size: "a size (bytes, or e.g. 2KiB)"}


def _read_trace(path: str, column: object, parse, base_dir: Path | None) -> tuple:
    """The values of one column of a CSV file. Messages name the file, the line and what
    was expected, never what the file holds (a scenario may name any file)."""
    p = Path(path)
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    try:
        rows = read_rows(p)
    except CsvFileError as e:
        raise DistError("file", str(e)) from None
    name = repr(str(p))
    if not rows:
        raise DistError("file", f"{name} is empty")
    header, body = rows[0][1], rows[1:]
    try:  # no header row: the first row is data
        parse(header[0])
        header, body = [str(i) for i in range(len(header))], rows
        has_header = False
    except UnitError:
        has_header = True
    if column is None:
        idx = 0
    elif str(column) in header:
        idx = header.index(str(column))
    elif has_header:
        raise DistError("column", f"no column {str(column)!r} in the header row (line "
                        f"{rows[0][0]}) of {name}, which has {len(header)} column(s); names "
                        "are case-sensitive")
    else:
        raise DistError("column", f"no column {str(column)!r}: {name} has no header row, so "
                        f"its columns are named 0 to {len(header) - 1}")
    what = _EXPECTED.get(parse, "a number")
    col = f"column {idx + 1}" + (f" ({str(column)!r})" if column is not None else "")
    values = []
    for line, row in body:
        if idx >= len(row):
            raise DistError("file", f"line {line} of {name} has {len(row)} column(s); "
                            f"{col} is missing")
        cell = row[idx]
        if not cell.strip():
            continue
        try:
            values.append(parse(cell))
        except UnitError:
            raise DistError("file", f"line {line} of {name}, {col}: expected {what}") from None
    return tuple(values)


def from_spec(spec: object, parse: Parse, *,
              allow_zero: bool = True, base_dir: Path | None = None) -> Distribution:
    """Build a :class:`Distribution` from a scenario spec; quantities read with *parse*.

    A plain quantity is a :class:`Constant`; a mapping names a registered distribution in
    ``dist`` and gives its parameters. Raises :class:`DistError` naming the offending key.
    """
    if isinstance(spec, Distribution):
        return spec
    if not isinstance(spec, dict):
        if isinstance(spec, list | tuple):
            raise DistError("", f"expected {_EXPECTED.get(parse, 'a quantity')} or a "
                            "distribution {dist: NAME, …}, got a list")
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
        raise DistError("dist", "missing; name a distribution: " + ", ".join(DISTRIBUTIONS))
    if not isinstance(name, str) or name not in DISTRIBUTIONS:
        raise DistError("dist", f"unknown distribution {name!r}"
                        f"{did_you_mean(str(name), DISTRIBUTIONS)}"
                        f" (known: {', '.join(DISTRIBUTIONS)})")
    cls = DISTRIBUTIONS[name]
    for key in spec:
        if key not in cls.params:
            raise DistError(key, f"unknown parameter for {name}{did_you_mean(key, cls.params)}"
                            f" (accepted: {', '.join(sorted(cls.params))})")
    dist = cls.from_params(spec, parse, allow_zero=allow_zero, base_dir=base_dir)
    try:  # quietly: an overflow is reported as the one-line error below, not as a warning
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            finite = math.isfinite(dist.mean) and math.isfinite(dist.variance)
    except (OverflowError, ValueError, ZeroDivisionError):
        finite = False
    if not finite:
        raise DistError(dist.culprit(set(spec)), f"{dist} has no finite mean and variance "
                        "(its values are too large for floating point); make it smaller")
    return dist
