"""Where requests come from: open-loop arrivals, batches, replayed traces and closed-loop callers.

* **Open loop, Poisson**: arrivals at total rate ``rate`` over all clients, each request going
  to a client chosen uniformly (so each client sees a Poisson stream of ``rate / count``).
* **Open loop, periodic**: each client sends every ``count / rate`` seconds, starting at a
  phase drawn uniformly in one period (so the clients do not fire in lock-step).
* **Batches** (``batch: N, every: T``, page loads): each client issues N requests at the same
  instant, every T, its first batch at a phase drawn uniformly in [0, T) from a stream of its
  own (``workload.batch.phase.<i>``), so adding a client moves no other client's batches. The
  N requests go to the client's :meth:`~simcomm.components.client.Client.submit` together: a
  sync client's queue behind each other, an async client's run up to its concurrency limit.
  When the last of a batch has completed (the caller has its response parsed, or its
  rejection), the recorder gets the event ``batch`` at the batch's intended time with the
  batch's time as its value (``batch_time_mean``, ``batch_time_p95``).
* **Trace** (``trace: file.csv``): the recorded arrival times replayed as they are (read when
  the scenario is loaded, :mod:`simcomm.components.trace`); row i goes to the client of its
  ``client_column``, else to client i mod count; a ``size_column`` gives its request payload
  (the job is called with ``size=``). No arrivals after the trace's last row.
* **Closed loop**: each caller thinks for a drawn time, issues a request, waits for its
  completion, and thinks again.

Open-loop arrivals call ``fire(client_index, t_intended)`` at the intended send time; whatever
happens to the request afterwards (waiting for a busy caller included) is the pattern's job.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import partial

import numpy as np

from ..rng import Buffered
from .task import spawn, timeout

__all__ = ["batches", "closed_loop", "drive_requests", "open_loop", "replay"]


def open_loop(env, *, rate: float, arrival: str, count: int, streams,
              fire: Callable[[int, float], None]) -> Generator:
    """SimPy process generating open-loop arrivals forever."""
    if arrival == "poisson":
        scale = 1.0 / rate
        gap = Buffered(streams.generator("arrivals"), lambda g, n: g.exponential(scale, n))
        if count == 1:
            while True:
                yield timeout(env, gap())
                fire(0, env._now)
        pick = Buffered(streams.generator("arrivals.client"),
                        lambda g, n: g.integers(0, count, n))
        while True:
            yield timeout(env, gap())
            fire(pick(), env._now)
    elif arrival == "periodic":
        period = count / rate
        phases = streams.generator("arrivals.phase").uniform(0.0, period, count)
        order = np.argsort(phases, kind="stable").tolist()
        phases = phases[order].tolist()
        k = 0
        while True:
            for idx, phase in zip(order, phases, strict=True):
                t = k * period + phase
                if t > env.now:
                    yield env.timeout(t - env.now)
                fire(idx, t)
            k += 1
    else:  # pragma: no cover - validated by the scenario
        raise ValueError(f"unknown arrival process {arrival!r}")


def batches(env, *, phase: float, every: float,
            fire: Callable[[float], None]) -> Generator:
    """SimPy process of one client's batches: ``fire(t)`` at ``phase + k·every``, k = 0, 1 …"""
    k = 0
    while True:
        t = phase + k * every
        if t > env._now:
            yield env.timeout(t - env._now)
        fire(t)
        k += 1


def replay(env, *, times, fire: Callable[[int, float], None]) -> Generator:
    """SimPy process replaying a trace: ``fire(row, t)`` at each of the (sorted) *times*."""
    for i, t in enumerate(times):
        if t > env._now:
            yield env.timeout(t - env._now)
        fire(i, t)


class _Batch:
    """The requests of one batch still running; records ``batch`` when the last completes."""

    __slots__ = ("env", "job", "left", "record", "t0")

    def __init__(self, env, job, n: int, t0: float, record) -> None:
        self.env, self.job, self.left, self.t0, self.record = env, job, n, t0, record

    def run(self, client, t: float) -> Generator:
        yield from self.job(client, t)
        self.left -= 1
        if not self.left:
            self.record("batch", self.t0, self.env._now - self.t0)


def closed_loop(env, *, think: Callable[[], float],
                call: Callable[[float], Generator]) -> Generator:
    """SimPy process of one closed-loop caller: think, ``yield from call(t_intended)``, repeat."""
    while True:
        yield env.timeout(think())
        yield from call(env.now)


def drive_requests(world, job: Callable[..., Generator], *, callers_per_client: float) -> None:
    """Start the scenario's request workload on *world*: every request issued (counted in
    ``issued``) runs ``job(client, t_intended)``.

    Open loop (rates, batches, traces): each arrival goes to its client's
    :meth:`~simcomm.components.client.Client.submit` (which holds it while the client is at its
    concurrency limit). A traced request with a size runs ``job(client, t_intended,
    size=bytes)``: a job must then take the payload from *size* rather than drawing it. Closed
    loop: each client runs *callers_per_client* callers (must be finite), each thinking, then
    running the job to its end.
    """
    env, rec = world.env, world.recorder
    req = world.scenario.workload.requests
    clients = world.clients
    if req.closed:
        for c in clients:
            think = req.think_time.sampler(world.streams.stream(f"workload.think.{c.index}"))

            def call(t: float, c=c) -> Generator:
                rec.issue(t)
                return job(c, t)

            for _ in range(int(callers_per_client)):
                env.process(closed_loop(env, think=think, call=call))
        return
    n = len(clients)
    issue = rec.issue
    if getattr(req, "batch", None) is not None:
        per_batch, record = req.batch, rec.event
        for c in clients:
            phase = float(world.streams.stream(f"workload.batch.phase.{c.index}")
                          .uniform(0.0, req.every))

            def fire_batch(t: float, c=c) -> None:
                run = _Batch(env, job, per_batch, t, record).run
                for _ in range(per_batch):
                    issue(t)
                    c.submit(run, t)

            env.process(batches(env, phase=phase, every=req.every, fire=fire_batch))
        return
    trace = getattr(req, "arrivals", None)
    if trace is not None:
        sizes, who = trace.sizes, trace.clients

        def fire_row(i: int, t: float) -> None:
            issue(t)
            c = clients[i % n if who is None else who[i]]
            c.submit(job if sizes is None else partial(job, size=sizes[i]), t)

        env.process(replay(env, times=trace.times, fire=fire_row))
        return
    rate = req.rate if req.rate is not None else req.per_client_rate * n

    def fire(i: int, t: float) -> None:
        issue(t)
        clients[i].submit(job, t)

    spawn(env, open_loop(env, rate=rate, arrival=req.arrival, count=n, streams=world.streams,
                         fire=fire))

