"""How a request-driven client's callers wait: one small strategy per client style.

A style decides what happens around one request on the caller's side — before it goes on the
wire and after its response is parsed — and what that costs: blocked callers, threads and
their memory, completion checks, and whether the client's CPU work queues on one core (an
event loop). ``request_response`` asks its style; it has no ladder of ``if mode == …``.

=======================  ===============================================================
:class:`Sync`            the caller blocks from send to parsed response; one at a time
:class:`Callback`        one event loop; notified the moment a response is parsed
:class:`ReadinessPoll`   one event loop that checks for completions every
                         ``poll_interval`` while requests are outstanding
:class:`ThreadPerRequest`  a new OS thread per request (start cost, memory, blocked)
=======================  ===============================================================

Each style is built once per run with the pattern's parameters and the world; its
:meth:`Style.begin` and :meth:`Style.end` are generators (``yield from``).
"""

from __future__ import annotations

import math
from collections.abc import Generator

from ..metrics.definitions import Part

__all__ = ["STYLES", "Callback", "ReadinessPoll", "Style", "Sync", "ThreadPerRequest"]

NOTIFY = int(Part.NOTIFY)


class Style:
    """The caller's side of one request."""

    loop = False
    """True: the client is one event loop, its CPU work queues on its core."""

    def __init__(self, p, world) -> None:
        self.p = p
        self.env = world.env
        self.rec = world.recorder

    def limit(self) -> float:
        """Most requests in flight per client."""
        return math.inf if self.p.concurrency is None else self.p.concurrency

    def begin(self, client, pre: float) -> Generator:
        """``yield from``, before the request is serialised: *pre* is the caller's own CPU
        for it. Returns the CPU still to spend, on the client's core if the style has one."""
        return pre
        yield  # pragma: no cover

    def end(self, client, trip) -> Generator:
        """``yield from``, once the response is parsed (or the request refused)."""
        return
        yield  # pragma: no cover


class Sync(Style):
    """The caller blocks from the moment it sends to the parsed response."""

    def limit(self) -> float:
        return 1

    def begin(self, client, pre):
        if pre:  # the caller's CPU is its own; blocked from send
            yield self.env.timeout(pre)
        self.rec.client_blocked.add(1)
        return 0.0

    def end(self, client, trip):
        self.rec.client_blocked.add(-1)
        return
        yield  # pragma: no cover


class ThreadPerRequest(Style):
    """Each request on a new thread: ``thread_start`` before sending, ``thread_memory`` while
    alive, blocked all its life. Threads may run on several cores: no shared-CPU contention."""

    def begin(self, client, pre):
        rec, p = self.rec, self.p
        rec.threads.add(1)
        rec.thread_memory.add(p.thread_memory)
        rec.client_blocked.add(1)
        if p.thread_start or pre:
            yield self.env.timeout(p.thread_start + pre)
        return 0.0

    def end(self, client, trip):
        rec = self.rec
        rec.client_blocked.add(-1)
        rec.threads.add(-1)
        rec.thread_memory.add(-self.p.thread_memory)
        return
        yield  # pragma: no cover


class Callback(Style):
    """One event loop per client, told of a completion the moment the response is parsed.
    The loop is blocked while it has requests outstanding and its core is idle: the recorder
    subtracts the cores' busy time from the outstanding time."""

    loop = True

    def __init__(self, p, world) -> None:
        super().__init__(p, world)
        self.pending = [0] * len(world.clients)
        """Requests outstanding per client."""
        for c in world.clients:  # a working loop is not blocked: its busy time is subtracted
            c.cpu.account = self.rec.loop_busy

    def begin(self, client, pre):
        ci = client.index
        if self.pending[ci] == 0:
            self.rec.client_blocked.add(1)
            self.idle_ends(ci)
        self.pending[ci] += 1
        return pre
        yield  # pragma: no cover

    def idle_ends(self, ci: int) -> None:
        """Hook: client *ci* had nothing outstanding and now has a request."""

    def end(self, client, trip):
        ci = client.index
        self.pending[ci] -= 1
        if self.pending[ci] == 0:
            self.rec.client_blocked.add(-1)
        return
        yield  # pragma: no cover


class ReadinessPoll(Callback):
    """One event loop that checks for completions every ``poll_interval`` (at ticks of a
    per-client phase) while it has requests outstanding: a response is noticed at the next
    tick (``notify``), and every tick counts in ``client_checks``."""

    def __init__(self, p, world) -> None:
        super().__init__(p, world)
        n = len(world.clients)
        self.phase = world.streams.generator("clients.poll_phase").uniform(
            0.0, p.poll_interval, n).tolist()
        self.since = [0.0] * n
        """Per client: when its current busy period (requests outstanding) began."""

    def idle_ends(self, ci: int) -> None:
        self.since[ci] = self.env._now

    def end(self, client, trip):
        env, rec = self.env, self.rec
        ci = client.index
        iv, ph = self.p.poll_interval, self.phase[ci]
        now = env.now
        tick = ph + math.ceil((now - ph) / iv) * iv
        if tick > now:
            trip.parts[NOTIFY] = tick - now
            yield env.timeout(tick - now)
        self.pending[ci] -= 1
        if self.pending[ci] == 0:
            rec.client_blocked.add(-1)
            rec.checks(self.since[ci], tick, ph, iv)


STYLES: dict[str, type[Style]] = {
    "sync": Sync,
    "callback": Callback,
    "readiness_poll": ReadinessPoll,
    "thread_per_request": ThreadPerRequest,
}
"""Client styles by name: ``client: sync``, or the ``completion`` of ``client: async``."""
