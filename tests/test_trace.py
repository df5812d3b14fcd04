"""One client's exchange: the messages frame's client column, simcomm trace and the sequence
diagram."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import simcomm
from simcomm.cli import app
from simcomm.sequence import exchange, lines

D, S = 0.005, 0.010


def scenario(**over) -> dict:
    sc = {
        "duration": 5.0, "seed": 2,
        "network": {"latency": D, "bandwidth": "unlimited"},
        "headers": {"request": 100, "response": 50},
        "server": {"workers": 2, "service_time": S},
        "clients": {"count": 3},
        "workload": {"requests": {"think_time": 1.0}, "encoding": "none",
                     "request_size": 200, "response_size": 400},
        "pattern": {"name": "request_response"},
    }
    sc.update(over)
    return sc


def test_the_messages_frame_names_each_messages_client():
    """Every message of a client's connections carries its number; a proxy's backend
    connection is -2; the clients' pools' extra connections belong to their client."""
    r = simcomm.run(scenario(proxy={"pool": 2}, clients={"count": 3}))
    m = r.frames["messages"]
    assert set(m.client) == {-2, 0, 1, 2}
    front = m[m.client >= 0]
    assert (front.groupby("connection").client.nunique() == 1).all()
    # the backend leg of each exchange shares its flow with the client's leg
    flows = set(m[(m.client == -2) & (m.flow >= 0)].flow)  # (handshakes have no flow)
    assert flows and flows <= set(front.flow)


def test_exchange_picks_a_client_and_its_backend_legs_in_the_window():
    """From a run with a proxy: client 1's messages sent in [1, 2.5) and the backend legs
    of the same flows, in time order, with their lanes; nothing of the other clients."""
    r = simcomm.run(scenario(proxy={"pool": 2}))
    m = r.frames["messages"]
    ex = exchange(m, 1, (1.0, 2.5))
    assert len(ex) > 0 and (ex.t_send >= 1.0).all() and (ex.t_send < 2.5).all()
    assert ex.t_send.is_monotonic_increasing
    assert set(ex.client) == {1, -2}
    lanes = set(zip(ex.src, ex.dst, strict=True))
    assert lanes == {("client", "proxy"), ("proxy", "server"), ("server", "proxy"),
                     ("proxy", "client")}
    text = lines(ex)
    assert len(text) == len(ex)
    assert re.search(r"client > proxy\s+request\s+useful\s+300 B \(headers 100 B\)", text[0])


def test_simcomm_trace_prints_a_line_per_message_and_draws_the_diagram(tmp_path):
    """Client 0 of a sync caller thinking 1 s: requests at 1 s, 2.025 s …; in [0.5, 2.5) two
    exchanges, 4 lines, each as the frame says; --figure writes the sequence diagram."""
    f = tmp_path / "sc.yaml"
    import yaml

    f.write_text(yaml.safe_dump(scenario()))
    png = tmp_path / "seq.png"
    res = CliRunner().invoke(app, ["trace", str(f), "--client", "0", "--window", "0.5s..2.5s",
                                   "--figure", str(png)])
    assert res.exit_code == 0, res.output
    body = [ln for ln in res.output.splitlines() if " s  " in ln and ">" in ln]
    assert len(body) == 4
    assert "client > server" in body[0] and "request" in body[0] and "300 B" in body[0]
    assert "server > client" in body[1] and "response" in body[1] and "450 B" in body[1]
    assert re.search(r"^\s+1\.000000 s", body[0])
    assert f"(+{(D) * 1e3:.3f} ms)" in body[0]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_the_sequence_diagram_draws_lanes_and_lost_copies():
    """A lost copy (no arrival) ends halfway, crossed; the lanes are those used."""
    from simcomm.plots import sequence

    ex = pd.DataFrame({
        "t_send": [0.0, 0.01], "t_arrive": [np.nan, 0.02], "kind": ["request", "request"],
        "tag": ["useful", "retry"], "bytes": [300.0, 300.0], "header_bytes": [100.0, 100.0],
        "flow": [1, 1], "connection": [0, 0], "client": [0, 0], "direction": ["up", "up"],
        "src": ["client", "client"], "dst": ["server", "server"]})
    fig = sequence(ex, title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["client", "server"]
    assert any(line.get_marker() == "x" for line in ax.get_lines())


def test_bad_trace_input_is_one_line_exit_2(tmp_path):
    import yaml

    f = tmp_path / "sc.yaml"
    f.write_text(yaml.safe_dump(scenario()))
    for args, says in ((["--client", "3"], "--client"), (["--client", "x"], "--client"),
                       (["--window", "2s..1s"], "--window"), (["--window", "2s"], "--window"),
                       (["--pattern", "nope"], "--pattern")):
        res = CliRunner().invoke(app, ["trace", str(f), *args])
        assert res.exit_code == 2, (args, res.output)
        assert says in res.output and len(res.output.strip().splitlines()) == 1, res.output


def test_simcomm_trace_in_python_is_the_exchange_of_the_cut_run():
    """simcomm.trace runs the scenario to 1 s past the window, from time 0, in full detail,
    and returns exchange() of that run's messages; attrs name the entry."""
    ex = simcomm.trace(scenario(), 0, (0.5, 2.5))
    cut = simcomm.run(scenario(duration=3.5, warmup=0.0))
    pd.testing.assert_frame_equal(ex, exchange(cut.frames["messages"], 0, (0.5, 2.5)))
    assert ex.attrs["pattern"] == cut.pattern and len(ex) == 4
    # a scheduled fault after the cut is not an error (the scenario is cut, not reloaded)
    late = scenario(duration=60.0, faults={"restarts": {"at": [50.0]}})
    assert len(simcomm.trace(late, 1, (0.0, 2.0))) > 0


@pytest.mark.parametrize("kw,field", [({"client": 3}, "client"), ({"client": True}, "client"),
                                      ({"window": (2.0, 1.0)}, "window"),
                                      ({"window": ("a", 1)}, "window"),
                                      ({"pattern": "nope"}, "pattern")])
def test_simcomm_trace_names_a_bad_argument(kw, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        simcomm.trace(scenario(), **kw)
