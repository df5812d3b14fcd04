"""Fire-and-forget processes: a generator run as SimPy runs a process, for less.

:func:`spawn` runs a process generator exactly as ``env.process`` does — started by an urgent
event scheduled now (SimPy's ``Initialize``), resumed by a callback appended to each event it
yields, the active process while it runs, interruptible (``Task.interrupt``: a crash stops a
worker's work that way) — but it is for work nobody waits for: when the generator returns no
end event is scheduled, and a :class:`Task` is one small object instead of a
:class:`simpy.Process` and an ``Initialize`` event. ~0.6 µs less per process (measured with
200 000 one-timeout processes, 2.3 against 2.9 µs), which is ~6 % of a request in
``benchmarks/bench_mm1.py``. The events it schedules, and their order, are a process's: only
the end event nobody listens to is left out, which moves no other event.

Use ``env.process`` where something waits for the process (yields it, or adds a callback to
it), and :func:`spawn` for the requests, pushed copies and acknowledgements patterns start and
forget. A generator that raises stops the run with its exception, as a process nobody waits
for does.

:func:`timeout` is ``env.timeout(delay, value)`` for the hot path: scheduled at the same time
with the same priority and the next event id, without the two Python frames of
``Timeout.__init__`` and ``Environment.schedule``, and as a :class:`Tick` — what SimPy uses of a
timeout, in a native object (this module is compiled: :mod:`simcomm._native`). Building a
:class:`simpy.Timeout` (a Python object whose five fields go into a dict) was 40 % of the
time of ``Connection.send`` (measured with ``perf``). A :class:`Task`'s start event is a
:class:`Tick` too. It assumes a plain :class:`simpy.Environment` (simcomm's worlds are), whose
``schedule`` it writes out.

:func:`later` calls a function after a delay, nobody waiting: calls for the same instant share
one event (a fan-out of copies that land together). :func:`run_until` is
``env.run(until=t)`` with SimPy's loop written out here, compiled (a world runs with it).
"""

from __future__ import annotations

import heapq
from collections.abc import Generator
from typing import Any, Final

import simpy.core
import simpy.events
from simpy.events import AllOf, AnyOf, Interruption

__all__ = ["Task", "Tick", "later", "run_until", "spawn", "start", "timeout"]

# (Final: compiled, each is a C static, not a lookup in the module's dict at every use)
heappush: Final = heapq.heappush
heappop: Final = heapq.heappop
NORMAL: Final = simpy.core.NORMAL
URGENT: Final = simpy.core.URGENT
PENDING: Final = simpy.events.PENDING
next_: Final = next
"""(builtins.next, not looked up in the builtins module at every call)"""


class Task:
    """A process nobody waits for (see the module docstring)."""

    __slots__ = ("_gen", "_target", "_value", "env")

    def __init__(self, env, generator: Generator, now: bool = False) -> None:
        self.env = env
        self._gen = generator
        self._value = PENDING
        """PENDING while it runs, None once it has returned (SimPy's interruption reads it)."""
        if now:  # its first step runs in the caller's (see start())
            self._target: Any = None
            outer = env._active_proc
            self._resume(_GO)
            env._active_proc = outer
            return
        start = Tick(env, 0.0, None)  # as SimPy's Initialize: ok, urgent, now
        start.callbacks = [self._resume]
        heappush(env._queue, (env._now, URGENT, next_(env._eid), start))  # env.schedule
        self._target = start
        """The event it waits for."""

    @property
    def is_alive(self) -> bool:
        return self._value is PENDING

    def interrupt(self, cause=None) -> None:
        """Throw :class:`simpy.Interrupt` (*cause*) into it, as ``Process.interrupt``."""
        Interruption(self, cause)  # type: ignore[arg-type]  # a Task, as a Process

    def _resume(self, event) -> None:
        env = self.env
        env._active_proc = self
        gen = self._gen
        while True:
            try:
                if not isinstance(event, Tick) and not event._ok:  # (a Tick never fails)
                    event._defused = True  # handed to the generator, as SimPy does
                    event = gen.throw(event._value)
                else:
                    # (the same read twice on purpose: compiled, a Tick's is in place)
                    value = event._value if isinstance(event, Tick) else event._value  # noqa: RUF034
                    # (next() is send(None) without looking "send" up by name)
                    event = next_(gen) if value is None else gen.send(value)
            except StopIteration:
                self._value = None
                self._target = None
                break
            callbacks = event.callbacks if isinstance(event, Tick) else event.callbacks  # noqa: RUF034 (native read)
            if callbacks is not None:
                callbacks.append(self._resume)
                self._target = event
                break
            # (an event already processed: go on with its value at once, as SimPy does)
        env._active_proc = None


def spawn(env, generator: Generator) -> Task:
    """Run *generator* as a process nobody waits for."""
    return Task(env, generator)


def start(env, generator: Generator) -> Task:
    """Run *generator* as a process nobody waits for, its first step now, in the caller's
    step, instead of at an urgent event scheduled now (one event less per process: ~5 % of
    an M/M/1 request in ``benchmarks/bench_mm1.py``).

    The same things happen at the same times. Only ties can turn: what the first step
    schedules now gets earlier event ids than what the caller schedules after starting it
    (with a start event it was the other way round), so of two such events due at the very
    same instant the task's comes first. With times drawn from continuous distributions
    that does not happen; ``tests/test_task.py`` shows both, and the pins did not move.
    Used where a client begins a request (:meth:`~simcomm.components.client.Client.submit`)."""
    return Task(env, generator, True)


class Tick:
    """A timeout as :func:`timeout` schedules it: what SimPy's loop and processes use of a
    :class:`simpy.Timeout` (``callbacks``, ``_ok``, ``_value``; ``value``, ``triggered``,
    ``processed``, ``ok``; ``|`` and ``&``), in one small object. Compiled, it is a native
    object with its fields in place, where a :class:`simpy.Timeout` is a Python object with a
    dict of five entries to fill (see the module docstring). It is never failed or
    triggered by hand: it succeeds when its time comes."""

    __slots__ = ("_delay", "_ok", "_value", "callbacks", "env")

    def __init__(self, env: Any, delay: float, value: Any) -> None:
        self.env = env
        self.callbacks: list[Any] | None = []
        self._value = value
        self._ok = True
        self._delay = delay

    @property
    def value(self) -> Any:
        return self._value

    @property
    def triggered(self) -> bool:
        return True

    @property
    def processed(self) -> bool:
        return self.callbacks is None

    @property
    def ok(self) -> bool:
        return True

    @property
    def defused(self) -> bool:
        return False

    def __or__(self, other: Any) -> Any:
        events: list[Any] = [self, other]
        return AnyOf(self.env, events)

    def __and__(self, other: Any) -> Any:
        events: list[Any] = [self, other]
        return AllOf(self.env, events)

    def __repr__(self) -> str:
        return f"<Tick({self._delay}) object at {id(self):#x}>"


def timeout(env: Any, delay: float, value: Any = None) -> Any:
    """``env.timeout(delay, value)``, cheaper (see the module docstring)."""
    if delay < 0:
        raise ValueError(f"Negative delay {delay}")
    ev = Tick(env, delay, value)
    heappush(env._queue, (env._now + delay, NORMAL, next_(env._eid), ev))
    return ev


_GO: Final = Tick(None, 0.0, None)
"""The (ok, valueless) event a task started by :func:`start` resumes on first."""


class _Last:
    """Per environment: the event :func:`later` scheduled last, when it is due, and the event
    id its last call took."""

    __slots__ = ("mark", "t", "tick")

    def __init__(self) -> None:
        self.tick: Tick | None = None
        self.t = 0.0
        self.mark = -1


def later(env: Any, delay: float, fn: Any) -> None:
    """Call ``fn(event)`` after *delay* seconds, as a callback of an event scheduled as
    :func:`timeout` schedules one; nobody waits for it.

    **Calls for the same instant share one event** when nothing else was scheduled between
    them: the callbacks of consecutive calls (consecutive event ids) run in one step, in call
    order, instead of one step each — a fan-out of copies that land together (pub/sub,
    ``benchmarks/bench_models.py``) pays one event instead of one per copy. Every callback
    runs at the same time and in the same order as with an event each; each call still takes
    its event id, so later events keep theirs. Only ties can turn, and only through an
    *urgent* event (a process started, an interruption) that a callback schedules for now:
    with an event each it ran before the next call's callback; with a shared event it runs
    after the last one. What each callback gets as its event is the shared one: it must not
    read the event's value (give it its own)."""
    now = env._now
    t = now + delay
    eid: int = next_(env._eid)
    last: _Last | None = getattr(env, "_simcomm_later", None)
    if last is None:
        last = _Last()
        env._simcomm_later = last
    tick = last.tick
    if tick is not None and last.mark == eid - 1 and last.t == t:
        callbacks = tick.callbacks
        if callbacks is not None:  # (not run yet)
            callbacks.append(fn)
            last.mark = eid
            return
    tick = Tick(env, delay, None)
    tick.callbacks = [fn]
    heappush(env._queue, (t, NORMAL, eid, tick))
    last.tick = tick
    last.t = t
    last.mark = eid


def run_until(env: Any, until: float) -> None:
    """``env.run(until=until)`` for a time *until*: SimPy's loop (``Environment.run`` calling
    ``Environment.step``) written out here, compiled, instead of one Python call of
    ``step`` per event (~0.3 µs each; with ``perf``, SimPy's loop was a fifth of a
    short-polling run).

    The same events are processed in the same order with the same outcome: the end of the
    run is marked as SimPy marks it (an urgent event at ``now + (until − now)``, taking the
    next event id); each event is taken off the queue, the clock set to its time, its
    callbacks detached and called in order; a failed event nobody defused stops the run with
    a copy of its exception, as ``step`` raises it. It does not go through
    ``Environment.step``, so a wrapper put on ``step`` (to count events) sees none: use
    ``env.run`` for that."""
    now = env._now
    at = float(until)
    if at <= now:
        raise ValueError(f"until ({at}) must be greater than the current simulation time")
    queue = env._queue
    end = Tick(env, at - now, None)
    heappush(queue, (now + (at - now), URGENT, next_(env._eid), end))
    while queue:
        item = heappop(queue)
        event = item[3]
        env._now = item[0]
        if event is end:
            return
        if isinstance(event, Tick):  # (a Tick's fields are read in place)
            callbacks = event.callbacks
            event.callbacks = None
            if callbacks is not None:
                for callback in callbacks:
                    callback(event)
            continue
        callbacks = event.callbacks
        event.callbacks = None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):
            value = event._value
            exc = type(value)(*value.args)
            exc.__cause__ = value
            raise exc
    raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {end}')
