"""Is a hot pool of backend connections worth keeping behind a proxy?

Question:  behind a demultiplexing proxy (clients on HTTP/2, backend on HTTP/1.1 with TLS 1.3),
           how much latency does a connection per backend request cost against a pool of kept
           connections, and how does the gap change with load?
Scenario:  examples/backend-pool.yaml — 40 clients 20 ms away, a proxy 0.5 ms from the server
           with 2 workers (50 µs per request) and up to 16 backend connections, 16 server workers
           with 5 ms exponential service; the request rate is swept.
Covers:    the proxy hop (proxy.reuse keepalive vs per_request), connection set-up costs on the
           backend leg (TCP + TLS 1.3: 2 backend round trips), the pool's queue under load.

Each rate is a point of a sweep (``simcomm.sweep``, store in ``OUT/sweep/``) with
``--replications`` independent runs. Writes ``backend_pool.csv`` (one row per entry and rate:
the mean of every contract metric and of ``handshakes_per_delivery`` and ``opened_per_s``
across the replications, each with its 95 % Student-t interval ``<column>_ci_low`` /
``<column>_ci_high``, plus ``rate`` and ``n``) and ``backend_pool.png`` (mean and p99 latency,
handshake messages per delivery, connections opened per second, against the rate, with the
intervals as bands) into ``--out`` (default ``out/backend-pool``), and prints one line per
finding saying whether the means show it and whether the 95 % intervals support it:

1. a connection per request costs at least its handshake (2 backend round trips, 2 ms here) at
   every load (intervals: the paired difference per-request − hot-pool stays above it);
2. the gap grows with load: per-request connections hold a pool slot for their handshake too,
   so the pool saturates sooner and requests queue for it (intervals: the gap's interval at
   the highest rate lies above the one at the lowest, without overlap).

    python experiments/backend_pool.py [--out DIR] [--rates 50,200,800] [--replications 5]
        [--workers N] [--set key=value]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "examples" / "backend-pool.yaml"
RATES = (50.0, 200.0, 800.0, 1600.0, 2400.0)
PANELS = (("latency_mean", "mean latency (s)"), ("latency_p99", "p99 latency (s)"),
          ("handshakes_per_delivery", "handshake messages per delivery"),
          ("opened_per_s", "connections opened per second"))


def derive(runs, scenarios):
    """Each run's handshake messages per delivery and connections opened per second."""
    window = {i: sc.duration - sc.warmup for i, sc in enumerate(scenarios)}
    return runs.assign(handshakes_per_delivery=runs.handshake_messages / runs.delivered,
                       opened_per_s=runs.connections_opened / runs.point.map(window))


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from simcomm.experiment import (
        ERRORS,
        Axis,
        command_line,
        error,
        numbers,
        run_sweep,
        table_to_csv,
        verdict,
    )
    from simcomm.plots import lines

    args = command_line(__doc__, ROOT / "out" / "backend-pool", rates=(
        ",".join(f"{r:g}" for r in RATES), "request rates (per second, all clients), "
        "comma-separated")).parse_args(argv)
    try:
        rates = numbers(args.rates, "--rates", "positive rates", lambda v: 0 < v < math.inf)
        res = run_sweep(SCENARIO, [Axis("rate", "workload.requests.rate", rates,
                                        lambda r: f"{r:g}/s")], args, derive=derive)
    except ERRORS as e:
        return error(e)  # 2: a user mistake; 1: runs failed
    df = res.table
    args.out.mkdir(parents=True, exist_ok=True)
    table_to_csv(df, args.out / "backend_pool.csv")
    fig = lines(df, "rate", [m for m, _ in PANELS], labels=dict(PANELS), logx=True, ncols=2,
                band=True, xlabel="requests per second (all clients)",
                title="Hot backend pool vs a connection per request, behind a proxy "
                      f"(bands: 95 % intervals, {res.replications} replications)")
    fig.savefig(args.out / "backend_pool.png", dpi=110)
    mean = res.pivot("latency_mean")
    gap = mean["per-request"] - mean["hot-pool"]
    d = res.paired("per-request", "hot-pool", "latency_mean")
    with pd.option_context("display.width", 200):
        print(f"mean latency (s) by request rate ({res.replications} replications):")
        print(mean.to_string(float_format=lambda v: f"{v:.4f}"))
    handshake = 2 * 2 * 0.0005  # TCP + TLS 1.3 on the backend leg: 2 round trips of 2 × 0.5 ms
    first = bool((gap >= handshake - 1e-6).all())
    print(f"finding 1, a connection per request costs at least its backend handshake "
          f"({handshake * 1e3:.1f} ms) at every load: {verdict(first)} "
          f"(gap {gap.min() * 1e3:.2f}–{gap.max() * 1e3:.2f} ms)"
          + res.support(bool((d.ci_low >= handshake - 1e-6).all()),
                        "paired difference per-request − hot-pool, lowest bound "
                        f"{d.ci_low.min() * 1e3:.2f} ms"))
    grows = len(gap) > 1 and gap.iloc[-1] > gap.iloc[0]
    print(f"finding 2, the gap grows with load: {verdict(grows)} "
          f"({gap.iloc[0] * 1e3:.2f} ms at {mean.index[0]:g}/s, {gap.iloc[-1] * 1e3:.2f} ms at "
          f"{mean.index[-1]:g}/s)"
          + res.support(len(d) > 1 and bool(d.ci_low.iloc[-1] > d.ci_high.iloc[0]),
                        f"[{d.ci_low.iloc[0] * 1e3:.2f}, {d.ci_high.iloc[0] * 1e3:.2f}] ms at "
                        f"{d.index[0]:g}/s, [{d.ci_low.iloc[-1] * 1e3:.2f}, "
                        f"{d.ci_high.iloc[-1] * 1e3:.2f}] ms at {d.index[-1]:g}/s"))
    print(f"wrote {args.out / 'backend_pool.csv'} and {args.out / 'backend_pool.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
