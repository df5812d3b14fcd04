"""Regenerate every experiment's CSV and figure.

Runs each script of ``experiments/`` with its defaults (``--replications`` and ``--workers``
passed on when given), one after the other, each into ``OUT/<name>/`` (default ``out/``, so
the same folders as running a script on its own: ``out/update-delivery/`` …), keeps what each
printed in ``OUT/<name>/output.txt``, and prints one line per experiment: its time, whether it
succeeded, and what it wrote. Exits 1 if any failed (the others still run).

``--quick`` runs each on a short scenario, few sweep values and 2 replications (about the
sizes the tests use): a check that everything runs, not results to read. ``--only a,b`` runs
those experiments only.

    python experiments/run_all.py [--out DIR] [--quick] [--only NAME,...]
        [--replications N] [--workers N]

Every script in ``experiments/`` is listed in EXPERIMENTS (a test checks that none is left
out), cheapest first.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

EXPERIMENTS = ("client_styles", "zero_rtt", "slow_instance", "sessions", "backend_pool",
               "sidecar", "update_delivery", "page_protocols")
"""Every experiment script (without ``.py``), cheapest first."""

QUICK = {
    "client_styles": ["--set", "duration=6s", "--set", "warmup=1s"],
    "zero_rtt": ["--sizes", "1,64", "--set", "duration=12s", "--set", "warmup=2s"],
    "slow_instance": ["--factors", "1,3", "--set", "duration=15s", "--set", "warmup=2s"],
    "sessions": ["--rates", "0,0.05", "--set", "duration=40s", "--set", "warmup=5s"],
    "backend_pool": ["--rates", "50,800", "--set", "duration=4s", "--set", "warmup=1s"],
    "sidecar": ["--failures", "0,0.1", "--set", "duration=8s", "--set", "warmup=1s"],
    "update_delivery": ["--rates", "0.1,1", "--set", "duration=20s", "--set", "warmup=2s"],
    "page_protocols": ["--latencies", "10,100", "--losses", "0,0.02", "--set", "duration=40s",
                       "--set", "warmup=10s"],
}
"""Short runs per experiment (``--quick``): few sweep values, a short scenario."""


def folder(name: str) -> str:
    """The output folder of experiment *name* (its script's default: dashes for
    underscores)."""
    return name.replace("_", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "out",
                        help="the folder under which each experiment gets its own")
    parser.add_argument("--quick", action="store_true",
                        help="short runs (2 replications unless --replications): a smoke test")
    parser.add_argument("--only", default=None,
                        help="comma-separated experiments to run (default: all)")
    parser.add_argument("--replications", default=None, help="passed on to every script")
    parser.add_argument("--workers", default=None, help="passed on to every script")
    args = parser.parse_args(argv)
    names = list(EXPERIMENTS)
    if args.only is not None:
        names = [n.strip().removesuffix(".py") for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in EXPERIMENTS]
        if unknown or not names:
            print(f"error: --only: {', '.join(unknown) or 'nothing'} is not an experiment "
                  f"(they are: {', '.join(EXPERIMENTS)})", file=sys.stderr)
            return 2
    passed = []
    if args.quick:
        passed += ["--replications", "2"]
    if args.replications is not None:
        passed += ["--replications", args.replications]
    if args.workers is not None:
        passed += ["--workers", args.workers]

    failed = []
    started = time.monotonic()
    for name in names:
        out = args.out / folder(name)
        command = [sys.executable, str(HERE / f"{name}.py"), "--out", str(out), *passed,
                   *(QUICK[name] if args.quick else [])]
        t0 = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
        took = time.monotonic() - t0
        out.mkdir(parents=True, exist_ok=True)
        log = out / "output.txt"
        log.write_text(done.stdout + done.stderr, encoding="utf-8")
        if done.returncode == 0:
            wrote = sorted(p.name for p in out.iterdir() if p.suffix in (".csv", ".png"))
            print(f"{name:16} ok      {took:7.1f} s  {out}/: {', '.join(wrote)}, {log.name}",
                  flush=True)
        else:
            failed.append(name)
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            print(f"{name:16} FAILED  {took:7.1f} s  exit {done.returncode}: {last} "
                  f"(all of it: {log})", flush=True)
    total = time.monotonic() - started
    print(f"{len(names) - len(failed)} of {len(names)} experiments ran in {total:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
