"""Memory per client: peak RSS growth per client between two world sizes.

What it measures
----------------
An update world (SSE by default; ``--pattern``) with sparse updates (0.01/s per client),
clients with sessions (so their per-client random streams exist), ``detail: summary``,
``--duration`` simulated seconds (default 20: past SSE's 15 s heartbeat, so that every
client's connection has carried a message and holds its per-message state — with 2 s, the
first version's figure, most had not and the figure was ~1 KiB lower), run twice in fresh
subprocesses — with ``--small`` and ``--large`` clients (default 10 000 and 100 000: issue
10's definition) — and the peak resident set size of each (``ru_maxrss``). The per-client
figure is (RSS(large) − RSS(small)) / (large − small): what one more client costs, whatever
the fixed cost of the interpreter, numpy and the world. Issue 10's target is at most 2 KiB
per client at ``detail: summary``.

How to run
----------
::

    python benchmarks/bench_clients.py                       # 10 000 vs 100 000 clients, sse
    python benchmarks/bench_clients.py --pattern push --large 50000
    python benchmarks/bench_clients.py --growth --large 10000   # 60 s against 600 s
    python benchmarks/bench_clients.py --json

It is a report, not a test: it exits 0 whatever the figure unless ``--check`` is given.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

TARGET = 2048.0
"""Bytes per client (issue 10)."""

CHILD = r"""
import resource, sys, warnings
warnings.simplefilter("ignore")
import simcomm
n, pattern, duration = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rate, sketch = sys.argv[4], (float(sys.argv[5]) if sys.argv[5] != "none" else None)
r = simcomm.run({"duration": duration, "seed": 1, "detail": "summary",
                 "latency_sketch": sketch,
                 "network": {"latency": "20ms", "bandwidth": "10Gbps"},
                 "server": {"workers": 8, "service_time": "1ms"},
                 "clients": {"count": n, "session": {"dist": "exponential", "mean": "600s"},
                             "gap": {"dist": "exponential", "mean": "60s"}},
                 "workload": {"updates": {"rate": rate}},
                 "pattern": {"name": pattern}}, force=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # Linux: KiB
      int(r.metrics["delivered"]))
"""


def peak_rss(clients: int, pattern: str, duration: float = 20.0, rate: str = "0.01/s",
             sketch: float | None = None) -> int:
    """Peak RSS (bytes) of a fresh interpreter running the world with *clients* clients for
    *duration* simulated seconds."""
    return _child(clients, pattern, duration, rate, sketch)[0]


def _child(clients: int, pattern: str, duration: float, rate: str,
           sketch: float | None) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(clients), pattern, f"{duration}s",
                          rate, "none" if sketch is None else str(sketch)],
                         check=True, capture_output=True, text=True).stdout
    rss, delivered = out.split()[-2:]
    return int(rss), int(delivered)


def growth(clients: int, pattern: str) -> dict:
    """Peak RSS at 60 and at 600 simulated seconds (updates 0.1/s per client, latency_sketch
    0.01, so that no per-delivery sample is kept): what a run's length costs beyond its
    clients, per extra delivery."""
    (a, da), (b, db) = (_child(clients, pattern, d, "0.1/s", 0.01) for d in (60.0, 600.0))
    return {"pattern": pattern, "clients": clients, "rss_60s": a, "rss_600s": b,
            "deliveries_60s": da, "deliveries_600s": db,
            "bytes_per_extra_delivery": (b - a) / max(1, db - da)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pattern", default="sse")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=20.0,
                        help="simulated seconds (default 20: past the 15 s heartbeat)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 above the target")
    parser.add_argument("--growth", action="store_true",
                        help="instead: peak RSS of --large clients at 60 s and 600 s with "
                        "latency_sketch (what run length costs)")
    args = parser.parse_args(argv)
    if args.growth:
        g = growth(args.large, args.pattern)
        if args.json:
            print(json.dumps(g))
        else:
            print(f"{args.pattern}, {args.large} clients, updates 0.1/s, latency_sketch 0.01: "
                  f"peak RSS {g['rss_60s'] / 2**20:.0f} MiB at 60 s, "
                  f"{g['rss_600s'] / 2**20:.0f} MiB at 600 s: "
                  f"{g['bytes_per_extra_delivery']:.0f} B per extra delivery")
        return 0
    small = peak_rss(args.small, args.pattern, args.duration)
    large = peak_rss(args.large, args.pattern, args.duration)
    per_client = (large - small) / (args.large - args.small)
    row = {"pattern": args.pattern, "small": args.small, "large": args.large,
           "duration": args.duration,
           "rss_small": small, "rss_large": large, "bytes_per_client": per_client,
           "target": TARGET, "pass": per_client <= TARGET}
    if args.json:
        print(json.dumps(row))
    else:
        print(f"{args.pattern}, {args.duration:g} s: peak RSS {small / 2**20:.0f} MiB with "
              f"{args.small} clients, "
              f"{large / 2**20:.0f} MiB with {args.large}: {per_client / 1024:.2f} KiB "
              f"({per_client:.0f} B) per client (target <= {TARGET / 1024:.0f} KiB: "
              f"{'PASS' if row['pass'] else 'FAIL'})")
    return 1 if args.check and not row["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
