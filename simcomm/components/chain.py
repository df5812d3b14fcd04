"""Chains of timeouts: per-client behaviour without a process per client.

A SimPy process per client (a heartbeat, an on/off presence, a topic's update source) costs
its generator frame, the Process and its pending event: about 1 kB a client, which is what
limits a world of a million clients. Where the behaviour is a fixed loop of "wait, then act",
a *chain* does the same with one small object: its ``start()`` asks :class:`Timers` for its
first step, and each step (``fire()``) acts and asks for the next (``timers.after(delay,
self)``). :class:`Timers` keeps every chain's next step in one heap behind one pending SimPy
timeout. :func:`start_all` starts many chains from one process, at the turn the first of their
processes would have started, so that every step comes at the same time, in the same order,
with the same draws as the processes' did (``tests/test_chain.py`` checks it against a process
per chain; ``tests/test_pinned.py`` holds the bundled examples to it).

Where many members do the same thing at the same period from phases of their own (every
client's heartbeats), a :class:`Wheel` is one chain for all of them: one entry in the timers
and two array slots per member instead of a chain object and a heap entry each.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Generator, Iterable
from typing import Protocol

from .task import timeout

__all__ = ["Chain", "Timers", "Wheel", "exact_delay", "start_all"]


class Chain(Protocol):
    def start(self) -> None:
        """Ask the timers for the chain's first step (its process's first wait)."""

    def fire(self) -> None:
        """Take a step: act, then ask the timers for the next."""


def start_all(env, chains: Iterable[Chain]) -> None:
    """Start every chain of *chains*, in order, as a process started now would: at its
    Initialize event (time now, urgent)."""
    env.process(_start(list(chains)))


def _start(chains: list[Chain]) -> Generator:
    for chain in chains:
        chain.start()
    return
    yield


_WAKING = object()
"""Timers._pending while due chains fire."""


class Timers:
    """Many chains' next steps behind one pending SimPy event.

    A chain's pending timeout is ~0.4 kB (the Timeout with its attribute dict, its callback
    list and its entry in SimPy's queue); a world with three chains per client (presence,
    heartbeats, updates) holds three per client all run long. :meth:`after` keeps a chain's
    next step as an entry ``(time, seq, chain)`` in a heap here (~0.1 kB), and one SimPy
    timeout, at the earliest time, calls the due chains' ``fire()``. The time is computed as
    SimPy computes a timeout's (``now + delay``) and the timeout is scheduled at exactly that
    time (:func:`exact_delay`; when no delay from now reaches it, at the float just before,
    from where it re-arms exactly), and chains due at one time fire in the order they were
    scheduled, as their timeouts would. Only events at the very same instant can see a
    different order than with a timeout per chain: with times drawn from continuous
    distributions that does not happen (``tests/test_pinned.py`` holds the examples to it)."""

    __slots__ = ("_at", "_env", "_heap", "_pending", "_seq")

    def __init__(self, env) -> None:
        self._env = env
        self._heap: list = []
        self._seq = 0
        self._pending = None
        """The SimPy timeout waiting for the earliest entry, or None."""
        self._at = math.inf

    @property
    def now(self) -> float:
        return self._env.now

    def after(self, delay: float, chain) -> None:
        """Call ``chain.fire()`` after *delay* seconds (at ``now + delay``, as a timeout)."""
        self.at(self._env._now + delay, chain)

    def at(self, t: float, chain) -> None:
        """Call ``chain.fire()`` at time *t* (not before now)."""
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, chain))
        if t < self._at and self._pending is not _WAKING:
            self._arm(t)  # (a timeout armed for later stays queued, stale: rare)

    def _arm(self, t: float) -> None:
        env = self._env
        ev = timeout(env, exact_delay(env._now, t))  # at t, or just before it (see there)
        ev.callbacks.append(self._wake)
        self._pending = ev
        self._at = t

    def _wake(self, event) -> None:
        if event is not self._pending:
            return  # an earlier entry re-armed the timers: this one is stale
        self._pending = _WAKING  # the chains fired now re-arm nothing: armed once, below
        self._at = math.inf
        heap, now = self._heap, self._env.now
        while heap and heap[0][0] <= now:
            heapq.heappop(heap)[2].fire()
        self._pending = None
        if heap:
            self._arm(heap[0][0])


def exact_delay(now: float, t: float) -> float:
    """The largest delay *d* for which SimPy's ``now + d`` is at most *t*: exactly *t* when
    some *d* reaches it, else the float just below (``now + d`` rounds; when *now* has a bit
    below *t*'s last one, only every other float is reachable). A wake-up there re-arms with
    ``t − now``, exact by then (Sterbenz: *now* is within a factor 2 of *t*)."""
    d = t - now
    if now + d == t:
        return d
    step = 4 * math.ulp(t)
    lo, hi = (d, d + step) if now + d < t else (d - step, d)
    while now + lo > t:  # (never more than once or twice)
        lo -= step
    while now + hi <= t:
        hi += step
    while math.nextafter(lo, math.inf) < hi:  # bisect: now + lo <= t < now + hi
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if now + mid <= t:
            lo = mid
        else:
            hi = mid
    return lo


class Wheel:
    """Many members (numbered ``0 … n−1``) that each act every *period* from a phase of its
    own — one client's heartbeats, for every client — as one chain: ``act(member)`` at each
    member's times ``t₀ = now + phase(member)``, ``t₁ = t₀ + period`` … computed as a chain
    per member computes them (:meth:`Timers.after` at each step), and in the order those
    chains would fire: every member has the same period, so the members keep the order of
    their first times (ties: the lower number first, as it was scheduled first) cycle after
    cycle. One entry in the timers and 16 bytes per member (its number and next time in two
    arrays) instead of a chain object and a heap entry each (~180 bytes). Draws: *phase* is
    called for every member at :meth:`start`, in member order."""

    __slots__ = ("_act", "_members", "_n", "_period", "_phase", "_pos", "_timers", "_times")

    def __init__(self, timers: Timers, n: int, period: float, phase, act) -> None:
        self._timers = timers
        self._n = n
        self._period = period
        self._phase = phase
        self._act = act
        self._members = array("q")
        self._times = array("d")
        self._pos = 0

    def start(self) -> None:
        now = self._timers.now
        phase = self._phase
        self._phase = None
        times = [now + phase(m) for m in range(self._n)]
        order = sorted(range(self._n), key=times.__getitem__)  # stable: ties by number
        self._members = array("q", order)
        self._times = array("d", [times[m] for m in order])
        if self._n:
            self._timers.at(self._times[0], self)

    def fire(self) -> None:
        pos, times = self._pos, self._times
        self._act(self._members[pos])
        times[pos] = times[pos] + self._period  # = now + period, as a chain's next step
        pos += 1
        if pos == self._n:
            pos = 0
        self._pos = pos
        self._timers.at(times[pos], self)
