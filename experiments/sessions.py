"""Can you restart the backend while the client workflow continues to work? Stateful,
stateless and store-backed sessions under restarts.

Question:  users run workflows (log in, 10 steps, log out) against instances that restart
           from time to time. With sessions in the instances' memory (stateful), in signed
           tokens (stateless) or in an external store, what does a restart cost the users,
           and what does each choice cost on every request?
Scenario:  examples/sessions.yaml — 60 users, a step every second, 3 instances of 4 workers
           (5 ms exponential service) behind a sticky balancer; tokens of 800 B taking 30 µs
           to verify; a store 0.5 ms away answering in 0.1 ms; sessions live 15 minutes and
           are revoked after ~5 minutes on average. The restart rate of each instance is swept
           (0, 1 per 2 min, 1 per min, 1 per 20 s; down 2 s each time).
Covers:    the workflow pattern, ``state.mode`` stateful / stateless / store, the sticky
           balancer, instance restarts at a rate (``faults.restarts.rate``), and the metrics
           ``sessions_lost``, ``relogins``, ``revoked_accepted``, ``revocation_window_mean``.

Writes ``sessions.csv`` (one row per restart rate and mode: every contract metric plus
``restart_rate``, ``relogins_per_1000`` (relogins per 1000 steps delivered),
``cpu_per_step`` (server worker-seconds per step) into ``--out`` (default ``out/sessions``),
and ``sessions.png`` (relogins per 1000 steps, p99 latency, bytes per step and server CPU per
step against the restart rate, a line per mode), and prints one line per finding.

Criteria, fixed before the results were seen (the model's rules, stated in
simcomm/components/state.py, make each one a consequence; the experiment checks that the
pieces work together under load):

1. a restart logs stateful users out and nobody else: at every restart rate > 0,
   ``sessions_lost`` > 0 for stateful and 0 for stateless and store, and stateful
   ``relogins`` grow with the restart rate;
2. stateless pays on every request: at every rate its bytes per step exceed stateful's by at
   least the token (800 B), and its server CPU per step by at least the verification (30 µs);
3. and cannot revoke: its ``revoked_accepted`` > 0 and its revocation window is between 0
   and the lifetime (15 min), while stateful's and the store's are 0 and accept nothing
   revoked;
4. the store costs its round trip: at restart rate 0 the store's mean latency exceeds
   stateful's by 2 × 0.5 ms + 0.1 ms = 1.1 ms, within ±30 % (queueing at the store and the
   instances moves it a little).

    python experiments/sessions.py [--out DIR] [--rates 0,0.0083,0.0167,0.05] [--set k=v]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "examples" / "sessions.yaml"
RATES = (0.0, 1 / 120, 1 / 60, 1 / 20)
MODES = ("stateful", "stateless", "store")
PANELS = (("relogins_per_1000", "relogins per 1000 steps"), ("latency_p99", "p99 latency (s)"),
          ("bytes_per_delivery", "bytes on the wire per step"),
          ("cpu_per_step", "server CPU per step (s)"))


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    import simcomm
    from simcomm.experiment import UsageError, command_line, error, numbers
    from simcomm.plots import lines

    args = command_line(__doc__, ROOT / "out" / "sessions", rates=(
        ",".join(f"{r:.4g}" for r in RATES),
        "restarts per second of each instance (0: none), comma-separated")).parse_args(argv)
    runs = []
    try:
        rates = numbers(args.rates, "--rates", "restart rates ≥ 0 (per second)",
                        lambda v: 0 <= v < math.inf, at_least=2)
        for rate in rates:
            restarts = [f"faults.restarts.rate={rate:g}/s"] if rate else ["faults.restarts=null"]
            runs.append((rate, simcomm.load_file(SCENARIO, [
                *args.overrides, *restarts, "detail=summary"])))
    except (UsageError, simcomm.ScenarioError) as e:
        return error(e)
    sc0 = runs[0][1]
    if {v.label for v in sc0.variants} != set(MODES):
        return error("the scenario's entries must be labelled " + ", ".join(MODES))
    specs = {v.label: v for v in sc0.variants}
    token = specs["stateless"].state.token_size
    verify = specs["stateless"].state.verify
    lifetime = specs["stateless"].state.lifetime
    store = specs["store"].state
    store_rt = 2 * store.store_latency + store.store_service.mean
    rows = []
    for rate, sc in runs:
        for r in simcomm.compare(sc):
            s = r.summary
            rows.append({"restart_rate": rate, **s,
                         "relogins_per_1000": 1000 * s["relogins"] / s["delivered"],
                         "cpu_per_step": s["server_busy_s"] / s["delivered"]})
    df = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "sessions.csv", index=False)
    fig = lines(df.assign(restarts_per_min=60 * df.restart_rate), "restarts_per_min",
                [m for m, _ in PANELS], labels=dict(PANELS), ncols=2,
                xlabel="restarts per minute of each instance",
                title="Stateful, stateless and store-backed sessions under restarts")
    fig.savefig(args.out / "sessions.png", dpi=110)

    t = df.set_index(["restart_rate", "pattern"])
    with pd.option_context("display.width", 200):
        print(t[["sessions_lost", "relogins_per_1000", "latency_p99", "bytes_per_delivery",
                 "cpu_per_step", "revoked_accepted", "revocation_window_mean"]]
              .unstack("pattern").to_string(float_format=lambda v: f"{v:.4g}"))
    restarting = [r for r in rates if r > 0]
    lost = t["sessions_lost"].unstack("pattern")
    relog = t["relogins"].unstack("pattern")["stateful"].loc[rates]
    first = (all(lost.at[r, "stateful"] > 0 and lost.at[r, "stateless"] == 0
                 and lost.at[r, "store"] == 0 for r in restarting)
             and bool((relog.diff().dropna() > 0).all()))
    print(f"finding 1, a restart logs stateful users out and nobody else: "
          f"{'reproduced' if first else 'NOT shown'} (sessions lost, stateful: "
          + ", ".join(f"{lost.at[r, 'stateful']:g} at {60 * r:.3g}/min" for r in rates)
          + "; stateless and store: "
          + ", ".join(f"{lost.at[r, 'stateless']:g}/{lost.at[r, 'store']:g}" for r in rates)
          + ")")
    b = t["bytes_per_delivery"].unstack("pattern")
    c = t["cpu_per_step"].unstack("pattern")
    db, dc = b["stateless"] - b["stateful"], c["stateless"] - c["stateful"]
    second = bool((db >= token).all() and (dc >= verify * (1 - 1e-9)).all())
    print(f"finding 2, stateless pays on every request (≥ {token:g} B and ≥ "
          f"{verify * 1e6:g} µs of CPU more per step): {'reproduced' if second else 'NOT shown'}"
          f" ({db.min():.0f}–{db.max():.0f} B, {dc.min() * 1e6:.1f}–{dc.max() * 1e6:.1f} µs)")
    ra = t["revoked_accepted"].unstack("pattern")
    win = t["revocation_window_mean"].unstack("pattern")
    third = bool((ra["stateless"] > 0).all() and (win["stateless"] > 0).all()
                 and (win["stateless"] <= lifetime).all() and (ra["stateful"] == 0).all()
                 and (ra["store"] == 0).all() and (win["stateful"] == 0).all()
                 and (win["store"] == 0).all())
    print(f"finding 3, stateless cannot revoke (revoked tokens accepted, a window within the "
          f"{lifetime / 60:g} min lifetime; none and 0 for stateful and store): "
          f"{'reproduced' if third else 'NOT shown'} (stateless accepted "
          f"{ra['stateless'].min():g}–{ra['stateless'].max():g} revoked steps, window "
          f"{win['stateless'].min():.0f}–{win['stateless'].max():.0f} s)")
    m = t["latency_mean"].unstack("pattern")
    r0 = rates[0]
    extra = m.at[r0, "store"] - m.at[r0, "stateful"]
    fourth = r0 == 0 and abs(extra - store_rt) <= 0.3 * store_rt
    print(f"finding 4, the store costs its round trip (rate 0: store − stateful mean latency "
          f"{store_rt * 1e3:.2f} ms ± 30 %): {'reproduced' if fourth else 'NOT shown'} "
          f"({extra * 1e3:.2f} ms)")
    print(f"wrote {args.out / 'sessions.csv'} and {args.out / 'sessions.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
