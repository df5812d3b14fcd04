"""A million clients: an SSE world of 1 000 000 clients on one machine.

What it measures
----------------
Issue 10's scale target: an SSE world with ``--clients`` clients (default 1 000 000), sparse
updates (each client its own Poisson stream at 0.01/s), heartbeats every 15 s (the pattern's
default), 20 ms links, 8 workers with 1 ms per event, 60 simulated seconds, ``detail: summary``
— run in a fresh interpreter, as ``simcomm run`` would run it. It reports the set-up time
(building the world and installing the pattern: the part of the run the progress bar of
``simcomm run`` shows before simulated time starts to move), the whole wall time, the peak
resident set size (``ru_maxrss``) and the deliveries made. Targets: peak RSS under 4 GiB, and
"minutes" of wall time (we check under 10 minutes).

How to run
----------
::

    python benchmarks/bench_scale.py                      # 1 000 000 clients (~4 min)
    python benchmarks/bench_scale.py --clients 100000     # a tenth: ~20 s
    python benchmarks/bench_scale.py --json
    python benchmarks/bench_scale.py --check              # exit 1 if a target fails

It is a report, not a test: it exits 0 whatever the figures unless ``--check`` is given.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

MEMORY_TARGET = 4 * 2**30
"""Bytes of peak RSS (issue 10: under 4 GiB)."""
TIME_TARGET = 600.0
"""Seconds of wall time ("in minutes": we take under 10)."""

CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import simcomm
from simcomm import guard

n = int(sys.argv[1])
sc = simcomm.load({"duration": "60s", "seed": 1, "detail": "summary",
                   "network": {"latency": "20ms", "bandwidth": "10Gbps"},
                   "server": {"workers": 8, "service_time": "1ms"},
                   "clients": {"count": n},
                   "workload": {"updates": {"rate": "0.01/s"}},
                   "pattern": {"name": "sse"}})
est = guard.estimate(sc, sc.variants[0])
share = min(0.9, est.passes * est.setup_seconds / est.seconds) if est.seconds > 0 else 0.0
marks = []

def progress(label, fraction):
    if fraction <= share:  # still building the world and installing the pattern
        marks.append(time.perf_counter())

t0 = time.perf_counter()
r = simcomm.run(sc, progress=progress, force=True)
t1 = time.perf_counter()
print(json.dumps({"clients": n, "setup_s": (marks[-1] if marks else t0) - t0,
                  "wall_s": t1 - t0, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                  * 1024, "delivered": int(r.metrics["delivered"])}))
"""


def measure(clients: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(clients)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target fails")
    args = parser.parse_args(argv)
    if args.clients < 1:
        parser.error("--clients: give a whole number >= 1")
    row = measure(args.clients)
    row.update(memory_target=MEMORY_TARGET, time_target=TIME_TARGET,
               memory_pass=row["rss"] < MEMORY_TARGET, time_pass=row["wall_s"] < TIME_TARGET)
    if args.json:
        print(json.dumps(row))
    else:
        print(f"sse, {row['clients']:,} clients, 60 simulated s, detail summary: set-up "
              f"{row['setup_s']:.1f} s ({row['setup_s'] / row['clients'] * 1e6:.1f} µs per "
              f"client), wall {row['wall_s']:.1f} s "
              f"({'PASS' if row['time_pass'] else 'FAIL'} < {TIME_TARGET / 60:.0f} min), peak "
              f"RSS {row['rss'] / 2**30:.2f} GiB ({'PASS' if row['memory_pass'] else 'FAIL'} "
              f"< {MEMORY_TARGET / 2**30:.0f} GiB), {row['delivered']:,} deliveries")
    return 1 if args.check and not (row["memory_pass"] and row["time_pass"]) else 0


if __name__ == "__main__":
    sys.exit(main())
