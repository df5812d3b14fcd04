"""Faults of the server's instances: failing requests, slow episodes and restarts.

Exact timelines use a sync caller sending one request every second (periodic, so each finds
the previous one done), constant one-way latency D on an unlimited link, no headers or
payloads, constant service S. Stochastic counts are checked against their binomial or
Poisson law, with the tolerance written next to each.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import simcomm
from simcomm.world import World
from tests.helpers import overlay

D, S = 0.005, 0.010


def world(**over) -> dict:
    sc = {
        "duration": 20.0, "seed": 8,
        "network": {"latency": D, "bandwidth": "unlimited"},
        "headers": {"request": 0, "response": 0},
        "server": {"workers": 1, "service_time": S},
        "clients": {"count": 1},
        "workload": {"requests": {"rate": "1/s", "arrival": "periodic"}, "encoding": "none"},
        "pattern": {"name": "request_response"},
    }
    return overlay(sc, over)


def test_failing_requests_follow_the_failure_probability():
    """With failure p every request fails independently after its work: over n completed
    requests the failed count is Binomial(n, p), within 4 standard deviations
    √(n p (1 − p)) of n·p (a false alarm about once in 16 000 runs); success_ratio is
    delivered / (delivered + failed); each failure's worker time (S) is wasted."""
    p = 0.1
    sc = world(faults={"failure": p}, duration=600.0,
               workload={"requests": {"rate": "20/s", "arrival": "poisson"}},
               server={"workers": 4},
               pattern={"name": "request_response", "client": "async"})
    s = simcomm.run(sc).summary
    n = s["delivered"] + s["failed"]
    assert n > 10_000 and s["rejected"] == 0
    assert abs(s["failed"] - n * p) < 4 * math.sqrt(n * p * (1 - p))
    assert s["success_ratio"] == pytest.approx(s["delivered"] / n)
    assert s["wasted_server_s"] == pytest.approx(s["failed"] * S, rel=1e-9)


def test_a_failed_request_costs_its_round_trip_and_work_and_answers_with_an_error():
    """A failed request takes the same time as a served one (2D + S) and its answer is an
    error: request and response tagged control, nothing delivered for it."""
    r = simcomm.run(world(faults={"failure": 0.5}))
    m, s = r.frames["messages"], r.summary
    assert s["failed"] > 3 and s["delivered"] > 3
    assert s["delivered"] + s["failed"] == s["issued"]
    failed_flows = set(m[(m.kind == "response") & (m.tag == "control")].flow)
    assert len(failed_flows) == s["failed"]
    req = m[(m.kind == "request") & m.flow.isin(failed_flows)]
    assert (req.tag == "control").all()
    resp = m[(m.kind == "response") & m.flow.isin(failed_flows)].set_index("flow")
    sent = req.set_index("flow").t_send
    assert np.allclose(resp.t_arrive - sent.loc[resp.index], 2 * D + S, rtol=0, atol=1e-12)


def test_a_slow_episode_multiplies_the_service_time_while_it_lasts():
    """Service ×5 from 5 s for 4 s: requests whose work starts in [5, 9) take 2D + 5S, the
    others 2D + S."""
    d = simcomm.run(world(faults={"slow": [{"at": "5s", "duration": "4s", "factor": 5}]})
                    ).frames["deliveries"]
    inside = (d.t_start + D >= 5.0) & (d.t_start + D < 9.0)
    assert inside.sum() == 4
    assert np.allclose(d[inside].latency, 2 * D + 5 * S, rtol=0, atol=1e-12)
    assert np.allclose(d[~inside].latency, 2 * D + S, rtol=0, atol=1e-12)
    assert np.allclose(d[inside].service_s, 5 * S, rtol=0, atol=1e-12)


def test_a_restarting_server_turns_requests_away_while_down():
    """Restarts at 4.5 s and 10.5 s, down 2 s each: the requests of 5, 6 and 11, 12 s find
    it down and are rejected (failed, success ratio 16/20)."""
    s = simcomm.run(world(faults={"restarts": {"at": ["4.5s", "10.5s"], "downtime": "2s"}})
                    ).summary
    assert s["rejected"] == 4 and s["failed"] == 4
    assert s["delivered"] == s["issued"] - 4
    assert s["success_ratio"] == pytest.approx(s["delivered"] / s["issued"])


def test_a_restarting_instance_is_skipped_by_the_balancer():
    """Two instances, round robin; instance 1 down from 4.5 s for 4 s: the balancer sends
    everything to instance 0 meanwhile, so no request fails and instance 1 serves fewer."""
    r = simcomm.run(world(server={"instances": 2},
                          faults={"restarts": {"at": ["4.5s"], "downtime": "4s",
                                               "instances": [1]}}))
    s, inst = r.summary, r.frames["instances"]
    assert s["failed"] == 0 and s["delivered"] == s["issued"]
    # 19 requests (1 s … 19 s): in turn outside [4.5, 8.5), all four inside go to instance 0
    assert inst.busy_s.sum() == pytest.approx(s["delivered"] * S)
    assert inst.busy_s[0] - inst.busy_s[1] == pytest.approx(4 * S, abs=1.5 * S)


def test_restarts_at_a_rate_are_a_poisson_process():
    """Restarts at 0.05/s over 2 000 s for each of 3 instances: each instance's count is
    Poisson(100), within 4 standard deviations (√100 = 10) of 100; the instances draw
    their own times."""
    sc = world(duration=2000.0, server={"instances": 3},
               faults={"restarts": {"rate": "0.05/s", "downtime": "1s"}})
    w = World(simcomm.load(sc))
    w.run()
    counts = [srv.restarts for srv in w.servers]
    assert all(abs(c - 100) < 40 for c in counts)
    assert len(set(counts)) > 1


@pytest.mark.parametrize(("faults", "field", "words"), [
    ({"failure": 1.0}, "faults.failure", "less than 1"),
    ({"slow": [{"factor": 0}]}, "faults.slow.0.factor", "greater than 0"),
    ({"slow": [{"factor": 2, "instance": 3}]}, "faults.slow.0.instance", "server.instances"),
    ({"slow": [{"factor": 2, "at": "30s"}]}, "faults.slow.0.at", "not before the end"),
    ({"restarts": {"at": ["25s"]}}, "faults.restarts.at.0", "not before the end"),
    ({"restarts": {"at": ["5s"], "instances": [2]}}, "faults.restarts.instances.0",
     "server.instances"),
    ({"restarts": {"rate": "0/s"}}, "faults.restarts.rate", ""),
    ({"crash": True}, "faults.crash", "unknown key"),
])
def test_bad_fault_input_names_the_field(faults, field, words):
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(world(faults=faults))
    assert e.value.field == field
    assert words in e.value.message


def test_a_crash_fails_the_work_in_flight_at_once():
    """Service 1 s; a sync caller thinking 1 s sends at 1.0 s (served by 2.005 s) and at
    3.01 s; the server crashes at 3.5 s: the second request's work stops there, its answer is
    an error at once (at 3.5 s + D), and the 0.485 s of work done on it is wasted and not
    counted as busy beyond the crash. The client reconnects and goes on."""
    sc = world(server={"service_time": 1.0}, workload={"requests": {"think_time": 1.0}},
               faults={"restarts": {"at": ["3.5s"], "downtime": "0.5s", "crash": True}},
               duration=10.0)
    r = simcomm.run(sc)
    s, m = r.summary, r.frames["messages"]
    assert s["failed"] == 1 and s["rejected"] == 0 and s["delivered"] == s["issued"] - 1
    err = m[(m.kind == "response") & (m.tag == "control")]
    assert len(err) == 1 and err.iloc[0].t_send == pytest.approx(3.5)
    done = s["delivered"] * 1.0
    assert s["server_busy_s"] == pytest.approx(done + 3.5 - (3.01 + D))
    assert s["wasted_server_s"] == pytest.approx(3.5 - (3.01 + D))


def test_a_crash_drops_the_queue_too_and_a_retry_goes_elsewhere():
    """Two instances behind a round-robin balancer, one worker each, service 1 s, requests
    every 0.25 s from an async client: instance 0 crashes at 5.1 s with one request on its
    worker and others queued; each of them fails at once, and with a retry (a timeout of
    10 s, no backoff jitter) each is served by instance 1 instead — nothing fails, but the
    crash shows as retries."""
    base = dict(server={"service_time": 0.2, "instances": 2, "workers": 1},
                workload={"requests": {"rate": "4/s", "arrival": "periodic"}},
                faults={"restarts": {"at": ["5.1s"], "downtime": "1s", "crash": True,
                                     "instances": [0]}},
                pattern={"name": "request_response", "client": "async"})
    plain = simcomm.run(world(**base)).summary
    assert plain["failed"] >= 1 and plain["rejected"] == 0
    again = simcomm.run(world(**base, resilience={"retries": 1, "timeout": "10s",
                                                  "backoff": "1ms", "jitter": False})).summary
    assert again["failed"] == 0 and again["retries"] == plain["failed"]


def test_slow_episodes_at_a_rate_cover_their_expected_share_of_time():
    """Episodes of 2 s at 0.05/s (Poisson starts) over 4 000 s: the number of episodes is
    Poisson(200), within 4 standard deviations (√200 ≈ 14) of 200; a request served in one
    takes 3S (overlapping episodes do not compound), the others S."""
    sc = world(duration=4000.0, faults={"slow": [{"rate": "0.05/s", "duration": "2s",
                                                  "factor": 3}]})
    w = World(simcomm.load(sc))
    episodes = w.server.slow
    assert abs(len(episodes) - 200) < 4 * math.sqrt(200)
    assert all(b - a == pytest.approx(2.0) and f == 3 for a, b, f in episodes)
    w2 = simcomm.run(world(duration=400.0, faults={"slow": [{"rate": "0.05/s",
                                                             "duration": "2s", "factor": 3}]}))
    d = w2.frames["deliveries"]
    assert set(np.round(d.service_s / S, 9)) <= {1.0, 3.0} and (d.service_s > S).any()


def test_slow_episodes_at_a_rate_need_a_duration():
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(world(faults={"slow": [{"rate": "0.1/s", "factor": 2}]}))
    assert e.value.field == "faults.slow.0.duration"
