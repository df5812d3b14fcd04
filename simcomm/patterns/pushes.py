"""Pub/sub's push consumer, per copy: a copy handed to its subscriber's connection, and landed.

The broker's side of :mod:`simcomm.patterns.pubsub` that runs once per copy — the fan-out of a
served publish to the subscribers it may go to at once, a copy sent down when a subscriber's
queue lets it go, a copy landing — is here, compiled with the components
(:mod:`simcomm._native`): a fan-out makes a copy per subscriber, so this is pub/sub's hot path
(with ``perf``, its Python frames were most of a fan-out's time once the copies shared their
landing events). What a copy costs and how its latency is decomposed is told in
:mod:`simcomm.patterns.pubsub`; the rarer cases (a copy the subscriber cannot take, parsing
before processing, duplicates, acknowledgements, tracked copies) are the pattern's own methods,
called from here.
"""

from __future__ import annotations

from typing import Any, Final

from ..components.path import NPARTS, Path, Trip
from ..components.task import timeout
from ..metrics.definitions import Kind, Part, Tag

__all__ = ["Pushes"]

PENDING: Final = int(Part["PENDING"])
UPDATE: Final = int(Kind.UPDATE)
USEFUL: Final = int(Tag.USEFUL)


class Pushes:
    """The copies a :class:`~simcomm.patterns.pubsub.PubSub` pattern (*pattern*) pushes."""

    def __init__(self, pattern: Any, world: Any) -> None:
        self.pattern = pattern
        self.env: Any = world.env
        self.path: Path = world.path
        self.clients: list[Any] = world.clients
        self.feed: Any = world.feed
        self.broker: Any = pattern.broker
        self.hops: dict[int, list[Any]] = pattern._hop
        """Per message: the parts of its publish's trip, when it was queued, copies left."""
        self.header: Any = world.update_header
        self.size_factor: Any = pattern.size_factor
        self.parse_per_byte: float = pattern.parse_per_byte
        self.plain: bool = not pattern._track and not pattern.acks
        """A landed copy can be neither a duplicate nor tracked: it goes to the feed at once
        (else through the pattern's ``_accept``)."""

    def fan_out(self, u: Any, subs: Any, direct: bool) -> None:
        """A served publish *u*'s copies for *subs*: with *direct* (nothing can be held back:
        no prefetch, no tracking), a copy the broker's queue would pass straight through is
        sent at once (``Broker.passes``); every other is queued and dispatched."""
        clients, broker, path, pattern = self.clients, self.broker, self.path, self.pattern
        h = self.header
        size = h + u.size * self.size_factor
        now: float = self.env._now
        for ci in subs:
            client = clients[ci]
            conn = client.connection
            if direct and client.online and conn.ready and broker.passes(ci):
                path.post(conn, Trip(u.uid), size, h, UPDATE, USEFUL, Copy(self, client, u, now))
            else:
                broker.publish(ci, u)
                pattern._dispatch(client)

    def push(self, client: Any, conn: Any, u: Any) -> None:
        """A copy of *u* goes down *conn* to *client*: I/O only (routed and serialised when
        its publish was served). No process runs for it: :meth:`landed` is called when it
        lands."""
        h = self.header
        self.path.post(conn, Trip(u.uid), h + u.size * self.size_factor, h, UPDATE, USEFUL,
                       Copy(self, client, u, self.env._now))

    def landed(self, client: Any, u: Any, t_taken: float, trip: Trip,
               delivered: bool) -> None:
        """A pushed copy lands on its subscriber's connection (taken from the broker at
        *t_taken*; *delivered*: its connection did not drop while it travelled)."""
        pattern = self.pattern
        if not delivered or not client.online:
            pattern._gone(client.index, (u,))
            return
        cp = u.size * self.size_factor * self.parse_per_byte
        if cp:  # parsed before it is processed
            timeout(self.env, cp).callbacks.append(
                lambda _ev: pattern._accept(client, (u,), t_taken, trip.parts, cp))
        elif not self.plain:
            pattern._accept(client, (u,), t_taken, trip.parts, cp)
        else:  # (the pattern's _accept for one copy that cannot be a duplicate or tracked)
            hop = self.hops[u.uid]
            shared: list[Any] = hop[0]
            own = trip.parts
            parts = [shared[i] + own[i] for i in range(NPARTS)]
            parts[PENDING] = t_taken - hop[1]
            if not self.feed.deliver(client, u, parts):
                pattern._lose(client.index, u, False)


class Copy:
    """A pushed copy on its way: ``then`` of :meth:`~simcomm.components.path.Path.post`."""

    __slots__ = ("client", "pushes", "t_taken", "u")

    def __init__(self, pushes: Pushes, client: Any, u: Any, t_taken: float) -> None:
        self.pushes = pushes
        self.client = client
        self.u = u
        self.t_taken = t_taken

    def __call__(self, trip: Trip, delivered: bool) -> None:
        self.pushes.landed(self.client, self.u, self.t_taken, trip, delivered)
