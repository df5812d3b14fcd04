"""Short polling: the client asks every ``interval``; the server answers at once.

Each poll is a request (headers only). The server takes its **snapshot of pending updates
when the poll arrives** (before waiting for a worker), then a worker runs the service time
and serialises the pending updates into the response — or an empty response, whose worker
time is wasted (``wasted_server_s``) and whose request and response are tagged ``empty``.

With Poisson updates at rate λ per client, polls every T, one-way latency d, service s and
enough workers: P(empty poll) = e^(−λT); an update waits T/2 on average for the next
snapshot, so its mean delay is T/2 + s + d (plus serialisation); messages per delivery are
2/(λT). Taking the snapshot after the service time instead would remove s from the delay:
this choice is documented here and in the metric definitions (``pending``).

Polls are timer-driven: the next poll is due ``interval`` (± uniform ``jitter``) after the
previous one was due, or at once if the previous poll took longer. An offline client skips its
polls; its updates wait on the server. Only an answer still on its way when the client leaves
is lost, with the updates it carries (``lost_offline``).
"""

from __future__ import annotations

from pydantic import Field

from ..components.updates import Mailbox
from ..fields import NonNegDuration, PosDuration, ScenarioError
from ..rng import Buffered
from .base import PatternParams, register
from .notification import UpdatePattern

__all__ = ["ShortPolling"]


class ShortPollingParams(PatternParams):
    interval: PosDuration = Field(1.0, description="seconds between polls")
    jitter: NonNegDuration = Field(0.0, description="each interval is drawn uniformly in "
                                   "interval ± jitter (must be < interval)")


@register("short_polling")
class ShortPolling(UpdatePattern):
    """Client polls every interval; the server answers at once with all pending updates or
    empty."""

    Params = ShortPollingParams

    @classmethod
    def check(cls, p: ShortPollingParams, sc) -> None:
        super().check(p, sc)
        if p.jitter >= p.interval:
            raise ScenarioError("jitter", f"must be < interval ({p.interval:g}s), got "
                                f"{p.jitter:g}s")

    def setup(self, world) -> None:
        self.mailboxes = [Mailbox(self.env) for _ in world.clients]
        for c in world.clients:
            self.env.process(self._client(c))

    def on_update(self, client, update) -> None:
        self.mailboxes[client.index].put(update)

    def _client(self, c):
        env, p = self.env, self.p
        rng = self.world.streams.generator(f"short_polling.{c.index}")
        j = p.jitter
        jitter = Buffered(rng, lambda g, n: g.uniform(-j, j, n)) if j else (lambda: 0.0)
        due = float(rng.uniform(0.0, p.interval))
        while True:
            if due > env.now:
                yield env.timeout(due - env.now)
            if c.online:
                yield from self._poll(c)
            due += p.interval + jitter()
            if due < env.now:
                due = env.now

    def _poll(self, c):
        c.connection.begin()
        poll = yield from self.poll_up(c, next(self.world.flow_ids))
        mb = self.mailboxes[c.index]
        t_snap = self.env.now
        items = mb.take()   # snapshot on arrival at the server
        ans = yield from self.answer(c, poll, items, t_snap, serve=True, bounded=True)
        if ans is None:     # refused: the updates stay pending
            mb.put_back(items)
        c.connection.end()
