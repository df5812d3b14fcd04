"""A page of many small objects over HTTP/1.1, HTTP/2 and HTTP/3: who wins as RTT and loss grow?

Question:  a browser loads a page of 40 small objects all at once; how long does the page take
           over HTTP/1.1 with six connections, over one HTTP/2 connection and over HTTP/3 (QUIC),
           as the round trip and the loss rate grow?
Scenario:  examples/page-protocols.yaml — 20 clients, each on its own 10 Mbps line, load a
           page of 40 objects (lognormal, median 4 KiB, p99 32 KiB: ~240 KiB a page) every
           10 s, every request of a page issued together by an async caller with no limit of its
           own; 16 server workers, 1 ms exponential service (static objects, no parsing cost).
           Every page starts cold, like a first visit: no connection is open before the run
           (``warm: false``) and a connection closes after 2 s idle — less than the 10 s between
           pages — so each page opens its connections again (TCP + TLS 1.3: 2 round trips before
           the first request; QUIC: 1) and slow-starts from 10 segments. Later connections
           resume the client's TLS session, which costs the same round trips as a first visit
           under TLS 1.3 (only the certificate bytes are saved); a client's first page (full
           handshake) falls in the warm-up. Loss is per segment, recovered by fast retransmit
           or the 200 ms RTO (Linux's minimum; QUIC: its probe timeout). One-way latency
           (10, 50, 100 ms: RTT 20, 100, 200 ms) and loss (0, 0.5, 1, 2 %) are swept.
Covers:    connection pools (h1 ``pool: 6``) against streams on one connection (h2, h3), set-up
           round trips per protocol, slow start, per-segment loss, head-of-line blocking per
           connection (TCP) and per stream (QUIC): ``batch_time_mean``/``_p95``,
           ``hol_blocked_s``.

Each latency × loss is a point of a sweep (``simcomm.sweep``, store in ``OUT/sweep/``) with
``--replications`` independent runs; the sensitivity check below is a second sweep
(``OUT/sweep-tlp/``). Writes ``page_protocols.csv`` (one row per latency, loss and protocol
entry: the mean of every contract metric across the replications with its 95 % Student-t
interval ``<metric>_ci_low``/``<metric>_ci_high``, plus ``latency_ms`` (one-way), ``rtt_ms``,
``loss``, ``tail_loss_probe`` and ``n``; the rows with ``tail_loss_probe`` true repeat the
highest loss with TCP's tail loss probes, RACK-TLP, as a sensitivity check of finding 2 — the
default model recovers a tail loss by the RTO, which one-exchange HTTP/1.1 connections meet
most) and ``page_protocols.png`` (mean and p95 page time against loss, one panel per RTT, a
line per protocol with its interval as a band) into ``--out`` (default
``out/page-protocols``), and prints one line per finding saying whether the model reproduces
it and whether the 95 % intervals support it.

Published measurements. Wang et al., "How Speedy is SPDY?" (NSDI 2014), loaded synthetic
pages over emulated links (RTT, bandwidth, loss up to 2 %, object size and count varied):
SPDY's one connection helps most with many small objects and at high RTT, and "most SPDY
benefits stem from the use of a single TCP connection, but the same feature is also
detrimental under high packet loss". Langley et al., "The QUIC Transport Protocol" (SIGCOMM
2017), and Kakhki et al., "Taking a Long Look at QUIC" (IMC 2017), found loads over QUIC
faster than over TLS/TCP, with the largest gains under loss and at high RTT (no head-of-line
blocking across streams, a faster handshake, better loss recovery). The criteria, fixed
before the results were seen, with ``T`` the mean page time (``batch_time_mean``) of an
entry:

1. one HTTP/2 connection helps most at high RTT: at the lowest loss swept (0 by default)
   ``T(h1) − T(h2)`` is positive at every RTT and grows strictly with the RTT;
2. it loses to six HTTP/1.1 connections under loss: at the highest loss swept,
   ``T(h2) > T(h1)`` at every RTT (the stronger of the two readings: h2 is actually slower,
   not merely less ahead);
3. QUIC holds up under loss: at the highest loss swept, ``T(h3) < T(h2)`` at every RTT.

The verdicts compare the means across replications as they are; each run has 2 400 pages per
entry and point, and the three entries of a replication see the same pages (common random
numbers). The intervals support a finding when the paired difference of the two entries
(per replication) excludes zero on the finding's side at every RTT — for finding 1 also when
the intervals at successive RTTs do not overlap (the gap grows beyond doubt).

    python experiments/page_protocols.py [--out DIR] [--latencies 10,50,100]
        [--losses 0,0.005,0.01,0.02] [--replications 5] [--workers N] [--set key=value]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "examples" / "page-protocols.yaml"
LATENCIES = (10.0, 50.0, 100.0)
"""One-way latencies (ms): RTT 20, 100, 200 ms."""
LOSSES = (0.0, 0.005, 0.01, 0.02)
H1, H2, H3 = "h1-6conn", "h2", "h3"


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

    args = command_line(
        __doc__, ROOT / "out" / "page-protocols",
        latencies=(",".join(f"{v:g}" for v in LATENCIES),
                   "one-way latencies in ms (RTT is twice), comma-separated"),
        losses=(",".join(f"{v:g}" for v in LOSSES),
                "segment loss probabilities in [0, 1), comma-separated")).parse_args(argv)
    try:
        latencies = numbers(args.latencies, "--latencies", "positive one-way latencies (ms)",
                            lambda v: 0 < v < math.inf, at_least=2)
        losses = numbers(args.losses, "--losses", "loss probabilities in [0, 1)",
                         lambda v: 0 <= v < 1, at_least=2)
        latency = Axis("latency_ms", "network.latency", latencies, lambda v: f"{v:g}ms")
        res = run_sweep(SCENARIO, [latency, Axis("loss", "network.loss", losses)], args,
                        label=f"{args.out.name} (grid)")
        # sensitivity of finding 2: the highest loss again with TCP's tail loss probes
        tlp = run_sweep(SCENARIO, [latency, Axis("loss", "network.loss", losses[-1:])], args,
                        fixed=["connection.tail_loss_probe=true"], store="sweep-tlp",
                        label=f"{args.out.name} (tail loss probes)")
    except ERRORS as e:
        return error(e)  # 2: a user mistake; 1: runs failed
    df = res.table.assign(rtt_ms=2 * res.table.latency_ms, tail_loss_probe=False)
    everything = pd.concat([df, tlp.table.assign(rtt_ms=2 * tlp.table.latency_ms,
                                                 tail_loss_probe=True)], ignore_index=True)
    front = ["latency_ms", "rtt_ms", "loss", "tail_loss_probe", "pattern", "n"]
    everything = everything[front + [c for c in everything.columns if c not in front]]
    batch = res.scenario(0).workload.requests.batch
    args.out.mkdir(parents=True, exist_ok=True)
    table_to_csv(everything, args.out / "page_protocols.csv")

    # the figure: one panel per RTT (mean page time above, p95 below), a line per protocol
    rtts = sorted(df.rtt_ms.unique())
    values = [m + s for m in ("batch_time_mean", "batch_time_p95")
              for s in ("", "_ci_low", "_ci_high")]
    wide = df.assign(loss_pct=100 * df.loss).pivot_table(
        index=["loss_pct", "pattern"], columns="rtt_ms", values=values, sort=False)
    panels = {}
    for metric, what in (("batch_time_mean", "mean"), ("batch_time_p95", "p95")):
        for rtt in rtts:
            panels[f"{metric}@{rtt:g}"] = f"RTT {rtt:g} ms: {what} page time (s)"
    names = []
    for m, rtt in wide.columns:
        stem = m.removesuffix("_ci_low").removesuffix("_ci_high")
        names.append(f"{stem}@{rtt:g}{m[len(stem):]}")
    wide.columns = names
    wide = wide.reset_index()
    order = {p: i for i, p in enumerate(df.pattern.unique())}
    wide = wide.sort_values("pattern", key=lambda s: s.map(order), kind="stable")
    fig = lines(wide, "loss_pct", list(panels), labels=panels, ncols=len(rtts), band=True,
                xlabel="segment loss (%)",
                title=f"A page of {batch} small objects, all requested at once: HTTP/1.1 "
                      "(6 connections), HTTP/2, HTTP/3\n"
                      f"(bands: 95 % intervals, {res.replications} replications)")
    fig.savefig(args.out / "page_protocols.png", dpi=110)

    def by_rtt(frame):
        """A frame indexed by (latency_ms, loss) re-indexed by (rtt_ms, loss)."""
        return frame.rename(index=lambda v: 2 * v, level="latency_ms").rename_axis(
            index={"latency_ms": "rtt_ms"})

    mean = by_rtt(res.pivot("batch_time_mean"))[[H1, H2, H3]]
    with pd.option_context("display.width", 200):
        print(f"mean page time (s) by RTT (ms) and loss ({res.replications} replications):")
        print(mean.to_string(float_format=lambda v: f"{v:.3f}"))
        hol = by_rtt(res.pivot("hol_blocked_s"))[[H1, H2, H3]]
        pages = by_rtt(res.pivot("issued"))[[H1, H2, H3]] / batch
        print("head-of-line blocking per page (message-seconds held behind earlier data):")
        print((hol / pages).to_string(float_format=lambda v: f"{v:.3f}"))

    low, high = losses[0], losses[-1]
    ms = 1e3
    rto = res.scenario(0).network.rto
    at_low = mean.xs(low, level="loss")
    gap = at_low[H1] - at_low[H2]
    first = bool((gap > 0).all() and (gap.diff().dropna() > 0).all())
    d1 = by_rtt(res.paired(H1, H2, "batch_time_mean")).xs(low, level="loss")
    first_ci = bool((d1.ci_low > 0).all()
                    and (d1.ci_low.to_numpy()[1:] > d1.ci_high.to_numpy()[:-1]).all())
    print(f"finding 1, one HTTP/2 connection helps most at high RTT (loss {low:g}: "
          f"T(h1) − T(h2) > 0 at every RTT and growing with it): {verdict(first)} (gap "
          + ", ".join(f"{g * ms:.0f} ms at RTT {rtt:g} ms" for rtt, g in gap.items()) + ")"
          + res.support(first_ci, "paired differences "
                        + ", ".join(f"[{r.ci_low * ms:.0f}, {r.ci_high * ms:.0f}] ms"
                                    for r in d1.itertuples())))
    at_high = mean.xs(high, level="loss")
    second = bool((at_high[H2] > at_high[H1]).all())
    d2 = by_rtt(res.paired(H2, H1, "batch_time_mean")).xs(high, level="loss")
    print(f"finding 2, HTTP/2 loses to six HTTP/1.1 connections under loss (loss {high:g}: "
          f"T(h2) > T(h1) at every RTT): {verdict(second)} ("
          + ", ".join(f"RTT {rtt:g} ms: h2 {at_high.at[rtt, H2]:.3f} s vs h1 "
                      f"{at_high.at[rtt, H1]:.3f} s" for rtt in at_high.index)
          + "; h2/h1 at loss " + f"{low:g} → {high:g}: "
          + ", ".join(f"{at_low.at[rtt, H2] / at_low.at[rtt, H1]:.2f} → "
                      f"{at_high.at[rtt, H2] / at_high.at[rtt, H1]:.2f}"
                      for rtt in at_high.index) + ")"
          + res.support(bool((d2.ci_low > 0).all()), "paired differences h2 − h1 "
                        + ", ".join(f"[{r.ci_low * ms:.0f}, {r.ci_high * ms:.0f}] ms"
                                    for r in d2.itertuples())))
    probe = by_rtt(tlp.pivot("batch_time_mean")).xs(high, level="loss")
    second_tlp = bool((probe[H2] > probe[H1]).all())
    d2t = by_rtt(tlp.paired(H2, H1, "batch_time_mean")).xs(high, level="loss")
    print(f"  finding 2 again with TCP tail loss probes (connection.tail_loss_probe=true, "
          f"RACK-TLP as Linux sends them; the model's default waits for the {rto * ms:.0f} ms "
          f"RTO, which costs one-exchange HTTP/1.1 connections most): {verdict(second_tlp)} ("
          + ", ".join(f"RTT {rtt:g} ms: h2 {probe.at[rtt, H2]:.3f} s vs h1 "
                      f"{probe.at[rtt, H1]:.3f} s" for rtt in probe.index) + ")"
          + tlp.support(bool((d2t.ci_low > 0).all()), "paired differences h2 − h1 "
                        + ", ".join(f"[{r.ci_low * ms:.0f}, {r.ci_high * ms:.0f}] ms"
                                    for r in d2t.itertuples())))
    third = bool((at_high[H3] < at_high[H2]).all())
    d3 = by_rtt(res.paired(H3, H2, "batch_time_mean")).xs(high, level="loss")
    print(f"finding 3, QUIC holds up under loss (loss {high:g}: T(h3) < T(h2) at every RTT): "
          f"{verdict(third)} ("
          + ", ".join(f"RTT {rtt:g} ms: h3 {at_high.at[rtt, H3]:.3f} s vs h2 "
                      f"{at_high.at[rtt, H2]:.3f} s" for rtt in at_high.index) + ")"
          + res.support(bool((d3.ci_high < 0).all()), "paired differences h3 − h2 "
                        + ", ".join(f"[{r.ci_low * ms:.0f}, {r.ci_high * ms:.0f}] ms"
                                    for r in d3.itertuples())))
    print(f"wrote {args.out / 'page_protocols.csv'} and {args.out / 'page_protocols.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
