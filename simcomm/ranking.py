"""Compare a scenario's patterns with replications: rank them per metric with intervals, find
the Pareto-optimal ones on latency, chattiness and waste, and recommend one
(``simcomm compare FILE``).

Each replication runs every pattern entry on the same workload (common random numbers) with
the seed ``SeedSequence([scenario seed, 0, replication])`` (as a sweep's point 0), at
``detail: summary``. A metric's patterns are ranked by their mean over the replications,
lower first — higher first for the metrics where more is better (``delivered``,
``throughput``, ``success_ratio``) — each with its 95 % Student-t interval. A pattern is
*Pareto-optimal* when no other is at least as good on p99 latency, messages per delivery and
wasted server time and strictly better on one. The recommendation is the Pareto-optimal
pattern with the lowest p99 latency, said in one line with what it costs against the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .stats import t_interval
from .sweep import run_seed

__all__ = ["HIGHER_IS_BETTER", "PARETO", "RANKED", "Ranking", "rank"]

RANKED = ("latency_mean", "latency_p99", "messages_per_delivery", "bytes_per_delivery",
          "wasted_server_s", "held_connection_s", "client_blocked_s", "success_ratio")
"""The metrics the ranked table shows."""
PARETO = ("latency_p99", "messages_per_delivery", "wasted_server_s")
"""The objectives of the Pareto set (all: lower is better)."""
HIGHER_IS_BETTER = frozenset({"delivered", "throughput", "success_ratio"})


@dataclass
class Ranking:
    runs: pd.DataFrame
    """One row per replication and pattern: ``replication``, ``seed``, ``pattern``, every
    metric."""
    table: pd.DataFrame
    """Per metric and pattern: ``rank``, ``mean``, ``ci_low``, ``ci_high``, ``n``."""
    pareto: list[str]
    """The Pareto-optimal patterns, in entry order."""
    recommendation: str
    """One line."""


def rank(scenario, replications: int = 5) -> Ranking:
    """Run every pattern entry of *scenario* (a Scenario, dict or file) *replications* times
    and rank them."""
    from .runner import _scenario, compare

    scenario = _scenario(scenario)
    if replications < 2:
        raise ValueError(f"replications must be ≥ 2 for intervals, got {replications!r}")
    rows = []
    for r in range(replications):
        seed = run_seed(scenario.seed, 0, r)
        sc = scenario.model_copy(update={"seed": seed, "detail": "summary"})
        sc._variants = scenario.variants
        for res in compare(sc):
            rows.append({"replication": r, "seed": seed, "pattern": res.pattern,
                         **res.metrics})
    runs = pd.DataFrame(rows)
    order = list(dict.fromkeys(runs.pattern))
    table = []
    for metric in RANKED:
        stats = {p: t_interval(runs[runs.pattern == p][metric]) for p in order}
        better = metric in HIGHER_IS_BETTER
        ranked = sorted(order, key=lambda p: (math.isnan(stats[p].mean),
                                              -stats[p].mean if better else stats[p].mean))
        for i, p in enumerate(ranked, start=1):
            s = stats[p]
            table.append({"metric": metric, "rank": i, "pattern": p, "mean": s.mean,
                          "ci_low": s.low, "ci_high": s.high, "n": s.n})
    table = pd.DataFrame(table)
    means = runs.groupby("pattern", sort=False)[list(PARETO)].mean()
    front = [p for p in order if not any(
        all(means.at[q, m] <= means.at[p, m] for m in PARETO)
        and any(means.at[q, m] < means.at[p, m] for m in PARETO)
        for q in order if q != p)]
    best = min(front, key=lambda p: means.at[p, "latency_p99"]) if front else order[0]
    others = [p for p in order if p != best]
    costs = ", ".join(
        f"{means.at[best, m]:.3g} vs {min(means.at[q, m] for q in others):.3g}"
        for m in PARETO[1:]) if others else ""
    rec = (f"{best}: the lowest p99 latency ({means.at[best, 'latency_p99'] * 1e3:.1f} ms) "
           f"among the Pareto-optimal patterns ({', '.join(front)})"
           + (f"; messages per delivery and wasted server seconds against the best other: "
              f"{costs}" if costs else ""))
    return Ranking(runs, table, front, rec)
