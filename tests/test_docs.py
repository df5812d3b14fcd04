"""Docs that must stay true: the README's metrics table, its commands, the public API."""

import re
from pathlib import Path

import simcomm
from simcomm.metrics.definitions import METRIC_NAMES, markdown_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_metrics_table_is_generated_from_definitions():
    """README's metrics table equals `simcomm metrics --markdown` (one definition, one place)."""
    block = re.search(r"<!-- metrics-table:start -->\n(.*)<!-- metrics-table:end -->", README,
                      re.S)
    assert block, "README lost its metrics-table markers"
    assert block.group(1).strip() == markdown_table().strip(), (
        "README metrics table is stale: regenerate it with `simcomm metrics --markdown`")


def test_every_contract_metric_is_defined():
    """The issue's metrics contract is a subset of the defined metrics."""
    contract = {
        "latency_mean", "latency_p50", "latency_p95", "latency_p99", "latency_max", "delivered",
        "throughput", "messages", "bytes", "messages_per_delivery", "bytes_per_delivery",
        "empty_responses", "empty_ratio", "server_busy_s", "server_utilization",
        "wasted_server_s", "held_connection_s", "idle_connection_s", "client_blocked_s",
        "rejected", "lost", "duplicates", "connections_opened", "bytes_header",
    }
    assert contract <= set(METRIC_NAMES)


def test_ci_runs_the_readme_test_command():
    """.ci/run runs the test command README.md gives."""
    assert "python3 tasks.py test" in README
    assert "python3 tasks.py test" in (ROOT / ".ci" / "run").read_text()


def test_public_api_is_what_all_says():
    """simcomm.__all__ lists exactly the public names of the package namespace."""
    public = {n for n in dir(simcomm) if not n.startswith("_")} - {
        "cli", "components", "dists", "metrics", "patterns", "result", "rng", "runner",
        "scenario", "units", "world", "plots", "analytic", "fields", "loader", "guard",
        "experiment", "stats", "sequence", "ranking"}
    assert sorted(set(simcomm.__all__) - {"__version__"}) == sorted(public)
