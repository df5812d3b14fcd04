"""Smoke test of benchmarks/bench_mm1.py: it runs and reports sane figures.

No timing or ratio is asserted here: wall-clock figures belong to the benchmark itself.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_mm1.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_mm1_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_mm1_json_report(capsys):
    bench = _load_bench()
    code = bench.main(["--customers", "2000", "--repeat", "1", "--json"])
    assert code == 0  # a report, not a test: 0 without --check whatever the figures
    r = json.loads(capsys.readouterr().out)

    assert r["customers"] == 2000
    assert r["repeat"] == 1
    for model in ("baseline", "simcomm_summary", "simcomm_full"):
        m = r[model]
        for key in ("deliveries", "best_seconds", "req_per_s", "peak_bytes",
                    "bytes_per_delivery"):
            assert m[key] > 0, (model, key, m[key])
        # ~customers completions in customers/λ simulated seconds (loose: it is random)
        assert 1000 < m["deliveries"] < 3000
    for model in ("simcomm_summary", "simcomm_full"):
        assert r[model]["ratio"] > 0
    # the same seed and scenario give the same deliveries at either detail level
    assert r["simcomm_summary"]["deliveries"] == r["simcomm_full"]["deliveries"]
    assert set(r["targets"]) == {"ratio_summary", "ratio_full", "bytes_per_delivery"}
    for t in r["targets"].values():
        assert t["value"] > 0
        assert isinstance(t["pass"], bool)
    assert isinstance(r["pass"], bool)


BENCH_MODELS = BENCH.parent / "bench_models.py"


def test_bench_models_json_report(capsys):
    """benchmarks/bench_models.py at a tiny size: both models, positive rates, finite ratios."""
    import math

    spec = importlib.util.spec_from_file_location("bench_models_under_test", BENCH_MODELS)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    code = bench.main(["--polling-duration", "3", "--pubsub-duration", "0.5", "--repeat", "1",
                       "--json"])
    assert code == 0  # a report, not a test: 0 without --check whatever the figures
    r = json.loads(capsys.readouterr().out)

    assert set(r["models"]) == {"polling", "pubsub"}
    for name, m in r["models"].items():
        for run in ("baseline", "simcomm_summary", "simcomm_full"):
            assert m[run]["deliveries"] > 0, (name, run)
            assert m[run]["items_per_s"] > 0, (name, run)
        for run in ("baseline", "simcomm_summary"):
            assert m[run]["bytes_per_delivery"] > 0, (name, run)
        for run in ("simcomm_summary", "simcomm_full"):
            assert math.isfinite(m[run]["ratio"]) and m[run]["ratio"] > 0, (name, run)
        # the same seed and scenario give the same deliveries at either detail level
        assert m["simcomm_summary"]["deliveries"] == m["simcomm_full"]["deliveries"]
        assert set(m["targets"]) == {"ratio_summary", "ratio_full"}
        assert all(isinstance(t["pass"], bool) for t in m["targets"].values())
        assert isinstance(m["agreement"]["agree"], bool)
    # periodic publishes and constant delays: both pub/sub models see every copy take 13 ms
    assert abs(r["models"]["pubsub"]["agreement"]["latency_mean"]) < 0.01
    assert isinstance(r["pass"], bool)


BENCH_SWEEP = BENCH.parent / "bench_sweep.py"


def test_bench_sweep_prints_its_figures(capsys):
    """benchmarks/bench_sweep.py at its smallest size (4 runs of ~20 ms, 2 tiny runs per
    executor, no Dask): it runs and prints every figure. Their values are not checked: wall
    clock and parallel speed-up belong to the benchmark itself."""
    import re

    spec = importlib.util.spec_from_file_location("bench_sweep_under_test", BENCH_SWEEP)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    code = bench.main(["--runs", "4", "--duration", "20", "--repeat", "1", "--tiny-runs", "2",
                       "--no-dask"])
    assert code == 0  # a report, not a test: 0 without --check whatever the figures
    out = capsys.readouterr().out

    number = r"\d+(\.\d+)?"
    for label in (rf"in process \(workers=1\)\s+{number}",
                  rf"local pool \(workers=2\)\s+{number}",
                  rf"parallel efficiency T_serial / \(2 × T_parallel\): {number}",
                  rf"pool startup \(first finished run − one run in process\): -?{number} s",
                  rf"one run in the pool \(steady\): {number} s, .* contention -?{number}",
                  rf"executor: startup .* -?{number} s \+ tail {number} s = -?{number}%",
                  rf"ceiling, 2 warm interpreters .*: {number}",
                  rf"import simcomm {number} s",
                  rf"simulation {number} ms per run in process",
                  r"Dask \(2 workers\)\s+skipped: --no-dask",
                  rf"target efficiency \(2 local workers\) >= 0.85: {number}  (PASS|FAIL)"):
        assert re.search(label, out), (label, out)
    # two tables: the efficiency sweep and the per-run overhead, each with both local executors
    assert len(re.findall(r"^local pool \(workers=2\)", out, re.M)) == 2, out
    assert len(re.findall(r"ms", out)) >= 10, out       # overhead/run etc. in ms


def test_bench_scale_prints_its_figures(capsys):
    """benchmarks/bench_scale.py with 2 000 clients: it runs and prints its figures (not
    checked: a wall clock and a memory peak belong to the benchmark)."""
    import re

    spec = importlib.util.spec_from_file_location("bench_scale_under_test",
                                                  BENCH.parent / "bench_scale.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--clients", "2000"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"sse, 2,000 clients, 60 simulated s, detail summary: set-up \d+\.\d s "
                     r"\(\d+\.\d µs per client\), "
                     r"wall \d+\.\d s \((PASS|FAIL) < 10 min\), peak RSS \d\.\d\d GiB "
                     r"\((PASS|FAIL) < 4 GiB\), [\d,]+ deliveries", out), out
