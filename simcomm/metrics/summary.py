"""End of run: turn a :class:`~simcomm.metrics.recorder.Recorder` into the documented metrics.

Called once per run; every definition it implements is written in
:mod:`simcomm.metrics.definitions`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .definitions import METRICS, PART_NAMES, Kind, Tag
from .recorder import MSG_CODES, MSG_FLOATS, MSG_INTS, NPARTS, NT, Column, Recorder

__all__ = ["QUANTILES", "Tally", "frames", "latency_parts", "latency_quantiles", "summarise"]


class Tally:
    """A run's recorder read once at the end, with the window ``[warmup, duration)`` applied:
    what each :class:`~simcomm.metrics.definitions.Metric`'s computation takes."""

    def __init__(self, rec: Recorder, workers: int) -> None:
        self.rec = rec
        self.workers = workers
        self.window = rec.duration - rec.warmup
        """Length of the measurement window (s)."""
        self.sketch = getattr(rec, "sketch", None)
        """With ``latency_sketch``: the window's latencies as a
        :class:`~simcomm.metrics.sketch.Sketch` (and ``lat`` is None)."""
        self.lat = None if self.sketch is not None else _window_latencies(rec)
        """Latencies of the deliveries whose work began in the window."""
        self.delivered = (self.sketch.count if self.sketch is not None
                          else int(self.lat.size))
        self.messages = sum(rec.msg_n)
        self.bytes = sum(rec.msg_bytes)
        self._lat: dict[str, float] | None = None
        self._events: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def latency(self, stat: str) -> float:
        """``mean``, ``p50``, ``p95``, ``p99`` or ``max`` of the latencies (NaN: none)."""
        if self._lat is None:
            lat, sk = self.lat, self.sketch
            if sk is not None:
                vals = ((sk.sum / sk.count, sk.quantile(0.5), sk.quantile(0.95),
                         sk.quantile(0.99), sk.max) if sk.count else (math.nan,) * 5)
            elif lat.size:
                p50, p95, p99 = np.percentile(lat, [50, 95, 99])
                vals = (lat.mean(), p50, p95, p99, lat.max())
            else:
                vals = (math.nan,) * 5
            self._lat = dict(zip(("mean", "p50", "p95", "p99", "max"), map(float, vals),
                                 strict=True))
        return self._lat[stat]

    def tagged(self, kind: int, tag: int | None = None) -> int:
        """Messages of *kind* (and *tag*) in the window."""
        n = self.rec.msg_n
        return n[kind * NT + tag] if tag is not None else sum(n[kind * NT:(kind + 1) * NT])

    def events(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Times and values of the events *name* attributed to the window."""
        got = self._events.get(name)
        if got is None:
            t, v = self.rec.events.get(name, (_EMPTY, _EMPTY))
            t, v = _col(t, float), _col(v, float)
            keep = t >= self.rec.warmup
            got = self._events[name] = (t[keep], v[keep])
        return got

    def count(self, name: str) -> int:
        return int(self.events(name)[0].size)

    def total(self, name: str) -> float:
        return float(self.events(name)[1].sum())

    def mean(self, name: str) -> float:
        v = self.events(name)[1]
        return float(v.mean()) if v.size else math.nan

    def percentile(self, name: str, q: float) -> float:
        """The *q*-th percentile (numpy, linear) of the values of the events *name* (NaN:
        none)."""
        v = self.events(name)[1]
        return float(np.percentile(v, q)) if v.size else math.nan

    def last(self, name: str) -> float:
        """The value of the last event *name* recorded (NaN: none)."""
        v = self.events(name)[1]
        return float(v[-1]) if v.size else math.nan

    def peak_rate(self, name: str) -> float:
        """Most events *name* in one second (1 s bins from the warm-up); NaN: none."""
        t = self.events(name)[0]
        if not t.size:
            return math.nan
        return float(np.bincount(((t - self.rec.warmup) // 1.0).astype(np.int64)).max())


def summarise(rec: Recorder, workers: int) -> dict[str, float]:
    """The contract metrics of one run, keyed by the names in ``METRIC_NAMES``: each computed
    by its own definition (:data:`~simcomm.metrics.definitions.METRICS`)."""
    tally = Tally(rec, workers)
    return {m.name: m.compute(tally) for m in METRICS}


QUANTILES: tuple[float, ...] = (*(i / 100 for i in range(100)), 0.995, 0.999, 1.0)
"""The probabilities at which :func:`latency_quantiles` reads a run's latency distribution
(each hundredth, then 0.995, 0.999 and the maximum): what a sweep keeps of each run to draw
latency CDFs."""


def _window_latencies(rec: Recorder) -> np.ndarray:
    t0 = _col(rec.d_t0, float)
    return _col(rec.d_latency, float)[t0 >= rec.warmup]


def latency_quantiles(rec: Recorder, probs: tuple[float, ...] = QUANTILES) -> np.ndarray:
    """The latency (s) at each probability of *probs* among the deliveries whose work began in
    the window (NumPy's default, linear interpolation: the same as ``latency_p99``); all NaN
    without a delivery."""
    sk = getattr(rec, "sketch", None)
    if sk is not None:  # within its relative accuracy (simcomm.metrics.sketch)
        return np.array([sk.quantile(p) for p in probs])
    lat = _window_latencies(rec)
    if not lat.size:
        return np.full(len(probs), np.nan)
    return np.quantile(lat, probs)


def latency_parts(rec: Recorder) -> dict[str, float]:
    """The mean of each latency part (``<part>_s``, seconds) over the deliveries whose work
    began in the window; they add up to ``latency_mean``. NaN without a delivery. Both detail
    levels: full keeps each delivery's parts, summary their sums."""
    t0 = _col(rec.d_t0, float)
    keep = t0 >= rec.warmup
    sk = getattr(rec, "sketch", None)
    n = sk.count if sk is not None else int(keep.sum())
    if rec.full:
        rows = _rows(rec.d_parts_rows, float, NPARTS)[keep]
        means = [float(rows[:, i].mean()) if n else math.nan for i in range(NPARTS)]
    else:
        means = [s / n if n else math.nan for s in rec.part_sum]
    return {f"{name}_s": v for name, v in zip(PART_NAMES, means, strict=True)}


_EMPTY = Column("f8")
"""(the times and values of an event never recorded)"""


def _col(a, dtype) -> np.ndarray:
    """A recorder's :class:`~simcomm.metrics.recorder.Column` as one array of *dtype*."""
    return a.numpy().astype(dtype, copy=False)


def _rows(a, dtype, width: int) -> np.ndarray:
    """A row-major array of *width* values per row (see :class:`FullRecorder`), as rows."""
    return _col(a, dtype).reshape(-1, width)


def _owners(rec, conns: np.ndarray) -> np.ndarray:
    """The client of each message's connection (−1: none, −2: a proxy's backend)."""
    owners = rec.owners
    if not owners or not conns.size:
        return np.full(conns.size, -1, dtype=np.int64)
    lookup = np.full(int(conns.max()) + 1, -1, dtype=np.int64)
    for index, owner in owners.items():
        if index < lookup.size:
            lookup[index] = owner
    return np.where(conns >= 0, lookup[np.maximum(conns, 0)], -1)


def frames(rec: Recorder, workers: int = 0) -> dict[str, pd.DataFrame]:
    """Per-message, per-delivery and per-instance frames (window only). Needs
    ``detail="full"``. *workers* is the server's total (for the instances' utilisation)."""
    if not rec.full:
        raise ValueError("frames need detail='full'; this run recorded detail='summary'")
    w = rec.warmup
    mf = _rows(rec.m_floats, float, MSG_FLOATS)
    mi = _rows(rec.m_ints, np.int64, MSG_INTS)
    mc = _rows(rec.m_codes, np.int8, MSG_CODES)
    keep = mf[:, 0] >= w
    mf, mi, mc = mf[keep], mi[keep], mc[keep]
    kinds = [k.name.lower() for k in Kind]
    tags = [t.name.lower() for t in Tag]
    m_bytes = mf[:, 2]
    m_header = mf[:, 3]
    conns = mi[:, 1].copy()
    messages = pd.DataFrame({
        "t_send": mf[:, 0].copy(),
        "t_arrive": mf[:, 1].copy(),
        "kind": pd.Categorical.from_codes(mc[:, 0].copy(), categories=kinds),
        "tag": pd.Categorical.from_codes(mc[:, 1].copy(), categories=tags),
        "bytes": m_bytes.copy(),
        "header_bytes": m_header.copy(),
        "payload_bytes": m_bytes - m_header,
        "flow": mi[:, 0].copy(),
        "direction": pd.Categorical.from_codes(mc[:, 2].copy(),
                                               categories=["up", "down"]),
        "connection": conns,
        "client": _owners(rec, conns),
    })
    d_t0 = _col(rec.d_t0, float)
    dkeep = d_t0 >= w
    lat = _col(rec.d_latency, float)
    deliveries = pd.DataFrame({
        "flow": _col(rec.d_flow, np.int64)[dkeep],
        "client": _col(rec.d_client, np.int64)[dkeep] if len(rec.d_client)
        else np.empty(0, np.int64),
        "t_start": d_t0[dkeep],
        "t_end": (d_t0 + lat)[dkeep],
        "latency": lat[dkeep],
    })
    rows = _rows(rec.d_parts_rows, float, NPARTS)[dkeep]
    for i, name in enumerate(PART_NAMES):
        deliveries[f"{name}_s"] = rows[:, i].copy()
    busy = np.asarray(rec.instance_busy_s, dtype=float)
    per_instance = workers / len(busy) if workers else math.nan
    instances = pd.DataFrame({
        "instance": np.arange(len(busy)),
        "busy_s": busy,
        "utilization": busy / (per_instance * (rec.duration - rec.warmup)),
    })
    return {"messages": messages, "deliveries": deliveries, "instances": instances}
