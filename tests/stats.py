"""Statistics for tests of stochastic simulations (see STYLE.md, "Tests for stochastic
simulations").

* :func:`replicate` runs R independent replications of a scenario, seeded from
  ``numpy.random.SeedSequence(seed).spawn(R)``, and returns one summary per replication.
* :func:`mean_ci` turns one value per replication (e.g. each run's ``latency_mean``) into a
  Student-t confidence interval. Replications are independent, so their means are i.i.d. and
  nearly normal; per-request latencies of one run are autocorrelated and never used for this.

Replications run in parallel worker processes (``spawn``, so the parent's threads and state
do not matter). A warning raised by ``simcomm.run`` in a worker (e.g.
``UnstableLoadWarning``) is re-raised in the caller, so pytest's ``filterwarnings = error``
still sees it.
"""

from __future__ import annotations

import atexit
import math
import multiprocessing
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

__all__ = ["mean_ci", "replicate", "replication_seeds"]


def mean_ci(values: Sequence[float], confidence: float = 0.999) -> tuple[float, float]:
    """``(mean, half_width)`` of the two-sided Student-t interval with R − 1 degrees of freedom:
    half_width = t_{R−1, (1+confidence)/2} · s / √R, s the sample standard deviation."""
    from scipy.stats import t

    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"need at least 2 values (one per replication), got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"every replication needs a finite value, got {x.tolist()}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    r = x.size
    q = float(t.ppf(0.5 + confidence / 2, r - 1))
    return float(x.mean()), q * float(x.std(ddof=1)) / math.sqrt(r)


def replication_seeds(seed: int, r: int) -> list[int]:
    """The run seeds of *r* independent replications: one 32-bit word of each child of
    ``SeedSequence(seed).spawn(r)``."""
    return [int(ss.generate_state(1)[0]) for ss in np.random.SeedSequence(seed).spawn(r)]


def _run_one(scenario: dict[str, Any]) -> tuple[Mapping[str, Any], list[tuple[type, str]]]:
    """One replication (in a worker): the summary and the warnings it raised."""
    import simcomm

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = simcomm.run(scenario).summary
    return summary, [(w.category, str(w.message)) for w in caught]


_POOLS: dict[int, ProcessPoolExecutor] = {}


def _pool(processes: int) -> ProcessPoolExecutor:
    """A pool of *processes* workers, started once and reused by every test (starting a
    worker imports simcomm: about a second)."""
    pool = _POOLS.get(processes)
    if pool is None:
        pool = _POOLS[processes] = ProcessPoolExecutor(
            processes, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(pool.shutdown)
    return pool


def replicate(scenario: dict[str, Any], r: int, seed: int, *,
              processes: int | None = None) -> list[Mapping[str, Any]]:
    """Run *r* independent replications of *scenario* (a scenario dict) and return their
    ``Result.summary`` mappings, in seed order.

    Replication i runs with ``seed = replication_seeds(seed, r)[i]``; ``detail`` defaults to
    ``summary`` (no per-message frames). *processes* worker processes share the runs (default:
    one per CPU; 1 runs them here, in this process).
    """
    if r < 2:
        raise ValueError(f"need at least 2 replications for a confidence interval, got {r}")
    runs = [{**scenario, "detail": scenario.get("detail", "summary"), "seed": s}
            for s in replication_seeds(seed, r)]
    if processes is None:
        processes = min(r, os.cpu_count() or 1)
    if processes <= 1:
        outcomes = [_run_one(sc) for sc in runs]
    else:
        outcomes = list(_pool(processes).map(_run_one, runs))
    summaries = []
    for summary, caught in outcomes:
        for category, message in caught:
            warnings.warn(message, category, stacklevel=2)
        summaries.append(summary)
    return summaries
