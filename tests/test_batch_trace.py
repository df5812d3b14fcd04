"""Page-load batches (``requests: {batch, every}``), replayed traces (``requests: {trace}``)
and the batch metrics (``batch_time_mean``, ``batch_time_p95``).

Timelines are exact: constant latency d and service s, unlimited bandwidth, no payloads (no
encoding cost), so one request takes RTT + s = 2d + s from issue to parsed response.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import simcomm
from simcomm.cli import app
from simcomm.loader import load
from simcomm.scenario import ScenarioError

D, S = 0.010, 0.005  # one-way latency, service time
RTT_S = 2 * D + S
N, T = 5, 10.0


MUX = {"protocol": "h2", "max_streams": 100_000}
"""One HTTP/2 connection with a stream for every request in flight: requests in flight never
wait for a connection (HTTP/1.1's one-exchange-per-connection pool is not what these tests
are about; tests/validation/test_setup_costs.py and the pool tests are)."""


def batch_world(client: str = "async", clients: int = 1, n: int = N, **pattern) -> dict:
    return {
        "duration": "60s", "warmup": "5s", "seed": 3,
        "network": {"latency": D, "bandwidth": "unlimited"},
        "server": {"workers": 64, "service_time": S},
        "clients": {"count": clients},
        "workload": {"requests": {"batch": n, "every": T}},
        "connection": MUX,
        "pattern": {"name": "request_response", "client": client, **pattern},
    }


def batch_times(result) -> np.ndarray:
    """The recorded batch times of a run (its ``batch`` events, window applied)."""
    from simcomm.metrics.summary import Tally

    return Tally(result.recorder, 1).events("batch")[1]


def test_async_batch_completes_in_one_round_trip():
    """A batch of N requests from an async client with N slots completes in RTT + s."""
    r = simcomm.run(batch_world("async", concurrency=N))
    times = batch_times(r)
    d = r.frames["deliveries"]
    assert times.size == d.t_start.nunique() in (5, 6)  # phase + 10 k in [5 s, 60 s)
    assert times == pytest.approx(RTT_S, rel=1e-9)
    assert r.summary["batch_time_mean"] == pytest.approx(RTT_S, rel=1e-9)
    assert r.summary["batch_time_p95"] == pytest.approx(RTT_S, rel=1e-9)
    assert d.latency.to_numpy() == pytest.approx(RTT_S, rel=1e-9)


def test_sync_batch_queues_its_requests():
    """A sync client's batch takes N·(RTT + s): its requests wait for one another."""
    r = simcomm.run(batch_world("sync"))
    assert batch_times(r) == pytest.approx(N * RTT_S, rel=1e-9)
    assert r.summary["batch_time_mean"] == pytest.approx(N * RTT_S, rel=1e-9)
    lat = np.sort(r.frames["deliveries"].latency.to_numpy()[:N])
    assert lat == pytest.approx(RTT_S * np.arange(1, N + 1), rel=1e-9)


def test_async_batch_beyond_its_concurrency_takes_rounds():
    """With 2 slots, a batch of 5 takes ⌈5/2⌉ = 3 round trips."""
    r = simcomm.run(batch_world("async", concurrency=2))
    assert r.summary["batch_time_mean"] == pytest.approx(3 * RTT_S, rel=1e-9)


def starts(result) -> dict[int, np.ndarray]:
    """Client → the distinct intended send times of its requests (its batches)."""
    d = result.frames["deliveries"]
    return {int(c): np.unique(g.t_start.to_numpy()) for c, g in d.groupby("client")}


def test_batches_repeat_every_period_at_distinct_client_phases():
    """Each client issues N requests at once every T, at a phase of its own in [0, T)."""
    r = simcomm.run(batch_world("async", clients=3))
    d = r.frames["deliveries"]
    got = starts(r)
    assert sorted(got) == [0, 1, 2]
    phases = []
    for c, t in got.items():
        assert np.diff(t) == pytest.approx(T, rel=1e-9)
        assert (d[d.client == c].groupby("t_start").size() == N).all()
        phases.append(t[0] % T)
    assert all(0 <= p < T for p in phases)
    assert len({round(p, 9) for p in phases}) == 3
    assert r.summary["issued"] == N * sum(t.size for t in got.values())


def test_adding_a_client_leaves_the_others_batches_alone():
    """Clients 0–2 issue their batches at the same times with a fourth client in the world."""
    three, four = (starts(simcomm.run(batch_world("async", clients=k))) for k in (3, 4))
    assert sorted(four) == [0, 1, 2, 3]
    for c in range(3):
        assert np.array_equal(three[c], four[c])


def test_a_batch_with_a_rejected_request_completes_at_its_last_answer():
    """A rejection completes its request: with one worker and no queue, each batch of 2 has one
    request served and one turned away, and its time is the served one's RTT + 1 s."""
    sc = batch_world("async", n=2)
    sc["server"] = {"workers": 1, "service_time": "1s", "queue_limit": 0}
    r = simcomm.run(sc)
    n = r.frames["deliveries"].t_start.nunique()
    assert r.summary["rejected"] == r.summary["delivered"] == batch_times(r).size == n >= 5
    assert r.summary["batch_time_mean"] == pytest.approx(2 * D + 1.0, rel=1e-9)


def test_other_workloads_have_no_batch_time():
    """Without batches, batch_time_mean and batch_time_p95 are NaN."""
    sc = batch_world()
    sc["workload"]["requests"] = {"rate": "5/s"}
    s = simcomm.run(sc).summary
    assert math.isnan(s["batch_time_mean"]) and math.isnan(s["batch_time_p95"])


def test_batch_offered_load_counts_every_request():
    """ρ of a batch workload is N × clients / T × worker time / workers."""
    from simcomm.scenario import offered_load

    sc = load(batch_world(clients=4))
    assert offered_load(sc) == pytest.approx(N * 4 / T * S / 64)


# --------------------------------------------------------------------------------------------
# Traces


def trace_world(path, clients: int = 2, **requests) -> dict:
    sc = batch_world("async", clients=clients)
    sc["workload"] = {"requests": {"trace": str(path), **requests}, "request_size": "100B"}
    return sc


def test_trace_replays_exact_times_sizes_and_clients(tmp_path):
    """Each traced request is issued at its time, by its client, with its size."""
    rows = [(0.5, 200, 1), (0.5, 300, 0), (1.25, 1000, 1), (7.0, 4096, 0), (70.0, 1, 0)]
    path = tmp_path / "arrivals.csv"
    path.write_text("t,bytes,who\n" + "".join(f"{t},{b},{c}\n" for t, b, c in rows))
    sc = trace_world(path.name, column="t", size_column="bytes", client_column="who")
    sc["warmup"] = 0
    r = simcomm.run(load(sc, base_dir=tmp_path))
    assert r.summary["issued"] == 4  # the last row is after the end of the run
    d = r.frames["deliveries"].sort_values(["t_start", "client"])
    m = r.frames["messages"]
    up = m[m.kind == "request"].set_index("flow").payload_bytes
    got = [(t, up[f], c) for t, f, c in zip(d.t_start, d.flow, d.client, strict=True)]
    want = sorted(((t, float(b), c) for t, b, c in rows[:4]), key=lambda w: (w[0], w[2]))
    assert got == want  # exactly: intended times as traced, json size factor 1
    # json: the client serialises (6 µs/KiB) and the server parses (10 µs/KiB) each payload
    sizes = np.array([w[1] for w in want])
    assert d.latency.to_numpy() == pytest.approx(RTT_S + sizes / 1024 * 16e-6, rel=1e-9)


def test_trace_without_columns_goes_round_robin(tmp_path):
    """A headerless one-column trace: first column is the time, row i goes to client i mod n,
    sizes come from workload.request_size."""
    times = [0.1, 0.2, 0.2, 3.0, 3.5]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(map(str, times)) + "\n")
    sc = trace_world(path, clients=2)
    sc["warmup"] = 0
    r = simcomm.run(sc)
    d = r.frames["deliveries"].sort_values("flow")
    assert d.t_start.tolist() == times
    assert d.client.tolist() == [0, 1, 0, 1, 0]
    m = r.frames["messages"]
    assert (m[m.kind == "request"].payload_bytes == 100.0).all()
    assert math.isnan(r.summary["batch_time_mean"])


# --------------------------------------------------------------------------------------------
# Bad input


def error_of(sc: dict, base_dir=None) -> ScenarioError:
    with pytest.raises(ScenarioError) as e:
        load(sc, base_dir=base_dir)
    return e.value


@pytest.mark.parametrize(("requests", "field", "fragment"), [
    ({"batch": 0, "every": "1s"}, "workload.requests.batch", "greater than or equal to 1"),
    ({"batch": -2, "every": "1s"}, "workload.requests.batch", "greater than or equal to 1"),
    ({"batch": 3}, "workload.requests.every", "missing"),
    ({"batch": 3, "every": "0s"}, "workload.requests.every", "must be > 0"),
    ({"rate": "1/s", "every": "1s"}, "workload.requests.every", "batch only"),
    ({"batch": 3, "every": "1s", "rate": "1/s"}, "workload.requests", "got rate and batch"),
    ({"batch": 3, "every": "1s", "think_time": "1s"}, "workload.requests",
     "got batch and think_time"),
    ({"batch": 3, "every": "1s", "arrival": "periodic"}, "workload.requests.arrival",
     "rate and per_client_rate only"),
    ({"rate": "1/s", "column": "t"}, "workload.requests.column", "trace only"),
])
def test_bad_batch_is_a_scenario_error_naming_the_field(requests, field, fragment):
    """Each bad batch workload is refused, naming the field."""
    sc = batch_world()
    sc["workload"]["requests"] = requests
    e = error_of(sc)
    assert e.field == field
    assert fragment in e.message


@pytest.mark.parametrize(("text", "extra", "field", "fragments"), [
    (None, {}, "workload.requests.trace", ["no such file"]),
    ("", {}, "workload.requests.trace", ["is empty"]),
    ("\n\n", {}, "workload.requests.trace", ["is empty"]),
    ("t\n", {"column": "t"}, "workload.requests.trace", ["is empty"]),
    ("t\n1\n3\n2\n", {}, "workload.requests.trace", ["line 4", "sort"]),
    ("t\n1\nsoon\n", {}, "workload.requests.trace", ["line 3", "not a number of seconds"]),
    ("t\n-1\n2\n", {}, "workload.requests.trace", ["line 2", "negative"]),
    ("t,s\n1,\n", {"size_column": "s"}, "workload.requests.size_column", ["line 2", "no size"]),
    ("t\n1\n", {"column": "time"}, "workload.requests.column", ["no column 'time'"]),
    ("t,s\n1,big\n", {"size_column": "s"}, "workload.requests.size_column",
     ["line 2", "not a number of bytes"]),
    ("t,s\n1,-5\n", {"size_column": "s"}, "workload.requests.size_column",
     ["line 2", "negative"]),
    ("t,c\n1,0\n2,x\n", {"client_column": "c"}, "workload.requests.client_column",
     ["line 3", "not a client index"]),
    ("t,c\n1,0\n2,2\n", {"client_column": "c"}, "workload.requests.client_column",
     ["line 3", "client 2", "2 clients"]),
    ("t\n1\n", {"arrival": "periodic"}, "workload.requests.arrival", ["rate"]),
])
def test_bad_trace_is_a_scenario_error_naming_field_and_line(tmp_path, text, extra, field,
                                                             fragments):
    """A missing, empty, unsorted, non-numeric or negative trace (or a bad size or client
    column) is refused, naming the field and the line."""
    path = tmp_path / "trace.csv"
    if text is not None:
        path.write_text(text)
    e = error_of(trace_world("trace.csv", **extra), base_dir=tmp_path)
    assert e.field == field, e
    for fragment in fragments:
        assert fragment in e.message, e


def test_cli_check_on_a_bad_trace_exits_2_with_one_line(tmp_path):
    """`simcomm check` on an unsorted trace exits 2 with one error line and writes nothing."""
    (tmp_path / "arrivals.csv").write_text("t\n2\n1\n")
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(trace_world("arrivals.csv")))
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: workload.requests.trace: ")
    assert "line 3" in lines[0]
