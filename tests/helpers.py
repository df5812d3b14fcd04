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


def override(sc: dict, over: dict) -> dict:
    """Set nested keys of scenario *sc* in place: ``{"server__workers": 2}`` sets
    ``sc["server"]["workers"]``. Returns *sc*."""
    for key, value in over.items():
        node = sc
        *path, last = key.split("__")
        for p in path:
            node = node[p]
        node[last] = value
    return sc


def messy_world(pattern: dict, **updates) -> dict:
    """Random everything: latencies, sizes, 5 % loss, sessions, slow clients with small
    buffers, warm-up; *updates* adds to the update workload (5/s, ~500 B)."""
    return {
        "duration": 30.0, "warmup": 3.0, "seed": 11,
        "network": {"latency": {"dist": "exponential", "mean": "5ms"}, "bandwidth": "2Mbps",
                    "loss": 0.05},
        "server": {"workers": 2, "service_time": {"dist": "exponential", "mean": "5ms"}},
        "clients": {"count": 4, "session": {"dist": "exponential", "mean": "4s"},
                    "gap": {"dist": "exponential", "mean": "1s"}, "capacity": "20/s",
                    "buffer": 3},
        "workload": {"updates": {"rate": "5/s",
                                 "size": {"dist": "exponential", "mean": "500B"},
                                 **updates},
                     "encoding": "json"},
        "pattern": pattern,
    }



def overlay(sc: dict, over: dict) -> dict:
    """*sc* with the sections of *over* on top: a mapping updates the section's keys (one
    level deep), anything else replaces it."""
    for k, v in over.items():
        sc[k] = {**sc[k], **v} if isinstance(sc.get(k), dict) and isinstance(v, dict) else v
    return sc
