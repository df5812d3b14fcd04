"""Random streams owned by one run.

A run has one root :class:`numpy.random.SeedSequence` built from its seed. Every component asks
for a stream by *name* (``"arrivals"``, ``"server.service"``, ``"link.up.latency"`` …); the
stream's seed is the root entropy plus a spawn key derived from the name, so

* the same scenario and seed give the same draws on every machine, and
* adding a component (a new name) shifts no other component's numbers, which is what makes
  *common random numbers* work when several patterns are compared on one workload.

Draws are buffered: :class:`Stream` asks numpy for a block of variates at once and hands them
out one by one, which is several times cheaper than one numpy call per scalar.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

__all__ = ["Buffered", "Streams"]

BLOCK = 4096
"""Most draws fetched from numpy at once."""
FIRST = 16
"""Draws in a stream's first block (then doubling up to :data:`BLOCK`)."""


def _name_key(name: str) -> int:
    # A stable (not salted like hash()) 64-bit key per stream name.
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


class Streams:
    """Named, independent random generators spawned from one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._cache: dict[str, np.random.Generator] = {}

    def generator(self, name: str) -> np.random.Generator:
        """The generator for stream *name* (created on first use, then reused)."""
        g = self._cache.get(name)
        if g is None:
            ss = np.random.SeedSequence(self.seed, spawn_key=(_name_key(name),))
            g = self._cache[name] = np.random.Generator(np.random.PCG64(ss))
        return g


class Buffered:
    """Call it to get the next variate; refills a block of draws at a time.

    Blocks start at :data:`FIRST` draws and double at every refill up to :data:`BLOCK`: a
    stream that is drawn from a lot pays one numpy call per 4,096 variates, and one that is
    drawn from a few times (a client's session lengths, its reconnection backoff) holds a few
    dozen floats instead of 4,096 (about 130 kB as a Python list). numpy draws exponential,
    normal, lognormal and uniform variates one after the other from the bit stream, so the
    block sizes do not change them (a test checks it).

    *draw(rng, n)* must return a numpy array of *n* variates.
    """

    __slots__ = ("_draw", "_it", "_n", "_rng")

    def __init__(self, rng: np.random.Generator,
                 draw: Callable[[np.random.Generator, int], np.ndarray]) -> None:
        self._rng = rng
        self._draw = draw
        self._it = iter(())
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
