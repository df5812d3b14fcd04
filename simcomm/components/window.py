"""Congestion windows and loss recovery: TCP (and QUIC) as users feel them.

A message of B bytes travels as ``⌈B / mss⌉`` segments. How fast they may go is decided per
connection and direction by a :class:`Window`, in **rounds** (the classic round-trip model of
TCP latency, Cardwell, Savage & Anderson, INFOCOM 2000):

* A round starts when a segment is sent on an idle window; it ends one round trip after its
  first segment left the transmitter (twice the message's drawn one-way latency: the segment
  out, its acknowledgement back). Until then at most ``cwnd`` segments may be in flight;
  further segments wait for the round's end.
* At a round's end the acknowledgements of the round's segments open the window: in **slow
  start** (``cwnd < ssthresh``) by one segment per acknowledged segment, so a window that was
  filled doubles every round trip (RFC 5681 §3.1); in **congestion avoidance** by about one
  segment per round trip. The window never grows past the path's bandwidth-delay product (in
  segments: ⌈RTT / t_seg⌉ + 1, just enough to keep the transmitter busy through a round
  trip, and at least ``initial_window``): beyond it the transmitter, not the window, is the
  limit. On an unlimited-bandwidth path it is not capped.
* A new connection starts with ``initial_window`` segments (10, RFC 6928); a connection that
  stays open keeps its window between exchanges (``slow_start_after_idle`` resets it to the
  initial window after an idle period longer than the RTO, as Linux does by default with
  ``net.ipv4.tcp_slow_start_after_idle = 1``, RFC 5681 §4.1; many servers turn that off;
  idle is counted from the end of the last round).
  Handshake flights do not use the window (SYNs carry no data; the TLS flights fit in it).

**Loss is per segment**: each copy of a segment is lost with the link's ``loss`` probability,
independently. A lost segment is noticed

* by **fast retransmit** when at least three segments sent after it on the same connection and
  direction arrive (three duplicate acknowledgements, RFC 5681 §3.2): the retransmission
  leaves when the third one's acknowledgement is back — about one round trip after the loss;
  later messages on the connection count too, so a stream of small messages recovers fast;
* otherwise by the **retransmission timeout** (the link's ``rto``, 200 ms by default: Linux's
  minimum RTO; RFC 6298 says 1 s), counted from the end of the lost copy's serialisation —
  or, with ``tail_loss_probe`` (RACK-TLP, RFC 8985; Linux has sent tail loss probes since
  3.10), by a probe two round trips after it (at most the RTO), which recovers it like fast
  retransmit.

Either way the window is halved (``ssthresh = cwnd / 2``, at least 2; Reno/NewReno, once per
window of data); after a timeout it restarts from one segment. A retransmitted copy can be
lost again, and is then recovered by the timeout.

**QUIC** (``protocol: h3``, RFC 9002) differs where it matters: a packet is declared lost when
three later packets are acknowledged *or* when one later packet is acknowledged and 9/8 of a
round trip has passed since it was sent (time threshold), and a tail loss is probed after the
probe timeout ``PTO = RTT + max(4·rttvar, 1 ms) + max_ack_delay`` — modelled with the
round trip of the message and rttvar → 0 (a steady path): RTT + 1 ms + 25 ms — instead of the
RTO. Its congestion control is NewReno as above (RFC 9002 §7, loss reduction factor ½).
Where QUIC really differs is delivery: see :class:`~simcomm.components.connection.Connection`
(in order per stream, not per connection).

Not modelled: CUBIC's window growth and its β = 0.7 (RFC 9438; Reno's halving is used),
SACK's recovery of several losses in one round trip (each lost segment is recovered on its
own, in parallel), RACK's time-based loss detection (RFC 8985), delayed acknowledgements, the
receive window, pacing, queueing loss (loss is drawn, not caused by full buffers) and the
40–66 B of IP/TCP headers of every segment and the pure ACKs, which are not counted in
``bytes``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

__all__ = ["TCP", "Transport", "Window"]

DUPTHRESH: Final = 3
"""Duplicate acknowledgements (TCP) or later acknowledged packets (QUIC) that declare a
segment lost (RFC 5681 §3.2, RFC 9002 §6.1.1)."""
TIME_THRESHOLD: Final = 9 / 8
"""QUIC's time threshold: a packet sent this many round trips before a later acknowledged
packet is lost (RFC 9002 §6.1.2)."""
GRANULARITY: Final = 0.001
"""QUIC's timer granularity ``kGranularity`` (RFC 9002 §6.1.2)."""


@dataclass(frozen=True, slots=True)
class Transport:
    """The transport a connection runs (shared by every connection of a path)."""

    mss: float = 1460.0
    """Segment payload in bytes (1460 B on a 1500 B Ethernet MTU)."""
    initial_window: int = 10
    """Segments a new connection may send in its first round trip (RFC 6928)."""
    quic: bool = False
    """QUIC (HTTP/3): per-stream delivery, QUIC loss detection."""
    slow_start_after_idle: bool = False
    """Reset the window to ``initial_window`` after an idle period longer than the RTO."""
    max_ack_delay: float = 0.025
    """QUIC's ``max_ack_delay`` (25 ms, RFC 9000 §18.2), part of the probe timeout."""
    tail_loss_probe: bool = False
    """TCP: RACK-TLP (RFC 8985) — a tail loss is probed two round trips after the lost
    segment left (PTO = 2·SRTT, §7.2), or at the RTO if that comes first, and recovered
    without collapsing the window."""

    def segments(self, size: float) -> int:
        """Segments a message of *size* bytes takes."""
        return 1 if size <= self.mss else math.ceil(size / self.mss)

    def detect(self, lost_end: float, rtt: float, seg_time: float, later: int) -> float:
        """When the sender learns that a segment whose serialisation ended at *lost_end* was
        lost, given *later* (≥ 1) segments sent right behind it; ``inf`` when that is too few
        (a tail loss: see :meth:`tail`). *rtt* is the round trip, *seg_time* one segment's
        serialisation."""
        third = lost_end + DUPTHRESH * seg_time + rtt if later >= DUPTHRESH else math.inf
        if self.quic and later >= 1:
            first = max(lost_end + seg_time + rtt, lost_end + TIME_THRESHOLD * rtt)
            return min(first, third)
        return third

    def tail(self, lost_end: float, rtt: float, rto: float) -> float:
        """When a tail loss (too few later segments) is retransmitted: the RTO for TCP (or
        its tail loss probe), the probe timeout for QUIC."""
        if self.quic:
            return lost_end + rtt + GRANULARITY + self.max_ack_delay
        if self.tail_loss_probe:
            return lost_end + min(2.0 * rtt, rto)
        return lost_end + rto


TCP = Transport()
"""HTTP/1.1 and HTTP/2's transport with the defaults."""


class Window:
    """The congestion window of one connection in one direction (see the module docstring).

    ``cwnd`` and ``ssthresh`` are in segments; ``used`` is the segments sent in the current
    round, which ends at ``r_end``."""

    __slots__ = ("cwnd", "r_end", "recover", "ssthresh", "used")

    def __init__(self, initial: float) -> None:
        self.cwnd = float(initial)
        self.ssthresh = math.inf
        self.used = 0
        self.r_end = -math.inf
        self.recover = -math.inf
        """Losses of segments sent before this time belong to a window already reduced."""

    def take(self, now: float, n: int, first_end: float, rtt: float, seg_time: float,
             transport: Transport, rto: float) -> int:
        """How many of *n* segments may be sent now (0: wait for :attr:`r_end`), counted as
        sent. A segment sent when the current round is over starts a new one, ending *rtt*
        after *first_end* (when its first segment leaves the transmitter); the window first
        grows by the acknowledgements of the round that ended, up to the bandwidth-delay
        product (*rtt* over one segment's serialisation *seg_time*)."""
        if now >= self.r_end:
            used = self.used
            if used:
                cwnd = self.cwnd
                if cwnd < self.ssthresh:  # slow start: one segment per acknowledged segment
                    cwnd += used
                    if cwnd > self.ssthresh:
                        cwnd = self.ssthresh
                else:  # congestion avoidance: about one segment per round trip
                    cwnd += used / cwnd
                if seg_time > 0.0:
                    limit = float(math.ceil(rtt / seg_time)) + 1.0  # keeps the transmitter busy
                    if limit < transport.initial_window:
                        limit = float(transport.initial_window)
                    if cwnd > limit:
                        cwnd = limit
                self.cwnd = cwnd
                self.used = 0
            if (transport.slow_start_after_idle and now - self.r_end > rto
                    and self.cwnd > transport.initial_window):
                self.cwnd = float(transport.initial_window)
        room = self.cwnd - self.used
        k = n if room >= n else (int(room) if room >= 1.0 else 0)
        if k:
            if self.used == 0:
                self.r_end = first_end + rtt
            self.used += k
        return k

    def lost(self, t_sent: float, timeout: bool, now: float) -> None:
        """A segment sent at *t_sent* was found lost at *now*: halve the window, once per
        window of data; *timeout* (TCP's RTO, not QUIC's probe timeout, which does not
        collapse the window, RFC 9002 §6.2): restart from one segment."""
        if t_sent < self.recover:
            return
        self.ssthresh = max(self.cwnd / 2.0, 2.0)
        self.cwnd = 1.0 if timeout else self.ssthresh
        self.recover = now
