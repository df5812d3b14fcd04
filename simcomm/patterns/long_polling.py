"""Long polling: the server holds the poll until there is something to say, or a timeout.

The client keeps one poll outstanding and re-issues it as soon as the answer is parsed (after
``retry_delay``). On arrival a worker parses and checks the poll (the service time). If updates
are pending the server answers at once; otherwise it parks the poll **without holding a
worker** (an event-driven server) until an update arrives or ``timeout`` has passed since the
poll arrived, then a worker serialises the answer. A poll that times out empty wastes the
worker time of its check and its empty answer.

**Kafka-style fetch**: with ``min_bytes`` the server answers only once that many payload bytes
are pending, or when ``timeout`` (Kafka's ``fetch.max.wait.ms``) has passed — with whatever is
pending then. ``min_bytes: 0`` (default) means "answer on the first update".

With Poisson updates at rate λ and a round trip short against 1/λ, a poll is answered with
updates with probability 1 − e^(−λτ) (τ = timeout), so messages per delivery → 2/(1 − e^(−λτ)).

An offline client stops polling and resumes when back online; its updates wait on the server.
A poll parked when the client leaves is dropped with the connection (no answer); an answer
still on its way when the client leaves is lost with the updates it carries (``lost_offline``).
"""

from __future__ import annotations

import math

from pydantic import Field

from ..components.updates import Mailbox
from ..fields import NonNegDuration, NonNegSize, PosDuration
from .base import PatternParams, register
from .notification import UpdatePattern

__all__ = ["LongPolling"]


class LongPollingParams(PatternParams):
    timeout: PosDuration = Field(30.0, description="longest the server holds a poll "
                                 "(Kafka fetch: fetch.max.wait.ms)")
    min_bytes: NonNegSize = Field(0.0, description="answer once this many encoded payload "
                                  "bytes are pending (Kafka fetch.min.bytes); 0: on the first "
                                  "update")
    retry_delay: NonNegDuration = Field(0.0, description="client pause before re-polling")


@register("long_polling")
class LongPolling(UpdatePattern):
    """Client keeps one poll parked at the server, answered by the next update(s) or empty after
    the timeout; min_bytes makes it a Kafka-style fetch."""

    Params = LongPollingParams

    def setup(self, world) -> None:
        self.mailboxes = [Mailbox(self.env) for _ in world.clients]
        self._gone = [None] * len(world.clients)
        """Per client: an event that fires if the client goes offline while its poll is parked
        (the connection is gone; the server stops holding the poll)."""
        for c in world.clients:
            self.env.process(self._client(c))

    def presence_changed(self, client, online: bool) -> None:
        gone = self._gone[client.index]
        if not online and gone is not None and not gone.triggered:
            gone.succeed()

    def on_update(self, client, update) -> None:
        self.mailboxes[client.index].put(update)

    def _client(self, c):
        env, p = self.env, self.p
        # start at a random moment so that clients do not poll in lock-step
        yield env.timeout(float(self.world.streams.generator(
            f"long_polling.{c.index}").uniform(0.0, min(p.timeout, 1.0))))
        while True:
            if not c.online:
                yield self.wait_online(c)
            yield from self._poll(c)
            if p.retry_delay:
                yield env.timeout(p.retry_delay)

    def _poll(self, c):
        env, p = self.env, self.p
        c.connection.begin()
        poll = yield from self.poll_up(c, next(self.world.flow_ids))
        mb = self.mailboxes[c.index]
        # min_bytes counts encoded bytes (as Kafka counts stored bytes); the mailbox counts
        # JSON-sized bytes
        need = max(1, math.ceil(p.min_bytes / self.size_factor))
        span = yield from self.held_poll(
            c, poll, timeout=p.timeout, ready=lambda: mb.ready(need),
            wait=lambda: mb.wait(need), bounded=True, gone=lambda: self._parked(c))
        self._gone[c.index] = None
        if span is not None:
            yield from self.answer(c, poll, mb.take(), env.now, serve=False, waste=(span,))
        c.connection.end()

    def _parked(self, c):
        gone = self._gone[c.index] = self.env.event()
        return gone
