"""Links: FIFO transmitters with serialisation, propagation and loss recovered by
retransmission (carried through a Connection, the only thing that sends on a link)."""

import math
from types import SimpleNamespace

import pytest
import simpy

from simcomm.components.connection import DOWN, UP, Connection
from simcomm.components.link import Link, Pipe
from simcomm.dists import Constant
from simcomm.metrics.definitions import Kind, Tag
from simcomm.metrics.recorder import FullRecorder
from simcomm.rng import Streams


@pytest.fixture
def env():
    return simpy.Environment()


@pytest.fixture
def rec(env):
    return FullRecorder(env, 0.0, 100.0)


def _pipe(env, rec, *, bandwidth=1e6, latency=0.010, loss=0.0, draws=None, rto=0.2):
    """A connection whose up direction is one pipe with these figures."""
    it = iter(draws or [])
    pipe = Pipe(UP, bandwidth, lambda: latency, loss,
                (lambda: next(it)) if draws is not None else None, rto)
    return Connection(env, SimpleNamespace(up=pipe, down=None, pipes=(pipe, None)), rec, name="c")


def _send(env, conn, log, name, size, at=0.0, header=0, direction=UP):
    def proc():
        yield env.timeout(at)
        parts = conn.send(direction, size, header, Kind.REQUEST, Tag.USEFUL, 0)
        if parts.__class__ is not tuple:
            parts = yield parts
        log.append((name, env.now, parts[:3]))
    env.process(proc())


def test_one_message_arrives_after_serialisation_plus_latency(env, rec):
    """A 1250-byte message on a 10 ms, 1 Mbit/s link arrives at exactly 0.010 + 0.010."""
    log = []
    _send(env, _pipe(env, rec), log, "a", 1250)
    env.run()
    assert log == [("a", pytest.approx(0.020, abs=1e-15), (pytest.approx(0.010), 0.010, 0.0))]


def test_messages_queue_behind_each_other(env, rec):
    """Two messages handed over together: the second waits for the first's serialisation."""
    log = []
    pipe = _pipe(env, rec)
    _send(env, pipe, log, "a", 1250)
    _send(env, pipe, log, "b", 1250)
    env.run()
    assert [(n, round(t, 12)) for n, t, _ in log] == [("a", 0.020), ("b", 0.030)]
    # b's transmission part holds its 10 ms of queueing and 10 ms of serialisation
    assert log[1][2][0] == pytest.approx(0.020)


def test_a_free_transmitter_does_not_delay(env, rec):
    """A message sent after the previous one finished serialising does not queue."""
    log = []
    pipe = _pipe(env, rec)
    _send(env, pipe, log, "a", 1250)
    _send(env, pipe, log, "b", 1250, at=0.5)
    env.run()
    assert log[1][1] == pytest.approx(0.520)


def test_loss_becomes_delay_and_an_extra_copy(env, rec):
    """A lost one-segment message, with no later segment to trigger fast retransmit, is resent
    after the RTO counted from its end of serialisation; the resent copy is a row of its own
    (tagged retry) and its time, serialisation included, is the retransmission part."""
    log = []
    pipe = _pipe(env, rec, loss=0.5, draws=[0.1, 0.9])  # first copy lost, second arrives
    _send(env, pipe, log, "a", 1250, header=100)
    env.run()
    # copy 1 serialised 0..0.01 (would arrive at 0.02), timer fires at 0.21; copy 2
    # serialised 0.21..0.22, +0.01
    (_, t, (tx, prop, rt)) = log[0]
    assert t == pytest.approx(0.23)
    assert (tx, prop, rt) == (pytest.approx(0.01), 0.010, pytest.approx(0.21))
    assert tx + prop + rt == pytest.approx(t)
    assert list(rec.m_tag) == [Tag.USEFUL, Tag.RETRY]
    assert list(rec.m_arrive) == [pytest.approx(0.23)] * 2
    assert sum(rec.msg_n) == 2 and sum(rec.msg_bytes) == 2500 and sum(rec.msg_header) == 200


def test_unlimited_bandwidth_and_zero_latency_take_no_time(env, rec):
    """With no serialisation and no latency a message arrives the moment it is sent."""
    log = []
    _send(env, _pipe(env, rec, bandwidth=math.inf, latency=0.0), log, "a", 10**9)
    env.run()
    assert log == [("a", 0.0, (0.0, 0.0, 0.0))]


def test_link_directions_are_independent(env, rec):
    """Traffic queued upstream does not delay the downstream direction."""
    link = Link("link", bandwidth=1e6, latency_dist=Constant(0.010), loss=0.0, rto=0.2,
                streams=Streams(1))
    conn = Connection(env, link, rec, name="c")
    log = []
    _send(env, conn, log, "up1", 12500)      # 100 ms of serialisation
    _send(env, conn, log, "down", 1250, direction=DOWN)
    env.run()
    assert dict((n, round(t, 12)) for n, t, _ in log) == {"up1": 0.110, "down": 0.020}
    assert list(rec.m_dir) == [UP, DOWN]
