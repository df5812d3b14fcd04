"""Sizes as given, the framing of list answers, and headers per pattern entry."""

from __future__ import annotations

import numpy as np
import pytest

import simcomm
from simcomm import ScenarioError


def world(pattern, *, size="100B", rate="1/s", headers=None, **over) -> dict:
    sc = {
        "duration": "30s", "warmup": "1s", "seed": 2,
        "network": {"latency": "10ms", "bandwidth": "unlimited"},
        "headers": headers or {"request": 100, "response": 200, "body": 2, "item": 1},
        "server": {"workers": 4},
        "clients": {"count": 1},
        "workload": {"updates": {"rate": rate, "arrival": "periodic", "size": size},
                     "encoding": "none"},
        "pattern": pattern,
    }
    sc.update(over)
    return sc


def test_a_tiny_update_wakes_a_parked_long_poll():
    """An update of 0.3 B (once rounded to 0 B, which never woke a poll) reaches the client
    one latency after it was created, and is carried as 0.3 B."""
    r = simcomm.run(world({"name": "long_polling", "timeout": "20s"}, size="0.3B"))
    d = r.frames["deliveries"]
    assert len(d) >= 25 and np.allclose(d.latency, 0.010)
    m = r.frames["messages"]
    answers = m[(m.kind == "response") & (m.tag == "useful")]
    assert np.allclose(answers.payload_bytes, 0.3)


def test_fractional_sizes_are_kept_as_given():
    """Header and payload sizes are not rounded: 100.5 B of headers and 512 × 1.6 = 819.2 B of
    xml stay so on the wire."""
    sc = world({"name": "push"}, size="512B", headers={"update": 100.5})
    sc["workload"]["encoding"] = "xml"
    m = simcomm.run(sc).frames["messages"]
    assert np.allclose(m.bytes, 100.5 + 819.2) and np.allclose(m.header_bytes, 100.5)


def test_poll_answers_carry_body_and_item_framing():
    """Short polls every 250 ms against one update a second: empty answers are the response
    headers plus the body's framing (200 + 2 B); an answer with one update adds one item's
    framing and the payload (200 + 2 + 1 + 100 B); the framing counts as header bytes."""
    r = simcomm.run(world({"name": "short_polling", "interval": "250ms"}))
    m = r.frames["messages"]
    resp = m[m.kind == "response"]
    empty, full = resp[resp.tag == "empty"], resp[resp.tag == "useful"]
    assert len(empty) > 60 and len(full) > 20
    assert np.allclose(empty.bytes, 202) and np.allclose(empty.header_bytes, 202)
    assert np.allclose(full.bytes, 303) and np.allclose(full.header_bytes, 203)


def test_a_pattern_entry_may_carry_its_own_headers():
    """`headers` inside an entry overrides the scenario's for that entry only (a long poll and
    a short poll with different request heads); the rest of the block is inherited."""
    sc = world(None, patterns=[
        {"name": "short_polling", "interval": "1s", "label": "short"},
        {"name": "long_polling", "label": "long", "headers": {"request": 60}},
    ])
    del sc["pattern"]
    results = {r.pattern: r for r in simcomm.compare(sc)}
    for label, head in (("short", 100), ("long", 60)):
        m = results[label].frames["messages"]
        assert np.allclose(m[m.kind == "request"].bytes, head)
        # response headers inherited: 200 B + 2 B of body framing (+ 1 B with an update)
        assert set(m[m.kind == "response"].header_bytes.unique()) <= {202.0, 203.0}


def test_a_bad_key_in_entry_headers_names_the_field():
    """A typo inside an entry's headers is an error naming the dotted path, with a hint."""
    sc = world(None, patterns=[{"name": "push", "headers": {"requst": 60}}])
    del sc["pattern"]
    with pytest.raises(ScenarioError) as e:
        simcomm.load(sc)
    assert e.value.field == "patterns.0.headers.requst"
    assert "request" in e.value.message


def test_fetch_answers_carry_the_same_framing():
    """A pub/sub fetch answer is a list too: response headers + 2 B + 1 B per message."""
    r = simcomm.run(world({"name": "pubsub", "consumer": "pull", "max_wait": "300ms"}))
    m = r.frames["messages"]
    resp = m[m.kind == "response"]
    empty, full = resp[resp.tag == "empty"], resp[resp.tag == "useful"]
    assert len(empty) > 10 and len(full) > 20
    assert np.allclose(empty.header_bytes, 202) and np.allclose(full.header_bytes, 203)
