"""Is a hot pool of backend connections worth keeping behind a proxy?

Question:  behind a demultiplexing proxy (clients on HTTP/2, backend on HTTP/1.1 with TLS 1.3),
           how much latency does a connection per backend request cost against a pool of kept
           connections, and how does the gap change with load?
Scenario:  examples/backend-pool.yaml — 40 clients 20 ms away, a proxy 0.5 ms from the server
           with 2 workers (50 µs per request) and up to 16 backend connections, 16 server workers
           with 5 ms exponential service; the request rate is swept.
Covers:    the proxy hop (proxy.reuse keepalive vs per_request), connection set-up costs on the
           backend leg (TCP + TLS 1.3: 2 backend round trips), the pool's queue under load.

Writes ``backend_pool.csv`` (one row per entry and rate, every contract metric plus ``rate``)
and ``backend_pool.png`` (mean and p99 latency, handshake messages per delivery, connections
opened per second, against the rate) into ``--out`` (default ``out/backend-pool``), and prints
one line per finding saying whether the model shows it:

1. a connection per request costs at least its handshake (2 backend round trips, 2 ms here) at
   every load;
2. the gap grows with load: per-request connections hold a pool slot for their handshake too,
   so the pool saturates sooner and requests queue for it.

    python experiments/backend_pool.py [--out DIR] [--rates 50,200,800] [--set key=value]
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


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    import simcomm
    from simcomm.experiment import UsageError, command_line, error, numbers
    from simcomm.plots import lines

    args = command_line(__doc__, ROOT / "out" / "backend-pool", rates=(
        ",".join(f"{r:g}" for r in RATES), "request rates (per second, all clients), "
        "comma-separated")).parse_args(argv)
    runs = []
    try:
        rates = numbers(args.rates, "--rates", "positive rates", lambda v: 0 < v < math.inf)
        for rate in rates:
            runs.append((rate, simcomm.load_file(SCENARIO, [
                *args.overrides, f"workload.requests.rate={rate:g}/s", "detail=summary"])))
    except (UsageError, simcomm.ScenarioError) as e:
        return error(e)
    rows = []
    for rate, sc in runs:
        window = sc.duration - sc.warmup
        for r in simcomm.compare(sc):
            s = r.summary
            rows.append({"rate": rate, **s,
                         "handshakes_per_delivery": s["handshake_messages"] / s["delivered"],
                         "opened_per_s": s["connections_opened"] / window})
    df = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "backend_pool.csv", index=False)
    fig = lines(df, "rate", [m for m, _ in PANELS], labels=dict(PANELS), logx=True, ncols=2,
                xlabel="requests per second (all clients)",
                title="Hot backend pool vs a connection per request, behind a proxy")
    fig.savefig(args.out / "backend_pool.png", dpi=110)
    mean = df.pivot(index="rate", columns="pattern", values="latency_mean")
    gap = mean["per-request"] - mean["hot-pool"]
    with pd.option_context("display.width", 200):
        print("mean latency (s) by request rate:")
        print(mean.to_string(float_format=lambda v: f"{v:.4f}"))
    handshake = 2 * 2 * 0.0005  # TCP + TLS 1.3 on the backend leg: 2 round trips of 2 × 0.5 ms
    first = bool((gap >= handshake - 1e-6).all())
    print(f"finding 1, a connection per request costs at least its backend handshake "
          f"({handshake * 1e3:.1f} ms) at every load: {'reproduced' if first else 'NOT shown'} "
          f"(gap {gap.min() * 1e3:.2f}–{gap.max() * 1e3:.2f} ms)")
    grows = len(gap) > 1 and gap.iloc[-1] > gap.iloc[0]
    print(f"finding 2, the gap grows with load: {'reproduced' if grows else 'NOT shown'} "
          f"({gap.iloc[0] * 1e3:.2f} ms at {mean.index[0]:g}/s, {gap.iloc[-1] * 1e3:.2f} ms at "
          f"{mean.index[-1]:g}/s)")
    print(f"wrote {args.out / 'backend_pool.csv'} and {args.out / 'backend_pool.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
