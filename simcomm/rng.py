"""Random streams owned by one run.

A run has one root :class:`numpy.random.SeedSequence` built from its seed. Every component asks
for a stream by *name* (``"arrivals"``, ``"server.service"``, ``"link.up.latency"`` …); the
stream's seed is the root entropy plus a spawn key derived from the name, so

* the same scenario and seed give the same draws on every machine, and
* adding a component (a new name) shifts no other component's numbers, which is what makes
  *common random numbers* work when several patterns are compared on one workload.

Draws are buffered: :class:`Buffered` asks numpy for a block of variates at once and hands
them out one by one, which is several times cheaper than one numpy call per scalar.

A world has streams per client (its session lengths, its updates, its connection's drops …),
so what an idle stream costs is memory per client. :meth:`Streams.generator` gives a numpy
Generator (with its PCG64 bit generator, SeedSequence and lock: about 1.1 kB), cached by name;
:meth:`Streams.stream` gives a :class:`Parked` stream instead, for :class:`Buffered` draws
and the odd direct call (``stream.uniform(0, 1)``): nothing until its first draw, then only
its bit generator's state as one integer between blocks (about 0.1 kB), restored into a
Generator the run shares for each block. ``Buffered(parked, draw)`` is then one
:class:`ParkedBuffered` object (~70 bytes, plus the state and what is left of its block). The
draws are the same either way (same seed, same bit stream).
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Buffered", "Parked", "ParkedBuffered", "Streams"]

BLOCK = 4096
"""Most draws fetched from numpy at once."""
FIRST = 16
"""Draws in a stream's first block (then doubling up to :data:`BLOCK`)."""
FIRST_PARKED = 1
"""The same for a :class:`Parked` stream: most are drawn from a few times in a run (a client's
session lengths), and what a block holds is memory per client."""


def _name_key(name: str) -> int:
    # A stable (not salted like hash()) 64-bit key per stream name.
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


class Streams:
    """Named, independent random generators spawned from one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._cache: dict[str, np.random.Generator] = {}
        self._shared: np.random.Generator | None = None
        """The Generator :class:`Parked` streams are restored into for a block (per run, so
        that runs in threads of one process never share one)."""

    def _bit_generator(self, name: str) -> np.random.PCG64:
        return np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(_name_key(name),)))

    def generator(self, name: str) -> np.random.Generator:
        """The generator for stream *name* (created on first use, then reused)."""
        g = self._cache.get(name)
        if g is None:
            g = self._cache[name] = np.random.Generator(self._bit_generator(name))
        return g

    def stream(self, name: str) -> Parked:
        """Stream *name* as a :class:`Parked` stream for :class:`Buffered` draws: the same
        variates as ``generator(name)`` gives, for a fraction of the memory while idle. Not
        cached: ask once per name and keep it (a second call starts the stream again)."""
        return Parked(self, name)


_M128 = (1 << 128) - 1


class Parked:
    """A random stream kept as its PCG64 state (one integer) between blocks of draws; before
    its first draw, only its name's key. See :meth:`Streams.stream`."""

    __slots__ = ("_state", "_streams")

    def __init__(self, streams: Streams, name: str) -> None:
        self._streams: Streams | ParkedBuffered = streams
        """The run's streams; once a :class:`ParkedBuffered` has taken the stream over, it."""
        self._state: int | None = _name_key(name)
        """The name's spawn key until the first draw (< 2**64: half a name's bytes), then
        PCG64's state, increment, has_uint32 and uinteger packed in one integer (>= 2**128:
        the increment is odd and sits above bit 128); None once taken over."""

    def use(self, fn: Callable[[np.random.Generator], Any]) -> Any:
        """*fn*(generator) with this stream's generator restored, its state kept after."""
        owner = self._streams
        if owner.__class__ is ParkedBuffered:
            return owner.direct(fn)
        out, self._state = _use(owner, self._state, fn)
        return out

    def __getattr__(self, name: str):
        """Any numpy Generator method (``stream.uniform(0, 1)``, ``stream.exponential(2)``):
        the same draws as the Generator of this stream would give."""
        method = getattr(np.random.Generator, name)
        return lambda *args, **kwargs: self.use(lambda g: method(g, *args, **kwargs))


_KEYS = 1 << 64
"""A parked stream's state below this is its name's key: it has not been drawn from."""


def _use(streams: Streams, state: int,
         fn: Callable[[np.random.Generator], Any]) -> tuple[Any, int]:
    """*fn*(generator) with a parked stream's generator — from its spawn key before its first
    draw (*state* < :data:`_KEYS`), else from its packed *state* — restored into the run's
    shared Generator. Returns what *fn* returned and the stream's packed state after it."""
    g = streams._shared
    if g is None:
        g = streams._shared = np.random.Generator(np.random.PCG64(0))
    bits = g.bit_generator
    if state < _KEYS:
        bits.state = np.random.PCG64(np.random.SeedSequence(
            streams.seed, spawn_key=(state,))).state
    else:  # unpack what the last block left (see below)
        bits.state = {"bit_generator": "PCG64",
                      "state": {"state": state & _M128, "inc": (state >> 128) & _M128},
                      "has_uint32": (state >> 256) & 1, "uinteger": state >> 257}
    out = fn(g)
    now = bits.state
    # one integer (~70 bytes) instead of a tuple of four (~160)
    return out, (now["state"]["state"] | now["state"]["inc"] << 128
                 | now["has_uint32"] << 256 | now["uinteger"] << 257)


_EXHAUSTED = iter(())
"""One empty iterator every new Buffered starts with (a new one each is memory per client)."""


class Buffered:
    """Call it to get the next variate; refills a block of draws at a time.

    Blocks start at :data:`FIRST` draws and double at every refill up to :data:`BLOCK`: a
    stream that is drawn from a lot pays one numpy call per 4,096 variates, and one that is
    drawn from a few times (a client's session lengths, its reconnection backoff) holds a few
    dozen floats instead of 4,096 (about 130 kB as a Python list). numpy draws exponential,
    normal, lognormal and uniform variates one after the other from the bit stream, so the
    block sizes do not change them (a test checks it).

    *draw(rng, n)* must return a numpy array of *n* variates. *rng* is a numpy Generator or
    a :class:`Parked` stream (``Buffered(parked, draw)`` then gives a
    :class:`ParkedBuffered`, whose blocks start at :data:`FIRST_PARKED`). Draw from *rng*
    directly only before buffering from it: afterwards the stream stands past the blocks
    fetched so far, which depend on the block schedule (a parked stream refuses: its
    ParkedBuffered took it over).
    """

    __slots__ = ("_draw", "_it", "_n", "_rng")

    def __new__(cls, rng, draw):
        if rng.__class__ is Parked:
            return ParkedBuffered(rng, draw)  # (not a Buffered: __init__ is not called)
        return object.__new__(cls)

    def __init__(self, rng: np.random.Generator,
                 draw: Callable[[np.random.Generator, int], np.ndarray]) -> None:
        self._rng = rng
        self._draw = draw
        self._it = _EXHAUSTED
        self._n = FIRST

    def __call__(self) -> float:
        try:
            return next(self._it)
        except StopIteration:
            n = self._n
            if n < BLOCK:
                self._n = n * 2
            self._it = iter(self._draw(self._rng, n).tolist())
            return next(self._it)


class ParkedBuffered:
    """:class:`Buffered` draws from a :class:`Parked` stream (what ``Buffered(parked, draw)``
    gives): one small object per stream, for streams held per client.

    It takes the parked stream over when it is made — its key, or its state if it was drawn
    from — and the parked object, if anyone keeps it, hands its direct draws to it until the
    first block (a phase drawn once, first); after that a direct draw is an error (the stream
    stands past the blocks fetched, which depend on the block schedule). Between blocks it
    holds the packed state (one integer) and what is left of the block, last draw first (so
    that a draw is a ``pop()``), as 8-byte floats; nothing once the block is used up. Blocks
    start at :data:`FIRST_PARKED` draws and double up to :data:`BLOCK`."""

    __slots__ = ("_block", "_draw", "_n", "_state", "_streams")

    def __init__(self, rng: Parked,
                 draw: Callable[[np.random.Generator, int], np.ndarray]) -> None:
        streams = rng._streams
        if streams.__class__ is not Streams:
            raise RuntimeError("a parked stream feeds one Buffered (ask Streams.stream for "
                               "another name)")
        self._streams = streams
        self._state = rng._state
        rng._streams, rng._state = self, None  # taken over
        self._draw = draw
        self._n = FIRST_PARKED
        self._block = None

    def direct(self, fn: Callable[[np.random.Generator], Any]) -> Any:
        """A direct draw from the parked stream this took over: allowed before the first
        block only."""
        if self._n != FIRST_PARKED:
            raise RuntimeError("this stream was taken over by a Buffered (draw from a stream "
                               "directly only before buffering from it)")
        out, self._state = _use(self._streams, self._state, fn)
        return out

    def __call__(self) -> float:
        b = self._block
        if b is None:
            return self._refill()
        v = b.pop()
        if not b:
            self._block = None
        return v

    def _refill(self) -> float:
        n = self._n
        if n < BLOCK:
            self._n = n * 2
        draw = self._draw
        drawn, self._state = _use(self._streams, self._state, lambda g: draw(g, n))
        if n == 1:
            return drawn[0].item()
        if drawn.dtype == np.float64:
            block = array("d")  # 8 bytes a draw, not 32
            block.frombytes(drawn[:0:-1].tobytes())
        else:
            block = drawn[:0:-1].tolist()
        self._block = block
        return drawn[0].item()
