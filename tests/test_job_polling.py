"""job_polling: submit a long job, get a handle, poll its status until the result is ready."""

import math

import numpy as np
import pytest

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
    sc = scenario({"interval": f"{T}s", "job_duration": {"dist": "exponential", "mean": f"{mu}s"}},
                  duration=620.0, warmup=20.0, detail="summary",
                  clients={"count": 10},
                  workload={"requests": {"rate": "2/s"}, "response_size": "1KiB",
                            "encoding": "none"})
    theory = expected_wait(mu, T, d) + s + d
    runs = replicate(sc, 20, seed=2024)
    est, half = mean_ci([r["notice_mean"] for r in runs], confidence=0.999)
    # per job the wait is ~uniform on (0, T): variance T²/12; 1 200 jobs per replication and 20
    # replications plan a half width of 3.88·sqrt(1/12/24000) = 0.72 % of the theory; 2 % is
    # that with margin for the t factor and the job-duration spread of the number of jobs
    assert half < 0.02 * theory, "run too short to test anything"
    assert abs(est - theory) <= half
    # polls per job: the first poll comes T after the handle, one more per T until it finds it
    polls = (mu + expected_wait(mu, T, d) - 2 * d) / T
    est, half = mean_ci([r["polls_per_delivery"] for r in runs], confidence=0.999)
    assert half < 0.03 * polls
    assert abs(est - polls) <= half
