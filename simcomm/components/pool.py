"""A client's connections to the server, and which exchange may use which.

An exchange (a request and its response, a poll and its answer) asks the client's
:class:`Pool` for a connection (:meth:`Pool.acquire`) and gives it back when done
(:meth:`Pool.release`). How many exchanges share a connection is the protocol's business
(RFC 9112 for HTTP/1.1, RFC 9113 for HTTP/2, RFC 9114 for HTTP/3):

* **HTTP/1.1** (``protocol: h1``) — one exchange at a time per connection, up to ``pool``
  connections per client (browsers open 6 per origin). The client's first connection is the
  one it starts with (warm or not); more are opened on demand — each paying its handshake —
  and kept (until ``idle_timeout``). When all ``pool`` connections are busy, the exchange waits,
  first come first served, for one to free. With ``pipelining`` a busy connection takes more
  requests instead of waiting (the least loaded one, once the pool is full); their responses
  come back in request order (see :class:`~simcomm.components.path.Path`).
* **HTTP/2 and HTTP/3** (``h2``, ``h3``) — one connection per client carries up to
  ``max_streams`` exchanges at once (``SETTINGS_MAX_CONCURRENT_STREAMS``: 100 in nginx and
  Go); further exchanges wait for a stream to free.
* ``reuse: per_request`` — every exchange opens a connection of its own and closes it after
  (at most ``pool`` at once for h1).

Waiting for a connection or a stream counts in the exchange's ``client_wait``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from simpy.events import Event

from .connection import Connection

__all__ = ["Pool"]


class Pool:
    """The connections of one client (see the module docstring)."""

    __slots__ = ("_waiting", "base", "conns", "env", "limit", "live", "multiplexed",
                 "path", "per_request", "pipelining")

    def __init__(self, path, base: Connection, *, multiplexed: bool, limit: int,
                 pipelining: bool, per_request: bool) -> None:
        self.path = path
        self.env = path.env
        self.base = base
        """The client's own connection (the first of the pool)."""
        self.conns = [base]
        self.multiplexed = multiplexed
        self.limit = limit
        """Most connections at once (h1), or most streams on the one connection (h2/h3)."""
        self.pipelining = pipelining
        self.per_request = per_request
        self.live = 0
        """Per-request connections open now."""
        self._waiting: Any = ()
        """Exchanges waiting for a connection or stream (an empty tuple until the first
        waits: an empty deque is ~0.6 kB, and a pool is made per client)."""

    def acquire(self) -> Connection | Event:
        """A connection for one exchange, begun on it — or, when none may be had now, an event
        whose value is that connection once one frees (first come first served)."""
        base = self.base
        if base.outstanding == 0 and base.is_open and not self.per_request:
            base.begin()  # the common case: the client's own connection is free
            return base
        conn = self._free()
        if conn is None:
            ev = Event(self.env)
            if self._waiting.__class__ is tuple:
                self._waiting = deque()
            self._waiting.append(ev)
            return ev
        conn.begin()
        return conn

    def _free(self) -> Connection | None:
        if self.per_request:
            if self.live >= self.limit:
                return None
            self.live += 1
            return self.path.fresh(self.base)
        if self.multiplexed:
            base = self.base
            return base if base.outstanding < self.limit else None
        idle = None
        for c in self.conns:
            if c.outstanding == 0:
                if c.is_open:
                    return c
                if idle is None:
                    idle = c
        if idle is not None:
            return idle
        if len(self.conns) < self.limit:
            c = self.path.fresh(self.base, keep=True)
            self.conns.append(c)
            return c
        if self.pipelining:
            return min(self.conns, key=lambda c: c.outstanding)
        return None

    def release(self, conn: Connection) -> None:
        """The exchange on *conn* is over: a per-request connection closes; a waiting exchange
        gets the connection (or stream, or slot) that freed."""
        conn.end()
        if self.per_request:
            conn.close()
            self.path.forget(conn)
            self.live -= 1
        elif not self._waiting:
            return
        if self._waiting:
            nxt = self._free()
            if nxt is not None:
                nxt.begin()
                self._waiting.popleft().succeed(nxt)
