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

Each restart rate is a point of a sweep (``simcomm.sweep``, store in ``OUT/sweep/``) with
``--replications`` independent runs. Writes ``sessions.csv`` (one row per restart rate and
mode: the mean of every contract metric across the replications with its 95 % Student-t
interval ``<column>_ci_low``/``<column>_ci_high``, plus ``restart_rate``, ``n`` and, computed
per replication, ``relogins_per_1000`` (relogins per 1000 steps delivered) and
``cpu_per_step`` (server worker-seconds per step)) into ``--out`` (default ``out/sessions``),
and ``sessions.png`` (relogins per 1000 steps, p99 latency, bytes per step and server CPU per
step against the restart rate, a line per mode with its interval as a band), and prints one
line per finding: whether the means show it, and whether the 95 % intervals support it.

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

The intervals support 1 when stateful's sessions lost is above zero at every rate > 0 (its
interval's lower bound), stateless and store lose none in any replication, and the
intervals of stateful's relogins at successive rates do not overlap; 2 when the paired
differences stateless − stateful of bytes and CPU per step stay above the token and the
verification; 3 when stateless's revoked steps accepted is above zero and its window's
interval lies within (0, lifetime], stateful and store accepting none in any replication; 4
when the paired difference store − stateful lies within the ±30 % band.

    python experiments/sessions.py [--out DIR] [--rates 0,0.0083,0.0167,0.05]
        [--replications 5] [--workers N] [--set k=v]
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


def check(sc) -> str | None:
    if {v.label for v in sc.variants} != set(MODES):
        return "the scenario's entries must be labelled " + ", ".join(MODES)
    return None


def derive(runs, scenarios):
    """Each run's relogins per 1000 steps delivered and server CPU per step."""
    return runs.assign(relogins_per_1000=1000 * runs.relogins / runs.delivered,
                       cpu_per_step=runs.server_busy_s / runs.delivered)


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

    args = command_line(__doc__, ROOT / "out" / "sessions", rates=(
        ",".join(f"{r:.4g}" for r in RATES),
        "restarts per second of each instance (0: none), comma-separated")).parse_args(argv)
    try:
        rates = numbers(args.rates, "--rates", "restart rates ≥ 0 (per second)",
                        lambda v: 0 <= v < math.inf, at_least=2)
        # a rate of 0: no rate, so no restarts (the section's other keys stay as they are)
        res = run_sweep(SCENARIO, [Axis("restart_rate", "faults.restarts.rate", rates,
                                        lambda r: f"{r:g}/s" if r else None)], args,
                        check=check, derive=derive)
    except ERRORS as e:
        return error(e)  # 2: a user mistake; 1: runs failed
    specs = {v.label: v for v in res.scenario(0).variants}
    token = specs["stateless"].state.token_size
    verify = specs["stateless"].state.verify
    lifetime = specs["stateless"].state.lifetime
    store = specs["store"].state
    store_rt = 2 * store.store_latency + store.store_service.mean
    df = res.table
    args.out.mkdir(parents=True, exist_ok=True)
    table_to_csv(df, args.out / "sessions.csv")
    shown = df.assign(restarts_per_min=60 * df.restart_rate)
    fig = lines(shown, "restarts_per_min", [m for m, _ in PANELS], labels=dict(PANELS), ncols=2,
                band=True, xlabel="restarts per minute of each instance",
                title="Stateful, stateless and store-backed sessions under restarts "
                      f"(bands: 95 % intervals, {res.replications} replications)")
    fig.savefig(args.out / "sessions.png", dpi=110)

    t = df.set_index(["restart_rate", "pattern"])
    with pd.option_context("display.width", 200):
        print(f"means of {res.replications} replications:")
        print(t[["sessions_lost", "relogins_per_1000", "latency_p99", "bytes_per_delivery",
                 "cpu_per_step", "revoked_accepted", "revocation_window_mean"]]
              .unstack("pattern").to_string(float_format=lambda v: f"{v:.4g}"))
    restarting = [r for r in rates if r > 0]
    lost = res.pivot("sessions_lost")
    lost_low = res.pivot("sessions_lost", stat="_ci_low")
    lost_high = res.pivot("sessions_lost", stat="_ci_high")
    relog = res.pivot("relogins")["stateful"].loc[rates]
    relog_low = res.pivot("relogins", stat="_ci_low")["stateful"].loc[rates]
    relog_high = res.pivot("relogins", stat="_ci_high")["stateful"].loc[rates]
    first = (all(lost.at[r, "stateful"] > 0 and lost.at[r, "stateless"] == 0
                 and lost.at[r, "store"] == 0 for r in restarting)
             and bool((relog.diff().dropna() > 0).all()))
    first_ci = (all(lost_low.at[r, "stateful"] > 0 and lost_high.at[r, "stateless"] == 0
                    and lost_high.at[r, "store"] == 0 for r in restarting)
                and bool((relog_low.to_numpy()[1:] > relog_high.to_numpy()[:-1]).all()))
    print(f"finding 1, a restart logs stateful users out and nobody else: {verdict(first)} "
          f"(sessions lost, stateful: "
          + ", ".join(f"{lost.at[r, 'stateful']:g} at {60 * r:.3g}/min" for r in rates)
          + "; stateless and store: "
          + ", ".join(f"{lost.at[r, 'stateless']:g}/{lost.at[r, 'store']:g}" for r in rates)
          + ")"
          + res.support(first_ci, "stateful relogins "
                        + ", ".join(f"[{lo:.0f}, {hi:.0f}]" for lo, hi in zip(
                            relog_low, relog_high, strict=True))))
    b = res.pivot("bytes_per_delivery")
    c = res.pivot("cpu_per_step")
    db, dc = b["stateless"] - b["stateful"], c["stateless"] - c["stateful"]
    second = bool((db >= token).all() and (dc >= verify * (1 - 1e-9)).all())
    pb = res.paired("stateless", "stateful", "bytes_per_delivery")
    pc = res.paired("stateless", "stateful", "cpu_per_step")
    print(f"finding 2, stateless pays on every request (≥ {token:g} B and ≥ "
          f"{verify * 1e6:g} µs of CPU more per step): {verdict(second)}"
          f" ({db.min():.0f}–{db.max():.0f} B, {dc.min() * 1e6:.1f}–{dc.max() * 1e6:.1f} µs)"
          + res.support(bool((pb.ci_low >= token).all()
                             and (pc.ci_low >= verify * (1 - 1e-9)).all()),
                        f"paired differences' lowest bounds {pb.ci_low.min():.0f} B, "
                        f"{pc.ci_low.min() * 1e6:.1f} µs"))
    ra = res.pivot("revoked_accepted")
    ra_low = res.pivot("revoked_accepted", stat="_ci_low")
    ra_high = res.pivot("revoked_accepted", stat="_ci_high")
    win = res.pivot("revocation_window_mean")
    win_low = res.pivot("revocation_window_mean", stat="_ci_low")
    win_high = res.pivot("revocation_window_mean", stat="_ci_high")
    third = bool((ra["stateless"] > 0).all() and (win["stateless"] > 0).all()
                 and (win["stateless"] <= lifetime).all() and (ra["stateful"] == 0).all()
                 and (ra["store"] == 0).all() and (win["stateful"] == 0).all()
                 and (win["store"] == 0).all())
    third_ci = bool((ra_low["stateless"] > 0).all() and (win_low["stateless"] > 0).all()
                    and (win_high["stateless"] <= lifetime).all()
                    and (ra_high[["stateful", "store"]] == 0).all().all()
                    and (win_high[["stateful", "store"]] == 0).all().all())
    print(f"finding 3, stateless cannot revoke (revoked tokens accepted, a window within the "
          f"{lifetime / 60:g} min lifetime; none and 0 for stateful and store): "
          f"{verdict(third)} (stateless accepted "
          f"{ra['stateless'].min():g}–{ra['stateless'].max():g} revoked steps, window "
          f"{win['stateless'].min():.0f}–{win['stateless'].max():.0f} s)"
          + res.support(third_ci, f"stateless accepted ≥ {ra_low['stateless'].min():.3g}, "
                        f"window {win_low['stateless'].min():.0f}–"
                        f"{win_high['stateless'].max():.0f} s"))
    m = res.pivot("latency_mean")
    r0 = rates[0]
    extra = m.at[r0, "store"] - m.at[r0, "stateful"]
    fourth = r0 == 0 and abs(extra - store_rt) <= 0.3 * store_rt
    d = res.paired("store", "stateful", "latency_mean").loc[r0]
    print(f"finding 4, the store costs its round trip (rate 0: store − stateful mean latency "
          f"{store_rt * 1e3:.2f} ms ± 30 %): {verdict(fourth)} ({extra * 1e3:.2f} ms)"
          + res.support(r0 == 0 and 0.7 * store_rt <= d.ci_low and d.ci_high <= 1.3 * store_rt,
                        f"paired difference [{d.ci_low * 1e3:.2f}, {d.ci_high * 1e3:.2f}] ms"))
    print(f"wrote {args.out / 'sessions.csv'} and {args.out / 'sessions.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
