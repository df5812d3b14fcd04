"""Custom encodings (bytes on the wire and CPU, derived by hand) and the figures of
:mod:`simcomm.plots` drawn from real small runs.

The encoding tests use a world where every time is a constant and the link adds nothing (zero
latency, unlimited bandwidth), so a request's whole timeline is the encoding's CPU plus the
service time, and every number can be written down exactly.
"""

from __future__ import annotations

import inspect

import matplotlib
import numpy as np
import pytest

import simcomm
import simcomm.plots
from simcomm import ScenarioError
from tests.helpers import PARTS, override

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend

# -- custom encodings ----------------------------------------------------------------------------

MINE = {"size_factor": 0.5, "parse_per_kib": "1ms", "serialise_per_kib": "2ms"}
H_REQ, H_RESP = 100, 200
SERVICE = 0.010


def encoded_world(**over) -> dict:
    """One client, one periodic request a second, constant sizes and service, a link that adds
    no time, and the custom encoding ``mine``."""
    sc = {
        "name": "enc",
        "duration": 10.0,
        "seed": 5,
        "network": {"latency": 0, "bandwidth": "unlimited"},
        "headers": {"request": H_REQ, "response": H_RESP},
        "server": {"workers": 1, "service_time": SERVICE},
        "clients": {"count": 1},
        "encodings": {"mine": dict(MINE)},
        "workload": {"requests": {"rate": "1/s", "arrival": "periodic"},
                     "request_size": "2048B", "response_size": "4096B", "encoding": "mine"},
        "pattern": {"name": "request_response"},
    }
    return override(sc, over)


def test_custom_encoding_bytes_and_cpu_match_the_hand_derivation():
    """A custom encoding scales payload bytes by size_factor and costs parse/serialise CPU per
    KiB of encoded bytes, exactly as derived by hand for one request."""
    r = simcomm.run(encoded_world())
    m, d = r.frames["messages"], r.frames["deliveries"]
    # Bytes on the wire: payload = round(JSON size × 0.5), plus the untouched headers.
    req_b, resp_b = round(2048 * 0.5), round(4096 * 0.5)          # 1024 B, 2048 B
    # CPU, per KiB (1024 B) of *encoded* bytes:
    client_ser = req_b / 1024 * 2e-3                               # 2 ms  (client encodes)
    server_parse = req_b / 1024 * 1e-3                             # 1 ms  (server decodes)
    server_ser = resp_b / 1024 * 2e-3                              # 4 ms  (server encodes)
    client_parse = resp_b / 1024 * 1e-3                            # 2 ms  (client decodes)
    parse = client_ser + server_parse + server_ser + client_parse   # 9 ms
    assert parse == pytest.approx(0.009, abs=1e-15)

    n = len(d)
    assert n == r.metrics["delivered"] and n in (9, 10)  # one a second, random phase
    req = m[m.kind == "request"].sort_values("t_send").reset_index(drop=True)
    resp = m[m.kind == "response"].sort_values("t_send").reset_index(drop=True)
    assert len(req) == len(resp) == n
    assert (req.payload_bytes == req_b).all() and (req.header_bytes == H_REQ).all()
    assert (req.bytes == H_REQ + req_b).all()
    assert (resp.payload_bytes == resp_b).all() and (resp.header_bytes == H_RESP).all()
    assert (resp.bytes == H_RESP + resp_b).all()
    assert r.metrics["bytes"] == n * (H_REQ + req_b + H_RESP + resp_b)
    assert r.metrics["bytes_header"] == n * (H_REQ + H_RESP)

    # The timeline of each request (t0 = its intended send time):
    #   t0 + 2 ms        request on the wire (after the client serialised it); arrives at once
    #   t0 + 2 + 15 ms   response on the wire (server: parse 1 + service 10 + serialise 4)
    #   t0 + 19 ms       response parsed by the client (2 ms): the delivery
    d = d.sort_values("t_start").reset_index(drop=True)
    t0 = d.t_start.to_numpy()
    atol = 1e-12
    assert np.allclose(req.t_send, t0 + client_ser, rtol=0, atol=atol)
    assert np.allclose(req.t_arrive, req.t_send, rtol=0, atol=0)
    assert np.allclose(resp.t_send, t0 + client_ser + server_parse + SERVICE + server_ser,
                       rtol=0, atol=atol)
    assert np.allclose(d.parse_s, parse, rtol=0, atol=atol)
    assert np.allclose(d.service_s, SERVICE, rtol=0, atol=atol)
    assert np.allclose(d.latency, parse + SERVICE, rtol=0, atol=atol)
    assert np.allclose(d[PARTS].sum(axis=1), d.latency, rtol=0, atol=atol)
    # The server's worker holds each request for parse + service + serialise.
    busy = server_parse + SERVICE + server_ser
    assert r.metrics["server_busy_s"] == pytest.approx(n * busy, rel=0, abs=1e-12)


def test_pattern_encoding_override_uses_the_custom_encoding():
    """A request_response entry's own ``encoding: mine`` overrides workload.encoding (json)."""
    sc = encoded_world(workload__encoding="json", pattern={"name": "request_response",
                                                          "encoding": "mine"})
    r = simcomm.run(sc)
    m, d = r.frames["messages"], r.frames["deliveries"]
    assert set(m.payload_bytes) == {1024, 2048}
    assert np.allclose(d.parse_s, 0.009, rtol=0, atol=1e-12)


def test_custom_encoding_on_a_pushed_update():
    """A pushed update costs the server its serialisation and the client its parsing, both per
    encoded KiB of the custom encoding."""
    sc = encoded_world(workload={"updates": {"rate": "1/s", "arrival": "periodic",
                                             "size": "2000B"},
                                 "encoding": "mine"},
                       headers={"update": 8}, pattern={"name": "push"})
    r = simcomm.run(sc)
    m, d = r.frames["messages"], r.frames["deliveries"]
    wire = round(2000 * 0.5)                                        # 1000 B
    assert (m.payload_bytes == wire).all() and (m.bytes == 8 + wire).all()
    parse = wire / 1024 * 2e-3 + wire / 1024 * 1e-3                 # server encodes, client parses
    assert len(d) in (9, 10)
    assert np.allclose(d.parse_s, parse, rtol=0, atol=1e-12)
    assert np.allclose(d.latency, parse, rtol=0, atol=1e-12)


def test_overriding_a_builtin_encoding_changes_its_figures():
    """``encodings: {json: ...}`` replaces the built-in json figures."""
    sc = encoded_world(encodings={"json": dict(MINE)}, workload__encoding="json")
    d = simcomm.run(sc).frames["deliveries"]
    assert np.allclose(d.parse_s, 0.009, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("over", "field"), [
    ({"workload__encoding": "yours"}, "workload.encoding"),
    ({"pattern": {"name": "request_response", "encoding": "yours"}}, "pattern.encoding"),
])
def test_unknown_encoding_is_a_scenario_error_naming_the_field(over, field):
    """An encoding name that is neither built in nor under ``encodings:`` is a ScenarioError
    whose field is the key that named it."""
    with pytest.raises(ScenarioError) as info:
        simcomm.run(encoded_world(**over))
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}:")
    assert "'yours'" in str(info.value) and "mine" in str(info.value)  # lists what is known


def test_bad_custom_encoding_figure_is_a_scenario_error_naming_the_field():
    """A non-positive size_factor of a custom encoding is a ScenarioError naming it."""
    with pytest.raises(ScenarioError) as info:
        simcomm.run(encoded_world(encodings={"mine": {**MINE, "size_factor": 0}}))
    assert info.value.field == "encodings.mine.size_factor"


# -- plots ---------------------------------------------------------------------------------------

def small(rate: float) -> dict:
    """Two request-response client styles on a small world at *rate* requests/s."""
    return {
        "name": f"plots-{rate:g}",
        "duration": 4.0, "warmup": 0.5, "seed": 8,
        "network": {"latency": "5ms", "bandwidth": "100Mbps"},
        "server": {"workers": 1, "service_time": {"dist": "exponential", "mean": "5ms"}},
        "clients": {"count": 2},
        "workload": {"requests": {"rate": rate, "arrival": "poisson"},
                     "request_size": "256B", "response_size": "1KiB"},
        "patterns": [{"name": "request_response", "label": "sync"},
                     {"name": "request_response", "client": "async", "label": "async"}],
    }


@pytest.fixture(scope="module")
def sweep():
    """Summary rows of both styles at three rates (a ``rate`` column added) and the
    deliveries frames of the last rate."""
    import pandas as pd

    rows, last = [], None
    for rate in (10.0, 30.0, 60.0):
        results = simcomm.compare(small(rate))
        rows.append(results.summary.assign(rate=rate))
        last = results
    return pd.concat(rows, ignore_index=True), {r.pattern: r.frames["deliveries"] for r in last}


def _saved(fig, path) -> None:
    """Save *fig* as PNG to *path*, check the file is a non-empty PNG, and close the figure."""
    fig.savefig(path)
    plt.close(fig)
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def _texts(fig) -> list[str]:
    return [t for ax in fig.axes for t in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())]


def test_lines_draws_one_panel_per_metric(sweep, tmp_path):
    """plots.lines draws a panel per requested metric, titled by it, x labelled, one line per
    pattern, and saves as PNG."""
    df, _ = sweep
    metrics = ["latency_p99", "messages_per_delivery", "server_utilization"]
    fig = simcomm.plots.lines(df, "rate", metrics, title="by rate", logx=True)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == metrics
    assert all(ax.get_xlabel() == "rate" for ax in axes)
    assert all(len(ax.get_lines()) == 2 for ax in axes)      # sync and async
    ln = axes[2].get_lines()[0]
    sync = df[df.pattern == "sync"].sort_values("rate")
    assert np.array_equal(ln.get_xdata(), sync.rate) and np.array_equal(ln.get_ydata(),
                                                                        sync.server_utilization)
    assert axes[1].get_yscale() == "log" and axes[0].get_xscale() == "log"
    assert fig._suptitle.get_text() == "by rate"
    _saved(fig, tmp_path / "lines.png")


def test_comparison_bars_draws_one_chart_per_metric(sweep, tmp_path):
    """plots.comparison_bars titles each chart with its metric (and unit) and draws a bar per
    row, latencies in ms, and saves as PNG."""
    df, _ = sweep
    rows = df[df.rate == 30.0].reset_index(drop=True)
    metrics = ["latency_mean", "bytes_per_delivery", "client_blocked_s", "delivered"]
    fig = simcomm.plots.comparison_bars(rows, metrics, ncols=3)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == len(metrics) and len(fig.axes) == 6   # 2 × 3 grid, 2 hidden
    titles = [ax.get_title() for ax in shown]
    assert titles == ["latency_mean (ms)", "bytes_per_delivery (bytes)", "client_blocked_s (s)",
                      "delivered"]
    heights = [p.get_height() for p in shown[0].patches]
    assert np.allclose(heights, rows.latency_mean * 1e3)
    assert [t.get_text() for t in shown[0].get_xticklabels()] == ["sync", "async"]
    _saved(fig, tmp_path / "bars.png")


def test_decomposition_stacks_the_mean_latency_parts(sweep, tmp_path):
    """plots.decomposition stacks the mean latency parts per label up to the mean latency and
    saves as PNG."""
    _, deliveries = sweep
    fig = simcomm.plots.decomposition(deliveries, title="where the time goes")
    (ax,) = fig.axes
    assert ax.get_ylabel() == "mean latency (ms)" and ax.get_title() == "where the time goes"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(deliveries)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend and all(f"{p}_s" in PARTS for p in legend)
    assert {"propagation", "service"} <= set(legend)
    for i, df in enumerate(deliveries.values()):
        top = sum(p.get_height() for p in ax.patches if round(p.get_x() + p.get_width() / 2) == i)
        assert top == pytest.approx(df.latency.mean() * 1e3, rel=1e-9)
    _saved(fig, tmp_path / "decomposition.png")


def test_every_public_plot_function_is_tested():
    """Every public function of simcomm.plots has a figure test here (a new one needs one;
    the sequence diagram's is in tests/test_trace.py, the sweep figures' in
    tests/test_sweep_plots.py)."""
    public = {n for n, f in inspect.getmembers(simcomm.plots, inspect.isfunction)
              if not n.startswith("_") and f.__module__ == "simcomm.plots"}
    assert public == set(simcomm.plots.__all__) == {"lines", "comparison_bars", "decomposition",
                                                           "sequence", "bands", "pareto",
                                                           "waste", "cdf"}


@pytest.mark.parametrize("call", [
    lambda df: simcomm.plots.lines(df, "rate", ["latency_p99", "no_such_metric"]),
    lambda df: simcomm.plots.comparison_bars(df, ["no_such_metric"]),
])
def test_plots_name_missing_columns(sweep, call):
    """Asking a figure for a column the frame lacks is a KeyError naming the column."""
    df, _ = sweep
    with pytest.raises(KeyError, match="no_such_metric"):
        call(df)
    plt.close("all")
