"""Which request-response client style should a service use?

Question:  on one workload, what do sync callers, async callers with callbacks, async callers
           that poll for readiness, thread-per-request callers and a cheaper encoding cost in
           latency, blocked callers, client memory and bytes?
Scenario:  examples/client-styles.yaml — 20 clients, 200 requests/s in total (Poisson),
           25 ms one-way latency, 8 workers with 10 ms exponential service, JSON payloads of
           512 B up and a lognormal ~2 KiB down.
Covers:    request_response with client sync|async and the three completion modes; encodings.

The scenario is run ``--replications`` times (a one-point sweep, ``simcomm.sweep``, store in
``OUT/sweep/``). Writes ``summary.csv`` (one row per client style: the mean of every contract
metric across the replications with its 95 % Student-t interval ``<metric>_ci_low`` /
``<metric>_ci_high``, and ``n``, the replications) and ``client_styles.png`` (bars of the
means with the intervals as error bars) into ``--out`` (default ``out/client-styles``), and
prints the key columns.

    python experiments/client_styles.py [--out DIR] [--replications 5] [--workers N]
        [--set key=value ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "examples" / "client-styles.yaml"
FIGURE_METRICS = ("latency_p50", "latency_p99", "client_blocked_s", "client_thread_memory_peak",
                  "client_checks", "bytes_per_delivery")


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from simcomm.experiment import (
        ERRORS,
        command_line,
        error,
        run_sweep,
        table_to_csv,
    )
    from simcomm.plots import comparison_bars

    args = command_line(__doc__, ROOT / "out" / "client-styles").parse_args(argv)
    try:
        res = run_sweep(SCENARIO, [], args)
    except ERRORS as e:
        return error(e)  # 2: a user mistake; 1: runs failed
    df = res.table
    args.out.mkdir(parents=True, exist_ok=True)
    table_to_csv(df, args.out / "summary.csv")
    name = res.scenario(0).name
    fig = comparison_bars(df, FIGURE_METRICS, interval=True,
                          title=f"{name}: request-response client styles (95 % intervals, "
                                f"{res.replications} replications)")
    fig.savefig(args.out / "client_styles.png", dpi=110)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        shown = df[["pattern", "latency_p50", "latency_p99", "client_blocked_s",
                    "client_threads_peak", "client_checks", "bytes_per_delivery"]].copy()
        shown[["latency_p50", "latency_p99"]] *= 1e3
        shown = shown.rename(columns={"latency_p50": "p50_ms", "latency_p99": "p99_ms"})
        print(f"means of {res.replications} replications:")
        print(shown.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
        p99 = df.set_index("pattern")[["latency_p99", "latency_p99_ci_low",
                                       "latency_p99_ci_high"]] * 1e3
        print("p99 latency (ms), 95 % interval:")
        print(p99.to_string(float_format=lambda v: f"{v:,.2f}"))
    print(f"wrote {args.out / 'summary.csv'} and {args.out / 'client_styles.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
