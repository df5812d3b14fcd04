"""Push over a persistent bidirectional connection (WebSocket-like).

The server sends each update the moment it is created: a worker spends ``event_work`` on it
(business logic, a distribution, default 0) and serialises it, and it travels
down the client's established connection as one ``update`` message (``headers.update`` bytes
of framing + payload). Nothing is asked, so there are no empty answers — but the client must
be online and able to keep up:

* **Offline clients.** ``offline: drop`` loses updates created while the client is away;
  ``offline: buffer`` keeps them on the server in a per-client buffer of at most
  ``server_buffer`` updates (further ones are lost) and sends them when the client comes back
  (their wait shows as ``pending``). An update already on the wire when the connection drops
  is lost. Losses for these reasons count in ``lost`` and ``lost_offline``.
* **Slow clients.** Arrivals queue in the client's inbound buffer (``clients.capacity``,
  ``clients.buffer``); when it is full they are dropped (``lost``). With ``prefetch: N`` the
  server keeps at most N unacknowledged updates in flight per client (RabbitMQ
  ``prefetch_count``-like): the client acknowledges each update once processed (an ``ack``
  message, tagged ``control``), and the server holds the rest in ``server_buffer`` until a
  slot frees — backpressure instead of drops.

Over an established connection with enough workers and no prefetch, an update's delay is
w + d + 8·(bytes)/C (w: event work, plus serialisation) and it costs exactly one message.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from pydantic import Field

from ..components.path import Trip
from ..components.task import spawn
from ..dists import Constant
from ..fields import DurationDist, ScenarioError
from ..metrics.definitions import Kind, Tag
from .base import PatternParams, register
from .notification import PARSE, UpdatePattern

__all__ = ["Push"]

UPDATE, ACK = int(Kind.UPDATE), int(Kind.ACK)
USEFUL, CONTROL = int(Tag.USEFUL), int(Tag.CONTROL)


class PushParams(PatternParams):
    prefetch: int | None = Field(None, ge=1, description="most unacknowledged updates in "
                                 "flight per client (acks on); null: no acks, no limit")
    offline: Literal["drop", "buffer"] = Field("buffer", description="what the server does "
                                               "with updates for an offline client")
    event_work: DurationDist = Field(Constant(0.0), description="worker seconds of business "
                                     "logic per pushed update, besides its serialisation (a "
                                     "distribution)")
    server_buffer: int | None = Field(None, ge=0, description="most updates the server holds "
                                      "per client (offline, or waiting for a prefetch slot); "
                                      "null: unbounded")


@register("push")
class Push(UpdatePattern):
    """The server sends each update as it happens over a persistent connection; offline clients
    lose or buffer, slow clients drop or apply backpressure (prefetch)."""

    Params = PushParams

    @classmethod
    def check(cls, p: PushParams, sc) -> None:
        super().check(p, sc)
        if p.prefetch is not None and p.server_buffer == 0:
            raise ScenarioError("server_buffer", "with prefetch the server must hold updates "
                                "waiting for a slot: server_buffer must be >= 1")
        buf = sc.clients.buffer
        if p.prefetch is not None and buf is not None and p.prefetch > buf + 1:
            raise ScenarioError("prefetch", f"must be <= clients.buffer + 1 ({buf + 1}) so that "
                                "the updates in flight always fit in the client's buffer")

    def setup(self, world) -> None:
        n = len(world.clients)
        self._work = self.p.event_work.sampler(world.streams.generator("push.event_work"))
        self.backlog: list[deque | tuple] = [()] * n
        """Updates held by the server per client (offline, or waiting for a prefetch slot); an
        empty tuple until the first (an empty deque is ~0.6 kB: memory per client)."""
        self.unacked = [0] * n
        self._received_in: dict[int, dict[int, int]] = {}
        """Per client (with prefetch, made at its first update): epoch of the connection each
        update in its inbox arrived on (an ack only counts on that connection)."""

    # -- server side -----------------------------------------------------------------------
    def _can_send(self, ci: int) -> bool:
        p = self.p
        return p.prefetch is None or self.unacked[ci] < p.prefetch

    def _hold(self, client, update) -> None:
        backlog = self.backlog[client.index]
        limit = self.p.server_buffer
        if limit is not None and len(backlog) >= limit:
            self.rec.lose(update.t_created, offline=not client.online)
        else:
            if backlog.__class__ is tuple:  # made at its first update held: memory per client
                backlog = self.backlog[client.index] = deque()
            backlog.append(update)

    def on_update(self, client, update) -> None:
        ci = client.index
        if not client.online:
            if self.p.offline == "drop":
                self.rec.lose(update.t_created, offline=True)
            else:
                self._hold(client, update)
        elif self._can_send(ci) and not self.backlog[ci] and client.connection.ready:
            self._send(client, update)
        else:  # no slot, a backlog to keep the order, or a connection still being opened
            self._hold(client, update)

    def _drain(self, client) -> None:
        ci = client.index
        backlog = self.backlog[ci]
        while backlog and client.online and client.connection.ready and self._can_send(ci):
            self._send(client, backlog.popleft())

    def presence_changed(self, client, online: bool) -> None:
        ci = client.index
        if online:
            self._drain(client)
        else:
            self.unacked[ci] = 0     # the connection dropped: what is in flight is lost

    def _send(self, client, update) -> None:
        if self.p.prefetch is not None:
            self.unacked[client.index] += 1
        spawn(self.env, self._push(client, update))

    def _push(self, client, u):
        ci = client.index
        conn = client.connection
        epoch = conn.epoch
        t_carried = self.env.now
        payload = self.wire(u.size)
        trip = Trip(u.uid)
        delivered = yield from self.world.path.push(
            conn, trip, payload + self.world.update_header, self.world.update_header, UPDATE,
            cpu_after=payload * self.ser_per_byte, work=self._work())
        if not delivered or not client.online:
            self.rec.lose(u.t_created, offline=True)
            return
        cp = payload * self.parse_per_byte
        if cp:
            yield self.env.timeout(cp)
            trip.parts[PARSE] += cp
        if self.p.prefetch is not None:
            received = self._received_in.get(ci)
            if received is None:
                received = self._received_in[ci] = {}
            received[u.uid] = epoch
        self.arrive(client, (u,), t_carried, trip.parts)

    # -- client side: acknowledgements ---------------------------------------------------------
    def processed(self, client, update) -> None:
        if self.p.prefetch is not None:
            epoch = self._received_in[client.index].pop(update.uid)
            if epoch == client.connection.epoch and client.online:
                spawn(self.env, self._ack(client, update, epoch))
            # else: that connection is gone, and with it the server's count of unacked updates

    def _ack(self, client, u, epoch: int):
        conn = client.connection
        yield from self.world.path.ack(conn, u.uid, self.world.ack_header)
        if conn.epoch == epoch:
            self.unacked[client.index] -= 1
            self._drain(client)
