"""Sessions and where their state lives: stateful, stateless or in an external store.

A login creates a :class:`Session`; every later request of the workflow carries it, and the
server decides whether it is valid (:meth:`Sessions.check`). Three modes (``state.mode``):

* **stateful** — the session lives in the memory of the instance that served the login (its
  *home*). A request is served only by that instance (the balancer must be ``sticky``; any
  other instance answers 401), and a restart of the home loses the sessions in use it held
  (``sessions_lost``; ones already expired, revoked or given up by their client were dead
  anyway): the next request gets a 401 and the client logs in again (``relogins``).
* **stateless** — the login answers with a signed token (``token_size`` bytes) that every
  later request carries, and any instance verifies it (``verify`` seconds of CPU). Nothing is
  lost at a restart. The price: bigger requests, CPU per request — and no revocation: a token
  revoked (``revoke_after``) keeps working until it expires (``lifetime``); the requests it
  carries meanwhile are ``revoked_accepted``, and the revocation window is the lifetime left.
* **store** — the session lives in an external store (Redis, a database): every request
  costs one lookup there — a round trip of ``store_latency`` each way and ``store_service`` on
  one of its ``store_workers``, before the request's work (the ``store`` part) — and any
  instance can serve it. A lookup fails with ``store_failure``: "the backend is stateless, the
  system is not".

A session also ends when its ``lifetime`` is over (the next request gets a 401: log in again),
and when it is revoked: a stateful or store-backed server refuses it from that moment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator

from ..metrics.definitions import Part
from .server import OwnBooks, Server

__all__ = ["OK", "REVOKED_ACCEPTED", "STORE_FAILED", "UNKNOWN", "Session", "Sessions"]

STORE = int(Part.STORE)
OK, UNKNOWN, REVOKED_ACCEPTED, STORE_FAILED = 0, 1, 2, 3
"""Outcomes of :meth:`Sessions.check`."""


class Session:
    """One login's session."""

    __slots__ = ("alive", "expires", "home", "revoked_at", "sid", "t_login")

    def __init__(self, sid: int, home: int, t_login: float, expires: float,
                 revoked_at: float) -> None:
        self.sid = sid
        self.home = home
        """The instance that served the login (a sticky balancer's target)."""
        self.t_login = t_login
        self.expires = expires
        self.revoked_at = revoked_at
        self.alive = True
        """In use: False once logged out, abandoned by its client or lost."""


class Sessions:
    """The sessions of a run and the rules of its ``state.mode`` (see the module docstring)."""

    def __init__(self, env, recorder, *, mode: str, servers: list[Server], lifetime: float,
                 revoke_after: Callable[[], float] | None, token_size: float, verify: float,
                 store_latency: float, store_service, store_workers: int,
                 store_failure: float, store_draw: Callable[[], float] | None) -> None:
        self.env = env
        self._rec = recorder
        self.mode = mode
        self.lifetime = lifetime
        self._revoke_after = revoke_after
        self.token_size = token_size if mode == "stateless" else 0.0
        """Bytes a token adds to each request after the login (and to the login's answer)."""
        self.verify = verify if mode == "stateless" else 0.0
        """Server CPU per request to verify a token."""
        self._next = 0
        self._held: list[set[Session]] = [set() for _ in servers]
        """stateful: the sessions in each instance's memory."""
        if mode == "stateful":
            for i, server in enumerate(servers):
                server.on_restart(lambda i=i: self._lost(i))
        self.store_latency = store_latency
        self.store = (Server(env, workers=store_workers, service=store_service,
                             queue_limit=None, recorder=OwnBooks()) if mode == "store" else None)
        self.store_failure = store_failure
        self._store_draw = store_draw

    def login(self, home: int) -> Session:
        """A login just succeeded on instance *home*: its new session."""
        now = self.env._now
        self._next += 1
        revoked = now + self._revoke_after() if self._revoke_after is not None else math.inf
        s = Session(self._next, home, now, now + self.lifetime, revoked)
        if self.mode == "stateful":
            self._held[home].add(s)
        if revoked < s.expires:
            window = s.expires - revoked if self.mode == "stateless" else 0.0
            self._rec.event("revocation_window", revoked, window)
        return s

    def logout(self, s: Session) -> None:
        """The workflow logged out: its session is deleted (a stateless token simply stops
        being sent)."""
        if s.alive:
            s.alive = False
            if self.mode == "stateful":
                self._held[s.home].discard(s)

    def abandon(self, s: Session) -> None:
        """The client gave up on session *s* (it got a 401 and logs in again). A stateful
        server still holds it in memory, until it expires or the instance restarts."""
        s.alive = False

    def check(self, s: Session, instance: int, t_sent: float) -> int:
        """Whether the request of session *s* sent at *t_sent*, now at *instance*, is served:
        :data:`OK`, :data:`REVOKED_ACCEPTED` (a stateless token revoked before it was sent,
        accepted all the same) or :data:`UNKNOWN` (a 401: log in again)."""
        now = self.env._now
        if now >= s.expires:
            return UNKNOWN
        if self.mode == "stateless":
            return REVOKED_ACCEPTED if t_sent >= s.revoked_at else OK
        if now >= s.revoked_at or not s.alive:
            return UNKNOWN
        if self.mode == "stateful" and (instance != s.home or s not in self._held[instance]):
            return UNKNOWN
        return OK

    def lookup(self, trip) -> Generator:
        """``yield from`` (store mode): the session lookup in the store — a round trip to it
        and one of its workers — the ``store`` part of the request. Returns False if the
        lookup failed."""
        if self.store is None:
            return True
        env = self.env
        t0 = env._now
        lat = self.store_latency
        if lat:
            yield env.timeout(lat)
        yield from self.store.visit()
        if lat:
            yield env.timeout(lat)
        trip.parts[STORE] += env._now - t0
        return not (self.store_failure and self._store_draw() < self.store_failure)

    def _lost(self, instance: int) -> None:
        """Instance *instance* restarted: the sessions in its memory are gone."""
        held = self._held[instance]
        now = self.env._now
        # in use: not logged out, abandoned, expired or revoked (those were dead already)
        live = [s for s in held if s.alive and s.expires > now and s.revoked_at > now]
        if live:
            self._rec.event("sessions_lost", now, len(live))
        for s in held:
            s.alive = False
        held.clear()
