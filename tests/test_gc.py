"""The garbage collector's settings during a run (simcomm/_gc.py): changed while a world is
built and run, restored after, and never a cause of different results."""

from __future__ import annotations

import contextlib
import gc
import threading
from pathlib import Path

import simcomm
from simcomm import _gc

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _small() -> dict:
    return {"duration": 5.0, "seed": 3, "clients": {"count": 20},
            "workload": {"updates": {"rate": "1/s"}},
            "pattern": {"name": "pubsub"}}


def test_a_run_restores_the_collector():
    """After a run the thresholds are what they were and nothing stays frozen; during it the
    young generation's threshold is GEN0 and the built world is frozen."""
    before = gc.get_threshold()
    seen = []

    def progress(_label, fraction):
        if fraction >= 1.0 or seen:
            return
        if gc.get_freeze_count():
            seen.append((gc.get_threshold(), gc.get_freeze_count()))

    simcomm.run(_small(), progress=progress)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert seen and seen[0][0][0] == max(_gc.GEN0, before[0]) and seen[0][1] > 0


def test_nested_and_concurrent_blocks_restore_once_the_last_ends():
    before = gc.get_threshold()
    with _gc.quiet():
        with _gc.quiet():
            _gc.settled()
        assert gc.get_threshold()[0] == max(_gc.GEN0, before[0])  # the outer block still runs
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0

    inside, go = threading.Event(), threading.Event()

    def other():
        with _gc.quiet():
            inside.set()
            go.wait(10)

    t = threading.Thread(target=other)
    with _gc.quiet():
        t.start()
        inside.wait(10)
    assert gc.get_threshold()[0] == max(_gc.GEN0, before[0])  # the thread's block still runs
    go.set()
    t.join(10)
    assert gc.get_threshold() == before


def test_settled_outside_a_run_freezes_nothing():
    _gc.settled()
    assert gc.get_freeze_count() == 0


def test_results_do_not_depend_on_the_collector(monkeypatch):
    """The bundled notifications example (short and long polling, push, SSE, pub/sub) gives
    the same summaries, to the bit, with the collector left at its defaults."""
    tuned = simcomm.compare(EXAMPLES / "notifications.yaml")
    monkeypatch.setattr(_gc, "quiet", contextlib.nullcontext)
    monkeypatch.setattr(_gc, "settled", lambda: None)
    plain = simcomm.compare(EXAMPLES / "notifications.yaml")
    for ra, rb in zip(tuned, plain, strict=True):
        assert ra.metrics.keys() == rb.metrics.keys()
        for k, v in ra.metrics.items():
            w = rb.metrics[k]
            assert v == w or (v != v and w != w), (ra.pattern, k, v, w)
