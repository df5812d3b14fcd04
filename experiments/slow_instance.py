"""Which balancing policy copes with one slow instance?

Question:  one of three instances behind a load balancer gets slower (a noisy neighbour, a bad
           disk, a garbage-collection storm): which policy keeps the tail latency down —
           round robin, least outstanding requests, random or consistent hashing?
Scenario:  examples/slow-instance.yaml — 60 clients, 180 requests/s (Poisson), 3 instances of
           2 workers with 10 ms exponential service (ρ = 0.3 per worker without the fault),
           a balancer with 20 µs of CPU per request 200 µs from the instances, 1 % of requests
           failing with a 500; instance 0's service times are multiplied by the swept factor
           (1, 2, 3, 5) for the whole run.
Covers:    server instances, the four balancing policies, slow episodes and failing requests
           (``faults:``), per-instance utilisation (``instance_utilization_max``),
           ``failed`` and ``success_ratio``.

Each factor is a point of a sweep (``simcomm.sweep``, store in ``OUT/sweep/``) with
``--replications`` independent runs. Writes ``slow_instance.csv`` (one row per factor and
policy: the mean of every contract metric across the replications with its 95 % Student-t
interval ``<metric>_ci_low``/``<metric>_ci_high``, plus ``factor`` and ``n``) and
``slow_instance.png`` (p99 and mean latency, the busiest instance's utilisation and the success
ratio against the factor, a line per policy with its interval as a band) into ``--out``
(default ``out/slow-instance``), and prints one line per finding: whether the means show it,
and whether the 95 % intervals support it (1 and 3: the paired difference of the p99s
excludes zero; 2: the interval of round robin's busiest utilisation lies above the bound).

What practice says (the nginx and Envoy documentation of least-connections / least-request
balancing; M. Harchol-Balter, *Performance Modeling and Design of Computer Systems*, 2013, on
task assignment: join-the-shortest-queue adapts to server speeds, round robin and random do
not): a policy that looks at outstanding requests steers load away from a slow instance,
while oblivious ones keep sending it its share. Criteria, fixed before the results were
seen, with f the largest factor swept and ρ = λ·E[S]/(instances·workers):

1. least outstanding keeps the tail: at every factor > 1 its p99 latency is below round
   robin's and random's;
2. round robin keeps sending the slow instance its share: at f, the busiest instance's
   utilisation under round robin is at least 0.9 · min(1, f·ρ) — the slow instance working
   at f times the load of the others (0.9: each instance's busy fraction over the run
   varies by a few per cent);
3. consistent hashing cannot steer either: at f, its p99 is above least outstanding's (the
   clients hashed to the slow instance wait behind it).

At ×5 the slow instance gets 1.5 times what it can serve under round robin and random (and
consistent hashing): its queue grows without bound, so their latencies there depend on the
run's length (an overload, not a steady state); least outstanding stays stable.

    python experiments/slow_instance.py [--out DIR] [--factors 1,2,3,5] [--replications 5]
        [--workers N] [--set key=value]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "examples" / "slow-instance.yaml"
FACTORS = (1.0, 2.0, 3.0, 5.0)
RR, LO, RND, CH = "round-robin", "least-outstanding", "random", "consistent-hash"
PANELS = (("latency_p99", "p99 latency (s)"), ("latency_mean", "mean latency (s)"),
          ("instance_utilization_max", "busiest instance's utilisation"),
          ("success_ratio", "success ratio"))


def check(sc) -> str | None:
    if {v.label for v in sc.variants} != {RR, LO, RND, CH}:
        return f"the scenario's entries must be labelled {RR}, {LO}, {RND} and {CH}"
    return None


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

    args = command_line(__doc__, ROOT / "out" / "slow-instance", factors=(
        ",".join(f"{f:g}" for f in FACTORS),
        "slowdowns of instance 0 (service time multipliers ≥ 1), comma-separated")
    ).parse_args(argv)
    try:
        factors = numbers(args.factors, "--factors", "slowdown factors ≥ 1",
                          lambda v: 1 <= v < math.inf, at_least=2)
        res = run_sweep(SCENARIO, [Axis("factor", "faults.slow.0.factor", factors)], args,
                        check=check)
    except ERRORS as e:
        return error(e)  # 2: a user mistake; 1: runs failed
    df = res.table
    args.out.mkdir(parents=True, exist_ok=True)
    table_to_csv(df, args.out / "slow_instance.csv")
    fig = lines(df, "factor", [m for m, _ in PANELS], labels=dict(PANELS), ncols=2, band=True,
                xlabel="slowdown of instance 0 (× service time)",
                title="One slow instance of three behind a load balancer "
                      f"(bands: 95 % intervals, {res.replications} replications)")
    fig.savefig(args.out / "slow_instance.png", dpi=110)

    p99 = res.pivot("latency_p99")[[RR, LO, RND, CH]]
    busiest = res.pivot("instance_utilization_max")
    with pd.option_context("display.width", 200):
        print(f"p99 latency (s) by slowdown factor ({res.replications} replications):")
        print(p99.to_string(float_format=lambda v: f"{v:.3f}"))
        print("busiest instance's utilisation:")
        print(busiest[[RR, LO, RND, CH]].to_string(float_format=lambda v: f"{v:.3f}"))
    sc0 = res.scenario(0)
    s = sc0.server
    rho = (sc0.workload.requests.mean_rate(sc0.clients.count, sc0.duration)
           * s.service_time.mean / (s.instances * s.workers))
    slow = p99[p99.index > 1]
    first = bool(len(slow) and ((slow[LO] < slow[RR]) & (slow[LO] < slow[RND])).all())
    vs_rr = res.paired(LO, RR, "latency_p99")
    vs_rnd = res.paired(LO, RND, "latency_p99")
    worst = pd.concat([vs_rr.ci_high, vs_rnd.ci_high], axis=1).max(axis=1)[slow.index]
    print(f"finding 1, least outstanding keeps the tail (p99 below round robin's and random's "
          f"at every factor > 1): {verdict(first)} ("
          + ", ".join(f"×{f:g}: {slow.at[f, LO] * 1e3:.0f} vs {slow.at[f, RR] * 1e3:.0f} and "
                      f"{slow.at[f, RND] * 1e3:.0f} ms" for f in slow.index) + ")"
          + res.support(bool(len(worst) and (worst < 0).all()),
                        "paired differences least outstanding − round robin and − random, "
                        "highest upper bound "
                        + ", ".join(f"×{f:g}: {v * 1e3:.0f} ms" for f, v in worst.items())))
    f = factors[-1]
    want = 0.9 * min(1.0, f * rho)
    second = bool(busiest.at[f, RR] >= want)
    rr_low = res.pivot("instance_utilization_max", stat="_ci_low").at[f, RR]
    print(f"finding 2, round robin keeps sending the slow instance its share (×{f:g}: busiest "
          f"instance's utilisation ≥ 0.9 · min(1, {f:g} · {rho:.2f}) = {want:.2f}): "
          f"{verdict(second)} (round robin {busiest.at[f, RR]:.2f}, "
          f"least outstanding {busiest.at[f, LO]:.2f})"
          + res.support(bool(rr_low >= want), f"round robin's lower bound {rr_low:.2f}"))
    third = bool(p99.at[f, CH] > p99.at[f, LO])
    ch = res.paired(CH, LO, "latency_p99").loc[f]
    print(f"finding 3, consistent hashing cannot steer (×{f:g}: p99 above least "
          f"outstanding's): {verdict(third)} "
          f"({p99.at[f, CH] * 1e3:.0f} vs {p99.at[f, LO] * 1e3:.0f} ms)"
          + res.support(bool(ch.ci_low > 0), f"paired difference consistent hashing − least "
                        f"outstanding [{ch.ci_low * 1e3:.0f}, {ch.ci_high * 1e3:.0f}] ms"))
    print(f"wrote {args.out / 'slow_instance.csv'} and {args.out / 'slow_instance.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
