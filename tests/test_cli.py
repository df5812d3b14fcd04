"""The command line: run (table, --json, --out, --seed, --set), check and patterns.

Bad input exits 2 with one line naming the field.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import simcomm
from simcomm.cli import app
from simcomm.patterns import PATTERNS
from simcomm.scenario import apply_overrides

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "api-under-load.yaml"
# A short run of the example: ~0.05 s of wall time instead of ~3 s for the full 300 s.
SHORT = ["--set", "duration=5s", "--set", "warmup=1s"]
# The example has 4 workers and exponential service with mean 10 ms; at 1000/s the mean worker
# time per request is 10 ms + json parse of 512 B (0.5 KiB × 10 µs/KiB = 5 µs) + json
# serialisation of 2 KiB (2 × 6 µs = 12 µs) = 10.017 ms, so ρ = 1000 × 0.010017 / 4 ≈ 2.50.
UNSTABLE = ["--set", "workload.requests.rate=1000/s"]

runner = CliRunner()


def invoke(*args: object):
    """Run the CLI in-process with *args* (stringified)."""
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *fragments: str) -> None:
    """Exit 2, nothing on stdout, one 'error:' line on stderr holding every fragment."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def scenario_file(tmp_path, tiny_scenario):
    """Write a scenario dict to a YAML file; returns a function dict -> path."""
    def write(raw: dict | None = None, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(tiny_scenario if raw is None else raw))
        return path
    return write


# --------------------------------------------------------------------------------------------
# run


def test_run_json_has_every_metric():
    """run --json prints a JSON list, one row per entry, with the ids and every metric."""
    result = invoke("run", EXAMPLE, "--json", *SHORT)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 1
    (row,) = rows
    assert set(simcomm.METRIC_NAMES) <= set(row)
    assert row["scenario"] == "api-under-load"
    assert row["pattern"] == "request_response[client=sync]"
    assert row["seed"] == 7
    assert row["delivered"] > 0


def test_run_table():
    """run without --json prints a table naming every metric."""
    result = invoke("run", EXAMPLE, *SHORT)
    assert result.exit_code == 0, result.output
    for name in simcomm.METRIC_NAMES:
        assert name in result.stdout


def test_seed_is_reproducible_and_matters():
    """The same --seed gives identical JSON; another seed gives different results."""
    first = invoke("run", EXAMPLE, "--json", "--seed", 1, *SHORT)
    again = invoke("run", EXAMPLE, "--json", "--seed", 1, *SHORT)
    other = invoke("run", EXAMPLE, "--json", "--seed", 2, *SHORT)
    assert first.exit_code == again.exit_code == other.exit_code == 0
    assert first.stdout == again.stdout
    a, b = json.loads(first.stdout)[0], json.loads(other.stdout)[0]
    assert (a["seed"], b["seed"]) == (1, 2)
    assert a["latency_mean"] != b["latency_mean"]


def test_out_writes_summary_and_parquet(tmp_path):
    """--out DIR writes summary.csv and messages/deliveries Parquet frames that pandas reads."""
    out = tmp_path / "out"
    result = invoke("run", EXAMPLE, "--out", out, *SHORT)
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 1
    assert set(simcomm.METRIC_NAMES) <= set(summary.columns)
    (messages,) = out.glob("*.messages.parquet")
    (deliveries,) = out.glob("*.deliveries.parquet")
    assert len(pd.read_parquet(messages)) == summary.loc[0, "messages"]
    assert len(pd.read_parquet(deliveries)) == summary.loc[0, "delivered"]
    assert "summary.csv" in result.stderr


def test_bad_input_with_out_writes_nothing(tmp_path):
    """A bad input with --out DIR exits 2 and leaves DIR (and its parent) untouched."""
    out = tmp_path / "out"
    result = invoke("run", EXAMPLE, "--out", out, *SHORT, "--set", "network.bandwidth=0Mbps")
    assert_one_line_error(result, "network.bandwidth")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_unstable_load_runs_with_a_warning():
    """ρ ≥ 1 still runs (exit 0) but warns on stderr that queues grow without bound."""
    result = invoke("run", EXAMPLE, "--json", *SHORT, *UNSTABLE)
    assert result.exit_code == 0, result.output
    assert "grow without bound" in result.stderr
    assert "2.50" in result.stderr
    assert json.loads(result.stdout)[0]["issued"] > 0


def test_check_warns_on_unstable_load():
    """check accepts an unstable scenario (exit 0) and warns that queues grow without bound."""
    result = invoke("check", EXAMPLE, *UNSTABLE)
    assert result.exit_code == 0, result.output
    assert "grow without bound" in result.stderr


def test_python_api_warns_on_unstable_load():
    """The Python API raises UnstableLoadWarning (here as an expected warning) for ρ ≥ 1."""
    raw = apply_overrides(
        yaml.safe_load(EXAMPLE.read_text()),
        ["duration=5s", "warmup=1s", "workload.requests.rate=1000/s"])
    with pytest.warns(simcomm.UnstableLoadWarning, match="grow without bound"):
        result = simcomm.run(raw)
    assert result.warnings and "grow without bound" in result.warnings[0]


def test_negative_seed_is_bad_input():
    """A negative --seed is bad input: exit 2 with one line naming 'seed', nothing run."""
    # a scenario's seed is a non-negative integer (numpy's SeedSequence takes no negative
    # entropy), and the README's rule is that bad input names its field and exits 2
    result = invoke("run", EXAMPLE, "--json", "--seed", -1, *SHORT)
    assert_one_line_error(result, "seed")


# --------------------------------------------------------------------------------------------
# check


def test_check_ok():
    """check on a good file exits 0 and counts its pattern entries."""
    result = invoke("check", EXAMPLE)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: api-under-load: 1 pattern entry")
    assert result.stderr == ""


BAD_SETS = [
    (["durration=5s"], "durration", "did you mean 'duration'"),
    (["network.latncy=5ms"], "network.latncy", "did you mean 'latency'"),
    (["workload.requests.rate=0/s"], "workload.requests.rate", "must be > 0"),
    (["workload.requests.rate=-3/s"], "workload.requests.rate", "must be > 0"),
    (["workload.request_size=-512B"], "workload.request_size", "> 0"),
    (["workload.response_size=0B"], "workload.response_size", "> 0"),
    (["network.bandwidth=0Mbps"], "network.bandwidth", "must be > 0"),
    (["network.latency=25 lightyears"], "network.latency", "unknown duration unit"),
    (["warmup=300s"], "warmup", "must be < duration"),
    (["pattern.name=request_respons"], "pattern.name", "did you mean 'request_response'"),
    (["server.service_time={dist: exponental, mean: 10ms}"], "server.service_time.dist",
     "did you mean 'exponential'"),
    (["pattern.completion=callback"], "pattern.completion", "client: async"),
    (["duration"], "--set", "path.to.key=value"),
]


@pytest.mark.parametrize(("sets", "field", "fragment"), BAD_SETS,
                         ids=[s[0] for s, _, _ in BAD_SETS])
def test_check_bad_input(sets, field, fragment):
    """check on each bad input exits 2 with one 'error:' line naming the field."""
    args = [a for s in sets for a in ("--set", s)]
    assert_one_line_error(invoke("check", EXAMPLE, *args), f"{field}: ", fragment)


def test_check_missing_required_field(scenario_file, tiny_scenario):
    """A file without a required key (duration) is refused naming it as missing."""
    del tiny_scenario["duration"]
    assert_one_line_error(invoke("check", scenario_file(tiny_scenario)), "duration: missing")


def test_check_malformed_yaml(tmp_path):
    """A file that is not valid YAML is refused naming the file and the line."""
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nduration: [5s\n")
    assert_one_line_error(invoke("check", path), str(path), "not valid YAML", "line")


def test_check_missing_file(tmp_path):
    """A file that does not exist is refused naming the path."""
    path = tmp_path / "nope.yaml"
    assert_one_line_error(invoke("check", path), str(path), "no such file")


def test_check_tiny_scenario_file(scenario_file):
    """check accepts the shared tiny scenario written as YAML."""
    result = invoke("check", scenario_file())
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("sets", [[], ["pattern.label=x[/]"]], ids=["default", "closing-tag"])
def test_check_prints_labels_verbatim(sets):
    """check prints each entry's label exactly as run --json names its row."""
    args = [a for s in sets for a in ("--set", s)]
    result = invoke("check", EXAMPLE, *args)
    assert result.exit_code == 0, (result.output, result.exception)
    label = simcomm.load_file(EXAMPLE, sets).variants[0].label
    assert f"({label})" in result.stdout


def test_error_message_is_printed_verbatim():
    """A duplicate-label error shows the label as it is, brackets included."""
    result = invoke("check", EXAMPLE, "--set", "pattern=null", "--set",
                    "patterns=[{name: request_response, client: async}, "
                    "{name: request_response, client: async}]")
    assert_one_line_error(result, "patterns.1.label",
                          "'request_response[client=async]' names two entries")


def test_check_non_string_distribution_name():
    """A distribution name that is a list is bad input (exit 2), not a crash."""
    result = invoke("check", EXAMPLE, "--set",
                    "server.service_time={dist: [exponential], mean: 10ms}")
    assert_one_line_error(result, "server.service_time.dist")


# --------------------------------------------------------------------------------------------
# patterns


def test_patterns_lists_parameters_and_defaults():
    """patterns lists request_response, its description and every parameter with its default."""
    result = invoke("patterns")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "request_response: Client sends a request" in out
    for key in PATTERNS["request_response"].Params.model_fields:
        assert f"    {key} = " in out
    for shown in ("client = sync", "completion = callback", "concurrency = 64",
                  "encoding = null", "chunks = 1", "window = 1"):
        assert shown in out


# --------------------------------------------------------------------------------------------
# The real process: what a user's shell sees


def test_subprocess_bad_input_is_one_line_and_exit_2(tmp_path):
    """As a real process, bad input exits 2 with one 'error:' line naming the field, no trace."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "FORCE_TERMINAL", "TTY_COMPATIBLE", "PYTHONWARNINGS")}
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "simcomm.cli", "run", str(EXAMPLE), "--out", str(out),
         "--set", "workload.requests.rate=0/s"],
        capture_output=True, text=True, timeout=60, env=env, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: workload.requests.rate: ")
    assert not out.exists()


def test_version_says_whether_the_hot_modules_run_compiled():
    """``--version``: the version and the build simcomm runs (simcomm/_native.py)."""
    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"simcomm {simcomm.__version__}, {simcomm._native.STATE}\n"


def test_subprocess_help_into_a_closed_pipe_has_no_traceback():
    """``simcomm --help | head -1``: the reader goes away mid-help; the command stops without a
    traceback (it once raised AttributeError looking for click's Abort, which typer's vendored
    click does not have)."""
    proc = subprocess.Popen([sys.executable, "-m", "simcomm.cli", "--help"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "COLUMNS": "80"})
    with proc:
        proc.stdout.read(10)
        proc.stdout.close()  # as head does after its line
        err = proc.stderr.read().decode()
    assert "Traceback" not in err and "AttributeError" not in err, err
