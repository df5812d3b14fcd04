"""Running scenarios: ``run`` one pattern entry, ``compare`` all of a scenario's entries.

Every entry of a scenario runs on a fresh :class:`~simcomm.world.World` built from the same
seed. Random streams are named, so the workload (arrival times, payload sizes, think times,
link latencies) is drawn identically for every pattern: common random numbers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

from .loader import load, load_file
from .metrics.summary import summarise
from .patterns import PATTERNS
from .result import Result, Results
from .scenario import PatternSpec, Scenario, offered_load
from .world import World

__all__ = ["UnstableLoadWarning", "compare", "run"]


class UnstableLoadWarning(UserWarning):
    """The offered load is at or above the server's capacity: queues grow without bound."""


Progress = Callable[[str, float], None]


def _scenario(s: Scenario | dict | str | Path) -> Scenario:
    if isinstance(s, Scenario):
        return s
    if isinstance(s, dict):
        return load(s)
    return load_file(s)


def run(scenario: Scenario | dict | str | Path, variant: int | str = 0, *,
        progress: Progress | None = None) -> Result:
    """Run one pattern entry (by index or label) of *scenario*; returns its :class:`Result`."""
    sc = _scenario(scenario)
    specs = sc.variants
    if isinstance(variant, str):
        matches = [s for s in specs if s.label == variant]
        if not matches:
            raise KeyError(f"no pattern entry labelled {variant!r}; have "
                           f"{[s.label for s in specs]}")
        spec = matches[0]
    else:
        spec = specs[variant]
    return _run_spec(sc, spec, progress)


def compare(scenario: Scenario | dict | str | Path, *,
            progress: Progress | None = None) -> Results:
    """Run every pattern entry of *scenario* on the same workload; one Result each."""
    sc = _scenario(scenario)
    return Results(_run_spec(sc, spec, progress) for spec in sc.variants)


def _run_spec(sc: Scenario, spec: PatternSpec, progress: Progress | None) -> Result:
    pattern = PATTERNS[spec.name](spec.params)
    notes = []
    rho = offered_load(sc, pattern.requests_per_arrival())
    if not math.isnan(rho) and rho >= 1:
        msg = (f"{spec.label}: offered load ρ = {rho:.2f} ≥ 1 (arrival rate × mean worker time "
               f"/ workers): queues grow without bound and latency depends on the run length")
        notes.append(msg)
        warnings.warn(msg, UnstableLoadWarning, stacklevel=3)
    world = World(sc, encoding=getattr(spec.params, "encoding", None), headers=spec.headers,
                  connection=spec.connection, proxy=spec.proxy)
    pattern.install(world)
    cb = None if progress is None else (lambda f: progress(spec.label, f))
    world.run(cb)
    metrics = summarise(world.recorder, sc.server.workers)
    return Result(scenario=sc, pattern=spec.label, seed=sc.seed, metrics=metrics,
                  recorder=world.recorder, warnings=notes)
