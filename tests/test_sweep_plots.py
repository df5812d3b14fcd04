"""A sweep's figures: bands with intervals, the Pareto view, stacked waste, the latency
decomposition and CDFs; simcomm plot DIR."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

import simcomm
from simcomm import plots
from simcomm.cli import app
from simcomm.metrics.definitions import PART_NAMES
from simcomm.metrics.summary import QUANTILES
from simcomm.sweep import cdf_runs, read_runs
from tests.test_sweep import make


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "s"
    simcomm.sweep(make(grid={"network.latency": ["5ms", "40ms", "200ms"]}, replications=2),
                  out, workers=1)
    return out


def test_simcomm_plot_draws_every_figure_of_a_sweep(store):
    res = CliRunner().invoke(app, ["plot", str(store)])
    assert res.exit_code == 0, res.output
    figs = sorted(p.name for p in (store / "figures").iterdir())
    assert figs == ["bands-network.latency.png",
                    *(f"{kind}-p{i:05d}.png" for kind in ("cdf", "decomposition", "pareto",
                                                          "waste") for i in range(3))]
    assert all((store / "figures" / f).read_bytes()[:4] == b"\x89PNG" for f in figs)


def test_simcomm_plot_needs_a_finished_sweep(tmp_path):
    res = CliRunner().invoke(app, ["plot", str(tmp_path)])
    assert res.exit_code == 2 and "no finished sweep" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_bands_draw_the_interval_and_take_units_from_the_values(store):
    agg = pd.read_csv(store / "aggregate.csv")
    fig = plots.bands(agg, "network.latency", ["latency_mean"])
    ax = fig.axes[0]
    assert ax.get_xlabel() == "network.latency (s)" and ax.get_xscale() == "log"
    assert len(ax.collections) == len(set(agg.pattern))  # a band per pattern
    with pytest.raises(KeyError, match="no_such_metric"):
        plots.bands(agg, "network.latency", ["no_such_metric"])


def test_the_pareto_front_is_the_non_dominated_patterns():
    """a (1, 1) and b (2, 0.5) are on the front; c (2, 2) is dominated by a."""
    means = pd.DataFrame({"pattern": ["a", "b", "c"], "messages_per_delivery": [1.0, 2.0, 2.0],
                          "latency_p99": [1.0, 0.5, 2.0]})
    ax = plots.pareto(means).axes[0]
    filled = {t.get_text() for t, line in zip(ax.texts, ax.get_lines(), strict=False)
              if line.get_markerfacecolor() != "white"}
    assert filled == {"a", "b"}


def test_waste_stacks_the_three_kinds_of_waste():
    means = pd.DataFrame({"pattern": ["a", "b"], "wasted_server_s": [1.0, 0.0],
                          "idle_connection_s": [2.0, 1.0], "client_blocked_s": [0.5, 3.0]})
    ax = plots.waste(means).axes[0]
    tops = {}
    for bar in ax.patches:
        x = round(bar.get_x(), 3)
        tops[x] = max(tops.get(x, 0.0), bar.get_y() + bar.get_height())
    assert sorted(tops.values()) == [3.5, 4.0]


def test_cdf_runs_average_each_quantile_over_the_replications(store):
    """The CDF of a point × pattern is each quantile's mean over the replications, with its
    Student-t interval (the replications are independent, one value each)."""
    data = read_runs(store)
    curves = cdf_runs(data, ["network.latency"])
    assert len(curves) == 3 * 2 * len(QUANTILES)
    one = data[(data.point == 1) & (data.pattern == "push")]
    q = np.stack(one.latency_quantiles)
    got = curves[(curves.point == 1) & (curves.pattern == "push")]
    assert np.allclose(got.latency, q.mean(axis=0)) and (got.n == 2).all()
    half = stats.t.ppf(0.975, 1) * q.std(axis=0, ddof=1) / np.sqrt(2)
    assert np.allclose(got.ci_high - got.latency, half)
    assert got.latency.iloc[-1] == pytest.approx(one.latency_max.mean())


def test_cdf_draws_a_line_and_a_band_per_pattern(store):
    curves = cdf_runs(read_runs(store), ["network.latency"])
    ax = plots.cdf(curves[curves.point == 2]).axes[0]
    assert ax.get_xlabel() == "latency (ms)" and ax.get_ylim()[0] == 0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["poll", "push"]
    assert len(ax.collections) == 2                       # a band each
    with pytest.raises(KeyError, match="probability"):
        plots.cdf(pd.DataFrame({"pattern": ["a"], "latency": [1.0]}))


def test_decomposition_from_a_frame_of_means_stacks_to_the_mean_latency():
    """A row per pattern with the <part>_s means: each bar's stack is its latency."""
    parts = [f"{p}_s" for p in PART_NAMES]
    means = pd.DataFrame([{"pattern": "a", **dict.fromkeys(parts, 0.0), "service_s": 0.010,
                           "propagation_s": 0.050},
                          {"pattern": "b", **dict.fromkeys(parts, 0.0), "pending_s": 0.5}])
    ax = plots.decomposition(means).axes[0]
    tops = {}
    for bar in ax.patches:
        x = round(bar.get_x(), 3)
        tops[x] = max(tops.get(x, 0.0), bar.get_y() + bar.get_height())
    assert sorted(tops.values()) == pytest.approx([60.0, 500.0])   # ms
    with pytest.raises(KeyError, match="service_s"):
        plots.decomposition(means.drop(columns="service_s"))
