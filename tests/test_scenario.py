"""Scenarios: loading, SI values, pattern entries, errors that name the field, overrides."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from simcomm.dists import Constant, Exponential
from simcomm.loader import load, load_file
from simcomm.scenario import ScenarioError, apply_overrides, read_yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "api-under-load.yaml"


@pytest.fixture
def example() -> dict:
    """The example scenario as a plain dict (a fresh copy per test)."""
    return yaml.safe_load(EXAMPLE.read_text())


def two_patterns(raw: dict, *entries: dict) -> dict:
    """*raw* with its ``pattern:`` replaced by ``patterns: [*entries]``."""
    raw = copy.deepcopy(raw)
    del raw["pattern"]
    raw["patterns"] = [dict(e) for e in entries]
    return raw


def without(raw: dict, dotted: str) -> dict:
    """A copy of *raw* without the key at the dotted path."""
    raw = copy.deepcopy(raw)
    *parents, last = dotted.split(".")
    node = raw
    for p in parents:
        node = node[p]
    del node[last]
    return raw


def error_of(raw: dict) -> ScenarioError:
    """The ScenarioError that load(raw) raises."""
    with pytest.raises(ScenarioError) as info:
        load(raw)
    return info.value


# --------------------------------------------------------------------------------------------
# Good input


def test_example_file_loads_in_si_units():
    """The example file loads and every quantity is an SI float or a Distribution of them."""
    sc = load_file(EXAMPLE)
    assert sc.name == "api-under-load"
    assert sc.duration == 300.0
    assert sc.warmup == 30.0
    assert sc.seed == 7
    assert sc.network.bandwidth == 1e8
    assert sc.network.latency == Constant(0.025)
    assert sc.server.workers == 4
    assert sc.server.service_time == Exponential(pytest.approx(0.010))
    assert sc.clients.count == 50
    assert sc.workload.requests.rate == 80.0
    assert not sc.workload.requests.closed
    assert sc.workload.request_size == Constant(512.0)
    assert sc.workload.response_size == Constant(2048.0)
    assert sc.workload.encoding == "json"


def test_single_pattern_entry(example):
    """``pattern:`` gives one variant whose default label lists the parameters given."""
    (v,) = load(example).variants
    assert v.name == "request_response"
    assert v.params.client == "sync"
    assert v.label == "request_response[client=sync]"


def test_patterns_list_with_labels(example):
    """``patterns:`` gives one variant per entry, in order, with given or default labels."""
    raw = two_patterns(example,
                       {"name": "request_response", "client": "sync", "label": "blocking"},
                       {"name": "request_response", "client": "async"},
                       {"name": "request_response"})
    sc = load(raw)
    assert [v.label for v in sc.variants] == [
        "blocking", "request_response[client=async]", "request_response"]
    assert [v.params.client for v in sc.variants] == ["sync", "async", "sync"]


def test_loading_twice_gives_equal_models(example):
    """A dict loaded twice gives equal scenarios and variants, and is not modified by load."""
    raw = two_patterns(example, {"name": "request_response", "label": "a"},
                       {"name": "request_response", "client": "async", "label": "b"})
    before = copy.deepcopy(raw)
    first, second = load(raw), load(raw)
    assert first == second
    assert first.variants == second.variants
    assert raw == before


def test_load_passes_a_scenario_through(example):
    """load() of an already validated Scenario returns it unchanged."""
    sc = load(example)
    assert load(sc) is sc


def test_load_file_applies_overrides_and_seed():
    """load_file applies --set style overrides and a seed before validating."""
    sc = load_file(EXAMPLE, ["duration=10s", "warmup=2s", "network.latency=1ms"], seed=99)
    assert (sc.duration, sc.warmup, sc.seed) == (10.0, 2.0, 99)
    assert sc.network.latency == Constant(0.001)


def test_tiny_scenario_is_valid(tiny_scenario):
    """The shared tiny_scenario fixture is a valid scenario with the advertised shape."""
    sc = load(tiny_scenario)
    assert (sc.duration, sc.clients.count, sc.workload.requests.rate) == (5.0, 2, 20.0)
    assert [v.params.client for v in sc.variants] == ["sync"]


# --------------------------------------------------------------------------------------------
# Bad input: ScenarioError.field is the dotted path, and the message says what to do


BAD_OVERRIDES = [
    # unknown keys, with did-you-mean, at the top and nested
    (["durration=5s"], "durration", ["unknown key", "did you mean 'duration'"]),
    (["network.latncy=5ms"], "network.latncy", ["unknown key", "did you mean 'latency'",
                                                "bandwidth"]),
    (["workload.requests.rat=5/s"], "workload.requests.rat", ["did you mean 'rate'"]),
    (["pattern.clent=sync"], "pattern.clent", ["unknown key", "did you mean 'client'"]),
    # zero or negative quantities
    (["workload.requests.rate=0/s"], "workload.requests.rate", ["must be > 0", "0/s"]),
    (["workload.requests.rate=-5/s"], "workload.requests.rate", ["must be > 0", "-5/s"]),
    (["workload.request_size=0B"], "workload.request_size", ["> 0", "0B"]),
    (["workload.response_size=-1KiB"], "workload.response_size", ["> 0", "-1KiB"]),
    (["network.bandwidth=0Mbps"], "network.bandwidth", ["must be > 0", "0Mbps"]),
    (["network.bandwidth=-1Gbps"], "network.bandwidth", ["must be > 0", "-1Gbps"]),
    (["server.workers=0"], "server.workers", ["greater than or equal to 1", "0"]),
    # units that do not parse
    (["network.latency=25 lightyears"], "network.latency", ["unknown duration unit", "ms"]),
    (["network.bandwidth=100Mbit"], "network.bandwidth", ["unknown bandwidth unit", "Mbps"]),
    (["workload.requests.rate=80/fortnight"], "workload.requests.rate", ["/s", "/min"]),
    (["workload.request_size=big"], "workload.request_size", ["cannot read", "4KiB"]),
    (["duration=soon"], "duration", ["cannot read", "25ms"]),
    # cross-field rules
    (["warmup=300s"], "warmup", ["must be < duration"]),
    (["warmup=400s"], "warmup", ["must be < duration"]),
    (["workload.requests.think_time=1s"], "workload.requests", ["exactly one", "rate and "
                                                                 "think_time"]),
    (["workload.encoding=jsn"], "workload.encoding", ["did you mean 'json'"]),
    # patterns
    (["pattern.name=request_respons"], "pattern.name", ["unknown pattern",
                                                       "did you mean 'request_response'"]),
    (["pattern.name=pubsubb"], "pattern.name", ["unknown pattern", "request_response"]),
    (["pattern.completion=callback"], "pattern.completion", ["client: async"]),
    (["pattern.concurrency=8"], "pattern.concurrency", ["client: async"]),
    (["pattern.chunks=2", "pattern.window=3"], "pattern.window", ["<= chunks", "3"]),
    # distributions
    (["server.service_time={dist: exponental, mean: 10ms}"], "server.service_time.dist",
     ["unknown distribution", "did you mean 'exponential'"]),
    (["server.service_time={dist: exponential, man: 10ms}"], "server.service_time.man",
     ["did you mean 'mean'"]),
    (["server.service_time={dist: exponential}"], "server.service_time.mean", ["missing"]),
    (["server.service_time={dist: lognormal, median: 10ms, p99: 5ms}"],
     "server.service_time.p99", ["> median"]),
]


@pytest.mark.parametrize(("overrides", "field", "fragments"), BAD_OVERRIDES,
                         ids=[" ".join(o) for o, _, _ in BAD_OVERRIDES])
def test_bad_input_names_the_field(example, overrides, field, fragments):
    """Each bad value raises ScenarioError with the dotted path of the key and a useful message."""
    e = error_of(apply_overrides(example, overrides))
    assert e.field == field
    for fragment in fragments:
        assert fragment in e.message
    assert str(e).startswith(f"{field}: ")


@pytest.mark.parametrize("dotted", ["duration", "workload", "workload.requests"])
def test_missing_required_field(example, dotted):
    """A missing required key is reported at its own dotted path as required."""
    e = error_of(without(example, dotted))
    assert e.field == dotted
    assert "missing" in e.message


def test_unknown_key_inside_a_patterns_entry(example):
    """An unknown key in a patterns entry names the entry by index, with did-you-mean."""
    raw = two_patterns(example, {"name": "request_response"},
                       {"name": "request_response", "client": "async", "compltion": "callback"})
    e = error_of(raw)
    assert e.field == "patterns.1.compltion"
    assert "did you mean 'completion'" in e.message


def test_duplicate_labels(example):
    """Two entries with the same label (given or default) is an error on the second one."""
    e = error_of(two_patterns(example, {"name": "request_response", "label": "x"},
                              {"name": "request_response", "client": "async", "label": "x"}))
    assert e.field == "patterns.1.label"
    assert "'x'" in e.message
    e = error_of(two_patterns(example, {"name": "request_response", "client": "async"},
                              {"name": "request_response", "client": "async"}))
    assert e.field == "patterns.1.label"
    assert "'request_response[client=async]' names two entries" in e.message


def test_both_pattern_and_patterns(example):
    """Giving pattern and patterns together is an error on 'pattern'."""
    example["patterns"] = [{"name": "request_response"}]
    e = error_of(example)
    assert e.field == "pattern"
    assert "exactly one" in e.message


def test_neither_pattern_nor_patterns(example):
    """Giving no pattern at all is an error on 'pattern'."""
    e = error_of(without(example, "pattern"))
    assert e.field == "pattern"
    assert "exactly one" in e.message


def test_empty_patterns_list(example):
    """An empty patterns list is an error on 'patterns'."""
    e = error_of(two_patterns(example))
    assert e.field == "patterns"


def test_pattern_entry_without_name(example):
    """A pattern entry without a name says which patterns exist."""
    e = error_of(without(example, "pattern.name"))
    assert e.field == "pattern.name"
    assert "request_response" in e.message


def test_scenario_must_be_a_mapping():
    """A scenario that is not a mapping is refused at the top level (field '')."""
    with pytest.raises(ScenarioError, match="mapping") as info:
        load(["duration", "5s"])
    assert info.value.field == ""


@pytest.mark.parametrize(
    ("override", "field"),
    [("server.service_time={dist: [exponential], mean: 10ms}", "server.service_time.dist"),
     ("pattern.name=[request_response]", "pattern.name")],
)
def test_non_string_names(example, override, field):
    """A distribution or pattern name that is a list is a ScenarioError, not a TypeError."""
    e = error_of(apply_overrides(example, [override]))
    assert e.field == field


@pytest.mark.parametrize("rate", [".inf", "1e400/s"])
def test_infinite_rate_is_refused(example, rate):
    """A rate that is infinite is refused at workload.requests.rate."""
    e = error_of(apply_overrides(example, [f"workload.requests.rate={rate}"]))
    assert e.field == "workload.requests.rate"


# --------------------------------------------------------------------------------------------
# read_yaml


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("duration: [5s\n", "not valid YAML at line"), ("", "is empty"),
     ("- a\n- b\n", "mapping")],
)
def test_bad_files(tmp_path, text, fragment):
    """Malformed, empty or non-mapping YAML is refused, naming the file."""
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=fragment) as info:
        read_yaml(path)
    assert info.value.field == str(path)


def test_missing_file(tmp_path):
    """A path that does not exist is refused, naming the path."""
    with pytest.raises(ScenarioError, match="no such file") as info:
        load_file(tmp_path / "nope.yaml")
    assert info.value.field == str(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------------------------
# apply_overrides


def test_override_nested_key_on_a_copy(example):
    """A dotted key sets a nested value on a copy; the input dict is left alone."""
    out = apply_overrides(example, ["network.latency=5ms", "server.queue_limit=10"])
    assert out["network"]["latency"] == "5ms"
    assert out["server"]["queue_limit"] == 10
    assert example["network"]["latency"] == "25ms"
    assert "queue_limit" not in example["server"]


def test_override_creates_missing_sections(example):
    """Sections that do not exist yet are created on the way down."""
    out = apply_overrides(example, ["encodings.cbor.size_factor=0.8"])
    assert out["encodings"] == {"cbor": {"size_factor": 0.8}}


def test_override_list_index(example):
    """A numeric part indexes into a list: patterns.1.client=async."""
    raw = two_patterns(example, {"name": "request_response"}, {"name": "request_response"})
    out = apply_overrides(raw, ["patterns.1.client=async", "patterns.0={name: x}"])
    assert out["patterns"] == [{"name": "x"}, {"name": "request_response", "client": "async"}]


@pytest.mark.parametrize(
    ("item", "value"),
    [("seed=3", 3), ("network.loss=0.01", 0.01), ("a=true", True), ("a=null", None),
     ("a=", None), ("a=80/s", "80/s"), ("a=[1, 2]", [1, 2]), ("a={b: 1ms}", {"b": "1ms"}),
     ("a=[1", "[1"), ("a=x=y", "x=y")],
)
def test_override_values_are_read_as_yaml(example, item, value):
    """Values are YAML: numbers, booleans, null, lists, mappings; unparseable YAML stays text."""
    key = item.partition("=")[0]
    node = apply_overrides(example, [item])
    for part in key.split("."):
        node = node[part]
    assert node == value


@pytest.mark.parametrize("item", ["duration", "=5s", " =5s"])
def test_malformed_override(example, item):
    """An item without 'key=' is refused on '--set' with the expected form."""
    with pytest.raises(ScenarioError, match=r"path\.to\.key=value") as info:
        apply_overrides(example, [item])
    assert info.value.field == "--set"


def test_override_below_a_scalar(example):
    """Setting a key below a plain value names that value as not a section."""
    with pytest.raises(ScenarioError, match="not a section") as info:
        apply_overrides(example, ["duration.unit=s"])
    assert info.value.field == "duration"


@pytest.mark.parametrize(
    ("item", "field"),
    [("patterns.5.client=async", "patterns.5"), ("patterns.x.client=async", "patterns.x"),
     ("patterns.2=null", "patterns.2")],
)
def test_override_bad_list_index(example, item, field):
    """An index past the end (or not a number) of a list is refused, naming the path."""
    raw = two_patterns(example, {"name": "request_response"}, {"name": "request_response"})
    with pytest.raises(ScenarioError, match="no list item") as info:
        apply_overrides(raw, [item])
    assert info.value.field == field
