"""End of run: turn a :class:`~simcomm.metrics.recorder.Recorder` into the documented metrics.

Called once per run; every definition it implements is written in
:mod:`simcomm.metrics.definitions`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .definitions import METRIC_NAMES, PART_NAMES, Kind, Tag
from .recorder import NT, Recorder

__all__ = ["frames", "summarise"]


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _reconnects(rec: Recorder) -> dict[str, float]:
    t = np.frombuffer(rec.reconnect_t, dtype=float) if len(rec.reconnect_t) else np.empty(0)
    t = t[t >= rec.warmup]
    if not t.size:
        return {"reconnects": 0, "reconnect_peak_rate": math.nan}
    per_second = np.bincount(((t - rec.warmup) // 1.0).astype(np.int64))
    return {"reconnects": int(t.size), "reconnect_peak_rate": float(per_second.max())}


def summarise(rec: Recorder, workers: int) -> dict[str, float]:
    """The contract metrics of one run, keyed by the names in ``METRIC_NAMES``."""
    window = rec.duration - rec.warmup
    t0 = np.frombuffer(rec.d_t0, dtype=float) if len(rec.d_t0) else np.empty(0)
    lat = np.frombuffer(rec.d_latency, dtype=float) if len(rec.d_latency) else np.empty(0)
    lat = lat[t0 >= rec.warmup]
    delivered = int(lat.size)
    if delivered:
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        lat_stats = (float(lat.mean()), float(p50), float(p95), float(p99), float(lat.max()))
    else:
        lat_stats = (math.nan,) * 5
    messages = sum(rec.msg_n)
    nbytes = sum(rec.msg_bytes)
    responses = sum(rec.msg_n[Kind.RESPONSE * NT: (Kind.RESPONSE + 1) * NT])
    empty = rec.msg_n[Kind.RESPONSE * NT + Tag.EMPTY]
    busy = rec.server_busy_s
    out = {
        "latency_mean": lat_stats[0],
        "latency_p50": lat_stats[1],
        "latency_p95": lat_stats[2],
        "latency_p99": lat_stats[3],
        "latency_max": lat_stats[4],
        "issued": rec.issued,
        "delivered": delivered,
        "throughput": delivered / window,
        "messages": messages,
        "bytes": nbytes,
        "bytes_header": sum(rec.msg_header),
        "messages_per_delivery": _ratio(messages, delivered),
        "bytes_per_delivery": _ratio(nbytes, delivered),
        "empty_responses": empty,
        "empty_ratio": _ratio(empty, responses),
        "server_busy_s": busy,
        "server_utilization": busy / (workers * window),
        "wasted_server_s": rec.wasted_s,
        "held_connection_s": rec.conn_held.area,
        # held ≥ active by construction; max() only removes float rounding (~1e-15 s)
        "idle_connection_s": max(0.0, rec.conn_held.area - rec.conn_active.area),
        # an event loop is blocked while it has requests outstanding and its core is idle; its
        # CPU work all falls in such spans (max() only removes float rounding)
        "client_blocked_s": max(0.0, rec.client_blocked.area
                                - sum(cpu.busy for cpu in rec.loop_cpus)),
        "client_checks": rec.client_checks,
        "client_threads_peak": int(rec.threads.peak),
        "client_thread_memory_peak": rec.thread_memory.peak,
        "connections_opened": rec.connections_opened,
        "rejected": rec.rejected,
        "lost": rec.lost,
        "duplicates": rec.duplicates,
        "lost_offline": rec.lost_offline,
        "redeliveries": rec.redeliveries,
        "client_buffer_peak": rec.client_buffer_peak,
        **_reconnects(rec),
        "notice_mean": _ratio(rec.notice_sum, rec.notice_n),
        "polls_per_delivery": (math.nan if rec.status_polls is None
                               else _ratio(rec.status_polls, delivered)),
        "catchup_s": rec.catchup_s,
    }
    assert tuple(out) == METRIC_NAMES, "summary and definitions disagree"
    return out


def _col(a, dtype) -> np.ndarray:
    return np.frombuffer(a, dtype=dtype) if len(a) else np.empty(0, dtype=dtype)


def frames(rec: Recorder) -> dict[str, pd.DataFrame]:
    """Per-message and per-delivery frames (window only). Needs ``detail="full"``."""
    if not rec.full:
        raise ValueError("frames need detail='full'; this run recorded detail='summary'")
    w = rec.warmup
    m_t = _col(rec.m_t, float)
    keep = m_t >= w
    kinds = [k.name.lower() for k in Kind]
    tags = [t.name.lower() for t in Tag]
    m_bytes = _col(rec.m_bytes, float)[keep]
    m_header = _col(rec.m_header, float)[keep]
    messages = pd.DataFrame({
        "t_send": m_t[keep],
        "t_arrive": _col(rec.m_arrive, float)[keep],
        "kind": pd.Categorical.from_codes(_col(rec.m_kind, np.int8)[keep], categories=kinds),
        "tag": pd.Categorical.from_codes(_col(rec.m_tag, np.int8)[keep], categories=tags),
        "bytes": m_bytes,
        "header_bytes": m_header,
        "payload_bytes": m_bytes - m_header,
        "flow": _col(rec.m_flow, np.int64)[keep],
        "direction": pd.Categorical.from_codes(_col(rec.m_dir, np.int8)[keep],
                                               categories=["up", "down"]),
        "connection": _col(rec.m_conn, np.int64)[keep],
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
    for name, col in zip(PART_NAMES, rec.d_parts, strict=True):
        deliveries[f"{name}_s"] = _col(col, float)[dkeep]
    return {"messages": messages, "deliveries": deliveries}
