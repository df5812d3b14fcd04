"""Server-sent events: one request, one response that never ends.

Every client holds one SSE stream (established before the run, like a keep-alive
connection). The server writes each update of the client's topic to the stream as an event
framed with its id (``framing`` bytes of ``id:``/``data:`` lines + the payload); one stream is
written in order, event after event, each on a worker: ``event_work`` (business logic, a
distribution, default 0) and its serialisation. With enough workers an event's delay is
w + d (+ serialisation). Keep-alive comments
(``heartbeat_size`` bytes every ``heartbeat``) count as messages, tagged ``heartbeat``.

**Disconnects and resumption.** When the stream drops — the client goes offline, or the
server restarts (``restart_at``) — the client reconnects ``retry`` seconds later (or, with
``backoff: exponential``, after a "full jitter" delay drawn uniformly in
[0, min(backoff_cap, retry·2^attempt)]) with a request carrying ``Last-Event-ID``: the id of the
last event it received. If the server accepts it (a worker runs the service time) the stream
restarts and the server first replays, in order, every event after that id that is still in
its bounded per-topic replay buffer (the last ``replay_buffer`` events). Events that fell out of
the buffer are lost for that client (counted in ``lost`` once). Events in flight when a stream
dropped are not lost: the client never saw them, so they are replayed. The stream is one
ordered connection: an event that overtakes an earlier one on the link (random latency, a
retransmission) is held until the earlier one arrives, as TCP would (the wait counts as
``transmission``). A reconnection request
that finds the server down (``restart_downtime``) or its queue full (``server.queue_limit``) is
refused; the client tries again with the next delay.

**Reconnect storm.** ``reconnects`` counts attempts, ``reconnect_peak_rate`` the most attempts
reaching the server in one second, ``catchup_s`` the time from the last restart until every
client that was connected at the restart (and has not gone offline since) had reconnected and
received every event created before it (or learnt it was lost).

Latency and its parts: the ``pending`` part of an event covers the time it waited in the
stream's queue on the server and, for replayed events, the whole disconnection.

**A reconnection is a new connection**: it pays its handshake (``connection:``, TCP + TLS 1.3
by default: 2 round trips) before the request; while the server is down, nothing listens and
the first flight is reset, which counts as an attempt. A request refused for a full queue
leaves the new connection open for the next attempt.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from typing import Literal

from pydantic import Field

from ..components.chain import Wheel, start_all
from ..components.connection import DOWN
from ..components.path import Trip
from ..components.task import spawn
from ..components.updates import Update
from ..dists import Constant
from ..fields import DurationDist, NonNegDuration, NonNegSize, PosDuration, ScenarioError
from ..metrics.definitions import Kind, Tag
from .base import PatternParams, register
from .notification import PARSE, SERVER_QUEUE, UpdatePattern

__all__ = ["ServerSentEvents"]

REQUEST, RESPONSE, UPDATE, HEARTBEAT = (int(Kind.REQUEST), int(Kind.RESPONSE), int(Kind.UPDATE),
                                        int(Kind.HEARTBEAT))
USEFUL, CONTROL, T_HEARTBEAT = int(Tag.USEFUL), int(Tag.CONTROL), int(Tag.HEARTBEAT)


_NO_EVENTS = array("d")
"""The creation times of a topic with no event yet (shared: never appended to)."""


class SSEParams(PatternParams):
    retry: PosDuration = Field(3.0, description="seconds before reconnecting (the SSE retry "
                               "field; browsers default to about 3 s)")
    backoff: Literal["none", "exponential"] = Field(
        "none", description="none: every attempt after retry; exponential: full-jitter "
        "exponential backoff")
    backoff_cap: PosDuration = Field(30.0, description="longest backoff delay")
    heartbeat: PosDuration | None = Field(15.0, description="seconds between keep-alive "
                                          "comments (null: none)")
    heartbeat_size: NonNegSize = Field(3.0, description="bytes of one keep-alive comment")
    event_work: DurationDist = Field(Constant(0.0), description="worker seconds of business "
                                     "logic per event written, besides its serialisation (a "
                                     "distribution)")
    framing: NonNegSize = Field(24.0, description="bytes of SSE framing per event "
                                "(id:, data:, blank line)")
    replay_buffer: int = Field(1000, ge=0, description="events per topic kept for "
                               "Last-Event-ID resumption")
    restart_at: list[PosDuration] = Field(default_factory=list, description="times at which "
                                          "the server restarts (every stream drops)")
    restart_downtime: NonNegDuration = Field(0.0, description="seconds the server refuses "
                                             "connections after a restart")


@register("sse")
class ServerSentEvents(UpdatePattern):
    """One long-lived response streams events with ids; heartbeats; reconnection with
    Last-Event-ID replay from a bounded buffer; server restarts and reconnect storms."""

    Params = SSEParams
    reconnects_on_presence = False  # a stream comes back through _reconnect

    @classmethod
    def check(cls, p: SSEParams, sc) -> None:
        super().check(p, sc)
        for i, t in enumerate(p.restart_at):
            if t >= sc.duration:
                raise ScenarioError(f"restart_at.{i}", f"{t:g}s is not before the end of the "
                                    f"run (duration {sc.duration:g}s): the restart would never "
                                    "happen; use a time < duration")

    # -- set-up --------------------------------------------------------------------------------
    def setup(self, world) -> None:
        env, n = self.env, len(world.clients)
        self.topic_of = [0] * n
        for topic, subs in enumerate(world.subscribers):
            for ci in subs:
                self.topic_of[ci] = topic
        topics = len(world.subscribers)
        self.log: list[_ReplayLog | None] = [None] * topics
        """Per topic: its last ``replay_buffer`` events (None before the first: memory per
        client when every client has a topic)."""
        self.created = [_NO_EVENTS] * topics
        """Per topic: creation time of every event, by seq (to count losses in the window);
        one shared empty array until the topic's first event (memory per client when every
        client has a topic)."""
        self.streaming = [c.connection.is_open for c in world.clients]
        """Per client: its event stream is established (a connection may be open while the
        stream is not, between a refused reconnection and the next attempt)."""
        self.last_seq = [-1] * n
        """Client side: id of the last event received (its Last-Event-ID)."""
        self.lost_upto = [-1] * n
        """Server side: events up to this id are known lost for the client."""
        self.offline_since_drop = [False] * n
        """The client was offline at some time since its stream last dropped."""
        self.outq: list[deque | None] = [None] * n
        """Per client: events waiting for its stream's sender (None until the first)."""
        self._sending = [-1] * n
        """Per client: the epoch (connection generation) whose sender process is running, or
        −1. A sender runs only while its stream has events to write (memory per client)."""
        self.reconnecting = [False] * n
        self._target: dict[int, int] = {}
        self._restart_t = math.nan
        self._restarts_seen = 0
        self._backoff: dict[int, object] = {}
        """Per client: its backoff stream (sse.backoff.<i>), made at its first reconnect."""
        self._work = self.p.event_work.sampler(world.streams.generator("sse.event_work"))
        dropped = self._conn_dropped  # one bound method for every client (memory per client)
        for c in world.clients:
            c.connection.on_drop(dropped)
            if not self.streaming[c.index]:  # connection.warm false: it connects as the run starts
                self.reconnecting[c.index] = True
                env.process(self._reconnect(c, first=True))
        if self.p.heartbeat:  # a random phase in [0, heartbeat), then one every heartbeat
            streams = world.streams
            start_all(env, [Wheel(
                world.timers, n, self.p.heartbeat,
                lambda ci: float(streams.stream(f"sse.heartbeat.{ci}").uniform(
                    0.0, self.p.heartbeat)),
                self._heartbeat)])
        server = world.server
        server.on_restart(self._restarted)  # after the path has dropped every stream
        for t in sorted(self.p.restart_at):
            server.restart_at(t, self.p.restart_downtime)

    def _heartbeat(self, ci: int) -> None:
        """Client *ci*'s heartbeat is due: sent while its stream is up (fire and forget: it
        carries nothing)."""
        if self.streaming[ci]:
            size = self.p.heartbeat_size
            self.world.path.fire(self.world.clients[ci].connection, DOWN, size, size, HEARTBEAT,
                                 T_HEARTBEAT)

    # -- events ------------------------------------------------------------------------------
    def on_created(self, update) -> None:
        topic = update.topic
        log = self.log[topic]
        if log is None:
            log = self.log[topic] = _ReplayLog(len(self.created[topic]))
        log.add(update, self.p.replay_buffer)
        created = self.created[topic]
        if created is _NO_EVENTS:
            created = self.created[topic] = array("d")
        created.append(update.t_created)

    def on_update(self, client, update) -> None:
        if self.streaming[client.index]:
            self._enqueue(client.index, len(self.created[update.topic]) - 1, update)

    def _enqueue(self, ci: int, seq: int, update) -> None:
        q = self.outq[ci]
        if q is None:
            q = self.outq[ci] = deque()
        q.append((seq, update, self.env.now))
        conn = self.world.clients[ci].connection
        if self._sending[ci] != conn.epoch:
            # start the stream's sender at this event's turn, as waking a waiting one did
            self._sending[ci] = conn.epoch
            start = self.env.event()
            start.callbacks.append(lambda _e, c=self.world.clients[ci], epoch=conn.epoch:
                                   spawn(self.env, self._sender(c, epoch)))
            start.succeed()

    def _sender(self, c, epoch: int):
        """Writes one stream's events in order, without waiting for each to arrive; ends when
        nothing is left to write (the next event starts another) or that stream drops."""
        env, path = self.env, self.world.path
        ci = c.index
        conn = c.connection
        outq = self.outq
        h = self.p.framing
        while conn.epoch == epoch:
            q = outq[ci]
            if not q:
                if self._sending[ci] == epoch:
                    self._sending[ci] = -1
                outq[ci] = None  # drained: its deque (~600 B) goes until the next event
                return
            seq, u, t_queued = q.popleft()
            payload = self.wire(u.size)
            trip = Trip(u.uid)
            trip.parts[SERVER_QUEUE] += env.now - t_queued  # behind earlier events
            yield from path.work(trip, 0.0, payload * self.ser_per_byte, serve=False,
                                 bounded=False, work=self._work())
            if conn.epoch != epoch:
                return  # dropped meanwhile: the event will be replayed
            path.post(conn, trip, h + payload, h, UPDATE, USEFUL,
                      lambda trip, ok, seq=seq, u=u, t=t_queued: self._arrived(c, seq, u, t,
                                                                               trip, ok))

    def _arrived(self, c, seq: int, u, t_queued: float, trip, delivered: bool) -> None:
        ci = c.index
        if not delivered or not c.online:
            return  # the stream dropped while it travelled: replayed after reconnecting
        if seq <= self.last_seq[ci]:
            self.rec.duplicate(u.t_created)
            return
        # one stream is one connection: events arrive in the order they were written
        self.last_seq[ci] = seq
        cp = self.wire(u.size) * self.parse_per_byte
        trip.parts[PARSE] += cp
        if cp:
            ev = self.env.timeout(cp)
            ev.callbacks.append(lambda _e: self.arrive(c, (u,), t_queued, trip.parts))
        else:
            self.arrive(c, (u,), t_queued, trip.parts)
        self._check_caught_up(ci)

    # -- disconnection and reconnection ---------------------------------------------------------
    def _conn_dropped(self, conn) -> None:
        self._dropped(self.world.clients[conn.owner])

    def _dropped(self, c) -> None:
        """The stream's connection dropped (the client left, or the server restarted)."""
        ci = c.index
        server = self.world.server
        if server.last_restart == self.env.now and server.restarts != self._restarts_seen:
            # the first stream dropped by a new restart: the catch-up clock starts
            self._restarts_seen = server.restarts
            self._restart_t = self.env.now
            self._target = {}
        if server.last_restart == self.env.now:
            self._target[ci] = len(self.created[self.topic_of[ci]]) - 1
        self.streaming[ci] = False
        if self.outq[ci] is not None:
            self.outq[ci].clear()
        if not self.reconnecting[ci]:
            self.reconnecting[ci] = True
            self.env.process(self._reconnect(c))

    def _restarted(self) -> None:
        if self._restarts_seen != self.world.server.restarts:  # no stream was open
            self._restarts_seen = self.world.server.restarts
            self._restart_t = self.env.now
            self._target = {}
        self._check_caught_up(None)

    def presence_changed(self, client, online: bool) -> None:
        if not online:
            self.offline_since_drop[client.index] = True
            # a client that leaves is no longer waited for by the catch-up clock
            if self._target.pop(client.index, None) is not None:
                self._check_caught_up(None)

    def _delay(self, ci: int, attempt: int) -> float:
        p = self.p
        if p.backoff == "none":
            return p.retry
        g = self._backoff.get(ci)
        if g is None:
            g = self._backoff[ci] = self.world.streams.stream(f"sse.backoff.{ci}")
        return float(g.uniform(0.0, min(p.backoff_cap, p.retry * 2.0**attempt)))

    def _reconnect(self, c, first: bool = False):
        env = self.env
        attempt = 0
        while True:
            if not first or attempt:
                yield env.timeout(self._delay(c.index, attempt))
            attempt += 1
            if not c.online:
                yield self.wait_online(c)
                continue
            ok = yield from self._handshake(c)
            if ok:
                self.reconnecting[c.index] = False
                return

    def _handshake(self, c):
        env, world, path, rec = self.env, self.world, self.world.path, self.rec
        ci = c.index
        conn = c.connection
        trip = Trip(next(world.flow_ids))
        h, hr = world.request_header, world.response_header
        if not (yield from path.up(conn, trip, h, h, REQUEST, CONTROL)):
            # the connection could not be opened: the server was down (its end reset the
            # handshake) or the client left meanwhile
            if trip.reached >= 0.0:  # it reached the server end, which reset it
                rec.event("reconnects", trip.reached)
            return False
        rec.event("reconnects", env.now)
        if not (yield from path.work(trip)):  # server down, or its queue full: refused
            if not world.server.down:
                path.turned_away(trip, env.now)
            yield from path.down(conn, Trip(trip.flow), hr, hr, RESPONSE, CONTROL)
            return False
        if not c.online:
            return False
        # the stream restarts: headers, then the replay, then live events
        self.streaming[ci] = True
        path.post(conn, Trip(trip.flow), hr, hr, RESPONSE, CONTROL, lambda _trip, _ok: None)
        topic = self.topic_of[ci]
        log = self.log[topic]
        first_kept = log.first if log else len(self.created[topic])
        start = max(self.last_seq[ci], self.lost_upto[ci]) + 1
        created = self.created[topic]
        for seq in range(start, min(first_kept, len(created))):
            rec.lose(created[seq], offline=self.offline_since_drop[ci])
        self.offline_since_drop[ci] = False
        if first_kept - 1 > self.lost_upto[ci]:
            self.lost_upto[ci] = first_kept - 1
        self._sending[ci] = conn.epoch
        spawn(env, self._sender(c, conn.epoch))
        if log:
            for seq, u in log.events(topic, created):
                if seq > self.last_seq[ci]:
                    self._enqueue(ci, seq, u)
        self._check_caught_up(ci)
        return True

    # -- catch-up after a restart ----------------------------------------------------------------
    def _check_caught_up(self, ci: int | None) -> None:
        target = self._target
        if not target:
            return
        if ci is not None and ci in target and self.streaming[ci] and \
                max(self.last_seq[ci], self.lost_upto[ci]) >= target[ci]:
            del target[ci]
        if not target:
            self.rec.event("catchup", self._restart_t, self.env.now - self._restart_t)


class _ReplayLog:
    """A topic's last events for replay after a reconnection: their ids and sizes in arrays
    (16 bytes an event; their sequence numbers follow from the first kept, their creation
    times are the topic's ``created``), rather than the updates themselves (~200 bytes an
    event kept alive for the whole run)."""

    __slots__ = ("first", "sizes", "uids")

    def __init__(self, first: int) -> None:
        self.first = first
        """Sequence number of the oldest event kept."""
        self.uids = array("q")
        self.sizes = array("d")

    def __len__(self) -> int:
        return len(self.uids)

    def add(self, update, keep: int) -> None:
        """Log *update* (the next sequence number), keeping the last *keep* events."""
        self.uids.append(update.uid)
        self.sizes.append(update.size)
        if len(self.uids) > keep:
            del self.uids[0]
            del self.sizes[0]
            self.first += 1

    def events(self, topic: int, created):
        """``(seq, update)`` of every event kept, oldest first."""
        for i, (uid, size) in enumerate(zip(self.uids, self.sizes, strict=True)):
            seq = self.first + i
            yield seq, Update(uid, topic, created[seq], size)
