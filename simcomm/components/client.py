"""Clients: who runs requests, when they are online, and their inbound buffer.

A :class:`Client` runs *jobs* (generator functions supplied by a pattern) with at most
``limit`` of them in progress; further jobs wait in FIFO order, so a sync client (``limit=1``)
that is still busy when its next open-loop request is due makes that request wait, and the
wait counts in its latency (it is measured from the intended send time).

Each client holds one :class:`~simcomm.components.connection.Connection` to the server
(``client.connection``), made by the world's :class:`~simcomm.components.path.Path`, and one
:class:`Cpu` (``client.cpu``): the core its event loop runs on, where the CPU work of an async
(callback or readiness-poll) client's requests queues.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator

from .task import start

__all__ = ["Client", "Cpu", "Inbox", "presence"]


Job = Callable[["Client", float], Generator]


class Cpu:
    """One core: CPU work runs on it one job at a time, first come first served.

    Like a link's transmitter (:class:`~simcomm.components.link.Pipe`) it is only the time at
    which it next falls free (``free_at``): no SimPy resource and no process per job. A job
    handed to :meth:`run` starts when the core has finished every job handed to it earlier;
    :meth:`run` returns how long the caller waits (queueing plus the job's own work), and the
    caller yields one timeout of that length. Each job's ``(start, length)`` goes to
    :attr:`account`, if set (e.g. the recorder's ``loop_busy``).
    """

    __slots__ = ("_env", "account", "free_at")

    def __init__(self, env) -> None:
        self._env = env
        self.free_at = 0.0
        """Simulated time at which the core finishes everything queued so far."""
        self.account: Callable[[float, float], None] | None = None
        """Called with ``(start, length)`` of every job."""

    def run(self, work: float) -> float:
        """Queue *work* seconds of CPU; returns the seconds from now until it is done."""
        now = self._env._now
        start = self.free_at
        if start < now:
            start = now
        done = start + work
        self.free_at = done
        if self.account is not None:
            self.account(start, work)
        return done - now


def add_listener(listeners, listener):
    """*listeners* — none (``()``), one callable, or a tuple of them — with *listener* added.
    One listener is kept as itself, not in a tuple of one: a pattern registers one bound
    method for every client, and a tuple each would be memory per client."""
    if listeners == ():
        return listener
    if listeners.__class__ is tuple:
        return (*listeners, listener)
    return (listeners, listener)


def notify(listeners, *args) -> None:
    """Call every listener of *listeners* (as :func:`add_listener` keeps them) with *args*."""
    if listeners.__class__ is tuple:
        for listener in listeners:
            listener(*args)
    else:
        listeners(*args)


class Client:
    __slots__ = ("_cpu", "_listeners", "_waiting", "connection", "env", "inbox", "index",
                 "limit", "online", "running")

    def __init__(self, env, index: int, connection, limit: float) -> None:
        self.env = env
        self.index = index
        self.connection = connection
        """The :class:`~simcomm.components.connection.Connection` to the server."""
        self.limit = limit
        """Most jobs in progress at once (1 for a sync client, ``inf`` for unlimited)."""
        self.running = 0
        self._waiting: deque | tuple = ()
        """Jobs waiting for a slot (an empty tuple until the first waits: memory per client)."""
        self.online = True
        """False during an offline gap (see :func:`presence`)."""
        self._listeners: Callable[[Client, bool], None] | tuple = ()
        """No listener (an empty tuple), one (itself: memory per client, one bound method
        serves every client), or a tuple of them."""
        self.inbox: Inbox | None = None
        """Where arriving updates queue for processing (set up by the update feed; None
        without ``clients.capacity``: an update is processed as it arrives)."""
        self._cpu: Cpu | None = None

    @property
    def cpu(self) -> Cpu:
        """The core the client's event loop runs on (see :class:`Cpu`; made on first use:
        memory per client)."""
        cpu = self._cpu
        if cpu is None:
            cpu = self._cpu = Cpu(self.env)
        return cpu

    def on_presence(self, listener: Callable[[Client, bool], None]) -> None:
        """Call ``listener(client, online)`` whenever the client goes online or offline."""
        self._listeners = add_listener(self._listeners, listener)

    def set_online(self, online: bool) -> None:
        if online != self.online:
            self.online = online
            notify(self._listeners, self, online)

    def submit(self, job: Job, t_intended: float) -> None:
        """Run ``job(self, t_intended)`` now, or when a slot frees."""
        if self.limit == math.inf:  # nothing ever waits: no bookkeeping needed
            start(self.env, job(self, t_intended))  # nobody waits for it; begun now
        elif self.running < self.limit:
            self._start(job, t_intended)
        else:
            w = self._waiting
            if w.__class__ is tuple:
                w = self._waiting = deque()
            w.append((job, t_intended))

    def _start(self, job: Job, t_intended: float) -> None:
        self.running += 1
        self.env.process(job(self, t_intended)).callbacks.append(self._finished)

    def _finished(self, _event) -> None:
        self.running -= 1
        if self._waiting:
            self._start(*self._waiting.popleft())


def presence(env, client: Client, session: Callable[[], float],
             gap: Callable[[], float]) -> Generator:
    """SimPy process: the client is online for session(), offline for gap(), and so on."""
    while True:
        yield env.timeout(session())
        client.set_online(False)
        yield env.timeout(gap())
        client.set_online(True)


class Presence:
    """:func:`presence` without a process: a chain (:mod:`simcomm.components.chain`) whose
    steps flip the client, kept by *timers*. The same draws at the same times: call
    :meth:`start` when the process would have started."""

    __slots__ = ("_client", "_gap", "_in_session", "_session", "_timers")

    def __init__(self, timers, client: Client, session: Callable[[], float],
                 gap: Callable[[], float]) -> None:
        self._timers = timers
        self._client = client
        self._session = session
        self._gap = gap
        self._in_session = True

    def start(self) -> None:
        self._timers.after(self._session(), self)

    def fire(self) -> None:
        self._in_session = not self._in_session
        self._client.set_online(self._in_session)
        self._timers.after(self._session() if self._in_session else self._gap(), self)


class Inbox:
    """A client's inbound buffer and its processing capacity.

    An arriving update is processed at once when the client is idle; otherwise it waits, FIFO,
    in a buffer of at most ``limit`` updates (None: unbounded). Each update takes 1/capacity
    seconds (capacity None: no time at all). ``done(item, arrived)`` is called when an update
    has been processed. :meth:`offer` returns False when the buffer is full (the update is
    dropped; the caller counts it).
    """

    __slots__ = ("_current", "_done", "_env", "_limit", "_owner", "_queue", "_rec", "_service")

    def __init__(self, env, *, capacity: float | None, limit: int | None,
                 done: Callable[..., None], recorder=None, owner=None) -> None:
        self._env = env
        self._service = None if capacity is None else 1.0 / capacity
        self._limit = limit
        self._done = done
        self._owner = owner
        """With an *owner* (its client), ``done(owner, item, arrived)``: one function can
        serve every client's inbox, instead of a closure each."""
        self._queue: deque | tuple = ()
        """Updates waiting (an empty tuple until the first waits: memory per client)."""
        self._current = None
        self._rec = recorder
        """Told how many updates wait after each arrival (``client_buffer_peak``)."""

    def __len__(self) -> int:
        return len(self._queue) + (self._current is not None)

    def offer(self, item, arrived: float) -> bool:
        if self._service is None:
            self._finished_item(item, arrived)
            return True
        if self._current is None:
            self._start(item, arrived)
            return True
        if self._limit is not None and len(self._queue) >= self._limit:
            return False
        q = self._queue
        if q.__class__ is tuple:
            q = self._queue = deque()
        q.append((item, arrived))
        if self._rec is not None:
            self._rec.buffered(len(q))
        return True

    def _finished_item(self, item, arrived: float) -> None:
        if self._owner is None:
            self._done(item, arrived)
        else:
            self._done(self._owner, item, arrived)

    def _start(self, item, arrived: float) -> None:
        self._current = (item, arrived)
        self._env.timeout(self._service).callbacks.append(self._finish)

    def _finish(self, _event) -> None:
        item, arrived = self._current
        self._current = None
        if self._queue:
            self._start(*self._queue.popleft())
        self._finished_item(item, arrived)

