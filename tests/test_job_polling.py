"""job_polling: submit a long job, get a handle, poll its status until the result is ready."""

import math

import numpy as np
import pytest
from scipy.stats import t as student_t

import simcomm
from simcomm.metrics.definitions import PART_NAMES
from tests.stats import mean_ci, replicate

PARTS = [f"{p}_s" for p in PART_NAMES]


def scenario(pattern=None, **over):
    sc = {
        "duration": 20.0, "seed": 1,
        "network": {"latency": "10ms", "bandwidth": "unlimited"},
        "headers": {"request": 0, "response": 0},
        "server": {"workers": 8, "service_time": "5ms"},
        "clients": {"count": 1},
        "workload": {"requests": {"rate": "0.5/s", "arrival": "periodic"},
                     "response_size": "1KiB", "encoding": "none"},
        "pattern": {"name": "job_polling", "interval": "300ms", "job_duration": "1s",
                    **(pattern or {})},
    }
    sc.update(over)
    return sc


def test_exact_timeline_of_one_job():
    """Submit (d + s), run 1 s, polls every 300 ms from the handle: the 4th poll finds it."""
    r = simcomm.run(scenario())
    d, s = r.frames["deliveries"], r.summary
    # handle at t0 + 25 ms; job done at t0 + 1.015; polls reach the server at t0 + 0.035 +
    # 0.3k, the first at or after 1.015 is k = 4 (t0 + 1.235); the answer is back 15 ms later
    assert np.allclose(d.latency, 1.250, atol=1e-12)
    assert np.allclose(d.pending_s, 0.220, atol=1e-12)
    assert np.allclose(d.service_s, 0.005 + 1.0 + 0.005, atol=1e-12)
    assert np.allclose(d[PARTS].sum(axis=1), d.latency, atol=1e-12)
    assert s["notice_mean"] == pytest.approx(0.235)
    assert s["polls_per_delivery"] == pytest.approx(4.0)
    # per delivered job: submit + handle, 3 empty status exchanges, 1 result
    m = r.frames["messages"]
    per_job = m[m.flow.isin(d.flow)].groupby("flow", observed=True)
    assert (per_job.size() == 10).all()
    assert (per_job.tag.apply(lambda t: (t == "empty").sum()) == 6).all()
    # the last job of the run is still going: its messages count, its delivery not yet
    assert 10 * s["delivered"] <= s["messages"] <= 10 * s["issued"]
    assert s["wasted_server_s"] >= 3 * 0.005 * s["delivered"] - 1e-9


def test_other_patterns_report_nan_for_job_metrics():
    """notice_mean and polls_per_delivery are NaN for patterns without status polls."""
    sc = scenario()
    sc["pattern"] = {"name": "request_response"}
    s = simcomm.run(sc).summary
    assert math.isnan(s["notice_mean"]) and math.isnan(s["polls_per_delivery"])


def test_job_polling_needs_requests_and_a_sane_jitter():
    """Without workload.requests, or with jitter >= interval, the scenario is rejected."""
    sc = scenario({"jitter": "300ms"})
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(sc)
    assert e.value.field == "pattern.jitter"
    sc = scenario()
    sc["workload"] = {"updates": {"rate": "1/s"}}
    with pytest.raises(simcomm.ScenarioError, match="job_polling needs workload"):
        simcomm.load(sc)


def expected_wait(mu: float, T: float, d: float) -> float:
    """Mean time from a job's completion to the status poll that finds it reaching the server.

    Polls reach the server at t_accepted + 2d + kT, k = 1, 2 …; the job ends at t_accepted + D,
    D ~ Exp(mean mu). With x = D − 2d: if x > 0 the wait is T·ceil(x/T) − x, and x is again
    Exp(mu) (memoryless), so E = T − E[x mod T] with E[x mod T] = mu − T e^{−T/mu} / (1 −
    e^{−T/mu}); if x ≤ 0 (probability q = 1 − e^{−2d/mu}) the first poll finds it: wait =
    T + 2d − D, with E[D | D < 2d] = mu − 2d e^{−2d/mu} / (1 − e^{−2d/mu}).
    """
    e = math.exp(-T / mu)
    frac = mu - T * e / (1 - e)
    q = 1 - math.exp(-2 * d / mu)
    short = mu - 2 * d * math.exp(-2 * d / mu) / q
    return (1 - q) * (T - frac) + q * (T + 2 * d - short)


def test_notice_time_matches_the_polling_closed_form():
    """Mean time to notice = E[wait for the next poll] + s + d (replications, 0.999 t-CI)."""
    mu, T, d, s = 10.0, 1.0, 0.010, 0.005
    rate, duration, warmup, R = 2.0, 620.0, 20.0, 20
    sc = scenario({"interval": f"{T}s", "job_duration": {"dist": "exponential", "mean": f"{mu}s"}},
                  duration=duration, warmup=warmup, detail="summary",
                  clients={"count": 10},
                  workload={"requests": {"rate": f"{rate}/s"}, "response_size": "1KiB",
                            "encoding": "none"})
    theory = expected_wait(mu, T, d) + s + d  # 0.509 + 0.005 + 0.010 = 0.524 s
    runs = replicate(sc, R, seed=2024)
    est, half = mean_ci([r["notice_mean"] for r in runs], confidence=0.999)
    # Planned half width: a job completes at a ~uniform point of a polling interval, so its
    # wait has variance T²/12 (s and d are constant); 2/s × 600 s = 1 200 jobs per replication,
    # 20 replications: t_{19, 0.9995} · sqrt(T²/12 / 24 000) = 3.88 × 1.86 ms = 7.2 ms, which
    # is 1.38 % of the theory's 0.524 s (not of T). The interval must be at most 1.4 × that
    # (1.93 %): room for the spread of s over 20 replications and the ~20 jobs per replication
    # still running at the end.
    jobs = rate * (duration - warmup) * R
    planned = student_t.ppf(0.9995, R - 1) * math.sqrt(T**2 / 12 / jobs)
    assert planned / theory == pytest.approx(0.0138, abs=0.0001)
    assert half < 1.4 * planned, "run too short to test anything"
    assert abs(est - theory) <= half
    # polls per job: the first poll comes T after the handle, one more per T until it finds it
    polls = (mu + expected_wait(mu, T, d) - 2 * d) / T
    est, half = mean_ci([r["polls_per_delivery"] for r in runs], confidence=0.999)
    # planned: a job's poll count varies with its duration, sd ≈ sqrt(mu²/T² + 1/12) = 10.0,
    # so 3.88 × 10.0 / sqrt(24 000) = 0.25 polls, 2.4 % of the theory's 10.49
    assert half < 0.03 * polls
    assert abs(est - polls) <= half
