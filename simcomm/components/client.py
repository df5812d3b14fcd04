"""Clients and their connections.

A :class:`Client` runs *jobs* (generator functions supplied by a pattern) with at most
``limit`` of them in progress; further jobs wait in FIFO order, so a sync client (``limit=1``)
that is still busy when its next open-loop request is due makes that request wait, and the
wait counts in its latency (it is measured from the intended send time).

A :class:`Connection` is a transport connection a client holds. In this version connections are
taken as established before the run (keep-alive): opening costs nothing and is not counted in
``connections_opened``. It tracks how many exchanges are outstanding on it, which gives the
held and idle connection-seconds.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator

__all__ = ["Client", "Connection"]


class Connection:
    __slots__ = ("_active", "_held", "outstanding")

    def __init__(self, recorder) -> None:
        self._held = recorder.conn_held
        self._active = recorder.conn_active
        self.outstanding = 0
        self._held.add(1)  # established before the run

    def begin(self) -> None:
        """An exchange starts using the connection."""
        if self.outstanding == 0:
            self._active.add(1)
        self.outstanding += 1

    def end(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0:
            self._active.add(-1)


Job = Callable[["Client", float], Generator]


class Client:
    __slots__ = ("_waiting", "connection", "env", "index", "limit", "link", "running")

    def __init__(self, env, index: int, link, limit: float, recorder) -> None:
        self.env = env
        self.index = index
        self.link = link
        """The :class:`~simcomm.components.link.Link` this client reaches the server through."""
        self.limit = limit
        """Most jobs in progress at once (1 for a sync client, ``inf`` for unlimited)."""
        self.running = 0
        self._waiting: deque = deque()
        self.connection = Connection(recorder)

    def submit(self, job: Job, t_intended: float) -> None:
        """Run ``job(self, t_intended)`` now, or when a slot frees."""
        if self.limit == math.inf:  # nothing ever waits: no bookkeeping needed
            self.env.process(job(self, t_intended))
        elif self.running < self.limit:
            self._start(job, t_intended)
        else:
            self._waiting.append((job, t_intended))

    def _start(self, job: Job, t_intended: float) -> None:
        self.running += 1
        self.env.process(job(self, t_intended)).callbacks.append(self._finished)

    def _finished(self, _event) -> None:
        self.running -= 1
        if self._waiting:
            self._start(*self._waiting.popleft())
