"""Where requests come from: open-loop arrivals and closed-loop callers.

* **Open loop, Poisson**: arrivals at total rate ``rate`` over all clients, each request going
  to a client chosen uniformly (so each client sees a Poisson stream of ``rate / count``).
* **Open loop, periodic**: each client sends every ``count / rate`` seconds, starting at a
  phase drawn uniformly in one period (so the clients do not fire in lock-step).
* **Closed loop**: each caller thinks for a drawn time, issues a request, waits for its
  completion, and thinks again.

Open-loop arrivals call ``fire(client_index, t_intended)`` at the intended send time; whatever
happens to the request afterwards (waiting for a busy caller included) is the pattern's job.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np

from ..rng import Buffered

__all__ = ["closed_loop", "drive_requests", "open_loop"]


def open_loop(env, *, rate: float, arrival: str, count: int, streams,
              fire: Callable[[int, float], None]) -> Generator:
    """SimPy process generating open-loop arrivals forever."""
    if arrival == "poisson":
        scale = 1.0 / rate
        gap = Buffered(streams.generator("arrivals"), lambda g, n: g.exponential(scale, n))
        timeout = env.timeout
        if count == 1:
            while True:
                yield timeout(gap())
                fire(0, env._now)
        pick = Buffered(streams.generator("arrivals.client"),
                        lambda g, n: g.integers(0, count, n))
        while True:
            yield timeout(gap())
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


def closed_loop(env, *, think: Callable[[], float],
                call: Callable[[float], Generator]) -> Generator:
    """SimPy process of one closed-loop caller: think, ``yield from call(t_intended)``, repeat."""
    while True:
        yield env.timeout(think())
        yield from call(env.now)


def drive_requests(world, job: Callable[..., Generator], *, callers_per_client: float) -> None:
    """Start the scenario's request workload on *world*: every request issued (counted in
    ``issued``) runs ``job(client, t_intended)``.

    Open loop: each arrival goes to its client's :meth:`~simcomm.components.client.Client.submit`
    (which holds it while the client is at its concurrency limit). Closed loop: each client
    runs *callers_per_client* callers (must be finite), each thinking, then running the job to
    its end.
    """
    env, rec = world.env, world.recorder
    req = world.scenario.workload.requests
    clients = world.clients
    if req.closed:
        for c in clients:
            think = req.think_time.sampler(world.streams.generator(f"workload.think.{c.index}"))

            def call(t: float, c=c) -> Generator:
                rec.issue(t)
                return job(c, t)

            for _ in range(int(callers_per_client)):
                env.process(closed_loop(env, think=think, call=call))
        return
    n = len(clients)
    rate = req.rate if req.rate is not None else req.per_client_rate * n
    issue = rec.issue

    def fire(i: int, t: float) -> None:
        issue(t)
        clients[i].submit(job, t)

    env.process(open_loop(env, rate=rate, arrival=req.arrival, count=n, streams=world.streams,
                          fire=fire))

