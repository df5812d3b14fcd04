"""Timeouts, retries, the circuit breaker, the cache, mutual TLS and the sidecar pair.

Exact timelines use one sync caller sending one request per period (periodic), constant
one-way latency D on an unlimited link, no headers or payloads, constant service S and
jitter off. To make a server refuse deterministically, a single instance sits behind a
balancer (so its restart does not drop the client's connection) and is restarted with a
downtime: tries that reach it while it is down are turned away (503). Stochastic checks are
against the binomial law, with the tolerance written next to each.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import simcomm
from tests.helpers import overlay

D, S = 0.005, 0.010


def world(**over) -> dict:
    sc = {
        "duration": 10.0, "seed": 5,
        "network": {"latency": D, "bandwidth": "unlimited"},
        "headers": {"request": 0, "response": 0},
        "server": {"workers": 1, "service_time": S},
        "clients": {"count": 1},
        "workload": {"requests": {"rate": "1/s", "arrival": "periodic"}, "encoding": "none"},
        "connection": {"protocol": "h2"},
        "pattern": {"name": "request_response"},
    }
    return overlay(sc, over)


@pytest.mark.parametrize("r", [0, 1, 2, 3])
def test_retries_with_independent_failures_succeed_with_1_minus_p_to_r_plus_1(r):
    """Each try fails independently with p = 0.3: a request with a budget of r retries
    succeeds with q = 1 − p^(r+1). Over n requests the successes are Binomial(n, q): within 4
    standard deviations √(n q (1 − q)); the retries per request, R = min(failures before the
    first success, r), have mean Σ_{k≤r} p^k and variance Σ_{k≤r} (2k − 1) p^k − mean²: their
    total within 4 standard deviations of n·mean."""
    p = 0.3
    sc = world(duration=400.0, faults={"failure": p}, server={"workers": 8},
               workload={"requests": {"rate": "40/s", "arrival": "poisson"}},
               pattern={"name": "request_response", "client": "async"},
               resilience={"retries": r, "backoff": "5ms", "timeout": "10s"} if r
               else {"timeout": "10s"})
    s = simcomm.run(sc).summary
    n = s["delivered"] + s["failed"]
    q = 1 - p ** (r + 1)
    assert n > 15_000
    assert abs(s["delivered"] - n * q) < 4 * math.sqrt(n * q * (1 - q))
    mean = sum(p ** k for k in range(1, r + 1))
    var = sum((2 * k - 1) * p ** k for k in range(1, r + 1)) - mean ** 2
    assert abs(s["retries"] - n * mean) <= 4 * math.sqrt(n * var) + 1e-9


THINK = {"requests": {"think_time": 1.0}}
"""A sync caller that thinks 1 s before each request: the first goes at exactly 1 s."""


def test_backoff_doubles_between_tries_until_the_server_is_back():
    """The instance is down from 0.95 s for 0.5 s; the request of 1 s is turned away at each
    try (each 2D long) and retried after 0.1, 0.2 and 0.4 s (no jitter): tries at 1.0, 1.11,
    1.32 and 1.73 s, the last served. Its latency is 0.73 + 2D + S, of which 0.73 is the
    retry part."""
    sc = world(balancer={}, faults={"restarts": {"at": ["0.95s"], "downtime": "0.5s"}},
               workload=THINK,
               resilience={"retries": 3, "backoff": "100ms", "jitter": False,
                           "timeout": "5s"})
    r = simcomm.run(sc)
    d, s = r.frames["deliveries"].sort_values("t_start"), r.summary
    first = d.iloc[0]
    assert first.t_start == pytest.approx(1.0)
    assert first.latency == pytest.approx(0.73 + 2 * D + S, abs=1e-12)
    assert first.retry_s == pytest.approx(0.73, abs=1e-12)
    assert s["retries"] == 3 and s["failed"] == 0 and s["rejected"] == 0
    assert np.allclose(d.iloc[1:].latency, 2 * D + S, rtol=0, atol=1e-12)
    sent = np.sort(r.frames["messages"].query("kind == 'request'").t_send.to_numpy())[:4]
    assert np.allclose(sent, [1.0, 1.11, 1.32, 1.73], rtol=0, atol=1e-12)


def test_a_budget_too_small_fails_the_request_once():
    """The same outage with a budget of 2: tries at 1.0, 1.11 and 1.32 s are all turned away;
    the request fails — counted once, as rejected — after 2 retries."""
    sc = world(balancer={}, faults={"restarts": {"at": ["0.95s"], "downtime": "0.5s"}},
               workload=THINK,
               resilience={"retries": 2, "backoff": "100ms", "jitter": False,
                           "timeout": "5s"})
    s = simcomm.run(sc).summary
    assert s["retries"] == 2 and s["rejected"] == 1 and s["failed"] == 1
    assert s["delivered"] == s["issued"] - 1


def test_a_try_that_times_out_is_retried_and_its_late_answer_is_wasted():
    """Service 0.5 s, timeout 0.2 s, one retry after 50 ms: each request gives up after
    0.2 + 0.05 + 0.2 s and fails as a timeout; the server still serves both tries (their
    worker time wasted), the second queueing behind the first."""
    sc = world(server={"service_time": 0.5}, workload=THINK,
               resilience={"timeout": "200ms", "retries": 1, "backoff": "50ms",
                           "jitter": False})
    with pytest.warns(simcomm.EmptyRunWarning):
        r = simcomm.run(sc)
    s, m = r.summary, r.frames["messages"]
    # requests at 1, 2.45, 3.9 … 9.7 s (think 1 s after each gives up at +0.45 s); the last
    # has retried at 9.95 s but not given up before the end (10 s)
    assert s["delivered"] == 0 and s["issued"] == 7 and s["failed"] == 6
    assert s["retries"] == 7
    # the 12 tries of the first 6 requests were served in full and thrown away; the 7th's
    # first try is still on the worker at the end (counted busy up to 10 s, 0.295 s)
    assert s["wasted_server_s"] == pytest.approx(12 * 0.5)
    assert s["server_busy_s"] == pytest.approx(12 * 0.5 + 10.0 - (9.7 + D))
    req = m[m.kind == "request"]
    assert (req.flow.value_counts() == 2).all()
    starts = np.sort(req.t_send.to_numpy())
    assert np.allclose(starts[:4], [1.0, 1.25, 2.45, 2.7], rtol=0, atol=1e-12)


def test_a_circuit_breaker_fails_requests_at_once_while_open():
    """Requests every 0.1 s; the instance is down from 0.95 s for 3 s; the breaker opens
    after 3 failed tries in a row and stays open 1 s, then lets one trial through. While it
    is open nothing is sent and requests fail at once (errors, not rejections); every trial
    while the server is down opens it again; once the server is back the next trial closes
    it and everything after is delivered."""
    sc = world(balancer={}, faults={"restarts": {"at": ["0.95s"], "downtime": "3s"}},
               workload={"requests": {"rate": "10/s", "arrival": "periodic"}},
               resilience={"breaker": {"failures": 3, "open_for": "1s"}})
    r = simcomm.run(sc)
    s, m, d = r.summary, r.frames["messages"], r.frames["deliveries"]
    req = m[m.kind == "request"].sort_values("t_send")
    refused = req[req.tag == "control"]
    assert s["rejected"] == len(refused) >= 3
    opened = refused.iloc[2].t_arrive + D  # the third failure's answer is back
    assert not ((req.t_send > opened + 1e-9) & (req.t_send < opened + 1.0 - 1e-9)).any()
    fast = s["failed"] - s["rejected"]
    assert fast >= 25 and s["failed"] == s["issued"] - s["delivered"]
    # down until 3.95 s: a trial within open_for (plus one period) after it closes it
    assert (d.t_start > 3.95 + 1.1).sum() == (req.t_send > 3.95 + 1.1).sum() > 40


def test_a_cache_hit_is_delivered_at_once_without_the_server():
    """Hit ratio h = 0.4: hits are delivered with latency 0 and no message; over n requests
    the hits are Binomial(n, h), within 4 standard deviations; the server works only for
    the misses."""
    h = 0.4
    sc = world(duration=500.0, workload={"requests": {"rate": "10/s", "arrival": "periodic"}},
               resilience={"cache": h})
    r = simcomm.run(sc)
    d, s = r.frames["deliveries"], r.summary
    n = len(d)
    hits = int((d.latency == 0).sum())
    assert abs(hits - n * h) < 4 * math.sqrt(n * h * (1 - h))
    assert np.allclose(d[d.latency > 0].latency, 2 * D + S, rtol=0, atol=1e-12)
    assert s["server_busy_s"] == pytest.approx((n - hits) * S, rel=1e-9)
    assert s["messages"] == 2 * (n - hits)


@pytest.mark.parametrize(("cpu", "lat"), [(50e-6, 20e-6), (300e-6, 0.0), (0.0, 1e-3)])
def test_a_sidecar_pair_adds_twice_loopback_plus_cpu_per_direction(cpu, lat):
    """No load: with sidecars each exchange takes 2 × (loopback + CPU) longer per direction —
    4·(lat + cpu) in all — the CPU in the sidecar part, the loopbacks in propagation."""
    plain = simcomm.run(world()).frames["deliveries"]
    side = simcomm.run(world(sidecar={"cpu": cpu, "latency": lat})).frames["deliveries"]
    assert np.allclose(side.latency - plain.latency, 4 * (cpu + lat), rtol=0, atol=1e-12)
    assert np.allclose(side.sidecar_s, 4 * cpu, rtol=0, atol=1e-12)
    assert np.allclose(side.propagation_s, 2 * D + 4 * lat, rtol=0, atol=1e-12)


def test_mutual_tls_sends_the_client_certificate_on_full_handshakes_only():
    """A connection per request with mTLS: the first (full) handshake carries the client's
    3 300 B certificate flight just ahead of the request; resumed ones do not. The round
    trips do not change (3 RTT + S with TLS 1.3)."""
    r = simcomm.run(world(connection={"protocol": "h1", "reuse": "per_request", "mtls": True}))
    m, d = r.frames["messages"], r.frames["deliveries"]
    certs = m[(m.kind == "handshake") & (m.bytes == 3300)]
    assert len(certs) == 1 and certs.iloc[0].t_send == pytest.approx(m.t_send.min() + 4 * D)
    assert np.allclose(d.latency, 3 * 2 * D + S, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("resilience", "field", "words"), [
    ({"retries": -1}, "resilience.retries", "greater than or equal to 0"),
    ({"backoff": "10ms"}, "resilience.retries", "apply to retries"),
    ({"retries": 1, "backoff": "2s", "timeout": "1s"}, "resilience.backoff_max", "≥ backoff"),
    ({"retries": 2}, "resilience.timeout", "retries need a per-try timeout"),
    ({"timeout": 0}, "resilience.timeout", "> 0"),
    ({"cache": 1.0}, "resilience.cache", "less than 1"),
    ({"breaker": {"failures": 0}}, "resilience.breaker.failures", "greater than or equal to 1"),
])
def test_bad_resilience_input_names_the_field(resilience, field, words):
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(world(resilience=resilience))
    assert e.value.field == field
    assert words in e.value.message


def test_resilience_needs_request_response_and_mtls_needs_tls():
    sc = world(resilience={"cache": 0.5}, workload={"updates": {"rate": "1/s"}},
               pattern={"name": "sse"})
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(sc)
    assert e.value.field == "resilience" and "request_response" in e.value.message
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(world(connection={"tls": "none", "mtls": True}))
    assert e.value.field == "connection.mtls"


def test_on_http1_a_timed_out_try_closes_its_connection():
    """HTTP/1.1 cannot cancel a request: the caller closes the connection when it gives up,
    and the retry opens a new one (TCP + TLS 1.3: 2 round trips, 4 handshake flights); on
    HTTP/2 only the stream is reset and the retry goes at once."""
    common = dict(server={"service_time": 0.5},
                  workload={"requests": {"think_time": 1.0}},
                  resilience={"timeout": "200ms", "retries": 1, "backoff": "10ms",
                              "jitter": False})
    with pytest.warns(simcomm.EmptyRunWarning):
        h1 = simcomm.run(world(connection={"protocol": "h1"}, **common))
    with pytest.warns(simcomm.EmptyRunWarning):
        h2 = simcomm.run(world(**common))
    m1, m2 = h1.frames["messages"], h2.frames["messages"]
    assert (m2.kind == "handshake").sum() == 0
    first_retry = np.sort(m1[m1.kind == "request"].t_send.to_numpy())[1]
    assert first_retry == pytest.approx(1.0 + 0.2 + 0.01 + 2 * 2 * D)  # after the handshake
    assert h1.summary["connections_opened"] >= h1.summary["retries"] >= 4
