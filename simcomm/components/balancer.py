"""A load balancer: a hop that sends each request to one of the server's instances.

It plugs into the path (:meth:`~simcomm.components.path.Path.add_hop`) and is the path's
*router*: the instance it picks for a request is where the server work of that request — and
of every answer to it (a parked long poll answered later, a job's status) — runs
(:meth:`Balancer.route`). No pattern knows it is there. For a request coming up it

1. waits for one of its ``workers`` and spends its CPU per request on it (the ``balancer``
   part of the request's latency);
2. picks an instance by its policy (below) — requests of one flow already in flight (an
   upload's chunks) go where the first went;
3. forwards it: the balancer ↔ instance ``latency``, one way (in ``propagation``).

Answers and everything else going down pass back through it with the same latency and no CPU.
The balancer counts, per instance, the requests it routed there and that have not been
answered yet (*outstanding*).

Policies (``balancer.policy``), as nginx, HAProxy and Envoy name them:

* ``round_robin`` — instances in turn;
* ``least_outstanding`` — the instance with the fewest outstanding requests (nginx's
  ``least_conn`` and Envoy's ``LEAST_REQUEST`` with all hosts compared), ties in turn;
* ``random`` — uniform, from the balancer's own random stream;
* ``sticky`` — by session (a cookie naming the instance): a request of a session goes to the
  instance that served its login while it is up; logins (and requests whose home is down) go
  round robin;
* ``consistent_hash`` — by client: each instance owns 100 points of a hash ring (Karger et
  al., STOC 1997; Envoy's ``RING_HASH``), a client goes to the owner of the first point at or
  after its own hash; while an instance is down its clients go to the next owner on the ring,
  and only they move.

An instance that is down (restarting) is skipped by every policy while another is up.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Generator

from ..metrics.definitions import Kind, Part
from ..rng import Buffered
from .connection import UP
from .path import Hop, Path, Trip
from .server import OwnBooks, Server

__all__ = ["POLICIES", "Balancer"]

BALANCER, PROPAGATION = int(Part.BALANCER), int(Part.PROPAGATION)
RETRANSMISSION = int(Part.RETRANSMISSION)
REQUEST, RESPONSE = int(Kind.REQUEST), int(Kind.RESPONSE)
POLICIES = ("round_robin", "least_outstanding", "random", "consistent_hash", "sticky")
VNODES = 100
"""Points per instance on the consistent-hash ring (Envoy's default minimum ring is 1024
points in all; 100 per instance keeps each instance's share within a few per cent)."""


def _hash(key: str) -> int:
    """A stable 64-bit hash (the same on every machine and Python run)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


class Balancer(Hop):
    def __init__(self, env, *, instances: list[Server], policy: str, cpu, workers: int,
                 latency, streams) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown balancing policy {policy!r}")
        self.env = env
        self.instances = instances
        self.policy = policy
        self.books = OwnBooks()
        self.cpu = Server(env, workers=workers, service=cpu, queue_limit=None,
                          recorder=self.books)
        """The balancer's workers: one CPU visit per request (``service`` = its CPU)."""
        self.latency = latency
        """Zero-argument callable: one balancer ↔ instance latency (seconds)."""
        self.outstanding = [0] * len(instances)
        """Per instance: requests routed there and not answered yet."""
        self._next = 0
        self._routes: dict[int, list] = {}
        """Per flow in flight: ``[instance number, requests not answered yet]``."""
        self._draw = (Buffered(streams.generator("balancer.pick"),
                               lambda g, n: g.integers(0, len(instances), n))
                      if policy == "random" else None)
        self._ring: list[int] = []
        self._owners: list[int] = []
        if policy == "consistent_hash":
            points = sorted((_hash(f"instance-{i}-{v}"), i)
                            for i in range(len(instances)) for v in range(VNODES))
            self._ring = [p for p, _ in points]
            self._owners = [i for _, i in points]
        self._homes: dict[str, int] = {}
        self._cuts: dict[int, list] = {}
        """Per instance: partitions ``(start, end, direction, rto)`` from the balancer."""

    def cut(self, instance: int, start: float, end: float, direction: str, rto: float) -> None:
        """A partition between the balancer and *instance* over ``[start, end)``: a message
        sent across it meanwhile (``up``: to the instance, ``down``: from it, ``both``) is
        lost at every copy, resent after a timeout of *rto* that doubles each time, and gets
        through with the first copy sent after the partition."""
        self._cuts.setdefault(instance, []).append((start, end, direction, rto))

    def _held(self, instance: int, way: str) -> float:
        """Seconds a message crossing to or from *instance* now waits for a partition."""
        now = self.env._now
        for start, end, direction, rto in self._cuts.get(instance, ()):
            if start <= now < end and direction in ("both", way):
                t, k = now, 0
                while t < end:
                    t += rto * min(2.0 ** k, 64.0)
                    k += 1
                return t - now
        return 0.0

    # -- the hop protocol ----------------------------------------------------------------------
    def attach(self, path: Path) -> None:
        path.router = self

    def carry(self, trip: Trip, direction: int, size: float, header: float = 0.0,
              kind: int = REQUEST, tag: int = 0) -> Generator:
        env = self.env
        if direction == UP:
            if kind == REQUEST:
                t0 = env._now
                yield from self.cpu.visit()
                trip.parts[BALANCER] += env._now - t0
                self._forward(trip)
        elif kind == RESPONSE:
            self._answered(trip.flow)
        if self._cuts and trip.server is not None:
            held = self._held(trip.server.index, "up" if direction == UP else "down")
            if held:  # a partition between the balancer and the instance
                yield env.timeout(held)
                trip.parts[RETRANSMISSION] += held
        lat = self.latency()
        if lat:
            yield env.timeout(lat)
            trip.parts[PROPAGATION] += lat

    # -- routing -------------------------------------------------------------------------------
    def route(self, trip: Trip) -> Server:
        """The instance where server work for *trip* runs: the one its flow's request went to
        (a request not routed by this balancer — work the server gives itself — is routed
        now by the policy)."""
        server = trip.server
        if server is None:
            got = self._routes.get(trip.flow)
            server = trip.server = self.instances[got[0] if got is not None
                                                  else self._pick(trip)]
        return server

    def _forward(self, trip: Trip) -> None:
        got = self._routes.get(trip.flow)
        if got is None:
            i = self._pick(trip)
            self._routes[trip.flow] = [i, 1]
        else:  # another request of a flow in flight: where the first went
            i = got[0]
            got[1] += 1
        self.outstanding[i] += 1
        trip.server = self.instances[i]

    def _answered(self, flow: int) -> None:
        got = self._routes.get(flow)
        if got is not None:
            self.outstanding[got[0]] -= 1
            got[1] -= 1
            if got[1] == 0:
                del self._routes[flow]

    def _pick(self, trip: Trip) -> int:
        n = len(self.instances)
        policy = self.policy
        if policy == "round_robin":
            return self._in_turn()
        if policy == "least_outstanding":
            start = self._next
            self._next = (start + 1) % n
            best, low = start, None
            for k in range(n):
                i = (start + k) % n
                if self.instances[i].down:
                    continue
                if low is None or self.outstanding[i] < low:
                    best, low = i, self.outstanding[i]
            return best
        if policy == "sticky":  # the session's home while it is up; logins in turn
            s = trip.session
            if s is not None and not self.instances[s.home].down:
                return s.home
            return self._in_turn()
        if policy == "random":
            i = int(self._draw())
            if self.instances[i].down:
                up = [j for j in range(n) if not self.instances[j].down]
                if up:
                    return up[i % len(up)]
            return i
        return self._by_hash(trip)

    def _in_turn(self) -> int:
        """Round robin over the instances that are up (all down: the next in turn)."""
        n = len(self.instances)
        for _ in range(n):
            i = self._next
            self._next = (i + 1) % n
            if not self.instances[i].down:
                return i
        return i

    def _by_hash(self, trip: Trip) -> int:
        conn = trip.conn
        key = "" if conn is None else (conn.parent or conn).name
        h = self._homes.get(key)
        if h is None:
            h = self._homes[key] = _hash(f"client-{key}")
        ring, owners = self._ring, self._owners
        k = bisect.bisect_left(ring, h)
        for step in range(len(ring)):
            i = owners[(k + step) % len(ring)]
            if not self.instances[i].down:
                return i
        return owners[k % len(ring)]
