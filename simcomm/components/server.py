"""The server: a pool of workers that parse, serve and serialise.

A :class:`Server` knows nothing of patterns. It offers one operation, :meth:`Server.serve`: take
a worker (waiting FIFO in the queue if all are busy), spend ``parse + service + serialise``
seconds of that worker's time, give the worker back. With ``queue_limit`` set, a request that
arrives when all workers are busy and ``queue_limit`` requests are already waiting is rejected
at once (the caller answers it with an error; no worker time is spent).
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import simpy

__all__ = ["Server"]


class Server:
    def __init__(self, env, *, workers: int, service: Callable[[], float],
                 queue_limit: int | None, recorder) -> None:
        self.env = env
        self.workers = workers
        self.pool = simpy.Resource(env, capacity=workers)
        self.service = service
        """Zero-argument callable drawing one service time (seconds)."""
        self.queue_limit = queue_limit
        self._rec = recorder
        self._busy = recorder.server_busy

    def full(self) -> bool:
        """Would a request arriving now be rejected by the bounded queue?"""
        return (self.queue_limit is not None
                and self.pool.count >= self.workers
                and len(self.pool.queue) >= self.queue_limit)

    def serve(self, cpu_before: float, cpu_after: float) -> Generator:
        """``yield from`` it. Returns ``(queue_wait, service_time)``, or ``None`` if rejected.

        *cpu_before* (parsing the request) and *cpu_after* (serialising the response) are
        spent on the same worker around the drawn service time.
        """
        env = self.env
        if self.full():
            return None
        t0 = env.now
        with self.pool.request() as req:
            yield req
            waited = env.now - t0
            service = self.service()
            self._busy.add(1)
            yield env.timeout(cpu_before + service + cpu_after)
            self._busy.add(-1)
        return (waited, service)
