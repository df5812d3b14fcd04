"""Long polling: the server holds the poll until there is something to say, or a timeout.

The client keeps one poll outstanding and re-issues it as soon as the answer is parsed (after
``retry_delay``). On arrival a worker checks the poll (the service time). If updates are
pending the server answers at once; otherwise it parks the poll **without holding a worker**
(an event-driven server) until an update arrives or ``timeout`` has passed since the poll
arrived; then a worker builds the answer: ``answer_work`` (business logic, a distribution,
default 0) when it carries updates, plus their serialisation. A poll that times out empty
wastes the worker time of its check and its empty answer.

**When the pending set is first read** (``snapshot``):

* ``served`` (default): after the check — updates created while the poll was being checked are
  in its answer;
* ``arrival``: as the poll arrives — if enough is pending then, that is the answer (sent after
  the check, the updates' wait in ``server_queue``/``service``), and updates created during
  the check wait for the next poll; otherwise the poll is parked as above.

With Poisson updates at rate λ, a parked poll is answered by the first update, d + w (+
serialisation) after it was created (one-way latency d, answer work w), in both designs.

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

from typing import Literal

from pydantic import Field

from ..components.task import spawn
from ..components.updates import Mailbox
from ..fields import NonNegDuration, NonNegSize, PosDuration
from .base import register
from .notification import PollParams, UpdatePattern

__all__ = ["LongPolling"]


class LongPollingParams(PollParams):
    timeout: PosDuration = Field(30.0, description="longest the server holds a poll "
                                 "(Kafka fetch: fetch.max.wait.ms)")
    min_bytes: NonNegSize = Field(0.0, description="answer once this many encoded payload "
                                  "bytes are pending (Kafka fetch.min.bytes); 0: on the first "
                                  "update")
    retry_delay: NonNegDuration = Field(0.0, description="client pause before re-polling")
    snapshot: Literal["arrival", "served"] = Field(
        "served", description="when the server first reads the pending updates: as the poll "
        "arrives, or after the poll's check (its service time)")


@register("long_polling")
class LongPolling(UpdatePattern):
    """Client keeps one poll parked at the server, answered by the next update(s) or empty after
    the timeout; min_bytes makes it a Kafka-style fetch."""

    instances = True

    Params = LongPollingParams

    def setup(self, world) -> None:
        self.mailboxes = [Mailbox(self.env) for _ in world.clients]
        self._work = self.p.answer_work.sampler(world.streams.generator(
            "long_polling.answer_work"))
        self._gone = [None] * len(world.clients)
        """Per client: an event that fires if the client goes offline while its poll is parked
        (the connection is gone; the server stops holding the poll)."""
        for c in world.clients:
            spawn(self.env, self._client(c))

    def presence_changed(self, client, online: bool) -> None:
        gone = self._gone[client.index]
        if not online and gone is not None and not gone.triggered:
            gone.succeed()

    def on_update(self, client, update) -> None:
        self.mailboxes[client.index].put(update)

    def _client(self, c):
        env, p = self.env, self.p
        # start at a random moment so that clients do not poll in lock-step
        yield env.timeout(float(self.world.streams.stream(
            f"long_polling.{c.index}").uniform(0.0, min(p.timeout, 1.0))))
        while True:
            if not c.online:
                yield self.wait_online(c)
            yield from self._poll(c)
            if p.retry_delay:
                yield env.timeout(p.retry_delay)

    def _poll(self, c):
        env, p = self.env, self.p
        poll = yield from self.begin_poll(c)
        if poll is None:
            return
        mb = self.mailboxes[c.index]
        # min_bytes counts encoded bytes (as Kafka counts stored bytes); the mailbox counts
        # JSON-sized bytes. 0: any update, whatever its size.
        need = p.min_bytes / self.size_factor
        t_arrived = env.now
        # snapshot: arrival — what is pending as the poll arrives is its answer, if enough
        early = mb.take() if p.snapshot == "arrival" and mb.ready(need) else []
        span = yield from self.held_poll(
            c, poll, timeout=p.timeout, ready=lambda: bool(early) or mb.ready(need),
            wait=lambda: mb.wait(need), bounded=True, gone=lambda: self._parked(c))
        self._gone[c.index] = None
        if span is None:
            mb.put_back(early)  # refused, or the client left: the updates stay pending
        elif early:
            # the updates waited on the server while the poll was checked
            yield from self.answer(c, poll, early, t_arrived, serve=False, work=self._work,
                                   before=(span[0] - t_arrived, span[1] - span[0]),
                                   waste=(span,), put_back=mb.put_back)
        else:
            yield from self.answer(c, poll, mb.take(), env.now, serve=False, work=self._work,
                                   waste=(span,), put_back=mb.put_back)
        self.world.path.end(poll.conn)

    def _parked(self, c):
        gone = self._gone[c.index] = self.env.event()
        return gone
