"""Instances behind a load balancer against queueing theory, and the balancer's own behaviour.

The theory-matching world of test_queueing.py: Poisson arrivals at rate λ from one async
client with unlimited concurrency (every request an independent customer), one HTTP/2
connection with a stream per request, no headers or payloads, constant one-way latency LAT
on an unlimited link; N = 3 single-worker instances with exponential service (μ = 100/s) at
ρ = λ/(Nμ) = 0.7; a balancer with no CPU and no latency. Then:

* ``random`` thins the stream into N independent Poisson streams of rate λ/N: N independent
  M/M/1 queues, mean sojourn 1/(μ − λ/N) = 33.3 ms;
* ``round_robin`` deals every N-th arrival to an instance: Erlang-N gaps, an E_N/M/1 queue with
  mean sojourn 1/(μ(1 − σ)) = 23.6 ms, σ the GI/M/1 root (simcomm.analytic);
* ``least_outstanding`` (join the shortest queue) has no closed form, but for identical
  exponential servers it is optimal among policies that do not know service times (Winston,
  J. Appl. Prob. 1977), so it must beat round robin, which beats random.

Tolerances follow test_queueing.py: R = 20 replications, a Student-t interval at 0.999 on the
per-replication means, a power check, then |estimate − theory| ≤ half width. Run lengths: the
asymptotic variance constant σ² of the per-customer sojourn (autocorrelation included) was
measured with the Lindley recursion in numpy, 20 replications of 200 000 customers: 0.027 s²
for the M/M/1 at ρ = 0.7 and 0.0105 s² for the E_3/M/1. The mean over all M customers of a
replication averages N instances' means, each over M/N customers, so its variance is σ²/M.
With a window of 100 s (M = 21 000, N·R·… = 420 000 customers in all), the planned half width
is 3.883·√(σ²/420 000): 0.98 ms = 2.9 % of 33.3 ms (random) and 0.61 ms = 2.6 % of 23.6 ms
(round robin); × 1.3 (the 95th percentile of s/σ at 19 degrees of freedom) and rounded up:
REL 4 % for both. The alternatives are far outside: random vs round robin differ by 41 %, one
M/M/3 queue (a pool shared by all) would give 14.5 ms. Warm-up: 5 relaxation times
1/(μ(1 − √ρ)²) = 0.38 s of the M/M/1 at ρ = 0.7, so 2 s.
"""

from __future__ import annotations

import bisect

import numpy as np
import pytest
import simpy

import simcomm
from simcomm import analytic
from simcomm.components.balancer import Balancer
from simcomm.components.path import Trip
from simcomm.components.server import Server
from simcomm.metrics.recorder import Recorder
from simcomm.rng import Streams
from tests.stats import mean_ci, replicate

MU, LAM, N = 100.0, 210.0, 3
LAT = 0.0025
R = 20
MUX = {"protocol": "h2", "max_streams": 100_000}


def scenario(policy: str, *, window: float = 100.0, warmup: float = 2.0, **over) -> dict:
    sc = {
        "name": "balancer", "duration": warmup + window, "warmup": warmup,
        "network": {"latency": LAT, "bandwidth": "unlimited"},
        "headers": {"request": 0, "response": 0},
        "workload": {"requests": {"rate": f"{LAM}/s", "arrival": "poisson"},
                     "encoding": "none"},
        "server": {"workers": 1, "service_time": {"dist": "exponential", "mean": 1 / MU},
                   "instances": N},
        "balancer": {"policy": policy},
        "clients": {"count": 1},
        "connection": MUX,
        "pattern": {"name": "request_response", "client": "async", "completion": "callback",
                    "concurrency": None},
    }
    sc.update(over)
    return sc


@pytest.mark.parametrize(("policy", "theory"), [
    ("random", analytic.mm1_mean_sojourn(LAM / N, MU)),
    ("round_robin", analytic.round_robin_mean_sojourn(LAM, MU, N)),
], ids=["random-is-N-MM1", "round-robin-is-EN-M-1"])
def test_mean_sojourn_follows_the_policy_queue(policy, theory):
    """Mean latency = the policy's queue (module docstring) + 2·LAT."""
    runs = replicate(scenario(policy), R, seed=20261130)
    est, half = mean_ci([s["latency_mean"] for s in runs], confidence=0.999)
    theory += 2 * LAT
    assert half < 0.04 * theory, "run too short to test anything"
    assert abs(est - theory) <= half, f"{est=} {theory=} {half=}"
    # the instances share the work evenly: each busy λ/(Nμ) of the time (±10 % of it: each
    # instance's busy fraction over 100 s varies by a few per cent)
    for s in runs:
        assert s["server_utilization"] == pytest.approx(LAM / (N * MU), rel=0.05)
        assert s["instance_utilization_max"] < 1.1 * LAM / (N * MU)


def test_least_outstanding_beats_round_robin_beats_random():
    """Join-the-shortest-queue < round robin < random in mean latency, on the same arrivals
    and service times (5 replications each; the gaps, ~6 ms and ~10 ms, are far beyond the
    replication spread of ~1 ms)."""
    means = {}
    for policy in ("least_outstanding", "round_robin", "random"):
        runs = replicate(scenario(policy, window=40.0), 5, seed=7)
        means[policy] = np.array([s["latency_mean"] for s in runs])
    assert (means["least_outstanding"] < means["round_robin"] - 0.002).all()
    assert (means["round_robin"] < means["random"] - 0.005).all()


def test_one_instance_behind_a_balancer_draws_as_the_plain_server():
    """A balancer with no cost in front of one instance changes nothing: the same
    deliveries, latencies and busy time as without it (instance 0 keeps the server's random
    stream)."""
    plain = scenario("round_robin", window=10.0)
    plain["server"] = {**plain["server"], "instances": 1}
    plain["workload"]["requests"]["rate"] = "70/s"
    del plain["balancer"]
    one = scenario("round_robin", window=10.0)
    one["server"] = {**one["server"], "instances": 1}
    one["workload"]["requests"]["rate"] = "70/s"
    a, b = simcomm.run(plain), simcomm.run(one)
    assert a.metrics == b.metrics


def test_balancer_cost_shows_in_its_part_and_in_propagation():
    """One request at a time (a sync caller thinking 1 s): the balancer's CPU c is the
    ``balancer`` part, its latency b each way adds 2b to propagation: 2·LAT + 2b + c + s."""
    sc = scenario("round_robin", window=10.0, warmup=0.0)
    sc["server"]["service_time"] = 0.004
    sc["balancer"].update(cpu="300us", latency="1ms")
    sc["workload"]["requests"] = {"think_time": 1.0}
    sc["pattern"] = {"name": "request_response", "client": "sync"}
    d = simcomm.run(sc).frames["deliveries"]
    assert len(d) >= 8
    assert np.allclose(d.latency, 2 * LAT + 2 * 0.001 + 0.0003 + 0.004, rtol=0, atol=1e-12)
    assert np.allclose(d.balancer_s, 0.0003, rtol=0, atol=1e-12)
    assert np.allclose(d.propagation_s, 2 * LAT + 0.002, rtol=0, atol=1e-12)


def test_round_robin_deals_requests_in_turn_and_frames_show_each_instance():
    """Periodic requests, one at a time: instance i serves requests i, i + N, …; the
    instances frame gives each one's busy time and utilisation."""
    sc = scenario("round_robin", window=9.0, warmup=0.0)
    sc["server"]["service_time"] = 0.004
    sc["workload"]["requests"] = {"rate": "1/s", "arrival": "periodic"}
    r = simcomm.run(sc)
    inst = r.frames["instances"]
    assert list(inst.instance) == [0, 1, 2]
    assert np.allclose(inst.busy_s, 3 * 0.004, rtol=0, atol=1e-12)  # 9 requests, 3 each
    assert np.allclose(inst.utilization, 0.012 / 9.0, rtol=0, atol=1e-12)
    assert r.summary["instance_utilization_max"] == pytest.approx(0.012 / 9.0)


def test_a_long_poll_is_answered_on_the_instance_that_holds_it():
    """One client's long polls dealt round robin to 3 instances (its k-th poll to instance
    k mod 3); a check costs nothing, an answer that carries updates 100 ms of business logic.
    Each instance's busy time is 100 ms per answer with updates to the polls it was dealt —
    the check and the answer run where the poll is parked, not where the policy would deal
    next (which would put every answer on one instance). One answer of slack: the last may
    run past the end."""
    sc = {
        "duration": 60.0, "seed": 3,
        "network": {"latency": "5ms", "bandwidth": "unlimited"},
        "headers": {"request": 0, "response": 0},
        "server": {"workers": 2, "service_time": 0, "instances": 3},
        "clients": {"count": 1},
        "workload": {"updates": {"rate": "1/s", "scope": "per_client", "size": 100},
                     "encoding": "none"},
        "pattern": {"name": "long_polling", "timeout": "5s", "answer_work": "100ms"},
    }
    r = simcomm.run(sc)
    m, inst = r.frames["messages"], r.frames["instances"]
    polls = m[m.kind == "request"].sort_values("t_send").flow.tolist()
    useful = set(m[(m.kind == "response") & (m.tag == "useful")].flow)
    per = [0, 0, 0]
    for k, flow in enumerate(polls):
        if flow in useful:
            per[k % 3] += 1
    assert min(per) > 5
    assert np.allclose(inst.busy_s, [0.1 * n for n in per], rtol=0, atol=0.1 + 1e-9)


# -- consistent hashing, component level -------------------------------------------------------

class _Conn:
    def __init__(self, name: str) -> None:
        self.name = name
        self.parent = None


def _balancer(n: int):
    env = simpy.Environment()
    rec = Recorder(env, 0.0, 100.0)
    servers = [Server(env, workers=1, service=lambda: 0.0, queue_limit=None, recorder=rec,
                      index=i) for i in range(n)]
    bal = Balancer(env, instances=servers, policy="consistent_hash", cpu=lambda: 0.0,
                   workers=1, latency=lambda: 0.0, streams=Streams(1))
    return env, servers, bal


def _home(bal, name: str) -> int:
    trip = Trip(0)
    trip.conn = _Conn(name)
    return bal._pick(trip)


def test_consistent_hash_keeps_clients_and_moves_only_those_of_a_down_instance():
    """3000 clients over 3 instances: each instance's share of clients matches its arcs of
    the ring (within 4 binomial standard deviations, √(p(1 − p)/3000) ≤ 0.9 %); a client always
    lands on the same instance; while instance 1 is down only its clients move."""
    _env, servers, bal = _balancer(3)
    names = [f"conn.{i}" for i in range(3000)]
    home = [_home(bal, n) for n in names]
    assert home == [_home(bal, n) for n in names]
    ring, owners = bal._ring, bal._owners
    span = 2 ** 64
    arcs = np.zeros(3)
    for k, (p, o) in enumerate(zip(ring, owners, strict=True)):
        prev = ring[k - 1] - (span if k == 0 else 0)
        arcs[o] += (p - prev) / span
    share = np.bincount(home, minlength=3) / len(names)
    sd = np.sqrt(arcs * (1 - arcs) / len(names))
    assert (np.abs(share - arcs) < 4 * sd).all()
    servers[1].restart(downtime=10.0)  # down for 10 s from now
    moved = [_home(bal, n) for n in names]
    for before, after in zip(home, moved, strict=True):
        if before == 1:
            assert after != 1
        else:
            assert after == before
    assert bisect.bisect_left(ring, ring[0]) == 0  # (the ring is sorted)


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"server": {"instances": 0}}, "server.instances", "greater than or equal to 1"),
    ({"balancer": {"policy": "sticky"}}, "balancer.policy", "sessions"),
    ({"balancer": {"policy": "weighted"}}, "balancer.policy", "round_robin"),
    ({"balancer": {"workers": 0}}, "balancer.workers", "greater than or equal to 1"),
    ({"balancer": {"latency": "-1ms"}}, "balancer.latency", ""),
])
def test_bad_balancer_input_names_the_field(change, field, words):
    sc = scenario("round_robin", window=1.0)
    for k, v in change.items():
        sc[k] = {**sc[k], **v}
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(sc)
    assert e.value.field == field
    assert words in e.value.message


def test_stream_patterns_refuse_several_instances():
    """SSE on 2 instances: one error naming server.instances and what works."""
    sc = {"duration": 5.0, "server": {"instances": 2},
          "workload": {"updates": {"rate": "1/s"}}, "pattern": {"name": "sse"}}
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(sc)
    assert e.value.field == "server.instances" and "long_polling" in e.value.message
