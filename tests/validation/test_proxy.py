"""The demultiplexing proxy (exact, constant inputs).

Clients reach the proxy over HTTP/2 (one connection, enough streams); the proxy spreads their
requests over a pool of k HTTP/1.1 backend connections (one request each at a time) to the
server. One client issues a batch of N requests at once every 5 s; front one-way latency DF,
backend one-way latency DB, service S with enough workers, no TLS on the backend, no headers,
unlimited bandwidth. The first batch (before the warm-up) opens the backend pool; a later batch:

* proxy CPU 0, pool k: the requests leave the proxy in ⌈N/k⌉ waves of 2·DB + S each, so the
  batch takes 2·DF + ⌈N/k⌉·(2·DB + S), and request i waits ⌊i/k⌋·(2·DB + S) in the ``hop``
  part for a backend connection;
* one proxy worker with CPU c per request, a pool of N: request i leaves the proxy after
  (i + 1)·c, so the batch takes 2·DF + 2·DB + S + N·c;
* a connection per backend request: each pays the TCP handshake on the backend leg, 2·DB more.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import simcomm

DF, DB, S, N = 0.010, 0.001, 0.004, 6
BACK = 2 * DB + S


def world(proxy: dict, *, n: int = N, **over) -> dict:
    sc = {
        "duration": 30.0, "warmup": 5.0, "seed": 2,
        "network": {"latency": DF, "bandwidth": "unlimited"},
        "headers": {"request": 0, "response": 0},
        "server": {"workers": 64, "service_time": S},
        "clients": {"count": 1},
        "workload": {"requests": {"batch": n, "every": "5s"}, "encoding": "none"},
        "connection": {"protocol": "h2"},
        "proxy": {"latency": DB, "cpu": 0, "bandwidth": "unlimited", **proxy},
        "pattern": {"name": "request_response", "client": "async", "concurrency": n},
    }
    sc.update(over)
    return sc


@pytest.mark.parametrize("k", [1, 2, 4, N])
def test_a_backend_pool_of_k_sends_a_batch_in_waves(k):
    """N streams through a pool of k backend connections: ⌈N/k⌉ waves of 2·DB + S."""
    r = simcomm.run(world({"pool": k}))
    s, d = r.summary, r.frames["deliveries"]
    assert s["batch_time_mean"] == pytest.approx(2 * DF + math.ceil(N / k) * BACK, abs=1e-12)
    waits = np.sort(d.hop_s.to_numpy())
    want = np.sort(np.tile([(i // k) * BACK for i in range(N)], len(d) // N))
    assert np.allclose(waits, want, rtol=0, atol=1e-12)
    assert np.allclose(d[[c for c in d.columns if c.endswith("_s")]].sum(axis=1), d.latency)


def test_proxy_cpu_queues_on_its_workers():
    """One proxy worker with c = 1 ms per request: the batch takes 2·DF + 2·DB + S + N·c."""
    c = 0.001
    s = simcomm.run(world({"pool": N, "workers": 1, "cpu": c})).summary
    assert s["batch_time_mean"] == pytest.approx(2 * DF + BACK + N * c, abs=1e-12)


def test_a_connection_per_backend_request_pays_its_handshake():
    """reuse: per_request on the backend: every request opens a backend connection first
    (TCP: one more backend round trip, in handshake_s)."""
    r = simcomm.run(world({"pool": N, "reuse": "per_request"}))
    d, s = r.frames["deliveries"], r.summary
    assert np.allclose(d.latency, 2 * DF + 2 * DB + BACK, rtol=0, atol=1e-12)
    assert np.allclose(d.handshake_s, 2 * DB, rtol=0, atol=1e-12)
    assert s["connections_opened"] == s["delivered"]


def test_an_entry_can_drop_or_change_the_proxy():
    """`proxy: false` in a patterns: entry runs it without the scenario's proxy; a mapping
    changes the proxy for that entry only."""
    sc = world({"pool": 1})
    del sc["pattern"]
    sc["patterns"] = [
        {"name": "request_response", "client": "async", "concurrency": N, "label": "pool1"},
        {"name": "request_response", "client": "async", "concurrency": N, "label": "pool6",
         "proxy": {"pool": N}},
        {"name": "request_response", "client": "async", "concurrency": N, "label": "direct",
         "proxy": False},
    ]
    res = {r.pattern: r.summary for r in simcomm.compare(sc)}
    assert res["pool1"]["batch_time_mean"] == pytest.approx(2 * DF + N * BACK, abs=1e-12)
    assert res["pool6"]["batch_time_mean"] == pytest.approx(2 * DF + BACK, abs=1e-12)
    assert res["direct"]["batch_time_mean"] == pytest.approx(2 * DF + S, abs=1e-12)


@pytest.mark.parametrize(("proxy", "field"), [
    ({"pool": 0}, "proxy.pool"),
    ({"workers": 0}, "proxy.workers"),
    ({"reuse": "sometimes"}, "proxy.reuse"),
    ({"tls": "1.1"}, "proxy.tls"),
    ({"cpu": "-1us"}, "proxy.cpu"),
    ({"poool": 2}, "proxy.poool"),
])
def test_bad_proxy_input_names_the_field(proxy, field):
    """A wrong proxy block is one error naming the field."""
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(world(proxy))
    assert e.value.field == field


@pytest.mark.parametrize("pattern", [
    {"name": "request_response", "client": "async"},
    {"name": "job_polling", "interval": "200ms", "job_duration": "300ms"},
    {"name": "short_polling", "interval": "200ms"},
    {"name": "long_polling", "timeout": "2s"},
    {"name": "push", "prefetch": 2},
    {"name": "sse", "heartbeat": "300ms"},
    {"name": "pubsub", "consumer": "pull", "max_wait": "300ms"},
], ids=lambda p: p["name"])
def test_every_pattern_runs_through_a_proxy(pattern):
    """The proxy plugs into the path under every pattern: deliveries arrive, their parts add
    up, and every request-driven delivery crossed the backend leg (propagation ≥ DF + 2·DB for
    an exchange, ≥ DF + DB for what the server sends)."""
    sc = {
        "duration": 20.0, "warmup": 2.0, "seed": 4,
        "network": {"latency": DF, "bandwidth": "unlimited"},
        "server": {"workers": 8, "service_time": S},
        "clients": {"count": 3},
        "workload": {"requests": {"rate": "6/s"}, "updates": {"rate": "2/s"}},
        "proxy": {"latency": DB, "pool": 2},
        "pattern": pattern,
    }
    d = simcomm.run(sc).frames["deliveries"]
    assert len(d) > 20
    parts = [c for c in d.columns if c.endswith("_s")]
    assert np.allclose(d[parts].sum(axis=1), d.latency, rtol=0, atol=1e-9)
    assert (d.propagation_s >= DF + DB - 1e-12).all()
