"""Parameter sweeps (issue 9): grid expansion, seeds, the Parquet store, resume, intervals and
paired differences, failures, the stopping rule and ``simcomm sweep``."""

from __future__ import annotations

import contextlib
import copy
import importlib
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from typer.testing import CliRunner

import simcomm
from simcomm.cli import app
from simcomm.fields import ScenarioError
from simcomm.guard import GuardError
from simcomm.metrics.definitions import PART_NAMES
from simcomm.metrics.summary import QUANTILES
from simcomm.result import OutputError

sw = importlib.import_module("simcomm.sweep")   # `simcomm.sweep` is the function

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# A few simulated seconds of 3 clients: a run takes milliseconds.
BASE = {
    "name": "tiny-sweep",
    "duration": "4s",
    "warmup": "1s",
    "seed": 3,
    "network": {"latency": "5ms", "bandwidth": "100Mbps"},
    "server": {"workers": 1, "service_time": {"dist": "exponential", "mean": "2ms"}},
    "clients": {"count": 3},
    "workload": {"updates": {"scope": "per_client", "rate": "2/s", "size": "256B"}},
    "patterns": [{"name": "short_polling", "interval": "500ms", "label": "poll"},
                 {"name": "push", "label": "push"}],
}


def make(grid=None, replications=3, **base):
    return {"scenario": {**copy.deepcopy(BASE), **base},
            "grid": grid or {"network.latency": ["5ms", "40ms"]},
            "replications": replications}


def files(out: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in sorted((out / "runs").iterdir())}


# -- grid expansion ----------------------------------------------------------------------------

def test_grid_lists_and_ranges_with_units():
    assert sw.expand("k", [1, "2ms", {"dist": "constant", "value": "1ms"}]) == [
        1, "2ms", {"dist": "constant", "value": "1ms"}]
    assert sw.expand("k", {"log": ["0.01/s", "10/s"], "num": 4}) == [
        "0.01/s", "0.1/s", "1/s", "10/s"]
    assert sw.expand("k", {"lin": ["10ms", "50ms"], "num": 5}) == [
        "10ms", "20ms", "30ms", "40ms", "50ms"]
    assert sw.expand("k", {"log": ["1KiB", "4KiB"], "num": 3}) == ["1KiB", "2KiB", "4KiB"]
    assert sw.expand("k", {"lin": [1, 5], "num": 3}) == [1, 3, 5]           # whole numbers
    assert sw.expand("k", {"lin": [0, 1], "num": 3}) == [0.0, 0.5, 1.0]
    assert sw.expand("k", {"lin": ["500ms", "2s"], "num": 4}) == [        # a's unit
        "500ms", "1000ms", "1500ms", "2000ms"]
    assert sw.expand("k", {"log": ["0.01/s", "10/s"], "num": 7})[1] == "0.0316228/s"


@pytest.mark.parametrize(("values", "says"), [
    ([], "empty list"),
    ({"log": ["0ms", "1s"], "num": 3}, "above zero"),
    ({"log": ["-1ms", "1s"], "num": 3}, "above zero"),
    ({"lin": ["1ms", "2ms"], "num": 1}, "≥ 2"),
    ({"lin": ["1ms", "2ms"]}, "≥ 2"),
    ({"lin": ["1ms"], "num": 3}, "two ends"),
    ({"lin": ["1ms", "2/s"], "num": 3}, "not the same kind"),
    ({"lni": ["1ms", "2ms"], "num": 3}, "did you mean 'lin'"),
    ("5ms", "expected a list"),
])
def test_bad_grid_values_are_one_line_errors(values, says):
    with pytest.raises(ScenarioError, match=None) as e:
        sw.expand("network.latency", values)
    assert says in str(e.value) and "grid.network.latency" in str(e.value)
    assert "\n" not in str(e.value)


def test_points_are_every_combination_in_grid_order():
    spec = sw.read_sweep(make({"network.latency": ["5ms", "40ms"],
                               "clients.count": {"lin": [1, 3], "num": 3}}))
    assert spec.points == [{"network.latency": a, "clients.count": c}
                           for a in ("5ms", "40ms") for c in (1, 2, 3)]


# -- bad input: nothing written ----------------------------------------------------------------

@pytest.mark.parametrize(("grid", "says"), [
    ({"network.latncy": ["5ms"]}, "grid.network.latncy: not a key of the scenario "
                                  "(unknown key; did you mean 'latency'?"),
    ({"netwrk.latency": ["5ms"]}, "did you mean 'network'?"),
    ({"patterns.0.intervl": ["1s"]}, "did you mean 'interval'?"),
    ({"network.latency.mean": ["1ms"]}, "not a key of the scenario"),
])
def test_unknown_grid_key_names_it_and_writes_nothing(tmp_path, grid, says):
    out = tmp_path / "store"
    with pytest.raises(ScenarioError) as e:
        simcomm.sweep(make(grid), out, workers=1)
    assert says in str(e.value) and "\n" not in str(e.value)
    assert not out.exists()


@pytest.mark.parametrize(("change", "says"), [
    ({"grid": {"network.latency": ["5ms", "abc"]}}, "network.latency: cannot read 'abc'"),
    ({"replications": 0}, "replications: must be at least 1"),
    ({"replications": {"target": {"rel": 0.1}}}, "target.metric: missing"),
    ({"replications": {"target": {"metric": "latency_p98", "rel": 0.1}}},
     "did you mean 'latency_p99'"),
    ({"grid": {}}, "grid: expected a mapping"),
    ({"gird": {}}, "did you mean 'grid'"),
    ({"grid": {"seed": [1, 2]}}, "grid.seed: is set by the sweep"),
])
def test_bad_sweeps_are_refused_before_anything_runs(tmp_path, change, says):
    out = tmp_path / "store"
    with pytest.raises(ScenarioError) as e:
        simcomm.sweep({**make(), **change}, out, workers=1)
    assert says in str(e.value) and "\n" not in str(e.value)
    assert not out.exists()


# -- seeds, store ------------------------------------------------------------------------------

def test_rows_do_not_depend_on_who_runs_them(tmp_path):
    one = simcomm.sweep(make(), tmp_path / "one", workers=1).runs
    two = simcomm.sweep(make(), tmp_path / "two", workers=2).runs
    key = ["point", "pattern", "replication"]
    pd.testing.assert_frame_equal(one.sort_values(key).reset_index(drop=True),
                                  two.sort_values(key).reset_index(drop=True))
    for row in one.itertuples():
        assert row.seed == sw.run_seed(3, row.point, row.replication)
    assert one["seed"].nunique() == 2 * 3                     # distinct per (point, rep)
    # patterns of one run share the seed: common random numbers
    assert (one.groupby(["point", "replication"])["seed"].nunique() == 1).all()


def test_store_layout_and_columns(tmp_path):
    out = tmp_path / "store"
    r = simcomm.sweep(make({"network.latency": ["5ms", "40ms"],
                            "workload.updates.rate": {"log": ["1/s", "4/s"], "num": 2}}),
                      out, workers=1)
    assert sorted(p.name for p in out.iterdir()) == ["aggregate.csv", "crossover.csv",
                                                      "paired.csv", "runs", "sweep.json"]
    assert sorted(files(out)) == [f"p{i:05d}-r{j:04d}.parquet" for i in range(4)
                                  for j in range(3)]
    runs = pd.read_parquet(out / "runs")                  # a Parquet dataset
    assert len(runs) == 4 * 2 * 3 == len(r.runs)
    expected = {"point", "network.latency", "workload.updates.rate", "pattern", "replication",
                "seed", *simcomm.METRIC_NAMES, "scenario_hash", "simcomm_version",
                *(f"{p}_s" for p in PART_NAMES), "warmup_used_s", "latency_quantiles"}
    assert set(runs.columns) == expected
    # the parts add up to the mean latency; the quantiles are the run's CDF, ending at the max
    parts = runs[[f"{p}_s" for p in PART_NAMES]].sum(axis=1)
    assert np.allclose(parts, runs["latency_mean"], rtol=1e-9)
    q = np.stack(runs["latency_quantiles"])
    assert q.shape == (len(runs), len(QUANTILES)) and (np.diff(q, axis=1) >= 0).all()
    assert np.array_equal(q[:, -1], runs["latency_max"]) and (runs["warmup_used_s"] == 1).all()
    assert set(runs["workload.updates.rate"]) == {"1/s", "4/s"}
    assert set(runs["pattern"]) == {"poll", "push"}
    assert runs["scenario_hash"].nunique() == 1 and runs["scenario_hash"][0] == r.scenario_hash
    assert (runs["simcomm_version"] == simcomm.__version__).all()
    # a grid value changes the run: more updates, more deliveries
    push = r.runs[r.runs["pattern"] == "push"]
    assert (push.groupby("workload.updates.rate")["delivered"].mean().diff().dropna() > 0).all()


def test_hash_is_stable_and_ignores_replications():
    a = sw.read_sweep(make()).hash
    assert a == sw.read_sweep(make(replications=7)).hash
    assert a != sw.read_sweep(make({"network.latency": ["5ms", "41ms"]})).hash
    assert a != sw.read_sweep(make(seed=4)).hash


def test_resume_runs_only_what_is_missing(tmp_path):
    out = tmp_path / "store"
    first = simcomm.sweep(make(), out, workers=1)
    before = files(out)
    (out / "runs" / "p00001-r0002.parquet").unlink()
    (out / "runs" / ".p00000-r0000.parquet.tmp-dead").write_bytes(b"torn")  # a killed write
    again = simcomm.sweep(make(), out, workers=1, resume=True)
    assert (again.ran, again.skipped) == (1, 5)
    after = files(out)
    assert sorted(after) == sorted(before)                # the torn temp file is gone
    assert {k: v for k, v in after.items() if k != "p00001-r0002.parquet"} == {
        k: v for k, v in before.items() if k != "p00001-r0002.parquet"}
    pd.testing.assert_frame_equal(first.runs, again.runs)
    pd.testing.assert_frame_equal(first.aggregate, again.aggregate)


def test_resume_asking_fewer_replications_summarises_only_those(tmp_path):
    """The store keeps the third replication, but a sweep resumed with 2 reports 2."""
    out = tmp_path / "store"
    simcomm.sweep(make(), out, workers=1)
    two = simcomm.sweep(make(replications=2), out, workers=1, resume=True)
    assert two.ran == 0 and set(two.runs["replication"]) == {0, 1}
    assert set(two.aggregate["n"]) == {0, 2} and len(files(out)) == 2 * 3   # 0: NaN metrics
    fresh = simcomm.sweep(make(replications=2), tmp_path / "fresh", workers=1)
    pd.testing.assert_frame_equal(two.aggregate, fresh.aggregate)


def test_a_store_is_refused_unless_it_is_this_sweep_resumed(tmp_path):
    out = tmp_path / "store"
    simcomm.sweep(make(), out, workers=1)
    with pytest.raises(OutputError, match="pass --resume"):
        simcomm.sweep(make(), out, workers=1)
    before = files(out)
    with pytest.raises(OutputError, match="a different sweep"):
        simcomm.sweep(make({"network.latency": ["5ms", "80ms"]}), out, workers=1,
                      resume=True)
    assert files(out) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds no sweep"):
        simcomm.sweep(make(), other, workers=1, resume=True)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


# -- statistics --------------------------------------------------------------------------------

def test_aggregate_is_the_student_t_interval(tmp_path):
    r = simcomm.sweep(make(replications=4), tmp_path / "s", workers=1)
    agg = pd.read_csv(tmp_path / "s" / "aggregate.csv")
    assert len(agg) == 2 * 2 * (len(simcomm.METRIC_NAMES) + len(PART_NAMES) + 1)  # + warm-up
    x = r.runs.query("point == 1 and pattern == 'poll'")["latency_mean"].to_numpy()
    assert len(x) == 4
    half = stats.t.ppf(0.975, 3) * x.std(ddof=1) / math.sqrt(4)
    cell = agg.query("point == 1 and pattern == 'poll' and metric == 'latency_mean'")
    assert cell[["mean", "ci_low", "ci_high", "n"]].to_numpy().tolist()[0] == pytest.approx(
        [x.mean(), x.mean() - half, x.mean() + half, 4])
    assert cell["network.latency"].item() == "40ms"


def test_paired_is_the_mean_per_replication_difference(tmp_path):
    r = simcomm.sweep(make(replications=4), tmp_path / "s", workers=1)
    paired = pd.read_csv(tmp_path / "s" / "paired.csv")
    assert set(zip(paired["pattern_a"], paired["pattern_b"], strict=True)) == {("poll", "push")}
    runs = r.runs[r.runs["point"] == 0].set_index(["pattern", "replication"])["latency_p99"]
    d = (runs["poll"] - runs["push"]).to_numpy()
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    row = paired.query("point == 0 and metric == 'latency_p99'")
    assert row[["mean_diff", "ci_low", "ci_high", "n"]].to_numpy().tolist()[0] == \
        pytest.approx([d.mean(), d.mean() - half, d.mean() + half, 4])
    assert d.mean() > 0          # polling is slower than push, with an interval that says so
    assert row["ci_low"].item() > 0


def test_stats_module():
    from simcomm.stats import paired_difference, t_interval

    ci = t_interval([1.0, 2.0, 3.0, math.nan])
    assert ci.n == 3 and ci.mean == 2.0
    assert ci.half_width == pytest.approx(stats.t.ppf(0.975, 2) * 1 / math.sqrt(3))
    assert math.isnan(t_interval([5.0]).low) and t_interval([]).n == 0
    assert paired_difference([3, 5, 7], [1, 2, 3]).mean == pytest.approx(3.0)


def test_progress_counts_runs_and_gives_an_eta(tmp_path):
    seen = []
    simcomm.sweep(make(), tmp_path / "s", workers=1, progress=lambda *a: seen.append(a))
    assert seen[0] == (0, 6, None)
    assert [d for d, _, _ in seen] == list(range(7)) and {t for _, t, _ in seen} == {6}
    assert all(eta >= 0 for _, _, eta in seen[1:]) and seen[-1][2] == 0
    seen.clear()
    simcomm.sweep(make(), tmp_path / "s", workers=1, resume=True,
                  progress=lambda *a: seen.append(a))
    assert seen == [(6, 6, None)]                        # all found finished


def test_the_cli_progress_bar_shows_runs_done_of_planned_and_the_eta():
    """simcomm sweep's bar on a terminal: nothing before the first report, then done/total
    runs and the ETA, a total that grows with the stopping rule, and gone at the end."""
    import io

    from rich.console import Console

    from simcomm.sweep import progress_bar as _sweep_bar

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100, color_system=None)
    progress, stop = _sweep_bar(console)
    stop()                                     # never started: nothing to stop, nothing drawn
    assert buf.getvalue() == ""
    progress, stop = _sweep_bar(console)
    progress(0, 6, None)
    progress(3, 6, 65.0)
    progress(6, 8, 4.0)
    stop()
    text = buf.getvalue()
    assert "sweep" in text and "3/6 runs" in text and "ETA 1m05s" in text
    assert "6/8 runs" in text and "ETA 4s" in text


def test_crossover_interpolates_the_sign_change_and_its_interval():
    from simcomm.stats import crossovers

    (c,) = crossovers([1, 2, 3, 4], [-2, -1, 1, 2], [-3, -2, 0.5, 1], [-1, 0.5, 1.5, 3])
    # mean −1 → 1 between 2 and 3; ci_high −1 → 0.5 between 1 and 2; ci_low −2 → 0.5 after 2
    assert c == pytest.approx({"at": 2.5, "at_low": 1 + 1 / 1.5, "at_high": 2 + 2 / 2.5,
                               "sign_before": -1})
    (c,) = crossovers([1, 10, 100], [1, 0.1, -1], [0, -0.8, -1.5], [2, 1, -0.5], log=True)
    assert c["sign_before"] == 1 and math.isnan(c["at_low"])     # never resolved before
    assert c["at"] == pytest.approx(10 ** (1 + 0.1 / 1.1))
    assert crossovers([1, 2, 3], [1, 2, 3], [0, 1, 2], [2, 3, 4]) == []


def test_example_sweep_finds_where_short_polling_starts_to_win(tmp_path):
    r = simcomm.sweep(EXAMPLES / "sweeps" / "polling.yaml", tmp_path / "s", workers=1)
    assert len(r.runs) == 3 * 2 * 3 and r.failures.empty
    cross = pd.read_csv(tmp_path / "s" / "crossover.csv")
    (row,) = cross[cross["metric"] == "messages_per_delivery"].to_dict("records")
    assert row["key"] == "workload.updates.rate" and row["unit"] == "1/s"
    assert (row["lower_before"], row["lower_after"]) == ("long-poll-30s", "short-poll-1s")
    assert 0.1 < row["at_low"] <= row["at"] <= row["at_high"] < 10


# -- failures ----------------------------------------------------------------------------------

def test_a_dict_sweep_resolves_relative_paths_against_base_dir(tmp_path, monkeypatch):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    monkeypatch.chdir(tmp_path.parent)             # not where base.yaml is
    raw = {"scenario": "base.yaml", "grid": {"network.latency": ["5ms"]}, "replications": 1}
    with pytest.raises(ScenarioError, match=r"base\.yaml"):
        simcomm.sweep(raw, tmp_path / "a", workers=1)
    r = simcomm.sweep(raw, tmp_path / "b", workers=1, base_dir=tmp_path)
    assert len(r.runs) == 2 and r.failures.empty


def test_mapping_grid_values_run_and_are_stored_as_text(tmp_path):
    """A grid value may be a mapping (a distribution): the sweep runs, the column holds its
    text, and the crossover (which needs quantities) skips the key instead of failing after
    every run (it raised TypeError: unhashable type: 'dict')."""
    dists = [{"dist": "constant", "value": "5ms"}, {"dist": "exponential", "mean": "5ms"}]
    r = simcomm.sweep(make({"network.latency": dists}, replications=2), tmp_path / "s",
                      workers=1)
    assert r.failures.empty and len(r.runs) == 2 * 2 * 2
    assert r.runs["network.latency"].str.startswith('{"dist": ').all()
    assert r.crossover.empty


def test_the_guard_refuses_a_sweep_up_front_naming_the_point(tmp_path):
    """A point whose run the machine cannot finish (10⁹ simulated seconds) stops the sweep
    before anything runs or is written: one line naming the point, and the fix."""
    out = tmp_path / "s"
    with pytest.raises(GuardError) as e:
        simcomm.sweep(make({"duration": ["4s", "1000000000s"]}, replications=2), out,
                      workers=2)
    msg = str(e.value)
    assert "grid point 1: duration=1000000000s" in msg and "--force" in msg
    assert "2 runs at once share the machine's memory" in msg and "\n" not in msg
    assert not out.exists()
    f = tmp_path / "big.yaml"
    f.write_text(yaml.safe_dump(make({"duration": ["4s", "1000000000s"]})))
    res = CliRunner().invoke(app, ["sweep", str(f), "--out", str(out)])
    assert res.exit_code == 2 and "grid point 1" in res.output and not out.exists()


def test_a_failing_run_is_reported_and_the_others_finish(tmp_path, monkeypatch):
    """A run that raises (here: the simulator itself, for one point) is recorded with its
    point and error; the other runs finish and are stored."""
    import simcomm.runner

    real = simcomm.runner.compare

    def compare(sc, **kw):
        if sc.duration == 5.0:
            raise RuntimeError("the simulator broke on this point")
        return real(sc, **kw)

    monkeypatch.setattr(simcomm.runner, "compare", compare)
    out = tmp_path / "s"
    r = simcomm.sweep(make({"duration": ["4s", "5s"]}, replications=2), out, workers=1)
    assert sorted(r.failures["point"]) == [1, 1]
    assert list(r.failures.columns) == ["point", "duration", "replication", "seed", "error"]
    assert (r.failures["error"] == "RuntimeError: the simulator broke on this point").all()
    assert set(r.runs["point"]) == {0} and len(r.runs) == 2 * 2
    assert pd.read_csv(out / "failures.csv")["replication"].tolist() == [0, 1]
    assert sorted(files(out)) == ["p00000-r0000.parquet", "p00000-r0001.parquet"]


# -- stopping rule -----------------------------------------------------------------------------

def test_stopping_rule_adds_replications_until_the_interval_is_narrow(tmp_path):
    loose = {"target": {"metric": "latency_mean", "rel": 100.0}, "min": 3, "max": 8}
    r = simcomm.sweep(make(replications=loose), tmp_path / "loose", workers=1)
    assert r.runs.groupby("point")["replication"].nunique().tolist() == [3, 3]
    tight = {"target": {"metric": "latency_p99", "rel": 1e-6}, "min": 3, "max": 8}
    r = simcomm.sweep(make(replications=tight), tmp_path / "tight", workers=1)
    assert r.runs.groupby("point")["replication"].nunique().tolist() == [8, 8]   # 3, 5, 8
    assert (r.aggregate["n"] <= 8).all()


# -- the command line --------------------------------------------------------------------------

def test_cli_writes_the_same_store(tmp_path):
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump(make()))
    res = CliRunner().invoke(app, ["sweep", str(f), "--out", str(tmp_path / "cli"),
                                   "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "6 runs" in res.output
    api = simcomm.sweep(make(), tmp_path / "api", workers=1)
    pd.testing.assert_frame_equal(sw.read_runs(tmp_path / "cli"), api.runs)
    again = CliRunner().invoke(app, ["sweep", str(f), "--out", str(tmp_path / "cli")])
    assert again.exit_code == 2 and "--resume" in again.output


@pytest.mark.parametrize(("args", "says"), [
    (["--workers", "0"], "--workers"),
    (["--scheduler", "127.0.0.1:8786"], "--scheduler: expected an address"),
    (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler: cannot reach a Dask scheduler"),
    ([], "grid.network.latncy: not a key of the scenario"),
])
def test_cli_bad_input_is_one_line_exit_2_nothing_written(tmp_path, args, says):
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump(make({"network.latncy": ["5ms"]} if not args else None)))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["sweep", str(f), "--out", str(out), *args])
    assert res.exit_code == 2
    assert says in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not out.exists()


def test_sweep_file_with_a_relative_scenario(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(
        {"scenario": "base.yaml", "grid": {"clients.count": [1, 2]}, "replications": 2}))
    r = simcomm.sweep(tmp_path / "s.yaml", tmp_path / "out", workers=1)
    assert np.array_equal(sorted(r.runs["clients.count"].unique()), [1, 2])


# -- interruptions: nothing finished is lost, nothing is duplicated ----------------------------

def _slow_sweep(tmp_path: Path) -> Path:
    """12 runs of ~0.2 s each (50 clients, 60 simulated seconds)."""
    f = tmp_path / "slow.yaml"
    f.write_text(yaml.safe_dump(make({"network.latency": ["5ms", "40ms"]}, replications=6,
                                     duration="60s", clients={"count": 50})))
    return f


def _start(f: Path, out: Path):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "simcomm.cli", "sweep", str(f), "--out",
                             str(out), "--workers", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for_runs(proc, out: Path, n: int) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "runs").is_dir() and len(list((out / "runs").glob("p*.parquet"))) >= n:
            return
        time.sleep(0.02)
    pytest.fail(f"the sweep did not write {n} runs: {proc.communicate()[0]}")


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def _workers_of(pid: int) -> list[int]:
    """The pool's worker processes: forked by the fork server (a child of the sweep), or
    spawned (children of the sweep) where there is no fork server."""
    workers = []
    for k in _children(pid):
        cmd = Path(f"/proc/{k}/cmdline").read_bytes()
        if b"forkserver" in cmd:
            workers += _children(k)
        elif b"spawn_main" in cmd:
            workers.append(k)
    return workers


@pytest.mark.parametrize("how", ["ctrl-c", "kill-worker"])
def test_interrupted_sweep_resumes_to_the_same_rows(tmp_path, how):
    import os
    import signal

    f = _slow_sweep(tmp_path)
    out = tmp_path / "store"
    proc = _start(f, out)
    try:
        _wait_for_runs(proc, out, 2)
        if how == "ctrl-c":     # a terminal's Ctrl-C reaches the whole process group
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(_workers_of(proc.pid)[0], signal.SIGKILL)
        text = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if how == "ctrl-c":
        assert proc.returncode == 130 and "--resume" in text, text
    else:
        assert proc.returncode in (0, 1), text       # 1: runs the dead worker took failed
    kept = files(out)
    assert all(n.startswith("p") for n in kept)       # no torn temporary file left
    for name in kept:
        pd.read_parquet(out / "runs" / name)          # every kept file is whole
    resumed = simcomm.sweep(f, out, workers=1, resume=True)
    assert resumed.skipped == len(kept) and resumed.ran == 12 - len(kept)
    assert {k: v for k, v in files(out).items() if k in kept} == kept   # not redone
    whole = simcomm.sweep(f, tmp_path / "whole", workers=1)
    pd.testing.assert_frame_equal(resumed.runs, whole.runs)
    assert not resumed.runs.duplicated(["point", "pattern", "replication"]).any()


def test_library_sweep_interrupted_stops_its_workers_and_keeps_whole_runs(tmp_path):
    """``simcomm.sweep`` called from a script (not the CLI), with local workers: Ctrl-C
    reaches the script's process group; the call raises KeyboardInterrupt, no process of the
    sweep is left behind (workers, fork server), every run file kept is whole, and a resume
    ends with the rows of an uninterrupted sweep."""
    import signal
    import subprocess
    import sys
    import time

    f = _slow_sweep(tmp_path)
    out = tmp_path / "store"
    script = (f"import simcomm, sys\n"
              f"try:\n"
              f"    simcomm.sweep({str(f)!r}, {str(out)!r}, workers=2)\n"
              f"except KeyboardInterrupt:\n"
              f"    print('interrupted', flush=True)\n"
              f"    sys.exit(130)\n"
              f"print('finished')\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        _wait_for_runs(proc, out, 2)
        os.killpg(proc.pid, signal.SIGINT)   # a terminal's Ctrl-C reaches the whole group
        text = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "interrupted" in text, text
    deadline = time.monotonic() + 10
    while _group_pids(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _group_pids(proc.pid) == []                # nothing of the sweep is left running
    kept = files(out)
    assert kept and all(n.startswith("p") for n in kept)   # no torn temporary file left
    for name in kept:
        pd.read_parquet(out / "runs" / name)          # every kept file is whole
    resumed = simcomm.sweep(f, out, workers=1, resume=True)
    assert resumed.skipped == len(kept) and resumed.ran == 12 - len(kept)
    whole = simcomm.sweep(f, tmp_path / "whole", workers=1)
    pd.testing.assert_frame_equal(resumed.runs, whole.runs)


# -- on a Dask cluster ---------------------------------------------------------------------------

def _group_pids(pgid: int) -> list[int]:
    """The processes of process group *pgid* (from /proc)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(d.name))
    return pids


def _listening(pids: list[int]) -> list[str]:
    """The local addresses (hex, as /proc/net shows them) that the processes *pids* listen
    on, over TCP and TCP6."""
    inodes = set()
    for pid in pids:
        fd = Path(f"/proc/{pid}/fd")
        try:
            for link in fd.iterdir():
                try:
                    target = os.readlink(link)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and parts[9] in inodes:  # LISTEN
                found.append(parts[1].split(":")[0])
    return found


@pytest.fixture()
def dask_cluster(tmp_path):
    """A real Dask scheduler and two single-threaded workers on 127.0.0.1 (separate
    processes, as `dask scheduler` and `dask worker` start them; shared/ECOSYSTEM.md's
    loopback-only recipe), in a process group of their own that is killed after the test.
    Yields (address, the two process group ids)."""
    import re
    import signal
    import subprocess
    import sys

    pytest.importorskip("distributed")
    scratch = tmp_path / "dask-scratch"
    sched = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--dashboard-address", "127.0.0.1:0", "--idle-timeout", "300"],
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    address = None
    for line in sched.stderr:
        m = re.search(r"Scheduler at:\s+(tcp://127\.0\.0\.1:\d+)", line)
        if m:
            address = m.group(1)
            break
    assert address, "the Dask scheduler did not start"
    work = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2",
         "--nthreads", "1", "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0",
         "--death-timeout", "30", "--local-directory", str(scratch)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield address, (sched.pid, work.pid)
    finally:
        for p in (work, sched):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        for p in (work, sched):
            p.wait(30)
        sched.stderr.close()


def test_a_sweep_on_a_dask_cluster_stores_the_same_rows(tmp_path, dask_cluster):
    """The same sweep on the Dask cluster's workers and on this process: identical rows (the
    seeds come from (point, replication) only), written here by the client, whole."""
    address, groups = dask_cluster
    spec = make()
    local = simcomm.sweep(spec, tmp_path / "local", workers=1)
    remote = simcomm.sweep(spec, tmp_path / "dask", scheduler=address)
    pd.testing.assert_frame_equal(remote.runs, local.runs)
    assert remote.ran == local.ran > 0 and len(remote.failures) == 0
    assert not [p for p in (tmp_path / "dask" / "runs").iterdir() if p.name.startswith(".")]
    # every socket the cluster listens on is on the loopback address (127.0.0.1)
    listening = _listening([pid for g in groups for pid in _group_pids(g)])
    assert listening and set(listening) == {"0100007F"}, listening


def test_means_is_one_row_per_point_and_pattern(tmp_path):
    """SweepResult.means pivots the aggregate's means: a column per metric, in order."""
    r = simcomm.sweep(make(replications=2), tmp_path / "s", workers=1)
    m = r.means
    assert list(m.columns[:3]) == ["point", "network.latency", "pattern"]
    assert len(m) == 2 * 2 and set(simcomm.METRIC_NAMES) <= set(m.columns)
    row = m[(m.point == 1) & (m.pattern == "push")].iloc[0]
    want = r.runs[(r.runs.point == 1) & (r.runs.pattern == "push")]["latency_mean"].mean()
    assert row["latency_mean"] == pytest.approx(want)
