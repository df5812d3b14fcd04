"""latency_sketch: a streaming quantile sketch (DDSketch) in place of the latency sample.

Its guarantee is deterministic — every q-quantile it returns is within relative error α of the
order statistic x_(⌊q(n−1)⌋) — so the tests check it exactly, on every quantile of a grid, for
distributions of every shape, not within a statistical tolerance."""

import math
from pathlib import Path

import numpy as np
import pytest

import simcomm
from simcomm.metrics.sketch import Sketch

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "examples" / "api-under-load.yaml"
QS = [i / 1000 for i in range(1001)]

SAMPLES = {
    "exponential": lambda g: g.exponential(0.01, 20_000),
    "lognormal heavy tail": lambda g: g.lognormal(-4.0, 2.0, 20_000),
    "uniform": lambda g: g.uniform(0.05, 0.06, 20_000),
    "with zeros": lambda g: np.where(g.random(20_000) < 0.3, 0.0, g.exponential(1.0, 20_000)),
    "nine decades": lambda g: 10.0 ** g.uniform(-6, 3, 20_000),
}


@pytest.mark.parametrize("alpha", [0.01, 0.05])
@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_quantile_is_within_alpha_of_its_order_statistic(name, alpha):
    x = SAMPLES[name](np.random.default_rng(4))
    sk = Sketch(alpha)
    for v in x.tolist():
        sk.add(v)
    s = np.sort(x)
    for q in QS:
        exact = s[math.floor(q * (len(s) - 1))]
        assert abs(sk.quantile(q) - exact) <= alpha * exact * (1 + 1e-12), (q, exact)
    assert sk.count == len(x) and sk.max == s[-1]
    assert sk.sum == pytest.approx(x.sum(), rel=1e-9)


def test_memory_is_one_counter_per_bucket_in_the_range():
    """⌈log(max/min)/log γ⌉ + 1 buckets at most, whatever the number of values."""
    sk = Sketch(0.01)
    g = np.random.default_rng(1)
    for v in (10.0 ** g.uniform(-6, 3, 200_000)).tolist():
        sk.add(v)
    assert sk.buckets <= math.ceil(math.log(1e9) / math.log(sk.gamma)) + 1
    assert sk.buckets < 1100


def test_an_empty_sketch_answers_nan_and_a_bad_alpha_is_refused():
    assert math.isnan(Sketch(0.01).quantile(0.5))
    for bad in (0, 1, -0.1, 2):
        with pytest.raises(ValueError, match="alpha"):
            Sketch(bad)


def _run(*over):
    return simcomm.run(simcomm.load_file(API, ["duration=120s", "warmup=10s",
                                               "detail=summary", *over]))


def test_a_run_with_the_sketch_is_the_same_run_with_its_percentiles_within_alpha():
    """Same seed, same world: every metric is the same except the three percentiles, which
    are within α of the order statistics of the exact run's latencies; the recorder keeps no
    per-delivery arrays."""
    exact, sketched = _run(), _run("latency_sketch=0.01")
    lat = np.sort(exact.recorder.d_latency.numpy()[exact.recorder.d_t0.numpy() >= 10.0])
    for q, m in ((0.5, "latency_p50"), (0.95, "latency_p95"), (0.99, "latency_p99")):
        want = lat[math.floor(q * (len(lat) - 1))]
        assert abs(sketched.metrics[m] - want) <= 0.01 * want
    same = {k: v for k, v in exact.metrics.items() if k not in
            ("latency_p50", "latency_p95", "latency_p99")}
    for k, v in same.items():
        got = sketched.metrics[k]
        assert (math.isnan(v) and math.isnan(got)) or got == pytest.approx(v, rel=1e-12), k
    assert len(sketched.recorder.d_latency) == 0 and len(sketched.recorder.d_t0) == 0
    assert sketched.parts == pytest.approx(exact.parts, rel=1e-9)
    q = sketched.latency_quantiles((0.0, 0.5, 1.0))
    assert q.iloc[-1] == exact.metrics["latency_max"]


@pytest.mark.parametrize("over,says", [
    (["latency_sketch=0.01", "detail=full"], "needs detail: summary"),
    (["latency_sketch=0.01", "detail=summary", "warmup=mser5"], "mser5"),
    (["latency_sketch=1", "detail=summary"], "less than 1"),
])
def test_bad_sketch_settings_name_the_field_and_the_fix(over, says):
    with pytest.raises(simcomm.ScenarioError, match="latency_sketch") as e:
        simcomm.load_file(API, over)
    assert says in str(e.value)
