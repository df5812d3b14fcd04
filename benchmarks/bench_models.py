"""Short polling and pub/sub throughput: simcomm against hand-written plain-SimPy models.

What it measures
----------------
Two of issue 10's three models (the third, M/M/1 request-response, is ``bench_mm1.py``), each
simulated for a fixed simulated time two ways in one process, with the same parameters:

**polling** — short polling: 1 000 clients each poll every 1 s (the first poll at a uniform
random phase within the first second, no jitter); every client gets its own Poisson updates at
0.1/s; 25 ms one-way links (unlimited bandwidth); 4 workers, 1 ms constant service time.

* **baseline** — one process per client (its poll loop) and one Poisson source per client
  appending each update's creation time to the client's mailbox (a plain list, since a poll
  takes all of it at once). Per poll: a 25 ms timeout up; the mailbox is read and emptied as
  the poll arrives; a ``simpy.Resource(capacity=4)`` worker is requested and held for 1 ms;
  a 25 ms timeout down; then one float (now − created) is appended per update carried. An
  empty poll does the same work and carries nothing. The next poll is due 1 s after the
  previous one was due (at once if that has passed).
* **simcomm** — ``pattern: {name: short_polling, interval: 1s}`` (``snapshot: arrival``, the
  default: the pending updates are read as the poll arrives, before it waits for a worker;
  ``answer_work`` 0), ``workload.updates: {scope: per_client, rate: 0.1/s}``, the same
  network, ``server: {workers: 4, service_time: 1ms}``, every header size 0, encoding
  ``none`` (no parse or serialisation CPU), one warm HTTP/2 connection per client.

Both pay per poll two link crossings and one worker visit of the service time, and per update
one creation and one delivery. Expected: 0.1 × 1 000 = 100 deliveries per simulated second
(minus those still on their way at the end), P(empty poll) = e^−0.1 ≈ 0.90, and a mean
latency of T/2 + s + d = 0.5 + 0.001 + 0.025 ≈ 0.526 s (an update waits half an interval on
average for the next poll to reach the server, then the service and the way down).

**pubsub** — one topic, 100 publishes per second, 100 subscribers, 5 ms one-way links
(unlimited bandwidth); the broker has 4 workers, 1 ms constant service per publish plus
20 µs of routing per copy (simcomm's default ``per_copy``), push consumers, at-most-once.
Publishes are periodic (a random phase, then every 10 ms), so that both runs create the same
number of messages and the same-world check below is sharp: with Poisson publishes the two
counts would differ by ±2–3 % from their different random streams alone, and the queueing
Poisson arrivals would add at 7.5 % load per worker is negligible anyway.

* **baseline** — a source starting one process per publish: a 5 ms timeout up (the
  publisher's link); a ``simpy.Resource(capacity=4)`` worker held for 1 ms + 100 × 20 µs;
  then one process per copy (each subscriber has its own link): a 5 ms timeout down and one
  float (now − created) appended.
* **simcomm** — ``pattern: {name: pubsub}`` (consumer push, delivery at_most_once,
  ``per_copy`` 20 µs), ``workload.updates: {scope: global, rate: 100/s, arrival:
  periodic}``, ``clients.count: 100``, the same network and server, headers 0, encoding
  ``none``, HTTP/2 (one connection per subscriber and one for the publisher).

Both pay per publish one link crossing up and one worker visit, and per copy one link
crossing down and one delivery (the baseline with a process and a timeout per copy; simcomm
hands each copy to its subscriber's connection, and the copies that land at one instant
share one event: ``simcomm.components.task.later``). Expected: 100 × 100 = 10 000
deliveries per simulated second and a latency of 2d + s + 100 × per_copy = 13 ms for every
copy (a publish never waits for a worker).

**An item is a delivery**: an update reaching a client (a copy reaching a subscriber).

For each model and each of the baseline, simcomm at ``detail: summary`` and simcomm at
``detail: full`` it reports (as ``bench_mm1.py`` does, with its timing helpers)

* **throughput**: deliveries per wall-clock second, the best of ``--repeat`` runs, the three
  run alternately so that drift in a shared machine's speed hits them alike; the simcomm time
  is the whole ``simcomm.run`` call (validating, simulating, summarising);
* **ratio**: simcomm throughput / baseline throughput (1.0 = as fast as hand-written SimPy);
* **bytes per delivery**: peak ``tracemalloc`` traced memory over one separate run of the
  baseline and of simcomm at ``detail: summary``, divided by the deliveries. For polling it is
  dominated by the per-client state (1 000 clients and connections), not by the deliveries,
  so it falls as the run gets longer;
* **agreement**: deliveries and mean latency of simcomm (summary) against the baseline, as a
  relative difference, so that a reader sees both simulate the same world (different random
  streams: they agree statistically, not exactly; "agree" = both within 5 %).

How to run
----------
::

    python benchmarks/bench_models.py                       # both models, best of 3
    python benchmarks/bench_models.py --models pubsub --scale 0.2 --repeat 1
    python benchmarks/bench_models.py --polling-duration 30 --pubsub-duration 5
    python benchmarks/bench_models.py --json                # machine-readable
    python benchmarks/bench_models.py --check               # exit 1 if a target fails

How to read it
--------------
Issue 10's targets, per model: a throughput ratio of at least 1.0 at ``detail: summary``
(simcomm as fast as the hand-written model) and at least 0.8 at ``detail: full``. Each is
printed with PASS/FAIL. The script is a report, not a test: it exits 0 whatever the figures
unless ``--check`` is given. Timings on a shared machine vary by ±10–20 %; compare figures
from the same machine and load.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import simpy

import simcomm

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # bench_mm1's timing helpers, whichever folder this is run from
    sys.path.insert(0, _HERE)
from bench_mm1 import _cpu_count, _peak_bytes, _timed  # noqa: E402

TARGET_SUMMARY = 1.0
"""simcomm at detail: summary must reach at least this fraction of the baseline's throughput."""
TARGET_FULL = 0.8
"""simcomm at detail: full must reach at least this fraction of the baseline's throughput."""
AGREE = 0.05
"""Deliveries and mean latency of the two models agree when within this relative difference."""

NO_HEADERS = {"request": 0, "response": 0, "update": 0, "ack": 0, "body": 0, "item": 0}
"""The baselines send no bytes: no header is counted (with unlimited bandwidth bytes cost no
time anyway, only the recorder's bookkeeping)."""


# ---------------------------------------------------------------------------------------------
# Short polling

POLL_CLIENTS = 1000
POLL_INTERVAL = 1.0
"""Seconds between a client's polls."""
POLL_UPDATE_RATE = 0.1
"""Updates per second per client."""
POLL_LATENCY = 0.025
"""One-way link latency, seconds."""
POLL_WORKERS = 4
POLL_SERVICE = 0.001
"""Worker seconds per poll (constant)."""


def polling_baseline(duration: float, seed: int = 1) -> list[float]:
    """Short polling in plain SimPy; returns the latency of every delivery."""
    env = simpy.Environment()
    workers = simpy.Resource(env, capacity=POLL_WORKERS)
    phases = random.Random(seed)
    gaps = random.Random(seed + 1)
    latencies: list[float] = []
    mailboxes: list[list[float]] = [[] for _ in range(POLL_CLIENTS)]

    def updates(env: simpy.Environment, i: int):
        while True:
            yield env.timeout(gaps.expovariate(POLL_UPDATE_RATE))
            mailboxes[i].append(env.now)

    def client(env: simpy.Environment, i: int, due: float):
        while True:
            if due > env.now:
                yield env.timeout(due - env.now)
            yield env.timeout(POLL_LATENCY)             # the poll goes up
            pending = mailboxes[i]                      # read as the poll arrives
            mailboxes[i] = []
            with workers.request() as req:
                yield req
                yield env.timeout(POLL_SERVICE)
            yield env.timeout(POLL_LATENCY)             # the answer comes down
            now = env.now
            for t_created in pending:
                latencies.append(now - t_created)
            due += POLL_INTERVAL
            if due < env.now:
                due = env.now

    for i in range(POLL_CLIENTS):
        env.process(updates(env, i))
        env.process(client(env, i, phases.uniform(0.0, POLL_INTERVAL)))
    env.run(until=duration)
    return latencies


def polling_scenario(duration: float, detail: str = "summary", seed: int = 1) -> dict[str, Any]:
    """The simcomm scenario equivalent to :func:`polling_baseline`."""
    return {
        "name": "polling-bench",
        "duration": duration,
        "warmup": 0,
        "seed": seed,
        "detail": detail,
        "network": {"latency": POLL_LATENCY, "bandwidth": "unlimited"},
        "headers": NO_HEADERS,
        "workload": {"updates": {"scope": "per_client", "rate": f"{POLL_UPDATE_RATE}/s"},
                     "encoding": "none"},
        "server": {"workers": POLL_WORKERS, "service_time": POLL_SERVICE},
        "clients": {"count": POLL_CLIENTS},
        "connection": {"protocol": "h2"},
        "pattern": {"name": "short_polling", "interval": POLL_INTERVAL},
    }


# ---------------------------------------------------------------------------------------------
# Pub/sub

PUB_RATE = 100.0
"""Publishes per second, one topic: periodic (a random phase, then every 1/rate)."""
PUB_SUBSCRIBERS = 100
PUB_LATENCY = 0.005
"""One-way link latency, seconds."""
PUB_WORKERS = 4
PUB_SERVICE = 0.001
"""Broker worker seconds per publish (constant), before routing."""
PUB_PER_COPY = 20e-6
"""Broker worker seconds of routing per copy (simcomm's default ``per_copy``)."""


def pubsub_baseline(duration: float, seed: int = 1) -> list[float]:
    """Pub/sub in plain SimPy; returns the latency of every delivery."""
    env = simpy.Environment()
    broker = simpy.Resource(env, capacity=PUB_WORKERS)
    phase = random.Random(seed)
    latencies: list[float] = []

    def copy(env: simpy.Environment, t_created: float):
        yield env.timeout(PUB_LATENCY)                  # broker → one subscriber
        latencies.append(env.now - t_created)

    def publish(env: simpy.Environment):
        t_created = env.now
        yield env.timeout(PUB_LATENCY)                  # publisher → broker
        with broker.request() as req:
            yield req
            yield env.timeout(PUB_SERVICE + PUB_SUBSCRIBERS * PUB_PER_COPY)
        for _ in range(PUB_SUBSCRIBERS):
            env.process(copy(env, t_created))

    def source(env: simpy.Environment):
        yield env.timeout(phase.uniform(0.0, 1.0 / PUB_RATE))
        while True:
            env.process(publish(env))
            yield env.timeout(1.0 / PUB_RATE)

    env.process(source(env))
    env.run(until=duration)
    return latencies


def pubsub_scenario(duration: float, detail: str = "summary", seed: int = 1) -> dict[str, Any]:
    """The simcomm scenario equivalent to :func:`pubsub_baseline`."""
    return {
        "name": "pubsub-bench",
        "duration": duration,
        "warmup": 0,
        "seed": seed,
        "detail": detail,
        "network": {"latency": PUB_LATENCY, "bandwidth": "unlimited"},
        "headers": NO_HEADERS,
        "workload": {"updates": {"scope": "global", "rate": f"{PUB_RATE:g}/s",
                                 "arrival": "periodic"},
                     "encoding": "none"},
        "server": {"workers": PUB_WORKERS, "service_time": PUB_SERVICE},
        "clients": {"count": PUB_SUBSCRIBERS},
        "connection": {"protocol": "h2"},
        "pattern": {"name": "pubsub", "consumer": "push", "delivery": "at_most_once",
                    "per_copy": PUB_PER_COPY},
    }


# ---------------------------------------------------------------------------------------------
# Measuring

class Model(NamedTuple):
    name: str
    title: str
    duration: float
    """Default simulated seconds."""
    baseline: Callable[[float, int], list[float]]
    scenario: Callable[[float, str, int], dict[str, Any]]
    expected_latency: float
    """Mean latency from theory, seconds (printed beside the two simulated ones)."""


MODELS = {
    "polling": Model(
        "polling",
        f"short polling: {POLL_CLIENTS} clients every {POLL_INTERVAL:g} s, updates "
        f"{POLL_UPDATE_RATE:g}/s per client, {POLL_LATENCY * 1e3:g} ms links, {POLL_WORKERS} "
        f"workers × {POLL_SERVICE * 1e3:g} ms",
        120.0, polling_baseline, polling_scenario,
        POLL_INTERVAL / 2 + POLL_SERVICE + POLL_LATENCY),
    "pubsub": Model(
        "pubsub",
        f"pub/sub: 1 topic, {PUB_RATE:g} msg/s (periodic) to {PUB_SUBSCRIBERS} subscribers, "
        f"{PUB_LATENCY * 1e3:g} ms links, {PUB_WORKERS} workers × {PUB_SERVICE * 1e3:g} ms "
        f"+ {PUB_PER_COPY * 1e6:g} µs per copy",
        30.0, pubsub_baseline, pubsub_scenario,
        2 * PUB_LATENCY + PUB_SERVICE + PUB_SUBSCRIBERS * PUB_PER_COPY),
}


def _simcomm(model: Model, duration: float, detail: str, seed: int):
    return simcomm.run(model.scenario(duration, detail, seed))


def measure_model(model: Model, duration: float, repeat: int, seed: int = 1) -> dict[str, Any]:
    """Run one model's baseline and simcomm (summary, full); returns its figures."""
    outcome: dict[str, Any] = {}
    """Per run kind, what its last timed run simulated: the baseline's latencies, simcomm's
    mean latency (the baseline's mean is taken after the clock stops, as simcomm's comes
    with its summary)."""

    def base() -> int:
        lat = outcome["baseline"] = model.baseline(duration, seed)
        return len(lat)

    def sim(detail: str) -> int:
        m = _simcomm(model, duration, detail, seed).metrics
        outcome[f"simcomm_{detail}"] = float(m["latency_mean"])
        return int(m["delivered"])

    runs: dict[str, Callable[[], int]] = {
        "baseline": base,
        "simcomm_summary": lambda: sim("summary"),
        "simcomm_full": lambda: sim("full"),
    }
    # Warm-up: imports, pydantic schema and pattern set-up caches, so neither the timing nor the
    # memory figure pays one-off costs.
    warm = min(duration, 1.0)
    _simcomm(model, warm, "summary", seed)
    _simcomm(model, warm, "full", seed)
    model.baseline(warm, seed)

    best = dict.fromkeys(runs, float("inf"))
    done = dict.fromkeys(runs, 0)
    for _ in range(repeat):
        for name, fn in runs.items():  # alternate: baseline, summary, full, baseline, ...
            seconds, n = _timed(fn)
            if seconds < best[name]:
                best[name] = seconds
            done[name] = n
            if name == "baseline":  # its mean, now that the clock has stopped
                lat = outcome["baseline"]
                outcome["baseline"] = statistics.fmean(lat) if lat else math.nan
                del lat

    memory_fns: dict[str, Callable[[], Any]] = {
        "baseline": lambda: model.baseline(duration, seed),
        "simcomm_summary": lambda: _simcomm(model, duration, "summary", seed),
    }
    out: dict[str, Any] = {"title": model.title, "duration": duration}
    for name in runs:
        out[name] = {
            "deliveries": done[name],
            "best_seconds": best[name],
            "items_per_s": done[name] / best[name],
            "latency_mean": outcome[name],
        }
        if name in memory_fns:
            peak = _peak_bytes(memory_fns[name])
            out[name]["peak_bytes"] = peak
            out[name]["bytes_per_delivery"] = peak / done[name] if done[name] else math.nan
    base_rate = out["baseline"]["items_per_s"]
    for name in ("simcomm_summary", "simcomm_full"):
        out[name]["ratio"] = out[name]["items_per_s"] / base_rate

    b, s = out["baseline"], out["simcomm_summary"]
    d_deliv = _rel(s["deliveries"], b["deliveries"])
    d_lat = _rel(s["latency_mean"], b["latency_mean"])
    out["agreement"] = {
        "deliveries": d_deliv,
        "latency_mean": d_lat,
        "expected_latency": model.expected_latency,
        "tolerance": AGREE,
        "agree": abs(d_deliv) <= AGREE and abs(d_lat) <= AGREE,
    }
    rs, rf = s["ratio"], out["simcomm_full"]["ratio"]
    out["targets"] = {
        "ratio_summary": {"value": rs, "target": f">= {TARGET_SUMMARY}",
                          "pass": rs >= TARGET_SUMMARY},
        "ratio_full": {"value": rf, "target": f">= {TARGET_FULL}", "pass": rf >= TARGET_FULL},
    }
    out["pass"] = all(t["pass"] for t in out["targets"].values())
    return out


def _rel(value: float, reference: float) -> float:
    """Relative difference of *value* from *reference* (nan when undefined)."""
    if not reference or math.isnan(reference) or math.isnan(value):
        return math.nan
    return value / reference - 1.0


def measure(models: list[str], durations: dict[str, float], repeat: int,
            seed: int = 1) -> dict[str, Any]:
    """Run the chosen models; returns the figures as a JSON-ready dict."""
    out: dict[str, Any] = {
        "repeat": repeat,
        "seed": seed,
        "python": platform.python_version(),
        "simpy": simpy.__version__,
        "simcomm": simcomm.__version__,
        "build": simcomm._native.STATE,
        "machine": f"{platform.machine()}, {_cpu_count()} cores",
        "models": {},
    }
    for name in models:
        out["models"][name] = measure_model(MODELS[name], durations[name], repeat, seed)
    out["pass"] = all(m["pass"] for m in out["models"].values())
    return out


def report(r: dict[str, Any]) -> str:
    """The figures as human-readable lines."""
    lines = [f"best of {r['repeat']}; Python {r['python']}, SimPy {r['simpy']}, "
             f"simcomm {r['simcomm']} ({r['build']}), {r['machine']}"]
    for name, m in r["models"].items():
        lines += [
            "",
            f"[{name}] {m['title']}; {m['duration']:g} simulated s",
            f"{'model':<22}{'deliveries':>11}{'best s':>9}{'items/s':>11}{'ratio':>8}"
            f"{'B/delivery':>12}{'latency':>10}",
        ]
        for label, key in (("plain SimPy", "baseline"), ("simcomm (summary)", "simcomm_summary"),
                           ("simcomm (full)", "simcomm_full")):
            x = m[key]
            ratio = f"{x['ratio']:.3f}" if "ratio" in x else "1"
            bpd = f"{x['bytes_per_delivery']:.1f}" if "bytes_per_delivery" in x else "-"
            lines.append(f"{label:<22}{x['deliveries']:>11}{x['best_seconds']:>9.3f}"
                         f"{x['items_per_s']:>11,.0f}{ratio:>8}{bpd:>12}"
                         f"{x['latency_mean'] * 1e3:>8.1f}ms")
        a = m["agreement"]
        lines.append(
            f"same world? simcomm vs plain SimPy: deliveries {a['deliveries']:+.1%}, mean "
            f"latency {a['latency_mean']:+.1%} (theory {a['expected_latency'] * 1e3:.1f} ms): "
            f"{'agree' if a['agree'] else 'DIFFER'} (within {a['tolerance']:.0%})")
        for tname, t in m["targets"].items():
            verdict = "PASS" if t["pass"] else "FAIL"
            lines.append(f"target {tname} {t['target']}: {t['value']:.3f}  {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="polling,pubsub",
                    help="comma-separated models to run (default polling,pubsub)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply every default simulated duration (default 1: polling "
                    f"{MODELS['polling'].duration:g} s, pubsub {MODELS['pubsub'].duration:g} s)")
    for name, model in MODELS.items():
        ap.add_argument(f"--{name}-duration", type=float, default=None, metavar="SECONDS",
                        help=f"simulated seconds of {name} (overrides --scale; default "
                        f"{model.duration:g} × scale)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed runs of each model; the best counts (default 3)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--check", action="store_true", help="exit 1 if a target fails")
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        ap.error(f"--models: choose from {', '.join(MODELS)}; got {args.models!r}")
    if args.repeat < 1 or not args.scale > 0:
        ap.error("--repeat must be >= 1 and --scale > 0")
    durations = {}
    for name, model in MODELS.items():
        d = getattr(args, f"{name}_duration")
        durations[name] = model.duration * args.scale if d is None else d
        if not durations[name] > 0:
            ap.error(f"--{name}-duration must be > 0")
    r = measure(models, durations, args.repeat, args.seed)
    print(json.dumps(r, indent=2) if args.json else report(r))
    return 1 if args.check and not r["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
