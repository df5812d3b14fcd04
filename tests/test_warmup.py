"""MSER-5 warm-up truncation (``warmup: mser5``), and what a run reports for CDFs and the
latency decomposition at either detail level."""

import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import simcomm
from simcomm import guard
from simcomm.metrics.definitions import PART_NAMES
from simcomm.runner import WarmupWarning
from simcomm.stats import mser

ROOT = Path(__file__).resolve().parent.parent

API = ROOT / "examples" / "api-under-load.yaml"
# a slow episode at the start (service 3× slower for 8 s): a transient MSER-5 must cut off
SLOW_START = ["duration=60s", "detail=summary",
              "faults.slow=[{at: 0s, duration: 8s, factor: 3}]"]


def _brute(x: np.ndarray, batch: int = 5) -> list[float]:
    """MSER(d) for every d, straight from its definition."""
    k = x.size // batch
    z = x[:k * batch].reshape(k, batch).mean(axis=1)
    return [float(((z[d:] - z[d:].mean()) ** 2).sum() / (k - d) ** 2) for d in range(k)]


def test_mser_matches_its_definition():
    """The vectorised statistic is the definition's, and d* its minimum over d ≤ k/2."""
    x = np.random.default_rng(1).gamma(2.0, 1.0, 503) + np.linspace(3, 0, 503)
    cut = mser(x)
    stat = _brute(x)
    k = 503 // 5
    assert cut.batches == k
    d = int(np.argmin(stat[:k // 2 + 1]))
    assert cut.drop == 5 * d
    assert cut.statistic == pytest.approx(stat[d], rel=1e-9)


def test_mser_cuts_off_a_transient():
    """A series whose first 200 observations sit 10 standard deviations high: every biased
    batch goes (one left would add ≥ 100/(k − d) to the batch means' variance against their
    own 1/5), and the truncated mean is within its 99.9 % interval of the true 0."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(4000)
    x[:200] += 10.0
    cut = mser(x)
    assert cut.settled and cut.drop % 5 == 0
    assert 200 <= cut.drop <= 2000
    rest = x[cut.drop:]
    assert abs(rest.mean()) <= 3.29 * rest.std(ddof=1) / math.sqrt(rest.size)


def test_mser_flags_a_run_without_steady_state():
    """A series that keeps drifting has its minimum at the end of the searched half, and a
    series of fewer than 4 batches cannot be judged: both are not settled."""
    drift = mser(np.arange(1000.0))  # MSER(d) = (k − d)·c, least at the largest d searched
    assert not drift.settled and drift.drop == 5 * (200 // 2)
    short = mser([1.0] * 19)
    assert not short.settled and short.drop == 0 and short.batches == 3


@pytest.mark.parametrize("batch", [0, -1, 2.5, True])
def test_mser_rejects_a_bad_batch(batch):
    with pytest.raises(ValueError, match="batch"):
        mser([1.0] * 50, batch=batch)


def test_warmup_mser5_is_the_same_run_measured_after_the_warmup_found():
    """With warmup: mser5 the run finds its warm-up past the slow start, and its metrics are
    exactly those of the same scenario with that warm-up fixed (same seed, same world)."""
    r = simcomm.run(simcomm.load_file(API, ["warmup=mser5", *SLOW_START]))
    found = r.scenario.warmup
    assert 8.0 <= found < 30.0 and r.scenario.warmup_rule == "mser5" and not r.warnings
    fixed = simcomm.run(simcomm.load_file(API, [*SLOW_START, f"warmup={found!r}s"]))
    assert fixed.metrics == r.metrics


def test_warmup_mser5_on_a_run_too_short_warns():
    """Fewer than 20 deliveries: nothing removed, and a WarmupWarning says to lengthen."""
    sc = simcomm.load_file(API, ["warmup=mser5", "duration=0.2s", "detail=summary"])
    with pytest.warns(WarmupWarning, match="lengthen duration"):
        r = simcomm.run(sc)
    assert r.scenario.warmup == 0.0 and any("MSER-5" in w for w in r.warnings)


@pytest.mark.parametrize("value,message", [
    ("abc", "give a duration (e.g. '30s') or mser5"),
    ("mser", "or mser5"),
    ("-1s", "must be >= 0"),
])
def test_warmup_bad_values_name_the_fix(value, message):
    with pytest.raises(simcomm.ScenarioError, match="warmup") as e:
        simcomm.load_file(API, [f"warmup={value}"])
    assert message in str(e.value)


def test_warmup_rule_contradicting_mser5_is_refused():
    with pytest.raises(simcomm.ScenarioError, match="warmup_rule"):
        simcomm.load_file(API, ["warmup=mser5", "warmup_rule=fixed"])


def test_guard_counts_both_passes_of_mser5():
    """The guard's time estimate doubles: the world is built and run twice."""
    fixed = simcomm.load_file(API, SLOW_START)
    found = simcomm.load_file(API, ["warmup=mser5", *SLOW_START])
    one = guard.estimate(fixed, fixed.variants[0])
    two = guard.estimate(found, found.variants[0])
    assert two.passes == 2 and two.seconds == pytest.approx(2 * one.seconds)


def test_progress_rises_over_both_passes():
    """The progress fraction never falls and ends at 1 across the two passes."""
    seen = []
    simcomm.run(simcomm.load_file(API, ["warmup=mser5", *SLOW_START]),
                progress=lambda label, f: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(seen))
    assert any(0.4 < f < 0.6 for f in seen)


@pytest.mark.parametrize("detail", ["summary", "full"])
def test_parts_add_up_to_the_mean_latency_at_either_detail(detail):
    """Result.parts: each latency part's mean over the window's deliveries; they add up to
    latency_mean, and both detail levels give the same means (and the deliveries frame's)."""
    sc = simcomm.load_file(API, ["duration=20s", "warmup=2s", f"detail={detail}"])
    r = simcomm.run(sc)
    parts = r.parts
    assert set(parts) == {f"{p}_s" for p in PART_NAMES}
    assert sum(parts.values()) == pytest.approx(r.metrics["latency_mean"], rel=1e-9)
    other = simcomm.run(simcomm.load_file(API, [
        "duration=20s", "warmup=2s", f"detail={'full' if detail == 'summary' else 'summary'}"]))
    for k, v in parts.items():
        assert other.parts[k] == pytest.approx(v, rel=1e-9, abs=1e-15)
    if detail == "full":
        means = r.frames["deliveries"][list(parts)].mean()
        for k, v in parts.items():
            assert means[k] == pytest.approx(v, rel=1e-9, abs=1e-15)


def test_latency_quantiles_agree_with_the_percentile_metrics():
    """Result.latency_quantiles reads the same sample as latency_p50/p95/p99/max."""
    r = simcomm.run(simcomm.load_file(API, ["duration=20s", "warmup=2s", "detail=summary"]))
    q = r.latency_quantiles()
    assert q.index.name == "probability" and q.is_monotonic_increasing
    for p, m in ((0.5, "latency_p50"), (0.99, "latency_p99"), (1.0, "latency_max")):
        assert q.loc[p] == pytest.approx(r.metrics[m], rel=1e-12)
    assert r.latency_quantiles((0.95,)).iloc[0] == pytest.approx(r.metrics["latency_p95"])


def test_latency_quantiles_without_deliveries_are_nan():
    sc = simcomm.load_file(API, ["duration=0.01s", "warmup=0s", "detail=summary"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = simcomm.run(sc)
    assert r.latency_quantiles().isna().all()
    assert all(math.isnan(v) for v in r.parts.values())
