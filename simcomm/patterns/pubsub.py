"""Publish/subscribe through a broker.

A publisher (the side where updates are created) sends each update once, over its own link
(``pubsub.publish``), to the broker — the world's server, whose workers do its CPU work. The
broker routes a publish as **one piece of work**: the worker that takes it parses it, spends
one service time on it, then routes it — one ``per_copy`` draw per subscriber of its topic —
and, for a push consumer, serialises the outgoing message once (every copy carries the same
bytes). When that visit ends the copies are in the subscribers' queues; sending them is I/O,
with no further worker visit: the copies for online subscribers with room go down together,
each over its subscriber's connection (a shared link queues the whole fan-out, so saturation
shows up there). The publisher cannot tell whether a subscriber got a message once, twice or
never.

**What a copy costs later.** A copy was routed (and, for push, serialised) when its publish
was served, so a copy sent later — when a prefetch slot frees, when an offline subscriber
comes back, or again after an ack timeout — costs no worker: it goes straight down its
connection. A pull consumer's fetch is answered by a worker that serialises the batch into a
response (the fetch's own handling, one service time, is paid when it arrives: see
``held_poll``); routing is not paid again.

**per_copy** is a distribution (default: constant 20 µs), drawn from one stream per broker
(``pubsub.per_copy``) when the update is created, one draw per subscriber of its topic in
subscriber order. Creation order and the subscriber lists are the world's, so every
``pubsub`` entry of a comparison gets the same draws for the same copy, whatever its
consumer, delivery or timing; what shifts the draws of later publishes is only a change in
how many subscribers earlier topics had.

**Consumers.** ``consumer: push`` — the broker sends copies as soon as they are queued (with
``prefetch: N`` at most N unacknowledged per subscriber, RabbitMQ ``prefetch_count``-like);
``consumer: pull`` — the subscriber long-polls the broker with fetches: a worker handles each
fetch (one service time), which is answered at once when messages are queued, else when one
arrives or ``max_wait`` after it reached the broker (empty: tagged ``empty``, its worker time
wasted); at most ``max_batch`` per answer. Fetchers start at a random moment within the first
``max_wait`` so that subscribers do not fetch in lock-step.

**Delivery semantics.** ``at_most_once`` — a copy is forgotten once sent: if it cannot be
processed (the subscriber went offline while it travelled, its buffer was full) it is lost.
``at_least_once`` — the subscriber acknowledges each message after processing it (an ``ack``
message); a copy not acknowledged within ``ack_timeout`` goes back to the queue and is sent
again (``redeliveries``, counted when the retry is actually sent), so nothing is lost unless
retention drops it, but a subscriber can receive a message twice (``duplicates``: e.g. when
its ack is lost, ``ack_loss``, or arrives late).

**Retention.** Copies for an offline subscriber wait in its broker queue; with ``retention``
set, copies older than that are dropped instead of being sent.

**Lost** means the message never reached its subscriber: it is counted when no copy of it can
reach the subscriber any more — the broker has dropped or forgotten it *and* no copy sent
earlier is still travelling. A copy already on its way when the broker drops its retry is
waited for: if it arrives and is taken into the subscriber's buffer it is delivered, not
lost; if it cannot be processed (connection gone, buffer full) the message is lost then.

Decomposition of a copy's latency: the publish trip and the broker's one visit (queueing for a
worker, service, parse, the routing of every copy and the serialisation) sit in
``transmission``/``propagation``/``server_queue``/``service``/``parse`` like any other hop —
routing is the broker's business logic, so ``per_copy`` counts in ``service`` (as the
patterns' ``answer_work`` and ``event_work`` do), parsing and serialising in ``parse``;
``pending`` is the time the copy waited in the broker's queue (for a prefetch slot, a fetch,
or a subscriber that was offline); then the copy's (or the fetch answer's) own trip down.

With an established connection and a free worker, every copy of a publish to k subscribers
arrives 2d + service + k × per_copy (+ serialisation and encoding) after it was created, and
every publish makes k deliveries. With one worker, exponential service and Poisson publishes
(per_copy 0) the broker is an M/M/1 queue: mean delay 2d + 1/(μ − λ).

The push consumer's per-copy work (the fan-out, a copy sent, a copy landed) is
:mod:`simcomm.patterns.pushes`, compiled; polls and fetches use
:mod:`simcomm.patterns.polls`.
"""

from __future__ import annotations

from operator import add
from typing import Literal

from pydantic import Field

from ..components.broker import Broker
from ..components.path import Trip
from ..components.task import spawn, timeout
from ..dists import Constant
from ..fields import DurationDist, PosDuration, ScenarioError
from ..metrics.definitions import Kind, Tag
from .base import PatternParams, register
from .notification import PARSE, PENDING, UpdatePattern
from .pushes import Pushes

__all__ = ["PubSub"]

REQUEST, RESPONSE, UPDATE, ACK = (int(Kind.REQUEST), int(Kind.RESPONSE), int(Kind.UPDATE),
                                  int(Kind.ACK))
USEFUL, EMPTY, CONTROL = int(Tag.USEFUL), int(Tag.EMPTY), int(Tag.CONTROL)


class PubSubParams(PatternParams):
    consumer: Literal["push", "pull"] = Field("push", description="broker pushes, or "
                                              "subscribers fetch by long poll")
    delivery: Literal["at_most_once", "at_least_once"] = Field(
        "at_most_once", description="forget copies once sent, or keep them until acked")
    ack_timeout: PosDuration | None = Field(None, description="at_least_once: seconds before "
                                            "an unacknowledged copy is sent again")
    ack_loss: float = Field(0.0, ge=0.0, lt=1.0, description="at_least_once: probability that "
                            "an acknowledgement never reaches the broker")
    prefetch: int | None = Field(None, ge=1, description="push + at_least_once: most "
                                 "unacknowledged copies per subscriber")
    retention: PosDuration | None = Field(None, description="seconds a copy may wait for its "
                                          "subscriber before it is dropped (null: forever)")
    per_copy: DurationDist = Field(Constant(20e-6), description="broker worker seconds to "
                                   "route one copy, paid by the worker that serves the publish "
                                   "(a distribution, one draw per copy; default 20 us)")
    max_wait: PosDuration = Field(0.5, description="pull: longest a fetch waits at the broker")
    max_batch: int | None = Field(None, ge=1, description="pull: most messages per fetch "
                                  "answer (null: all queued)")


@register("pubsub")
class PubSub(UpdatePattern):
    """Publishers send once to a broker that fans out a copy per subscriber, pushed (prefetch)
    or fetched (long poll); at-most-once or at-least-once with acks and redelivery."""

    Params = PubSubParams

    copies_on_update = False  # (the broker makes them when the publish arrives: _publish)

    @classmethod
    def check(cls, p: PubSubParams, sc) -> None:
        super().check(p, sc)
        if p.delivery == "at_least_once" and p.ack_timeout is None:
            raise ScenarioError("ack_timeout", "at_least_once needs an ack_timeout (seconds "
                                "before an unacknowledged copy is sent again)")
        if p.delivery == "at_most_once":
            for key in ("ack_timeout", "ack_loss", "prefetch"):
                if key in p.model_fields_set:
                    raise ScenarioError(key, "applies to delivery: at_least_once only")
        if p.consumer == "pull" and p.prefetch is not None:
            raise ScenarioError("prefetch", "applies to consumer: push only (a fetch asks "
                                "for what it takes)")
        if p.consumer == "push":
            for key in ("max_wait", "max_batch"):
                if key in p.model_fields_set:
                    raise ScenarioError(key, "applies to consumer: pull only")
        buf = sc.clients.buffer
        if p.prefetch is not None and buf is not None and p.prefetch > buf + 1:
            raise ScenarioError("prefetch", f"must be <= clients.buffer + 1 ({buf + 1})")

    # -- set-up --------------------------------------------------------------------------------
    def setup(self, world) -> None:
        p, n = self.p, len(world.clients)
        self.acks = p.delivery == "at_least_once"
        self.push = p.consumer == "push"
        self.broker = Broker(self.env, n, retention=p.retention,
                             ack_timeout=p.ack_timeout if self.acks else None,
                             on_expired=self._expired, on_redeliver=self._requeued,
                             on_resend=self._resent)
        self.publisher = world.new_connection("pubsub.publish")
        self._per_copy = p.per_copy.sampler(world.streams.generator("pubsub.per_copy"))
        self.seen: list[set[int] | frozenset] = (
            [set() for _ in range(n)] if self.acks else [frozenset()] * n)
        """Per subscriber, at-least-once: messages taken into its buffer (to spot duplicates;
        at-most-once sends each copy once and keeps none: one shared empty set). Not pruned
        yet: a message could be forgotten once the broker has its ack."""
        self._track = self.acks or p.retention is not None
        """Copies in flight are tracked only where a message can be lost while one flies
        (the broker drops it: retention) or sent again (acks)."""
        self.flying: list[dict[int, int]] = [{} for _ in range(n)] if self._track else []
        """Per subscriber: message → copies sent (taken from the broker) and not yet
        resolved at the subscriber (arrived, or found the connection gone)."""
        self.abandoned: list[set[int]] = [set() for _ in range(n)] if self._track else []
        """Per subscriber: messages the broker dropped (retention) while a copy was flying:
        lost if no flying copy gets through."""
        self.offline_mark = [-1.0] * n
        """Per subscriber: the last time it was offline (now, while it is)."""
        self._hop: dict[int, list] = {}
        """Per message: the parts of its trip to the broker, when it was queued, copies left."""
        self.pushes = Pushes(self, world) if self.push else None
        """The per-copy part of the push consumer (compiled)."""
        if not self.push:
            for c in world.clients:
                spawn(self.env, self._fetcher(c))

    # -- publisher → broker --------------------------------------------------------------------
    def on_created(self, update) -> None:
        # the routing draws are made now, in creation order, one per subscriber (see above)
        draw = self._per_copy
        route = 0.0
        for _ in self.world.subscribers[update.topic]:
            route += draw()
        spawn(self.env, self._publish(update, route))

    def on_update(self, client, update) -> None:
        """Copies are made by the broker when the publish arrives (see _publish)."""

    def _publish(self, u, route: float):
        """The publish goes up; one worker parses it, serves it, routes every copy (and, for
        push, serialises the outgoing message once); then the copies are queued and, for
        push, sent at once where they may be."""
        env, world, path = self.env, self.world, self.world.path
        payload = self.wire(u.size)
        h = world.request_header
        trip = Trip(u.uid)
        yield from path.up(self.publisher, trip, h + payload, h, UPDATE, USEFUL)
        ser = payload * self.ser_per_byte if self.push else 0.0
        yield from path.work(trip, payload * self.parse_per_byte, ser, bounded=False,
                             work=route)
        subs = world.subscribers[u.topic]
        self._hop[u.uid] = [trip.parts, env.now, len(subs)]
        broker = self.broker
        if not self.push:
            for ci in subs:
                broker.publish(ci, u)
            return
        # queued and taken at once where nothing can be held back: sent without the queue
        self.pushes.fan_out(u, subs, self.p.prefetch is None and not self._track)

    def _settled(self, uid: int) -> None:
        """One copy of *uid* is delivered or lost for good: forget the hop when all are."""
        hop = self._hop[uid]
        if hop[2] <= 1:
            del self._hop[uid]
        else:
            hop[2] -= 1

    def _taken(self, ci: int, messages) -> None:
        """Copies of *messages* leave the broker for subscriber *ci*."""
        if not self._track:
            return
        flying = self.flying[ci]
        for u in messages:
            flying[u.uid] = flying.get(u.uid, 0) + 1

    def _expired(self, ci: int, u) -> None:
        """The broker dropped *u*'s queued copy for *ci* (retention)."""
        if u.uid in self.seen[ci]:
            return  # it reached the subscriber already (this was a retry after a lost ack)
        if self.flying[ci].get(u.uid):
            self.abandoned[ci].add(u.uid)  # a copy is still on its way: wait for it
            return
        client = self.world.clients[ci]
        offline = not client.online or self.offline_mark[ci] >= u.t_created
        self._lose(ci, u, offline)

    def _lose(self, ci: int, u, offline: bool) -> None:
        self.rec.lose(u.t_created, offline=offline)
        self._settled(u.uid)

    def _requeued(self, ci: int, u) -> None:
        """An unacknowledged copy went back to the broker's queue."""
        if self.push:
            self._dispatch(self.world.clients[ci])

    def _resent(self, ci: int, u) -> None:
        """The broker hands a retry out: a redelivery is sent."""
        self.rec.event("redeliveries", self.env.now)

    # -- broker → subscriber: push -------------------------------------------------------------
    def _dispatch(self, client) -> None:
        ci, p = client.index, self.p
        if not client.online or not client.connection.ready:
            return  # sent once the subscriber is back and connected (presence_changed)
        while True:
            room = None if p.prefetch is None else p.prefetch - self.broker.in_flight(ci)
            if room is not None and room <= 0:
                return
            taken = self.broker.take(ci, room)
            if not taken:
                return
            self._taken(ci, taken)
            conn = client.connection
            for u in taken:
                self._push_copy(client, conn, u)
            if room is None:
                return  # it took all there was (and sending queues nothing more)

    def _push_copy(self, client, conn, u) -> None:
        """A copy goes down (:meth:`~simcomm.patterns.pushes.Pushes.push`: I/O only, no
        process; it lands in :meth:`~simcomm.patterns.pushes.Pushes.landed`)."""
        self.pushes.push(client, conn, u)

    # -- broker → subscriber: pull (long-poll fetch) ----------------------------------------------
    def _fetcher(self, client):
        env, p, world, path = self.env, self.p, self.world, self.world.path
        ci = client.index
        q = self.broker.queues[ci]
        yield env.timeout(float(world.streams.stream(f"pubsub.fetch.{ci}").uniform(
            0.0, p.max_wait)))
        while True:
            if not client.online:
                yield self.wait_online(client)
            conn = yield from path.acquire(client)
            epoch = conn.epoch
            poll = yield from self.poll_up(conn, next(world.flow_ids))
            if poll is None:
                path.end(conn)
                continue
            # the broker handles the fetch (one service time), then holds it until a message
            span = yield from self.held_poll(client, poll, timeout=p.max_wait,
                                             ready=lambda: bool(q.items),
                                             wait=lambda: q.wait(), bounded=False)
            t_taken = env.now
            taken = self.broker.take(ci, p.max_batch)
            self._taken(ci, taken)
            payload = sum(self.wire(u.size) for u in taken)
            h = world.headers
            hr = h.response + h.body + h.item * len(taken)  # headers and the list's framing
            ans = Trip(poll.flow)
            # a worker serialises the batch into the answer; the copies were routed already
            yield from path.push(conn, ans, hr + payload, hr, RESPONSE,
                                 cpu_after=payload * self.ser_per_byte,
                                 tag=USEFUL if taken else EMPTY)
            if taken:
                yield from self._received(client, taken, epoch, t_taken, ans.parts, conn)
            else:
                path.settle(poll, EMPTY)
                path.waste(*span)
                path.waste(ans.t_work, ans.t_work + ans.busy)
            path.end(conn)

    # -- at the subscriber ---------------------------------------------------------------------
    def _landed(self, ci: int, uid: int) -> bool:
        """A copy of *uid* is resolved at subscriber *ci*; True if it was the last one flying
        and the broker has given up on the message (so no copy can come any more)."""
        if not self._track:
            return False
        flying = self.flying[ci]
        left = flying[uid] - 1
        if left:
            flying[uid] = left
            return False
        del flying[uid]
        abandoned = self.abandoned[ci]
        if uid in abandoned:
            abandoned.discard(uid)
            return True
        return False

    def _received(self, client, messages, epoch: int, t_taken: float, shared: list[float],
                  conn):
        """``yield from``: the copies of a fetch answer reach the subscriber on *conn* (as it
        was in *epoch*): :meth:`_arrived`, parsing, :meth:`_accept`."""
        cp = self._arrived(client, messages, epoch, conn)
        if cp is None:
            return
        if cp:
            yield timeout(self.env, cp)
        self._accept(client, messages, t_taken, shared, cp)

    def _arrived(self, client, messages, epoch: int, conn) -> float | None:
        """Copies reach the subscriber on *conn* (as it was in *epoch*). Returns their
        parsing time, or None if they cannot be processed.

        A copy that cannot be processed (connection gone, subscriber offline) makes its
        message lost when no other copy can come: at-most-once (never sent again), or
        at-least-once when the broker has dropped the message and this was the last copy
        flying."""
        if conn.epoch != epoch or not client.online:
            self._gone(client.index, messages)
            return None
        return sum(self.wire(u.size) for u in messages) * self.parse_per_byte

    def _gone(self, ci: int, messages) -> None:
        """Copies reached subscriber *ci* that cannot process them (see :meth:`_arrived`)."""
        seen = self.seen[ci]
        for u in messages:
            last = self._landed(ci, u.uid)
            if u.uid not in seen and (last or not self.acks):
                self._lose(ci, u, True)

    def _accept(self, client, messages, t_taken: float, shared: list[float],
                cp: float) -> None:
        """Parsed copies are deduplicated and queued for processing (a copy the buffer
        cannot take is lost when no other copy can come)."""
        ci = client.index
        seen = self.seen[ci]
        feed = self.world.feed
        track = self._track
        for u in messages:
            last = track and self._landed(ci, u.uid)
            if u.uid in seen:
                self.rec.duplicate(u.t_created)
                if self.acks:
                    spawn(self.env, self._ack(client, u))
                continue
            hop, t_queued, _ = self._hop[u.uid]
            parts = list(map(add, hop, shared))  # (both a Trip's parts: one length)
            parts[PARSE] += cp
            parts[PENDING] = t_taken - t_queued  # queued at the broker → taken for this copy
            if feed.deliver(client, u, parts):
                if self.acks:  # only at-least-once can send a copy again
                    seen.add(u.uid)
                if track:
                    self.abandoned[ci].discard(u.uid)
            elif last or not self.acks:
                self._lose(ci, u, False)

    def processed(self, client, update) -> None:
        hop = self._hop[update.uid]  # (_settled written out: one call fewer per copy)
        if hop[2] <= 1:
            del self._hop[update.uid]
        else:
            hop[2] -= 1
        if self.acks:
            spawn(self.env, self._ack(client, update))

    def _ack(self, client, u):
        arrived = yield from self.world.path.ack(client.connection, u.uid,
                                                 self.world.ack_header, drop=self.p.ack_loss)
        if not arrived:
            return  # the ack never reaches the broker: the copy will be sent again
        if self.broker.ack(client.index, u.uid) and self.push:
            self._dispatch(client)

    def presence_changed(self, client, online: bool) -> None:
        ci = client.index
        self.offline_mark[ci] = self.env.now
        if online and self.push:
            self._dispatch(client)
