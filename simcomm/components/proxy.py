"""A demultiplexing proxy: a hop that terminates the clients' connections and spreads their
requests over a pool of connections to the server, as Envoy or nginx do (HTTP/2 in front,
HTTP/1.1 behind: ``http2_protocol_options`` downstream, ``http_protocol_options`` upstream).

It plugs into the path (:meth:`~simcomm.components.path.Path.add_hop`); no pattern knows it is
there. For every message coming up from a client it

1. waits for one of its ``workers`` and spends its CPU per request on it (routing, header
   rewriting: tens of µs for Envoy; more with TLS termination);
2. takes a connection of its backend pool — one exchange per connection (HTTP/1.1), up to
   ``pool`` of them, opened on demand (each paying its handshake on the backend leg, TLS
   ``tls``) and kept (``reuse: keepalive``), or one per request (``per_request``); when all are
   busy the request waits for one, first come first served;
3. sends the message over that connection (the backend link: its own latency and bandwidth).

A request holds its backend connection until its answer (the next message down with the same
flow) comes back over it; the connection then goes back to the pool — or, if the client's own
connection drops first (it went away while a long poll was parked), the proxy gives up the
request and frees the backend connection. Messages that expect no answer (acknowledgements)
and messages the server sends unasked (pushed updates, SSE events) go over the pool's first
connection. Requests of one flow in flight together (an upload's chunks) release their
backend connections in the order their answers come.
Everything the request spends in the proxy before the backend leg (worker queue, CPU, waiting
for a backend connection) is the ``hop`` part of its latency; the backend leg's wire time is
``transmission``/``propagation``/``retransmission``, a backend handshake ``handshake``.
Backend connections count in ``held_connection_s`` and ``connections_opened``
like any other.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator

from ..metrics.definitions import Kind, Part
from .connection import DOWN, UP, Connection
from .path import Hop, Path, Trip, add_wire
from .pool import Pool
from .server import OwnBooks, Server

__all__ = ["Proxy"]

HOP, HANDSHAKE = int(Part.HOP), int(Part.HANDSHAKE)
REQUEST = int(Kind.REQUEST)
PROXY_OWNER = -2
"""The owner recorded for a backend connection (the messages frame's ``client`` column)."""


class Proxy(Hop):
    def __init__(self, env, *, link, recorder, workers: int, cpu, pool: int, reuse: str,
                 setup, warm: bool) -> None:
        self.env = env
        self._link = link
        self._rec = recorder
        self._setup = setup
        self._warm = warm
        self.books = OwnBooks()
        self.cpu = Server(env, workers=workers, service=cpu, queue_limit=None,
                          recorder=self.books)
        """The proxy's workers: one CPU visit per request (``service`` = its CPU)."""
        self._pool_size = pool
        self._reuse = reuse
        self.pool: Pool | None = None
        self.path: Path | None = None
        self._legs: dict[int, deque] = {}
        """Per flow: the ``(backend connection, client connection)`` of its requests in
        flight, oldest first."""
        self._watched: set[int] = set()

    # -- the hop protocol ----------------------------------------------------------------------
    def attach(self, path: Path) -> None:
        self.path = path
        base = Connection(self.env, self._link, self._rec, name="proxy.backend",
                          index=path._index(PROXY_OWNER),
                          setup=self._setup, warm=self._warm and self._reuse == "keepalive")
        path.connections.append(base)  # a server restart drops it too
        self.pool = Pool(self, base, multiplexed=False, limit=self._pool_size,
                         pipelining=False, per_request=self._reuse == "per_request")

    def carry(self, trip: Trip, direction: int, size: float, header: float = 0.0,
              kind: int = REQUEST, tag: int = 0) -> Generator:
        env = self.env
        parts = trip.parts
        if direction == UP and kind == REQUEST:
            t0 = env._now
            yield from self.cpu.visit()
            conn = self.pool.acquire()
            if conn.__class__ is not Connection:
                conn = yield conn
            parts[HOP] += env._now - t0
            if not conn.ready:
                yield from self.path.open(conn, trip)
            client = trip.conn
            self._legs.setdefault(trip.flow, deque()).append((conn, client))
            if client is not None and client.index not in self._watched:
                self._watched.add(client.index)
                client.on_drop(self._client_gone)
        else:
            legs = self._legs.get(trip.flow) if direction == DOWN else None
            if legs:
                conn = legs.popleft()[0]
                if not legs:
                    del self._legs[trip.flow]
            else:  # no answer awaited (an ack), or the server speaks unasked
                conn = self.pool.base
                if not conn.ready:
                    yield from self.path.open(conn, trip)
                r = conn.send(direction, size, header, kind, tag, trip.flow)
                if r.__class__ is not tuple:
                    r = yield r
                add_wire(parts, r)
                return
        r = conn.send(direction, size, header, kind, tag, trip.flow)
        if r.__class__ is not tuple:
            r = yield r
        add_wire(parts, r)
        if direction == DOWN:
            self.pool.release(conn)

    def _client_gone(self, client: Connection) -> None:
        """A client's connection dropped: the proxy gives up its requests still waiting for
        an answer, freeing their backend connections."""
        for flow, legs in list(self._legs.items()):
            keep = deque(leg for leg in legs if leg[1] is not client)
            for conn, c in legs:
                if c is client:
                    self.pool.release(conn)
            if keep:
                self._legs[flow] = keep
            else:
                del self._legs[flow]

    # -- what the backend pool asks of its owner (see components/pool.py) ----------------------
    def fresh(self, base: Connection, keep: bool = False) -> Connection:
        conn = Connection(self.env, base.link, self._rec, name=base.name,
                          index=self.path._index(PROXY_OWNER), setup=self._setup,
                          warm=False)
        conn.parent = base
        conn.resumed = base.resumed
        if keep:
            self.path.connections.append(conn)
        return conn

    def forget(self, conn: Connection) -> None:
        """A per-request backend connection is closed for good."""
