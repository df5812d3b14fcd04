"""Small helpers shared by the pattern tests (frames, periodic sources, offline windows)."""

from __future__ import annotations

import numpy as np

from simcomm.metrics.definitions import PART_NAMES

PARTS = [f"{p}_s" for p in PART_NAMES]
"""The latency-decomposition columns of the deliveries frame."""


def of_kind(m, kind, tag=None):
    """Rows of the messages frame *m* of one kind (and tag)."""
    sel = m[m.kind == kind]
    return sel if tag is None else sel[sel.tag == tag]


def offline_windows(session, gap, duration):
    """[(off, on)] of a client with constant session and gap lengths."""
    out, t = [], 0.0
    while t + session < duration:
        out.append((t + session, t + session + gap))
        t += session + gap
    return out


def in_windows(t, windows):
    """Which of the times *t* fall inside one of the [a, b) *windows*."""
    t = np.asarray(t)
    return np.any([(t >= a) & (t < b) for a, b in windows], axis=0)


def created_times(d, rate, duration):
    """Every creation time of a periodic source before *duration*, from the deliveries."""
    phase = d.t_start.min() % (1 / rate)
    c = phase + np.arange(int((duration - phase) * rate) + 1) / rate
    return c[c < duration]


def in_flight(s):
    """Issued copies neither delivered nor lost (still on their way at the end)."""
    return s["issued"] - s["delivered"] - s["lost"]
