"""Short polling: the client asks every ``interval``; the server answers at once.

Each poll is a request (headers only). A worker handles it: one service time (parsing,
authentication, reading the store), ``answer_work`` more when the answer carries updates (the
business logic of building it: a distribution, default 0), and the serialisation of the updates
it carries — or an empty response, whose worker time is wasted (``wasted_server_s``) and whose
request and response are tagged ``empty``.

**When the pending set is read** (``snapshot``) — both are real server designs:

* ``arrival`` (default): as the poll arrives at the server, before it waits for a worker and is
  served; an update created during that time waits for the next poll;
* ``served``: on the worker, after the poll's service time (a handler that authenticates, then
  queries the store).

With Poisson updates at rate λ per client, polls every T, one-way latency d, service s, answer
work w and enough workers, the snapshots are T apart in both designs, so P(empty poll) =
e^(−λT) and messages per delivery are 2/(λT); an update waits T/2 on average for the next
snapshot, so its mean delay is T/2 + s + w + d (``arrival``) or T/2 + w + d (``served``), plus
serialisation. (With w > 0, s and w are on one worker visit: the answer's ``service`` part holds
s + w for ``arrival``, w for ``served``.)

Polls are timer-driven: the next poll is due ``interval`` (± uniform ``jitter``) after the
previous one was due, or at once if the previous poll took longer. An offline client skips its
polls; its updates wait on the server. Only an answer still on its way when the client leaves
is lost, with the updates it carries (``lost_offline``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..components.task import spawn
from ..components.updates import Mailbox
from ..dists import zero
from ..fields import NonNegDuration, PosDuration, ScenarioError
from ..rng import Buffered
from .base import register
from .notification import PollParams, UpdatePattern

__all__ = ["ShortPolling"]


class ShortPollingParams(PollParams):
    interval: PosDuration = Field(1.0, description="seconds between polls")
    jitter: NonNegDuration = Field(0.0, description="each interval is drawn uniformly in "
                                   "interval ± jitter (must be < interval)")
    snapshot: Literal["arrival", "served"] = Field(
        "arrival", description="when the server reads the pending updates: as the poll "
        "arrives, or on the worker after the poll's service time")


@register("short_polling")
class ShortPolling(UpdatePattern):
    """Client polls every interval; the server answers at once with all pending updates or
    empty."""

    instances = True

    Params = ShortPollingParams

    @classmethod
    def check(cls, p: ShortPollingParams, sc) -> None:
        super().check(p, sc)
        if p.jitter >= p.interval:
            raise ScenarioError("jitter", f"must be < interval ({p.interval:g}s), got "
                                f"{p.jitter:g}s")

    def setup(self, world) -> None:
        self.mailboxes = [Mailbox(self.env) for _ in world.clients]
        self._work = self.p.answer_work.sampler(world.streams.generator(
            "short_polling.answer_work"))
        for c in world.clients:
            spawn(self.env, self._client(c))

    def on_update(self, client, update) -> None:
        self.mailboxes[client.index].put(update)

    def _client(self, c):
        """One client's polls: a process (:meth:`~simcomm.patterns.polls.Polls.every`,
        compiled), its timer drawn from the client's own stream."""
        p = self.p
        rng = self.world.streams.stream(f"short_polling.{c.index}")
        j = p.jitter
        jitter = Buffered(rng, lambda g, n: g.uniform(-j, j, n)) if j else zero
        due = float(rng.uniform(0.0, p.interval))
        return self.polls.every(c, due, p.interval, jitter, self.mailboxes[c.index],
                                p.snapshot == "arrival", self._work)
