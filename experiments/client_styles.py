"""Which request-response client style should a service use?

Question:  on one workload, what do sync callers, async callers with callbacks, async callers
           that poll for readiness, thread-per-request callers and a cheaper encoding cost in
           latency, blocked callers, client memory and bytes?
Scenario:  examples/client-styles.yaml — 20 clients, 200 requests/s in total (Poisson),
           25 ms one-way latency, 8 workers with 10 ms exponential service, JSON payloads of
           512 B up and a lognormal ~2 KiB down.
Covers:    request_response with client sync|async and the three completion modes; encodings.

Writes ``summary.csv`` (one row per client style, every contract metric) and
``client_styles.png`` into ``--out`` (default ``out/client-styles``), and prints the key
columns.

    python experiments/client_styles.py [--out DIR] [--set key=value ...]
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

    import simcomm
    from simcomm.experiment import command_line, error
    from simcomm.plots import comparison_bars

    args = command_line(__doc__, ROOT / "out" / "client-styles").parse_args(argv)
    try:
        scenario = simcomm.load_file(SCENARIO, args.overrides)
    except simcomm.ScenarioError as e:
        return error(e)
    results = simcomm.compare(scenario)
    df = results.summary
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "summary.csv", index=False)
    fig = comparison_bars(df, FIGURE_METRICS,
                          title=f"{scenario.name}: request-response client styles")
    fig.savefig(args.out / "client_styles.png", dpi=110)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        shown = df[["pattern", "latency_p50", "latency_p99", "client_blocked_s",
                    "client_threads_peak", "client_checks", "bytes_per_delivery"]].copy()
        shown[["latency_p50", "latency_p99"]] *= 1e3
        shown = shown.rename(columns={"latency_p50": "p50_ms", "latency_p99": "p99_ms"})
        print(shown.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    print(f"wrote {args.out / 'summary.csv'} and {args.out / 'client_styles.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
