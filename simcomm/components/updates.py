"""Server-side updates, and the stores that hold them until a pattern carries them.

* :func:`update_source` — a SimPy process creating the updates of one topic: Poisson, periodic
  (a random phase, then every 1/rate) or bursty on/off (Poisson at ``rate`` during ON periods,
  nothing during OFF periods). Each update is handed to ``emit(topic, t_created, size)``.
  :class:`UpdateChain` does the same for Poisson and periodic topics without a process (a
  chain of timeouts: memory per topic, and a world may have a topic per client).
* :class:`Mailbox` — one subscriber's pending updates on the server, with at most one parked
  waiter (a held long poll): the waiter is woken when the pending bytes reach its threshold.
* :class:`Update` — what travels: id, topic, creation time, payload bytes.

None of these knows which pattern uses it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import NamedTuple

from simpy.events import Event

from ..rng import Buffered

__all__ = ["Mailbox", "Update", "UpdateChain", "update_source"]


class Update(NamedTuple):
    uid: int
    topic: int
    t_created: float
    size: float
    """Payload bytes as JSON-sized data (before the encoding's size factor)."""


def update_source(env, *, rate: float, arrival: str, rng, size: Callable[[], float],
                  on_period: Callable[[], float] | None, off_period: Callable[[], float] | None,
                  emit: Callable[[int, float, float], None], topic: int = 0) -> Generator:
    """SimPy process: the updates of *topic*, forever: ``emit(topic, time, size)`` each."""
    timeout = env.timeout
    if arrival == "periodic":
        yield timeout(float(rng.uniform(0.0, 1.0 / rate)))
        while True:
            emit(topic, env.now, size())
            yield timeout(1.0 / rate)
    gap = Buffered(rng, lambda g, n: g.exponential(1.0 / rate, n))
    if arrival == "poisson":
        while True:
            yield timeout(gap())
            emit(topic, env.now, size())
    # bursty: ON for on_period() with Poisson updates, then OFF for off_period()
    while True:
        end = env.now + on_period()
        while True:
            g = gap()
            if env.now + g >= end:
                break
            yield timeout(g)
            emit(topic, env.now, size())
        yield timeout(end - env.now + off_period())


@functools.lru_cache(maxsize=64)
def _exponential(mean: float):
    return lambda g, n: g.exponential(mean, n)  # one per rate, shared by every topic


class UpdateChain:
    """:func:`update_source` for ``poisson`` and ``periodic`` arrivals as a chain
    (:mod:`simcomm.components.chain`) kept by *timers*, each step emitting: the same draws, in
    the same order, at the same times. Call :meth:`start` when the process would have
    started."""

    __slots__ = ("_emit", "_gap", "_period", "_rng", "_size", "_timers", "_topic")

    def __init__(self, timers, *, rate: float, arrival: str, rng, size: Callable[[], float],
                 emit: Callable[[int, float, float], None], topic: int = 0) -> None:
        if arrival not in ("poisson", "periodic"):
            raise ValueError(f"UpdateChain takes poisson or periodic arrivals, not {arrival!r}")
        self._timers = timers
        self._topic = topic
        self._size = size
        self._emit = emit
        self._period = 1.0 / rate if arrival == "periodic" else None
        # periodic: the stream, for its phase; poisson: its gaps (which take the stream over)
        self._rng = rng if arrival == "periodic" else None
        self._gap = None if arrival == "periodic" else Buffered(rng, _exponential(1.0 / rate))

    def start(self) -> None:
        if self._period is not None:
            first = float(self._rng.uniform(0.0, self._period))
            self._rng = None  # drawn from once
        else:
            first = self._gap()
        self._timers.after(first, self)

    def fire(self) -> None:
        self._emit(self._topic, self._timers.now, self._size())
        self._timers.after(self._period if self._period is not None else self._gap(), self)


class Mailbox:
    """Pending updates of one subscriber, held by the server until a response carries them."""

    __slots__ = ("_env", "_min_bytes", "_waiter", "bytes", "items")

    def __init__(self, env) -> None:
        self._env = env
        self.items: list[Update] = []
        self.bytes = 0
        self._waiter = None
        self._min_bytes = 0

    def put(self, update: Update) -> None:
        self.items.append(update)
        self.bytes += update.size
        w = self._waiter
        if w is not None and self.bytes >= self._min_bytes:  # any update wakes a 0-byte waiter
            self._waiter = None
            w.succeed()

    def take(self) -> list[Update]:
        """Everything pending (the snapshot a response carries); the mailbox is then empty."""
        items = self.items
        self.items = []
        self.bytes = 0
        return items

    def ready(self, min_bytes: float = 0.0) -> bool:
        """At least one update is pending, and at least *min_bytes* of them."""
        return bool(self.items) and self.bytes >= min_bytes

    def put_back(self, items: list[Update]) -> None:
        """Return a snapshot that was not sent (the request was refused) to the front."""
        if items:
            self.items[:0] = items
            self.bytes += sum(u.size for u in items)

    def wait(self, min_bytes: float = 0.0):
        """An event that fires when an update is put and at least *min_bytes* are then
        pending (0: any update, whatever its size); one waiter at a time. ``ev.cancel()``
        forgets it (its timeout won)."""
        if self._waiter is not None:
            raise RuntimeError("a mailbox holds one parked waiter at a time")
        ev = _Waiter(self._env, self)
        self._waiter = ev
        self._min_bytes = min_bytes
        return ev

    def cancel(self, ev) -> None:
        """Forget the parked waiter *ev* (its timeout won)."""
        if self._waiter is ev:
            self._waiter = None


class _Waiter(Event):
    """A parked waiter of a :class:`Mailbox`: an event that can forget itself."""

    def __init__(self, env, mailbox: Mailbox) -> None:
        super().__init__(env)
        self._mailbox = mailbox

    def cancel(self) -> None:
        self._mailbox.cancel(self)
