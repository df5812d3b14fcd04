"""The poll exchange every polling pattern shares: a poll sent up, answered with what it finds.

Short polling, long polling and pub/sub's pull consumer all send a poll (headers only) up a
client's connection and have a server worker answer it with the updates pending for the
client — or with nothing (an ``empty`` answer, its worker time wasted), or with an error when
the server turns it away. :class:`Polls` is that exchange, asked of the world's path. It is
the pattern side of every poll and is on the hot path of each, so this module is compiled
with the components (:mod:`simcomm._native`): a short poll's steps run in compiled
generators, not in Python frames (with ``perf``, the Python frames of the exchange were a
third of a short-polling run). What a poll costs and how its answer is decomposed is told
in :mod:`simcomm.patterns.short_polling` and :mod:`simcomm.patterns.notification`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Final

from ..components.connection import Connection
from ..components.path import Path, Trip
from ..components.task import timeout
from ..metrics.definitions import Kind, Part, Tag
from ..metrics.recorder import Recorder

__all__ = ["Polls"]

SERVER_QUEUE: Final = int(Part["SERVER_QUEUE"])
SERVICE: Final = int(Part["SERVICE"])
PARSE: Final = int(Part["PARSE"])
REQUEST: Final = int(Kind.REQUEST)
RESPONSE: Final = int(Kind.RESPONSE)
USEFUL: Final = int(Tag.USEFUL)
EMPTY: Final = int(Tag.EMPTY)
next_: Final = next


class Polls:
    """A pattern's polls: :meth:`begin_poll` (or :meth:`poll_up`), then :meth:`answer` or
    :meth:`refuse_poll`. *pattern* gets the updates an answer carries (its ``arrive``)."""

    def __init__(self, pattern: Any, world: Any) -> None:
        self.pattern = pattern
        self.world = world
        self.env: Any = world.env
        self.path: Path = world.path
        self.rec: Recorder = world.recorder
        enc = world.encoding
        self.size_factor: Any = enc.size_factor
        self.ser_per_byte: float = enc.serialise_per_kib / 1024.0
        self.parse_per_byte: float = enc.parse_per_kib / 1024.0

    def _payload(self, items: Any) -> Any:
        """Encoded bytes of the updates *items* (0.0 for none)."""
        if not items:
            return 0.0
        f = self.size_factor
        return sum(u.size * f for u in items)

    def poll_up(self, conn: Connection, flow: int) -> Generator[Any, Any, Trip | None]:
        """``yield from``: send a poll (headers only) to the server on *conn* (from
        ``world.path.begin``). Returns its :class:`Trip` (whose request can later be settled
        ``empty`` or ``control``; its answer goes back on ``trip.conn``), or None if the
        connection could not be opened."""
        h = self.world.request_header
        trip = Trip(flow)
        if not (yield from self.path.up(conn, trip, h, h)):
            return None  # the connection could not be opened (it dropped while opening)
        return trip

    def begin_poll(self, client: Any) -> Generator[Any, Any, Trip | None]:
        """``yield from``: a connection from the client's pool and a poll sent up on it.
        Returns the poll's :class:`Trip` (its connection: ``trip.conn``, to give back with
        ``world.path.end``), or None if the connection could not be opened (given back
        already)."""
        path = self.path
        conn = path.begin(client)
        if not isinstance(conn, Connection):
            conn = yield conn  # waiting for a free connection of the client's pool
        poll = yield from self.poll_up(conn, next_(self.world.flow_ids))
        if poll is None:
            path.end(conn)  # the connection could not be opened (it dropped while opening)
        return poll

    def refuse_poll(self, client: Any, poll: Trip, work: Trip) -> Generator[Any, Any, None]:
        """``yield from``: the server turned the poll away, or it failed in the server's
        *work* (a trip); it answers with an error."""
        path = self.path
        path.turned_away(work, poll.request[1])
        yield from path.refuse(poll.conn, poll, self.world.response_header)

    def answer(self, client: Any, poll: Trip, items: Any = None, t_snap: float = 0.0, *,
               serve: bool = True, bounded: bool = False, cpu: float = 0.0, work: Any = None,
               read: Any = None, before: Any = None, waste: Any = (),
               put_back: Any = None) -> Generator[Any, Any, Trip | None]:
        """``yield from``: answer a poll with the updates it finds (see
        :meth:`simcomm.patterns.notification.UpdatePattern.answer`)."""
        env, path = self.env, self.path
        trip = Trip(poll.flow)
        ser = self.ser_per_byte
        if read is None:
            payload = self._payload(items)
            w = work() if work is not None and items else 0.0
            ok = yield from path.work(trip, cpu, payload * ser, serve=serve, bounded=bounded,
                                      work=w)
        else:
            snap: list[Any] = [items, t_snap]
            then = _Read(self, snap, read, work, env)
            ok = yield from path.work(trip, cpu, 0.0, serve=serve, bounded=bounded, then=then)
            items = snap[0]
            t_snap = snap[1]
        if not ok:
            if put_back is not None and items:
                put_back(items)  # never sent: they stay pending
            yield from self.refuse_poll(client, poll, trip)
            return None
        payload = self._payload(items)
        parts = trip.parts
        if before is not None:
            parts[SERVER_QUEUE] += before[0]
            parts[SERVICE] += before[1]
        h = self.world.headers
        n = len(items) if items else 0
        hr = h.response + h.body + h.item * n   # headers and the body's framing
        delivered = yield from path.down(poll.conn, trip, hr + payload, hr, RESPONSE,
                                         USEFUL if n else EMPTY)
        if not n:
            path.settle(poll, EMPTY)
            for a, b in waste:
                path.waste(a, b)
            path.waste(trip.t_work, trip.t_work + trip.busy)
            return trip
        if not delivered or not client.online:
            # the client went offline while the answer travelled: it never reads it, and the
            # server already took these updates from its store
            rec = self.rec
            for u in items:
                rec.lose(u.t_created, True)
            return trip
        cp = payload * self.parse_per_byte
        if cp:
            yield timeout(env, cp)
            parts[PARSE] += cp
        self.pattern.arrive(client, items, t_snap, parts)
        return trip


    def every(self, client: Any, due: float, interval: float, jitter: Callable[[], float],
              mailbox: Any, arrival: bool, work: Any) -> Generator[Any, Any, None]:
        """A process: *client* polls on a timer (short polling). The first poll is due at
        *due*, each next one ``interval + jitter()`` after the previous one was due, or at
        once if that has passed; an offline client skips its polls. Each poll is answered
        with what *mailbox* holds for the client — read as the poll arrives (*arrival*) or
        on the worker after its service time — with *work()* seconds of business logic for
        an answer that carries updates (see :mod:`simcomm.patterns.short_polling`)."""
        env, path = self.env, self.path
        while True:
            now: float = env._now
            if due > now:
                yield timeout(env, due - now)
            if client.online:
                poll = yield from self.begin_poll(client)
                if poll is not None:
                    if arrival:
                        items = mailbox.take()  # the pending set, read as the poll arrives
                        yield from self.answer(client, poll, items, env._now, serve=True,
                                               bounded=True, work=work,
                                               put_back=mailbox.put_back)
                        items = None  # (not held until the next poll)
                    else:  # read on the worker, after the poll's service time
                        yield from self.answer(client, poll, serve=True, bounded=True,
                                               work=work, read=mailbox.take,
                                               put_back=mailbox.put_back)
                    path.end(poll.conn)
                    poll = None  # (not held until the next poll: a frame per client)
            due += interval + jitter()
            now = env._now
            if due < now:
                due = now


class _Read:
    """An answer's snapshot read on the worker, once the poll's service time is done
    (``answer(read=...)``): it takes what is pending, notes when, and returns the business
    logic and serialisation that answer costs."""

    def __init__(self, polls: Polls, snap: list[Any], read: Callable[[], Any], work: Any,
                 env: Any) -> None:
        self.polls = polls
        self.snap = snap
        self.read = read
        self.work = work
        self.env = env

    def __call__(self) -> tuple[float, float]:
        got = self.read()
        self.snap[0] = got
        self.snap[1] = self.env._now
        w = self.work() if self.work is not None and got else 0.0
        return w, self.polls._payload(got) * self.polls.ser_per_byte
