"""TCP and QUIC as users feel them: slow-start rounds, the window's ceiling, loss recovery and
head-of-line blocking (simcomm/components/window.py, shared/TRANSPORT.md with the RFCs).

Timelines are exact: constant one-way latency D (RTT = 2D), unlimited bandwidth unless a test
says otherwise (so serialisation costs nothing), no headers, constant service S. With them:

* a response of n segments on a connection whose window is W (no loss, below the
  bandwidth-delay product) takes r = ⌈log2(n/W + 1)⌉ rounds of data — W, 2W, 4W … segments —
  so a request costs D up, S, r − 1 round trips waiting for the window and D down:
  r·RTT + S;
* a lost segment with at least three segments behind it is retransmitted when the third
  one's acknowledgement is back (fast retransmit): it arrives RTT later than it would have;
  a lost last segment waits for the RTO (TCP) or the probe timeout RTT + 1 ms + 25 ms (QUIC);
* TCP delivers in order per connection: on HTTP/2 every stream behind the gap waits; QUIC
  delivers in order per stream.

Loss outcomes are placed exactly by handing the link's loss stream chosen uniforms (with
loss p = ½ a draw u < ½ loses the next segment; a draw u ≥ ½ skips ⌊log2(1/(1 − u))⌋
segments, see Pipe.first_loss).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

import simcomm
from simcomm.components.connection import DOWN, UP, Connection
from simcomm.components.link import Link
from simcomm.components.window import TCP, Transport
from simcomm.dists import Constant
from simcomm.metrics.definitions import Kind, Tag
from simcomm.metrics.recorder import FullRecorder
from simcomm.metrics.summary import Tally
from simcomm.rng import Streams

D, S = 0.010, 0.005
RTT = 2 * D
MSS = 1460
IW = 10
EPS = 1e-12


# -- slow start, scenario level ----------------------------------------------------------------

def world(connection: dict, size: float, *, rate: str = "0.5/s", duration: float = 9.0,
          network: dict | None = None) -> dict:
    return {
        "duration": duration, "seed": 2,
        "network": {"latency": D, "bandwidth": "unlimited", **(network or {})},
        "headers": {"request": 0, "response": 0},
        "server": {"workers": 1, "service_time": S},
        "clients": {"count": 1},
        "workload": {"requests": {"rate": rate, "arrival": "periodic"}, "encoding": "none",
                     "request_size": 100, "response_size": size},
        "connection": connection,
        "pattern": {"name": "request_response"},
    }


def rounds(n: int, w: int = IW) -> int:
    """Rounds of slow start that move n segments from a window of w."""
    return math.ceil(math.log2(n / w + 1))


@pytest.mark.parametrize("n", [1, 10, 11, 30, 31, 70, 71, 100, 300])
def test_slow_start_rounds_on_a_new_and_a_hot_connection(n):
    """n segments take ⌈log2(n/IW + 1)⌉ rounds on a connection that has not sent yet; the
    connection keeps its grown window (IW + n after the transfer: one segment per
    acknowledged segment), so the same response on it again takes one round."""
    r = simcomm.run(world({}, n * MSS))
    d = r.frames["deliveries"].sort_values("t_start")
    first, later = d.iloc[0], d.iloc[1:]
    assert first.latency == pytest.approx(rounds(n) * RTT + S, abs=EPS)
    assert np.allclose(later.latency, RTT + S, rtol=0, atol=EPS)
    # the wait for the window is transmission: no loss, no head-of-line
    assert first.transmission_s == pytest.approx((rounds(n) - 1) * RTT, abs=EPS)
    assert r.summary["hol_blocked_s"] == 0


@pytest.mark.parametrize("n", [10, 31, 100])
def test_every_new_connection_slow_starts_again(n):
    """With a connection per request (TLS 1.3: 2 RTT of handshake) every response starts
    from the initial window: 2·RTT + ⌈log2(n/IW + 1)⌉·RTT + S each time."""
    d = simcomm.run(world({"reuse": "per_request"}, n * MSS)).frames["deliveries"]
    assert len(d) >= 4
    assert np.allclose(d.latency, (2 + rounds(n)) * RTT + S, rtol=0, atol=EPS)


def test_slow_start_after_idle_resets_a_kept_window():
    """slow_start_after_idle: a kept connection idle longer than the RTO (2 s between
    requests here) starts from the initial window again, like a new one."""
    n = 100
    d = simcomm.run(world({"slow_start_after_idle": True}, n * MSS)).frames["deliveries"]
    assert np.allclose(d.latency, rounds(n) * RTT + S, rtol=0, atol=EPS)


@pytest.mark.parametrize("iw", [1, 4, 10, 40])
def test_the_initial_window_is_a_knob(iw):
    """initial_window sets the first round: 50 segments from iw take ⌈log2(50/iw + 1)⌉."""
    d = simcomm.run(world({"initial_window": iw}, 50 * MSS)).frames["deliveries"]
    assert d.sort_values("t_start").iloc[0].latency == pytest.approx(
        rounds(50, iw) * RTT + S, abs=EPS)


def test_the_mss_sets_the_segment_count():
    """With mss 500 B, 14 600 B are 30 segments: 2 rounds, where 1460 B segments fit one."""
    d = simcomm.run(world({"mss": 500}, 14_600)).frames["deliveries"]
    assert d.sort_values("t_start").iloc[0].latency == pytest.approx(2 * RTT + S, abs=EPS)


def test_the_window_stops_growing_at_the_bandwidth_delay_product():
    """On a 10 Mbit/s link with RTT 50 ms a 2 MB response is bounded by the link, not the
    window: it takes at least its serialisation B·8/bw plus a round trip, and at most that
    plus one idle round trip per slow-start round before the window reaches the
    bandwidth-delay product W* = ⌈RTT/t_seg⌉ + 1 = 44 segments (⌈log2(W*/IW)⌉ = 3 rounds).
    The window then stays at W*: the next response finds it there."""
    bw, d_ = 10e6, 0.025
    size = 2_000_000
    sc = world({}, size, network={"latency": d_, "bandwidth": "10Mbps"}, rate="0.2/s",
               duration=11.0)
    d = simcomm.run(sc).frames["deliveries"].sort_values("t_start")
    t_seg = MSS * 8 / bw
    w_star = math.ceil(2 * d_ / t_seg) + 1
    idle_rounds = math.ceil(math.log2(w_star / IW))
    ser = (size + 100) * 8 / bw  # the response and the request
    low = ser + 2 * d_ + S
    high = low + idle_rounds * 2 * d_ + t_seg  # + the first segment before each round's RTT
    first, second = d.iloc[0], d.iloc[1]
    assert low <= first.latency <= high
    # a hot window at W*: the transmitter is never idle, the second costs only the link
    assert second.latency == pytest.approx(low, abs=2 * t_seg)
    assert second.latency < first.latency


# -- loss, component level ---------------------------------------------------------------------

def connection(transport: Transport = TCP, *, draws=(), bandwidth=math.inf):
    """A connection with latency D, loss ½ whose outcomes are the given uniforms."""
    env = simpy.Environment()
    rec = FullRecorder(env, 0.0, 100.0)
    link = Link("l", bandwidth=bandwidth, latency_dist=Constant(D), loss=0.5, rto=0.2,
                streams=Streams(1))
    it = iter(draws)
    link.up._lossdraw = lambda: next(it)
    conn = Connection(env, link, rec, name="c", index=0, transport=transport)
    return env, rec, conn


LOSE = 0.1                 # u < ½: the next segment is lost
LOSE_5TH = 0.95            # ⌊log2(1/0.05)⌋ = 4 segments pass, the 5th is lost
PASS = 1 - 1e-9            # ⌊log2(1e9)⌋ = 29 segments pass
ARRIVE = 0.9               # a retransmitted copy gets through (u ≥ ½)


def send(env, conn, log, name, n, *, at=0.0, stream=None):
    """Hand over a message of n segments at *at*; log (name, delivered, parts)."""
    def proc():
        yield env.timeout(at)
        r = conn.send(UP, n * MSS, 0, Kind.RESPONSE, Tag.USEFUL, 0, 0.0, stream)
        if r.__class__ is not tuple:
            r = yield r
        log[name] = (round(env.now, 12), tuple(round(x, 12) for x in r[:4]))
    env.process(proc())


def test_fast_retransmit_costs_one_round_trip_and_halves_the_window():
    """20 segments in one flight of a window of 100, the 5th lost: 15 segments behind it
    bring three duplicate acknowledgements one RTT after it left, so its copy arrives at
    RTT + D instead of D; the window halves (100 → 50) and ssthresh is 50."""
    env, rec, conn = connection(Transport(initial_window=100),
                                draws=[LOSE_5TH, PASS, ARRIVE])
    log = {}
    send(env, conn, log, "a", 20)
    env.run()
    t, (tx, prop, retrans, hol) = log["a"]
    assert t == pytest.approx(RTT + D)
    assert (tx, prop, retrans, hol) == (0.0, D, pytest.approx(RTT), 0.0)
    win = conn._win0
    assert (win.cwnd, win.ssthresh) == (50.0, 50.0)
    assert list(rec.m_tag) == [Tag.USEFUL, Tag.RETRY] and rec.m_bytes[1] == MSS


@pytest.mark.parametrize(("quic", "recovered"), [
    (False, 0.2 + D),                              # the RTO after the lost copy left
    (True, RTT + 0.001 + 0.025 + D),               # QUIC's probe timeout
], ids=["tcp-rto", "quic-pto"])
def test_a_tail_loss_waits_for_the_timeout(quic, recovered):
    """The last of 2 segments is lost: no segment behind it, no duplicate acknowledgement;
    TCP waits for the RTO (and restarts from a window of 1), QUIC for its probe timeout
    (and halves its window: a probe timeout is not a collapse, RFC 9002 §6.2)."""
    # u = 0.7: ⌊log2(1/0.3)⌋ = 1 segment passes, the 2nd is lost
    env, _rec, conn = connection(Transport(quic=quic), draws=[0.7, ARRIVE])
    log = {}
    send(env, conn, log, "a", 2)
    env.run()
    assert log["a"][0] == pytest.approx(recovered)
    assert conn._win0.cwnd == (5.0 if quic else 1.0)


def test_a_tail_loss_probe_recovers_in_two_round_trips():
    """tail_loss_probe (RACK-TLP): the lost last segment is probed 2·RTT after it left and
    recovered without collapsing the window (halved, as fast recovery): RTT·2 + D; with an
    RTO shorter than 2·RTT the RTO comes first."""
    env, _rec, conn = connection(Transport(tail_loss_probe=True), draws=[0.7, ARRIVE])
    log = {}
    send(env, conn, log, "a", 2)
    env.run()
    assert log["a"][0] == pytest.approx(2 * RTT + D)
    assert conn._win0.cwnd == 5.0
    env = simpy.Environment()
    link = Link("l", bandwidth=math.inf, latency_dist=Constant(0.2), loss=0.5, rto=0.2,
                streams=Streams(1))
    it = iter([0.7, ARRIVE])
    link.up._lossdraw = lambda: next(it)
    conn = Connection(env, link, FullRecorder(env, 0.0, 100.0), name="c", index=0,
                      transport=Transport(tail_loss_probe=True))
    log = {}
    send(env, conn, log, "a", 2)
    env.run()
    assert log["a"][0] == pytest.approx(0.2 + 0.2)  # the RTO (0.2 s) before 2·RTT (0.8 s)


def test_later_messages_bring_the_duplicate_acknowledgements():
    """A lost one-segment message followed 1, 2 and 3 ms later by one-segment messages: the
    third later segment's acknowledgement (back at 3 ms + RTT) triggers fast retransmit, so
    the first arrives at 3 ms + RTT + D — not after the RTO — and the three others, which
    arrived at D after they left, wait for it in order."""
    env, _rec, conn = connection(draws=[LOSE, PASS, PASS, PASS, ARRIVE])
    log = {}
    send(env, conn, log, "a", 1)
    for i in (1, 2, 3):
        send(env, conn, log, f"m{i}", 1, at=i / 1000)
    env.run()
    done = 0.003 + RTT + D
    assert log["a"][0] == pytest.approx(done)
    for i in (1, 2, 3):
        t, (_, _, _, hol) = log[f"m{i}"]
        assert t == pytest.approx(done) and hol == pytest.approx(done - (i / 1000 + D))


@pytest.mark.parametrize("quic", [False, True], ids=["http2-over-tcp", "http3-over-quic"])
def test_one_lost_segment_stalls_every_http2_stream_but_one_http3_stream(quic):
    """Three responses of 20 segments on three streams of one connection, sent together
    (window 100); the 5th segment of the first is lost and fast-retransmitted (arriving RTT
    late, at 3D). Over TCP the other two streams had arrived at D and wait to 3D, 2D each
    (head-of-line blocking, hol_blocked_s = 4D); over QUIC they are delivered at D."""
    env, rec, conn = connection(Transport(initial_window=100, quic=quic),
                                draws=[LOSE_5TH, PASS, PASS, PASS, ARRIVE])
    log = {}
    for i, name in enumerate("abc"):
        send(env, conn, log, name, 20, stream=i)
    env.run()
    assert log["a"][0] == pytest.approx(3 * D)
    assert log["a"][1][2] == pytest.approx(RTT)  # its own loss: retransmission
    stall = 0.0 if quic else RTT
    for name in "bc":
        t, (_, _, retrans, hol) = log[name]
        assert t == pytest.approx(D + stall) and retrans == 0 and hol == pytest.approx(stall)
    assert Tally(rec, 100.0).total("hol") == pytest.approx(2 * stall)


def test_a_lost_retransmission_waits_for_the_timeout():
    """The copy sent by fast retransmit is lost too: recovered by the RTO after it."""
    env, rec, conn = connection(Transport(initial_window=100),
                                draws=[LOSE_5TH, PASS, LOSE, ARRIVE])
    log = {}
    send(env, conn, log, "a", 20)
    env.run()
    assert log["a"][0] == pytest.approx(RTT + 0.2 + D)
    assert list(rec.m_tag) == [Tag.USEFUL, Tag.RETRY, Tag.RETRY]
    assert math.isnan(rec.m_arrive[1])
    assert conn._win0.cwnd == 1.0  # the timeout collapses the window


def test_a_handshake_does_not_use_the_window():
    """Handshake flights travel outside the window: the first data round still has IW."""
    env = simpy.Environment()
    rec = FullRecorder(env, 0.0, 10.0)
    link = Link("l", bandwidth=math.inf, latency_dist=Constant(D), loss=0.0, rto=0.2,
                streams=Streams(1))
    conn = Connection(env, link, rec, name="c", index=0)
    conn.send(UP, 4000, 4000, Kind.HANDSHAKE, Tag.CONTROL, -1)
    assert conn._win0 is None and conn._win1 is None
    conn.send(DOWN, 10 * MSS, 0, Kind.RESPONSE, Tag.USEFUL, 0)
    assert conn._win1.used == 10 and conn._win0 is None  # (made by the first data up)


# -- loss, scenario level ----------------------------------------------------------------------

def test_retransmitted_segments_follow_the_loss_rate():
    """Each segment's copies until one arrives are geometric: extra copies per segment have
    mean p/(1 − p) and variance p/(1 − p)². Over N segments the retransmitted copies R have
    mean N·p/(1 − p) and standard deviation √(N·p)/(1 − p); R must be within 4 of them
    (a false alarm about once in 16 000 runs)."""
    p = 0.02
    sc = world({}, 20 * MSS, network={"loss": p}, rate="20/s", duration=90.0)
    m = simcomm.run(sc).frames["messages"]
    first = m[m.tag != "retry"]
    segments = np.ceil(first.bytes / MSS).sum()
    extra = (m.tag == "retry").sum()
    mean, sd = segments * p / (1 - p), math.sqrt(segments * p) / (1 - p)
    assert segments > 20_000
    assert abs(extra - mean) < 4 * sd


def test_http3_has_no_head_of_line_blocking_between_requests_where_http2_has():
    """A page of 30 requests at once over one HTTP/2 connection and over HTTP/3, on a lossy
    link (2 %) with common random numbers: HTTP/2's responses wait behind each other's lost
    segments (hol_blocked_s > 0); HTTP/3 keeps each request and response on a stream of its
    own, so nothing waits for another exchange (hol_blocked_s = 0)."""
    def run(protocol):
        sc = world({"protocol": protocol}, 8 * MSS, network={"loss": 0.02}, duration=60.0)
        sc["workload"]["requests"] = {"batch": 30, "every": "2s"}
        sc["pattern"] = {"name": "request_response", "client": "async"}
        sc["server"]["workers"] = 30
        return simcomm.run(sc).summary
    h2, h3 = run("h2"), run("h3")
    assert h2["hol_blocked_s"] > 0.5 and h3["hol_blocked_s"] == 0
    assert h3["batch_time_mean"] < h2["batch_time_mean"]
