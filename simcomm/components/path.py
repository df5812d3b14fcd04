"""The path between a client and the server: client → connection → hops → server.

Patterns decide *when* and *what* to send; a :class:`Path` carries it. Its primitives are all
a pattern needs, each a generator to ``yield from``:

=====================  =====================================================================
:meth:`Path.up`        one message from the client end to the server end
:meth:`Path.work`      a server worker: wait for one (bounded queue or not), then spend CPU
                       before, a service time (optionally) and CPU after
:meth:`Path.down`      one message from the server end to the client end; says whether it
                       was delivered (False: its connection dropped while it travelled)
:meth:`Path.exchange`  request up, the server's work, response down (or a refusal: the
                       request re-tagged ``control`` and an error answer)
:meth:`Path.push`      a worker's work, then a message down (a pushed update, an event)
:meth:`Path.post`      a message down without waiting for it; a callback on arrival
:meth:`Path.ack`       an acknowledgement up, possibly lost for good
:meth:`Path.fire`      a message nobody waits for (a heartbeat)
:meth:`Path.acquire`   a connection for one exchange from the client's pool (waiting for one
                       if need be); :meth:`Path.end` gives it back
:meth:`Path.open`      make a connection ready: its handshake (or wait for one under way)
=====================  =====================================================================

Each fills a :class:`Trip`: the latency parts the message or exchange spent on the way (queueing
and serialisation, propagation, retransmissions, waiting for and using a worker) and what is
needed to settle its tags later (:meth:`Path.settle`). Messages are recorded where they are
handed to a connection, with their kind and tag.

**Hops.** A hop is anything a message passes through between the client's connection and the
server (a proxy, a load balancer, a sidecar): a :class:`Hop` plugged in with
:meth:`Path.add_hop`. Requests pass the hops in order on the way up, responses in reverse order
on the way down; a hop adds its own time to the trip. Patterns never see hops: a new hop is one
component, with no change to any pattern.

**Connections.** Each client has a pool (:mod:`simcomm.components.pool`): HTTP/1.1
connections carry one exchange each, HTTP/2 and HTTP/3 many streams on one. A connection that
is not open opens — its handshake flights on the wire (:mod:`simcomm.components.setup`) — when
its first request goes up; :meth:`Path.up` and :meth:`Path.exchange` do it, so patterns never
handle set-up.

**Streams.** On HTTP/3 (QUIC delivers in order per stream, not per connection) a request
and its response travel on the stream of their exchange (its flow id); other messages —
updates, acknowledgements, heartbeats, handshakes — on the connection's own stream. Over TCP
(HTTP/1.1, HTTP/2) every message of a connection is in one order.

**Restarts.** When the server restarts, every connection of the path drops (see
:meth:`~simcomm.components.server.Server.restart`); the patterns that reconnect learn of it
from the connection (:meth:`~simcomm.components.connection.Connection.on_drop`).
"""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import Any, Final

from simpy import Interrupt

from ..metrics.definitions import PART_NAMES, Kind, Part, Tag
from ..metrics.recorder import Recorder
from .connection import DOWN, UP, Connection, ConnectionKind
from .hop import Hop
from .pool import Pool
from .server import CRASHED, Server
from .task import timeout
from .window import TCP, Transport

__all__ = ["Hop", "Path", "Trip", "add_wire"]

# (Final: compiled, each is a C static, not a lookup in the module's dict at every use)
NPARTS: Final = len(PART_NAMES)
TRANSMISSION: Final = int(Part["TRANSMISSION"])
PROPAGATION: Final = int(Part["PROPAGATION"])
RETRANSMISSION: Final = int(Part["RETRANSMISSION"])
SERVER_QUEUE: Final = int(Part["SERVER_QUEUE"])
HEAD_OF_LINE: Final = int(Part["HEAD_OF_LINE"])
SERVICE: Final = int(Part["SERVICE"])
PARSE: Final = int(Part["PARSE"])
REQUEST: Final = int(Kind.REQUEST)
RESPONSE: Final = int(Kind.RESPONSE)
ACK: Final = int(Kind.ACK)
HANDSHAKE_KIND: Final = int(Kind.HANDSHAKE)
HANDSHAKE: Final = int(Part["HANDSHAKE"])
RESET: Final = 40.0
"""A TCP RST (20 B IP + 20 B TCP): the answer to a SYN nobody listens for."""
USEFUL: Final = int(Tag.USEFUL)
EMPTY: Final = int(Tag.EMPTY)
CONTROL: Final = int(Tag.CONTROL)


def add_wire(parts: list, r: tuple) -> None:
    """Add what one message spent on the wire — a connection's ``(transmission, propagation,
    retransmission, head_of_line, row)`` — to the latency *parts*."""
    parts[TRANSMISSION] += r[0]
    parts[PROPAGATION] += r[1]
    parts[RETRANSMISSION] += r[2]
    parts[HEAD_OF_LINE] += r[3]


class Landing:
    """A posted message's arrival (:meth:`Path.post`): its wire tuple is added to the trip's
    parts and ``then(trip, delivered)`` is called. One object per message, called by the
    event it arrives on (the value it reads is its own, or the event's when it has none:
    the message took a process)."""

    __slots__ = ("conn", "epoch", "then", "trip", "value")

    def __init__(self, conn: Connection, trip: Trip, then: Any) -> None:
        self.conn = conn
        self.epoch = conn.epoch
        self.trip = trip
        self.then = then
        self.value: Any = None

    def __call__(self, ev: Any) -> None:
        r = self.value
        if r is None:
            r = ev.value
        add_wire(self.trip.parts, r)
        self.then(self.trip, self.conn.epoch == self.epoch)


class Trip:
    """What one exchange (or one carried message) cost, and how to settle its tags.

    ``parts`` is the latency decomposition (indexed by :data:`~simcomm.metrics.Part`); the
    path adds to it, the pattern adds the client-side parts (``client_wait``, ``pending``,
    client parsing …). ``request`` is the last message sent up — ``(row, t, kind, size,
    header)`` — so that the pattern can re-tag it once the outcome is known; ``t_work`` and
    ``busy`` are the start and length of the last worker visit. With a *log* list, every
    message the trip sends up or down is appended to it as ``(row, t, kind, size, header)``
    (to re-tag a whole multi-message exchange, such as an aborted upload)."""

    __slots__ = ("busy", "conn", "failed", "flow", "log", "parts", "reached", "request",
                 "server", "service", "session", "t_work")

    def __init__(self, flow: int, log: list | None = None) -> None:
        self.flow = flow
        self.parts = [0.0] * NPARTS
        self.request: Any = None
        self.conn: Any = None
        """The connection the last request went up on (its answer comes back on it)."""
        self.reached = -1.0
        """When the last request — or, refused while opening, the connection's first
        handshake flight — reached the server end."""
        self.t_work = 0.0
        self.busy = 0.0
        self.service = 0.0
        self.log: Any = log
        self.server: Any = None
        """The server instance its work runs on (set by a balancer; None: the path's)."""
        self.session: Any = None
        """The :class:`~simcomm.components.state.Session` its request carries, if any (a
        sticky balancer routes by it)."""
        self.failed: bool | str = False
        """Why its request got no answer, when it got none: False — turned away by the
        server; True — failed after the server's work (``faults.failure``); ``"timeout"`` —
        no answer in time; ``"open"`` — failed at once by an open circuit breaker."""


def _turns(conn: Connection) -> list:
    """*conn*'s pipelining order ``[next request, next response, waiting responses]``, made
    on first use (most connections never pipeline: memory per client)."""
    turns = conn.turns
    if turns is None:
        turns = conn.turns = [0, 0, {}]
    return turns

class Path:
    """How messages get between the clients and the server, and the server's work on them."""

    def __init__(self, env, server, recorder: Recorder, streams, *, setup=None, warm: bool = True,
                 reuse: str = "keepalive", idle_timeout: float | None = None,
                 protocol: str = "h1", pool: int = 6, max_streams: int = 100,
                 pipelining: bool = False, transport: Transport = TCP) -> None:
        self.env = env
        self.server = server
        self._rec = recorder
        self._streams = streams
        self.hops: list[Hop] = []
        self.router: Any = None
        """A hop that picks the server instance of each trip (a load balancer; see
        :mod:`simcomm.components.balancer`), or None: every trip works on :attr:`server`."""
        self.resilience: Any = None
        """The policy around exchanges (see :meth:`guard`), or None."""
        self.exchange: Any = self._exchange_once
        """``yield from path.exchange(conn, trip, …)``: request up, the server's work, response
        down (:meth:`_exchange_once`), or the same through the resilience policy once
        :meth:`guard` has put one around it. An attribute, not a method, so that the policy
        replaces it without a test on every exchange."""
        self.connections: list[Connection] = []
        """The clients' (and publishers') connections, in the order they were made."""
        self.setup: Any = setup
        """What opening a connection costs (:class:`~simcomm.components.setup.Setup`)."""
        self.warm = warm
        self.reuse = reuse
        """``keepalive``: an exchange uses the client's connection; ``per_request``: each
        exchange opens a connection of its own and closes it when done."""
        self.idle_timeout = idle_timeout
        self.multiplexed = protocol in ("h2", "h3")
        """HTTP/2 or HTTP/3: streams on one connection, compressed headers."""
        self.pool = pool
        self.max_streams = max_streams
        self.pipelining = pipelining
        self.transport = transport
        """Segments, windows, TCP or QUIC: :mod:`simcomm.components.window`."""
        self._live: set[Connection] = set()
        """Per-request connections open now."""
        self._next = 0
        self._kind = ConnectionKind(env, recorder, setup, transport)
        """What its connections share: the environment, the recorder, the set-up and the
        transport (memory per client)."""
        server.on_restart(self._server_restarted)

    def connect(self, link, name: str | None, owner: int = -1) -> Connection:
        """A connection over *link*: established before the run when the path is warm, else
        opened (with its handshake) on first use. *owner*: the client it belongs to (−1:
        none, such as a publisher's). *name* None: ``conn.<owner>``, a client's own."""
        # per_request: the client's own connection is only the template of the ones it opens
        warm = self.warm and self.reuse == "keepalive"
        conn = Connection(self.env, link, self._rec, name=name, streams=self._streams,
                          index=self._index(owner), warm=warm, idle_timeout=self.idle_timeout,
                          kind=self._kind)
        conn.owner = owner
        self._protocol(conn)
        self.connections.append(conn)
        return conn

    def _protocol(self, conn: Connection) -> None:
        conn.compress = self.multiplexed
        conn.ordered = self.pipelining

    def _index(self, owner: int = -1) -> int:
        """The next connection number, recorded as *owner*'s (see
        :meth:`~simcomm.metrics.recorder.Recorder.connection`)."""
        index = self._next
        self._next += 1
        if index == owner:
            index = owner  # the same int object: a client's own is numbered as the client
        self._rec.connection(index, owner)
        return index

    def begin(self, client) -> Any:
        """The connection one exchange of *client* uses, with the exchange begun on it — or,
        when the client's pool has none free (HTTP/1.1 connections all busy, HTTP/2 streams
        all taken), an event whose value is that connection once one frees (see
        :mod:`simcomm.components.pool`). Patterns that can wait use :meth:`acquire`."""
        base: Connection = client.connection
        pool: Pool | None = base.pool
        if pool is None:
            pool = base.pool = Pool(
                self, base, multiplexed=self.multiplexed,
                limit=self.max_streams if self.multiplexed and self.reuse == "keepalive"
                else self.pool, pipelining=self.pipelining,
                per_request=self.reuse == "per_request")
        return pool.acquire()

    def acquire(self, client) -> Generator[Any, Any, Connection]:
        """``yield from``: :meth:`begin`, waiting for a connection if need be."""
        conn = self.begin(client)
        if not isinstance(conn, Connection):
            conn = yield conn
        return conn

    def end(self, conn: Connection) -> None:
        """The exchange begun with :meth:`begin` is over: the connection goes back to its
        client's pool (a per-request connection closes)."""
        pool: Pool = (conn.parent or conn).pool
        pool.release(conn)

    def fresh(self, base: Connection, keep: bool = False) -> Connection:
        """A new connection beside the client's own *base*, not open yet: a pool's further
        connection (*keep*: it stays until dropped or idle) or one for a single exchange."""
        conn = Connection(self.env, base.link, self._rec, name=base.name,
                          index=self._index(self._rec.owner(base.index)), warm=False,
                          idle_timeout=self.idle_timeout if keep else None, kind=self._kind)
        conn.parent = base
        conn.resumed = base.resumed
        conn._drop = base.dropper() if base._drop is not None else None
        self._protocol(conn)
        if keep:
            self.connections.append(conn)
        else:
            self._live.add(conn)
        return conn

    def forget(self, conn: Connection) -> None:
        """A per-request connection is closed for good."""
        self._live.discard(conn)

    def guard(self, resilience) -> None:
        """Put *resilience* (:class:`~simcomm.components.resilience.Resilience`: timeouts,
        retries, a circuit breaker, a cache) around every :meth:`exchange`: from now on
        ``exchange`` goes through it, and each of its tries is a plain exchange."""
        self.resilience = resilience
        self.exchange = functools.partial(resilience.exchange, self)

    def add_hop(self, hop: Hop) -> None:
        """Plug *hop* in, after the hops already there (nearer the server)."""
        self.hops.append(hop)
        hop.attach(self)

    def _server_restarted(self) -> None:
        if self.router is not None:  # a balancer holds the clients' connections
            return
        for conn in (*self.connections, *self._live):
            conn.drop()

    # -- opening a connection ------------------------------------------------------------------
    def open(self, conn: Connection, trip: Trip | None = None) -> Generator[Any, Any, bool]:
        """``yield from``: make *conn* ready, going through its handshake if it is not open
        (waiting for one under way). The time spent is the trip's ``handshake`` part. Returns
        False if it could not be opened: the server was down (its end refused the first
        flight) or the connection dropped meanwhile."""
        if conn.ready:
            return True
        env = self.env
        t0 = env._now
        if conn.opening is not None:
            ok = yield conn.opening
        else:
            ok = yield from self._handshake(conn, trip)
        if trip is not None:
            trip.parts[HANDSHAKE] += env._now - t0
        return ok

    def _handshake(self, conn: Connection, trip: Trip | None) -> Generator[Any, Any, bool]:
        ev = conn.opening = self.env.event()
        t0 = self.env._now
        conn.reopen(counted=False)  # held from its first flight on
        epoch, resumed, setup = conn.epoch, conn.resumed, conn.setup
        ok = True
        flights = setup.flights(resumed) if setup is not None else ()
        for i, (direction, size) in enumerate(flights):
            r = conn.send(direction, size, size, HANDSHAKE_KIND, CONTROL, -1)
            if not isinstance(r, tuple):
                yield r
            if conn.epoch != epoch:
                ok = False
                break
            if i == 0 and self.router is None and self.server.down:
                # nobody listens: the server end resets it (a balancer's end always listens)
                if trip is not None:
                    trip.reached = self.env._now
                r = conn.send(DOWN, RESET, RESET, HANDSHAKE_KIND, CONTROL, -1)
                if not isinstance(r, tuple):
                    yield r
                conn.close()
                ok = False
                break
        if ok:
            self._rec.event("connections_opened", t0)
            conn.early = setup.early(resumed) if setup is not None else ()
            conn.resumed = True
            if conn.parent is not None:
                conn.parent.resumed = True
        conn.opening = None
        ev.succeed(ok)
        return ok

    # -- primitives ----------------------------------------------------------------------------
    def up(self, conn: Connection, trip: Trip, size: float, header: float, kind: int = REQUEST,
           tag: int = USEFUL) -> Generator[Any, Any, bool]:
        """``yield from``: one message from the client end to the server end, opening the
        connection first if it is not open (see :meth:`open`). Returns False if it could not
        be opened (the message was not sent)."""
        if not conn.ready and not (yield from self.open(conn, trip)):
            return False
        trip.conn = conn
        if conn.early or conn.compress:
            size, header = self._prepare(conn, UP, size, header, kind == REQUEST)
        t = self.env._now
        r = conn.send(UP, size, header, kind, tag, trip.flow, 0.0,
                      trip.flow if kind == REQUEST else None)
        if not isinstance(r, tuple):
            r = yield r
        add_wire(trip.parts, r)
        trip.request = msg = (r[4], t, kind, size, header)
        if trip.log is not None:
            trip.log.append(msg)
        if self.hops:
            for hop in self.hops:
                yield from hop.carry(trip, UP, size, header, kind, tag)
        trip.reached = self.env._now
        return True

    @staticmethod
    def _prepare(conn: Connection, direction: int, size: float, header: float, http: bool
                 ) -> tuple[float, float]:
        """Before a message goes *direction*: a pending 0-RTT flight goes just ahead of it
        (the resumption's hello up, the server's answer to it down), and an HTTP message's
        headers are compressed on h2/h3. Returns the message's ``(size, header)``."""
        if conn.early and conn.early[0][0] == direction:
            _, hello = conn.early[0]
            conn.early = conn.early[1:]
            conn.send(direction, hello, hello, HANDSHAKE_KIND, CONTROL, -1)
        if conn.compress and http:
            return conn.head(direction, size, header)
        return size, header

    def down(self, conn: Connection, trip: Trip, size: float, header: float,
             kind: int = RESPONSE, tag: int = USEFUL, sent=None) -> Generator[Any, Any, bool]:
        """``yield from``: one message from the server end to the client end. Returns True if
        it was delivered, False if its connection dropped before it arrived. *sent*, if
        given, is called the moment the message is handed to the connection."""
        if self.hops:
            for hop in reversed(self.hops):
                yield from hop.carry(trip, DOWN, size, header, kind, tag)
        epoch = conn.epoch
        if conn.early or conn.compress:
            size, header = self._prepare(conn, DOWN, size, header, kind == RESPONSE)
        t = self.env._now
        r = conn.send(DOWN, size, header, kind, tag, trip.flow, 0.0,
                      trip.flow if kind == RESPONSE else None)
        if sent is not None:
            sent()
        if not isinstance(r, tuple):
            r = yield r
        if trip.log is not None:
            trip.log.append((r[4], t, kind, size, header))
        add_wire(trip.parts, r)
        return conn.epoch == epoch

    def work(self, trip: Trip, cpu_before: float = 0.0, cpu_after: float = 0.0, *,
             serve: bool = True, bounded: bool = True, work: float = 0.0,
             then=None) -> Generator[Any, Any, bool]:
        """``yield from``: wait for a server worker, then spend *cpu_before* + a service time
        (when *serve*) + *work* seconds of business logic + *cpu_after* on it. Returns False,
        at once, when the server refuses (its bounded queue is full, or it is down; *bounded*
        False: work the server gives itself, never refused for a full queue).

        *then*, a callable, runs on the same worker once that work is done (e.g. to read what
        is pending after the service time) and returns ``(work, cpu)``: more seconds of
        business logic and of encoding to spend before the worker is released. With *then*,
        the trip's parts count only what follows it (the earlier work is the request's, not
        the answer's); ``trip.t_work`` and ``trip.busy`` still span the whole visit."""
        env = self.env
        server: Server = trip.server if trip.server is not None else (
            self.server if self.router is None else self.router.route(trip))
        t_arr = env._now
        req = server.admit(bounded)
        if req is None:
            return False
        if req is not True and (yield req) is CRASHED:
            trip.failed = True  # the instance crashed while it waited: an error
            trip.parts[SERVER_QUEUE] += env._now - t_arr
            return False
        t_work = env._now
        service, busy = server.work(cpu_before, cpu_after, serve, work)
        if server.may_crash:
            if not (yield from self._crashable(server, busy)):
                trip.failed = True  # the instance crashed under it: an error
                trip.parts[SERVER_QUEUE] += t_work - t_arr
                trip.parts[SERVICE] += env._now - t_work
                self._rec.waste(t_work, env._now)  # the work done is lost
                return False
        else:
            yield timeout(env, busy)
        parts = trip.parts
        trip.service = service
        # an error once its work is done (an HTTP 500): before anything is read for it
        failed = bounded and server.failure and server.failed()
        if then is None or failed:
            parts[SERVER_QUEUE] += t_work - t_arr
            parts[SERVICE] += service
            parts[PARSE] += busy - service
        if failed:
            server.release(req)
            trip.failed = True
            self._rec.waste(t_work, t_work + busy)
            return False
        if then is not None:
            more_work, more_cpu = then()
            if more_work or more_cpu:
                more_service, more = server.work(0.0, more_cpu, False, more_work)
                if server.may_crash:
                    if not (yield from self._crashable(server, more)):
                        trip.failed = True
                        return False
                else:
                    yield timeout(env, more)
                busy += more
                parts[SERVICE] += more_service
                parts[PARSE] += more - more_service
        server.release(req)
        trip.t_work = t_work
        trip.busy = busy
        return True

    def _crashable(self, server, busy: float) -> Generator[Any, Any, bool]:
        """``yield from``: *busy* seconds on a worker of *server*, which may crash meanwhile.
        Returns False if it did (the worker is gone: nothing to release)."""
        server.serve_begin(busy)
        try:
            yield timeout(self.env, busy)
        except Interrupt:
            return False
        server.serve_end()
        return True

    def refuse(self, conn: Connection, trip: Trip, header: float) -> Generator[Any, Any, None]:
        """``yield from``: the server turned the trip's request away: re-tag it ``control`` and
        answer with an error (*header* bytes, tagged ``control``)."""
        self.settle(trip, CONTROL)
        if trip.log is not None:
            trip.log.remove(trip.request)  # settled already: not useful any more
        if self.hops:
            for hop in reversed(self.hops):
                yield from hop.carry(trip, DOWN, header, header, RESPONSE, CONTROL)
        if conn.compress:
            header = conn.head(DOWN, header, header)[1]
        r = conn.send(DOWN, header, header, RESPONSE, CONTROL, trip.flow, 0.0, trip.flow)
        if not isinstance(r, tuple):
            yield r

    def _exchange_once(self, conn: Connection, trip: Trip, req_size: float, req_header: float,
                 resp_size: float, resp_header: float, cpu_before: float = 0.0,
                 cpu_after: float = 0.0, *, bounded: bool = True, tag: int = USEFUL
                 ) -> Generator[Any, Any, bool]:
        """``yield from``: request up, the server's work (parse *cpu_before*, a service time,
        serialise *cpu_after*), response down tagged *tag*. Returns False if the server
        refused the request (answered with an error, see :meth:`refuse`).

        The same steps as :meth:`up`, :meth:`work` and :meth:`down`, written out in one frame:
        this is the hot path of request-driven patterns (see ``benchmarks/``)."""
        if self.hops or not conn.ready or conn.early or conn.ordered or self.server.may_crash:
            if not (yield from self.up(conn, trip, req_size, req_header)):
                return False
            turn = None
            if conn.ordered:  # pipelined: this request's place in the connection's order
                turns = _turns(conn)
                turn = turns[0]
                turns[0] += 1
            ok = yield from self.work(trip, cpu_before, cpu_after, bounded=bounded)
            if turn is not None:
                t_wait = self.env._now
                yield from self._turn(conn, turn)
                trip.parts[SERVER_QUEUE] += self.env._now - t_wait  # head-of-line on the server
            if not ok:
                yield from self.refuse(conn, trip, resp_header)
                if turn is not None:
                    self._next_turn(conn, turn)
                return False
            yield from self.down(conn, trip, resp_size, resp_header, RESPONSE, tag,
                                 sent=None if turn is None
                                 else (lambda: self._next_turn(conn, turn)))
            return True
        env = self.env
        server: Server = self.server
        parts = trip.parts
        if conn.compress:  # h2/h3: repeated header blocks cost less (Connection.head)
            req_size, req_header = conn.head(UP, req_size, req_header)
            resp_size, resp_header = conn.head(DOWN, resp_size, resp_header)
        t = env._now
        stream = trip.flow
        r = conn.send(UP, req_size, req_header, REQUEST, USEFUL, stream, 0.0, stream)
        if not isinstance(r, tuple):
            r = yield r
        tx, prop, rt, hol = r[0], r[1], r[2], r[3]
        trip.request = msg = (r[4], t, REQUEST, req_size, req_header)
        if trip.log is not None:
            trip.log.append(msg)
        t_arr = env._now
        req = server.admit(bounded)
        if req is None:
            add_wire(parts, r)  # the request's way up; the refusal's way down in refuse()
            yield from self.refuse(conn, trip, resp_header)
            return False
        if req is not True:
            yield req
        t_work = env._now
        service, busy = server.work(cpu_before, cpu_after)
        yield timeout(env, busy)
        server.release(req)
        if server.failure and server.failed():  # an error once its work is done
            trip.failed = True
            add_wire(parts, r)
            parts[SERVER_QUEUE] += t_work - t_arr
            parts[SERVICE] += service
            parts[PARSE] += busy - service
            self._rec.waste(t_work, t_work + busy)
            yield from self.refuse(conn, trip, resp_header)
            return False
        t = env._now
        r = conn.send(DOWN, resp_size, resp_header, RESPONSE, tag, trip.flow, 0.0, stream)
        if not isinstance(r, tuple):
            r = yield r
        if trip.log is not None:
            trip.log.append((r[4], t, RESPONSE, resp_size, resp_header))
        parts[TRANSMISSION] += tx + r[0]
        parts[PROPAGATION] += prop + r[1]
        parts[RETRANSMISSION] += rt + r[2]
        parts[HEAD_OF_LINE] += hol + r[3]
        parts[SERVER_QUEUE] += t_work - t_arr
        parts[SERVICE] += service
        parts[PARSE] += busy - service
        trip.t_work = t_work
        trip.busy = busy
        trip.service = service
        return True

    def _turn(self, conn: Connection, turn: int) -> Generator[Any, Any, None]:
        """``yield from``: wait until the responses to every earlier request pipelined on
        *conn* have been sent (HTTP/1.1 answers in request order, RFC 9112 §9.3.2)."""
        turns = _turns(conn)
        if turns[1] != turn:
            ev = turns[2][turn] = self.env.event()
            yield ev

    @staticmethod
    def _next_turn(conn: Connection, turn: int) -> None:
        turns = _turns(conn)
        turns[1] = turn + 1
        ev = turns[2].pop(turn + 1, None)
        if ev is not None:
            ev.succeed()

    def push(self, conn: Connection, trip: Trip, size: float, header: float, kind: int, *,
             cpu_before: float = 0.0, cpu_after: float = 0.0, serve: bool = False,
             work: float = 0.0, tag: int = USEFUL) -> Generator[Any, Any, bool]:
        """``yield from``: a worker (never refused) spends its CPU and *work* seconds of
        business logic, then a message goes down. Returns True if it was delivered (see
        :meth:`down`)."""
        yield from self.work(trip, cpu_before, cpu_after, serve=serve, bounded=False,
                             work=work)
        return (yield from self.down(conn, trip, size, header, kind, tag))

    def ack(self, conn: Connection, flow: int, header: float, drop: float = 0.0
            ) -> Generator[Any, Any, bool]:
        """``yield from``: an acknowledgement (*header* bytes, tagged ``control``) goes up.
        With *drop* it is lost for good with that probability. Returns True if it arrived."""
        r = conn.send(UP, header, header, ACK, CONTROL, flow, drop)
        if r is None:
            return False
        if not isinstance(r, tuple):
            yield r
        if self.hops:
            trip = Trip(flow)
            for hop in self.hops:
                yield from hop.carry(trip, UP, header, header, ACK, CONTROL)
        return True

    def post(self, conn: Connection, trip: Trip, size: float, header: float, kind: int,
             tag: int, then) -> None:
        """Hand a message to the client end without waiting for it (a stream that writes event
        after event): ``then(trip, delivered)`` is called when it arrives, its parts added to
        the trip; *delivered* is False if its connection dropped meanwhile. No process runs
        for it unless hops or a loss need one."""
        if self.hops:
            def via_hops() -> Generator[Any, Any, None]:
                ok = yield from self.down(conn, trip, size, header, kind, tag)
                then(trip, ok)
            self.env.process(via_hops())
            return
        landing = Landing(conn, trip, then)
        if conn.early or conn.compress:
            size, header = self._prepare(conn, DOWN, size, header, kind == RESPONSE)
        r = conn.send(DOWN, size, header, kind, tag, trip.flow, 0.0,
                      trip.flow if kind == RESPONSE else None, landing)
        if r is None:
            return  # it lands by itself (posts landing together share one event)
        if isinstance(r, tuple):
            landing.value = r
            landing(None)
        else:
            r.callbacks.append(landing)

    def fire(self, conn: Connection, direction: int, size: float, header: float, kind: int,
             tag: int, flow: int = -1) -> None:
        """Hand over a message nobody waits for (a heartbeat): it is recorded and takes its
        place on the connection; hops are not modelled for it."""
        conn.send(direction, size, header, kind, tag, flow)

    # -- settling tags and waste ---------------------------------------------------------------
    def turned_away(self, trip: Trip, t: float) -> None:
        """Count the request of *trip* (issued at *t*) that got an error instead of its
        answer: ``rejected`` when the server turned it away (queue full, down); an error when
        it failed after its work or a circuit breaker failed it at once; a timeout when its
        last try was given up on (see :mod:`simcomm.components.resilience`)."""
        failed = trip.failed
        if not failed:
            self._rec.reject(t)
        elif failed == "timeout":
            self._rec.event("timeouts", t)
        else:
            self._rec.event("errors", t)

    def settle(self, trip: Trip, tag: int) -> None:
        """Re-tag the trip's last request *tag* (it turned out ``empty``, or was refused)."""
        row, t, kind, size, header = trip.request
        self._rec.retag(row, t, kind, USEFUL, tag, size, header)

    def settle_log(self, trip: Trip, tag: int) -> None:
        """Re-tag every ``useful`` message in the trip's log *tag*."""
        retag = self._rec.retag
        for row, t, kind, size, header in trip.log:
            retag(row, t, kind, USEFUL, tag, size, header)

    def waste(self, start: float, end: float) -> None:
        """Worker time [start, end) delivered nothing."""
        self._rec.waste(start, end)
