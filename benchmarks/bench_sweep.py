"""Sweep benchmark: parallel efficiency on 2 local workers, and each executor's per-run overhead.

What it measures
----------------
Issue 9 asks for "parallel efficiency of a sweep of ~1 s runs on 2 local workers (target ≥ 85 %
of ideal), and the per-run overhead of each executor". Every sweep here is a real
``simcomm.sweep(dict, out_dir, …)`` into a fresh temporary store (one grid point, ``--runs``
replications), timed from the call to its return with ``time.perf_counter``; its ``progress``
callback time-stamps each finished run.

* **Parallel efficiency.** The scenario is ``examples/short-polling.yaml`` (20 clients polling
  every second) with ``duration`` ``--duration`` simulated seconds (default 3 000: one run takes
  ~1 s of wall time on the reference box; the report prints what it took). The same sweep runs
  with ``workers=1`` (in this process, one run after the other) and ``workers=2`` (the local
  process pool), alternately, ``--repeat`` times; the best of each counts.
  ``efficiency = T_serial / (2 × T_parallel)`` (1.0 = twice as fast). The report also splits
  the parallel time: **startup** = time to the first finished run − one run's time (the pool
  starting its processes, each importing simcomm, and their first run's cold caches), and
  **tail** = return − last finished run (the pool shutting down, and the parent reading the
  store and writing ``aggregate.csv``, ``paired.csv``, ``crossover.csv``, which the serial run
  pays too). With one run's time in the pool (the steady interval between its finished runs)
  against in process, **contention** (< 1 when the two workers do not get two whole cores),
  ``efficiency ≈ contention × (1 − (startup + tail) / T_parallel)``.
* **Ceiling.** How much two processes can do at once on this machine, with no executor at all:
  two already-started, already-warm interpreters run the same one-second run, alone and then
  both at once (``alone / together``). A shared or hyper-threaded box caps the efficiency
  there whatever the executor does. The same interpreters report a cold ``import simcomm`` and
  their first (tiny) run, which a spawned pool worker pays again (a forked one does not).
* **Per-run overhead of each executor.** Tiny runs (the same example for 1 simulated second,
  2 clients, warmup 0: ~ms of simulation), ``--tiny-runs`` of them per sweep, through the
  in-process executor (``workers=1``), the local pool (``workers=2``) and Dask (a real
  ``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1`` started as subprocesses on
  127.0.0.1, as ``tests/test_sweep.py`` starts them, and killed at the end; skipped if Dask is
  not installed, or with ``--no-dask``). Overhead per run = wall time of the sweep / runs −
  one run's in-process simulation time (``simcomm.compare`` of the same scenario, best of
  ``--repeat``). The Dask cluster is started before the timing (its start is reported apart);
  the first Dask sweep pays its workers' imports, the later ones find them warm.

How to run
----------
::

    python benchmarks/bench_sweep.py                  # 12 runs of ~1 s, best of 3 (~1.5 min)
    python benchmarks/bench_sweep.py --runs 16 --repeat 5
    python benchmarks/bench_sweep.py --json           # machine-readable
    python benchmarks/bench_sweep.py --check          # exit 1 if efficiency < 0.85
    python benchmarks/bench_sweep.py --no-dask        # skip the Dask cluster

How to read it
--------------
One target: efficiency ≥ 0.85, printed with PASS/FAIL; the script exits 0 whatever the figures
unless ``--check`` is given. The load average before and after is printed: on a shared 2-core
box the figures are provisional (another process on one of the two cores costs the parallel
run directly, and not the serial one). Compare the efficiency with the ceiling: the gap
between them is what the executor costs (startup and tail), the gap below 1.0 that the ceiling
leaves is the machine's.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

import simcomm

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "short-polling.yaml"
DURATION = 3000.0
"""Simulated seconds of one efficiency run: ~1 s of wall time on the reference box."""
WORKERS = 2
TARGET = 0.85
"""Parallel efficiency on 2 local workers must be at least this (issue 9)."""


# ---------------------------------------------------------------------------------------------
# The sweeps

def scenario(duration: float, clients: int | None = None, warmup: float | None = None) -> dict:
    """``examples/short-polling.yaml`` with another duration (and client count, warmup)."""
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw["duration"] = f"{duration:g}s"
    if clients is not None:
        raw["clients"]["count"] = clients
    if warmup is not None:
        raw["warmup"] = f"{warmup:g}s"
    return raw


def tiny_scenario() -> dict:
    """A run with ~no simulated work: 1 simulated second, 2 clients, no warmup."""
    return scenario(1.0, clients=2, warmup=0)


def sweep_spec(raw: dict, runs: int) -> dict:
    """One grid point (the scenario's own client count), *runs* replications."""
    return {"scenario": copy.deepcopy(raw),
            "grid": {"clients.count": [raw["clients"]["count"]]},
            "replications": runs}


def timed_sweep(spec: dict, workers: int | None = None,
                scheduler: str | None = None) -> dict[str, float]:
    """Run *spec* into a fresh temporary store; its wall time and progress time stamps."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    marks: list[tuple[float, int]] = []

    def progress(done: int, total: int, eta: float | None) -> None:
        marks.append((time.perf_counter(), done))

    try:
        gc.collect()
        t0 = time.perf_counter()
        r = simcomm.sweep(spec, tmp / "store", workers=workers, scheduler=scheduler,
                          progress=progress)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = spec["replications"]
    if r.ran != n or not r.failures.empty:
        raise RuntimeError(f"the sweep ran {r.ran} of {n} runs; failures: "
                           f"{r.failures['error'].tolist()[:1]}")
    finishes = [t - t0 for t, done in marks if done > 0]
    return {"seconds": seconds,
            "prepared": marks[0][0] - t0,      # progress(0, …): checked, store made
            "first": finishes[0], "last": finishes[-1], "tail": seconds - finishes[-1]}


# ---------------------------------------------------------------------------------------------
# The ceiling: two warm interpreters, no executor

_CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
t = time.perf_counter()
import simcomm
imported = time.perf_counter() - t
tiny, raw = json.loads(sys.argv[1])
t = time.perf_counter()
simcomm.compare(tiny)
first = time.perf_counter() - t
print(json.dumps({"import": imported, "first_tiny": first}), flush=True)
for line in sys.stdin:
    t = time.perf_counter()
    simcomm.compare(raw)
    print(time.perf_counter() - t, flush=True)
"""


def ceiling(raw: dict, repeat: int) -> dict[str, Any]:
    """Two fresh interpreters, each warm after one tiny run, run *raw*: one alone, then both
    at once (started by one line on their stdin), *repeat* times; best of each."""
    arg = json.dumps([tiny_scenario(), raw])
    kids = [subprocess.Popen([sys.executable, "-c", _CHILD, arg], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True) for _ in range(WORKERS)]
    try:
        cold = [json.loads(k.stdout.readline()) for k in kids]

        def go(which: list[subprocess.Popen]) -> float:
            for k in which:
                k.stdin.write("go\n")
                k.stdin.flush()
            return max(float(k.stdout.readline()) for k in which)

        alone, together = [], []
        for _ in range(repeat):
            alone.append(go(kids[:1]))
            together.append(go(kids))
    finally:
        for k in kids:
            with contextlib.suppress(OSError):
                k.stdin.close()
        for k in kids:
            try:
                k.wait(30)
            except subprocess.TimeoutExpired:
                k.kill()
                k.wait()
            k.stdout.close()
    return {"alone_seconds": min(alone), "together_seconds": min(together),
            "alone_all": alone, "together_all": together,
            "efficiency": min(alone) / min(together),
            "import_seconds": max(c["import"] for c in cold),
            "first_tiny_seconds": max(c["first_tiny"] for c in cold)}


# ---------------------------------------------------------------------------------------------
# A Dask cluster on 127.0.0.1 (the recipe of tests/test_sweep.py)

def have_dask() -> bool:
    return importlib.util.find_spec("distributed") is not None


@contextlib.contextmanager
def dask_cluster(workers: int = WORKERS) -> Iterator[tuple[str, float]]:
    """A ``dask scheduler`` and ``dask worker --nworkers N --nthreads 1`` on 127.0.0.1, each in
    a process group of its own, killed on exit. Yields (address, seconds until N workers)."""
    from distributed import Client

    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-dask-"))
    procs: list[subprocess.Popen] = []
    t0 = time.perf_counter()
    try:
        sched_log = tmp / "scheduler.log"
        with open(sched_log, "w") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                 "--port", "0", "--dashboard-address", "127.0.0.1:0", "--idle-timeout", "300"],
                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True))
        address = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and procs[0].poll() is None:
            m = re.search(r"Scheduler at:\s+(tcp://127\.0\.0\.1:\d+)", sched_log.read_text())
            if m:
                address = m.group(1)
                break
            time.sleep(0.05)
        if address is None:
            raise RuntimeError(f"the Dask scheduler did not start: {sched_log.read_text()}")
        with open(tmp / "worker.log", "w") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers",
                 str(workers), "--nthreads", "1", "--host", "127.0.0.1", "--dashboard-address",
                 "127.0.0.1:0", "--death-timeout", "30", "--local-directory",
                 str(tmp / "scratch")],
                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True))
        with Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=60)
        yield address, time.perf_counter() - t0
    finally:
        for p in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        for p in procs:
            p.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Measuring

def measure_efficiency(runs: int, duration: float, repeat: int) -> dict[str, Any]:
    spec = sweep_spec(scenario(duration), runs)
    serial, parallel = [], []
    for _ in range(repeat):   # alternate, so that drift in the box's load hits both alike
        serial.append(timed_sweep(spec, workers=1))
        parallel.append(timed_sweep(spec, workers=WORKERS))
    s = min(serial, key=lambda m: m["seconds"])
    p = min(parallel, key=lambda m: m["seconds"])
    run = (s["last"] - s["prepared"]) / runs       # one run, in process, store write included
    # one run in the pool: each worker finishes a run every run_pool seconds once started, so
    # the first and the last finished run are ceil(runs / 2) - 1 of them apart
    rounds = -(-runs // WORKERS)
    pool_run = (p["last"] - p["first"]) / (rounds - 1) if rounds > 1 else None
    startup_pool = p["first"] - pool_run if pool_run is not None else None
    return {
        "runs": runs, "duration_s": duration, "repeat": repeat, "workers": WORKERS,
        "run_seconds": run,
        "serial": {"best_seconds": s["seconds"], "tail_seconds": s["tail"],
                   "all_seconds": [m["seconds"] for m in serial]},
        "parallel": {"best_seconds": p["seconds"], "first_seconds": p["first"],
                     "startup_seconds": p["first"] - run, "tail_seconds": p["tail"],
                     "run_seconds": pool_run, "startup_vs_pool_run": startup_pool,
                     "all_seconds": [m["seconds"] for m in parallel]},
        "efficiency": s["seconds"] / (WORKERS * p["seconds"]),
        "efficiency_each": [a["seconds"] / (WORKERS * b["seconds"])
                            for a, b in zip(serial, parallel, strict=True)],
        # efficiency ≈ contention × (1 - executor share): a run is slower in the pool than in
        # process when the two workers share the cores with anything else; the startup and the
        # tail are what the executor adds
        "contention": run / pool_run if pool_run else None,
        "executor_share": ((startup_pool + p["tail"]) / p["seconds"]
                           if startup_pool is not None else None),
    }


def measure_overhead(runs: int, repeat: int, dask: bool) -> dict[str, Any]:
    tiny = tiny_scenario()
    spec = sweep_spec(tiny, runs)
    sim = float("inf")
    for _ in range(repeat):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # "the run measured nothing": it is tiny on purpose
            t = time.perf_counter()
            for _ in range(runs):
                simcomm.compare(tiny)
            sim = min(sim, (time.perf_counter() - t) / runs)

    executors: dict[str, dict[str, Any]] = {}
    options: list[tuple[str, dict[str, Any]]] = [("in_process", {"workers": 1}),
                                                 ("local_pool", {"workers": WORKERS})]
    cluster = contextlib.nullcontext(None)
    if not dask:
        executors["dask"] = {"skipped": "--no-dask"}
    elif not have_dask():
        executors["dask"] = {"skipped": "Dask is not installed (pip install "
                                        "'dask[distributed]')"}
    else:
        cluster = dask_cluster()
    with cluster as c:
        if c is not None:
            address, started = c
            options.append(("dask", {"scheduler": address}))
        seen: dict[str, list[dict[str, float]]] = {name: [] for name, _ in options}
        for _ in range(repeat):
            for name, kw in options:
                seen[name].append(timed_sweep(spec, **kw))
    for name, ms in seen.items():
        best = min(ms, key=lambda m: m["seconds"])
        executors[name] = {
            "best_seconds": best["seconds"],
            "all_seconds": [m["seconds"] for m in ms],
            "wall_per_run": best["seconds"] / runs,
            "overhead_per_run": best["seconds"] / runs - sim,
            "first_seconds": best["first"],
            "steady_per_run": (best["last"] - best["first"]) / max(1, runs - 1),
            "tail_seconds": best["tail"],
        }
    if "dask" in seen:
        executors["dask"]["cluster_start_seconds"] = started
        executors["dask"]["first_sweep_seconds"] = seen["dask"][0]["seconds"]
    return {"runs": runs, "sim_per_run": sim, "executors": executors}


def measure(runs: int, duration: float, repeat: int, tiny_runs: int, dask: bool,
            with_ceiling: bool = True) -> dict[str, Any]:
    """Run everything; returns the figures as a JSON-ready dict."""
    out: dict[str, Any] = {
        "python": platform.python_version(),
        "simcomm": simcomm.__version__,
        "build": simcomm._native.STATE,
        "machine": f"{platform.machine()}, {_cpu_count()} cores",
        "example": str(EXAMPLE.relative_to(ROOT)),
        "load_before": list(os.getloadavg()),
    }
    # warm-up: this process's imports (pyarrow on the first store write) and caches, so the
    # serial side pays no one-off cost the spawned workers would not pay anyway
    timed_sweep(sweep_spec(tiny_scenario(), 1), workers=1)
    out["efficiency"] = measure_efficiency(runs, duration, repeat)
    out["ceiling"] = (ceiling(scenario(duration), repeat) if with_ceiling
                      else {"skipped": "--no-ceiling"})
    out["overhead"] = measure_overhead(tiny_runs, repeat, dask)
    out["load_after"] = list(os.getloadavg())
    eff = out["efficiency"]["efficiency"]
    out["targets"] = {"efficiency": {"value": eff, "target": f">= {TARGET}",
                                     "pass": eff >= TARGET}}
    out["pass"] = eff >= TARGET
    return out


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def report(r: dict[str, Any]) -> str:
    """The figures as human-readable lines."""
    e, c, o = r["efficiency"], r["ceiling"], r["overhead"]
    s, p = e["serial"], e["parallel"]
    load = "load average {:.2f} before, {:.2f} after".format(r["load_before"][0],
                                                            r["load_after"][0])
    lines = [
        f"Sweep of {e['runs']} runs of {r['example']} at {e['duration_s']:g} simulated s "
        f"(one run {e['run_seconds']:.3f} s in process), best of {e['repeat']}; Python "
        f"{r['python']}, simcomm {r['simcomm']} ({r['build']}), {r['machine']}, {load}",
        "",
        f"{'executor':<26}{'best s':>9}{'each s':>24}{'first run s':>13}{'tail s':>9}",
        f"{'in process (workers=1)':<26}{s['best_seconds']:>9.3f}"
        f"{' '.join(f'{x:.2f}' for x in s['all_seconds']):>24}{'':>13}"
        f"{s['tail_seconds']:>9.3f}",
        f"{'local pool (workers=2)':<26}{p['best_seconds']:>9.3f}"
        f"{' '.join(f'{x:.2f}' for x in p['all_seconds']):>24}{p['first_seconds']:>13.3f}"
        f"{p['tail_seconds']:>9.3f}",
        "",
        f"parallel efficiency T_serial / (2 × T_parallel): {e['efficiency']:.3f} (each pair: "
        f"{', '.join(f'{x:.3f}' for x in e['efficiency_each'])})",
        f"pool startup (first finished run − one run in process): "
        f"{p['startup_seconds']:.3f} s",
    ]
    if e["contention"] is not None:
        lines += [
            f"one run in the pool (steady): {p['run_seconds']:.3f} s, in process "
            f"{e['run_seconds']:.3f} s: contention {e['contention']:.3f}",
            f"executor: startup (first finished run − one run in the pool) "
            f"{p['startup_vs_pool_run']:.3f} s + tail {p['tail_seconds']:.3f} s = "
            f"{e['executor_share']:.1%} of the parallel time "
            f"(efficiency ≈ contention × (1 − that))",
        ]
    if "skipped" in c:
        lines.append(f"ceiling: skipped ({c['skipped']})")
    else:
        lines.append(
            f"ceiling, 2 warm interpreters and no executor (alone / together): "
            f"{c['efficiency']:.3f} ({c['alone_seconds']:.3f} s / {c['together_seconds']:.3f} s)")
        lines.append(f"a fresh interpreter: import simcomm {c['import_seconds']:.3f} s, first "
                     f"tiny run {c['first_tiny_seconds']:.3f} s")
    lines += [
        "",
        f"Per-run overhead: {o['runs']} tiny runs per sweep (1 simulated s, 2 clients; "
        f"simulation {_ms(o['sim_per_run'])} per run in process), best of {e['repeat']}",
        "",
        f"{'executor':<26}{'sweep s':>9}{'wall/run':>12}{'overhead/run':>14}{'first run':>12}"
        f"{'steady/run':>12}{'tail':>10}",
    ]
    labels = {"in_process": "in process (workers=1)", "local_pool": "local pool (workers=2)",
              "dask": "Dask (2 workers)"}
    for name, label in labels.items():
        m = o["executors"].get(name)
        if m is None:
            continue
        if "skipped" in m:
            lines.append(f"{label:<26}skipped: {m['skipped']}")
            continue
        lines.append(f"{label:<26}{m['best_seconds']:>9.3f}{_ms(m['wall_per_run']):>12}"
                     f"{_ms(m['overhead_per_run']):>14}{_ms(m['first_seconds']):>12}"
                     f"{_ms(m['steady_per_run']):>12}{_ms(m['tail_seconds']):>10}")
    d = o["executors"].get("dask", {})
    if "cluster_start_seconds" in d:
        lines.append(f"Dask cluster start (not in the sweeps): {d['cluster_start_seconds']:.2f} "
                     f"s; its first sweep (cold workers): {d['first_sweep_seconds']:.3f} s")
    lines.append("")
    for name, t in r["targets"].items():
        verdict = "PASS" if t["pass"] else "FAIL"
        lines.append(f"target {name} (2 local workers) {t['target']}: {t['value']:.3f}  "
                     f"{verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=12,
                    help="runs of the efficiency sweep (default 12)")
    ap.add_argument("--duration", type=float, default=DURATION,
                    help=f"simulated seconds of one run (default {DURATION:g}: ~1 s of wall "
                         "time)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed sweeps of each executor; the best counts (default 3)")
    ap.add_argument("--tiny-runs", type=int, default=40,
                    help="runs of each per-run overhead sweep (default 40)")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask cluster")
    ap.add_argument("--no-ceiling", action="store_true",
                    help="skip the two-interpreter ceiling")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--check", action="store_true", help=f"exit 1 if efficiency < {TARGET}")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.repeat < 1 or args.tiny_runs < 1 or args.duration <= 0:
        ap.error("--runs, --repeat, --tiny-runs and --duration must be > 0")
    r = measure(args.runs, args.duration, args.repeat, args.tiny_runs, not args.no_dask,
                not args.no_ceiling)
    print(json.dumps(r, indent=2) if args.json else report(r))
    return 1 if args.check and not r["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
