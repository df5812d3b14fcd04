"""The client's CPU against closed forms: an event loop is one core, a sync caller one request.

One client issues a batch of N requests at the same instant T: a closed loop whose callers
think ``{dist: sequence}`` times, so that the first think of every caller ends at T and the
next one (100 s) outlasts the run. Everything is constant: per-request client CPU ``C``, one-way
latency ``D`` (RTT = 2D) on an unlimited link with 0-byte headers, service time ``S`` and N
workers (no server queue), so each time below is a sum of those constants and is checked
exactly (to float rounding, ``EPS``).

* async (callback) — one event loop: the N jobs of C queue on its core, request i leaves at
  T + i·C, and the batch is done N·C + RTT + S after T; the loop is blocked (requests
  outstanding, core idle) for RTT + S;
* sync — one request at a time: the batch takes N·(C + RTT + S), blocked N·(RTT + S) (from
  send to parsed response, the caller's own CPU excluded). A think time must be > 0, so the
  sync caller thinks ``THETA`` between its requests, and that (N − 1)·THETA is added;
* thread per request — a thread each, no shared core: the batch takes C + RTT + S.

With an encoding the client also serialises each request (E) and parses each response (P)
on its core; see :func:`test_encoding_work_shares_the_loop_core`.
"""

from __future__ import annotations

import pytest
import simpy

import simcomm
from simcomm.components.client import Cpu
from simcomm.metrics.recorder import Recorder
from tests.helpers import PARTS

N = 5
"""Requests in the batch (and callers, and workers)."""
C = 0.004
"""Client CPU per request, s."""
D = 0.010
"""One-way latency, s: RTT = 20 ms."""
S = 0.030
"""Service time, s."""
T = 0.1
"""When the batch is issued: the first think time of every caller."""
EPS = 1e-12
"""Float rounding of sums of a few tenths of a second (each ~1e-17)."""


MUX = {"protocol": "h2", "max_streams": 100_000}
"""One HTTP/2 connection with a stream for every request in flight: requests in flight never
wait for a connection (HTTP/1.1's one-exchange-per-connection pool is not what these tests
are about; tests/validation/test_setup_costs.py and the pool tests are)."""


def scenario(pattern: dict, think: list[float], **over) -> dict:
    """The constant world of the module docstring; *think* is the client's think sequence."""
    sc = {
        "duration": 2.0,
        "seed": 1,
        "network": {"latency": D, "bandwidth": "unlimited"},
        "headers": {"request": 0, "response": 0},
        "server": {"workers": N, "service_time": S},
        "clients": {"count": 1},
        "workload": {"requests": {"think_time": {"dist": "sequence", "values": think}},
                     "encoding": "none"},
        "connection": MUX,
        "pattern": {"name": "request_response", "client_cpu": C, **pattern},
    }
    sc.update(over)
    return sc


ASYNC_THINK = [T] * N + [100.0] * N
"""N async callers: each first thinks T (the batch at T), then 100 s (nothing more)."""
THETA = 0.001
"""The sync caller's think time between the requests of its batch, s."""
SYNC_THINK = [T] + [THETA] * (N - 1) + [100.0]
"""One sync caller: T, then its N − 1 further requests THETA apart, then 100 s."""


def batch(sc: dict):
    """(deliveries sorted by end, summary) of a run that must deliver exactly the batch."""
    r = simcomm.run(sc)
    d = r.frames["deliveries"].sort_values("t_end").reset_index(drop=True)
    assert len(d) == N and r.summary["issued"] == N
    assert abs(d[PARTS].sum(axis=1) - d.latency).max() < EPS
    return d, r.summary


def test_async_loop_batch_takes_n_c_plus_rtt_plus_s():
    """An event loop runs the N requests' CPU one after another: the batch takes N·C + RTT + S
    and the loop waits on I/O for RTT + S of it."""
    d, s = batch(scenario({"client": "async", "concurrency": N}, ASYNC_THINK))
    assert (d.t_start == T).all()
    assert d.t_end.max() - T == pytest.approx(N * C + 2 * D + S, abs=EPS)
    # request i (1…N) waits (i − 1)·C for the core and runs its own C before the wire
    i = d.index + 1
    assert (d.client_wait_s - i * C).abs().max() < EPS
    assert (d.latency - (i * C + 2 * D + S)).abs().max() < EPS
    # outstanding from T to T + N·C + RTT + S, the core busy for N·C of it: blocked RTT + S
    assert s["client_blocked_s"] == pytest.approx(2 * D + S, abs=EPS)


def test_sync_batch_takes_n_times_c_plus_rtt_plus_s():
    """A sync caller does one request at a time: the batch takes N·(C + RTT + S) (plus its
    think times), blocked N·(RTT + S)."""
    d, s = batch(scenario({"client": "sync"}, SYNC_THINK))
    assert d.t_start.min() == T
    assert d.t_end.max() - T == pytest.approx(N * (C + 2 * D + S) + (N - 1) * THETA, abs=EPS)
    assert (d.latency - (C + 2 * D + S)).abs().max() < EPS
    assert (d.client_wait_s - C).abs().max() < EPS  # its own CPU, before the send
    assert s["client_blocked_s"] == pytest.approx(N * (2 * D + S), abs=EPS)


def test_thread_per_request_has_no_shared_core():
    """Threads are not modelled on one core: each request of the batch takes C + RTT + S."""
    d, _ = batch(scenario({"client": "async", "concurrency": N,
                           "completion": "thread_per_request", "thread_start": 0},
                          ASYNC_THINK))
    assert (d.latency - (C + 2 * D + S)).abs().max() < EPS
    assert d.t_end.max() - T == pytest.approx(C + 2 * D + S, abs=EPS)


# An encoding stated here: 1 B on the wire per byte, 1 ms to serialise and 0.5 ms to parse per
# KiB. A 2 KiB request: E = 2 ms to serialise at the client, 1 ms to parse at the server; a
# 4 KiB response: 4 ms to serialise at the server, P = 2 ms to parse at the client.
E, P = 0.002, 0.002
SERVER_CODEC = 0.001 + 0.004
R = 2 * D + S + SERVER_CODEC
"""Sent → response back at the client: 55 ms."""
ENCODED = {"encodings": {"test": {"size_factor": 1.0, "serialise_per_kib": 0.001,
                                  "parse_per_kib": 0.0005}}}


def encoded(pattern: dict, think: list[float]) -> dict:
    sc = scenario(pattern, think, **ENCODED)
    sc["workload"].update(request_size="2KiB", response_size="4KiB", encoding="test")
    # the N responses (3 segments each) share one HTTP/2 connection: a window of N·3 segments
    # keeps every one in the first round trip (slow start is not what these tests are about)
    sc["connection"] = {**MUX, "initial_window": 3 * N}
    return sc


def test_encoding_work_shares_the_loop_core():
    """Serialising and parsing queue on the loop's core with the per-request CPU: the batch
    takes N·(C + E) + R + P and the loop is blocked R − (N − 1)·P."""
    # Request i's job C + E ends at T + i(C + E); its response is back R later. The core is
    # free again at T + N(C + E) = T + 30 ms, before the first response (T + 61 ms), and the
    # responses come (C + E) = 6 ms apart, more than P = 2 ms: no parse waits for the core.
    assert R >= (N - 1) * (C + E) and P <= C + E  # the conditions of that timeline
    d, s = batch(encoded({"client": "async", "concurrency": N}, ASYNC_THINK))
    i = d.index + 1
    assert (d.latency - (i * (C + E) + R + P)).abs().max() < EPS
    assert d.t_end.max() - T == pytest.approx(N * (C + E) + R + P, abs=EPS)
    # client_wait: the core's queue and C; parse: E, the server's codec work and P
    assert (d.client_wait_s - ((i - 1) * (C + E) + C)).abs().max() < EPS
    assert (d.parse_s - (E + SERVER_CODEC + P)).abs().max() < EPS
    # outstanding N(C + E) + R + P, core busy N(C + E + P)
    assert s["client_blocked_s"] == pytest.approx(R - (N - 1) * P, abs=EPS)


def test_encoding_work_of_a_sync_caller():
    """A sync caller serialises and parses its own requests: the batch takes
    N·(C + E + R + P) (plus its think times), blocked N·(E + R + P)."""
    d, s = batch(encoded({"client": "sync"}, SYNC_THINK))
    assert d.t_end.max() - T == pytest.approx(N * (C + E + R + P) + (N - 1) * THETA, abs=EPS)
    assert s["client_blocked_s"] == pytest.approx(N * (E + R + P), abs=EPS)


def test_cpu_is_a_fifo_core_counting_busy_time_in_the_window():
    """Jobs queue behind each other on the core; busy time is clipped to the window."""
    env = simpy.Environment()
    rec = Recorder(env, 1.0, 2.5)
    cpu = Cpu(env)
    cpu.account = rec.loop_busy
    env.run(until=0.5)
    # at 0.5: jobs of 1 s and 0.5 s run [0.5, 1.5) and [1.5, 2.0); the caller of the second
    # waits 1.5 s; a job of 1 s queued at 0.7 runs [2.0, 3.0)
    assert cpu.run(1.0) == 1.0 and cpu.run(0.5) == 1.5
    env.run(until=0.7)
    assert cpu.run(1.0) == pytest.approx(2.3)
    # inside [1.0, 2.5): 0.5 + 0.5 + 0.5
    assert rec.loop_busy_s == pytest.approx(1.5) and cpu.free_at == pytest.approx(3.0)
    env.run(until=4.0)
    assert cpu.run(0.25) == 0.25  # idle again: starts at once
