"""HTTP/1.1 pools, pipelining, HTTP/2 streams and header compression (exact, constant inputs).

The world: one client issuing a batch of N requests at once every 10 s (async, concurrency N),
constant one-way latency D, unlimited bandwidth, no encoding cost, N workers with constant
service S (never a wait for a worker), no TLS (a cold connection costs 1 RTT). The first batch
(before the 10 s warm-up) opens the connections; a later batch finds them open, so its time is
pure multiplexing:

* HTTP/1.1 with a pool of k: one exchange per connection at a time, so N requests take
  ⌈N/k⌉ rounds of RTT + S;
* HTTP/2 (or HTTP/3) with max_streams m: ⌈N/m⌉ rounds, one with enough streams.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import simcomm

D, S, N = 0.010, 0.004, 10
ROUND = 2 * D + S


def world(connection: dict, *, n: int = N, service=S, workers: int = N, **over) -> dict:
    sc = {
        "duration": 40.0, "warmup": 10.0, "seed": 2,
        "network": {"latency": D, "bandwidth": "unlimited"},
        "headers": {"request": 0, "response": 0},
        "server": {"workers": workers, "service_time": service},
        "clients": {"count": 1},
        "workload": {"requests": {"batch": n, "every": "10s"}, "encoding": "none"},
        # no TLS (h3 is always TLS 1.3: its cold connection costs 1 RTT too)
        "connection": connection if connection.get("protocol") == "h3"
        else {"tls": "none", **connection},
        "pattern": {"name": "request_response", "client": "async", "concurrency": n},
    }
    sc.update(over)
    return sc


@pytest.mark.parametrize(("connection", "rounds"), [
    ({"pool": 1}, N),
    ({"pool": 4}, math.ceil(N / 4)),
    ({"pool": 6}, math.ceil(N / 6)),
    ({"pool": N}, 1),
    ({"protocol": "h2"}, 1),
    ({"protocol": "h2", "max_streams": 4}, math.ceil(N / 4)),
    ({"protocol": "h3"}, 1),
], ids=["h1x1", "h1x4", "h1x6", "h1x10", "h2", "h2-4-streams", "h3"])
def test_a_batch_takes_one_round_per_pool_or_stream_limit(connection, rounds):
    """N requests at once over an HTTP/1.1 pool of k take ⌈N/k⌉ rounds of RTT + s; over one
    HTTP/2 or HTTP/3 connection with enough streams, one round."""
    s = simcomm.run(world(connection)).summary
    assert s["batch_time_mean"] == pytest.approx(rounds * ROUND, abs=1e-12)
    assert s["batch_time_p95"] == pytest.approx(rounds * ROUND, abs=1e-12)
    assert s["connections_opened"] == 0  # the pool was opened by the first batch


def test_a_pool_opens_connections_on_demand_and_keeps_them():
    """The first batch opens min(N, k) connections (the client's own was warm: k − 1 new,
    each 1 RTT of TCP handshake); later batches reuse them."""
    r = simcomm.run(world({"pool": 4}, warmup=0.0, duration=25.0))
    m, s = r.frames["messages"], r.summary
    assert s["connections_opened"] == 3
    assert m.connection.nunique() == 4
    assert s["handshake_messages"] == 3 * 2  # SYN, SYN-ACK each


def test_pipelining_sends_at_once_but_answers_in_order():
    """One pipelined HTTP/1.1 connection: three requests go together, but a response waits
    for the ones before it (RFC 9112 §9.3.2): with service times 30, 5, 5 ms all three
    responses leave when the first is ready, so every latency is RTT + 30 ms, and the two
    quick ones waited 25 ms on the server."""
    sc = world({"pool": 1, "pipelining": True}, n=3, workers=3,
               service={"dist": "sequence", "values": ["30ms", "5ms", "5ms"]})
    d = simcomm.run(sc).frames["deliveries"].sort_values(["t_start", "flow"])
    first_batch = d.iloc[:3]
    assert np.allclose(first_batch.latency, 2 * D + 0.030, rtol=0, atol=1e-12)
    assert np.allclose(first_batch.server_queue_s, [0.0, 0.025, 0.025], rtol=0, atol=1e-12)
    # without pipelining the pool of one connection takes three full rounds
    d = simcomm.run(world({"pool": 1}, n=3, workers=3, service={
        "dist": "sequence", "values": ["30ms", "5ms", "5ms"]})).frames["deliveries"]
    assert d.sort_values("t_start").iloc[:3].latency.max() == pytest.approx(
        3 * 2 * D + 0.040, abs=1e-12)


def test_http2_compresses_repeated_headers():
    """On HTTP/2 a connection's first request and response carry their whole headers; every
    later one 10 % of them (HPACK: most fields become table indexes). HTTP/1.1 repeats them."""
    for protocol, later in (("h2", 0.1), ("h1", 1.0)):
        sc = world({"protocol": protocol} if protocol == "h2" else {"pool": N},
                   headers={"request": 400, "response": 300}, warmup=0.0)
        m = simcomm.run(sc).frames["messages"].sort_values("t_send")
        for kind, full in (("request", 400.0), ("response", 300.0)):
            per_conn = m[m.kind == kind].groupby("connection").header_bytes
            assert (per_conn.first() == full).all()
            rest = m[m.kind == kind].header_bytes.to_numpy()
            compressed = len(rest) - per_conn.ngroups if later < 1 else len(rest)
            assert np.isclose(rest, full * later).sum() == compressed
