"""The guard (simcomm.guard): runs that cannot finish are refused before anything is built, with
the estimate and the fix; runs that measure nothing, or overload a link, warn."""

from __future__ import annotations

import copy
import itertools
import math
import tracemalloc
import warnings
from pathlib import Path

import pytest

import simcomm
from simcomm import guard
from simcomm.guard import GuardError, Limits
from simcomm.runner import EmptyRunWarning, OverloadedLinkWarning

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

FACTOR = 2.0
"""The estimate of messages and deliveries is within this factor of a run's (see the
guard's docstring)."""


def _tiny() -> dict:
    return {
        "name": "tiny",
        "duration": "5s",
        "warmup": "1s",
        "seed": 1,
        "network": {"latency": "5ms", "bandwidth": "100Mbps"},
        "server": {"workers": 1, "service_time": {"dist": "exponential", "mean": "5ms"}},
        "clients": {"count": 2},
        "workload": {"requests": {"rate": "20/s", "arrival": "poisson"},
                     "request_size": "256B", "response_size": "1KiB", "encoding": "json"},
        "pattern": {"name": "request_response", "client": "sync"},
    }


def _no_world(monkeypatch) -> None:
    """Make building a world fail the test: a refusal must come before it."""
    def boom(*a, **k):
        raise AssertionError("a world was built")
    monkeypatch.setattr(simcomm.runner, "World", boom)


@pytest.mark.parametrize(("change", "field", "term"), [
    ({"workload": {"requests": {"rate": "1e300/s"}}}, "workload.requests.rate", "requests"),
    ({"clients": {"count": 1e9}}, "clients.count", "clients"),
    ({"duration": "1e9s"}, "workload.requests.rate", "requests"),
], ids=["rate-1e300", "clients-1e9", "duration-1e9s"])
def test_impossible_runs_are_refused_before_allocating(monkeypatch, change, field, term):
    """A run that cannot finish is refused (a ScenarioError naming the estimate, the limits
    and --force) before any world is built and with little memory traced."""
    raw = {**_tiny(), **change}
    if "workload" in change:
        raw["workload"] = {**_tiny()["workload"], **change["workload"]}
    _no_world(monkeypatch)
    tracemalloc.start()
    try:
        with pytest.raises(GuardError) as err:
            simcomm.run(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    e = err.value
    assert isinstance(e, simcomm.ScenarioError) and e.field == field
    msg = str(e)
    assert term in msg and "need about" in msg and "of memory" in msg and "run time" in msg
    assert "limits are" in msg and "--force" in msg
    assert peak < 5e6  # validating and estimating; nothing proportional to the run


def test_force_skips_the_guard():
    """A scenario over (tightened) limits is refused by run and compare, and runs with
    force=True."""
    raw = _tiny()
    sc = simcomm.load(raw)
    est = guard.estimate(sc, sc.variants[0])
    tight = Limits(memory=est.memory / 2, seconds=math.inf)
    with pytest.raises(GuardError, match="--force"):
        simcomm.run(raw, limits=tight)
    with pytest.raises(GuardError):
        simcomm.compare(raw, limits=tight)
    assert simcomm.run(raw, force=True, limits=tight).summary["delivered"] > 0
    assert len(simcomm.compare(raw, force=True, limits=tight)) == 1
    slow = Limits(memory=math.inf, seconds=est.seconds / 2)
    with pytest.raises(GuardError, match="run time"):
        simcomm.run(raw, limits=slow)


def test_compare_weighs_the_entries_together():
    """Entries that each fit but together do not are refused by compare, not by run."""
    raw = _tiny()
    raw.pop("pattern")
    raw["patterns"] = [{"name": "request_response", "label": "a"},
                       {"name": "request_response", "label": "b"}]
    sc = simcomm.load(raw)
    one = guard.estimate(sc, sc.variants[0]).memory
    limits = Limits(memory=1.5 * one, seconds=math.inf)
    simcomm.run(sc, "a", limits=limits)
    with pytest.raises(GuardError, match="for all 2 entries"):
        simcomm.compare(sc, limits=limits)


# (file, overrides): a few bundled examples, shortened where that keeps their character
CALIBRATED = [
    ("api-under-load.yaml", ["duration=60s", "warmup=10s"]),
    ("connections.yaml", ["duration=30s", "warmup=5s"]),
    ("notifications.yaml", ["duration=60s", "warmup=10s"]),
    ("long-polling.yaml", ["duration=60s"]),
    ("page-load.yaml", []),
    ("sse.yaml", ["duration=130s"]),
    ("backend-pool.yaml", ["duration=20s"]),
]


@pytest.mark.parametrize(("name", "overrides"), CALIBRATED, ids=[c[0] for c in CALIBRATED])
def test_estimate_is_within_a_factor_of_the_run(name, overrides):
    """The estimated messages and deliveries of each entry are within FACTOR of the rows the
    run recorded (the whole run, warm-up included)."""
    sc = simcomm.load_file(EXAMPLES / name, overrides)
    for spec, r in zip(sc.variants, simcomm.compare(sc), strict=True):
        est = guard.estimate(sc, spec)
        rec = r.recorder
        for what, estimated, actual in (("messages", est.messages, rec.n_messages),
                                        ("deliveries", est.deliveries, len(rec.d_t0))):
            assert actual > 0
            assert 1 / FACTOR <= estimated / actual <= FACTOR, (spec.label, what, estimated,
                                                                actual)


def test_memory_estimate_counts_per_client_random_streams():
    """Per-client random payload sizes hold a block of draws each: the memory estimate of 300
    clients is within FACTOR of the traced peak of the run."""
    sc = simcomm.load_file(EXAMPLES / "client-styles.yaml",
                           ["clients.count=300", "duration=10s", "warmup=1s"])
    est = guard.estimate(sc, sc.variants[0])
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        r = simcomm.run(sc, 0)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert r.summary["delivered"] > 0
    frames = est.row_bytes * (1 - 1 / guard.FRAMES_FACTOR)  # not built by this run
    assert 1 / FACTOR <= (est.memory - frames) / peak <= FACTOR


@pytest.mark.parametrize("change", [
    {"duration": "1us", "warmup": 0},
    {"network": {"latency": "5ms", "bandwidth": "1bps"}},
    {"network": {"latency": "5ms", "bandwidth": "100Mbps", "loss": 0.99}},
], ids=["duration-1us", "bandwidth-1bps", "loss-0.99"])
def test_a_run_that_measures_nothing_warns(change):
    """A run with no delivery in its window finishes, with an EmptyRunWarning that is also in
    Result.warnings."""
    raw = {**_tiny(), **change}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = simcomm.run(raw)
    assert r.summary["delivered"] == 0
    empty = [w for w in caught if issubclass(w.category, EmptyRunWarning)]
    assert len(empty) == 1 and "measured nothing" in str(empty[0].message)
    assert str(empty[0].message) in r.warnings


def test_an_overloaded_link_warns():
    """Offering a link direction more bytes per second than its bandwidth warns (an
    UnstableLoadWarning, like an overloaded server), and the run still delivers."""
    raw = _tiny()
    raw["network"] = {"latency": "5ms", "bandwidth": "100kbps"}  # ~212 kbps of responses
    with pytest.warns(OverloadedLinkWarning, match=r"down \(towards the clients\).*bandwidth"):
        r = simcomm.run(raw)
    assert issubclass(OverloadedLinkWarning, simcomm.UnstableLoadWarning)
    assert any("bandwidth" in w for w in r.warnings) and r.summary["delivered"] > 0
    raw["network"]["bandwidth"] = "1Mbps"  # ~21 %: no warning (warnings are errors here)
    simcomm.run(raw)


def test_per_client_links_share_the_load():
    """With a link per client the offered load is divided among the links."""
    raw = _tiny()
    raw["network"] = {"latency": "5ms", "bandwidth": "150kbps"}
    sc = simcomm.load(raw)
    _, shared, _ = guard.link_load(sc, sc.variants[0])
    raw["network"]["topology"] = "per_client"
    sc = simcomm.load(raw)
    _, each, _ = guard.link_load(sc, sc.variants[0])
    assert shared >= 1 > each == pytest.approx(shared / 2)


def test_progress_reports_the_set_up_first(monkeypatch):
    """The progress callback starts during set-up (before the simulation runs), rises
    monotonically, and ends at 1."""
    raw = _tiny()
    raw["clients"] = {"count": 3000}
    calls: list[float] = []
    before_run: list[int] = []
    World = simcomm.runner.World

    class Watched(World):
        def run(self, progress=None, steps=100):
            before_run.append(len(calls))
            super().run(progress, steps)

    monkeypatch.setattr(simcomm.runner, "World", Watched)
    simcomm.run(raw, progress=lambda label, f: calls.append(f))
    assert before_run[0] > 50  # the clients being built, about a hundred steps
    assert calls[0] == 0.0 and calls[-1] == pytest.approx(1.0)
    assert all(a <= b for a, b in itertools.pairwise(calls))
    assert 0 < calls[before_run[0] - 1] < 1


def test_progress_moves_while_the_pattern_installs(monkeypatch):
    """Set-up progress keeps moving while a pattern starts its per-client processes (after
    the world is built, before the run), about a hundred steps for many clients."""
    raw = _tiny()
    raw["clients"] = {"count": 3000}
    raw["workload"] = {"updates": {"rate": "0.1/s"}}
    raw["pattern"] = {"name": "sse"}
    calls: list[float] = []
    marks: dict[str, int] = {}
    World = simcomm.runner.World

    class Watched(World):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            marks["built"] = len(calls)

        def run(self, progress=None, steps=100):
            marks["run"] = len(calls)
            super().run(progress, steps)

    monkeypatch.setattr(simcomm.runner, "World", Watched)
    simcomm.run(raw, progress=lambda label, f: calls.append(f))
    during = calls[marks["built"]:marks["run"]]
    assert len(during) > 50
    assert all(a <= b for a, b in itertools.pairwise(calls))
    assert calls[marks["built"] - 1] < during[0] and during[-1] < 1


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_bundled_example_passes_the_guard(path):
    """Every bundled example is within this machine's limits, with room to spare."""
    sc = simcomm.load_file(path)
    limits = Limits.machine()
    ests = guard.check(sc, limits=limits)
    assert len(ests) == len(sc.variants)
    assert sum(e.memory for e in ests) < limits.memory / 10
    assert sum(e.seconds for e in ests) < limits.seconds / 10


def test_limits_come_from_the_machine():
    """The memory limit is a fraction of the machine's memory, the time limit an hour."""
    lim = Limits.machine()
    assert 0 < lim.memory <= guard.MEMORY_FRACTION * guard.machine_memory() + 1
    assert lim.seconds == guard.MAX_SECONDS


def test_estimate_allocates_nothing_per_client():
    """Estimating a billion clients is as cheap as estimating two (nothing per client)."""
    raw = copy.deepcopy(_tiny())
    raw["clients"] = {"count": 10**9}
    sc = simcomm.load(raw)
    tracemalloc.start()
    try:
        est = guard.estimate(sc, sc.variants[0])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert est.memory > 1e11 and peak < 1e5
