"""Where does each way of getting updates to clients win?

Question:  as updates become more frequent, how do short polling, long polling, push,
           server-sent events and pub/sub compare in latency, chattiness (messages per
           delivery) and server time wasted on empty work?
Scenario:  examples/notifications.yaml — 50 clients, each with its own Poisson stream of
           1 KiB updates, 25 ms one-way latency, 100 Mbps, 4 workers with 5 ms service;
           short polling every 2 s, long polling held up to 30 s, SSE heartbeats every 15 s,
           pub/sub push at-most-once. The update rate per client is swept.
Covers:    short_polling, long_polling, push, sse, pubsub on one workload (common random
           numbers: every pattern sees the same updates at each rate).

Each rate is a point of a sweep (``simcomm.sweep``) with ``--replications`` independent runs
(store in ``OUT/sweep/``). Writes ``update_delivery.csv`` (one row per pattern and rate: the
mean of every contract metric and of ``connections_per_client`` across the replications, each
with its 95 % Student-t interval ``<column>_ci_low``/``<column>_ci_high``, ``update_rate`` and
``n``, the replications) and ``update_delivery.png`` (four panels against the update rate, one
line per pattern with its interval as a band, each with its own marker so coinciding lines
stay visible) into ``--out`` (default ``out/update-delivery``).

Connections: every pattern here keeps one connection per client open all the time, and that is
what holding connections costs (a socket, its buffers and a file descriptor each, on both
ends). ``idle_connection_s`` splits that time by whether a request is outstanding: a parked long
poll is one, so long polling shows no idle time, while a push or SSE stream carries events
without a request and shows all of its time as idle. The fourth panel therefore shows
``connections_per_client``: held_connection_s / (measured window × clients), the mean number of
connections each client holds open, which compares the patterns on the same footing.

    python experiments/update_delivery.py [--out DIR] [--rates 0.01,0.1,1] [--replications 5]
        [--workers N] [--set key=value]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "examples" / "notifications.yaml"
RATES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
PANELS = (("latency_mean", "mean latency (s)"),
          ("messages_per_delivery", "messages per delivery"),
          ("wasted_server_s", "wasted server time (worker-s)"),
          ("connections_per_client", "connections held open per client (mean)"))


def derive(runs, scenarios):
    """Each run's connections held open per client: held_connection_s / (window × clients)."""
    per = {i: (sc.duration - sc.warmup) * sc.clients.count for i, sc in enumerate(scenarios)}
    return runs.assign(connections_per_client=runs.held_connection_s / runs.point.map(per))


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
    )
    from simcomm.plots import lines

    args = command_line(__doc__, ROOT / "out" / "update-delivery", rates=(
        ",".join(str(r) for r in RATES), "update rates per client (per second), "
        "comma-separated")).parse_args(argv)
    try:
        rates = numbers(args.rates, "--rates", "positive rates", lambda v: 0 < v < math.inf)
        res = run_sweep(SCENARIO, [Axis("update_rate", "workload.updates.rate", rates,
                                        lambda r: f"{r}/s")], args,
                        derive=derive)
    except ERRORS as e:
        return error(e)  # 2: a user mistake; 1: runs failed
    df = res.table
    args.out.mkdir(parents=True, exist_ok=True)
    table_to_csv(df, args.out / "update_delivery.csv")
    fig = lines(df, "update_rate", [m for m, _ in PANELS], labels=dict(PANELS), logx=True,
                logy=("latency_mean", "messages_per_delivery"), ncols=2, band=True,
                xlabel="update rate per client (updates/s)",
                title="Getting updates to clients: 50 clients, 25 ms away "
                      f"(bands: 95 % intervals, {res.replications} replications)")
    top = df[["connections_per_client", "connections_per_client_ci_high"]].max().max()
    fig.axes[-1].set_ylim(0, 1.2 * max(1.0, top))  # from zero
    fig.savefig(args.out / "update_delivery.png", dpi=110)
    with pd.option_context("display.width", 200):
        print(f"mean latency (s) by update rate per client ({res.replications} replications):")
        print(res.pivot("latency_mean").to_string(float_format=lambda v: f"{v:.4f}"))
        print("messages per delivery:")
        print(res.pivot("messages_per_delivery").to_string(float_format=lambda v: f"{v:.3f}"))
        print("connections held open per client (mean; idle_connection_s counts a push or SSE "
              "stream as idle, a parked long poll as busy):")
        print(res.pivot("connections_per_client").to_string(
            float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {args.out / 'update_delivery.csv'} and {args.out / 'update_delivery.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
