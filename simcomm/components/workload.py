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

__all__ = ["closed_loop", "open_loop"]


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
