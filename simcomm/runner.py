"""Running scenarios: ``run`` one pattern entry, ``compare`` all of a scenario's entries.

Every entry of a scenario runs on a fresh :class:`~simcomm.world.World` built from the same
seed. Random streams are named, so the workload (arrival times, payload sizes, think times,
link latencies) is drawn identically for every pattern: common random numbers.

Before any world is built, :func:`simcomm.guard.check` estimates what the entries to run cost
(simulated events, memory, wall time) and refuses, with a :class:`~simcomm.guard.GuardError`
naming the estimate and the fix, what this machine cannot finish; ``force=True`` skips it.
Warnings (Python warnings, also in ``Result.warnings``): an offered load at or above the
server's capacity (:class:`UnstableLoadWarning`) or a link direction's bandwidth
(:class:`OverloadedLinkWarning`), and a run that delivered nothing in its measurement window
(:class:`EmptyRunWarning`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

from . import _gc, guard
from .guard import Limits
from .loader import load, load_file
from .metrics.summary import summarise
from .patterns import PATTERNS
from .result import Result, Results
from .scenario import PatternSpec, Scenario, offered_load
from .world import World

__all__ = ["EmptyRunWarning", "OverloadedLinkWarning", "UnstableLoadWarning", "WarmupWarning",
           "compare", "run"]


class UnstableLoadWarning(UserWarning):
    """The offered load is at or above a capacity (the server's workers; for
    :class:`OverloadedLinkWarning`, a link's bandwidth): queues grow without bound."""


class OverloadedLinkWarning(UnstableLoadWarning):
    """The bytes per second offered to a direction of a client link (from the workload's mean
    rates and sizes) reach its bandwidth: messages queue on it without bound."""


class EmptyRunWarning(UserWarning):
    """The run measured nothing: no delivery in the measurement window."""


class WarmupWarning(UserWarning):
    """``warmup: mser5`` found no clear steady state (too few deliveries, or a truncation
    point at the end of the searched first half of the run)."""


SETUP_WORLD_SHARE = 0.6
"""Part of the set-up (world, then pattern) reported while the world's clients are built:
building them took 33–175 µs per client, installing a pattern 0–70 µs."""


Progress = Callable[[str, float], None]


def _scenario(s: Scenario | dict | str | Path) -> Scenario:
    if isinstance(s, Scenario):
        return s
    if isinstance(s, dict):
        return load(s)
    return load_file(s)


def run(scenario: Scenario | dict | str | Path, variant: int | str = 0, *,
        progress: Progress | None = None, force: bool = False,
        limits: Limits | None = None) -> Result:
    """Run one pattern entry (by index or label) of *scenario*; returns its :class:`Result`.

    Raises :class:`~simcomm.guard.GuardError` before building anything when the run needs more
    memory or time than *limits* (default: :meth:`~simcomm.guard.Limits.machine`) unless
    *force*. *progress(label, fraction)* is called as the run goes, the fraction rising from 0
    to 1 over the set-up (building the world and installing the pattern: the first part, in
    proportion to its estimated share of the run's time, so ~0 for a few clients) and then
    the simulated time."""
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
    if not force:
        guard.check(sc, [spec], limits)
    return _run_spec(sc, spec, progress)


def compare(scenario: Scenario | dict | str | Path, *,
            progress: Progress | None = None, force: bool = False,
            limits: Limits | None = None) -> Results:
    """Run every pattern entry of *scenario* on the same workload; one Result each.

    The guard (see :func:`run`) weighs all the entries together before the first starts: their
    results are all kept, so their memory adds up, as their times do."""
    sc = _scenario(scenario)
    if not force:
        guard.check(sc, sc.variants, limits)
    return Results(_run_spec(sc, spec, progress) for spec in sc.variants)


def _run_spec(sc: Scenario, spec: PatternSpec, progress: Progress | None) -> Result:
    pattern = PATTERNS[spec.name](spec.params)
    notes = []
    rho = offered_load(sc, pattern.requests_per_arrival())
    if not math.isnan(rho) and rho >= 1:
        msg = (f"{spec.label}: offered load ρ = {rho:.2f} ≥ 1 (arrival rate × mean worker time "
               f"/ (workers × instances)): queues grow without bound and latency depends on "
               "the run length")
        notes.append(msg)
        warnings.warn(msg, UnstableLoadWarning, stacklevel=3)
    est = guard.estimate(sc, spec)
    msg = _link_overload(sc, spec, est)
    if msg:
        notes.append(msg)
        warnings.warn(msg, OverloadedLinkWarning, stacklevel=3)
    passes = 2 if sc.warmup_rule == "mser5" else 1
    world = _build_and_run(sc, spec, pattern, progress, est, 0, passes)
    if passes == 2:
        warmup, note = mser5_warmup(world.recorder)
        if note:
            msg = f"{spec.label}: {note}"
            notes.append(msg)
            warnings.warn(msg, WarmupWarning, stacklevel=3)
        sc = sc.model_copy(update={"warmup": warmup})
        if warmup > 0:  # the same world again (same seed), measured from the warm-up found
            world = _build_and_run(sc, spec, PATTERNS[spec.name](spec.params), progress,
                                   est, 1, passes)
        elif progress is not None:
            progress(spec.label, 1.0)
    metrics = summarise(world.recorder, sc.server.workers * sc.server.instances)
    if not metrics["delivered"]:
        msg = _measured_nothing(sc, spec)
        notes.append(msg)
        warnings.warn(msg, EmptyRunWarning, stacklevel=3)
    return Result(scenario=sc, pattern=spec.label, seed=sc.seed, metrics=metrics,
                  recorder=world.recorder, warnings=notes)


def _build_and_run(sc: Scenario, spec: PatternSpec, pattern, progress: Progress | None,
                   est: guard.Estimate, this: int, passes: int) -> World:
    """Build the world of *spec* on *sc*, install *pattern* and run it; *progress* rises over
    the part (*this* of *passes*) of the whole that this pass is."""
    setup_cb = run_cb = None
    if progress is not None:
        label = spec.label
        share = (min(0.9, est.passes * est.setup_seconds / est.seconds) if est.seconds > 0
                 else 0.0)

        def report(f: float) -> None:
            progress(label, (this + f) / passes)

        report(0.0)

        def setup_cb(f: float) -> None:
            report(share * SETUP_WORLD_SHARE * f)

        def run_cb(f: float) -> None:
            report(share + (1 - share) * f)

    with _gc.quiet():  # (the collector's settings during a run: see simcomm/_gc.py)
        world = World(sc, encoding=getattr(spec.params, "encoding", None),
                      headers=spec.headers, connection=spec.connection, proxy=spec.proxy,
                      balancer=spec.balancer, resilience=spec.resilience,
                      sidecar=spec.sidecar, state=spec.state, progress=setup_cb)
        if setup_cb is None:
            pattern.install(world)
        else:
            _install_with_progress(pattern, world, sc.clients.count,
                                   lambda f: report(share * (
                                       SETUP_WORLD_SHARE + (1 - SETUP_WORLD_SHARE) * f)))
        if run_cb is not None:
            run_cb(0.0)
        _gc.settled()
        world.run(run_cb)
    return world


def mser5_warmup(recorder) -> tuple[float, str]:
    """The warm-up MSER-5 finds in a run recorded from time 0: the deliveries' latencies in
    the order their work began (the order the measurement window filters them by) are the
    output series; the warm-up is the start time of the first delivery kept (0: keep all).
    Also a note when the rule did not settle (see :class:`~simcomm.stats.Truncation`), else
    ''."""
    import numpy as np

    from .stats import mser

    t0 = recorder.d_t0.numpy()
    lat = recorder.d_latency.numpy()
    order = np.argsort(t0, kind="stable")
    t0, lat = t0[order], lat[order]
    cut = mser(lat)
    if cut.batches < 4:
        return 0.0, (f"MSER-5 needs at least 20 deliveries, the run made {len(lat)}: no "
                     "warm-up removed; lengthen duration")
    warmup = float(t0[cut.drop]) if cut.drop else 0.0
    if not cut.settled:
        return warmup, (f"MSER-5 put the warm-up at the end of the first half of the run "
                        f"({warmup:.4g} s, {cut.drop} of {len(lat)} deliveries): the run may "
                        "not reach a steady state; lengthen duration")
    return warmup, ""


class _Counting(list):
    """The world's client list while a pattern installs: iterating it reports progress (a
    pattern's set-up is mostly a loop over its clients); a plain list again afterwards."""

    def __init__(self, items, seen) -> None:
        super().__init__(items)
        self.seen = seen

    def __iter__(self):
        if self.seen is None:
            yield from super().__iter__()
            return
        for item in super().__iter__():
            self.seen()
            yield item


def _install_with_progress(pattern, world, clients: int, report) -> None:
    """Install *pattern* on *world*, reporting progress as it goes: a pattern starts its
    per-client processes, or loops over its clients, as it installs, so the larger of the
    processes started and the clients visited so far against the number of clients is the
    fraction done (capped at 1: some patterns start several per client, or loop twice). About
    a hundred reports, whatever the number of clients."""
    env = world.env
    start = env.process  # SimPy binds it on the environment: shadow it for the install only
    step = max(1, clients // 100)
    made = visited = 0
    last = -1

    def tell() -> None:
        nonlocal last
        done = max(made, visited)
        if done // step != last and done % step == 0:
            last = done // step
            report(min(1.0, done / clients))

    def counting(generator):
        nonlocal made
        made += 1
        tell()
        return start(generator)

    def seen() -> None:
        nonlocal visited
        visited += 1
        tell()

    env.process = counting
    plain = world.clients
    world.clients = watched = _Counting(plain, seen)
    try:
        pattern.install(world)
    finally:
        env.process = start
        watched.seen = None  # a pattern that kept it iterates it plainly from now on
        world.clients = plain
    report(1.0)


def _bits(bps: float) -> str:
    for unit, k in (("Gbps", 1e9), ("Mbps", 1e6), ("kbps", 1e3)):
        if bps >= k:
            return f"{bps / k:.3g} {unit}"
    return f"{bps:.3g} bps"


def _link_overload(sc: Scenario, spec: PatternSpec, est: guard.Estimate) -> str:
    """The warning for a client link direction offered its bandwidth or more, or ''."""
    up, down, bw = guard.link_load(sc, spec, est)
    if max(up, down) < 1:
        return ""
    which = "up (towards the server)" if up >= down else "down (towards the clients)"
    link = "the shared link" if sc.network.topology == "shared" else "each client's link"
    return (f"{spec.label}: {link} is offered {_bits(max(up, down) * bw)} {which}, "
            f"≥ its bandwidth {_bits(bw)} (load {max(up, down):.2f}, from the workload's mean "
            "rates and sizes): messages queue without bound and latency depends on the run "
            "length")


def _measured_nothing(sc: Scenario, spec: PatternSpec) -> str:
    """The warning for a run with no delivery in its window, with the likeliest reason."""
    net, w = sc.network, sc.workload
    window = sc.duration - sc.warmup
    rtt = 2 * net.latency.mean + sc.server.service_time.mean
    h = spec.headers or sc.headers
    wire = sc.encoding_table[getattr(spec.params, "encoding", None) or w.encoding].wire
    if w.requests is not None:
        size = h.request + (wire(w.request_size.mean) if w.request_size else 0.0)
    else:
        size = h.update + wire(w.updates.size.mean)
    serialise = size * 8 / net.bandwidth
    copies = 1 / (1 - net.loss)
    if window < rtt:
        why = (f"the window ({window:.3g} s) is shorter than one round trip and service "
               f"(~{rtt:.3g} s); lengthen duration")
    elif serialise >= window / 2:
        why = (f"a {size:.0f} B message takes {serialise:.3g} s to serialise at "
               f"{_bits(net.bandwidth)} (window {window:.3g} s); raise network.bandwidth or "
               "lengthen duration")
    elif copies * net.rto >= window / 4:
        why = (f"with loss {net.loss:g} a message needs {copies:.3g} copies on average, one "
               f"per rto ({net.rto:g} s), against a window of {window:.3g} s; lower "
               "network.loss or lengthen duration")
    else:
        why = "lengthen duration, or check that the workload sends something in the window"
    return (f"{spec.label}: no delivery in the measurement window [{sc.warmup:g} s, "
            f"{sc.duration:g} s): the run measured nothing (latency is NaN); {why}")
