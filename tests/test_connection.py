"""Connections and the path: in-order delivery, epochs, datagram loss, server restarts, hops.

Hand-computable timelines use the ``sequence`` distribution for latencies (given values in
turn), so every expected time below is arithmetic on the inputs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

import simcomm
from simcomm.components.connection import DOWN, UP, Connection
from simcomm.components.link import Link
from simcomm.components.path import Hop, Path, Trip
from simcomm.components.server import Server
from simcomm.dists import from_spec
from simcomm.metrics.definitions import Kind, Part, Tag
from simcomm.metrics.recorder import FullRecorder
from simcomm.metrics.summary import Tally
from simcomm.rng import Streams
from simcomm.units import parse_duration


def _conn(env, rec, latencies, *, loss=0.0, bandwidth=math.inf, draws=None):
    link = Link("l", bandwidth=bandwidth, latency_dist=from_spec(
        {"dist": "sequence", "values": latencies}, parse_duration, allow_zero=True),
        loss=loss, rto=0.2, streams=Streams(1))
    if draws is not None:
        it = iter(draws)
        link.up._lossdraw = lambda: next(it)
    return Connection(env, link, rec, name="c", index=0)


def _send(env, conn, log, name, at=0.0, direction=UP, size=0):
    def proc():
        yield env.timeout(at)
        r = conn.send(direction, size, 0, Kind.REQUEST, Tag.USEFUL, 0)
        if r.__class__ is not tuple:
            r = yield r
        log.append((name, round(env.now, 12), tuple(round(x, 12) for x in r[:4])))
    env.process(proc())


def test_a_later_message_never_overtakes_an_earlier_one():
    """Latencies 50 ms then 10 ms: the second message waits for the first and the wait
    counts as head_of_line (received, not deliverable); the frame records the in-order
    arrival."""
    env = simpy.Environment()
    rec = FullRecorder(env, 0.0, 10.0)
    conn = _conn(env, rec, ["50ms", "10ms"])
    log = []
    _send(env, conn, log, "a")
    _send(env, conn, log, "b", at=0.001)
    env.run()
    # b would arrive at 0.011 on its own; it is handed over after a, at 0.050: 39 ms wait
    assert log == [("a", 0.05, (0.0, 0.05, 0.0, 0.0)), ("b", 0.05, (0.0, 0.01, 0.0, 0.039))]
    assert list(rec.m_arrive) == [0.05, 0.05]
    assert Tally(rec, 10.0).total("hol") == pytest.approx(0.039)
    assert list(rec.m_conn) == [0, 0]


def test_directions_and_connections_keep_their_own_order():
    """Only messages of one direction of one connection wait for each other."""
    env = simpy.Environment()
    rec = FullRecorder(env, 0.0, 10.0)
    link = Link("l", bandwidth=math.inf, latency_dist=from_spec(
        {"dist": "sequence", "values": ["50ms", "10ms"]}, parse_duration, allow_zero=True),
        loss=0.0, rto=0.2, streams=Streams(1))
    c1 = Connection(env, link, rec, name="c1", index=0)
    c2 = Connection(env, link, rec, name="c2", index=1)
    log = []
    _send(env, c1, log, "c1")            # up: 50 ms (first value of the up stream)
    _send(env, c2, log, "c2", at=0.001)  # up: 10 ms, another connection: not held
    _send(env, c1, log, "down", at=0.002, direction=DOWN)  # down stream: 50 ms of its own
    env.run()
    assert dict((n, t) for n, t, _ in log) == {"c2": 0.011, "c1": 0.05, "down": 0.052}


def test_a_lost_message_holds_up_the_next_one():
    """The first message (one segment) is lost once; the second, one segment sent 1 ms
    later, is too few later segments for fast retransmit, so the RTO (200 ms) recovers it.
    The second is delivered only after the retransmitted first one (TCP head-of-line
    blocking): its wait is head_of_line, the first one's delay retransmission."""
    env = simpy.Environment()
    rec = FullRecorder(env, 0.0, 10.0)
    conn = _conn(env, rec, ["10ms"], loss=0.5, draws=[0.1, 0.9, 0.9])  # lost, ok, ok
    log = []
    _send(env, conn, log, "a")
    _send(env, conn, log, "b", at=0.001)
    env.run()
    # a: lost at 0, resent at 0.2, arrives 0.21. b: arrives 0.011 on its own, held to 0.21
    assert log == [("a", 0.21, (0.0, 0.01, 0.2, 0.0)), ("b", 0.21, (0.0, 0.01, 0.0, 0.199))]
    # rows: a (delivered at 0.21), b, then a's retransmitted segment (tagged retry)
    assert list(rec.m_arrive) == [pytest.approx(0.21)] * 3
    assert list(rec.m_tag) == [Tag.USEFUL, Tag.USEFUL, Tag.RETRY]


def test_a_drop_bumps_the_epoch_and_forgets_the_old_order():
    """After a drop and reopen, a message of the new connection does not wait for one still
    travelling on the old one; held time stops while dropped; reopens are counted."""
    env = simpy.Environment()
    rec = FullRecorder(env, 0.0, 10.0)
    conn = _conn(env, rec, ["50ms", "10ms"])
    seen = []
    conn.on_drop(lambda c: seen.append(env.now))
    log = []
    _send(env, conn, log, "old")

    def flap():
        yield env.timeout(0.002)
        conn.drop()
        conn.drop()  # a second drop of a dropped connection changes nothing
        conn.reopen()
    env.process(flap())
    _send(env, conn, log, "new", at=0.003)
    env.run(until=1.0)
    rec.close()
    assert conn.epoch == 1 and seen == [0.002]
    assert dict((n, t) for n, t, _ in log) == {"new": 0.013, "old": 0.05}
    assert Tally(rec, 1).count("connections_opened") == 1
    assert rec.conn_held.area == pytest.approx(1.0)  # dropped and reopened at the same instant


def _path_world(latency: str):
    """A bare world: one worker with no service time, a path, and a link of *latency*."""
    env = simpy.Environment()
    rec = FullRecorder(env, 0.0, 10.0)
    server = Server(env, workers=1, service=lambda: 0.0, queue_limit=None, recorder=rec)
    path = Path(env, server, rec, Streams(1))
    link = Link("l", bandwidth=math.inf, latency_dist=from_spec(latency, parse_duration,
                                                                 allow_zero=True),
                loss=0.0, rto=0.2, streams=Streams(1))
    return env, rec, server, path, link


def test_a_datagram_lost_for_good_is_on_the_wire_without_arrival():
    """An acknowledgement sent with drop = 1 is recorded (tag control, no arrival time) and
    never arrives; with drop = 0 it arrives."""
    env, rec, _server, path, link = _path_world("10ms")
    conn = path.connect(link, "c")
    out = []

    def acks():
        out.append((yield from path.ack(conn, 7, 8, drop=1.0)))
        out.append((yield from path.ack(conn, 8, 8)))
    env.process(acks())
    env.run()
    assert out == [False, True]
    assert math.isnan(rec.m_arrive[0]) and rec.m_arrive[1] == pytest.approx(0.01)
    assert list(rec.m_kind) == [Kind.ACK, Kind.ACK] and list(rec.m_tag) == [Tag.CONTROL] * 2


def test_a_server_restart_drops_every_connection_and_refuses_during_downtime():
    """restart(downtime): connections drop at once; a bounded request in the downtime is
    refused, one after it is served; own work is never refused."""
    env, _rec, server, path, link = _path_world("0s")
    conns = [path.connect(link, f"c{i}") for i in range(3)]
    server.restart_at(1.0, downtime=0.5)
    out = []

    def probe(t, bounded=True):
        yield env.timeout(t)
        out.append((t, (yield from path.work(Trip(0), bounded=bounded))))
    for t in (1.2, 1.6):
        env.process(probe(t))
    env.process(probe(1.3, bounded=False))
    env.run()
    assert [c.epoch for c in conns] == [1, 1, 1] and not any(c.is_open for c in conns)
    assert sorted(out) == [(1.2, False), (1.3, True), (1.6, True)]
    assert server.restarts == 1 and server.last_restart == 1.0


class FixedDelay(Hop):
    """A test hop: every message spends *delay* seconds in it (counted as propagation)."""

    def __init__(self, env, delay):
        self.env, self.delay = env, delay
        self.seen = 0

    def carry(self, trip, direction, size, header=0.0, kind=0, tag=0):
        self.seen += 1
        trip.parts[int(Part.PROPAGATION)] += self.delay
        yield self.env.timeout(self.delay)


BASE = {
    "duration": "40s", "warmup": "5s", "seed": 3,
    "network": {"latency": "5ms", "bandwidth": "unlimited"},
    "server": {"workers": 4, "service_time": "1ms"},
    "clients": {"count": 4},
    "workload": {"requests": {"rate": "8/s"}, "updates": {"rate": "10/s"}},
}
EVERY_PATTERN = [
    {"name": "request_response"},
    {"name": "request_response", "client": "async"},
    {"name": "request_response", "chunks": 3, "window": 2},
    {"name": "job_polling", "interval": "200ms", "job_duration": "300ms"},
    {"name": "short_polling", "interval": "200ms"},
    {"name": "long_polling", "timeout": "2s"},
    {"name": "push", "prefetch": 2},
    {"name": "sse", "heartbeat": "300ms"},
    {"name": "pubsub", "consumer": "push", "delivery": "at_least_once", "ack_timeout": "1s"},
    {"name": "pubsub", "consumer": "pull", "max_wait": "300ms"},
]


def _sc(pattern, **over):
    sc = {**BASE, "pattern": pattern, **over}
    if pattern.get("chunks"):
        sc["workload"] = {**sc["workload"], "request_size": "3KiB"}
    return simcomm.load(sc)


@pytest.mark.parametrize("protocol", ["h1", "h2"])
@pytest.mark.parametrize("pattern", EVERY_PATTERN, ids=lambda p: "-".join(map(str, p.values())))
def test_every_pattern_keeps_each_connection_in_order(pattern, protocol):
    """With a random latency (uniform 1–40 ms, unlimited bandwidth, no loss), every
    connection's messages arrive in each direction in the order they were sent; where a
    connection carries several messages at once, some were held behind an earlier one (the
    order had to be kept), and none were where it cannot."""
    sc = _sc(pattern, network={"latency": {"dist": "uniform", "low": "1ms", "high": "40ms"},
                               "bandwidth": "unlimited"}, connection={"protocol": protocol})
    # a sync caller or a poller has one message per direction in flight: nothing can overtake;
    # on HTTP/1.1 neither has any request-driven exchange (one per connection)
    one_at_a_time = pattern in ({"name": "request_response"},
                                {"name": "short_polling", "interval": "200ms"},
                                {"name": "long_polling", "timeout": "2s"}) or (
        protocol == "h1" and pattern["name"] in ("request_response", "job_polling"))
    r = simcomm.run(sc)
    m = r.frames["messages"]
    m = m[m.t_arrive.notna()]
    assert len(m) > 100
    for (_conn, _dir), g in m.groupby(["connection", "direction"], observed=True):
        # rows are in the order messages were handed over; arrivals must never go back
        assert (np.diff(g.t_arrive.to_numpy()) >= 0).all()
    # unlimited bandwidth, no loss: a message is only held behind an earlier one
    d = r.frames["deliveries"]
    assert (d.transmission_s.abs() < 1e-9).all()
    assert (d.head_of_line_s > 1e-9).any() != one_at_a_time
    if not one_at_a_time:
        assert r.summary["hol_blocked_s"] > 0


@pytest.mark.parametrize("pattern", EVERY_PATTERN, ids=lambda p: "-".join(map(str, p.values())))
def test_a_hop_plugs_into_the_path_without_touching_the_pattern(pattern):
    """A hop added to the world's path (one class, no pattern edit) sees the pattern's
    messages, and each delivery's propagation part grows by whole hop delays."""
    from simcomm.metrics.summary import frames
    from simcomm.patterns import PATTERNS
    from simcomm.world import World

    sc = _sc(pattern)
    spec = sc.variants[0]
    world = World(sc)
    hop = FixedDelay(world.env, 0.002)
    world.path.add_hop(hop)
    PATTERNS[spec.name](spec.params).install(world)
    world.run()
    d = frames(world.recorder)["deliveries"]
    assert hop.seen > 0 and len(d) > 0
    # 5 ms links, so propagation is 5 ms per link message plus 2 ms per hop crossing
    extra = (d.propagation_s.to_numpy() / 0.001) % 1
    assert np.allclose(np.minimum(extra, 1 - extra), 0, atol=1e-6)
    # every delivery ends with a message down, through the hop: 5 ms + 2 ms at least
    assert (d.propagation_s >= 0.007 - 1e-9).all()


@pytest.mark.parametrize("protocol, later", [("h2", 30.0), ("h1", 300.0)])
def test_a_posted_message_is_prepared_as_one_sent_down(protocol, later):
    """``path.post`` (a stream's events, pub/sub's pushed copies) hands a message over as
    ``path.down`` does: on HTTP/2 a response's headers after the connection's first are
    HPACK-compressed (10 %) whichever of the two sends it; on HTTP/1.1 neither compresses."""
    got = {}
    for how in ("down", "post"):
        env = simpy.Environment()
        rec = FullRecorder(env, 0.0, 10.0)
        server = Server(env, workers=1, service=lambda: 0.0, queue_limit=None, recorder=rec)
        path = Path(env, server, rec, Streams(1), protocol=protocol)
        link = Link("l", bandwidth=math.inf, latency_dist=from_spec(
            "5ms", parse_duration, allow_zero=True), loss=0.0, rto=0.2, streams=Streams(1))
        conn = path.connect(link, "c")
        landed = []

        def send(how=how, path=path, conn=conn, env=env, landed=landed):
            for flow in (1, 2):
                if how == "down":
                    landed.append((yield from path.down(conn, Trip(flow), 500.0, 300.0,
                                                        int(Kind.RESPONSE))))
                else:
                    path.post(conn, Trip(flow), 500.0, 300.0, int(Kind.RESPONSE),
                              int(Tag.USEFUL), lambda _trip, ok: landed.append(ok))
                    yield env.timeout(0.01)
        env.process(send())
        env.run()
        assert landed == [True, True]
        got[how] = (list(rec.m_header), list(rec.m_bytes))
    assert got["post"] == got["down"] == ([300.0, later], [500.0, 200.0 + later])
