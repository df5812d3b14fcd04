"""Connection set-up costs against their round-trip counts (exact, constant inputs).

A cold request pays its connection's handshake before it can be sent, then one round trip and
the service time (shared/TRANSPORT.md, with the RFCs; simcomm/components/setup.py):

=====================================  ===================
plain TCP                              2 RTT + s
TCP + TLS 1.3                          3 RTT + s
TCP + TLS 1.2                          4 RTT + s
QUIC (h3)                              2 RTT + s
QUIC, 0-RTT resumption                 1 RTT + s
TCP + TLS 1.3, 0-RTT resumption        2 RTT + s
a warm keep-alive connection           1 RTT + s
=====================================  ===================

The world: one client, constant one-way latency D (RTT = 2D), unlimited bandwidth (so the
handshake's bytes cost no time), no headers, encoding none, constant service S, a sync client
sending one request every 2 s (periodic), so each request finds the previous one done.
"""

from __future__ import annotations

import numpy as np
import pytest

import simcomm
from simcomm.components.setup import Setup

D, S = 0.010, 0.005
RTT = 2 * D


def world(connection: dict, *, rate: str = "0.5/s", duration: float = 21.0, **over) -> dict:
    sc = {
        "duration": duration, "seed": 4,
        "network": {"latency": D, "bandwidth": "unlimited"},
        "headers": {"request": 0, "response": 0},
        "server": {"workers": 4, "service_time": S},
        "clients": {"count": 1},
        "workload": {"requests": {"rate": rate, "arrival": "periodic"}, "encoding": "none"},
        "connection": connection,
        "pattern": {"name": "request_response"},
    }
    sc.update(over)
    return sc


def latencies(connection: dict, **kw):
    r = simcomm.run(world(connection, **kw))
    d = r.frames["deliveries"].sort_values("t_start")
    return d, r.summary, r.frames["messages"]


@pytest.mark.parametrize(("connection", "rtts"), [
    ({"tls": "none"}, 2),
    ({"tls": "1.3"}, 3),
    ({"tls": "1.2"}, 4),
    ({"protocol": "h3"}, 2),
], ids=["tcp", "tls1.3", "tls1.2", "quic"])
def test_a_cold_request_pays_its_handshake(connection, rtts):
    """With a connection per request, every request pays the full set-up: k RTT + s, the
    handshake (k − 1 RTT) in its own part; resumption does not shorten TCP or TLS 1.3 round
    trips without 0-RTT, and TLS 1.2's abbreviated handshake does (resumed: 3 RTT + s)."""
    d, s, m = latencies({**connection, "reuse": "per_request"})
    first, later = d.iloc[0], d.iloc[1:]
    assert first.latency == pytest.approx(rtts * RTT + S, abs=1e-12)
    assert first.handshake_s == pytest.approx((rtts - 1) * RTT, abs=1e-12)
    resumed = rtts - 1 if connection.get("tls") == "1.2" else rtts
    assert np.allclose(later.latency, resumed * RTT + S, rtol=0, atol=1e-12)
    # every request opens a connection; each handshake flight is one message
    n = len(d)
    assert s["connections_opened"] == n
    flights = Setup(**{"tls": "1.3", **connection})
    want = len(flights.flights(False)) + (n - 1) * len(flights.flights(True))
    assert s["handshake_messages"] == want == len(m[m.kind == "handshake"])
    assert (m[m.kind == "handshake"].tag == "control").all()


@pytest.mark.parametrize(("connection", "rtts"), [
    ({"protocol": "h3", "zero_rtt": True}, 1),
    ({"tls": "1.3", "zero_rtt": True}, 2),
], ids=["quic-0rtt", "tls1.3-0rtt"])
def test_zero_rtt_resumption_sends_the_request_in_the_first_flight(connection, rtts):
    """Resumed, a 0-RTT connection sends the request with its first flight: QUIC 1 RTT + s,
    TCP + TLS 1.3 2 RTT + s (TCP's own round trip remains); the first connection is full."""
    d, _, m = latencies({**connection, "reuse": "per_request"})
    full = 2 if connection.get("protocol") == "h3" else 3
    assert d.iloc[0].latency == pytest.approx(full * RTT + S, abs=1e-12)
    assert np.allclose(d.iloc[1:].latency, rtts * RTT + S, rtol=0, atol=1e-12)
    # the resumption's hello goes up just ahead of the request, the server's answer just
    # ahead of the response
    hs = m[(m.kind == "handshake") & (m.direction == "up")]
    req = m[m.kind == "request"].sort_values("t_send")
    # every resumed request goes right behind its hello: same instant, same connection
    for _, r in req.iloc[1:].iterrows():
        mine = hs[hs.connection == r.connection]
        assert len(mine) == (1 if connection.get("protocol") == "h3" else 2)
        assert mine.t_send.iloc[-1] == r.t_send


def test_a_warm_keepalive_connection_costs_one_round_trip():
    """Warm and kept alive (the default), every request takes 1 RTT + s and nothing is
    opened."""
    d, s, _ = latencies({})
    assert np.allclose(d.latency, RTT + S, rtol=0, atol=1e-12)
    assert np.allclose(d.handshake_s, 0.0)
    assert s["connections_opened"] == 0 == s["handshake_messages"]


def test_a_cold_keepalive_connection_pays_once():
    """warm: false — the first request opens the connection (TCP + TLS 1.3: 3 RTT + s), the
    others reuse it (1 RTT + s)."""
    d, s, _ = latencies({"warm": False})
    assert d.iloc[0].latency == pytest.approx(3 * RTT + S, abs=1e-12)
    assert np.allclose(d.iloc[1:].latency, RTT + S, rtol=0, atol=1e-12)
    assert s["connections_opened"] == 1 and s["handshake_messages"] == 4


def test_idle_timeout_makes_the_next_request_pay_again():
    """A connection idle for longer than idle_timeout closes: with requests every 2 s and a
    1 s timeout every request opens a resumed connection (TLS 1.3: 3 RTT + s); with a 3 s
    timeout none does."""
    d, s, _ = latencies({"idle_timeout": "1s"})
    assert np.allclose(d.iloc[1:].latency, 3 * RTT + S, rtol=0, atol=1e-12)
    assert s["connections_opened"] >= len(d) - 1
    d, s, _ = latencies({"idle_timeout": "3s"})
    assert np.allclose(d.latency, RTT + S, rtol=0, atol=1e-12)
    assert s["connections_opened"] == 0


def test_concurrent_requests_wait_for_one_handshake():
    """An async client's requests issued together on a cold HTTP/2 connection all wait for
    its one handshake (counted in their handshake part), then go together as streams."""
    sc = world({"warm": False, "protocol": "h2"}, rate="0.5/s", duration=5.0,
               pattern={"name": "request_response", "client": "async"})
    # three callers think 1 s each (the client's think stream, in turn), then 100 s each
    sc["workload"]["requests"] = {"think_time": {"dist": "sequence", "values": [
        "1s", "1s", "1s", "100s", "100s", "100s"]}}
    sc["pattern"]["concurrency"] = 3
    r = simcomm.run(sc)
    d, s = r.frames["deliveries"], r.summary
    assert len(d) == 3
    assert np.allclose(d.latency, 3 * RTT + S, rtol=0, atol=1e-12)
    assert np.allclose(d.handshake_s, 2 * RTT, rtol=0, atol=1e-12)
    assert s["connections_opened"] == 1 and s["handshake_messages"] == 4


def test_concurrent_http1_requests_open_one_connection_each():
    """On HTTP/1.1 (one exchange per connection) three requests issued together on a cold pool
    open three connections, each paying the full handshake: 3 RTT + s each."""
    sc = world({"warm": False}, rate="0.5/s", duration=5.0,
               pattern={"name": "request_response", "client": "async", "concurrency": 3})
    sc["workload"]["requests"] = {"think_time": {"dist": "sequence", "values": [
        "1s", "1s", "1s", "100s", "100s", "100s"]}}
    r = simcomm.run(sc)
    d, s = r.frames["deliveries"], r.summary
    assert np.allclose(d.latency, 3 * RTT + S, rtol=0, atol=1e-12)
    assert s["connections_opened"] == 3 and s["handshake_messages"] == 12
    assert d.flow.nunique() == 3 and r.frames["messages"].connection.nunique() == 3


def test_one_file_compares_protocols_per_entry():
    """A patterns: entry may carry its own connection: block on top of the scenario's."""
    sc = world({"reuse": "per_request"})
    del sc["pattern"]
    sc["patterns"] = [{"name": "request_response", "label": "tls"},
                      {"name": "request_response", "label": "quic",
                       "connection": {"protocol": "h3"}}]
    res = {r.pattern: r.frames["deliveries"] for r in simcomm.compare(sc)}
    assert res["tls"].iloc[0].latency == pytest.approx(3 * RTT + S, abs=1e-12)
    assert res["quic"].iloc[0].latency == pytest.approx(2 * RTT + S, abs=1e-12)


@pytest.mark.parametrize(("connection", "field", "words"), [
    ({"tls": "1.1"}, "connection.tls", "1.3"),
    ({"protocol": "h4"}, "connection.protocol", "h3"),
    ({"zero_rtt": True, "tls": "none"}, "connection.zero_rtt", "TLS 1.3"),
    ({"zero_rtt": True, "tls": "1.2"}, "connection.zero_rtt", "TLS 1.3"),
    ({"protocol": "h3", "tls": "1.2"}, "connection.tls", "QUIC"),
    ({"reuse": "per_request", "warm": False}, "connection.warm", "keepalive"),
    ({"idle_timeout": 0}, "connection.idle_timeout", "> 0"),
    ({"pool": 0}, "connection.pool", "greater than or equal to 1"),
    ({"pool": True}, "connection.pool", "whole number"),
    ({"max_streams": 0, "protocol": "h2"}, "connection.max_streams",
     "greater than or equal to 1"),
    ({"pipelining": True, "protocol": "h2"}, "connection.pipelining", "h1 only"),
    ({"pool": 4, "protocol": "h3"}, "connection.pool", "h1 only"),
    ({"max_streams": 10}, "connection.max_streams", "h2/h3 only"),
    ({"mss": 0}, "connection.mss", "> 0"),
    ({"mss": "-1B"}, "connection.mss", "> 0"),
    ({"initial_window": 0}, "connection.initial_window", "greater than or equal to 1"),
    ({"initial_window": 2.5}, "connection.initial_window", "whole number"),
])
def test_bad_connection_input_names_the_field(connection, field, words):
    """A wrong connection block is one error naming the field and what is allowed."""
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(world(connection))
    assert e.value.field == field
    assert words in e.value.message


def test_an_unquoted_tls_version_is_read_as_the_version():
    """YAML reads `tls: 1.2` as a number: it still means TLS 1.2."""
    d, _, _ = latencies({"tls": 1.2, "reuse": "per_request"})
    assert d.iloc[0].latency == pytest.approx(4 * RTT + S, abs=1e-12)
