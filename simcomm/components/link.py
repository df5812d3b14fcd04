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

    def send(self, size: int, header: int, kind: int, tag: int, flow: int):
        """Hand one message to the transmitter.

        Returns ``(transmission, propagation, retransmission, row)`` — *row* being the recorder
        row of the first copy — either directly, when the message arrives at once (no queue, no
        serialisation, no latency: no event is scheduled), or as the value of an event to
        ``yield``. Callers write::

            r = pipe.send(...)
            if r.__class__ is not tuple:
                r = yield r

        Without loss the event is a single timeout (no process per message)."""
        if self._loss:
            return self.env.process(self._lossy(size, header, kind, tag, flow))
        env = self.env
        now = env._now
        start = self.free_at if self.free_at > now else now
        tx_end = start + size * self._bit_time
        self.free_at = tx_end
        prop = self._latency()
        row = self._rec.message(now, kind, tag, size, header, flow, self.direction,
                                tx_end + prop)
        delay = tx_end + prop - now
        if delay <= 0.0:
            return (0.0, 0.0, 0.0, row)
        return env.timeout(delay, (tx_end - now, prop, 0.0, row))

    def _lossy(self, size: int, header: int, kind: int, tag: int, flow: int) -> Generator:
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
            if self._lossdraw() < self._loss:
                r = rec.message(now, kind, attempt_tag, size, header, flow, self.direction,
                                math.nan)
                if row < 0:
                    row = r
                retrans += self.rto
                attempt_tag = Tag.RETRY
                yield env.timeout(tx_end + self.rto - now)
                continue
            prop = self._latency()
            arrive = tx_end + prop
            r = rec.message(now, kind, attempt_tag, size, header, flow, self.direction, arrive)
            if row < 0:
                row = r
            yield env.timeout(arrive - now)
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
