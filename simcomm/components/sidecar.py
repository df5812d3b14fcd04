"""Sidecar proxies: one beside each client, one beside the server (a service mesh: Istio and
Linkerd put an Envoy or linkerd2-proxy next to every application).

A :class:`Sidecar` is a hop (:meth:`~simcomm.components.path.Path.add_hop`); the world plugs
one in nearest the client and one nearest the server, so every message crosses both, each
way: caller → loopback → client sidecar → network → server sidecar → loopback → server, and
back. At each sidecar a message costs

* the loopback hop between the application and its sidecar, ``latency`` one way (in the
  ``propagation`` part);
* the proxy's CPU per message, ``cpu`` (the ``sidecar`` part): at the client's sidecar as a
  plain delay — each client has a sidecar of its own, serving only it — and at the server's
  on one of its ``workers``, so a busy server's sidecar queues (its wait is in ``sidecar``
  too).

With no load a request-response exchange therefore takes 2 × (loopback + CPU) longer per
direction. What the sidecar does for the application — timeouts, retries, a circuit breaker,
a cache (``resilience:``) and mutual TLS between the sidecars (``connection.mtls``) — is the
same as a client library would do, without the hops: see
:mod:`simcomm.components.resilience`.
"""

from __future__ import annotations

from collections.abc import Generator

from ..metrics.definitions import Kind, Part
from .path import Hop, Trip
from .server import OwnBooks, Server

__all__ = ["Sidecar"]

SIDECAR, PROPAGATION = int(Part.SIDECAR), int(Part.PROPAGATION)
REQUEST = int(Kind.REQUEST)


class Sidecar(Hop):
    """One side of a sidecar pair: ``client`` (a delay) or ``server`` (a worker pool)."""

    def __init__(self, env, *, side: str, cpu, latency, workers: int = 1) -> None:
        if side not in ("client", "server"):
            raise ValueError(f"a sidecar is on the client or the server side, not {side!r}")
        self.env = env
        self.side = side
        self.cpu = cpu
        """Zero-argument callable: the proxy's CPU for one message (seconds)."""
        self.latency = latency
        """Zero-argument callable: one loopback hop (seconds)."""
        self.books = OwnBooks()
        self.workers = (Server(env, workers=workers, service=cpu, queue_limit=None,
                               recorder=self.books) if side == "server" else None)

    def carry(self, trip: Trip, direction: int, size: float, header: float = 0.0,
              kind: int = REQUEST, tag: int = 0) -> Generator:
        env = self.env
        t0 = env._now
        if self.workers is None:
            cpu = self.cpu()
            if cpu:
                yield env.timeout(cpu)
        else:
            yield from self.workers.visit()
        trip.parts[SIDECAR] += env._now - t0
        lat = self.latency()
        if lat:
            yield env.timeout(lat)
            trip.parts[PROPAGATION] += lat
