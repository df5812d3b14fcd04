"""Sessions: stateful, stateless and store-backed, through restarts, revocations and expiry.

The world: clients running the workflow pattern (log in, k steps, log out) as a closed loop
thinking a constant 1 s between steps, constant one-way latency D on an unlimited link, no
encoding costs, constant service S, a sticky balancer in front of the instances. Timelines are
exact; the store's failures are checked against the binomial law.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import simcomm
from tests.helpers import overlay

D, S = 0.005, 0.004


def world(**over) -> dict:
    sc = {
        "duration": 20.0, "seed": 4,
        "network": {"latency": D, "bandwidth": "unlimited"},
        "headers": {"request": 100, "response": 100},
        "server": {"workers": 2, "service_time": S, "instances": 2},
        "balancer": {"policy": "sticky"},
        "clients": {"count": 6},
        "workload": {"requests": {"think_time": 1.0}, "request_size": 300,
                     "response_size": 500, "encoding": "none"},
        "pattern": {"name": "workflow", "steps": 100},
    }
    return overlay(sc, over)


def test_a_stateful_restart_loses_the_sessions_its_instance_held():
    """Six clients log in at 1 s, dealt in turn to 2 instances (3 sessions each); instance 0
    restarts at 5.5 s: exactly its 3 sessions are lost, their clients get a 401 at their next
    step and log in again (3 relogins), no step fails."""
    s = simcomm.run(world(faults={"restarts": {"at": ["5.5s"], "instances": [0]}})).summary
    assert s["sessions_lost"] == 3 and s["relogins"] == 3
    assert s["failed"] == 0 and s["delivered"] == s["issued"]


@pytest.mark.parametrize("mode", ["stateless", "store"])
def test_stateless_and_store_lose_nothing_at_a_restart(mode):
    s = simcomm.run(world(state={"mode": mode},
                          faults={"restarts": {"at": ["5.5s"], "instances": [0]}})).summary
    assert s["sessions_lost"] == 0 and s["relogins"] == 0 and s["failed"] == 0


def test_stateful_sessions_need_a_sticky_balancer():
    """Random balancing over 2 instances sends a session's steps to the instance without it
    half the time: 401s and relogins, where sticky has none. (Round robin with 6 clients in
    lockstep would deal each client the same instance every round — an artefact of the
    constant think time.)"""
    rr = simcomm.run(world(balancer={"policy": "random"})).summary
    sticky = simcomm.run(world()).summary
    assert sticky["relogins"] == 0 and rr["relogins"] > 10


def _sessions(d):
    """Per session (from the deliveries frame of one client): when its login completed."""
    d = d.sort_values("t_start")
    logins = d[d.login_s > 0]
    return (logins.t_start + logins.client_wait_s + logins.login_s).to_numpy()


def test_a_revoked_stateless_token_works_for_the_lifetime_left():
    """One client, lifetime 6 s, each session revoked 3 s after its login. Stateless: the
    steps sent in [login + 3, login + 6) are served all the same (revoked_accepted), the
    revocation window is the 3 s of lifetime left; the first step after login + 6 gets a 401
    (expired) and the client logs in again."""
    sc = world(clients={"count": 1}, duration=40.0,
               state={"mode": "stateless", "lifetime": "6s", "revoke_after": "3s"})
    r = simcomm.run(sc)
    s, d = r.summary, r.frames["deliveries"].sort_values("t_start")
    logins = _sessions(d)
    sent = (d.t_start + d.client_wait_s + d.login_s).to_numpy()
    expected = sum(int(((sent >= t + 3) & (sent < t + 6)).sum()) for t in logins)
    assert s["revoked_accepted"] == expected > 0
    assert s["revocation_window_mean"] == pytest.approx(3.0)
    assert s["relogins"] == len(logins) - 1  # each later session began with a 401


@pytest.mark.parametrize("mode", ["stateful", "store"])
def test_a_revoked_session_is_refused_at_once_with_state_on_the_server(mode):
    """Stateful or store: the first step sent after login + 3 s gets a 401; nothing revoked
    is ever served; the revocation window is 0."""
    sc = world(clients={"count": 1}, duration=40.0,
               state={"mode": mode, "lifetime": "6s", "revoke_after": "3s"})
    r = simcomm.run(sc)
    s, d = r.summary, r.frames["deliveries"].sort_values("t_start")
    logins = _sessions(d)
    sent = (d.t_start + d.client_wait_s + d.login_s).to_numpy()
    owner = np.searchsorted(logins, sent, side="right") - 1
    assert (sent - logins[owner] < 3.0).all()  # every step served was sent before revocation
    assert s["revoked_accepted"] == 0 and s["revocation_window_mean"] == 0.0
    assert s["relogins"] == len(logins) - 1 > 3


def test_stateless_tokens_cost_bytes_and_verification_on_every_step():
    """A step carries the token (800 B) in its request and costs 30 µs more of server CPU."""
    r = simcomm.run(world(state={"mode": "stateless"}))
    plain = simcomm.run(world())
    m, mp = r.frames["messages"], plain.frames["messages"]
    step = m[(m.kind == "request") & (m.tag == "useful")]
    assert np.allclose(step.bytes, 100 + 300 + 800) and len(step) > 50
    assert (mp[(mp.kind == "request") & (mp.tag == "useful")].bytes == 100 + 300).all()
    d = r.frames["deliveries"]
    assert np.allclose(d[d.login_s == 0].latency, 2 * D + S + 30e-6, rtol=0, atol=1e-12)


def test_a_store_lookup_adds_its_round_trip_and_can_fail():
    """Store mode: a step takes 2D + S + (2 × store latency + lookup) with no load; lookups
    failing with q fail that share of steps (Binomial, within 4 standard deviations)."""
    d = simcomm.run(world(state={"mode": "store", "store_latency": "1ms",
                                 "store_service": "200us"})).frames["deliveries"]
    steps = d[d.login_s == 0]
    assert np.allclose(steps.latency, 2 * D + S + 0.0022, rtol=0, atol=1e-12)
    assert np.allclose(steps.store_s, 0.0022, rtol=0, atol=1e-12)
    q = 0.1
    s = simcomm.run(world(duration=400.0, state={"mode": "store", "store_failure": q})).summary
    n = s["delivered"] + s["failed"]
    assert n > 2000
    assert abs(s["failed"] - n * q) < 4 * math.sqrt(n * q * (1 - q))


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"state": {"mode": "stateful", "token_size": 100}}, "state.token_size", "stateless"),
    ({"state": {"mode": "memory"}}, "state.mode", "stateless"),
    ({"pattern": {"name": "request_response"}, "state": {"mode": "stateless"}}, "state",
     "workflow"),
    ({"pattern": {"name": "request_response"}}, "balancer.policy", "sessions"),
    ({"workload": {"requests": {"rate": "1/s"}}}, "pattern", "think_time"),
])
def test_bad_state_input_names_the_field(change, field, words):
    sc = world()
    for k, v in change.items():
        sc[k] = v
    with pytest.raises(simcomm.ScenarioError) as e:
        simcomm.load(sc)
    assert e.value.field == field
    assert words in e.value.message
