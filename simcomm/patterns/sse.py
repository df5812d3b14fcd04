"""Server-sent events: one request, one response that never ends.

Every client holds one SSE stream (established before the run, like a keep-alive
connection). The server writes each update of the client's topic to the stream as an event
framed with its id (``framing`` bytes of ``id:``/``data:`` lines + the payload); one stream is
written in order, event after event, each serialised by a worker. Keep-alive comments
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
stream's queue on the server and, for replayed events, the whole disconnection. Limitation:
reconnections cost the request/response and the service time, not TCP/TLS handshakes
(connection set-up costs come with the connection-management work).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

from pydantic import Field

from ..fields import NonNegDuration, NonNegSize, PosDuration
from ..metrics.definitions import Kind, Tag
from .base import PatternParams, register
from .notification import (
    NPARTS,
    PARSE,
    PROPAGATION,
    RETRANSMISSION,
    SERVER_QUEUE,
    TRANSMISSION,
    UpdatePattern,
)

__all__ = ["ServerSentEvents"]

REQUEST, RESPONSE, UPDATE, HEARTBEAT = (int(Kind.REQUEST), int(Kind.RESPONSE), int(Kind.UPDATE),
                                        int(Kind.HEARTBEAT))
USEFUL, CONTROL, T_HEARTBEAT = int(Tag.USEFUL), int(Tag.CONTROL), int(Tag.HEARTBEAT)


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

    # -- set-up --------------------------------------------------------------------------------
    def setup(self, world) -> None:
        env, n = self.env, len(world.clients)
        self.topic_of = [0] * n
        for topic, subs in enumerate(world.subscribers):
            for ci in subs:
                self.topic_of[ci] = topic
        topics = len(world.subscribers)
        self.log = [deque(maxlen=self.p.replay_buffer) for _ in range(topics)]
        """Per topic: the last events, as (seq, update)."""
        self.created = [[] for _ in range(topics)]
        """Per topic: creation time of every event, by seq (to count losses in the window)."""
        self.connected = [True] * n
        self.epoch = [0] * n
        self.last_seq = [-1] * n
        """Client side: id of the last event received (its Last-Event-ID)."""
        self.lost_upto = [-1] * n
        """Server side: events up to this id are known lost for the client."""
        self.held: list[dict[int, tuple]] = [{} for _ in range(n)]
        """Client side: events that overtook an earlier one on the link, held until the gap
        fills (a stream is one ordered connection, as TCP delivers it)."""
        self.offline_since_drop = [False] * n
        """The client was offline at some time since its stream last dropped."""
        self.outq = [deque() for _ in range(n)]
        self._wake = [None] * n
        self.reconnecting = [False] * n
        self.down_until = -math.inf
        self._target: dict[int, int] = {}
        self._restart_t = math.nan
        self._backoff = world.streams.generator("sse.backoff")
        for c in world.clients:
            env.process(self._sender(c, 0))
            if self.p.heartbeat:
                env.process(self._heartbeats(c))
        for t in sorted(self.p.restart_at):
            env.process(self._restart(t))

    # -- events ------------------------------------------------------------------------------
    def on_created(self, update) -> None:
        topic = update.topic
        self.log[topic].append((len(self.created[topic]), update))
        self.created[topic].append(update.t_created)

    def on_update(self, client, update) -> None:
        ci = client.index
        if self.connected[ci]:
            self._enqueue(ci, len(self.created[update.topic]) - 1, update)

    def _enqueue(self, ci: int, seq: int, update) -> None:
        self.outq[ci].append((seq, update, self.env.now))
        wake = self._wake[ci]
        if wake is not None:
            self._wake[ci] = None
            wake.succeed()

    def _sender(self, c, epoch: int):
        """Writes one stream's events in order; ends when that stream drops."""
        env, server = self.env, self.world.server
        ci = c.index
        q = self.outq[ci]
        h = round(self.p.framing)
        while self.epoch[ci] == epoch:
            if not q:
                self._wake[ci] = env.event()
                yield self._wake[ci]
                continue
            seq, u, t_queued = q.popleft()
            payload = self.wire(u.size)
            req = server.admit(bounded=False)
            yield req
            t_work = env.now
            _, busy = server.work(0.0, payload * self.ser_per_byte, serve=False)
            yield env.timeout(busy)
            server.release(req)
            if self.epoch[ci] != epoch:
                return  # dropped meanwhile: the event will be replayed
            t_sent = env.now
            r = c.link.down.send(h + payload, h, UPDATE, USEFUL, u.uid)
            done = (seq, u, t_queued, t_work, busy, t_sent, epoch, r)
            if r.__class__ is tuple:
                self._event_arrived(c, done)
            else:
                r.callbacks.append(lambda _ev, c=c, done=done: self._event_arrived(c, done))

    def _event_arrived(self, c, done) -> None:
        seq = done[0]
        ci = c.index
        if self.epoch[ci] != done[6] or not c.online:
            return  # the stream dropped while it travelled: replayed after reconnecting
        if seq <= self.last_seq[ci]:
            self.rec.duplicate(done[1].t_created)
            return
        held = self.held[ci]
        held[seq] = (done, self.env.now)
        # hand over, in order, every event whose predecessors have all arrived
        while True:
            nxt = max(self.last_seq[ci], self.lost_upto[ci]) + 1
            if nxt not in held:
                break
            self._deliver(c, *held.pop(nxt))
        self._check_caught_up(ci)

    def _deliver(self, c, done, arrived: float) -> None:
        seq, u, t_queued, t_work, busy, _t_sent, _epoch, r = done
        self.last_seq[c.index] = seq
        if r.__class__ is not tuple:
            r = r.value
        cp = self.wire(u.size) * self.parse_per_byte
        shared = [0.0] * NPARTS
        shared[SERVER_QUEUE] = t_work - t_queued
        shared[PARSE] = busy + cp
        # waiting behind an earlier event that was still on the link counts as transmission
        shared[TRANSMISSION] = r[0] + (self.env.now - arrived)
        shared[PROPAGATION], shared[RETRANSMISSION] = r[1], r[2]
        if cp:
            ev = self.env.timeout(cp)
            ev.callbacks.append(lambda _e: self.arrive(c, (u,), t_queued, shared))
        else:
            self.arrive(c, (u,), t_queued, shared)

    def _heartbeats(self, c):
        env, p = self.env, self.p
        size = round(p.heartbeat_size)
        ci = c.index
        yield env.timeout(float(self.world.streams.generator(f"sse.heartbeat.{ci}").uniform(
            0.0, p.heartbeat)))
        while True:
            if self.connected[ci]:  # fire and forget: a heartbeat carries nothing
                c.link.down.send(size, size, HEARTBEAT, T_HEARTBEAT, -1)
            yield env.timeout(p.heartbeat)

    # -- disconnection and reconnection ---------------------------------------------------------
    def _drop(self, c) -> None:
        ci = c.index
        if self.connected[ci]:
            self.connected[ci] = False
            c.connection.close()
            self.epoch[ci] += 1
            self.outq[ci].clear()
            self.held[ci].clear()  # never handed over: they will be replayed
            wake = self._wake[ci]
            if wake is not None:
                self._wake[ci] = None
                wake.succeed()
        if not self.reconnecting[ci]:
            self.reconnecting[ci] = True
            self.env.process(self._reconnect(c))

    def presence_changed(self, client, online: bool) -> None:
        if not online:
            self.offline_since_drop[client.index] = True
            self._drop(client)
            # a client that leaves is no longer waited for by the catch-up clock
            if self._target.pop(client.index, None) is not None:
                self._check_caught_up(None)

    def _delay(self, attempt: int) -> float:
        p = self.p
        if p.backoff == "none":
            return p.retry
        return float(self._backoff.uniform(0.0, min(p.backoff_cap, p.retry * 2.0**attempt)))

    def _reconnect(self, c):
        env = self.env
        attempt = 0
        while True:
            yield env.timeout(self._delay(attempt))
            attempt += 1
            if not c.online:
                yield self.wait_online(c)
                continue
            ok = yield from self._handshake(c)
            if ok:
                self.reconnecting[c.index] = False
                return

    def _handshake(self, c):
        env, world, server, rec = self.env, self.world, self.world.server, self.rec
        ci = c.index
        flow = next(world.flow_ids)
        h, hr = world.request_header, world.response_header
        r = c.link.up.send(h, h, REQUEST, CONTROL, flow)
        if r.__class__ is not tuple:
            yield r
        rec.reconnect_t.append(env.now)
        req = None if env.now < self.down_until else server.admit()
        if req is None:  # server down, or its queue full: refused
            if env.now >= self.down_until:
                rec.reject(env.now)
            r = c.link.down.send(hr, hr, RESPONSE, CONTROL, flow)
            if r.__class__ is not tuple:
                yield r
            return False
        yield req
        _, busy = server.work(0.0, 0.0)
        yield env.timeout(busy)
        server.release(req)
        if not c.online:
            return False
        # the stream restarts: headers, then the replay, then live events
        self.connected[ci] = True
        self.epoch[ci] += 1
        c.connection.reopen()
        c.link.down.send(hr, hr, RESPONSE, CONTROL, flow)
        topic = self.topic_of[ci]
        log = self.log[topic]
        first_kept = log[0][0] if log else len(self.created[topic])
        start = max(self.last_seq[ci], self.lost_upto[ci]) + 1
        created = self.created[topic]
        for seq in range(start, min(first_kept, len(created))):
            rec.lose(created[seq], offline=self.offline_since_drop[ci])
        self.offline_since_drop[ci] = False
        if first_kept - 1 > self.lost_upto[ci]:
            self.lost_upto[ci] = first_kept - 1
        env.process(self._sender(c, self.epoch[ci]))
        for seq, u in log:
            if seq > self.last_seq[ci]:
                self._enqueue(ci, seq, u)
        self._check_caught_up(ci)
        return True

    # -- restarts and catch-up ------------------------------------------------------------------
    def _restart(self, t: float):
        yield self.env.timeout(t)
        self.down_until = self.env.now + self.p.restart_downtime
        self._restart_t = self.env.now
        self._target = {}
        for c in self.world.clients:
            if self.connected[c.index]:
                self._target[c.index] = len(self.created[self.topic_of[c.index]]) - 1
                self._drop(c)
        self._check_caught_up(None)

    def _check_caught_up(self, ci: int | None) -> None:
        target = self._target
        if not target:
            return
        if ci is not None and ci in target and self.connected[ci] and \
                max(self.last_seq[ci], self.lost_upto[ci]) >= target[ci]:
            del target[ci]
        if not target and self._restart_t >= self.rec.warmup:
            self.rec.catchup_s = self.env.now - self._restart_t
