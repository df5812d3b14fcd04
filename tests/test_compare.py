"""simcomm compare: replications, a ranked table per metric, the Pareto set, a recommendation."""

from __future__ import annotations

import numpy as np
import yaml
from typer.testing import CliRunner

import simcomm
from simcomm.cli import app
from simcomm.ranking import rank
from simcomm.stats import t_interval
from simcomm.sweep import run_seed


def scenario() -> dict:
    return {
        "name": "cmp", "duration": 20.0, "warmup": 2.0, "seed": 11,
        "network": {"latency": "20ms", "bandwidth": "unlimited"},
        "server": {"workers": 4, "service_time": {"dist": "exponential", "mean": "5ms"}},
        "clients": {"count": 10},
        "workload": {"updates": {"rate": "0.5/s", "scope": "per_client", "size": 200}},
        "patterns": [{"name": "short_polling", "interval": "1s", "label": "short"},
                     {"name": "long_polling", "timeout": "10s", "label": "long"},
                     {"name": "push", "label": "push"}],
    }


def test_rank_orders_patterns_with_intervals_from_seeded_replications():
    """Each replication's seed is the sweep's point 0 seed; the table's interval for a cell
    is the Student-t interval of that pattern's values; the ranks follow the means."""
    ranking = rank(simcomm.load(scenario()), 3)
    runs = ranking.runs
    assert sorted(set(runs.seed)) == sorted(run_seed(11, 0, r) for r in range(3))
    p99 = ranking.table[ranking.table.metric == "latency_p99"]
    assert list(p99["rank"]) == [1, 2, 3] and p99["mean"].is_monotonic_increasing
    cell = p99[p99.pattern == "short"].iloc[0]
    want = t_interval(runs[runs.pattern == "short"].latency_p99)
    assert np.allclose([cell["mean"], cell.ci_low, cell.ci_high], list(want[:3]))
    # short polling is chatty and slow: dominated by push on all three objectives
    assert "short" not in ranking.pareto and "push" in ranking.pareto
    assert ranking.recommendation.startswith("push:")


def test_simcomm_compare_prints_the_ranking_and_writes_the_figure(tmp_path):
    f = tmp_path / "sc.yaml"
    f.write_text(yaml.safe_dump(scenario()))
    png = tmp_path / "pareto.png"
    res = CliRunner().invoke(app, ["compare", str(f), "--replications", "2",
                                   "--figure", str(png)])
    assert res.exit_code == 0, res.output
    assert "latency_p99 (best first" in res.output
    assert "Pareto-optimal" in res.output and "recommendation: push" in res.output
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_bad_compare_input_is_one_line_exit_2(tmp_path):
    f = tmp_path / "sc.yaml"
    f.write_text(yaml.safe_dump(scenario()))
    for value in ("1", "x"):
        res = CliRunner().invoke(app, ["compare", str(f), "--replications", value])
        assert res.exit_code == 2 and "--replications" in res.output
        assert len(res.output.strip().splitlines()) == 1


def test_rank_takes_a_dict_as_run_and_compare_do():
    """rank(dict) is rank(load(dict)): the same runs."""
    import pandas as pd

    pd.testing.assert_frame_equal(rank(scenario(), 2).runs, rank(simcomm.load(scenario()), 2).runs)
