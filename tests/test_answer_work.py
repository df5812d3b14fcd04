"""Server work on answers and events, and when a poll reads the pending set: exact timelines.

A hand-computable world: one client, constant one-way latency D, unlimited bandwidth, no
headers, encoding ``none`` (no serialisation or parsing), enough workers, updates of one
client created periodically.
"""

from __future__ import annotations

import numpy as np
import pytest

import simcomm

D, S, W = 0.010, 0.100, 0.007
"""One-way latency, service (check) time and answer/event work (s)."""


def world(pattern: dict, *, rate: str = "1/s", service: float = S) -> dict:
    return {
        "duration": "60s", "warmup": "2s", "seed": 11,
        "network": {"latency": D, "bandwidth": "unlimited"},
        "headers": {"request": 0, "response": 0, "update": 0, "ack": 0},
        "server": {"workers": 8, "service_time": service},
        "clients": {"count": 1},
        "workload": {"updates": {"rate": rate, "arrival": "periodic"}, "encoding": "none"},
        "pattern": pattern,
    }


def deliveries(pattern, **kw):
    r = simcomm.run(world(pattern, **kw))
    d = r.frames["deliveries"]
    assert len(d) > 20
    return d, r.summary


@pytest.mark.parametrize("name", ["push", "sse"])
def test_each_pushed_update_or_event_costs_its_work(name):
    """Over an established connection an update reaches the client W + D after it was
    created, the work in the service part."""
    extra = {"heartbeat": None} if name == "sse" else {}
    d, s = deliveries({"name": name, "event_work": W, **extra})
    assert np.allclose(d.latency, W + D)
    assert np.allclose(d.service_s, W) and np.allclose(d.propagation_s, D)
    assert s["server_busy_s"] == pytest.approx(W * s["delivered"], rel=0.05)


def test_a_parked_long_poll_answer_costs_its_work():
    """Updates every second, a round trip of 2D + S: the poll is always parked when an update
    comes, so each update arrives W + D after it was created."""
    d, _ = deliveries({"name": "long_polling", "timeout": "30s", "answer_work": W})
    assert np.allclose(d.latency, W + D)
    assert np.allclose(d.service_s, W)


def test_long_poll_snapshot_on_arrival_leaves_later_updates_for_the_next_poll():
    """Updates every 100 ms, a 100 ms check and a 350 ms pause between polls. Read on
    arrival, an answer carries only updates created before its poll arrived, each then waiting
    for the check: latency >= S + D, with S in its service part. Read after the check (the
    default), the update created during the check rides along, so some latencies are shorter
    than S + D and no answer spends service on the updates."""
    common = {"name": "long_polling", "timeout": "30s", "retry_delay": "350ms"}
    on_arrival, _ = deliveries({**common, "snapshot": "arrival"}, rate="10/s", service=S)
    after, _ = deliveries(common, rate="10/s", service=S)
    assert (on_arrival.latency >= S + D - 1e-9).all()
    assert np.allclose(on_arrival.service_s, S)
    assert np.allclose(on_arrival.pending_s + on_arrival.server_queue_s + S + D,
                       on_arrival.latency)
    assert (after.latency < S + D - 1e-9).any()
    assert np.allclose(after.service_s, 0.0)


@pytest.mark.parametrize("snapshot", ["arrival", "served"])
def test_short_poll_answer_work_only_on_answers_with_updates(snapshot):
    """Each poll costs S; an answer that carries updates costs W more; empty answers do not.
    Polls every 250 ms against updates every second: three of four polls are empty."""
    d, s = deliveries({"name": "short_polling", "interval": "250ms", "snapshot": snapshot,
                       "answer_work": W}, service=0.02)
    polls = s["empty_responses"] / s["empty_ratio"]
    busy = polls * 0.02 + s["delivered"] * W
    assert s["server_busy_s"] == pytest.approx(busy, rel=0.02)
    # answer work is in every delivery's service part; the poll's own 20 ms only when the
    # pending set was read on arrival (before it)
    assert np.allclose(d.service_s, W + (0.02 if snapshot == "arrival" else 0.0))
