"""Figures. One function per figure kind; each takes a tidy DataFrame of summary rows (one row
per run, the metric names as columns) and returns a matplotlib Figure.

Import cost: matplotlib is imported when a function is called, not when simcomm is. The
backend is left alone: figures show inline in Jupyter, in a window from a script with a display,
and are only drawn off-screen (Agg) where matplotlib itself picks that.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .metrics.definitions import METRICS

__all__ = ["bands", "cdf", "comparison_bars", "decomposition", "lines", "pareto", "sequence",
           "waste"]

_UNITS = {m.name: m.unit for m in METRICS}


def _scale(metric: str) -> tuple[float, str]:
    unit = _UNITS.get(metric, "")
    if unit == "s" and metric.startswith("latency"):
        return 1e3, "ms"
    return 1.0, unit


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


# Each line of a panel gets its own marker and dash pattern, and markers shrink from the first
# line to the last and are hollow, so a line drawn exactly on top of another (push, SSE and
# long polling deliver at the same latency) still shows the one beneath it.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_DASHES = ("-", "--", "-.", ":")


def _line_style(i: int, n: int) -> dict:
    size = 9.0 - 5.0 * i / max(n - 1, 1)
    return {"marker": _MARKERS[i % len(_MARKERS)], "linestyle": _DASHES[i % len(_DASHES)],
            "markersize": size, "markerfacecolor": "none", "markeredgewidth": 1.3,
            "linewidth": 1.4, "zorder": 2 + i}


def lines(df: pd.DataFrame, x: str, metrics: Sequence[str], *, by: str = "pattern",
          labels: dict[str, str] | None = None, title: str | None = None,
          logx: bool = False, logy: Sequence[str] = ("messages_per_delivery",),
          xlabel: str | None = None, ncols: int | None = None, band: bool = False):
    """One panel per metric against column *x*, one line per value of *by*.

    *xlabel* labels the x axis (say its unit; default: the column name). Lines differ in
    colour, marker and dash pattern, with hollow markers shrinking from line to line, so lines
    that coincide stay visible. *ncols* panels per row (default: all in one row). With *band*,
    each line's interval is drawn around it as a band, from the columns ``<metric>_ci_low``
    and ``<metric>_ci_high`` where the frame has them (an experiment's table: 95 %)."""
    plt = _pyplot()
    missing = [m for m in [x, by, *metrics] if m not in df.columns]
    if missing:
        raise KeyError(f"columns not in the frame: {missing}")
    labels = labels or {}
    ncols = min(ncols or len(metrics), len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.8 * nrows), squeeze=False)
    groups = list(df.groupby(by, sort=False))
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for i, (name, group) in enumerate(groups):
            g = group.sort_values(x)
            (line,) = ax.plot(g[x], g[metric], label=str(name), **_line_style(i, len(groups)))
            low, high = f"{metric}_ci_low", f"{metric}_ci_high"
            if band and low in g.columns and high in g.columns:
                ax.fill_between(g[x], g[low], g[high], alpha=0.15, color=line.get_color(),
                                linewidth=0, zorder=1)
        ax.set_xlabel(x if xlabel is None else xlabel)
        ax.set_title(labels.get(metric, metric), fontsize=10)
        if logx:
            ax.set_xscale("log")
        if metric in logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def comparison_bars(df: pd.DataFrame, metrics: Sequence[str], *, by: str = "pattern",
                    title: str | None = None, ncols: int = 3, interval: bool = False):
    """One bar chart per metric, one bar per row of *df* (labelled by column *by*). With
    *interval*, each bar gets an error bar from the columns ``<metric>_ci_low`` and
    ``<metric>_ci_high`` where the frame has them (an experiment's table: 95 %)."""
    plt = _pyplot()
    missing = [m for m in [*metrics, by] if m not in df.columns]
    if missing:
        raise KeyError(f"columns not in the frame: {missing}")
    n = len(metrics)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    labels = df[by].astype(str).tolist()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes.flat, metrics, strict=False):
        factor, unit = _scale(metric)
        values = df[metric].astype(float) * factor
        ax.bar(range(len(labels)), values, color=[colors[i % len(colors)]
                                                  for i in range(len(labels))])
        low, high = f"{metric}_ci_low", f"{metric}_ci_high"
        if interval and low in df.columns and high in df.columns:
            below = (values - df[low].astype(float) * factor).clip(lower=0)
            above = (df[high].astype(float) * factor - values).clip(lower=0)
            ax.errorbar(range(len(labels)), values, yerr=[below, above], fmt="none",
                        ecolor="black", elinewidth=1, capsize=3)
        ax.set_title(metric + (f" ({unit})" if unit and unit != "count" else ""), fontsize=10)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def decomposition(deliveries: dict[str, pd.DataFrame] | pd.DataFrame, *,
                  title: str | None = None, unit: float = 1e-3, unit_label: str = "ms",
                  by: str = "pattern"):
    """Stacked bars of the mean latency decomposition, one bar per entry of *deliveries*
    (label → a ``deliveries`` frame from ``Result.frames``), or per row of a frame of means
    (a *by* column and the ``<part>_s`` columns: ``Result.parts``, a sweep's rows averaged).
    The stack's height is the mean latency, since the parts of every delivery add up to its
    latency."""
    from .metrics.definitions import PART_NAMES

    plt = _pyplot()
    cols = [f"{p}_s" for p in PART_NAMES]
    if isinstance(deliveries, pd.DataFrame):
        missing = [c for c in (by, *cols) if c not in deliveries.columns]
        if missing:
            raise KeyError(f"columns not in the frame: {missing}")
        labels = [str(v) for v in deliveries[by]]
        means = pd.DataFrame(deliveries[cols].to_numpy(dtype=float), index=labels,
                             columns=cols) / unit
    else:
        labels = list(deliveries)
        means = pd.DataFrame({label: df[cols].mean()
                              for label, df in deliveries.items()}).T / unit
    means = means.loc[:, (means > 0).any()]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(labels) + 3), 4.2))
    bottom = pd.Series(0.0, index=means.index)
    for col in means.columns:
        ax.bar(range(len(labels)), means[col], bottom=bottom, label=col.removesuffix("_s"))
        bottom += means[col]
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"mean latency ({unit_label})")
    ax.legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig



_COLOURS = {"request": "tab:blue", "response": "tab:green", "update": "tab:orange",
            "handshake": "tab:gray", "ack": "tab:purple", "heartbeat": "tab:olive"}


def sequence(exchange: pd.DataFrame, *, title: str | None = None):
    """A sequence diagram of one client's exchange (:func:`simcomm.sequence.exchange`): a lane
    per party (publisher, client, proxy, server: those present), time running down, an arrow
    per message from its lane at its send time to its destination's at its arrival (a lost
    copy ends halfway, crossed), labelled with its kind, tag and bytes."""
    import math

    from .sequence import LANES

    plt = _pyplot()
    used = [lane for lane in LANES if lane in set(exchange.src) | set(exchange.dst)]
    if not used:
        used = ["client", "server"]
    x = {lane: i for i, lane in enumerate(used)}
    n = len(exchange)
    fig, ax = plt.subplots(figsize=(2.6 * len(used) + 2.5, max(4.0, 0.32 * n + 1.5)),
                           layout="constrained")
    t0 = float(exchange.t_send.min()) if n else 0.0
    top = 1.0  # ms: the latest arrival shown (annotations do not set the axes' limits)
    for r in exchange.itertuples(index=False):
        a, b = x[r.src], x[r.dst]
        y0 = (r.t_send - t0) * 1e3
        lost = math.isnan(r.t_arrive)
        # a lost copy: an arrow halfway across, a hair later than it left
        y1 = y0 + 0.5 if lost else (r.t_arrive - t0) * 1e3
        xb = (a + b) / 2 if lost else b
        top = max(top, y1)
        colour = _COLOURS.get(r.kind, "black")
        ax.annotate("", xy=(xb, y1), xytext=(a, y0),
                    arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.2,
                                "linestyle": "--" if r.tag == "retry" else "-"})
        if lost:
            ax.plot([xb], [y1], marker="x", color="red", ms=8)
        ax.text((a + xb) / 2, (y0 + y1) / 2, f"{r.kind} {r.tag} {r.bytes:,.0f} B",
                fontsize=7, ha="center", va="bottom", color=colour,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
    for i in x.values():
        ax.axvline(i, color="0.6", lw=0.8, zorder=0)
    ax.set_xticks(range(len(used)), used)
    ax.xaxis.tick_top()
    ax.set_xlim(-0.5, len(used) - 0.5)
    ax.set_ylim(top * 1.05, -top * 0.03)  # time runs down
    ax.set_ylabel(f"time since {t0:.6f} s (ms)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or "One client's exchange", pad=24)
    return fig


def _axis_label(metric: str) -> str:
    _factor, unit = _scale(metric)
    return f"{metric} ({unit})" if unit and unit not in ("count", "ratio") else metric


def bands(aggregate: pd.DataFrame, x: str, metrics: Sequence[str], *, by: str = "pattern",
          logx: bool | None = None, title: str | None = None):
    """A sweep's metrics against a swept key *x*: one panel per metric, one line per *by* with
    its 95 % interval as a band (``aggregate.csv``: columns *x*, *by*, ``metric``, ``mean``,
    ``ci_low``, ``ci_high``; values of *x* may carry units, ``0.1/s``). *logx* (default: when
    the values span more than a factor of 20)."""
    from .sweep import numeric

    plt = _pyplot()
    missing = [c for c in (x, by, "metric", "mean", "ci_low", "ci_high")
               if c not in aggregate.columns]
    if missing:
        raise KeyError(f"columns not in the frame: {missing}")
    absent = [m for m in metrics if m not in set(aggregate.metric)]
    if absent:
        raise KeyError(f"metrics not in the frame: {absent}")
    values = list(dict.fromkeys(aggregate[x].tolist()))
    got = numeric(values)
    if got is None:
        raise ValueError(f"{x}: its values are not quantities of one kind: {values[:4]}")
    si, unit = got
    to_si = dict(zip(values, si, strict=True))
    if logx is None:
        logx = min(si) > 0 and max(si) / min(si) > 20
    n = len(metrics)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.8), squeeze=False, layout="constrained")
    for ax, metric in zip(axes.flat, metrics, strict=True):
        scale, _ = _scale(metric)
        rows = aggregate[aggregate.metric == metric]
        groups = list(rows.groupby(by, sort=False))
        for i, (name, g) in enumerate(groups):
            g = g.assign(_x=g[x].map(to_si)).sort_values("_x")
            style = _line_style(i, len(groups))
            (line,) = ax.plot(g._x, g["mean"] * scale, label=str(name), **style)
            ax.fill_between(g._x, g.ci_low * scale, g.ci_high * scale, alpha=0.2,
                            color=line.get_color(), linewidth=0)
        ax.set_xlabel(f"{x} ({unit})" if unit else x)
        ax.set_ylabel(_axis_label(metric))
        ax.set_title(f"{metric}: mean and 95 % interval", fontsize=10)
        if logx:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def pareto(means: pd.DataFrame, *, x: str = "messages_per_delivery", y: str = "latency_p99",
           by: str = "pattern", title: str | None = None):
    """Latency against chattiness, one point per *by* (a row each, the metrics as columns):
    the patterns no other beats on both (the Pareto front) are filled and joined."""
    plt = _pyplot()
    missing = [c for c in (x, y, by) if c not in means.columns]
    if missing:
        raise KeyError(f"columns not in the frame: {missing}")
    sx, _ = _scale(x)
    sy, _ = _scale(y)
    fig, ax = plt.subplots(figsize=(6.0, 4.4), layout="constrained")
    pts = means[[by, x, y]].dropna()
    front = [r for r in pts.itertuples(index=False)
             if not any(getattr(o, x) <= getattr(r, x) and getattr(o, y) <= getattr(r, y)
                        and (getattr(o, x), getattr(o, y)) != (getattr(r, x), getattr(r, y))
                        for o in pts.itertuples(index=False))]
    names = {getattr(r, by) for r in front}
    for r in pts.itertuples(index=False):
        on = getattr(r, by) in names
        ax.plot(getattr(r, x) * sx, getattr(r, y) * sy, "o", ms=9,
                mfc="tab:blue" if on else "white", mec="tab:blue")
        ax.annotate(str(getattr(r, by)), (getattr(r, x) * sx, getattr(r, y) * sy),
                    textcoords="offset points", xytext=(6, 4), fontsize=8)
    if front:
        f = sorted(front, key=lambda r: getattr(r, x))
        ax.plot([getattr(r, x) * sx for r in f], [getattr(r, y) * sy for r in f], "-",
                color="tab:blue", alpha=0.5)
    ax.set_xlabel(_axis_label(x))
    ax.set_ylabel(_axis_label(y))
    ax.grid(alpha=0.3)
    ax.set_title(title or "Latency against chattiness (filled: the Pareto front)", fontsize=10)
    return fig


_WASTE = ("wasted_server_s", "idle_connection_s", "client_blocked_s")


def waste(means: pd.DataFrame, *, by: str = "pattern", title: str | None = None):
    """Resource waste per *by*, stacked: server time spent for nothing, connection-seconds
    held idle, caller-seconds blocked (all seconds of the window; a row per *by*)."""
    plt = _pyplot()
    missing = [c for c in (by, *_WASTE) if c not in means.columns]
    if missing:
        raise KeyError(f"columns not in the frame: {missing}")
    fig, ax = plt.subplots(figsize=(1.2 * len(means) + 3.0, 4.2), layout="constrained")
    bottom = [0.0] * len(means)
    names = [str(v) for v in means[by]]
    for metric in _WASTE:
        vals = means[metric].fillna(0.0).tolist()
        ax.bar(names, vals, bottom=bottom, label=metric)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_ylabel("seconds in the window (s)")
    ax.legend(fontsize=8)
    ax.set_title(title or "Resource waste", fontsize=10)
    ax.tick_params(axis="x", rotation=20)
    return fig


def cdf(quantiles: pd.DataFrame, *, by: str = "pattern", logx: bool | None = None,
        title: str | None = None):
    """Latency CDFs, one line per *by*: a tidy frame with columns *by*, ``probability`` and
    ``latency`` (s) — e.g. ``Result.latency_quantiles()`` of several runs, or a sweep's
    ``latency_quantiles`` averaged over replications — and, when present, ``ci_low`` and
    ``ci_high`` (s), drawn as a band around each line. *logx* (default: when the latencies
    span more than a factor of 50)."""
    plt = _pyplot()
    missing = [c for c in (by, "probability", "latency") if c not in quantiles.columns]
    if missing:
        raise KeyError(f"columns not in the frame: {missing}")
    data = quantiles.dropna(subset=["latency"])
    positive = data.latency[data.latency > 0]
    if logx is None:
        logx = bool(len(positive)) and positive.max() / positive.min() > 50
    banded = {"ci_low", "ci_high"} <= set(data.columns)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    groups = list(data.groupby(by, sort=False))
    for i, (name, g) in enumerate(groups):
        g = g.sort_values("probability")
        style = _line_style(i, len(groups)) | {"marker": None}
        (line,) = ax.plot(g.latency * 1e3, g.probability, label=str(name), drawstyle="default",
                          **style)
        if banded:
            ax.fill_betweenx(g.probability, g.ci_low * 1e3, g.ci_high * 1e3, alpha=0.18,
                             color=line.get_color(), linewidth=0)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of deliveries (cumulative)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", title="band: 95 % interval of each quantile"
              if banded else None, title_fontsize=7)
    ax.set_title(title or "Latency CDF", fontsize=10)
    return fig
