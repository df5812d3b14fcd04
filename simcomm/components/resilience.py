"""Timeouts, retries with backoff, a circuit breaker and a response cache around exchanges.

What a client library (or the client's sidecar proxy, see
:mod:`simcomm.components.sidecar`) does around each request: :meth:`Resilience.exchange`
wraps :meth:`~simcomm.components.path.Path.exchange`; the path calls it when the scenario has
a ``resilience:`` block, so no pattern knows of it.

For one request:

1. **Cache.** With probability ``cache`` the answer is in a local response cache: it is
   delivered at once — no message, no server work.
2. **Breaker** (closed → open → half-open). While open, the request fails at once (no
   message). After ``open_for`` one request goes through as a trial (half-open): its success
   closes the breaker, its failure opens it again. ``failures`` failed tries in a row, closed,
   open it. (Hystrix and resilience4j count a failure *rate* over a window; a run of
   consecutive failures, as Envoy's outlier detection and gobreaker do, is the simpler rule.)
3. **Tries.** Each try is an exchange on the client's connection. It fails when the server
   turns it away (a 503), answers with an error (a 500, ``faults.failure``), or — with a
   ``timeout`` — when no answer came that long after it was sent: the caller stops waiting,
   but the server still works on it and its late answer is thrown away (its worker time is
   wasted; on HTTP/1.1 the client closes the connection, which cannot be reused with an
   answer still due, and the next try opens a new one; HTTP/2 and HTTP/3 reset the stream
   only). A failed try is retried after a **backoff** — ``backoff·2^(k−1)`` before retry k,
   at most ``backoff_max``, drawn uniformly below that with ``jitter`` ("full jitter", M.
   Brooker, *Exponential Backoff And Jitter*, AWS Architecture Blog, 2015) — up to
   ``retries`` times, and not after the ``deadline``.
4. The request's outcome is its last try's: delivered, or failed (``failed`` counts it once;
   ``retries`` counts the retries). Of a delivered request's latency, everything before its
   successful try — the failed tries, timeouts included, and the backoffs — is its ``retry``
   part; the successful try fills the usual parts.

Retries multiply the load on the server: with a timeout shorter than a slow server's answers,
every try adds work to the queue that made it slow — a retry storm.
"""

from __future__ import annotations

import math
from collections.abc import Generator

from ..metrics.definitions import Part
from ..rng import Buffered

__all__ = ["Breaker", "Resilience"]

RETRY = int(Part.RETRY)
CLOSED, OPEN, HALF_OPEN = 0, 1, 2


class Breaker:
    """A circuit breaker of one client (see the module docstring)."""

    __slots__ = ("failures", "open_for", "run", "state", "until")

    def __init__(self, failures: int, open_for: float) -> None:
        self.failures = failures
        self.open_for = open_for
        self.state = CLOSED
        self.run = 0
        """Failed tries in a row."""
        self.until = -math.inf

    def allow(self, now: float) -> bool:
        """May a request go through now?"""
        if self.state == OPEN:
            if now < self.until:
                return False
            self.state = HALF_OPEN  # the trial: this request
            return True
        return self.state == CLOSED

    def record(self, ok: bool, now: float) -> None:
        """A try ended, successfully or not."""
        if ok:
            self.state = CLOSED
            self.run = 0
            return
        self.run += 1
        if self.state == HALF_OPEN or self.run >= self.failures:
            self.state = OPEN
            self.until = now + self.open_for


class Resilience:
    """The policy around one path's exchanges; one breaker per client."""

    def __init__(self, env, recorder, streams, *, timeout: float | None,
                 deadline: float | None, retries: int, backoff: float, backoff_max: float,
                 jitter: bool, breaker: tuple[int, float] | None, cache: float) -> None:
        self.env = env
        self._rec = recorder
        self.timeout = timeout
        self.deadline = deadline
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self._jitter = (Buffered(streams.generator("resilience.jitter"),
                                 lambda g, n: g.random(n)) if jitter and retries else None)
        self._breaker = breaker
        self._breakers: dict[int, Breaker] = {}
        self.cache = cache
        self._hit = (Buffered(streams.generator("resilience.cache"), lambda g, n: g.random(n))
                     if cache else None)

    def _breaker_of(self, conn) -> Breaker | None:
        if self._breaker is None:
            return None
        key = (conn.parent or conn).index
        b = self._breakers.get(key)
        if b is None:
            b = self._breakers[key] = Breaker(*self._breaker)
        return b

    def exchange(self, path, conn, trip, *args, **kw) -> Generator:
        """``yield from``: one request through the policy (arguments as
        :meth:`~simcomm.components.path.Path.exchange`). Returns True if delivered; else
        False, with ``trip.failed`` saying why (see
        :meth:`~simcomm.components.path.Path.turned_away`)."""
        env = self.env
        t0 = env._now
        if self._hit is not None and self._hit() < self.cache:
            return True  # answered from the cache
        breaker = self._breaker_of(conn)
        if breaker is not None and not breaker.allow(t0):
            trip.failed = "open"
            return False
        end = math.inf if self.deadline is None else t0 + self.deadline
        tries = 0
        while True:
            sub = type(trip)(trip.flow, trip.log)
            sub.server = trip.server
            t_try = env._now
            wait = self.timeout if self.timeout is not None else math.inf
            if end - t_try < wait:
                wait = end - t_try
            if math.isinf(wait):
                ok = yield from path._exchange_once(conn, sub, *args, **kw)
            else:
                proc = env.process(path._exchange_once(conn, sub, *args, **kw))
                yield proc | env.timeout(wait)
                if proc.triggered:
                    ok = proc.value if proc.processed else (yield proc)
                else:  # no answer in time: give up on this try; its late answer is wasted
                    ok = None
                    sub.failed = "timeout"
                    proc.callbacks.append(lambda _e, sub=sub: self._late(sub))
                    if not conn.compress:
                        # HTTP/1.1 cannot cancel a request: the client closes the connection
                        # (the next try opens a new one); HTTP/2 and 3 reset just the stream
                        conn.close()
            now = env._now
            if breaker is not None:
                breaker.record(bool(ok), now)
            if ok:
                parts = trip.parts
                for i, v in enumerate(sub.parts):
                    parts[i] += v
                parts[RETRY] += t_try - t0
                trip.request, trip.conn, trip.reached = sub.request, sub.conn, sub.reached
                trip.t_work, trip.busy, trip.service = sub.t_work, sub.busy, sub.service
                return True
            if (tries >= self.retries or now >= end
                    or (breaker is not None and breaker.state == OPEN)):
                trip.failed = sub.failed if sub.failed else False
                return False
            tries += 1
            self._rec.event("retries", t0)
            pause = min(self.backoff_max, self.backoff * 2.0 ** (tries - 1))
            if self._jitter is not None:
                pause *= self._jitter()
            if now + pause >= end:
                trip.failed = sub.failed if sub.failed else False
                return False
            if pause:
                yield env.timeout(pause)

    def _late(self, sub) -> None:
        """The answer of a try given up on arrived (or it was refused): the worker time it
        took delivered nothing."""
        if sub.busy:
            self._rec.waste(sub.t_work, sub.t_work + sub.busy)
