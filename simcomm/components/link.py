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

**Bursty loss** (``network.bursts``): beside independent loss, a two-state Gilbert–Elliott
chain per pipe (E. N. Gilbert, *Capacity of a burst-noise channel*, Bell Syst. Tech. J.
1960; E. O. Elliott, 1963): each segment first moves the chain — good → bad with probability
``enter``, bad → good with ``leave`` — then is lost with ``loss`` in the good state and
``loss_bad`` in the bad one. In the long run the pipe is bad π = enter / (enter + leave) of
the time, bursts last 1 / leave segments on average, and the loss rate is
(1 − π)·loss + π·loss_bad.

**Partitions** (``faults.partitions``): a pipe can be cut for a while; every copy sent then
is lost (and recovered, once the cut is over, by the timeouts that double while it lasts).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

from ..rng import Buffered

__all__ = ["Link", "Pipe"]

UP: Final = 0
DOWN: Final = 1


class Pipe:
    """One direction of a link: its transmitter and what a message meets on it.

    A :class:`~simcomm.components.connection.Connection` uses it to carry a message: it
    reserves the transmitter (``free_at``), serialises (``bit_time`` per byte), draws the
    propagation latency (:attr:`latency`) and which segments are lost (:meth:`losses`,
    :meth:`lost`)."""

    __slots__ = ("_burstdraw", "_lossdraw", "bad", "bit_time", "bursts", "cuts", "direction",
                 "free_at", "latency", "loss", "lossy", "rto")

    def __init__(self, direction: int, bandwidth: float, latency: Callable[[], float],
                 loss: float, loss_draw: Callable[[], float] | None, rto: float,
                 bursts: tuple[float, float, float] | None = None,
                 burst_draw: Callable[[], float] | None = None) -> None:
        self.direction = direction
        self.bit_time = 0.0 if math.isinf(bandwidth) else 8.0 / bandwidth
        """Seconds of serialisation per byte."""
        self.latency = latency
        """Zero-argument callable drawing one propagation latency (seconds)."""
        self.loss = loss
        """Probability that a copy of a segment is lost (independently; the good state's)."""
        self._lossdraw: Any = loss_draw
        self.bursts: Any = bursts
        """Gilbert–Elliott ``(enter, leave, loss_bad)``: per segment the pipe goes from its
        good state to its bad one with probability *enter*, back with *leave*; in the bad
        state a segment is lost with *loss_bad* (None: independent loss only)."""
        self._burstdraw: Any = burst_draw
        self.bad = False
        """In the Gilbert–Elliott bad state now."""
        self.cuts: list[tuple[float, float]] = []
        """Partitions ``[start, end)``: every copy sent meanwhile is lost."""
        self.lossy = bool(loss) or bursts is not None
        """Anything can be lost on it (see :meth:`cut`)."""
        self.rto = rto
        self.free_at = 0.0
        """Simulated time at which the transmitter finishes everything queued so far."""

    def cut(self, start: float, end: float) -> None:
        """A partition: nothing sent in ``[start, end)`` gets through."""
        self.cuts.append((start, end))
        self.lossy = True

    def _cut(self, t: float) -> bool:
        return any(start <= t < end for start, end in self.cuts)

    def _step(self) -> float:
        """One segment through the Gilbert–Elliott chain: its loss probability."""
        enter, leave, loss_bad = self.bursts
        if self.bad:
            if self._burstdraw() < leave:
                self.bad = False
        elif self._burstdraw() < enter:
            self.bad = True
        return loss_bad if self.bad else self.loss

    def lost(self, t: float = 0.0) -> bool:
        """Whether one copy sent at *t* is lost."""
        if self.cuts and self._cut(t):
            return True
        if self.bursts is not None:
            p = self._step()
            return bool(p) and self._lossdraw() < p
        return bool(self.loss) and self._lossdraw() < self.loss

    def losses(self, n: int, t: float = 0.0) -> list[int]:
        """The numbers of the lost ones among *n* segments sent one after the other from *t*
        (a partition at *t* loses them all)."""
        if n <= 0:
            return []
        if self.cuts and self._cut(t):
            return list(range(n))
        if self.bursts is not None:
            out = []
            for i in range(n):
                p = self._step()
                if p and self._lossdraw() < p:
                    out.append(i)
            return out
        if not self.loss:
            return []
        out = []
        j = self.first_loss(n)
        while j < n:
            out.append(j)
            j += 1 + self.first_loss(n - j - 1)
        return out

    def first_loss(self, n: int) -> int:
        """Independent loss only: of *n* segments sent one after the other, the number of the
        first lost one (*n* if none is): one draw, by inversion of the geometric distribution
        — the count of segments before a loss is ⌊ln(1 − u) / ln(1 − loss)⌋. For one segment
        it is exactly :meth:`lost`'s draw (lost iff u < loss)."""
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

    __slots__ = ("down", "name", "pipes", "up")

    def __init__(self, name: str, *, bandwidth: float, latency_dist, loss: float, rto: float,
                 streams, bursts: tuple[float, float, float] | None = None) -> None:
        self.name = name
        pipes: list[Pipe] = []
        for direction, label in ((UP, "up"), (DOWN, "down")):
            lat = latency_dist.sampler(streams.stream(f"{name}.{label}.latency"))
            loss_draw: Any = None
            burst_draw: Any = None
            if loss or bursts is not None:
                g = streams.stream(f"{name}.{label}.loss")
                loss_draw = Buffered(g, lambda gen, n: gen.random(n))
            if bursts is not None:
                g = streams.stream(f"{name}.{label}.bursts")
                burst_draw = Buffered(g, lambda gen, n: gen.random(n))
            pipes.append(Pipe(direction, bandwidth, lat, loss, loss_draw, rto, bursts,
                              burst_draw))
        self.up, self.down = pipes
        self.pipes = (self.up, self.down)
        """``(up, down)``, indexed by direction (one tuple every connection over it shares)."""
