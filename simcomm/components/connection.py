"""Transport connections.

A :class:`Connection` is one transport connection between a client (or a publisher) and the
server end of its path, over one :class:`~simcomm.components.link.Link`. It knows nothing of
the patterns that use it.

* **Segments and windows.** A message travels as segments under the connection's congestion
  window, one per direction: slow start from ``initial_window``, per-segment loss recovered by
  fast retransmit or the timeout (see :mod:`simcomm.components.window`). A new connection
  (a reopened one too) starts over; an open one keeps its window.
* **In order.** TCP delivers each direction's bytes in the order they were handed over: a
  message that has arrived waits for every message handed over before it (one that took
  more rounds, or is still recovering a lost segment, or drew a longer latency). That wait is
  its ``head_of_line`` part, summed in ``hol_blocked_s``. On HTTP/2 every stream of the
  connection waits; on QUIC (HTTP/3) only messages of the same *stream* keep each other's
  order. Two connections are independent.
* **Epoch.** A connection is open or dropped. Every drop bumps :attr:`Connection.epoch`, so a
  message handed over in one epoch that would arrive in a later one is known to be gone with
  its connection (the caller compares epochs; see :class:`~simcomm.components.path.Path`).
  A reopened connection starts a fresh ordering: nothing waits for a message of the old one.
* **Held and idle time.** An open connection counts in ``held_connection_s``; while at least
  one exchange is outstanding on it (:meth:`begin` … :meth:`end`) it is active, otherwise idle
  (``idle_connection_s``). Connections established before the run cost nothing and are not
  counted in ``connections_opened``; every :meth:`reopen` is.
* **Datagrams.** A message sent with *drop* > 0 (an application-level datagram, such as an
  acknowledgement that may never reach its peer) is lost for good with that probability: it
  is recorded on the wire with no arrival time, and the call returns ``None``.

The fast path: a message on a lossless link that fits in the window and waits for nothing
costs no SimPy event when it arrives at once, and one timeout otherwise; only messages that
need more rounds, lose a segment or queue behind one still on its way run a process.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any, Final

from ..metrics.definitions import Kind, Tag
from ..metrics.recorder import Recorder
from ..rng import Buffered, Streams
from .client import add_listener, notify
from .link import Pipe
from .task import later, timeout
from .window import DUPTHRESH, TCP, TIME_THRESHOLD, Transport, Window

__all__ = ["DOWN", "UP", "Connection", "ConnectionKind"]

# (Final: compiled, each is a C static, not a lookup in the module's dict at every use)
UP: Final = 0
DOWN: Final = 1
RETRY: Final = int(Tag.RETRY)
HANDSHAKE: Final = int(Kind.HANDSHAKE)
MAX_BACKOFF: Final = 64.0
"""The timeout doubles with every copy of a segment lost in a row, up to 64 times its first
value (RFC 6298 §5.5: back off; at least 60 s at most, so with a 200 ms RTO about 13 s)."""
HPACK: Final = 0.1
"""Share of a header block's bytes that a repeated block costs under HPACK/QPACK: an API
request's ~400 B of headers (method, path, authority, cookies, tokens, content headers) repeat
but for the path, so later requests send one-to-two-byte table indexes for most fields and a
few literals — about a tenth (the HTTP/2 RFC's examples and measurements of 85–90 % savings)."""



def _random(g, n: int):
    return g.random(n)  # one draw function for every connection's drop stream


class ConnectionKind:
    """What the connections of one path share: the environment, the recorder, the set-up a
    new connection goes through and the transport (one object, not four slots a
    connection: memory per client)."""

    __slots__ = ("env", "rec", "setup", "transport")

    def __init__(self, env, rec: Recorder, setup, transport: Transport) -> None:
        self.env = env
        self.rec = rec
        self.setup = setup
        """The :class:`~simcomm.components.setup.Setup` a new connection goes through (None:
        opening costs nothing)."""
        self.transport = transport
        """Segment size, initial window, TCP or QUIC (:mod:`simcomm.components.window`)."""


class Connection:
    """One transport connection over *link*; ``send(UP | DOWN, …)`` carries one message."""

    __slots__ = ("_drop", "_gaps", "_idle", "_k", "_listeners", "_name", "_qunits", "_unit0",
                 "_unit1", "_win0", "_win1", "compress", "early", "epoch", "hpack",
                 "idle_timeout", "index", "is_open", "link", "opening", "ordered", "outstanding",
                 "owner", "parent", "pipes", "pool", "resumed", "turns")

    def __init__(self, env, link, recorder, *, name: str | None, streams=None, index: int = -1,
                 setup=None, warm: bool = True, idle_timeout: float | None = None,
                 transport: Transport = TCP, kind: ConnectionKind | None = None) -> None:
        if kind is None:
            kind = ConnectionKind(env, recorder, setup, transport)
        self._k = kind
        """What every connection of its path shares (memory per client): *kind*, or made from
        *env*, *recorder*, *setup* and *transport*."""
        self.index = index
        """Number of the connection in its path (the ``connection`` column of messages)."""
        self.owner = -1
        """The client it belongs to (−1: none); set by the path."""
        self.link: Any = link
        self._name = name
        """Its name (None: ``conn.<owner>``, a client's own connection: memory per
        client)."""
        self.pipes: Any = link.pipes
        self.outstanding = 0
        """Exchanges in progress on this connection."""
        self.epoch = 0
        """Generation: bumped by every drop."""
        self.is_open = warm
        """Open (held): established before the run when *warm*, else opened on first use."""
        if warm:
            kind.rec.conn_held.add(1)  # established before the run: not counted in
            # connections_opened
        self.resumed = warm
        """The client has had a connection to this server before (it can resume: session
        tickets, 0-RTT); a warm connection counts as one."""
        self.opening: Any = None
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
        self.hpack = 0
        """Bit *direction* set: a header block has been sent that way (the tables hold its
        fields). An int, not a list: memory per client."""
        self.ordered = False
        """HTTP/1.1 pipelining: responses go back in request order."""
        self.pool: Any = None
        """The :class:`~simcomm.components.pool.Pool` of a client's own connection (made on
        its first exchange)."""
        self.turns: list | None = None
        """Pipelining: next request number, next response number, responses waiting their
        turn (number → event); None until the first pipelined request."""
        self._win0: Window | None = None
        self._win1: Window | None = None
        """Per direction (up, down): the congestion
        :class:`~simcomm.components.window.Window` (made on the first data sent that way: a
        new connection starts over). Two slots, not a list: memory per client."""
        self._gaps: Any = None
        """Per direction: tail losses waiting for later segments to be acknowledged."""
        self._unit0: Any = None
        self._unit1: Any = None
        """Per direction (up, down; made on the first message that way: memory per client),
        the connection's ordering unit ``[last, tail, seq]``: when the latest message handed
        over arrives in order; the latest one still on its way in a process (more rounds, a
        loss, a wait), or None; how many went to a process."""
        self._qunits: dict | None = None
        """QUIC: the ordering units of its streams, by ``(direction, stream)``."""
        self._listeners: Any = ()
        """No listener (``()``), one, or a tuple of them (see
        :func:`~simcomm.components.client.add_listener`)."""
        self._drop: Any = streams
        """The drop stream ``{name}.drop``, made on its first draw (:meth:`dropper`; until
        then the run's streams, or None: memory per client, and most connections never draw
        from it)."""

    @property
    def env(self) -> Any:
        """The SimPy environment."""
        return self._k.env

    @property
    def setup(self) -> Any:
        """The :class:`~simcomm.components.setup.Setup` a new connection goes through (None:
        opening costs nothing)."""
        return self._k.setup

    @property
    def transport(self) -> Transport:
        """Segment size, initial window, TCP or QUIC (:mod:`simcomm.components.window`)."""
        return self._k.transport

    @property
    def name(self) -> str:
        """The connection's name (its streams are named after it)."""
        return f"conn.{self.owner}" if self._name is None else self._name

    def dropper(self):
        """The connection's drop draws (uniform on [0, 1)), made on first use; a connection
        opened beside it (:meth:`~simcomm.components.path.Path.fresh`) shares them."""
        d = self._drop
        if d.__class__ is Streams:
            d = self._drop = Buffered(d.stream(f"{self.name}.drop"), _random)
        return d

    # -- exchanges and lifetime ----------------------------------------------------------------
    def begin(self) -> None:
        """An exchange starts using the connection."""
        if self.outstanding == 0 and self.is_open:
            self._k.rec.conn_active.add(1)
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
            self._k.rec.conn_active.add(-1)
            if self.idle_timeout is not None:
                self._idle += 1
                mark = self._idle
                self._k.env.timeout(self.idle_timeout).callbacks.append(
                    lambda _e: self._idle_check(mark))

    def _idle_check(self, mark: int) -> None:
        if mark == self._idle and self.outstanding == 0 and self.is_open:
            self.close()

    def close(self) -> None:
        """Close an idle connection (nothing is in flight on it): like :meth:`drop`, but its
        listeners are not told — nobody lost anything."""
        listeners, self._listeners = self._listeners, ()
        self.drop()
        self._listeners = listeners

    def on_drop(self, listener) -> None:
        """Call ``listener(connection)`` whenever the connection drops."""
        self._listeners = add_listener(self._listeners, listener)

    def drop(self) -> None:
        """The connection drops (its client went offline, the server restarted): what is in
        flight on it will not be delivered."""
        if self.is_open:
            self.is_open = False
            self.epoch += 1
            self._k.rec.conn_held.add(-1)
            if self.outstanding:
                self._k.rec.conn_active.add(-1)
            self._unit0 = self._unit1 = None
            self._qunits = None
            self._win0 = self._win1 = None  # the next connection starts over
            self._gaps = None
            self.early = ()
            self.hpack = 0
            self.turns = None
            notify(self._listeners, self)

    def reopen(self, counted: bool = True) -> None:
        """A new connection replaces the dropped one (counted in ``connections_opened``
        unless *counted* is False: the path counts it once its handshake succeeds)."""
        if not self.is_open:
            self.is_open = True
            self._k.rec.conn_held.add(1)
            if self.outstanding:
                self._k.rec.conn_active.add(1)
            if counted:
                self._k.rec.event("connections_opened", self._k.env.now)

    def head(self, direction: int, size: float, header: float) -> tuple[float, float]:
        """The ``(size, header)`` an HTTP message of *size* bytes with *header* bytes of
        headers takes on this connection: with header compression (h2, h3) every header block
        after the connection's first in a direction costs :data:`HPACK` of its size — most
        fields are then indexes into the dynamic table (RFC 7541, RFC 9204)."""
        if not self.compress:
            return size, header
        bit = 1 << direction
        if self.hpack & bit:
            small = header * HPACK
            return size - header + small, small
        self.hpack |= bit
        return size, header

    # -- carrying one message ------------------------------------------------------------------
    def send(self, direction: int, size: float, header: float, kind: int, tag: int, flow: int,
             drop: float = 0.0, stream=None, land: Any = None):
        """Hand one message of *size* bytes (*header* of them headers) to the connection.

        Returns ``(transmission, propagation, retransmission, head_of_line, row)`` directly
        when the message arrives at once (no event scheduled), or an event to ``yield`` whose
        value is that tuple, or ``None`` when a *drop* draw lost it for good. *row* is the
        recorder row of the message (for re-tagging once its outcome is known). *stream*
        names the HTTP/3 stream it belongs to: on QUIC, messages of different streams do not
        wait for each other (None: the connection's own stream, in order with itself).

        *land*: for a message nobody waits for, an object with a ``value`` field, called with
        an event when the message arrives. When it would get an event whose value is the
        tuple, None is returned instead: the tuple is put in ``land.value`` and *land* is
        called at the arrival (by :func:`~simcomm.components.task.later`: messages landing at
        the same instant one after the other share one event)."""
        ck = self._k
        if drop and self.dropper()() < drop:
            ck.rec.message(ck.env._now, kind, tag, size, header, flow, direction, math.nan,
                           self.index)
            return None
        env = ck.env
        now = env._now
        pipe: Pipe = self.pipes[direction]
        tr = ck.transport
        if stream is None or not tr.quic:
            unit: Any = self._unit1 if direction else self._unit0
            if unit is None:  # made by the direction's first message (SSE: down only)
                unit = [0.0, None, 0]
                if direction:
                    self._unit1 = unit
                else:
                    self._unit0 = unit
        else:
            unit = self._stream(direction, stream)
        mss = tr.mss
        n = 1 if size <= mss else math.ceil(size / mss)
        prop = pipe.latency()
        bit = pipe.bit_time
        free = pipe.free_at
        start = free if free > now else now
        k = n
        if kind != HANDSHAKE:
            win = self._win1 if direction else self._win0
            if win is None:  # a direction's window is made by its first data (SSE: down only)
                win = Window(tr.initial_window)
                if direction:
                    self._win1 = win
                else:
                    self._win0 = win
            if now < win.r_end and win.used + n <= win.cwnd:
                win.used += n  # within the current round's window
            else:
                k = win.take(now, n, start + (size if n == 1 else mss) * bit, prop + prop,
                             mss * bit, tr, pipe.rto)
        else:
            win = None
        tx_end = start
        recov = None
        if k:
            tx_end = start + (size if k == n else k * mss) * bit
            pipe.free_at = tx_end
            if pipe.lossy:  # (no loss, no gaps)
                if self._gaps is not None and self._gaps[direction]:
                    self._dupacks(direction, k, start, mss * bit, prop + prop)
                recov = self._losses(direction, kind, flow, size, header, 0, k, start, prop)
        tail = unit[1]
        if k < n or recov or (tail is not None and not tail.triggered):
            row = ck.rec.message(now, kind, tag, size, header, flow, direction, math.nan,
                                 self.index)
            unit[2] += 1
            proc = unit[1] = env.process(self._rest(
                direction, size, kind, flow, header, win, n, k, tx_end + prop, prop,
                recov, tail, unit, unit[2], row))
            return proc
        arrive = tx_end + prop
        last = unit[0]
        hol = 0.0
        if last > arrive:
            hol = last - arrive  # received, but held behind an earlier message
            arrive = last
            ck.rec.event("hol", now, hol)
        else:
            unit[0] = arrive
        row = ck.rec.message(now, kind, tag, size, header, flow, direction, arrive,
                             self.index)
        delay = arrive - now
        if delay <= 0.0:
            return (0.0, 0.0, 0.0, 0.0, row)
        if land is not None:
            land.value = (delay - prop - hol, prop, 0.0, hol, row)
            later(env, delay, land)
            return None
        return timeout(env, delay, (delay - prop - hol, prop, 0.0, hol, row))

    def _stream(self, direction: int, stream) -> list:
        """The ordering unit ``[last arrival, tail, seq]`` of a QUIC stream."""
        units = self._qunits
        if units is None:
            units = self._qunits = {}
        key = (direction, stream)
        unit = units.get(key)
        if unit is None:
            if len(units) >= 64:  # forget streams with nothing left in flight
                now = self._k.env._now
                for old in [q for q, u in units.items()
                            if u[0] <= now and (u[1] is None or u[1].triggered)]:
                    del units[old]
            unit = units[key] = [0.0, None, 0]
        return unit

    def _losses(self, direction: int, kind: int, flow: int, size: float, header: float,
                done: int, k: int, start: float, prop: float) -> list:
        """Draw which of segments ``done … done+k-1`` (sent from *start*) are lost; start the
        recovery of each (see :mod:`simcomm.components.window`). Returns their processes."""
        pipe: Pipe = self.pipes[direction]
        tr = self._k.transport
        mss, bit = tr.mss, pipe.bit_time
        out = []
        for j in pipe.losses(k, start):
            i = done + j  # the lost segment's number in its message
            lo = i * mss
            seg = (size if size < lo + mss else lo + mss) - lo
            hdr = header - lo if header > lo else 0.0
            if hdr > seg:
                hdr = seg
            lost_end = start + (lo - done * mss + seg) * bit
            # the segments right behind it in this flight acknowledge it (later flights,
            # and later messages, count as they are sent: see _dupacks)
            out.append(self._k.env.process(self._recover(
                direction, kind, flow, seg, hdr, start, lost_end, k - j - 1, prop)))
        return out

    def _dupacks(self, direction: int, k: int, start: float, seg_time: float,
                 rtt: float) -> None:
        """*k* segments sent from *start* follow the pending tail losses of this direction:
        each is acknowledged, and enough of them declare a pending loss (fast retransmit)."""
        pending = self._gaps[direction]
        quic = self._k.transport.quic
        for gap in list(pending):
            need = gap[0]
            if k < need:
                gap[0] = need - k
                continue
            pending.remove(gap)
            t = start + need * seg_time + rtt
            if quic:  # QUIC: one later packet acknowledged and 9/8 RTT passed
                t = max(start + seg_time + rtt, gap[2] + TIME_THRESHOLD * gap[3])
            fast = gap[1]
            if not fast.triggered:
                def fire(_e, fast=fast):
                    if not fast.triggered:
                        fast.succeed(True)
                self._k.env.timeout(max(t - self._k.env._now, 0.0)).callbacks.append(fire)

    def _recover(self, direction: int, kind: int, flow: int, seg: float, hdr: float,
                 t_sent: float, lost_end: float, later: int, prop: float
                 ) -> Generator[Any, Any, float]:
        """A process: one lost segment, from its loss to the arrival of a copy. Value: the
        arrival time (NaN if the connection dropped first)."""
        ck = self._k
        env, rec, tr = ck.env, ck.rec, ck.transport
        pipe: Pipe = self.pipes[direction]
        epoch = self.epoch
        rtt = prop + prop
        bit = pipe.bit_time
        detect = tr.detect(lost_end, rtt, tr.mss * bit, later) if later else math.inf
        timeout = False
        if detect < math.inf:
            yield env.timeout(detect - env._now)
        else:  # a tail loss: later messages may still bring the acknowledgements needed
            deadline = tr.tail(lost_end, rtt, pipe.rto)
            fast = env.event()
            gap = [1 if tr.quic else DUPTHRESH - later, fast, lost_end, rtt]
            if self._gaps is None:
                self._gaps = ([], [])
            pending = self._gaps[direction]
            pending.append(gap)
            yield env.any_of((env.timeout(deadline - env._now), fast))
            if gap in pending:
                pending.remove(gap)
            timeout = not fast.triggered and not tr.tail_loss_probe
        win = None if kind == HANDSHAKE else self._win1 if direction else self._win0
        backoff = 2.0 if timeout else 1.0  # a timeout that fired already doubles the next
        while epoch == self.epoch:
            now = env._now
            if win is not None:
                win.lost(t_sent, timeout and not tr.quic, now)
            start = pipe.free_at if pipe.free_at > now else now
            end = start + seg * bit
            pipe.free_at = end
            if pipe.lost(start):  # the retransmission is lost too: its own timeout, doubled
                rec.message(now, kind, RETRY, seg, hdr, flow, direction, math.nan,
                            self.index)
                t_sent, timeout = start, True
                # its timeout, backed off: doubled after every one that fired (RFC 6298
                # §5.5, RFC 9002 §6.2.1)
                yield env.timeout(end + (tr.tail(end, rtt, pipe.rto) - end) * backoff - now)
                backoff = min(2.0 * backoff, MAX_BACKOFF)
                continue
            arrive = end + prop
            rec.message(now, kind, RETRY, seg, hdr, flow, direction, arrive, self.index)
            yield env.timeout(arrive - now)
            return arrive
        return math.nan

    def _rest(self, direction: int, size: float, kind: int, flow: int, header: float,
              win, n: int, done: int, nominal: float, prop: float, recov,
              before, unit: list, seq: int, row: int) -> Generator[Any, Any, tuple]:
        """A process: the rest of a message that did not arrive in one go — further rounds
        of its segments as the window opens, the recovery of its lost segments, and the
        wait for data handed over *before* it (in order per connection, per stream on
        QUIC). Value: ``(transmission, propagation, retransmission, head_of_line, row)``."""
        ck = self._k
        env, rec, tr = ck.env, ck.rec, ck.transport
        pipe: Pipe = self.pipes[direction]
        epoch = self.epoch
        t_first = env._now
        mss, bit = tr.mss, pipe.bit_time
        rtt = prop + prop
        recov = list(recov) if recov else []
        while done < n and epoch == self.epoch:
            now = env._now
            start = pipe.free_at if pipe.free_at > now else now
            lo = done * mss
            k = win.take(now, n - done, start + min(mss, size - lo) * bit, rtt, mss * bit, tr,
                         pipe.rto)
            if not k:  # the window is full: wait for the round's acknowledgements
                yield env.timeout(win.r_end - now)
                continue
            hi = size if size < lo + k * mss else lo + k * mss
            end = start + (hi - lo) * bit
            pipe.free_at = end
            if pipe.lossy:
                if self._gaps is not None and self._gaps[direction]:
                    self._dupacks(direction, k, start, mss * bit, rtt)
                recov += self._losses(direction, kind, flow, size, header, done, k, start,
                                      prop)
            done += k
            nominal = end + prop
        own: Any = nominal
        for ev in recov:
            t = ev.value if ev.processed else (yield ev)
            if t > own:
                own = t
        if own > env._now:
            yield env.timeout(own - env._now)
        t_own = env._now
        if epoch == self.epoch:
            if before is not None and not before.triggered:
                yield before  # in order: not before the data handed over earlier
            if unit[0] > env._now:
                yield env.timeout(unit[0] - env._now)
        now = env._now
        hol = now - t_own
        rec.arrived(row, now)
        if hol > 0.0:
            rec.event("hol", t_first, hol)
        if epoch == self.epoch:
            if now > unit[0]:
                unit[0] = now
            if unit[2] == seq:
                unit[1] = None
        retrans = own - nominal if own > nominal else 0.0
        return (t_own - t_first - prop - retrans, prop, retrans, hol, row)
