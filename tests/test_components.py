"""Components in isolation: the Server, the Broker and the workload's arrival processes, each on
a bare ``simpy.Environment()`` with a summary :class:`~simcomm.metrics.recorder.Recorder`.

Times are chosen as sums of powers of two (0.25, 0.5, 1.75 …) so that exact timelines compare
with ``==``: those sums are exact in binary floating point.
"""

from __future__ import annotations

import math
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import pytest
import simpy
from scipy.stats import norm

from simcomm.components.broker import Broker
from simcomm.components.server import Server
from simcomm.components.updates import Update
from simcomm.components.workload import closed_loop, drive_requests, open_loop
from simcomm.metrics.recorder import Recorder
from simcomm.rng import Streams

# -- Server --------------------------------------------------------------------------------------

SERVICE, CPU_IN, CPU_OUT = 1.0, 0.25, 0.5
BUSY = CPU_IN + SERVICE + CPU_OUT  # 1.75 s on a worker per request


def server_world(*, workers=1, queue_limit=None, warmup=0.0, duration=100.0):
    env = simpy.Environment()
    rec = Recorder(env, warmup, duration)
    server = Server(env, workers=workers, service=lambda: SERVICE, queue_limit=queue_limit,
                    recorder=rec)
    return env, rec, server


def requests_at(env, server, arrivals, log, bounded=None):
    """Start one request per (name, arrival time); *log[name]* gets (arrived, started, done),
    or (arrived, None, None) if rejected."""
    bounded = bounded or {}

    def one(name, t):
        yield env.timeout(t)
        req = server.admit(bounded.get(name, True))
        if req is None:
            log[name] = (env.now, None, None)
            return
        if req is not True:
            yield req
        start = env.now
        _, busy = server.work(CPU_IN, CPU_OUT)
        yield env.timeout(busy)
        server.release(req)
        log[name] = (t, start, env.now)

    for name, t in arrivals:
        env.process(one(name, t))


def test_server_serves_fifo_on_one_worker_with_an_exact_timeline():
    """One worker, constant times: requests at 0, 0 and 0.5 start at 0, 1.75, 3.5 and finish at
    1.75, 3.5, 5.25 (FIFO, each holding the worker for parse + service + serialise)."""
    env, rec, server = server_world()
    log = {}
    requests_at(env, server, [("a", 0.0), ("b", 0.0), ("c", 0.5)], log)
    env.run()
    assert log == {"a": (0.0, 0.0, 1.75), "b": (0.0, 1.75, 3.5), "c": (0.5, 3.5, 5.25)}
    assert rec.server_busy_s == 3 * BUSY


def test_serve_returns_queue_wait_and_service():
    """Server.serve runs the three steps and returns (queue wait, service time)."""
    env, _, server = server_world()
    out = {}

    def one(name, t):
        yield env.timeout(t)
        out[name] = (yield from server.serve(CPU_IN, CPU_OUT))
        out[name + "_done"] = env.now

    for name, t in [("a", 0.0), ("b", 0.0), ("c", 0.5)]:
        env.process(one(name, t))
    env.run()
    assert out == {"a": (0.0, SERVICE), "a_done": 1.75, "b": (1.75, SERVICE), "b_done": 3.5,
                   "c": (3.0, SERVICE), "c_done": 5.25}


def test_server_busy_time_is_clipped_to_the_window():
    """server_busy_s counts only the overlap of each [start, start + busy) with [warmup,
    duration): with window [1, 4) the three requests count 0.75 + 1.75 + 0.5 = 3 s."""
    env, rec, server = server_world(warmup=1.0, duration=4.0)
    log = {}
    requests_at(env, server, [("a", 0.0), ("b", 0.0), ("c", 0.5)], log)
    env.run(until=4.0)  # c is still being served at the end: it counts up to the end
    # a: [0, 1.75) → 0.75 inside;  b: [1.75, 3.5) → 1.75;  c: [3.5, 5.25) → 0.5
    assert rec.server_busy_s == 0.75 + 1.75 + 0.5
    assert set(log) == {"a", "b"}


def test_server_busy_time_of_work_wholly_outside_the_window_is_zero():
    """Work that ends before the warm-up, or starts at or after the end, adds no busy time."""
    env, rec, server = server_world(warmup=2.0, duration=5.0)
    log = {}
    requests_at(env, server, [("before", 0.0), ("after", 6.0)], log)
    env.run()
    assert log == {"before": (0.0, 0.0, 1.75), "after": (6.0, 6.0, 7.75)}
    assert rec.server_busy_s == 0.0


def test_bounded_queue_rejects_exactly_the_request_that_finds_it_full():
    """queue_limit 1 on one worker: at 0 'a' is served and 'b' waits; 'c' (0.5) finds the worker
    busy and one waiting, so it alone is rejected; 'd' (2.0) finds the queue empty again."""
    env, rec, server = server_world(queue_limit=1)
    log = {}
    requests_at(env, server, [("a", 0.0), ("b", 0.0), ("c", 0.5), ("d", 2.0)], log)
    env.run()
    assert log == {"a": (0.0, 0.0, 1.75), "b": (0.0, 1.75, 3.5), "c": (0.5, None, None),
                   "d": (2.0, 3.5, 5.25)}
    assert rec.server_busy_s == 3 * BUSY  # a rejection costs no worker time


def test_queue_limit_zero_rejects_whenever_every_worker_is_busy():
    """queue_limit 0 on two workers: the third simultaneous request is rejected, a later one is
    served once a worker is free."""
    env, _, server = server_world(workers=2, queue_limit=0)
    log = {}
    requests_at(env, server, [("a", 0.0), ("b", 0.0), ("c", 0.0), ("d", 2.0)], log)
    env.run()
    assert log == {"a": (0.0, 0.0, 1.75), "b": (0.0, 0.0, 1.75), "c": (0.0, None, None),
                   "d": (2.0, 2.0, 3.75)}


def test_unbounded_admission_bypasses_the_queue_limit():
    """admit(bounded=False) queues work the server gives itself even when the queue is full."""
    env, _, server = server_world(queue_limit=1)
    log = {}
    requests_at(env, server, [("a", 0.0), ("b", 0.0), ("own", 0.5), ("c", 0.5)], log,
                bounded={"own": False})
    env.run()
    assert log["own"] == (0.5, 3.5, 5.25)
    assert log["c"] == (0.5, None, None)


# -- Broker --------------------------------------------------------------------------------------

def u(uid, t=0.0, topic=0):
    return Update(uid, topic, t, 100)


class Calls:
    """Records the broker's callbacks with the time they were made."""

    def __init__(self, env):
        self.env = env
        self.expired: list[tuple[float, int, int]] = []
        self.redelivered: list[tuple[float, int, int]] = []

    def on_expired(self, sub, m):
        self.expired.append((self.env.now, sub, m.uid))

    def on_redeliver(self, sub, m):
        self.redelivered.append((self.env.now, sub, m.uid))


def broker(*, subscribers=2, retention=None, ack_timeout=None):
    env = simpy.Environment()
    calls = Calls(env)
    b = Broker(env, subscribers, retention=retention, ack_timeout=ack_timeout,
               on_expired=calls.on_expired, on_redeliver=calls.on_redeliver)
    return env, b, calls


def at(env, t, fn):
    """Call *fn()* at simulated time *t*."""
    def proc():
        yield env.timeout(t - env.now)
        fn()
    env.process(proc())


def uids(messages):
    return [m.uid for m in messages]


def test_broker_hands_out_in_publish_order_per_subscriber():
    """take returns a subscriber's queued messages oldest first and empties its queue only."""
    _, b, calls = broker()
    for i in (1, 2, 3):
        b.publish(0, u(i))
    b.publish(1, u(9))
    assert uids(b.take(0)) == [1, 2, 3]
    assert b.take(0) == []
    assert uids(b.take(1)) == [9]
    assert b.in_flight(0) == 0  # at-most-once: nothing is remembered once handed out
    assert calls.expired == calls.redelivered == []


def test_broker_take_limit_leaves_the_rest_queued_in_order():
    """take(limit=k) hands out the k oldest and keeps the others, in order, for the next take."""
    _, b, _ = broker()
    for i in range(1, 6):
        b.publish(0, u(i))
    assert uids(b.take(0, limit=2)) == [1, 2]
    b.publish(0, u(6))
    assert uids(b.take(0, limit=3)) == [3, 4, 5]
    assert uids(b.take(0, limit=3)) == [6]


def test_broker_retention_drops_messages_older_than_retention_at_take():
    """A message older than retention when taken is dropped via on_expired; one exactly
    retention old is still handed out."""
    env, b, calls = broker(retention=5.0)
    b.publish(0, u(1, t=0.0))
    b.publish(0, u(2, t=1.0))
    b.publish(0, u(3, t=4.0))
    got = {}
    at(env, 6.0, lambda: got.setdefault("t6", uids(b.take(0))))
    env.run()
    # at 6: uid 1 is 6 s old (> 5): expired; uid 2 is exactly 5 s old: kept; uid 3: 2 s
    assert got == {"t6": [2, 3]}
    assert calls.expired == [(6.0, 0, 1)]


def test_broker_retention_applies_before_the_take_limit():
    """Expired messages are dropped without using up the take limit."""
    env, b, calls = broker(retention=1.0)
    for i, t in [(1, 0.0), (2, 0.0), (3, 2.5), (4, 2.5)]:
        b.publish(0, u(i, t=t))
    got = []
    at(env, 3.0, lambda: got.extend(uids(b.take(0, limit=1))))
    env.run()
    assert got == [3]
    assert [c[2] for c in calls.expired] == [1, 2]
    assert uids(b.queues[0].items) == [4]


def test_broker_ack_before_timeout_prevents_redelivery():
    """A message acknowledged before ack_timeout is never redelivered; a second ack is a no-op."""
    env, b, calls = broker(ack_timeout=2.0)
    b.publish(0, u(1))
    acks = []
    at(env, 1.0, lambda: b.take(0))
    at(env, 2.5, lambda: acks.append((b.in_flight(0), b.ack(0, 1), b.in_flight(0))))
    at(env, 2.75, lambda: acks.append(b.ack(0, 1)))
    env.run()
    assert acks == [(1, True, 0), False]
    assert calls.redelivered == []
    assert b.queues[0].items == []


def test_broker_redelivers_after_exactly_ack_timeout_to_the_front_of_the_queue():
    """Without an ack, on_redeliver fires exactly ack_timeout after the take and the message goes
    back to the front of its queue, ahead of messages published since."""
    env, b, calls = broker(ack_timeout=2.0)
    b.publish(0, u(1))
    seen = {}
    at(env, 1.0, lambda: seen.setdefault("taken", uids(b.take(0))))
    at(env, 1.5, lambda: (b.publish(0, u(2)), b.publish(0, u(3))))
    at(env, 3.5, lambda: seen.setdefault("queue", uids(b.queues[0].items)))
    env.run()
    assert seen == {"taken": [1], "queue": [1, 2, 3]}
    assert calls.redelivered == [(3.0, 0, 1)]  # 1.0 + ack_timeout
    assert b.in_flight(0) == 0
    assert b.ack(0, 1) is False  # too late: the copy is queued again


def test_broker_late_timer_of_an_earlier_hand_out_is_ignored():
    """After a redelivery, the message's new hand-out has its own timer: acking it in time
    prevents a second redelivery, and the first hand-out's timer does not interfere."""
    env, b, calls = broker(ack_timeout=2.0)
    b.publish(0, u(1))
    log = []
    at(env, 0.0, lambda: b.take(0))              # timer → 2.0: redelivered then
    at(env, 2.5, lambda: log.append(uids(b.take(0))))  # handed out again, timer → 4.5
    at(env, 3.0, lambda: log.append(b.ack(0, 1)))
    env.run()
    assert log == [[1], True]
    assert calls.redelivered == [(2.0, 0, 1)]
    assert b.queues[0].items == [] and b.in_flight(0) == 0


# -- Workload: open loop -------------------------------------------------------------------------

def run_open_loop(*, rate, arrival, count, horizon, seed=3):
    env = simpy.Environment()
    fired: list[tuple[int, float, float]] = []
    env.process(open_loop(env, rate=rate, arrival=arrival, count=count, streams=Streams(seed),
                          fire=lambda i, t: fired.append((i, t, env.now))))
    env.run(until=horizon)
    return fired


@pytest.mark.parametrize(("rate", "count"), [(4.0, 2), (10.0, 5), (3.0, 1)])
def test_periodic_open_loop_fires_each_client_every_count_over_rate(rate, count):
    """Periodic arrivals: each client fires every count/rate seconds from its own phase in
    [0, period), the phases distinct, each at its intended time."""
    horizon = 20.0
    period = count / rate
    fired = run_open_loop(rate=rate, arrival="periodic", count=count, horizon=horizon)
    assert all(t == now for _, t, now in fired)  # fired at the intended send time
    times = [t for _, t, _ in fired]
    assert times == sorted(times)
    by_client = defaultdict(list)
    for i, t, _ in fired:
        by_client[i].append(t)
    assert sorted(by_client) == list(range(count))
    phases = [by_client[i][0] for i in range(count)]
    assert all(0.0 <= p < period for p in phases)
    assert len(set(phases)) == count
    for i in range(count):
        t = np.array(by_client[i])
        # phase + k·period < horizon for k = 0 … n-1, with horizon/period a whole number
        assert len(t) == round(horizon / period)
        np.testing.assert_allclose(t, phases[i] + period * np.arange(len(t)), rtol=0,
                                   atol=1e-12)


def test_poisson_open_loop_count_is_within_its_poisson_interval():
    """Poisson arrivals at total rate λ: the count in [0, T) and each client's share lie within
    z·sqrt(mean) of λT and λT/count (normal approximation to the Poisson)."""
    rate, count, horizon = 50.0, 4, 2000.0
    fired = run_open_loop(rate=rate, arrival="poisson", count=count, horizon=horizon, seed=17)
    # Derivation: the arrivals form a Poisson process of rate λ, so the number N in [0, T) is
    # Poisson(λT): mean λT and variance λT. Sending each arrival to a client chosen uniformly
    # thins it into `count` independent Poisson processes of rate λ/count, so N_i is
    # Poisson(λT/count). With λT = 100 000 the Poisson is normal to ~1/sqrt(λT) ≈ 0.3 %, so
    # |N − λT| <= z·sqrt(λT) holds with probability 1 − α; we make count + 1 such checks and
    # split α = 0.001 between them (Bonferroni): z = Φ⁻¹(1 − α / (2·(count + 1))) ≈ 3.72.
    # Half widths: 3.72·sqrt(100 000) ≈ 1 180 (1.2 %) and 3.72·sqrt(25 000) ≈ 590 (2.4 %).
    alpha = 1e-3
    z = float(norm.ppf(1 - alpha / (2 * (count + 1))))
    mean = rate * horizon
    n = len(fired)
    assert abs(n - mean) <= z * math.sqrt(mean), (n, mean)
    per_client = np.bincount([i for i, _, _ in fired], minlength=count)
    assert per_client.size == count
    for k in per_client:
        assert abs(k - mean / count) <= z * math.sqrt(mean / count), per_client
    t = np.array([t for _, t, _ in fired])
    assert np.all(np.diff(t) >= 0) and t[-1] < horizon
    assert all(t == now for _, t, now in fired)


def test_poisson_open_loop_with_one_client_sends_everything_to_it():
    """With one client every Poisson arrival goes to client 0."""
    fired = run_open_loop(rate=20.0, arrival="poisson", count=1, horizon=50.0)
    assert fired and {i for i, _, _ in fired} == {0}


# -- Workload: closed loop -----------------------------------------------------------------------

def test_closed_loop_caller_thinks_then_calls_with_an_exact_timeline():
    """A closed-loop caller issues at think, waits for the call to finish, thinks again:
    think 0.25 and calls of 0.5 give intended times 0.25, 1.0, 1.75, …"""
    env = simpy.Environment()
    issued = []

    def call(t):
        issued.append((t, env.now))
        yield env.timeout(0.5)

    env.process(closed_loop(env, think=lambda: 0.25, call=call))
    env.run(until=5.0)
    assert issued == [(0.25 + 0.75 * k, 0.25 + 0.75 * k) for k in range(7)]


class FakeClient:
    """What drive_requests needs of a client: its index, and submit() for open-loop arrivals
    (run the job at once: no concurrency limit, so the workload alone is observed)."""

    def __init__(self, env, index):
        self.env = env
        self.index = index

    def submit(self, job, t):
        self.env.process(job(self, t))


def fake_world(requests, *, clients=3, duration=200.0, seed=6):
    """The parts of a World that drive_requests uses, on a bare environment."""
    env = simpy.Environment()
    return SimpleNamespace(
        env=env, recorder=Recorder(env, 0.0, duration), streams=Streams(seed),
        clients=[FakeClient(env, i) for i in range(clients)],
        scenario=SimpleNamespace(duration=duration,
                                 workload=SimpleNamespace(requests=requests)))


def closed_world(callers_per_client: int):
    """Three closed-loop clients thinking 0.1 s on average (exponential), each request a job
    of random length (mean 0.2 s, longer than the think time) that tracks how many requests
    each client has outstanding."""
    think = SimpleNamespace(sampler=lambda g: lambda: float(g.exponential(0.1)))
    world = fake_world(SimpleNamespace(closed=True, think_time=think))
    rng = np.random.default_rng(1)
    outstanding = [0] * 3
    peak = [0] * 3
    done = [0] * 3

    def job(client, t):
        i = client.index
        assert t == world.env.now  # a closed-loop request is issued when its think time ends
        outstanding[i] += 1
        peak[i] = max(peak[i], outstanding[i])
        yield world.env.timeout(float(rng.exponential(0.2)))
        outstanding[i] -= 1
        done[i] += 1

    drive_requests(world, job, callers_per_client=callers_per_client)
    world.env.run(until=world.scenario.duration)
    return world, peak, done


def test_closed_loop_caller_never_has_more_than_one_request_outstanding():
    """With one caller per client, no client ever has two requests outstanding, even though
    jobs last longer than the think time."""
    world, peak, done = closed_world(1)
    assert peak == [1, 1, 1]
    assert min(done) > 100
    # every completed request was issued, and at most one per client is still running
    assert 0 <= world.recorder.issued - sum(done) <= 3


def test_closed_loop_with_two_callers_per_client_reaches_two_outstanding():
    """Control for the test above: with two callers per client the counter does see two
    outstanding requests, so it would have caught a caller that does not wait."""
    _, peak, _ = closed_world(2)
    assert peak == [2, 2, 2]


def test_open_loop_arrivals_reach_the_clients_through_drive_requests():
    """drive_requests counts every periodic open-loop arrival in issued and hands it to its
    client at the intended time."""
    req = SimpleNamespace(closed=False, rate=8.0, per_client_rate=None, arrival="periodic")
    world = fake_world(req, clients=4, duration=10.0, seed=2)
    got = []

    def job(client, t):
        got.append((client.index, t, world.env.now))
        yield world.env.timeout(0)

    drive_requests(world, job, callers_per_client=1)
    world.env.run(until=10.0)
    assert world.recorder.issued == len(got) == 80  # 4 clients × 10 s / (4/8 s)
    assert all(t == now for _, t, now in got)
    assert sorted({i for i, _, _ in got}) == [0, 1, 2, 3]
