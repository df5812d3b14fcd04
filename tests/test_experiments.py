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
    """Each bundled scenario validates and runs (shortened) with every metric present. A
    server restart is moved into the shortened run (one after the end is an error)."""
    raw = read_yaml(path)
    entries = raw.get("patterns") or [raw.get("pattern")]
    restarts = [f"patterns.{i}.restart_at=[5s]" if "patterns" in raw else
                "pattern.restart_at=[5s]" for i, e in enumerate(entries) if "restart_at" in e]
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
