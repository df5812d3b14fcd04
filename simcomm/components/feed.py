"""The update feed: where updates come from and where they end.

An :class:`UpdateFeed` owns the life of server-side updates outside of any pattern:

1. it **creates** them — one :func:`~simcomm.components.updates.update_source` per topic
   (Poisson, periodic or bursty, from the scenario's ``workload.updates``);
2. it **fans each out** to the subscribers of its topic: every copy counts in ``issued`` and is
   handed to the pattern's ``copy(client, update)`` hook (after ``created(update)``, once per
   update), which decides how the copy travels (held for a poll, pushed, queued at a broker…);
3. it **hands arrivals to the client's inbox** (:class:`~simcomm.components.client.Inbox`:
   capacity and bounded buffer; without ``clients.capacity`` there is none, and an update is
   processed as it arrives) with their latency decomposition — :meth:`carried` for updates
   that travelled together from the server's store, :meth:`deliver` for one copy whose parts
   the caller built — and records the delivery once the client has processed it, then calls
   the pattern's ``processed(client, update)`` hook (e.g. to acknowledge it). An update the
   inbox cannot take is lost (or left to the caller, with :meth:`deliver`).

It knows nothing of patterns: they plug in three hooks with :meth:`start`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..metrics.definitions import Part
from .chain import Timers, start_all
from .client import Inbox
from .updates import Update, UpdateChain, update_source

__all__ = ["UpdateFeed"]

PENDING, CLIENT_BUFFER = int(Part.PENDING), int(Part.CLIENT_BUFFER)


class UpdateFeed:
    def __init__(self, env, *, updates, subscribers: list[list[int]], clients, capacity,
                 buffer, streams, recorder, flow_ids, timers=None) -> None:
        self.env = env
        self._timers = timers
        """Where Poisson and periodic topics keep their next update (None: one Timers of
        its own)."""
        self.cfg = updates
        self.subscribers = subscribers
        """Client indices subscribed to each topic."""
        self.clients = clients
        self._streams = streams
        self._rec = recorder
        self._flow_ids = flow_ids
        self._created: Callable[[Update], None] = lambda u: None
        self._copy: Callable | None = None
        self._processed: Callable = lambda c, u: None
        if capacity is not None:  # (else an update is processed as it arrives: no inbox)
            done = self._done  # one bound method for every client: the inbox passes its owner
            for c in clients:
                c.inbox = Inbox(env, capacity=capacity, limit=buffer, done=done,
                                recorder=recorder, owner=c)

    def start(self, *, copy: Callable | None, created: Callable[[Update], None] | None = None,
              processed: Callable | None = None) -> None:
        """Plug in the pattern's hooks and start one update source per topic (*copy* None:
        the pattern makes the copies itself, from ``created``; they are only counted)."""
        self._copy = copy
        if created is not None:
            self._created = created
        if processed is not None:
            self._processed = processed
        up, g = self.cfg, self._streams.stream
        if up.arrival in ("poisson", "periodic"):  # chains of timeouts: no process per topic
            timers = self._timers or Timers(self.env)
            emit = self._emit  # one bound method for every topic (memory per client)
            start_all(self.env, [UpdateChain(
                timers, rate=up.rate, arrival=up.arrival, rng=g(f"updates.{topic}"),
                size=up.size.sampler(g(f"updates.{topic}.size")), emit=emit,
                topic=topic) for topic in range(len(self.subscribers))])
            return
        for topic in range(len(self.subscribers)):
            name = f"updates.{topic}"
            self.env.process(update_source(
                self.env, rate=up.rate, arrival=up.arrival, rng=g(name),
                size=up.size.sampler(g(f"{name}.size")),
                on_period=up.on_period.sampler(g(f"{name}.on")) if up.on_period else None,
                off_period=up.off_period.sampler(g(f"{name}.off")) if up.off_period else None,
                emit=self._emit, topic=topic))

    def _emit(self, topic: int, t: float, size: float) -> None:
        u = Update(next(self._flow_ids), topic, t, size)
        self._created(u)
        issue, clients, copy = self._rec.issue, self.clients, self._copy
        if copy is None:
            for _ in self.subscribers[topic]:
                issue(t)
            return
        for ci in self.subscribers[topic]:
            issue(t)
            copy(clients[ci], u)

    # -- arrivals ------------------------------------------------------------------------------
    def carried(self, client, updates, t_carried: float, shared: list[float]) -> None:
        """*updates* reach *client* now, in one message that took them from the server's store
        at *t_carried*; *shared* holds the parts of the trip since then. Each gets its own
        decomposition (``pending``: created → carried); one the inbox cannot take is lost."""
        now = self.env.now
        inbox = client.inbox
        for u in updates:
            parts = shared.copy()
            parts[PENDING] = t_carried - u.t_created
            if inbox is None:
                self._done(client, (u, parts), now)
            elif not inbox.offer((u, parts), now):
                self._rec.lose(u.t_created)

    def deliver(self, client, update: Update, parts: list[float]) -> bool:
        """One copy reaches *client* now with its decomposition *parts* (all but
        ``client_buffer``). False: the inbox was full and did not take it (the caller decides
        whether it is lost)."""
        inbox = client.inbox
        if inbox is None:  # no capacity limit: processed at once (_done, written out)
            now = self.env._now
            parts[CLIENT_BUFFER] = 0.0  # (now - now)
            self._rec.delivery(update.t_created, now, update.uid, client.index, parts)
            self._processed(client, update)
            return True
        return inbox.offer((update, parts), self.env._now)

    def _done(self, client, item, arrived: float) -> None:
        u, parts = item
        now = self.env._now
        parts[CLIENT_BUFFER] = now - arrived
        self._rec.delivery(u.t_created, now, u.uid, client.index, parts)
        self._processed(client, u)
