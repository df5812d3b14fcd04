"""Transport connections.

A :class:`Connection` is one transport connection between a client (or a publisher) and the
server end of its path, over one :class:`~simcomm.components.link.Link`. It knows nothing of
the patterns that use it.

* **In order.** Each direction delivers messages in the order they were handed to it, as TCP
  delivers bytes. A message whose own trip on the link (queueing, serialisation, a drawn
  latency, retransmissions) would end before an earlier message's waits for that one: the
  receiver's transport holds it until the gap is filled (head-of-line blocking). The wait
  counts in the message's ``transmission`` part. Two connections are independent: only
  messages of one connection keep each other's order.
* **Epoch.** A connection is open or dropped. Every drop bumps :attr:`Connection.epoch`, so a
  message handed over in one epoch that would arrive in a later one is known to be gone with
  its connection (the caller compares epochs; see :class:`~simcomm.components.path.Path`).
  A reopened connection starts a fresh ordering: nothing waits for a message of the old one.
* **Held and idle time.** An open connection counts in ``held_connection_s``; while at least
  one exchange is outstanding on it (:meth:`begin` … :meth:`end`) it is active, otherwise idle
  (``idle_connection_s``). Connections established before the run cost nothing and are not
  counted in ``connections_opened``; every :meth:`reopen` is.
* **Loss** is the link's (see :mod:`simcomm.components.link`): a lost copy is retransmitted
  after the RTO. A message sent with *drop* > 0 (an application-level datagram, such as an
  acknowledgement that may never reach its peer) is instead lost for good with that
  probability: it is recorded on the wire with no arrival time, and the call returns ``None``.

The fast path: a message on a lossless link that waits for nothing costs no SimPy event when
it arrives at once, and one timeout otherwise; only lost copies (and messages queued behind
an unresolved lost one on the same connection) run a process.
"""

from __future__ import annotations

import math
from collections.abc import Generator

from ..metrics.definitions import Tag
from ..rng import Buffered

__all__ = ["DOWN", "UP", "Connection"]

UP, DOWN = 0, 1
RETRY = int(Tag.RETRY)
HPACK = 0.1
"""Share of a header block's bytes that a repeated block costs under HPACK/QPACK: an API
request's ~400 B of headers (method, path, authority, cookies, tokens, content headers) repeat
but for the path, so later requests send one-to-two-byte table indexes for most fields and a
few literals — about a tenth (the HTTP/2 RFC's examples and measurements of 85–90 % savings)."""


class Connection:
    """One transport connection over *link*; ``send(UP | DOWN, …)`` carries one message."""

    __slots__ = ("_active", "_drop", "_held", "_idle", "_last", "_listeners", "_rec", "_seq",
                 "_tail", "compress", "early", "env", "epoch", "hpack", "idle_timeout", "index",
                 "is_open", "link", "name", "opening", "ordered", "outstanding", "parent",
                 "pipes", "pool", "resumed", "setup", "turns")

    def __init__(self, env, link, recorder, *, name: str, streams=None, index: int = -1,
                 setup=None, warm: bool = True, idle_timeout: float | None = None) -> None:
        self.env = env
        self.index = index
        """Number of the connection in its path (the ``connection`` column of messages)."""
        self.link = link
        self.name = name
        self.pipes = (link.up, link.down)
        self._rec = recorder
        self._held = recorder.conn_held
        self._active = recorder.conn_active
        self.outstanding = 0
        """Exchanges in progress on this connection."""
        self.epoch = 0
        """Generation: bumped by every drop."""
        self.setup = setup
        """The :class:`~simcomm.components.setup.Setup` a new connection goes through (None:
        opening costs nothing)."""
        self.is_open = warm
        """Open (held): established before the run when *warm*, else opened on first use."""
        if warm:
            self._held.add(1)  # established before the run: not counted in connections_opened
        self.resumed = warm
        """The client has had a connection to this server before (it can resume: session
        tickets, 0-RTT); a warm connection counts as one."""
        self.opening = None
        """While a handshake is under way: an event that fires when it ends."""
        self.early: tuple = ()
        """0-RTT flights still to send just ahead of the first request and response."""
        self.idle_timeout = idle_timeout
        """An open connection with no exchange for this long closes (None: never)."""
        self._idle = 0
        self.parent: Connection | None = None
        """For a connection opened beside the client's own (a pool's further connection, or
        one per request): the client's connection (whose ``resumed`` it shares)."""
        self.compress = False
        """HTTP/2 and HTTP/3 compress headers (HPACK, QPACK): see :meth:`head`."""
        self.hpack = [False, False]
        """Per direction: a header block has been sent (the tables hold its fields)."""
        self.ordered = False
        """HTTP/1.1 pipelining: responses go back in request order."""
        self.pool = None
        """The :class:`~simcomm.components.pool.Pool` of a client's own connection (made on
        its first exchange)."""
        self.turns = [0, 0, {}]
        """Pipelining: next request number, next response number, responses waiting their
        turn (number → event)."""
        self._last = [0.0, 0.0]
        """Per direction: when the latest message handed over arrives, in order."""
        self._tail = [None, None]
        """Per direction: the latest message still resolving a loss (a process), or None."""
        self._seq = [0, 0]
        self._listeners: list = []
        self._drop = (None if streams is None else
                      Buffered(streams.generator(f"{name}.drop"), lambda g, n: g.random(n)))

    # -- exchanges and lifetime ----------------------------------------------------------------
    def begin(self) -> None:
        """An exchange starts using the connection."""
        if self.outstanding == 0 and self.is_open:
            self._active.add(1)
        self.outstanding += 1
        self._idle += 1  # an idle timer armed earlier no longer applies

    @property
    def ready(self) -> bool:
        """Open, with no handshake under way: a request can be sent at once."""
        return self.is_open and self.opening is None

    def end(self) -> None:
        """An exchange on the connection ends. With ``idle_timeout``, a connection left with
        no exchange for that long closes (the next request opens a new one)."""
        self.outstanding -= 1
        if self.outstanding == 0 and self.is_open:
            self._active.add(-1)
            if self.idle_timeout is not None:
                self._idle += 1
                mark = self._idle
                self.env.timeout(self.idle_timeout).callbacks.append(
                    lambda _e: self._idle_check(mark))

    def _idle_check(self, mark: int) -> None:
        if mark == self._idle and self.outstanding == 0 and self.is_open:
            self.close()

    def close(self) -> None:
        """Close an idle connection (nothing is in flight on it): like :meth:`drop`, but its
        listeners are not told — nobody lost anything."""
        listeners, self._listeners = self._listeners, []
        self.drop()
        self._listeners = listeners

    def on_drop(self, listener) -> None:
        """Call ``listener(connection)`` whenever the connection drops."""
        self._listeners.append(listener)

    def drop(self) -> None:
        """The connection drops (its client went offline, the server restarted): what is in
        flight on it will not be delivered."""
        if self.is_open:
            self.is_open = False
            self.epoch += 1
            self._held.add(-1)
            if self.outstanding:
                self._active.add(-1)
            self._last = [0.0, 0.0]
            self._tail = [None, None]
            self.early = ()
            self.hpack = [False, False]
            self.turns = [0, 0, {}]
            for listener in self._listeners:
                listener(self)

    def reopen(self, counted: bool = True) -> None:
        """A new connection replaces the dropped one (counted in ``connections_opened``
        unless *counted* is False: the path counts it once its handshake succeeds)."""
        if not self.is_open:
            self.is_open = True
            self._held.add(1)
            if self.outstanding:
                self._active.add(1)
            if counted:
                self._rec.event("connections_opened", self.env.now)

    def head(self, direction: int, size: float, header: float) -> tuple[float, float]:
        """The ``(size, header)`` an HTTP message of *size* bytes with *header* bytes of
        headers takes on this connection: with header compression (h2, h3) every header block
        after the connection's first in a direction costs :data:`HPACK` of its size — most
        fields are then indexes into the dynamic table (RFC 7541, RFC 9204)."""
        if not self.compress:
            return size, header
        if self.hpack[direction]:
            small = header * HPACK
            return size - header + small, small
        self.hpack[direction] = True
        return size, header

    # -- carrying one message ------------------------------------------------------------------
    def send(self, direction: int, size: float, header: float, kind: int, tag: int, flow: int,
             drop: float = 0.0):
        """Hand one message of *size* bytes (*header* of them headers) to the connection.

        Returns ``(transmission, propagation, retransmission, row)`` directly when the message
        arrives at once (no event scheduled), or an event to ``yield`` whose value is that
        tuple, or ``None`` when a *drop* draw lost it for good. *row* is the recorder row of its
        first copy (for re-tagging once its outcome is known)."""
        if drop and self._drop() < drop:
            self._rec.message(self.env._now, kind, tag, size, header, flow, direction,
                              math.nan, self.index)
            return None
        pipe = self.pipes[direction]
        tail = self._tail[direction]
        if pipe.loss or (tail is not None and not tail.triggered):
            self._seq[direction] += 1
            proc = self.env.process(self._slow(direction, size, header, kind, tag, flow, tail,
                                               self._seq[direction]))
            self._tail[direction] = proc
            return proc
        env = self.env
        now = env._now
        start = pipe.free_at if pipe.free_at > now else now
        tx_end = start + size * pipe.bit_time
        pipe.free_at = tx_end
        prop = pipe.latency()
        arrive = tx_end + prop
        last = self._last[direction]
        if last > arrive:
            arrive = last  # held behind an earlier message of this connection
        else:
            self._last[direction] = arrive
        row = self._rec.message(now, kind, tag, size, header, flow, direction, arrive,
                                self.index)
        delay = arrive - now
        if delay <= 0.0:
            return (0.0, 0.0, 0.0, row)
        return env.timeout(delay, (delay - prop, prop, 0.0, row))

    def _slow(self, direction: int, size: float, header: float, kind: int, tag: int,
              flow: int, before, seq: int) -> Generator:
        """A message on a lossy link, or behind one: copies until one gets through, then
        waits for the message handed over *before* it (if that one is still on its way)."""
        env, rec, pipe = self.env, self._rec, self.pipes[direction]
        epoch = self.epoch
        t_first = env._now
        retrans = 0.0
        row = -1
        attempt = tag
        while True:
            now = env._now
            start = pipe.free_at if pipe.free_at > now else now
            tx_end = start + size * pipe.bit_time
            pipe.free_at = tx_end
            if pipe.loss and pipe.lost():
                r = rec.message(now, kind, attempt, size, header, flow, direction, math.nan,
                                self.index)
                if row < 0:
                    row = r
                retrans += pipe.rto
                attempt = RETRY
                yield env.timeout(tx_end + pipe.rto - now)
                continue
            prop = pipe.latency()
            arrive = tx_end + prop
            r = rec.message(now, kind, attempt, size, header, flow, direction, arrive,
                            self.index)
            if row < 0:
                row = r
            break
        t_link = arrive
        if epoch == self.epoch:
            last = self._last[direction]
            if last > arrive:
                arrive = last
        if arrive > env._now:
            yield env.timeout(arrive - env._now)
        if before is not None and not before.triggered and epoch == self.epoch:
            yield before  # in order: not before the message handed over earlier
        if env._now > t_link:
            rec.arrived(r, env._now)  # held for a message handed over before it
        if epoch == self.epoch:
            if env._now > self._last[direction]:
                self._last[direction] = env._now
            if self._seq[direction] == seq:
                self._tail[direction] = None
        # transmission = everything that was neither propagation nor waiting for an RTO
        return (env._now - t_first - prop - retrans, prop, retrans, row)
