"""``detail: summary`` vs ``detail: full``: the same metrics, and no frames without full detail.

The summary recorder keeps only what the metrics need; the full one also keeps a row per
message and per delivery. Nothing the simulation draws or decides may depend on which recorder
is attached, so the same scenario and seed must give *identical* metrics (exact float equality,
NaN equal to NaN) in both modes. The worlds below turn on every path that touches the recorder:
random latency, link loss and retransmission, warm-up, sessions with offline gaps, slow clients
with small inbound buffers, rejections, re-tagging, redelivery and reconnection.
"""

from __future__ import annotations

import copy
import math

import pytest

import simcomm
from tests.helpers import messy_world


def _both(sc: dict):
    """The Results of *sc* run with detail full and with detail summary (same seed)."""
    full = simcomm.run({**copy.deepcopy(sc), "detail": "full"})
    summ = simcomm.run({**copy.deepcopy(sc), "detail": "summary"})
    return full, summ


def _same(a, b) -> bool:
    """Equal, or both NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _assert_identical(full, summ) -> None:
    assert full.recorder.full and not summ.recorder.full
    assert list(full.metrics) == list(summ.metrics)
    diff = {k: (full.metrics[k], summ.metrics[k]) for k in full.metrics
            if not _same(full.metrics[k], summ.metrics[k])}
    assert not diff, f"full vs summary differ: {diff}"


# -- frames need full detail ---------------------------------------------------------------------

def _small(detail: str) -> dict:
    return {
        "duration": 3.0, "warmup": 0.5, "seed": 4, "detail": detail,
        "network": {"latency": "5ms"},
        "server": {"service_time": "2ms"},
        "workload": {"requests": {"rate": "10/s"}, "request_size": "100B"},
        "pattern": {"name": "request_response"},
    }


def test_frames_of_a_summary_run_raise_an_error_naming_detail():
    """Result.frames on a detail: summary run raises ValueError saying detail='full' is needed."""
    r = simcomm.run(_small("summary"))
    assert r.metrics["delivered"] > 0
    with pytest.raises(ValueError, match=r"detail='full'") as info:
        r.frames  # noqa: B018 - the property access is what is tested
    assert "detail='summary'" in str(info.value)
    # not cached as a half-built value: asking again fails the same way
    with pytest.raises(ValueError, match="detail"):
        r.frames  # noqa: B018


def test_writing_a_summary_run_writes_only_the_summary_csv(tmp_path):
    """Results.write skips the Parquet frames of a summary run instead of failing on them."""
    results = simcomm.compare(_small("summary"))
    written = results.write(tmp_path / "out")
    assert [p.name for p in written] == ["summary.csv"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["summary.csv"]


def test_full_run_has_frames_matching_its_counts():
    """A full run's frames hold exactly the window's messages and deliveries the metrics count."""
    r = simcomm.run(_small("full"))
    f = r.frames
    assert len(f["deliveries"]) == r.metrics["delivered"]
    assert len(f["messages"]) == r.metrics["messages"]
    assert int(f["messages"].bytes.sum()) == r.metrics["bytes"]


# -- same metrics in both modes ------------------------------------------------------------------

UPDATE_PATTERNS = {
    # id: (pattern entry, metrics its world must make non-zero, so their paths are exercised)
    "short_polling": ({"name": "short_polling", "interval": 0.5, "jitter": 0.2},
                      ["empty_responses", "wasted_server_s", "rejected", "lost_offline"]),
    "long_polling": ({"name": "long_polling", "timeout": 2.0, "retry_delay": 0.05},
                     ["rejected", "lost_offline"]),
    "long_polling_fetch": ({"name": "long_polling", "timeout": 1.0, "min_bytes": 1500},
                           ["rejected", "lost"]),
    "push_buffer": ({"name": "push", "offline": "buffer", "server_buffer": 4},
                    ["lost_offline", "lost"]),
    "push_drop": ({"name": "push", "offline": "drop"}, ["lost_offline", "lost"]),
    "push_prefetch": ({"name": "push", "prefetch": 2, "server_buffer": 6},
                      ["lost_offline", "lost"]),
    "sse": ({"name": "sse", "heartbeat": 1.0, "retry": 0.5, "replay_buffer": 5,
             "restart_at": [10.0, 20.0], "restart_downtime": 0.3},
            ["reconnects", "rejected", "lost_offline"]),
    "sse_backoff": ({"name": "sse", "backoff": "exponential", "retry": 0.2, "backoff_cap": 2.0,
                     "restart_at": [15.0]}, ["reconnects"]),
    "pubsub_push": ({"name": "pubsub", "retention": 2.0}, ["lost_offline", "lost"]),
    "pubsub_ack": ({"name": "pubsub", "delivery": "at_least_once", "ack_timeout": 0.3,
                    "ack_loss": 0.2, "prefetch": 3, "retention": 3.0},
                   ["redeliveries", "duplicates", "lost"]),
    "pubsub_pull": ({"name": "pubsub", "consumer": "pull", "max_wait": 0.3, "max_batch": 2,
                     "delivery": "at_least_once", "ack_timeout": 0.5, "ack_loss": 0.1},
                    ["redeliveries", "duplicates", "empty_responses"]),
}


@pytest.mark.parametrize(("pattern", "exercised"), UPDATE_PATTERNS.values(),
                         ids=UPDATE_PATTERNS.keys())
@pytest.mark.parametrize("scope", ["per_client", "global"])
def test_update_patterns_give_identical_metrics_in_both_modes(pattern, exercised, scope):
    """Every update pattern gives the same metrics with detail full and summary (same seed)."""
    sc = messy_world(pattern, scope=scope)
    # one worker and no queue: polls and reconnections that find it busy are rejected
    sc["server"].update(workers=1, queue_limit=0)
    full, summ = _both(sc)
    _assert_identical(full, summ)
    m = full.metrics
    assert m["delivered"] > 0
    assert all(m[k] > 0 for k in exercised), {k: m[k] for k in exercised}


REQUEST_PATTERNS = {
    "sync": {"name": "request_response"},
    "callback": {"name": "request_response", "client": "async", "concurrency": 3},
    "readiness_poll": {"name": "request_response", "client": "async",
                       "completion": "readiness_poll", "poll_interval": 0.004},
    "thread_per_request": {"name": "request_response", "client": "async",
                           "completion": "thread_per_request", "concurrency": None},
    "chunked": {"name": "request_response", "chunks": 4, "window": 2,
                "chunk_response_size": "20B", "encoding": "protobuf"},
    "job_polling": {"name": "job_polling", "interval": 0.3, "jitter": 0.1,
                    "job_duration": {"dist": "exponential", "mean": "0.5s"}},
}


@pytest.mark.parametrize("pattern", REQUEST_PATTERNS.values(), ids=REQUEST_PATTERNS.keys())
def test_request_patterns_give_identical_metrics_in_both_modes(pattern):
    """Request-response (every client style, chunked) and job polling give the same metrics
    with detail full and summary (same seed), rejections and loss included."""
    # ρ = rate × chunks × 8 ms / 2 workers = 0.48 (job polling adds its status polls): stable,
    # yet a queue of 2 fills now and then
    rate = 120 / pattern.get("chunks", 1)
    sc = {
        "duration": 20.0, "warmup": 2.0, "seed": 9,
        "network": {"latency": {"dist": "exponential", "mean": "5ms"}, "bandwidth": "5Mbps",
                    "loss": 0.05},
        "server": {"workers": 2, "service_time": {"dist": "exponential", "mean": "8ms"},
                   "queue_limit": 2},
        "clients": {"count": 5},
        "workload": {"requests": {"rate": rate, "arrival": "poisson"},
                     "request_size": {"dist": "exponential", "mean": "1KiB"},
                     "response_size": {"dist": "uniform", "low": "100B", "high": "3KiB"},
                     "encoding": "json"},
        "pattern": pattern,
    }
    full, summ = _both(sc)
    _assert_identical(full, summ)
    m = full.metrics
    assert m["delivered"] > 0 and m["rejected"] > 0  # bounded queue path taken


def test_closed_loop_gives_identical_metrics_in_both_modes():
    """A closed-loop workload gives the same metrics with detail full and summary."""
    sc = {
        "duration": 10.0, "warmup": 1.0, "seed": 2,
        "network": {"latency": {"dist": "uniform", "low": "1ms", "high": "9ms"}},
        "server": {"workers": 1, "service_time": {"dist": "exponential", "mean": "4ms"}},
        "clients": {"count": 3},
        "workload": {"requests": {"think_time": {"dist": "exponential", "mean": "20ms"}},
                     "request_size": "300B", "response_size": "2KiB"},
        "pattern": {"name": "request_response", "client": "async", "concurrency": 2},
    }
    full, summ = _both(sc)
    _assert_identical(full, summ)
    assert full.metrics["delivered"] > 0


@pytest.mark.parametrize("dtype,values", [
    ("f8", [i * 0.1 for i in range(3 * 4096 + 5)] + [math.nan, -0.0, 1e300]),
    ("i8", [i * 1_000_003 - 2**40 for i in range(2 * 4096 + 1)]),
    ("i1", [i % 7 - 1 for i in range(4096 * 2)]),
])
def test_a_recorder_column_keeps_every_value_exactly_in_order(dtype, values):
    """A :class:`~simcomm.metrics.recorder.Column` (a list that packs every CHUNK values
    into a NumPy array) gives back what it was given, in order and in its dtype, whether
    the values went in one by one or in rows that straddle a chunk's end; a value can be
    read and rewritten in a packed chunk or in the list."""
    import numpy as np

    from simcomm.metrics.recorder import CHUNK, Column

    one, rows = Column(dtype), Column(dtype)
    for v in values:
        one.append(v)
    for i in range(0, len(values), 7):  # rows of 7 cross every chunk's end
        rows.extend(values[i:i + 7])
    want = np.array(values, dtype=dtype)
    for col in (one, rows):
        assert len(col) == len(values) and len(col._chunks) == len(values) // CHUNK
        got = col.numpy()
        assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)
        assert got.tobytes() == want.tobytes()  # (−0.0 and NaN to the bit)
        for i in (0, CHUNK - 1, CHUNK, len(values) - 1, -1):
            assert col[i] == want[i] or (math.isnan(col[i]) and math.isnan(want[i]))
        col[1] = 3
        col[len(values) - 1] = 4
        got = col.numpy()
        assert got[1] == 3 and got[-1] == 4 and len(got) == len(values)
    empty = Column("f8").numpy()
    assert empty.dtype == np.float64 and empty.size == 0
