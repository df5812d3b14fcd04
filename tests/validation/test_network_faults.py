"""Bursty (Gilbert–Elliott) loss and network partitions.

The Gilbert–Elliott chain is checked at the pipe against its stationary law: with enter a and
leave b per segment, the chain is bad π = a / (a + b) of the time and leaves the bad state
with probability b per segment. Partitions are checked on exact timelines: constant latency
D, unlimited bandwidth, no headers or payloads, constant service S, a sync caller thinking
1 s, and a timeout r = 200 ms that doubles after each copy lost in a row.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import simcomm
from simcomm.components.link import Link
from simcomm.dists import Constant
from simcomm.rng import Streams
from tests.helpers import overlay

D, S, RTO = 0.005, 0.010, 0.2


def _pipe(enter: float, leave: float, loss_bad: float, loss: float = 0.0, seed: int = 3):
    return Link("l", bandwidth=math.inf, latency_dist=Constant(0.0), loss=loss, rto=RTO,
                streams=Streams(seed), bursts=(enter, leave, loss_bad)).up


def _lost_flags(pipe, n: int, chunk: int = 50) -> np.ndarray:
    flags = np.zeros(n, dtype=bool)
    for start in range(0, n, chunk):
        for j in pipe.losses(chunk):
            flags[start + j] = True
    return flags


def test_gilbert_loss_has_its_stationary_rate_and_burst_length():
    """loss_bad = 1, loss = 0 (Gilbert's channel): a segment is lost iff the chain is bad.
    Over N = 400 000 segments the loss fraction is within 4 standard deviations of π, the
    variance of a two-state chain's mean being π(1 − π)(1 + λ)/((1 − λ) N), λ = 1 − a − b;
    bursts of losses are geometric with mean 1/b (variance (1 − b)/b²), so the mean of the M
    bursts seen is within 4 √((1 − b)/(b² M)) of 1/b."""
    a, b, n = 0.01, 0.2, 400_000
    flags = _lost_flags(_pipe(a, b, 1.0), n)
    pi, lam = a / (a + b), 1 - a - b
    sd = math.sqrt(pi * (1 - pi) * (1 + lam) / ((1 - lam) * n))
    assert abs(flags.mean() - pi) < 4 * sd
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(np.int8), [0]))))
    runs = edges[1::2] - edges[::2]
    m = len(runs)
    assert m > 1000
    assert abs(runs.mean() - 1 / b) < 4 * math.sqrt((1 - b) / (b * b * m))


def test_gilbert_elliott_loss_mixes_the_two_states():
    """loss 0.01 in the good state, 0.5 in the bad one: the loss rate is
    (1 − π)·0.01 + π·0.5. Tolerance: 4 standard deviations of the mean of N = 400 000
    segments, whose variance is at most that of the chain's state (above) plus the
    Bernoulli draws' p(1 − p)/N."""
    a, b, n = 0.02, 0.1, 400_000
    flags = _lost_flags(_pipe(a, b, 0.5, loss=0.01), n)
    pi, lam = a / (a + b), 1 - a - b
    rate = (1 - pi) * 0.01 + pi * 0.5
    chain = (0.5 - 0.01) ** 2 * pi * (1 - pi) * (1 + lam) / ((1 - lam) * n)
    sd = math.sqrt(chain + rate * (1 - rate) / n)
    assert abs(flags.mean() - rate) < 4 * sd


def world(**over) -> dict:
    sc = {
        "duration": 12.0, "seed": 6,
        "network": {"latency": D, "bandwidth": "unlimited", "rto": RTO,
                    "topology": "per_client"},
        "headers": {"request": 0, "response": 0},
        "server": {"workers": 2, "service_time": S},
        "clients": {"count": 2},
        "workload": {"requests": {"think_time": 1.0}, "encoding": "none"},
        "pattern": {"name": "request_response"},
    }
    return overlay(sc, over)


@pytest.mark.parametrize("direction", ["up", "down", "both"])
def test_a_partition_holds_a_request_until_a_backed_off_copy_gets_through(direction):
    """Client 0 is cut off from 2 s to 3.5 s. Its second request (sent at 2.02 s = 1 s of
    thinking after the first, which took 2D + S) or its answer is lost at every copy while
    the cut lasts — copies 0.2, 0.6, 1.4 s after the first — and the copy 3.0 s after it
    gets through: that exchange takes 3.0 s more. Client 1 is not cut off."""
    sc = world(faults={"partitions": [{"at": "2s", "duration": "1.5s", "clients": [0],
                                       "direction": direction}]})
    d = simcomm.run(sc).frames["deliveries"].sort_values("t_start")
    base = 2 * D + S
    mine, other = d[d.client == 0], d[d.client == 1]
    assert mine.iloc[1].t_start == pytest.approx(2.0 + base)
    assert mine.iloc[1].latency == pytest.approx(3.0 + base, abs=1e-12)
    assert mine.iloc[1].retransmission_s == pytest.approx(3.0, abs=1e-12)
    assert np.allclose(mine.drop(mine.index[1]).latency, base, rtol=0, atol=1e-12)
    assert np.allclose(other.latency, base, rtol=0, atol=1e-12)


def test_a_partition_of_all_clients_on_a_shared_link():
    """No client list: every client is cut (here on the one shared link)."""
    sc = world(network={"topology": "shared"},
               faults={"partitions": [{"at": "2s", "duration": "1.5s"}]})
    d = simcomm.run(sc).frames["deliveries"]
    assert (d.groupby("client").latency.max() > 3.0).all()


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"network": {"bursts": {"enter": 1.5, "leave": 0.1}}}, "network.bursts.enter",
     "less than or equal to 1"),
    ({"network": {"bursts": {"enter": 0.1, "leave": 0}}}, "network.bursts.leave",
     "greater than 0"),
    ({"network": {"bursts": {"enter": 0.1, "leave": 0.1, "loss": -0.1}}},
     "network.bursts.loss", "greater than or equal to 0"),
    ({"faults": {"partitions": [{"at": "1s", "duration": "1s", "clients": [2]}]}},
     "faults.partitions.0.clients.0", "there are 2"),
    ({"faults": {"partitions": [{"at": "20s", "duration": "1s"}]}}, "faults.partitions.0.at",
     "not before the end"),
    ({"network": {"topology": "shared"},
      "faults": {"partitions": [{"at": "1s", "duration": "1s", "clients": [0]}]}},
     "faults.partitions.0.clients", "per_client"),
    ({"faults": {"partitions": [{"at": "1s", "duration": "1s", "direction": "left"}]}},
     "faults.partitions.0.direction", "both"),
])
def test_bad_network_fault_input_names_the_field(change, field, words):
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(world(**change))
    assert e.value.field == field
    assert words in e.value.message


def test_a_partition_between_the_balancer_and_an_instance():
    """Two instances, round robin, instance 1 cut off from the balancer from 2 s to 3.5 s:
    a request dealt to it meanwhile is resent 0.2, 0.6, 1.4 and 3.0 s after it was first
    sent (the first copy after the cut gets through): 3.0 s late; instance 0's requests are
    not delayed, and no client link is cut."""
    sc = world(server={"instances": 2}, clients={"count": 1},
               faults={"partitions": [{"at": "2s", "duration": "1.5s", "instances": [1]}]})
    d = simcomm.run(sc).frames["deliveries"].sort_values("t_start")
    base = 2 * D + S
    late = d[d.latency > base + 1e-9]
    assert len(late) == 1 and late.iloc[0].latency == pytest.approx(3.0 + base, abs=1e-12)
    assert 2.0 <= late.iloc[0].t_start + D < 3.5
    assert late.iloc[0].retransmission_s == pytest.approx(3.0, abs=1e-12)


def test_a_partition_names_clients_or_instances():
    for part, field in (({"clients": [0], "instances": [0]}, "faults.partitions.0.instances"),
                        ({"instances": [5]}, "faults.partitions.0.instances.0")):
        sc = world(server={"instances": 2},
                   faults={"partitions": [{"at": "1s", "duration": "1s", **part}]})
        with pytest.raises(simcomm.ScenarioError) as e:
            simcomm.load(sc)
        assert e.value.field == field


def test_an_instance_partition_needs_a_balancer():
    sc = world(faults={"partitions": [{"at": "1s", "duration": "1s", "instances": [0]}]})
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(sc)
    assert e.value.field == "faults.partitions.0.instances" and "balancer" in e.value.message


def test_partitions_at_a_rate():
    """Partitions of 1 s at 0.02/s (Poisson starts) over 2 000 s cut the clients' links that
    many times: Poisson(40), within 4 standard deviations (√40 ≈ 6.3) of 40."""
    from simcomm.world import World

    sc = world(duration=2000.0, faults={"partitions": [{"rate": "0.02/s", "duration": "1s"}]})
    w = World(simcomm.load(sc))
    cuts = w.clients[0].connection.link.up.cuts
    assert abs(len(cuts) - 40) < 4 * math.sqrt(40)
    assert all(b - a == pytest.approx(1.0) for a, b in cuts)
    assert w.clients[1].connection.link.up.cuts == cuts  # the same partitions for all
