"""Experiments and examples run as a user would run them (short, seeded): every experiment
runs its points through a sweep with replications (2 here, in this process), and its CSV has
the means and 95 % intervals of every metric."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import simcomm
from simcomm.scenario import read_yaml

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"
SHORT = ["--replications", "2", "--workers", "1"]


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(name: str, out: Path, *args: str) -> int:
    return _load(EXPERIMENTS / f"{name}.py").main(["--out", str(out), *SHORT, *args])


def _check_table(df: pd.DataFrame, derived: tuple[str, ...] = ()) -> None:
    """Every metric (and each derived column) has its mean and 95 % interval, the interval
    holds the mean wherever it is finite, and every row has its 2 replications."""
    for col in (*simcomm.METRIC_NAMES, *derived):
        for c in (col, f"{col}_ci_low", f"{col}_ci_high"):
            assert c in df.columns, c
        low, mean, high = df[f"{col}_ci_low"], df[col], df[f"{col}_ci_high"]
        finite = low.notna() & high.notna()
        slack = 1e-9 * mean.abs().fillna(0) + 1e-15
        assert (low[finite] <= mean[finite] + slack[finite]).all(), col
        assert (mean[finite] <= high[finite] + slack[finite]).all(), col
    assert (df.n == 2).all()
    assert df.latency_mean_ci_low.notna().any()   # two replications give intervals


def _check_png(path: Path) -> None:
    assert path.stat().st_size > 10_000 and path.read_bytes()[:4] == b"\x89PNG"


def _findings(out: str, count: int) -> list[str]:
    """The finding lines: each says whether the means show it and what the intervals say."""
    lines = []
    for i in range(1, count + 1):
        line = next(x for x in out.splitlines() if x.startswith(f"finding {i},"))
        assert "reproduced" in line or "NOT shown" in line, line
        assert "; 95 % intervals: support it (" in line or \
            "; 95 % intervals: do NOT support it (" in line, line
        lines.append(line)
    return lines


def test_client_styles_experiment_writes_table_and_figure(tmp_path, capsys):
    """The client-styles experiment writes its CSV (every metric with its interval), its PNG
    and its sweep store; run again into the same folder, it replaces the store."""
    for _ in range(2):
        assert _run("client_styles", tmp_path, "--set", "duration=6s",
                    "--set", "warmup=1s") == 0
    df = pd.read_csv(tmp_path / "summary.csv")
    _check_table(df)
    assert len(df) == 5 and df.pattern.is_unique
    _check_png(tmp_path / "client_styles.png")
    assert (tmp_path / "sweep" / "aggregate.csv").exists()
    assert len(list((tmp_path / "sweep" / "runs").glob("*.parquet"))) == 2
    assert "async-callback" in capsys.readouterr().out


def test_client_styles_experiment_rejects_bad_override(tmp_path, capsys):
    """A bad --set gives exit status 2 and one error line, and writes nothing."""
    exp = _load(EXPERIMENTS / "client_styles.py")
    assert exp.main(["--out", str(tmp_path / "o"), "--set", "duration=-1s"]) == 2
    err = capsys.readouterr().err
    assert "duration" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


SCRIPTS = sorted(p.stem for p in EXPERIMENTS.glob("*.py") if p.stem != "run_all")


@pytest.mark.parametrize("name", SCRIPTS)
@pytest.mark.parametrize("option,value", [("--replications", "0"), ("--replications", "x"),
                                          ("--workers", "0")])
def test_experiment_rejects_bad_counts(tmp_path, capsys, name, option, value):
    """--replications or --workers below 1 or not a number: one line naming the option,
    exit status 2, nothing written."""
    exp = _load(EXPERIMENTS / f"{name}.py")
    assert exp.main(["--out", str(tmp_path / "o"), option, value]) == 2
    err = capsys.readouterr().err
    assert option in err and err.count("\n") == 1
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
    """The update-delivery experiment writes one row per pattern and rate with every metric's
    mean and interval (and connections per client's), and its figure."""
    assert _run("update_delivery", tmp_path, "--rates", "0.1,1",
                "--set", "duration=20s", "--set", "warmup=2s") == 0
    df = pd.read_csv(tmp_path / "update_delivery.csv")
    _check_table(df, ("connections_per_client",))
    assert len(df) == 2 * 5 and set(df.update_rate) == {0.1, 1.0}
    assert {"short-poll-2s", "long-poll-30s", "push", "sse", "pubsub"} == set(df.pattern)
    _check_png(tmp_path / "update_delivery.png")
    assert "messages per delivery" in capsys.readouterr().out


def test_update_delivery_experiment_rejects_bad_rates(tmp_path, capsys):
    """Bad --rates is a one-line error with exit status 2 and nothing written."""
    exp = _load(EXPERIMENTS / "update_delivery.py")
    assert exp.main(["--out", str(tmp_path / "o"), "--rates", "0,abc"]) == 2
    assert "--rates" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_backend_pool_experiment_writes_table_figure_and_verdicts(tmp_path, capsys):
    """The backend-pool experiment (issue 7's hot pool vs a connection per request behind a
    proxy) writes its CSV and PNG and prints one line per finding."""
    assert _run("backend_pool", tmp_path, "--rates", "50,800", "--set", "duration=4s",
                "--set", "warmup=1s") == 0
    df = pd.read_csv(tmp_path / "backend_pool.csv")
    _check_table(df, ("handshakes_per_delivery", "opened_per_s"))
    assert sorted(df.pattern.unique()) == ["hot-pool", "per-request"] and len(df) == 4
    _check_png(tmp_path / "backend_pool.png")
    out = capsys.readouterr().out
    assert out.count("finding ") == 2
    _findings(out, 2)


def test_page_protocols_experiment_writes_table_figure_and_verdicts(tmp_path, capsys):
    """The page-protocols experiment (issue 7: a page of small objects over HTTP/1.1 with six
    connections, HTTP/2 and HTTP/3, against RTT and loss) writes one row per latency, loss
    and protocol with every metric's mean and interval, its figure, and one line per
    finding."""
    assert _run("page_protocols", tmp_path, "--latencies", "10,100", "--losses", "0,0.02",
                "--set", "duration=40s", "--set", "warmup=10s") == 0
    df = pd.read_csv(tmp_path / "page_protocols.csv")
    _check_table(df)
    # the grid, and the highest loss again with tail loss probes (the sensitivity of finding 2)
    assert len(df) == 2 * 2 * 3 + 2 * 3 and set(df.pattern) == {"h1-6conn", "h2", "h3"}
    assert set(df.rtt_ms) == {20.0, 200.0} and set(df.loss) == {0.0, 0.02}
    assert set(df[df.tail_loss_probe].loss) == {0.02}
    assert (df.batch_time_mean > 0).all()
    assert (tmp_path / "sweep-tlp" / "aggregate.csv").exists()
    _check_png(tmp_path / "page_protocols.png")
    out = capsys.readouterr().out
    assert out.count("finding ") == 4
    again = next(x for x in out.splitlines() if "finding 2 again with TCP tail loss" in x)
    assert "95 % intervals:" in again
    _findings(out, 3)


@pytest.mark.parametrize("option,value", [("--latencies", "0,50"), ("--latencies", "10,x"),
                                          ("--losses", "0,1.5"), ("--losses", "0.01")])
def test_page_protocols_experiment_rejects_bad_sweep(tmp_path, capsys, option, value):
    """A bad sweep argument is a one-line error naming the option, exit status 2, and
    nothing written."""
    exp = _load(EXPERIMENTS / "page_protocols.py")
    assert exp.main(["--out", str(tmp_path / "o"), option, value]) == 2
    err = capsys.readouterr().err
    assert option in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_zero_rtt_experiment_writes_table_figure_and_verdicts(tmp_path, capsys):
    """The 0-RTT experiment (issue 7: the gain of 0-RTT resumption against object size)
    writes one row per size and entry, its figure, the closed-form check and its findings:
    with constant latency and no loss the gain is one RTT (50 ms) to the microsecond in every
    replication, so its interval is that too."""
    assert _run("zero_rtt", tmp_path, "--sizes", "1,64", "--set", "duration=12s",
                "--set", "warmup=2s") == 0
    df = pd.read_csv(tmp_path / "zero_rtt.csv")
    _check_table(df, ("gain_s", "gain_relative"))
    assert len(df) == 2 * 4 and set(df.size_kib) == {1.0, 64.0}
    assert set(df.pattern) == {"h2-tls1.3", "h2-tls1.3-0rtt", "h3", "h3-0rtt"}
    zero = df[df.zero_rtt]
    for col in ("gain_s", "gain_s_ci_low", "gain_s_ci_high"):
        assert (zero[col] - 0.05).abs().max() < 1e-6
    assert df[~df.zero_rtt].gain_s.isna().all()
    assert ((df.latency_mean - df.predicted_s).abs() < 1e-6).all()
    _check_png(tmp_path / "zero_rtt.png")
    out = capsys.readouterr().out
    assert "closed form" in out and "matches at 8 of 8 points" in out
    assert "in every replication (16 runs" in out
    assert out.count("finding ") == 2
    for line in _findings(out, 2):
        assert ": reproduced (" in line and "95 % intervals: support it" in line


def test_zero_rtt_experiment_rejects_bad_sizes(tmp_path, capsys):
    """Bad --sizes is a one-line error with exit status 2 and nothing written."""
    exp = _load(EXPERIMENTS / "zero_rtt.py")
    assert exp.main(["--out", str(tmp_path / "o"), "--sizes", "0,abc"]) == 2
    err = capsys.readouterr().err
    assert "--sizes" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_slow_instance_experiment_writes_table_figure_and_verdicts(tmp_path, capsys):
    """The slow-instance experiment (issue 8: balancing policies with one slow instance)
    writes one row per factor and policy with every metric's mean and interval, its figure,
    and one line per finding."""
    assert _run("slow_instance", tmp_path, "--factors", "1,3",
                "--set", "duration=15s", "--set", "warmup=2s") == 0
    df = pd.read_csv(tmp_path / "slow_instance.csv")
    _check_table(df)
    assert len(df) == 2 * 4 and set(df.factor) == {1.0, 3.0}
    assert set(df.pattern) == {"round-robin", "least-outstanding", "random", "consistent-hash"}
    _check_png(tmp_path / "slow_instance.png")
    _findings(capsys.readouterr().out, 3)


@pytest.mark.parametrize("value", ["0.5,2", "3", "x,2"])
def test_slow_instance_experiment_rejects_bad_factors(tmp_path, capsys, value):
    """Factors below 1, fewer than two, or not numbers: exit 2, one line, nothing written."""
    exp = _load(EXPERIMENTS / "slow_instance.py")
    assert exp.main(["--out", str(tmp_path / "o"), "--factors", value]) == 2
    err = capsys.readouterr().err
    assert "--factors" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_sidecar_experiment_writes_table_figure_and_verdicts(tmp_path, capsys):
    """The sidecar experiment (issue 8: plain calls, a client library and a sidecar against
    failing requests) writes one row per failure rate and entry with every metric's mean and
    interval and the load per request, its figure, and one line per finding."""
    assert _run("sidecar", tmp_path, "--failures", "0,0.1",
                "--set", "duration=8s", "--set", "warmup=1s") == 0
    df = pd.read_csv(tmp_path / "sidecar.csv")
    _check_table(df, ("tries_per_request", "retries_per_request"))
    assert len(df) == 2 * 3 and set(df.pattern) == {"plain", "library", "sidecar"}
    plain = df[df.pattern == "plain"]
    assert (plain.tries_per_request == 1).all() and (plain.tries_per_request_ci_high == 1).all()
    _check_png(tmp_path / "sidecar.png")
    _findings(capsys.readouterr().out, 4)


def test_sidecar_experiment_rejects_bad_failures(tmp_path, capsys):
    exp = _load(EXPERIMENTS / "sidecar.py")
    assert exp.main(["--out", str(tmp_path / "o"), "--failures", "0,1"]) == 2
    err = capsys.readouterr().err
    assert "--failures" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_sessions_experiment_writes_table_figure_and_verdicts(tmp_path, capsys):
    """The sessions experiment (issue 8: stateful, stateless and store-backed sessions under
    restarts) writes one row per restart rate and mode with every metric's mean and
    interval, its figure, and one line per finding."""
    assert _run("sessions", tmp_path, "--rates", "0,0.05",
                "--set", "duration=40s", "--set", "warmup=5s") == 0
    df = pd.read_csv(tmp_path / "sessions.csv")
    _check_table(df, ("relogins_per_1000", "cpu_per_step"))
    assert len(df) == 2 * 3 and set(df.pattern) == {"stateful", "stateless", "store"}
    assert (df[df.pattern != "stateful"].sessions_lost_ci_high == 0).all()
    assert (df[(df.pattern == "stateful") & (df.restart_rate == 0)].sessions_lost == 0).all()
    _check_png(tmp_path / "sessions.png")
    _findings(capsys.readouterr().out, 4)


def test_sessions_experiment_rejects_bad_rates(tmp_path, capsys):
    exp = _load(EXPERIMENTS / "sessions.py")
    assert exp.main(["--out", str(tmp_path / "o"), "--rates=-1,0"]) == 2
    err = capsys.readouterr().err
    assert "--rates" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_run_all_lists_every_experiment():
    """run_all runs every script in experiments/ (a new one must be added to its list), and
    knows a short run of each."""
    run_all = _load(EXPERIMENTS / "run_all.py")
    assert sorted(run_all.EXPERIMENTS) == SCRIPTS
    assert set(run_all.QUICK) == set(SCRIPTS)
    for name in SCRIPTS:   # the folder is the script's own default
        assert f'"out" / "{run_all.folder(name)}"' in (EXPERIMENTS / f"{name}.py").read_text()


def test_run_all_runs_experiments_and_reports_each(tmp_path):
    """run_all --quick runs the chosen experiments as a user would (a process each), prints
    a line per experiment with its time and outputs, and keeps what each printed."""
    done = subprocess.run([sys.executable, str(EXPERIMENTS / "run_all.py"), "--out",
                           str(tmp_path), "--quick", "--only", "client_styles", "--workers",
                           "1"], capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("client_styles"))
    assert " ok " in line and "client_styles.png" in line and "summary.csv" in line
    assert "1 of 1 experiments ran" in done.stdout
    assert "finding" not in line and (tmp_path / "client-styles" / "output.txt").exists()
    _check_png(tmp_path / "client-styles" / "client_styles.png")


def test_run_all_reports_a_failing_experiment(tmp_path):
    """An experiment that fails is reported with its exit status and last line, and run_all
    exits 1; an unknown name is a usage error (2)."""
    done = subprocess.run([sys.executable, str(EXPERIMENTS / "run_all.py"), "--out",
                           str(tmp_path), "--only", "client_styles", "--replications", "0"],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "--replications" in done.stdout
    done = subprocess.run([sys.executable, str(EXPERIMENTS / "run_all.py"), "--only", "nope"],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 2 and "nope" in done.stderr

