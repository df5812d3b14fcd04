"""Experiments and examples run as a user would run them (short, seeded)."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

import simcomm
from simcomm.scenario import read_yaml

ROOT = Path(__file__).resolve().parent.parent


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_client_styles_experiment_writes_table_and_figure(tmp_path, capsys):
    """The client-styles experiment writes its CSV (every metric) and its PNG."""
    exp = _load(ROOT / "experiments" / "client_styles.py")
    assert exp.main(["--out", str(tmp_path), "--set", "duration=6s", "--set", "warmup=1s"]) == 0
    df = pd.read_csv(tmp_path / "summary.csv")
    assert set(simcomm.METRIC_NAMES) <= set(df.columns)
    assert len(df) == 5 and df.pattern.is_unique
    png = tmp_path / "client_styles.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    assert "async-callback" in capsys.readouterr().out


def test_client_styles_experiment_rejects_bad_override(tmp_path, capsys):
    """A bad --set gives exit status 2 and one error line, and writes nothing."""
    exp = _load(ROOT / "experiments" / "client_styles.py")
    assert exp.main(["--out", str(tmp_path / "o"), "--set", "duration=-1s"]) == 2
    assert "duration" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_bundled_example_validates_and_runs(path):
    """Each bundled scenario validates and runs (shortened) with every metric present. Server
    restarts and slow episodes are moved into the shortened run (one after the end is an
    error)."""
    raw = read_yaml(path)
    entries = raw.get("patterns") or [raw.get("pattern")]
    restarts = [f"patterns.{i}.restart_at=[5s]" if "patterns" in raw else
                "pattern.restart_at=[5s]" for i, e in enumerate(entries) if "restart_at" in e]
    faults = raw.get("faults") or {}  # scheduled faults move into the shortened run too
    restarts += [f"faults.slow.{i}.at=5s" for i in range(len(faults.get("slow") or []))]
    if (faults.get("restarts") or {}).get("at"):
        restarts.append("faults.restarts.at=[5s]")
    restarts += [f"faults.partitions.{i}.at=3s"
                 for i in range(len(faults.get("partitions") or []))]
    sc = simcomm.load_file(path, ["duration=10s", "warmup=1s", "detail=summary", *restarts])
    for r in simcomm.compare(sc):
        assert set(simcomm.METRIC_NAMES) <= set(r.summary)
        assert r.summary["delivered"] > 0


def test_update_delivery_experiment_writes_csv_and_figure(tmp_path, capsys):
    """The update-delivery experiment writes one row per pattern and rate, and its figure."""
    exp = _load(ROOT / "experiments" / "update_delivery.py")
    assert exp.main(["--out", str(tmp_path), "--rates", "0.1,1",
                     "--set", "duration=20s", "--set", "warmup=2s"]) == 0
    df = pd.read_csv(tmp_path / "update_delivery.csv")
    assert len(df) == 2 * 5 and set(df.update_rate) == {0.1, 1.0}
    assert {"short-poll-2s", "long-poll-30s", "push", "sse", "pubsub"} == set(df.pattern)
    assert set(simcomm.METRIC_NAMES) <= set(df.columns)
    png = tmp_path / "update_delivery.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "messages per delivery" in capsys.readouterr().out


def test_update_delivery_experiment_rejects_bad_rates(tmp_path, capsys):
    """Bad --rates is a one-line error with exit status 2 and nothing written."""
    exp = _load(ROOT / "experiments" / "update_delivery.py")
    assert exp.main(["--out", str(tmp_path / "o"), "--rates", "0,abc"]) == 2
    assert "--rates" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_backend_pool_experiment_writes_table_figure_and_verdicts(tmp_path, capsys):
    """The backend-pool experiment (issue 7's hot pool vs a connection per request behind a
    proxy) writes its CSV and PNG and prints one line per finding."""
    exp = _load(ROOT / "experiments" / "backend_pool.py")
    assert exp.main(["--out", str(tmp_path), "--rates", "50,800", "--set", "duration=4s",
                     "--set", "warmup=1s"]) == 0
    df = pd.read_csv(tmp_path / "backend_pool.csv")
    assert set(simcomm.METRIC_NAMES) <= set(df.columns)
    assert sorted(df.pattern.unique()) == ["hot-pool", "per-request"] and len(df) == 4
    assert (tmp_path / "backend_pool.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert out.count("finding ") == 2 and "finding 1" in out and "reproduced" in out


def test_page_protocols_experiment_writes_table_figure_and_verdicts(tmp_path, capsys):
    """The page-protocols experiment (issue 7: a page of small objects over HTTP/1.1 with six
    connections, HTTP/2 and HTTP/3, against RTT and loss) writes one row per latency, loss
    and protocol with every metric, its figure, and one line per finding."""
    exp = _load(ROOT / "experiments" / "page_protocols.py")
    assert exp.main(["--out", str(tmp_path), "--latencies", "10,100", "--losses", "0,0.02",
                     "--set", "duration=40s", "--set", "warmup=10s"]) == 0
    df = pd.read_csv(tmp_path / "page_protocols.csv")
    assert set(simcomm.METRIC_NAMES) <= set(df.columns)
    # the grid, and the highest loss again with tail loss probes (the sensitivity of finding 2)
    assert len(df) == 2 * 2 * 3 + 2 * 3 and set(df.pattern) == {"h1-6conn", "h2", "h3"}
    assert set(df.rtt_ms) == {20.0, 200.0} and set(df.loss) == {0.0, 0.02}
    assert set(df[df.tail_loss_probe].loss) == {0.02}
    assert (df.batch_time_mean > 0).all()
    assert (tmp_path / "page_protocols.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert out.count("finding ") == 4 and "finding 2 again with TCP tail loss probes" in out
    for i in (1, 2, 3):
        line = next(x for x in out.splitlines() if x.startswith(f"finding {i},"))
        assert "reproduced" in line or "NOT shown" in line


@pytest.mark.parametrize("option,value", [("--latencies", "0,50"), ("--latencies", "10,x"),
                                          ("--losses", "0,1.5"), ("--losses", "0.01")])
def test_page_protocols_experiment_rejects_bad_sweep(tmp_path, capsys, option, value):
    """A bad sweep argument is a one-line error naming the option, exit status 2, and
    nothing written."""
    exp = _load(ROOT / "experiments" / "page_protocols.py")
    assert exp.main(["--out", str(tmp_path / "o"), option, value]) == 2
    err = capsys.readouterr().err
    assert option in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_zero_rtt_experiment_writes_table_figure_and_verdicts(tmp_path, capsys):
    """The 0-RTT experiment (issue 7: the gain of 0-RTT resumption against object size)
    writes one row per size and entry, its figure, the closed-form check and its findings:
    with constant latency and no loss the gain is one RTT (50 ms) to the microsecond."""
    exp = _load(ROOT / "experiments" / "zero_rtt.py")
    assert exp.main(["--out", str(tmp_path), "--sizes", "1,64", "--set", "duration=12s",
                     "--set", "warmup=2s"]) == 0
    df = pd.read_csv(tmp_path / "zero_rtt.csv")
    assert set(simcomm.METRIC_NAMES) <= set(df.columns)
    assert len(df) == 2 * 4 and set(df.size_kib) == {1.0, 64.0}
    assert set(df.pattern) == {"h2-tls1.3", "h2-tls1.3-0rtt", "h3", "h3-0rtt"}
    zero = df[df.zero_rtt]
    assert (zero.gain_s - 0.05).abs().max() < 1e-6 and df[~df.zero_rtt].gain_s.isna().all()
    assert ((df.latency_mean - df.predicted_s).abs() < 1e-6).all()
    assert (tmp_path / "zero_rtt.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "closed form" in out and "matches at 8 of 8 points" in out
    assert out.count("finding ") == 2 and out.count("reproduced") == 2
    assert "finding 1" in out and "finding 2" in out


def test_zero_rtt_experiment_rejects_bad_sizes(tmp_path, capsys):
    """Bad --sizes is a one-line error with exit status 2 and nothing written."""
    exp = _load(ROOT / "experiments" / "zero_rtt.py")
    assert exp.main(["--out", str(tmp_path / "o"), "--sizes", "0,abc"]) == 2
    err = capsys.readouterr().err
    assert "--sizes" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_slow_instance_experiment_writes_table_figure_and_verdicts(tmp_path, capsys):
    """The slow-instance experiment (issue 8: balancing policies with one slow instance)
    writes one row per factor and policy with every metric, its figure, and one line per
    finding."""
    exp = _load(ROOT / "experiments" / "slow_instance.py")
    assert exp.main(["--out", str(tmp_path), "--factors", "1,3",
                     "--set", "duration=15s", "--set", "warmup=2s"]) == 0
    df = pd.read_csv(tmp_path / "slow_instance.csv")
    assert set(simcomm.METRIC_NAMES) <= set(df.columns)
    assert len(df) == 2 * 4 and set(df.factor) == {1.0, 3.0}
    assert set(df.pattern) == {"round-robin", "least-outstanding", "random", "consistent-hash"}
    assert (tmp_path / "slow_instance.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    for i in (1, 2, 3):
        line = next(x for x in out.splitlines() if x.startswith(f"finding {i},"))
        assert "reproduced" in line or "NOT shown" in line


@pytest.mark.parametrize("value", ["0.5,2", "3", "x,2"])
def test_slow_instance_experiment_rejects_bad_factors(tmp_path, capsys, value):
    """Factors below 1, fewer than two, or not numbers: exit 2, one line, nothing written."""
    exp = _load(ROOT / "experiments" / "slow_instance.py")
    assert exp.main(["--out", str(tmp_path / "o"), "--factors", value]) == 2
    err = capsys.readouterr().err
    assert "--factors" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_sidecar_experiment_writes_table_figure_and_verdicts(tmp_path, capsys):
    """The sidecar experiment (issue 8: plain calls, a client library and a sidecar against
    failing requests) writes one row per failure rate and entry with every metric and the
    load per request, its figure, and one line per finding."""
    exp = _load(ROOT / "experiments" / "sidecar.py")
    assert exp.main(["--out", str(tmp_path), "--failures", "0,0.1",
                     "--set", "duration=8s", "--set", "warmup=1s"]) == 0
    df = pd.read_csv(tmp_path / "sidecar.csv")
    assert set(simcomm.METRIC_NAMES) <= set(df.columns)
    assert len(df) == 2 * 3 and set(df.pattern) == {"plain", "library", "sidecar"}
    assert (df[df.pattern == "plain"].tries_per_request == 1).all()
    assert (tmp_path / "sidecar.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    for i in (1, 2, 3, 4):
        line = next(x for x in out.splitlines() if x.startswith(f"finding {i},"))
        assert "reproduced" in line or "NOT shown" in line


def test_sidecar_experiment_rejects_bad_failures(tmp_path, capsys):
    exp = _load(ROOT / "experiments" / "sidecar.py")
    assert exp.main(["--out", str(tmp_path / "o"), "--failures", "0,1"]) == 2
    err = capsys.readouterr().err
    assert "--failures" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_sessions_experiment_writes_table_figure_and_verdicts(tmp_path, capsys):
    """The sessions experiment (issue 8: stateful, stateless and store-backed sessions under
    restarts) writes one row per restart rate and mode with every metric, its figure, and one
    line per finding."""
    exp = _load(ROOT / "experiments" / "sessions.py")
    assert exp.main(["--out", str(tmp_path), "--rates", "0,0.05",
                     "--set", "duration=40s", "--set", "warmup=5s"]) == 0
    df = pd.read_csv(tmp_path / "sessions.csv")
    assert set(simcomm.METRIC_NAMES) <= set(df.columns)
    assert len(df) == 2 * 3 and set(df.pattern) == {"stateful", "stateless", "store"}
    assert (df[df.pattern != "stateful"].sessions_lost == 0).all()
    assert (tmp_path / "sessions.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    for i in (1, 2, 3, 4):
        line = next(x for x in out.splitlines() if x.startswith(f"finding {i},"))
        assert "reproduced" in line or "NOT shown" in line


def test_sessions_experiment_rejects_bad_rates(tmp_path, capsys):
    exp = _load(ROOT / "experiments" / "sessions.py")
    assert exp.main(["--out", str(tmp_path / "o"), "--rates=-1,0"]) == 2
    err = capsys.readouterr().err
    assert "--rates" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
