"""Network links.

A :class:`Link` joins two ends and has one :class:`Pipe` per direction (``up``: towards the
server, ``down``: towards the client). A pipe is a FIFO transmitter:

1. a message waits until the transmitter has finished every message handed to it earlier
   (messages queue behind each other on a busy direction);
2. it is serialised in ``bytes · 8 / bandwidth`` seconds;
3. it then propagates for a latency drawn per message from the latency distribution.

Because serialisation is deterministic, the transmitter is just the time at which it next falls
free (``free_at``): no SimPy resource and no process per message. A random propagation delay
can let a later message overtake an earlier one; simcomm does not reorder them back.

**Loss.** Each copy is lost with probability ``loss``. The sender notices after the
retransmission timeout ``rto`` (default 200 ms, TCP's minimum RTO, RFC 6298), counted from the end
of the lost copy's serialisation, and hands a new copy to the same FIFO. Loss therefore shows up
as delay and as extra messages and bytes (tagged ``retry``), never as silently missing data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator

from ..metrics.definitions import Tag
from ..rng import Buffered

__all__ = ["Link", "Pipe"]

UP, DOWN = 0, 1


class Pipe:
    """One direction of a link."""

    __slots__ = ("_bit_time", "_latency", "_loss", "_lossdraw", "_rec", "direction", "env",
                 "free_at", "rto")

    def __init__(self, env, direction: int, bandwidth: float, latency: Callable[[], float],
                 loss: float, loss_draw: Callable[[], float] | None, rto: float, recorder) -> None:
        self.env = env
        self.direction = direction
        self._bit_time = 0.0 if math.isinf(bandwidth) else 8.0 / bandwidth
        self._latency = latency
        self._loss = loss
        self._lossdraw = loss_draw
        self.rto = rto
        self._rec = recorder
        self.free_at = 0.0
        """Simulated time at which the transmitter finishes everything queued so far."""

    def transmit(self, size: int, header: int, kind: int, tag: int,
                 flow: int) -> Generator:
        """Carry one message; ``yield from`` it. Returns ``(transmission, propagation,
        retransmission, row)`` where *row* is the recorder row of the first copy."""
        env = self.env
        rec = self._rec
        t_first = env.now
        retrans = 0.0
        row = -1
        attempt_tag = tag
        while True:
            now = env.now
            start = self.free_at if self.free_at > now else now
            tx_end = start + size * self._bit_time
            self.free_at = tx_end
            if self._loss and self._lossdraw() < self._loss:
                r = rec.message(now, kind, attempt_tag, size, header, flow, self.direction,
                                math.nan)
                if row < 0:
                    row = r
                resend_at = tx_end + self.rto
                retrans += resend_at - tx_end
                attempt_tag = Tag.RETRY
                yield env.timeout(resend_at - now)
                continue
            prop = self._latency()
            arrive = tx_end + prop
            r = rec.message(now, kind, attempt_tag, size, header, flow, self.direction, arrive)
            if row < 0:
                row = r
            delay = arrive - now
            if delay > 0:
                yield env.timeout(delay)
            # transmission = everything that was neither propagation nor waiting for an RTO
            return (env.now - t_first - prop - retrans, prop, retrans, row)


class Link:
    """A bidirectional link: ``up`` (client → server) and ``down`` (server → client)."""

    __slots__ = ("down", "name", "up")

    def __init__(self, env, name: str, *, bandwidth: float, latency_dist, loss: float, rto: float,
                 streams, recorder) -> None:
        self.name = name
        pipes = []
        for direction, label in ((UP, "up"), (DOWN, "down")):
            lat = latency_dist.sampler(streams.generator(f"{name}.{label}.latency"))
            loss_draw = None
            if loss:
                g = streams.generator(f"{name}.{label}.loss")
                loss_draw = Buffered(g, lambda gen, n: gen.random(n))
            pipes.append(Pipe(env, direction, bandwidth, lat, loss, loss_draw, rto, recorder))
        self.up, self.down = pipes
