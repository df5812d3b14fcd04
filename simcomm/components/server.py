"""The server: a pool of workers that parse, serve and serialise.

A :class:`Server` knows nothing of patterns. One request's life on it, in three calls::

    req = server.admit()          # None: rejected (bounded queue full or server down)
    if req is not True:           # True: a worker was free and is taken, no event needed
        yield req                 # waiting for a worker (FIFO)
    service, busy = server.work(cpu_before, cpu_after)
    yield env.timeout(busy)       # parse + service + serialise on that worker
    server.release(req)

(:meth:`Server.serve` wraps them in one generator for code that is not on a hot path.)

With ``queue_limit`` set, a request that arrives when all workers are busy and ``queue_limit``
requests are already waiting is rejected at once; the caller answers it with an error and no
worker time is spent.

**Restarts.** :meth:`Server.restart` takes the server down for a downtime: every listener
registered with :meth:`Server.on_restart` is told at once (the path drops every connection to
the server, so state held per connection is gone), and requests that arrive while it is down
are refused (:meth:`Server.admit` returns None, :attr:`Server.down` is True). Work already on a
worker finishes; work the server gives itself (``bounded=False``) is not refused.

**Faults** (``faults:`` in a scenario). *Slow episodes* multiply the service time (and the
business-logic work) drawn while they last by their factor; the CPU spent encoding is not
slowed. A *failure probability* makes a request fail once its work is done — the worker time
is spent, and the caller gets an error (see
:meth:`~simcomm.components.path.Path.work`); work the server gives itself never fails.
Restarts at given times or at a rate are scheduled with :meth:`restart_at`.

Busy time is reported to the recorder when work starts, since its length is known then
(:meth:`~simcomm.metrics.recorder.Recorder.busy`: the overlap of ``[start, start + busy)`` with
the measurement window counts, so work still running at the end of the run counts up to the
end).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Final

from simpy.events import Event

from .task import timeout

__all__ = ["CRASHED", "OwnBooks", "Server"]

CRASHED: Final = object()
"""What a request waiting for a worker gets when its instance crashes."""


class OwnBooks:
    """The CPU accounting of workers that are not the server's — a hop's own (a proxy's, a
    balancer's): their time shows in the latency parts of the hop, not in the contract's
    server metrics."""

    def __init__(self) -> None:
        self.busy_s = 0.0

    def busy(self, start: float, length: float, instance: int = 0) -> None:
        self.busy_s += length

    def unbusy(self, start: float, length: float, instance: int = 0) -> None:
        self.busy_s -= length


class Server:
    def __init__(self, env, *, workers: int, service: Callable[[], float],
                 queue_limit: int | None, recorder, index: int = 0) -> None:
        self.env = env
        self.index = index
        """The instance's number (0 for a single server)."""
        self.workers = workers
        self.in_use = 0
        """Workers busy now."""
        self._waiting: deque[Event] = deque()
        """Requests waiting for a worker, first come first served."""
        self.service = service
        """Zero-argument callable drawing one service time (seconds)."""
        self.queue_limit = queue_limit
        self._rec = recorder
        self._busy = recorder.busy
        self.down_until = -math.inf
        """Requests arriving before this time are refused (the server is restarting)."""
        self.restarts = 0
        """Restarts so far."""
        self.last_restart = math.nan
        """Time of the latest restart (NaN: none yet)."""
        self._on_restart: list[Callable[[], None]] = []
        self.slow: list[tuple[float, float, float]] = []
        """Slow episodes ``(start, end, factor)``: service times drawn in [start, end) are
        multiplied by factor — the largest, where episodes overlap (see :meth:`work`)."""
        self.failure = 0.0
        """Probability that a request fails after its work (see :meth:`failed`)."""
        self._fail: Any = None
        self.may_crash = False
        """Crashes are scheduled: work in progress runs where a crash can reach it."""
        self.crashes = 0
        self._serving: dict = {}
        """With crashes: the processes working on a worker now → (start, length)."""
        self._unbusy = recorder.unbusy

    # -- restarts ------------------------------------------------------------------------------
    def on_restart(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` at every restart, in the order listeners were registered."""
        self._on_restart.append(listener)

    @property
    def down(self) -> bool:
        """True while the server is down after a restart."""
        return self.env._now < self.down_until

    def restart(self, downtime: float = 0.0) -> None:
        """Restart now: connections drop, and the server refuses requests for *downtime*."""
        now = self.env.now
        self.down_until = now + downtime
        self.restarts += 1
        self.last_restart = now
        for listener in self._on_restart:
            listener()

    def restart_at(self, t: float, downtime: float = 0.0, crash: bool = False) -> None:
        """Schedule a :meth:`restart` (or, with *crash*, a :meth:`crash`) at time *t*."""
        if crash:
            self.may_crash = True

        def at() -> Generator:
            yield self.env.timeout(t - self.env.now)
            (self.crash if crash else self.restart)(downtime)
        self.env.process(at())

    def crash(self, downtime: float = 0.0) -> None:
        """Crash now: the work on the workers stops unfinished and the requests waiting for
        one are dropped — each gets an error (see
        :meth:`~simcomm.components.path.Path.work`) — then the server restarts."""
        now = self.env.now
        self.crashes += 1
        waiting, self._waiting = self._waiting, deque()
        for ev in waiting:
            ev.succeed(CRASHED)
        serving, self._serving = self._serving, {}
        for proc, (start, length) in serving.items():
            if start + length > now:
                self._unbusy(now, start + length - now, self.index)
            proc.interrupt("crash")
        self.in_use = 0
        self.restart(downtime)

    def serve_begin(self, busy: float) -> None:
        """With crashes: the active process works *busy* seconds on a worker from now."""
        self._serving[self.env.active_process] = (self.env.now, busy)

    def serve_end(self) -> None:
        self._serving.pop(self.env.active_process, None)

    def admit(self, bounded: bool = True) -> Event | bool | None:
        """Ask for a worker: ``True`` if one is free now (it is taken; nothing to wait for),
        an event to yield that fires when one is handed over (FIFO), or None if the bounded
        queue is full or the server is down after a restart. *bounded* False bypasses both
        (work the server gives itself, such as answering a request it already accepted, is
        never turned away)."""
        if bounded and self.env._now < self.down_until:
            return None
        if self.in_use < self.workers:
            self.in_use += 1
            return True
        if (bounded and self.queue_limit is not None
                and len(self._waiting) >= self.queue_limit):
            return None
        ev = Event(self.env)
        self._waiting.append(ev)
        return ev

    def work(self, cpu_before: float, cpu_after: float, serve: bool = True,
             extra: float = 0.0) -> tuple[float, float]:
        """Start work on the worker just obtained: draws a service time (unless *serve* is
        False: pure encoding work), adds *extra* seconds of business logic to it, and returns
        ``(service, busy)``, busy = cpu_before + service + cpu_after seconds to hold the
        worker."""
        service = (self.service() if serve else 0.0) + extra
        if self.slow:  # overlapping episodes do not compound: the largest factor applies
            now = self.env._now
            slowest = 0.0
            for start, end, factor in self.slow:
                if start <= now < end and factor > slowest:
                    slowest = factor
            if slowest:
                service *= slowest
        busy = cpu_before + service + cpu_after
        self._busy(self.env._now, busy, self.index)
        return service, busy

    def fails(self, probability: float, draw: Callable[[], float]) -> None:
        """Requests fail after their work with *probability*, decided by *draw* (uniform in
        [0, 1))."""
        self.failure = probability
        self._fail = draw

    def failed(self) -> bool:
        """Draw whether the request whose work just ended fails (answered with an error)."""
        return self._fail() < self.failure

    def release(self, req=None) -> None:
        """The worker taken by *req* is done: it goes to the next request in line, if any."""
        if self._waiting:
            self._waiting.popleft().succeed()
        elif self.in_use > 0:  # (0 after a crash: a worker handed over at its very instant)
            self.in_use -= 1

    def visit(self) -> Generator:
        """``yield from``: one piece of work never refused — wait for a worker, hold it for
        a drawn service time, let it go (a hop's CPU per request)."""
        req = self.admit(False)
        if req is not True:
            yield req
        _, busy = self.work(0.0, 0.0)
        yield timeout(self.env, busy)
        self.release(req)

    def serve(self, cpu_before: float, cpu_after: float
              ) -> Generator[Any, Any, tuple[float, float] | None]:
        """``yield from`` it: the three steps in one. Returns ``(queue_wait, service)``, or
        ``None`` if rejected."""
        env = self.env
        t0 = env.now
        req = self.admit()
        if req is None:
            return None
        if req is not True:
            yield req
        waited = env.now - t0
        service, busy = self.work(cpu_before, cpu_after)
        yield timeout(env, busy)
        self.release(req)
        return (waited, service)
