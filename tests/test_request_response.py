"""request_response: exact timelines with constant inputs, client styles, chunking, rejection."""

import math

import numpy as np
import pandas as pd
import pytest

import simcomm
from simcomm.metrics.definitions import PART_NAMES
from simcomm.runner import EmptyRunWarning
from tests.helpers import override

PARTS = [f"{p}_s" for p in PART_NAMES]


MUX = {"protocol": "h2", "max_streams": 100_000}
"""One HTTP/2 connection with a stream for every request in flight: requests in flight never
wait for a connection (HTTP/1.1's one-exchange-per-connection pool is not what these tests
are about; tests/validation/test_setup_costs.py and the pool tests are)."""


def scenario(pattern=None, **over):
    """A small deterministic world: constant latency and service, one client, periodic load."""
    sc = {
        "name": "t",
        "duration": 10.0,
        "warmup": 0.0,
        "seed": 3,
        "network": {"latency": "10ms", "bandwidth": "unlimited"},
        "headers": {"request": 0, "response": 0},
        "server": {"workers": 1, "service_time": "50ms"},
        "clients": {"count": 1},
        "workload": {"requests": {"rate": "1/s", "arrival": "periodic"}, "encoding": "none"},
        "connection": MUX,
        "pattern": {"name": "request_response", **(pattern or {})},
    }
    return override(sc, over)


def deliveries(sc):
    return simcomm.run(sc).frames["deliveries"]


def test_one_request_costs_one_rtt_plus_service():
    """On an established connection a request takes exactly 2 × latency + service."""
    d = deliveries(scenario())
    assert len(d) == 9 or len(d) == 10
    assert np.allclose(d.latency, 0.070, rtol=0, atol=1e-12)
    assert np.allclose(d.propagation_s, 0.020) and np.allclose(d.service_s, 0.050)


def test_the_five_steps_add_up_with_encoding_and_bandwidth():
    """Serialise, send, parse, serve, serialise, send back, parse: each step lands in its part."""
    # an encoding stated here (not the library's json): 1.5 B on the wire per byte of data,
    # 10 µs to parse and 6 µs to serialise per KiB of wire bytes
    factor, parse_per_kib, serialise_per_kib = 1.5, 10e-6, 6e-6
    sc = scenario(network={"latency": "10ms", "bandwidth": "1Mbps"},
                  headers={"request": 100, "response": 200},
                  encodings={"test": {"size_factor": factor, "parse_per_kib": parse_per_kib,
                                      "serialise_per_kib": serialise_per_kib}},
                  workload={"requests": {"rate": "1/s", "arrival": "periodic"},
                            "request_size": "1KiB", "response_size": "4KiB",
                            "encoding": "test"})
    sc["connection"] = {}  # HTTP/1.1: every request carries its whole headers
    d = deliveries(sc)
    req_wire, resp_wire = 1024 * factor, 4096 * factor  # 1536 B and 6144 B on the wire
    # client serialises + server parses the request; server serialises + client parses the
    # response: (1536 + 6144) B × (6 + 10) µs/KiB = 7.5 KiB × 16 µs = 120 µs
    parse = (req_wire + resp_wire) * (serialise_per_kib + parse_per_kib) / 1024
    # 8 (100 + 1536) / 1 Mbps + 8 (200 + 6144) / 1 Mbps = 13.088 ms + 50.752 ms
    tx = 8 * (100 + req_wire) / 1e6 + 8 * (200 + resp_wire) / 1e6
    expected = 0.020 + 0.050 + parse + tx  # 2d + service + codec + serialisation
    assert np.allclose(d.latency, expected, atol=1e-12)
    assert np.allclose(d.parse_s, parse) and np.allclose(d.transmission_s, tx)
    assert np.allclose(d[PARTS].sum(axis=1), d.latency, atol=1e-12)


def test_protobuf_shrinks_bytes_on_the_wire():
    """The encoding's size factor scales payload bytes; headers are untouched."""
    base = {"requests": {"rate": "1/s", "arrival": "periodic"}, "request_size": "1000B",
            "response_size": "2000B"}
    js = simcomm.run(scenario(workload={**base, "encoding": "json"})).frames["messages"]
    pb = simcomm.run(scenario(workload={**base, "encoding": "protobuf"})).frames["messages"]
    assert set(js.payload_bytes) == {1000, 2000}
    assert set(pb.payload_bytes) == {500, 1000}


def test_sync_caller_makes_due_requests_wait():
    """A sync client busy when its next request is due delays it; the wait is in latency."""
    sc = scenario(server={"workers": 1, "service_time": "250ms"},
                  network={"latency": 0, "bandwidth": "unlimited"},
                  workload={"requests": {"rate": "10/s", "arrival": "periodic"},
                            "encoding": "none"},
                  duration=2.0)
    with pytest.warns(simcomm.UnstableLoadWarning):
        d = deliveries(sc).sort_values("t_start").reset_index(drop=True)
    k = np.arange(len(d))
    # request k is due at phase + 0.1k and done at phase + 0.25(k+1)
    assert np.allclose(d.latency, 0.25 * (k + 1) - 0.1 * k, atol=1e-9)
    assert np.allclose(d.client_wait_s, 0.15 * k, atol=1e-9)
    assert np.allclose(d.server_queue_s, 0.0)


def test_async_callback_does_not_wait_at_the_client():
    """An async caller sends at once: with enough workers every request takes 2d + s."""
    sc = scenario({"client": "async", "completion": "callback"},
                  server={"workers": 10, "service_time": "250ms"},
                  workload={"requests": {"rate": "10/s", "arrival": "periodic"},
                            "encoding": "none"})
    r = simcomm.run(sc)
    d = r.frames["deliveries"]
    assert np.allclose(d.latency, 0.270) and np.allclose(d.client_wait_s, 0.0)
    # requests every 100 ms each outstanding 270 ms overlap, and the loop has no CPU work: it
    # waits on I/O from the first send (the periodic phase) to the end of the 10 s run
    assert r.summary["client_blocked_s"] == pytest.approx(10.0 - d.t_start.min(), abs=1e-9)


def test_async_concurrency_limit_queues_at_the_client():
    """With concurrency 1 and no CPU work an async client behaves like a sync one in latency
    and in blocked time (its loop only waits on I/O)."""
    common = dict(server={"workers": 4, "service_time": "250ms"},
                  network={"latency": 0, "bandwidth": "unlimited"},
                  workload={"requests": {"rate": "10/s", "arrival": "periodic"},
                            "encoding": "none"}, duration=2.0)
    a = simcomm.run(scenario({"client": "async", "concurrency": 1}, **common))
    s = simcomm.run(scenario({"client": "sync"}, **common))
    assert a.summary["latency_mean"] == pytest.approx(s.summary["latency_mean"])
    assert a.summary["client_blocked_s"] == pytest.approx(s.summary["client_blocked_s"])
    assert s.summary["client_blocked_s"] > 1.5


def test_concurrent_async_requests_queue_on_the_loop_core():
    """An event loop serialises and parses one payload at a time: concurrent requests' codec
    work queues on its one core (threads, on their own cores, do not queue)."""
    # json with its figures stated: 6 µs to serialise, 10 µs to parse per KiB. 500 KiB each
    # way: the client serialises a request in e = 3 ms and parses a response in p = 5 ms; the
    # server parses in 5 ms and serialises in 3 ms.
    e, p, server_codec = 500 * 6e-6, 500 * 10e-6, 500 * 10e-6 + 500 * 6e-6
    n, t = 3, 0.5
    common = dict(server={"workers": n, "service_time": "50ms"},
                  encodings={"json": {"size_factor": 1.0, "serialise_per_kib": 6e-6,
                                      "parse_per_kib": 10e-6}},
                  workload={"requests": {"think_time": {"dist": "sequence",
                                                        "values": [t] * n + [100] * n}},
                            "request_size": "500KiB", "response_size": "500KiB",
                            "encoding": "json"},
                  # one round trip for all: this test is about the loop core, not slow start
                  # (500 KiB is 351 segments of 1460 B; three share the HTTP/2 connection)
                  connection={**MUX, "initial_window": 3 * 351})
    # the 3 callers all issue at t; back at the client R after leaving
    r_trip = 2 * 0.010 + 0.050 + server_codec
    d = deliveries(scenario({"client": "async", "concurrency": n}, **common))
    d = d.sort_values("t_end").reset_index(drop=True)
    assert len(d) == n and (d.t_start == t).all()
    # request i leaves at t + i·e (the serialisations one after another); its response is
    # back R later and is parsed when the core has parsed the ones before it
    end = t
    for i in range(1, n + 1):
        back = t + i * e + r_trip
        start = max(back, end)
        end = start + p
        row = d.loc[i - 1]
        assert row.t_end == pytest.approx(end, abs=1e-12)
        assert row.client_wait_s == pytest.approx((i - 1) * e, abs=1e-12)
        assert row.parse_s == pytest.approx(e + server_codec + (start - back) + p, abs=1e-12)
    assert (d.t_end.diff().dropna() - p).abs().max() < 1e-12  # the parses back to back
    assert np.allclose(d[PARTS].sum(axis=1), d.latency, atol=1e-12)
    threads = deliveries(scenario({"client": "async", "concurrency": n,
                                   "completion": "thread_per_request", "thread_start": 0},
                                  **common))
    assert np.allclose(threads.latency, e + r_trip + p, atol=1e-12)


def test_client_cpu_is_drawn_per_client_alike_in_every_entry():
    """client_cpu comes from a stream per client, so entries see the same draws per client."""
    sc = scenario(clients={"count": 2},
                  workload={"requests": {"think_time": "100ms"}, "encoding": "none"})
    del sc["pattern"]
    cpu = {"dist": "exponential", "mean": "2ms"}
    sc["patterns"] = [{"name": "request_response", "client_cpu": cpu, "label": "sync"},
                      {"name": "request_response", "client": "async", "concurrency": 1,
                       "completion": "thread_per_request", "thread_start": 0,
                       "client_cpu": cpu, "label": "threads"}]
    a, b = (r.frames["deliveries"].sort_values(["client", "t_start"]) for r in
            simcomm.compare(sc))
    # a closed-loop caller's client_wait is its own CPU (no queue): the draws themselves
    assert len(a) > 40 and np.array_equal(a.client_wait_s.to_numpy(), b.client_wait_s.to_numpy())
    w0, w1 = (a[a.client == i].client_wait_s.to_numpy() for i in (0, 1))
    assert not np.array_equal(w0[:10], w1[:10]) and (w0 > 0).all()


def test_readiness_poll_notices_at_the_next_tick():
    """A readiness-polling caller learns of a completion at its next check, within one
    interval."""
    sc = scenario({"client": "async", "completion": "readiness_poll", "poll_interval": "30ms"})
    r = simcomm.run(sc)
    d = r.frames["deliveries"]
    assert ((d.notify_s >= 0) & (d.notify_s < 0.030)).all()
    assert np.allclose(d.latency - d.notify_s, 0.070)
    # completions land on the caller's tick grid
    ends = d.t_end.to_numpy()
    phase = ends[0] % 0.030
    assert np.allclose(((ends - phase) / 0.030) - np.round((ends - phase) / 0.030), 0,
                       atol=1e-6)
    # checks while a request is outstanding: about (70 ms + notify) / 30 ms per request
    per_request = r.summary["client_checks"] / r.summary["delivered"]
    assert 2 <= per_request <= 4
    # no CPU work: the loop is blocked while a request is outstanding, until it is noticed
    # (one request at a time here, so the blocked time is the sum of the latencies)
    assert r.summary["issued"] == r.summary["delivered"]
    assert r.summary["client_blocked_s"] == pytest.approx(d.latency.sum(), abs=1e-9)


def test_thread_per_request_pays_start_cost_and_memory():
    """Each request starts a thread (latency + thread_start) that is held while outstanding."""
    sc = scenario({"client": "async", "completion": "thread_per_request",
                   "thread_start": "1ms", "thread_memory": "1MiB"},
                  server={"workers": 10, "service_time": "250ms"},
                  workload={"requests": {"rate": "10/s", "arrival": "periodic"},
                            "encoding": "none"})
    r = simcomm.run(sc)
    d = r.frames["deliveries"]
    assert np.allclose(d.latency, 0.271) and np.allclose(d.client_wait_s, 0.001)
    s = r.summary
    # requests every 100 ms each holding a thread for 271 ms: 3 alive at once at the peak
    assert s["client_threads_peak"] == 3
    assert s["client_thread_memory_peak"] == 3 * 1024 * 1024
    # blocked thread-seconds: 271 ms per thread (the end of the run cuts the last ones short)
    assert 0.271 * s["delivered"] <= s["client_blocked_s"] <= 0.271 * s["issued"]


def test_sequential_chunks_multiply_messages_and_round_trips():
    """k sequential chunks cost k round trips and 2k messages for one delivery."""
    sc = scenario({"chunks": 4},
                  workload={"requests": {"rate": "1/s", "arrival": "periodic"},
                            "request_size": "4000B", "response_size": "100B",
                            "encoding": "none"})
    r = simcomm.run(sc)
    d = r.frames["deliveries"]
    assert np.allclose(d.latency, 4 * 0.070)
    assert r.summary["messages_per_delivery"] == pytest.approx(8.0)
    m = r.frames["messages"]
    assert sorted(set(m[m.kind == "request"].payload_bytes)) == [1000]
    assert sorted(set(m[m.kind == "response"].payload_bytes)) == [0, 100]


def test_windowed_chunks_overlap_and_still_add_up():
    """With a window the chunks overlap; the critical-path decomposition adds up exactly."""
    common = dict(server={"workers": 4, "service_time": "50ms"},
                  network={"latency": "10ms", "bandwidth": "1Mbps"},
                  workload={"requests": {"rate": "1/s", "arrival": "periodic"},
                            "request_size": "8000B", "response_size": "100B",
                            "encoding": "none"})
    seq = deliveries(scenario({"chunks": 4, "window": 1}, **common))
    win = deliveries(scenario({"chunks": 4, "window": 4}, **common))
    assert (win.latency < seq.latency.to_numpy() * 0.6).all()
    for d in (seq, win):
        assert np.allclose(d[PARTS].sum(axis=1), d.latency, atol=1e-12)
        assert (d[PARTS] >= -1e-12).all().all()
    # four 2000 B chunks leave back to back on a 1 Mbit/s link: the last one starts after
    # 3 × 16 ms of queueing + 16 ms of its own serialisation
    assert np.allclose(win.transmission_s, 4 * 0.016 + 8 * 100 / 1e6, atol=1e-9)


def test_full_queue_rejects_and_tags_control():
    """A bounded queue turns requests away; they are counted, answered and not delivered."""
    sc = scenario({"client": "async"}, server={"workers": 1, "service_time": "1s",
                                               "queue_limit": 0},
                  workload={"requests": {"rate": "4/s", "arrival": "periodic"},
                            "encoding": "none"})
    with pytest.warns(simcomm.UnstableLoadWarning):
        r = simcomm.run(sc)
    s = r.summary
    assert s["rejected"] > 0 and s["delivered"] > 0
    assert s["issued"] - s["delivered"] - s["rejected"] in (0, 1, 2)
    m = r.frames["messages"]
    assert (m.tag == "control").sum() == 2 * s["rejected"]
    assert (m.tag == "useful").sum() in (2 * s["delivered"], 2 * s["delivered"] + 1)


def test_rejected_chunk_aborts_upload_and_wastes_its_work():
    """When one chunk is rejected the upload fails: its chunks are control and worker time
    wasted."""
    sc = scenario({"client": "async", "chunks": 3, "window": 3},
                  server={"workers": 1, "service_time": "100ms", "queue_limit": 1},
                  workload={"requests": {"rate": "1/s", "arrival": "periodic"},
                            "request_size": "3000B", "encoding": "none"})
    with pytest.warns(EmptyRunWarning, match="measured nothing"):
        r = simcomm.run(sc)
    s = r.summary
    assert s["delivered"] == 0 and s["rejected"] >= 9  # one per failed upload
    assert s["wasted_server_s"] == pytest.approx(s["server_busy_s"], rel=1e-9)
    assert set(r.frames["messages"].tag) == {"control"}


def test_closed_loop_callers_think_then_call():
    """A closed-loop sync client issues its next request only after think time."""
    sc = scenario(workload={"requests": {"think_time": "130ms"}, "encoding": "none"})
    d = deliveries(sc).sort_values("t_start")
    assert np.allclose(np.diff(d.t_start), 0.200)  # 130 ms think + 70 ms request
    assert np.allclose(d.latency, 0.070)


def test_async_closed_loop_runs_concurrency_callers_per_client():
    """An async closed-loop client runs `concurrency` independent callers."""
    sc = scenario({"client": "async", "concurrency": 3},
                  server={"workers": 3, "service_time": "50ms"},
                  workload={"requests": {"think_time": "130ms"}, "encoding": "none"})
    r = simcomm.run(sc)
    assert r.summary["throughput"] == pytest.approx(3 / 0.200, rel=0.05)


def test_held_and_idle_connection_time():
    """Each client holds one connection all window; it is idle except during exchanges."""
    r = simcomm.run(scenario(clients={"count": 3}, warmup=1.0,
                             workload={"requests": {"per_client_rate": "1/s",
                                                    "arrival": "periodic"},
                                       "encoding": "none"}))
    s = r.summary
    assert s["held_connection_s"] == pytest.approx(3 * 9.0)
    busy = s["held_connection_s"] - s["idle_connection_s"]
    assert busy == pytest.approx(0.070 * s["issued"], abs=3 * 0.070)
    assert s["connections_opened"] == 0
    assert s["client_blocked_s"] == pytest.approx(busy)


def test_server_busy_and_utilization():
    """server_busy_s integrates busy workers over the window; utilization divides by
    capacity."""
    r = simcomm.run(scenario(server={"workers": 2, "service_time": "50ms"}, warmup=2.0))
    s = r.summary
    assert s["server_busy_s"] == pytest.approx(0.050 * s["issued"], abs=0.050)
    assert s["server_utilization"] == pytest.approx(s["server_busy_s"] / (2 * 8.0))
    assert s["wasted_server_s"] == 0


def test_warmup_is_excluded_from_every_count():
    """Deliveries and messages before the warm-up do not count."""
    r = simcomm.run(scenario(warmup=5.0))
    d, m = r.frames["deliveries"], r.frames["messages"]
    assert (d.t_start >= 5.0).all() and (m.t_send >= 5.0).all()
    assert r.summary["delivered"] == len(d) and r.summary["messages"] == len(m)
    assert r.summary["delivered"] in (4, 5)


def test_summary_detail_gives_the_same_metrics_as_full():
    """detail=summary keeps less but reports exactly the same metrics."""
    sc = {
        "duration": 60, "warmup": 5, "seed": 5,
        "network": {"latency": {"dist": "exponential", "mean": "5ms"}, "bandwidth": "10Mbps",
                    "loss": 0.02},
        "server": {"workers": 6, "service_time": {"dist": "exponential", "mean": "20ms"},
                   "queue_limit": 1},
        "clients": {"count": 5},
        "workload": {"requests": {"rate": "60/s"}, "request_size": "2KiB",
                     "response_size": {"dist": "lognormal", "median": "4KiB", "p99": "64KiB"}},
        "patterns": [{"name": "request_response"},
                     {"name": "request_response", "client": "async",
                      "completion": "readiness_poll"},
                     {"name": "request_response", "client": "async", "chunks": 4,
                      "window": 2}],
    }
    full = simcomm.compare(sc).summary
    summ = simcomm.compare({**sc, "detail": "summary"}).summary
    pd.testing.assert_frame_equal(full, summ)
    assert full.rejected.sum() > 0


def test_counters_agree_with_the_message_frame():
    """The summary's message and byte counts are the sums of the messages frame."""
    sc = scenario({"client": "async"}, network={"latency": "5ms", "bandwidth": "10Mbps",
                                                "loss": 0.1},
                  server={"workers": 1, "service_time": "5ms"},
                  workload={"requests": {"rate": "50/s"}, "request_size": "1KiB",
                            "response_size": "3KiB"}, warmup=2.0)
    r = simcomm.run(sc)
    m, s = r.frames["messages"], r.summary
    assert s["messages"] == len(m) and s["bytes"] == m.bytes.sum()
    assert s["bytes_header"] == m.header_bytes.sum()
    assert (m.tag == "retry").sum() > 0
    assert s["messages_per_delivery"] > 2


def test_same_seed_same_frames_and_different_seed_differs():
    """Same scenario and seed give identical frames; another seed gives other numbers."""
    sc = scenario({"client": "async"}, workload={"requests": {"rate": "30/s"},
                                                 "encoding": "json", "request_size": "1KiB"},
                  server={"workers": 2, "service_time": {"dist": "exponential",
                                                         "mean": "20ms"}})
    a, b = simcomm.run(sc).frames, simcomm.run(sc).frames
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    c = simcomm.run({**sc, "seed": 4}).frames["deliveries"]
    assert not c.latency.equals(a["deliveries"].latency)


def test_patterns_share_the_workload():
    """Entries of `patterns:` see the same arrivals and sizes (common random numbers)."""
    sc = scenario(workload={"requests": {"rate": "30/s"}, "encoding": "json",
                            "request_size": {"dist": "exponential", "mean": "1KiB"}},
                  server={"workers": 8, "service_time": {"dist": "exponential",
                                                         "mean": "20ms"}})
    del sc["pattern"]
    sc["patterns"] = [{"name": "request_response", "client": "async", "label": "a"},
                      {"name": "request_response", "client": "async",
                       "completion": "thread_per_request", "label": "b"}]
    a, b = simcomm.compare(sc)
    da, db = a.frames["deliveries"], b.frames["deliveries"]
    assert np.array_equal(np.sort(da.t_start), np.sort(db.t_start))
    ma, mb = a.frames["messages"], b.frames["messages"]
    assert np.array_equal(np.sort(ma.bytes), np.sort(mb.bytes))
    assert list(simcomm.compare(sc).summary.pattern) == ["a", "b"]


def test_unstable_load_warns_but_runs():
    """ρ ≥ 1 runs, with a warning that queues grow without bound."""
    sc = scenario(server={"workers": 1, "service_time": "50ms"},
                  workload={"requests": {"rate": "30/s"}, "encoding": "none"})
    with pytest.warns(simcomm.UnstableLoadWarning, match="grow without bound"):
        r = simcomm.run(sc)
    assert r.warnings and r.summary["delivered"] > 0


def test_no_delivery_gives_nan_latency_and_zero_counts():
    """A run with nothing delivered reports NaN latency and ratios, zero counts."""
    # No request can complete: the fastest exchange is 2d = 2 × 10 ms = 20 ms (service 0,
    # unlimited link, no encoding) and the run lasts 15 ms. A request is due every 1 ms from a
    # phase in [0, 1 ms), so exactly 15 are issued, whatever the phase.
    with pytest.warns(EmptyRunWarning, match="measured nothing"):
        r = simcomm.run(scenario(duration=0.015, server={"workers": 1, "service_time": 0},
                                 workload={"requests": {"rate": "1000/s",
                                                        "arrival": "periodic"},
                                           "encoding": "none"}))
    s = r.summary
    assert s["issued"] == 15 and s["delivered"] == 0
    assert s["messages"] > 0  # messages went out: the ratios are x/0, not 0/0
    for ratio in ("latency_mean", "latency_p99", "latency_max", "messages_per_delivery",
                  "bytes_per_delivery"):
        assert math.isnan(s[ratio]), ratio
    assert s["throughput"] == 0 and s["lost"] == 0 and s["duplicates"] == 0
    assert set(simcomm.METRIC_NAMES) <= set(s)
