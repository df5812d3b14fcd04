"""What every update-delivery pattern shares (short/long polling, push …).

Updates are created on the server side by the world's update sources (see
:mod:`simcomm.components.updates`); every subscriber of the update's topic must receive its own
copy. A pattern built on :class:`UpdatePattern` implements two things:

* :meth:`UpdatePattern.setup` — install its client and server processes;
* :meth:`UpdatePattern.on_update` — what the server does with a new copy for one client
  (keep it in a mailbox until a poll comes, push it at once …).

When a message carrying updates reaches a client, the pattern calls :meth:`UpdatePattern.arrive`
with the parts of the trip the updates shared; the client's inbox then processes each update
(capacity, bounded buffer) and the delivery is recorded with its full decomposition:
``pending`` (created → carried) + the shared parts + ``client_buffer`` = latency.

**Latency** of an update is created → processed by the client (arrival, when clients have no
capacity limit). **issued** counts update copies (one per subscriber) created in the window, so
issued = delivered + lost + still on their way at the end.
"""

from __future__ import annotations

from pydantic import Field

from ..components.path import Trip
from ..components.updates import Update
from ..dists import Constant
from ..fields import DurationDist, ScenarioError
from ..metrics.definitions import PART_NAMES, Kind, Part, Tag
from .base import Pattern, PatternParams
from .polls import Polls

__all__ = ["PollParams", "UpdatePattern"]

NPARTS = len(PART_NAMES)
PENDING, CLIENT_BUFFER = int(Part.PENDING), int(Part.CLIENT_BUFFER)
SERVER_QUEUE, SERVICE, PARSE = int(Part.SERVER_QUEUE), int(Part.SERVICE), int(Part.PARSE)
TRANSMISSION, PROPAGATION = int(Part.TRANSMISSION), int(Part.PROPAGATION)
RETRANSMISSION = int(Part.RETRANSMISSION)
REQUEST, RESPONSE = int(Kind.REQUEST), int(Kind.RESPONSE)
USEFUL, EMPTY, CONTROL = int(Tag.USEFUL), int(Tag.EMPTY), int(Tag.CONTROL)


class PollParams(PatternParams):
    """Parameters every polling pattern shares."""

    answer_work: DurationDist = Field(Constant(0.0), description="worker seconds of business "
                                      "logic per answer that carries updates (a "
                                      "distribution; 0: only serialisation)")


class UpdatePattern(Pattern):
    """Base class of patterns that carry server-side updates to clients."""

    copies_on_update = True
    """Each subscriber's copy of a new update is handed to :meth:`on_update` (False: the
    pattern makes its copies itself, from :meth:`on_created`, as a broker does)."""

    reconnects_on_presence = True
    """The client's connection drops when it goes offline and is reopened when it comes back
    (patterns with their own reconnection logic, like SSE, set this to False)."""

    @classmethod
    def check(cls, params, sc) -> None:
        if sc.workload.updates is None:
            raise ScenarioError("", f"{cls.name} needs workload.updates (what the server "
                                "creates, how often, for whom)")

    def requests_per_arrival(self) -> float:
        return 0.0  # no request workload: the ρ warning does not apply

    # -- installation --------------------------------------------------------------------------
    def install(self, world) -> None:
        self.world = world
        self.env = world.env
        self.rec = world.recorder
        enc = world.encoding
        self.size_factor = enc.size_factor
        self.ser_per_byte = enc.serialise_per_kib / 1024.0
        self.parse_per_byte = enc.parse_per_kib / 1024.0
        self.polls = Polls(self, world)
        self._online_waiters: dict[int, object] = {}
        presence = self._presence  # one bound method for every client (memory per client)
        for c in world.clients:
            c.on_presence(presence)
        self.setup(world)
        if self.reconnects_on_presence:
            for c in world.clients:  # connection.warm false: clients connect as the run starts
                if not c.connection.is_open:
                    self.env.process(self._connect(c))
        world.feed.start(copy=self.on_update if self.copies_on_update else None,
                         created=self.on_created,
                         processed=self.processed)

    def setup(self, world) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def on_update(self, client, update: Update) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def on_created(self, update: Update) -> None:
        """Hook: a new update exists (called once, before the per-subscriber on_update)."""

    def presence_changed(self, client, online: bool) -> None:
        """Hook: *client* went online or offline."""

    def processed(self, client, update: Update) -> None:
        """Hook: *client* finished processing *update* (e.g. to acknowledge it)."""

    # -- shared machinery -------------------------------------------------------------------------
    def wire(self, size: int) -> int:
        """Encoded bytes of a payload of *size* JSON-sized bytes."""
        return size * self.size_factor

    def wait_online(self, client):
        """An event that fires when *client* is next online (at once if it is)."""
        ev = self._online_waiters.get(client.index)
        if ev is None:
            ev = self.env.event()
            if client.online:
                ev.succeed()
                return ev
            self._online_waiters[client.index] = ev
        return ev

    def _presence(self, client, online: bool) -> None:
        if not online:
            client.connection.drop()
            self.presence_changed(client, False)
            return
        ev = self._online_waiters.pop(client.index, None)
        if ev is not None:
            ev.succeed()
        if self.reconnects_on_presence:
            self.env.process(self._connect(client))
        else:
            self.presence_changed(client, True)

    def _connect(self, client):
        """The client (back online, or starting cold) opens its connection — paying the
        handshake — and only then counts as present to the pattern."""
        yield from self.world.path.open(client.connection)
        if client.online and client.connection.ready:
            self.presence_changed(client, True)

    def arrive(self, client, updates, t_carried: float, shared: list[float]) -> None:
        """*updates* reach *client* now, in one message that took them from the server's store
        at *t_carried* (see :meth:`~simcomm.components.feed.UpdateFeed.carried`)."""
        self.world.feed.carried(client, updates, t_carried, shared)

    # -- polls: shared by short polling, long polling and pub/sub's pull consumer ------------
    # (the exchange is :class:`~simcomm.patterns.polls.Polls`, compiled: these hand it on)
    def poll_up(self, conn, flow: int):
        """``yield from``: send a poll (headers only) to the server on *conn* (from
        ``world.path.begin``). Returns its :class:`Trip` (whose request can later be settled
        ``empty`` or ``control``; its answer goes back on ``trip.conn``), or None if the
        connection could not be opened."""
        return self.polls.poll_up(conn, flow)

    def begin_poll(self, client):
        """``yield from``: a connection from the client's pool and a poll sent up on it.
        Returns the poll's :class:`Trip` (its connection: ``trip.conn``, to give back with
        ``world.path.end``), or None if the connection could not be opened (given back
        already)."""
        return self.polls.begin_poll(client)

    def refuse_poll(self, client, poll, work):
        """``yield from``: the server turned the poll away, or it failed in the server's
        *work* (a trip); it answers with an error."""
        return self.polls.refuse_poll(client, poll, work)

    def held_poll(self, client, poll, *, timeout: float, ready, wait, bounded: bool,
                  gone=None):
        """``yield from``: a poll the server may hold (long polling, a broker fetch). It has
        just arrived; a worker checks it (one service time), then, unless ``ready()``, the
        server parks it **without a worker** until the event ``wait()`` fires or *timeout*
        has passed since its arrival — or, with *gone* (a callable giving an event), until the
        client's connection is gone. Returns the ``(start, end)`` of the check's worker time,
        or None if the poll was refused (answered with an error) or its client left (no
        answer)."""
        env, path = self.env, self.world.path
        t_arrived = env.now
        check = Trip(poll.flow)
        if not (yield from path.work(check, bounded=bounded)):
            yield from self.refuse_poll(client, poll, check)
            return None
        span = (check.t_work, check.t_work + check.busy)
        if not ready():
            left = t_arrived + timeout - env.now
            if left > 0 and (gone is None or client.online):
                woken = wait()
                gone_ev = gone() if gone is not None else None
                if gone_ev is None:
                    yield woken | env.timeout(left)
                else:
                    yield woken | gone_ev | env.timeout(left)
                woken.cancel()
                if gone_ev is not None and gone_ev.triggered:
                    return None  # the client left: no answer
        return span

    def answer(self, client, poll, items=None, t_snap: float = 0.0, *, serve: bool,
               bounded: bool = False, cpu: float = 0.0, work=None, read=None, before=None,
               waste=(), put_back=None):
        """``yield from``: answer a poll with the updates it finds.

        Either *items* (the snapshot taken at *t_snap*) are given, or *read* is: a callable
        that takes the snapshot on the worker, once its service time is done (the server
        reads what is pending after serving the poll). A worker runs the service time when
        *serve*, *work()* seconds of business logic for an answer that carries updates (*work*
        None: none), and serialises the updates; with *bounded* it may refuse (the poll is then
        answered with an error and None returned). The response travels down and the client
        parses it. An empty answer is tagged ``empty`` (its poll too) and its worker time, with
        the earlier intervals in *waste*, is wasted. *before* = ``(queue, service)``: what the
        updates already waited on the server between *t_snap* and this answer (a long poll's
        check). Returns the answer's :class:`Trip`.

        *put_back*: a callable that returns updates to the store they were taken from. When
        the answer is not sent — the poll refused, or the worker's instance crashed while it
        prepared the answer — the updates it took (given, or read on the worker) are handed to
        it: they stay pending, and the next poll carries them (without it they would be
        neither delivered nor lost)."""
        return self.polls.answer(client, poll, items, t_snap, serve=serve, bounded=bounded,
                                 cpu=cpu, work=work, read=read, before=before, waste=waste,
                                 put_back=put_back)
