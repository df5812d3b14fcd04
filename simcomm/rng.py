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
Generator the run shares for each block. The draws are the same either way (same seed, same
bit stream).
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Buffered", "Parked", "Streams"]

BLOCK = 4096
"""Most draws fetched from numpy at once."""
FIRST = 16
"""Draws in a stream's first block (then doubling up to :data:`BLOCK`)."""
FIRST_PARKED = 2
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
    its first draw, only its name. See :meth:`Streams.stream`."""

    __slots__ = ("_key", "_state", "_streams")

    def __init__(self, streams: Streams, name: str) -> None:
        self._streams = streams
        self._key: int | None = _name_key(name)
        """The name's spawn key until the first draw (an int: half a name's bytes), then
        None."""
        self._state: int | None = None
        """PCG64's state, increment, has_uint32 and uinteger packed in one integer."""

    def block(self, draw: Callable[[np.random.Generator, int], np.ndarray], n: int):
        """*draw*(generator, *n*) with this stream's generator, continuing where the last
        block stopped."""
        return self.use(lambda g: draw(g, n))

    def use(self, fn: Callable[[np.random.Generator], Any]) -> Any:
        """*fn*(generator) with this stream's generator restored, its state kept after."""
        streams = self._streams
        g = streams._shared
        if g is None:
            g = streams._shared = np.random.Generator(np.random.PCG64(0))
        bits = g.bit_generator
        st = self._state
        if st is None:
            bits.state = np.random.PCG64(np.random.SeedSequence(
                streams.seed, spawn_key=(self._key,))).state
            self._key = None
        else:  # unpack what the last block left (see below)
            bits.state = {"bit_generator": "PCG64",
                          "state": {"state": st & _M128, "inc": (st >> 128) & _M128},
                          "has_uint32": (st >> 256) & 1, "uinteger": st >> 257}
        out = fn(g)
        now = bits.state
        # one integer (~70 bytes) instead of a tuple of four (~160)
        self._state = (now["state"]["state"] | now["state"]["inc"] << 128
                       | now["has_uint32"] << 256 | now["uinteger"] << 257)
        return out

    def __getattr__(self, name: str):
        """Any numpy Generator method (``stream.uniform(0, 1)``, ``stream.exponential(2)``):
        the same draws as the Generator of this stream would give."""
        method = getattr(np.random.Generator, name)
        return lambda *args, **kwargs: self.use(lambda g: method(g, *args, **kwargs))


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
    a :class:`Parked` stream (whose blocks start at :data:`FIRST_PARKED`). Draw from *rng*
    directly only before buffering from it: afterwards the stream stands past the blocks
    fetched so far, which depend on the block schedule.
    """

    __slots__ = ("_draw", "_it", "_n", "_rng")

    def __init__(self, rng: np.random.Generator,
                 draw: Callable[[np.random.Generator, int], np.ndarray]) -> None:
        self._rng = rng
        self._draw = draw
        self._it = _EXHAUSTED
        self._n = FIRST_PARKED if rng.__class__ is Parked else FIRST

    def __call__(self) -> float:
        try:
            return next(self._it)
        except StopIteration:
            n = self._n
            if n < BLOCK:
                self._n = n * 2
            rng = self._rng
            drawn = rng.block(self._draw, n) if rng.__class__ is Parked else self._draw(rng, n)
            if rng.__class__ is Parked and drawn.dtype == np.float64:
                block = array("d")  # a rarely drawn stream: 8 bytes a draw, not 32
                block.frombytes(drawn.tobytes())
                self._it = iter(block)
            else:
                self._it = iter(drawn.tolist())
            return next(self._it)
