"""What opening a connection costs: the handshake flights of TCP, TLS and QUIC.

A :class:`Setup` turns a connection configuration (protocol, TLS version, 0-RTT) into the
*flights* a new connection exchanges before its first request can be sent — each flight one
message on the wire (kind ``handshake``, tag ``control``), sent when the previous one has
arrived — and the *early* flights of a 0-RTT resumption, which travel just ahead of the
request instead of before it.

Round trips before the first request byte (``shared/TRANSPORT.md``, with the RFCs):

=========================================  =========  ===================================
stack                                      new        resumed (a client's later connections)
=========================================  =========  ===================================
TCP, no TLS                                1          1
TCP + TLS 1.2 (RFC 5246 §7.3)              1 + 2      1 + 1 (abbreviated handshake)
TCP + TLS 1.3 (RFC 8446 §2)                1 + 1      1 + 1 (PSK, no certificate)
TCP + TLS 1.3, ``zero_rtt`` (RFC 8446 §2.3) 1 + 1      1 + 0 (early data)
QUIC (RFC 9000 §7, RFC 9001)               1          1 (PSK)
QUIC, ``zero_rtt`` (RFC 9001 §4.6)         1          0
=========================================  =========  ===================================

The final ACK of TCP's handshake and the client's TLS ``Finished`` ride with the next client
flight (the request), as real stacks send them, so they are not separate messages.

With ``mtls`` (mutual TLS, as a service mesh's sidecars use between them) a full handshake
also carries the client's certificate chain: in TLS 1.3 and QUIC it rides with the client's
Finished, just ahead of the first request (no extra round trip); in TLS 1.2 it joins the
client's key-exchange flight. A resumed connection authenticates with its ticket instead.

Message sizes (bytes on the wire, headers included; round figures, sources in comments) are
the defaults below. Not modelled: TCP Fast Open, QUIC's anti-amplification limit (a server
may send at most 3× what it received before the client's address is validated, which can add
a round trip for large certificate chains), HelloRetryRequest, OCSP, and certificate chains of
other sizes (a knob when it matters).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DOWN", "UP", "Setup"]

UP, DOWN = 0, 1

SYN = 60.0
"""A TCP SYN or SYN-ACK: 20 B IPv4 + 40 B TCP header with options (MSS, SACK, timestamps,
window scale)."""
CLIENT_HELLO = 517.0
"""A TLS ClientHello as browsers send it (Chrome pads it to 517 B)."""
SERVER_FULL = 4000.0
"""A server's first TLS flight with its certificate chain: ServerHello, certificate(s) (a
leaf and an intermediate, ~1.5 KB each for RSA-2048) and the rest — about 4 KB."""
SERVER_RESUMED = 200.0
"""A server's flight when resuming (PSK or session ticket): no certificate, ~200 B."""
TLS12_CLIENT_KEYS = 126.0
"""TLS 1.2: ClientKeyExchange (ECDHE) + ChangeCipherSpec + Finished."""
TLS12_SERVER_FINISHED = 51.0
"""TLS 1.2: the server's ChangeCipherSpec + Finished."""
QUIC_INITIAL = 1200.0
"""A QUIC client Initial: padded to at least 1200 B (RFC 9000 §14.1)."""
CLIENT_CERT = 3300.0
"""Mutual TLS: the client's Certificate (a leaf and an intermediate, ~1.5 KB each) and
CertificateVerify (~260 B for RSA-2048), sent with its Finished in a full handshake (RFC 8446
§4.4; a resumption authenticates with the PSK and sends none)."""


@dataclass(frozen=True)
class Setup:
    """The handshake of one kind of connection (see the module docstring)."""

    protocol: str = "h1"
    """``h1`` / ``h2``: TCP (+ TLS); ``h3``: QUIC (TLS 1.3 inside)."""
    tls: str = "1.3"
    """``none``, ``1.2`` or ``1.3`` (ignored for h3, which is always TLS 1.3)."""
    zero_rtt: bool = False
    """Resumed connections send the request in the first flight."""
    mtls: bool = False
    """Mutual TLS: a full handshake also carries the client's certificate chain."""

    def flights(self, resumed: bool) -> tuple[tuple[int, float], ...]:
        """``(direction, bytes)`` of each flight before the first request can go."""
        if self.protocol == "h3":
            if resumed and self.zero_rtt:
                return ()
            return ((UP, QUIC_INITIAL), (DOWN, SERVER_RESUMED if resumed else SERVER_FULL))
        tcp = ((UP, SYN), (DOWN, SYN))
        if self.tls == "none":
            return tcp
        if self.tls == "1.2":
            if resumed:  # abbreviated handshake: 1 RTT
                return (*tcp, (UP, CLIENT_HELLO), (DOWN, SERVER_RESUMED))
            keys = TLS12_CLIENT_KEYS + (CLIENT_CERT if self.mtls else 0.0)
            return (*tcp, (UP, CLIENT_HELLO), (DOWN, SERVER_FULL), (UP, keys),
                    (DOWN, TLS12_SERVER_FINISHED))
        if resumed and self.zero_rtt:
            return tcp
        return (*tcp, (UP, CLIENT_HELLO), (DOWN, SERVER_RESUMED if resumed else SERVER_FULL))

    def early(self, resumed: bool) -> tuple[tuple[int, float], ...]:
        """Flights that go just ahead of the first request and response instead of a round
        trip before them: a 0-RTT resumption's (the ClientHello carrying the request, the
        server's answer to it), or, with mutual TLS in a full TLS 1.3 or QUIC handshake, the
        client's certificate flight (it rides with the client's Finished and the request)."""
        if self.mtls and not resumed and (self.protocol == "h3" or self.tls == "1.3"):
            return ((UP, CLIENT_CERT),)
        if not (resumed and self.zero_rtt):
            return ()
        hello = QUIC_INITIAL if self.protocol == "h3" else CLIENT_HELLO
        return ((UP, hello), (DOWN, SERVER_RESUMED))

    def round_trips(self, resumed: bool) -> int:
        """Round trips before the first request byte (for documentation and tests)."""
        return sum(1 for d, _ in self.flights(resumed) if d == UP)
