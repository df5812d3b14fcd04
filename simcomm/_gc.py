"""Python's garbage collector while a world is built and run.

A run allocates container objects at a high rate — a trip, its latency parts, an event or a
process per message — and most die young. CPython's cyclic collector runs a young-generation
pass every 700 such allocations and, now and then, a full pass over every tracked object,
which in a world of many clients is every client's connection, chains and streams. Neither
finds much: the run's objects are freed by reference counting, and the world lives to the
end. So while a world is built and run (:func:`quiet`):

* the young-generation threshold is raised to :data:`GEN0` allocations (cycles are still
  collected, in fewer, larger passes);
* once the world is built (:func:`settled`), everything alive is moved to the collector's
  permanent generation (:func:`gc.freeze`): full passes during the run do not walk the
  world again. It goes back (:func:`gc.unfreeze`) when the run ends.

Measured on ``benchmarks/``' worlds: pub/sub fan-out ~20 % faster, a world of many clients
faster still (``benchmarks/README.md``); results are the same to the bit (the collector frees
memory, it never changes what a simulation computes). Nested and concurrent runs (threads:
a Dask worker, a notebook) share one count: the first to start changes the settings, the
last to end restores them.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["GEN0", "quiet", "settled"]

GEN0 = 10_000
"""Container allocations between young-generation collections during a run (CPython's
default is 700)."""

_lock = threading.Lock()
_active = 0
_saved: tuple[int, ...] = ()
_frozen = False


@contextmanager
def quiet() -> Iterator[None]:
    """While the block runs: collect young objects every :data:`GEN0` allocations; after it,
    (the last of nested or concurrent blocks) restore the thresholds and unfreeze what
    :func:`settled` froze."""
    global _active, _saved, _frozen
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(max(GEN0, _saved[0]), *_saved[1:])
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                gc.set_threshold(*_saved)
                if _frozen:
                    gc.unfreeze()
                    _frozen = False


def settled() -> None:
    """The world is built: move what is alive out of the collector's way until the run ends
    (inside :func:`quiet` only; elsewhere nothing)."""
    global _frozen
    with _lock:
        if _active:
            gc.freeze()
            _frozen = True
