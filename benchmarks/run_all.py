"""Run every benchmark of issue 10 ("Speed and scale") with one command and print every figure.

What it runs
------------
One after the other, each in a fresh interpreter (so that one's memory and caches do not
colour the next one's figures):

1. ``bench_mm1.py`` — M/M/1 request-response, simcomm against plain SimPy;
2. ``bench_models.py`` — short polling and pub/sub, simcomm against plain SimPy;
3. ``bench_clients.py`` — memory per client (``sse``, then ``push``);
4. ``bench_sweep.py`` — parallel efficiency of a sweep on 2 local workers, and the per-run
   overhead of each executor (in process, local pool, Dask; issue 9);
5. ``bench_scale.py`` — an SSE world of a million clients: set-up, wall time, peak memory.

How to run
----------
::

    python benchmarks/run_all.py              # default sizes (several minutes on 2 cores)
    python benchmarks/run_all.py --quick      # small sizes: to see that everything runs
    python benchmarks/run_all.py --json       # one JSON object: {"mm1": …, "models": …, …}
    python benchmarks/run_all.py --check      # exit 1 if any target fails

Each benchmark's report is printed as it finishes. Without ``--check`` it exits 0 unless a
benchmark crashed; with it, 1 if any benchmark's targets fail.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

QUICK = {
    "mm1": ["--customers", "20000", "--repeat", "1"],
    "models": ["--scale", "0.1", "--repeat", "1"],
    "clients": ["--small", "1000", "--large", "4000"],
    # 4 runs of ~0.2 s: the pool's start dominates, so the efficiency means nothing here
    "sweep": ["--runs", "4", "--duration", "600", "--repeat", "1", "--tiny-runs", "10"],
    "scale": ["--clients", "20000"],
}
"""Arguments of --quick, per benchmark."""


def benchmarks(quick: bool) -> list[tuple[str, str, list[str]]]:
    """``(key, script, arguments)`` of every run, in order."""
    q = QUICK if quick else {k: [] for k in QUICK}
    return [
        ("mm1", "bench_mm1.py", q["mm1"]),
        ("models", "bench_models.py", q["models"]),
        ("clients_sse", "bench_clients.py", ["--pattern", "sse", *q["clients"]]),
        ("clients_push", "bench_clients.py", ["--pattern", "push", *q["clients"]]),
        ("sweep", "bench_sweep.py", q["sweep"]),
        ("scale", "bench_scale.py", q["scale"]),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (well under a minute)")
    ap.add_argument("--json", action="store_true", help="print one JSON object of all figures")
    ap.add_argument("--check", action="store_true", help="exit 1 if any target fails")
    args = ap.parse_args(argv)

    combined: dict[str, object] = {}
    failed: list[str] = []
    crashed: list[str] = []
    t_all = time.perf_counter()
    for key, script, extra in benchmarks(args.quick):
        cmd = [sys.executable, str(HERE / script), *extra]
        if args.json:
            cmd.append("--json")
        if args.check:
            cmd.append("--check")
        if not args.json:
            print(f"=== {script} {' '.join(extra)}".rstrip(), flush=True)
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        sys.stderr.write(proc.stderr)  # warnings, or a crash's traceback
        if (proc.returncode not in (0, 1) or "Traceback" in proc.stderr
                or (proc.returncode == 1 and not args.check)):
            crashed.append(key)
        elif proc.returncode == 1:
            failed.append(key)
        if args.json:
            try:
                combined[key] = json.loads(proc.stdout)
            except json.JSONDecodeError:
                combined[key] = {"error": proc.stderr.strip().splitlines()[-1:]}
        else:
            print(proc.stdout.rstrip())
            print(f"({seconds:.0f} s)\n", flush=True)
    if args.json:
        combined["failed"] = failed
        combined["crashed"] = crashed
        print(json.dumps(combined, indent=2))
    else:
        total = time.perf_counter() - t_all
        verdict = (f"targets failed: {', '.join(failed)}" if failed
                   else "all targets pass" if args.check else "targets: see each report")
        print(f"=== all done in {total:.0f} s; {verdict}"
              + (f"; CRASHED: {', '.join(crashed)}" if crashed else ""))
    if crashed:
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
