"""Distributions: specs from scenarios, their theory (mean, variance), sampling and streams."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from simcomm import ScenarioError, load
from simcomm.dists import (
    DISTRIBUTIONS,
    Constant,
    DistError,
    Distribution,
    Empirical,
    Exponential,
    LogNormal,
    Sequence,
    TruncNormal,
    Uniform,
    from_spec,
    register_dist,
)
from simcomm.rng import BLOCK, Buffered, Streams
from simcomm.units import parse_duration, parse_size

# Sample size for the statistical checks: large enough that the tolerances below are a few
# percent of the quantity tested (asserted, so a test that cannot fail is caught), small
# enough to draw in a few tens of milliseconds.
N = 200_000

# Two-sided tolerance, in standard errors, for a sample statistic against its theory. The
# draws are iid, so by the CLT the standardised error is ~N(0, 1): P(|Z| > 4.5) ≈ 7e-6 per
# check, so across the few dozen checks of this file a false alarm has probability < 1e-3, and
# the streams are seeded, so a given build passes or fails the same way on every run.
Z = 4.5


def draw(dist, n: int = N, seed: int = 2024, name: str = "test") -> np.ndarray:
    """*n* draws from *dist* through its public sampler on a named stream."""
    sample = dist.sampler(Streams(seed).generator(name))
    return np.fromiter((sample() for _ in range(n)), dtype=float, count=n)


def assert_mean_agrees(dist, x: np.ndarray) -> None:
    """The sample mean is within Z standard errors (sqrt(variance / n)) of ``dist.mean``."""
    se = math.sqrt(dist.variance / x.size)
    assert Z * se < 0.02 * dist.mean, "sample too small for this check to mean anything"
    assert abs(x.mean() - dist.mean) <= Z * se


# --------------------------------------------------------------------------------------------
# Specs


@pytest.mark.parametrize(
    ("spec", "parse", "value"),
    [("10ms", parse_duration, 0.010), (0.5, parse_duration, 0.5), ("2KiB", parse_size, 2048.0),
     ({"dist": "constant", "value": "3ms"}, parse_duration, 0.003)],
)
def test_plain_quantity_is_a_constant(spec, parse, value):
    """A plain quantity (or dist: constant) is a Constant in SI units, with zero variance."""
    d = from_spec(spec, parse)
    assert d == Constant(pytest.approx(value))
    assert d.mean == pytest.approx(value)
    assert d.variance == 0
    assert d.sampler(None)() == pytest.approx(value)


def test_exponential_by_mean_and_by_rate():
    """An exponential is given by its mean or by its rate; both give mean = 1/rate."""
    by_mean = from_spec({"dist": "exponential", "mean": "10ms"}, parse_duration)
    by_rate = from_spec({"dist": "exponential", "rate": "100/s"}, parse_duration)
    assert isinstance(by_mean, Exponential)
    assert by_mean.mean == pytest.approx(0.010)
    assert by_rate.mean == pytest.approx(0.010)
    assert by_mean.variance == pytest.approx(1e-4)


def test_uniform_spec():
    """A uniform has mean (low+high)/2 and variance (high-low)²/12."""
    d = from_spec({"dist": "uniform", "low": "1KiB", "high": "3KiB"}, parse_size)
    assert d == Uniform(1024.0, 3072.0)
    assert d.mean == pytest.approx(2048.0)
    assert d.variance == pytest.approx(2048.0**2 / 12)


def test_lognormal_by_median_and_p99_sets_mu_and_sigma():
    """median/p99 give mu = ln(median) and mu + z_0.99·sigma = ln(p99)."""
    d = from_spec({"dist": "lognormal", "median": "2KiB", "p99": "32KiB"}, parse_size)
    assert isinstance(d, LogNormal)
    assert math.exp(d.mu) == pytest.approx(2048.0)
    z99 = NormalDist().inv_cdf(0.99)
    assert math.exp(d.mu + z99 * d.sigma) == pytest.approx(32768.0)


def test_lognormal_sample_p99_matches_the_given_p99():
    """The 99th percentile of a large sample is within a binomial-CI tolerance of the given p99."""
    p99 = 0.080
    d = from_spec({"dist": "lognormal", "median": "10ms", "p99": "80ms"}, parse_duration)
    x = draw(d)
    # Tolerance for an empirical quantile, distribution-free: the number of draws at or below
    # the true quantile q_p is Binomial(N, p), so the fraction F_N(q_p) has standard error
    # se = sqrt(p(1-p)/N). The empirical p-quantile therefore lies, with the same ±Z·se
    # confidence as the mean checks, between the true quantiles at p - Z·se and p + Z·se.
    # Mapping those probabilities through the lognormal quantile function (exp(mu + sigma·z_q))
    # gives the interval in seconds.
    p = 0.99
    se = math.sqrt(p * (1 - p) / N)
    lo, hi = (math.exp(d.mu + d.sigma * NormalDist().inv_cdf(q)) for q in (p - Z * se, p + Z * se))
    assert lo < p99 < hi
    assert hi - lo < 0.1 * p99, "sample too small for this check to mean anything"
    assert lo <= np.quantile(x, p) <= hi


def test_lognormal_by_mu_and_sigma():
    """mu and sigma are taken as plain numbers (of log SI units)."""
    d = from_spec({"dist": "lognormal", "mu": -4.6, "sigma": 0.5}, parse_duration)
    assert d == LogNormal(-4.6, 0.5)
    assert d.mean == pytest.approx(math.exp(-4.6 + 0.125))


def test_truncnormal_spec_defaults_and_bounds():
    """A truncnormal defaults to [0, inf); its draws stay inside [low, high]."""
    d = from_spec({"dist": "truncnormal", "mean": "10ms", "std": "5ms"}, parse_duration)
    assert d == TruncNormal(0.010, 0.005, 0.0, math.inf)
    bounded = from_spec({"dist": "truncnormal", "mean": "10ms", "std": "5ms", "low": "8ms",
                         "high": "12ms"}, parse_duration)
    x = draw(bounded, n=10_000)
    assert x.min() >= 0.008
    assert x.max() <= 0.012


def test_empirical_inline_samples():
    """Inline samples (with units) are resampled: every draw is one of the given values."""
    d = from_spec({"dist": "empirical", "samples": ["1ms", "2ms", 0.004]}, parse_duration)
    assert d == Empirical((0.001, 0.002, 0.004))
    assert set(draw(d, n=1000)) == {0.001, 0.002, 0.004}


def test_empirical_csv_without_header(tmp_path):
    """A headerless CSV trace is read from its first column, relative to base_dir."""
    (tmp_path / "trace.csv").write_text("10ms,1\n20ms,2\n\n30ms,3\n")
    d = from_spec({"dist": "empirical", "file": "trace.csv"}, parse_duration, base_dir=tmp_path)
    assert d.samples == pytest.approx((0.010, 0.020, 0.030))


def test_empirical_csv_with_header_and_column(tmp_path):
    """With a header row, 'column' picks a column by name; without it, the first column."""
    path = tmp_path / "trace.csv"
    path.write_text("latency,size\n10ms,512B\n20ms,1KiB\n")
    sizes = from_spec({"dist": "empirical", "file": str(path), "column": "size"}, parse_size)
    assert sizes.samples == (512.0, 1024.0)
    latencies = from_spec({"dist": "empirical", "file": str(path)}, parse_duration)
    assert latencies.samples == pytest.approx((0.010, 0.020))


def test_empirical_csv_unknown_column(tmp_path):
    """A column that the header lacks is an error on 'column' that counts the columns (and
    does not list them: a header is the file's content, never echoed — issue 11)."""
    path = tmp_path / "trace.csv"
    path.write_text("latency,size\n10ms,512B\n")
    with pytest.raises(DistError) as info:
        from_spec({"dist": "empirical", "file": str(path), "column": "sise"}, parse_size)
    assert info.value.path == "column"
    assert "'sise'" in info.value.message and "2 column(s)" in info.value.message
    assert "latency" not in info.value.message


def test_empirical_missing_file(tmp_path):
    """A trace file that does not exist is an error on 'file' naming the path."""
    with pytest.raises(DistError, match="no such file") as info:
        from_spec({"dist": "empirical", "file": "nope.csv"}, parse_duration, base_dir=tmp_path)
    assert info.value.path == "file"


def test_a_distribution_passes_through():
    """from_spec returns a Distribution object unchanged (specs may be pre-built)."""
    d = Exponential(0.01)
    assert from_spec(d, parse_duration) is d


# --------------------------------------------------------------------------------------------
# Theory against samples


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "exponential", "mean": "10ms"},
        {"dist": "uniform", "low": "2ms", "high": "8ms"},
        {"dist": "lognormal", "median": "10ms", "p99": "80ms"},
        {"dist": "lognormal", "mu": -4.0, "sigma": 0.3},
        {"dist": "truncnormal", "mean": "5ms", "std": "5ms"},
        {"dist": "truncnormal", "mean": "10ms", "std": "5ms", "low": "8ms", "high": "30ms"},
        {"dist": "empirical", "samples": ["1ms", "2ms", "2ms", "7ms", "30ms"]},
    ],
    ids=lambda s: "-".join(str(v) for v in s.values()),
)
def test_sample_mean_agrees_with_theory(spec):
    """The mean of N draws is within 4.5 standard errors of the distribution's .mean."""
    d = from_spec(spec, parse_duration)
    assert_mean_agrees(d, draw(d))


def test_sample_variance_agrees_with_theory():
    """The sample variance of an exponential is close to .variance (mean² for exponential)."""
    d = Exponential(0.010)
    x = draw(d)
    # Var of the sample variance is (mu4 - sigma⁴)/n; for the exponential mu4 = 9·sigma⁴.
    se = math.sqrt(8 * d.variance**2 / N)
    assert abs(x.var(ddof=1) - d.variance) <= Z * se


# --------------------------------------------------------------------------------------------
# Bad specs: DistError names the key (relative to the spec) and says what is wrong


@pytest.mark.parametrize(
    ("spec", "path", "fragments"),
    [
        ({"dist": "exponental", "mean": "1ms"}, "dist",
         ["unknown distribution", "did you mean 'exponential'", "lognormal"]),
        ({"mean": "1ms"}, "dist", ["missing", "exponential"]),
        ({"dist": "exponential", "man": "1ms"}, "man",
         ["unknown parameter", "did you mean 'mean'", "mean, rate"]),
        ({"dist": "uniform", "low": "1ms", "hgh": "2ms"}, "hgh", ["did you mean 'high'"]),
        ({"dist": "exponential"}, "mean", ["missing"]),
        ({"dist": "uniform", "low": "1ms"}, "high", ["missing"]),
        ({"dist": "lognormal", "median": "1ms"}, "p99", ["missing"]),
        ({"dist": "lognormal", "mu": 1.0}, "sigma", ["missing"]),
        ({"dist": "truncnormal", "mean": "1ms"}, "std", ["missing"]),
        ({"dist": "constant"}, "value", ["missing"]),
        ({"dist": "exponential", "mean": "-1ms"}, "mean", ["> 0", "-1ms"]),
        ({"dist": "exponential", "mean": "0s"}, "mean", ["> 0"]),
        ({"dist": "exponential", "rate": "0/s"}, "rate", ["> 0"]),
        ({"dist": "exponential", "mean": "1ms", "rate": "5/s"}, "rate", ["not both"]),
        ({"dist": "uniform", "low": "-1ms", "high": "2ms"}, "low", [">= 0"]),
        ({"dist": "truncnormal", "mean": "1ms", "std": "-1ms"}, "std", ["> 0"]),
        ({"dist": "empirical", "samples": ["1ms", "-2ms"]}, "samples", [">= 0"]),
        ({"dist": "lognormal", "median": "10ms", "p99": "5ms"}, "p99", ["> median", "5ms"]),
        ({"dist": "lognormal", "median": "10ms", "p99": "10ms"}, "p99", ["> median"]),
        ({"dist": "lognormal", "median": "1ms", "p99": "2ms", "sigma": 1}, "mu", ["not both"]),
        ({"dist": "lognormal", "mu": 0, "sigma": 0}, "sigma", ["> 0"]),
        ({"dist": "lognormal", "mu": "1ms", "sigma": 1}, "mu", ["plain numbers"]),
        ({"dist": "uniform", "low": "5ms", "high": "2ms"}, "high", ["> low", "2ms"]),
        ({"dist": "uniform", "low": "5ms", "high": "5ms"}, "high", ["> low"]),
        ({"dist": "truncnormal", "mean": "1ms", "std": "1ms", "low": "5ms", "high": "2ms"},
         "high", ["> low"]),
        ({"dist": "exponential", "mean": "10 parsecs"}, "mean", ["unknown duration unit"]),
        ({"dist": "empirical"}, "samples", ["exactly one"]),
        ({"dist": "empirical", "samples": []}, "samples", ["non-empty"]),
    ],
)
def test_bad_spec_names_the_key(spec, path, fragments):
    """Each bad spec raises DistError whose .path is the offending key and whose message helps."""
    with pytest.raises(DistError) as info:
        from_spec(spec, parse_duration)
    assert info.value.path == path
    for fragment in fragments:
        assert fragment in info.value.message


@pytest.mark.parametrize(("spec", "allow_zero"), [("-5ms", True), ("0ms", False)])
def test_bad_plain_quantity(spec, allow_zero):
    """A negative plain quantity (or zero where zero is not allowed) is refused at path ''."""
    with pytest.raises(DistError, match=r"must be") as info:
        from_spec(spec, parse_duration, allow_zero=allow_zero)
    assert info.value.path == ""


def test_dist_error_is_a_value_error():
    """DistError subclasses ValueError so validation layers can convert it."""
    assert isinstance(DistError("x", "y"), ValueError)


def test_non_string_distribution_name():
    """A dist that is not a name (e.g. a list) is a DistError on 'dist', not a crash."""
    with pytest.raises(DistError) as info:
        from_spec({"dist": ["exponential"], "mean": "1ms"}, parse_duration)
    assert info.value.path == "dist"


# --------------------------------------------------------------------------------------------
# sequence: the given values in turn (not random), for hand-computed expectations


def test_sequence_cycles_through_the_values_in_order():
    """The sampler returns the values in the order given, then starts again from the first."""
    d = from_spec({"dist": "sequence", "values": ["10ms", "20ms", "30ms"]}, parse_duration)
    assert d == Sequence((0.010, 0.020, 0.030))
    sample = d.sampler(Streams(1).generator("s"))
    assert [sample() for _ in range(7)] == [0.010, 0.020, 0.030, 0.010, 0.020, 0.030, 0.010]


def test_sequence_samplers_each_start_at_the_first_value():
    """Every sampler (one per stream) starts the cycle afresh; the stream is not consumed."""
    d = Sequence((1.0, 2.0))
    first = d.sampler(None)
    first()
    assert d.sampler(None)() == 1.0
    assert first() == 2.0


def test_sequence_reads_sizes_with_the_size_parser():
    """Values are read with the quantity's parser: sizes for a size field."""
    d = from_spec({"dist": "sequence", "values": ["1KiB", 512, "2KiB"]}, parse_size)
    assert d.values == (1024.0, 512.0, 2048.0)


def test_sequence_mean_and_variance_of_equally_likely_values():
    """mean and variance are those of the values taken as equally likely (population variance):
    for 1, 2, 6 the mean is 3 and the variance ((1-3)² + (2-3)² + (6-3)²)/3 = 14/3."""
    d = from_spec({"dist": "sequence", "values": ["1s", "2s", "6s"]}, parse_duration)
    assert d.mean == 3.0
    assert d.variance == pytest.approx(14 / 3, rel=1e-15)
    single = Sequence((0.5,))
    assert (single.mean, single.variance) == (0.5, 0.0)


def test_sequence_str_lists_the_values():
    """str() gives the spec in scenario terms, SI units."""
    assert str(Sequence((0.01, 0.02))) == "sequence(values=[0.01, 0.02])"


@pytest.mark.parametrize(
    ("spec", "allow_zero", "path", "fragments"),
    [
        ({"dist": "sequence"}, True, "values", ["missing"]),
        ({"dist": "sequence", "values": []}, True, "values", ["non-empty list"]),
        ({"dist": "sequence", "values": "10ms"}, True, "values", ["non-empty list"]),
        ({"dist": "sequence", "values": ["1ms", "-2ms"]}, True, "values.1", [">= 0", "-2ms"]),
        ({"dist": "sequence", "values": ["0ms", "1ms"]}, False, "values.0", ["> 0", "0ms"]),
        ({"dist": "sequence", "values": ["1ms", "2ms", "3 parsecs"]}, True, "values.2",
         ["unknown duration unit"]),
        ({"dist": "sequence", "value": ["1ms"]}, True, "value",
         ["unknown parameter for sequence", "did you mean 'values'"]),
        ({"dist": "sequence", "values": ["1ms"], "cycle": True}, True, "cycle",
         ["unknown parameter", "accepted: values"]),
    ],
)
def test_bad_sequence_names_the_field(spec, allow_zero, path, fragments):
    """Each bad sequence spec raises DistError on 'values', 'values.<i>' or the unknown key."""
    with pytest.raises(DistError) as info:
        from_spec(spec, parse_duration, allow_zero=allow_zero)
    assert info.value.path == path
    for fragment in fragments:
        assert fragment in info.value.message


def test_sequence_zero_is_fine_where_zero_is_allowed():
    """A zero value passes where the field allows zero (e.g. a duration)."""
    assert from_spec({"dist": "sequence", "values": [0, "1ms"]}, parse_duration).values == (
        0.0, 0.001)


def test_scenario_service_time_can_be_a_sequence(tiny_scenario):
    """A scenario's server.service_time may be a sequence; its values are seconds."""
    tiny_scenario["server"]["service_time"] = {"dist": "sequence", "values": ["1s", "2s"]}
    sc = load(tiny_scenario)
    assert sc.server.service_time == Sequence((1.0, 2.0))
    assert sc.server.service_time.mean == 1.5


def test_scenario_error_on_a_bad_sequence_value_names_the_index(tiny_scenario):
    """A bad value in a scenario's sequence is reported at its dotted path, index included."""
    tiny_scenario["server"]["service_time"] = {"dist": "sequence", "values": ["1s", "-2s"]}
    with pytest.raises(ScenarioError) as info:
        load(tiny_scenario)
    assert info.value.field == "server.service_time.values.1"


# --------------------------------------------------------------------------------------------
# The registry: each distribution registers itself under its scenario name

# One valid spec per registered distribution (besides ``dist``). A new distribution must add
# one here: test_every_registered_distribution_round_trips checks that none is missing.
EXAMPLE_PARAMS = {
    "constant": {"value": "3ms"},
    "exponential": {"mean": "10ms"},
    "uniform": {"low": "1ms", "high": "3ms"},
    "lognormal": {"median": "10ms", "p99": "80ms"},
    "truncnormal": {"mean": "10ms", "std": "5ms"},
    "empirical": {"samples": ["1ms", "2ms"]},
    "sequence": {"values": ["1ms", "2ms"]},
}


def test_registry_has_the_documented_distributions():
    """Every distribution of the module docstring's table is registered, in table order."""
    assert list(DISTRIBUTIONS) == list(EXAMPLE_PARAMS)


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_every_registered_distribution_round_trips(name):
    """``{dist: name, ..}`` builds the registered class, whose name is the scenario name."""
    assert name in EXAMPLE_PARAMS, f"add an example spec for {name!r} to EXAMPLE_PARAMS"
    d = from_spec({"dist": name, **EXAMPLE_PARAMS[name]}, parse_duration)
    assert type(d) is DISTRIBUTIONS[name]
    assert d.name == name
    assert str(d).startswith(f"{name}(")
    assert set(EXAMPLE_PARAMS[name]) <= DISTRIBUTIONS[name].params


def test_registering_a_taken_name_raises():
    """A second class under an existing name is refused and the registry is left unchanged."""
    class Impostor(Distribution):
        params = frozenset({"mean"})

        @classmethod
        def from_params(cls, params, parse, *, allow_zero, base_dir):
            return Exponential(1.0)

    before = dict(DISTRIBUTIONS)
    with pytest.raises(ValueError, match="'exponential' is already registered"):
        register_dist("exponential")(Impostor)
    assert before == DISTRIBUTIONS
    assert Impostor.name == "distribution"


def test_registering_needs_params_and_a_builder():
    """A class without params or from_params cannot be registered (and is not added)."""
    class NoBuilder(Distribution):
        params = frozenset({"x"})

    with pytest.raises(TypeError, match="from_params"):
        register_dist("nobuilder")(NoBuilder)
    assert "nobuilder" not in DISTRIBUTIONS


def test_unknown_distribution_lists_the_registered_names():
    """The unknown-name error lists every registered name, sequence included."""
    with pytest.raises(DistError) as info:
        from_spec({"dist": "sequense", "values": ["1ms"]}, parse_duration)
    assert "did you mean 'sequence'" in info.value.message
    assert f"(known: {', '.join(DISTRIBUTIONS)})" in info.value.message


# --------------------------------------------------------------------------------------------
# Named random streams


def test_streams_are_reproducible():
    """The same seed and name give the same draws."""
    a = Streams(7).generator("arrivals").random(5)
    b = Streams(7).generator("arrivals").random(5)
    assert np.array_equal(a, b)


def test_a_new_stream_shifts_no_other_stream():
    """Stream 'a' draws the same whether or not stream 'b' was created and used first."""
    alone = Streams(7).generator("a").random(100)
    s = Streams(7)
    s.generator("b").random(1000)
    after_b = s.generator("a").random(100)
    assert np.array_equal(alone, after_b)


def test_streams_differ_between_names_and_seeds():
    """Different names, or different seeds, give different draws."""
    a7 = Streams(7).generator("a").random(10)
    assert not np.array_equal(a7, Streams(7).generator("b").random(10))
    assert not np.array_equal(a7, Streams(8).generator("a").random(10))


def test_generator_is_cached_per_name():
    """Asking twice for a name returns the same generator, continuing its sequence."""
    s = Streams(3)
    assert s.generator("x") is s.generator("x")


def test_buffered_draws_follow_the_generator_across_blocks():
    """Buffered hands out the generator's variates in order, across block refills."""
    n = BLOCK + 10
    sample = Buffered(Streams(5).generator("s"), lambda g, k: g.exponential(2.0, k))
    got = [sample() for _ in range(n)]
    g = Streams(5).generator("s")
    expected = np.concatenate([g.exponential(2.0, BLOCK), g.exponential(2.0, BLOCK)])[:n]
    assert got == expected.tolist()
