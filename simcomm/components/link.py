"""Network links.

A :class:`Link` joins two ends and has one :class:`Pipe` per direction (``up``: towards the
server, ``down``: towards the client). A pipe is a FIFO transmitter:

1. a message waits until the transmitter has finished every message handed to it earlier
   (messages queue behind each other on a busy direction);
2. it is serialised in ``bytes · 8 / bandwidth`` seconds;
3. it then propagates for a latency drawn per message from the latency distribution.

Because serialisation is deterministic, the transmitter is just the time at which it next falls
free (``free_at``): no SimPy resource and no process per message. A random propagation delay
could let a later message overtake an earlier one; messages travel on a
:class:`~simcomm.components.connection.Connection`, which keeps each connection's messages in
the order they were sent (different connections sharing a link may overtake each other).

**Loss.** Each copy of a segment is lost with probability ``loss``, independently (drawn
here, :meth:`Pipe.first_loss`). How a loss is noticed and recovered — fast retransmit or the
retransmission timeout ``rto`` (default 200 ms, Linux's minimum RTO; RFC 6298 says 1 s) — and
what it does to the congestion window is the connection's business: see
:mod:`simcomm.components.window`. Loss shows up as delay and as extra messages and bytes
(retransmitted segments, tagged ``retry``), never as silently missing data.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..rng import Buffered

__all__ = ["Link", "Pipe"]

UP, DOWN = 0, 1


class Pipe:
    """One direction of a link: its transmitter and what a message meets on it.

    A :class:`~simcomm.components.connection.Connection` uses it to carry a message: it
    reserves the transmitter (``free_at``), serialises (``bit_time`` per byte), draws the
    propagation latency (:attr:`latency`) and whether a copy is lost (:meth:`lost`)."""

    __slots__ = ("_lossdraw", "bit_time", "direction", "free_at", "latency", "loss", "rto")

    def __init__(self, direction: int, bandwidth: float, latency: Callable[[], float],
                 loss: float, loss_draw: Callable[[], float] | None, rto: float) -> None:
        self.direction = direction
        self.bit_time = 0.0 if math.isinf(bandwidth) else 8.0 / bandwidth
        """Seconds of serialisation per byte."""
        self.latency = latency
        """Zero-argument callable drawing one propagation latency (seconds)."""
        self.loss = loss
        self._lossdraw = loss_draw
        self.rto = rto
        self.free_at = 0.0
        """Simulated time at which the transmitter finishes everything queued so far."""

    def lost(self) -> bool:
        """Draw whether one copy is lost."""
        return self._lossdraw() < self.loss

    def first_loss(self, n: int) -> int:
        """Of *n* segments sent one after the other, the number of the first lost one (*n*
        if none is): one draw, by inversion of the geometric distribution — the count of
        segments before a loss is ⌊ln(1 − u) / ln(1 − loss)⌋. For one segment it is exactly
        :meth:`lost`'s draw (lost iff u < loss)."""
        if n <= 0:
            return n
        u = self._lossdraw()
        if u < self.loss:
            return 0
        if n == 1:
            return 1
        k = int(math.log1p(-u) / math.log1p(-self.loss))
        return k if k < n else n


class Link:
    """A bidirectional link: ``up`` (client → server) and ``down`` (server → client)."""

    __slots__ = ("down", "name", "up")

    def __init__(self, name: str, *, bandwidth: float, latency_dist, loss: float, rto: float,
                 streams) -> None:
        self.name = name
        pipes = []
        for direction, label in ((UP, "up"), (DOWN, "down")):
            lat = latency_dist.sampler(streams.generator(f"{name}.{label}.latency"))
            loss_draw = None
            if loss:
                g = streams.generator(f"{name}.{label}.loss")
                loss_draw = Buffered(g, lambda gen, n: gen.random(n))
            pipes.append(Pipe(direction, bandwidth, lat, loss, loss_draw, rto))
        self.up, self.down = pipes
