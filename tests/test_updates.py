"""Update sources and stores: arrival processes, scopes, Mailbox, Inbox and presence."""

import math

import numpy as np
import pytest
import simpy

import simcomm
from simcomm.components.client import Client, Inbox, presence
from simcomm.components.updates import Mailbox, Update, update_source
from simcomm.metrics.recorder import Recorder
from simcomm.scenario import Updates
from simcomm.world import World

# A band of 4 standard deviations: a correct model falls outside it with probability ~6e-5
# (two-sided normal tail), so a failure means the rate is wrong, not that the seed is unlucky.
SIGMAS = 4.0


def emitted(*, rate, arrival, until, seed=1, on=None, off=None):
    """Run one update source alone until *until*; returns the emission times and the env."""
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    times = []
    env.process(update_source(env, rate=rate, arrival=arrival, rng=rng, size=lambda: 100.0,
                              on_period=on, off_period=off,
                              emit=lambda _topic, t, size: times.append(t)))
    env.run(until=until)
    return np.array(times), env


def test_periodic_updates_every_one_over_rate_after_a_phase():
    """Periodic updates start at a phase in [0, 1/rate) and then come exactly every 1/rate."""
    t, _ = emitted(rate=4.0, arrival="periodic", until=100.0)
    assert 0.0 <= t[0] < 0.25
    assert np.allclose(np.diff(t), 0.25, rtol=0, atol=1e-9)
    assert len(t) == math.floor((100.0 - t[0]) * 4.0) + 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_poisson_update_count_matches_rate_times_time(seed):
    """Poisson counts over T have mean and variance rate×T: within 4σ = 4√(rate×T)."""
    rate, horizon = 5.0, 2000.0
    t, _ = emitted(rate=rate, arrival="poisson", until=horizon, seed=seed)
    mean = rate * horizon
    assert abs(len(t) - mean) <= SIGMAS * math.sqrt(mean)
    # the gaps are exponential: their coefficient of variation is 1
    gaps = np.diff(t)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05)


def test_bursty_updates_only_inside_on_periods_at_the_on_fraction_rate():
    """Bursty updates fall inside ON periods; their long-run rate is rate × E[on]/(E[on]+E[off])."""
    # Tolerance from the run length T: given the total ON time A(T) the count is Poisson(λA), so
    # Var N = λ E[A] + λ² Var A, and for an alternating renewal process (renewal-reward CLT)
    # Var A ≈ T (m_off² σ_on² + m_on² σ_off²) / (m_on + m_off)³, σ = m for exponential periods.
    # The check allows 4 such standard deviations (~1.1 % of the mean at T = 20000 s).
    rate, m_on, m_off, horizon = 4.0, 1.0, 1.5, 20000.0
    periods = []  # (start, length) of each ON period
    env_box = {}
    g = np.random.default_rng(7)

    def on():
        length = float(g.exponential(m_on))
        periods.append((env_box["env"].now, length))
        return length

    env = simpy.Environment()
    env_box["env"] = env
    times = []
    env.process(update_source(env, rate=rate, arrival="bursty", rng=np.random.default_rng(8),
                              size=lambda: 1.0, on_period=on,
                              off_period=lambda: float(g.exponential(m_off)),
                              emit=lambda _topic, t, size: times.append(t)))
    env.run(until=horizon)
    t = np.array(times)
    starts = np.array([s for s, _ in periods])
    ends = np.array([s + length for s, length in periods])
    k = np.searchsorted(starts, t, side="right") - 1
    assert (k >= 0).all() and (t >= starts[k]).all() and (t < ends[k]).all()
    # consecutive ON periods are separated by an OFF gap: nothing overlaps
    assert (starts[1:] > ends[:-1]).all()

    cycle = m_on + m_off
    mean = rate * m_on / cycle * horizon
    var_on_time = horizon * (m_off**2 * m_on**2 + m_on**2 * m_off**2) / cycle**3
    sigma = math.sqrt(mean + rate**2 * var_on_time)
    assert abs(len(t) - mean) <= SIGMAS * sigma
    assert sigma / mean < 0.015 # the run is long enough for the check to mean something


def test_bursty_with_constant_periods_is_on_at_the_start_of_each_cycle():
    """With constant ON/OFF lengths the ON periods are [k(on+off), k(on+off) + on)."""
    t, _ = emitted(rate=20.0, arrival="bursty", until=200.0, on=lambda: 0.5, off=lambda: 1.5)
    assert len(t) > 0 and ((t % 2.0) < 0.5).all()
    # inside ON periods the count is Poisson(rate × total ON time): 20 × 0.5 × 100 = 1000
    assert abs(len(t) - 1000) <= SIGMAS * math.sqrt(1000)


# -- scopes -----------------------------------------------------------------------------------

def test_subscribers_of_each_scope():
    """per_client: topic i → client i; global: everyone; per_topic: client i → topic i mod k."""
    assert [list(s) for s in Updates(rate=1).subscribers(3)] == [[0], [1], [2]]
    assert Updates(rate=1, scope="global").subscribers(3) == [[0, 1, 2]]
    assert Updates(rate=1, scope="per_topic", topics=2).subscribers(5) == [[0, 2, 4], [1, 3]]


def push_world(scope, clients, **updates):
    """A push scenario with instantaneous delivery (no latency, no encoding cost)."""
    return {
        "duration": 10.0, "seed": 5,
        "network": {"latency": 0, "bandwidth": "unlimited"},
        "clients": {"count": clients},
        "workload": {"updates": {"rate": "2/s", "arrival": "periodic", "scope": scope,
                                 **updates}, "encoding": "none"},
        "pattern": {"name": "push"},
    }


def source_times(sc):
    """Creation times per topic, from the world's own update sources (same seed, same streams)."""
    world = World(simcomm.load(sc))
    by_topic = {}
    world.feed.start(created=lambda u: by_topic.setdefault(u.topic, []).append(u.t_created),
                     copy=lambda client, u: None)
    world.run()
    return by_topic


def test_per_client_scope_gives_client_i_only_topic_i():
    """With scope per_client each client receives exactly the updates of its own topic."""
    sc = push_world("per_client", 3)
    topics = source_times(sc)
    r = simcomm.run(sc)
    d = r.frames["deliveries"]
    assert d.groupby("flow").client.nunique().eq(1).all()
    for i in range(3):
        assert np.array_equal(np.sort(d[d.client == i].t_start), topics[i])
    assert r.summary["issued"] == r.summary["delivered"] == sum(map(len, topics.values()))


def test_global_scope_delivers_every_update_to_every_client():
    """With scope global, deliveries = updates × clients and every update reaches all."""
    sc = push_world("global", 3)
    (times,) = source_times(sc).values()
    r = simcomm.run(sc)
    d = r.frames["deliveries"]
    assert r.summary["delivered"] == r.summary["issued"] == 3 * len(times) == 60
    assert (d.groupby("flow").client.apply(frozenset) == frozenset({0, 1, 2})).all()
    assert np.array_equal(np.unique(d.t_start), times)


def test_per_topic_scope_subscribes_client_i_to_topic_i_mod_k():
    """With per_topic and k topics, client i receives exactly topic (i mod k)'s updates."""
    sc = push_world("per_topic", 5, topics=2)
    topics = source_times(sc)
    r = simcomm.run(sc)
    d = r.frames["deliveries"]
    groups = set(d.groupby("flow").client.apply(frozenset))
    assert groups == {frozenset({0, 2, 4}), frozenset({1, 3})}
    for i in range(5):
        assert np.array_equal(np.sort(d[d.client == i].t_start), topics[i % 2])
    assert r.summary["delivered"] == 3 * len(topics[0]) + 2 * len(topics[1])


# -- Mailbox ----------------------------------------------------------------------------------

def upd(uid, size=100, t=0.0):
    return Update(uid, 0, t, size)


def test_mailbox_put_take_and_ready():
    """put accumulates items and bytes; take returns everything and empties the mailbox."""
    mb = Mailbox(simpy.Environment())
    assert not mb.ready() and mb.take() == []
    mb.put(upd(1, 100))
    mb.put(upd(2, 50))
    assert mb.bytes == 150 and mb.ready() and mb.ready(150) and not mb.ready(151)
    assert [u.uid for u in mb.take()] == [1, 2]
    assert mb.items == [] and mb.bytes == 0 and not mb.ready()


def test_mailbox_wait_fires_when_min_bytes_reached():
    """A parked waiter wakes on the put that brings the pending bytes to its threshold."""
    env = simpy.Environment()
    mb = Mailbox(env)
    woke = []

    def waiter():
        yield mb.wait(250)
        woke.append((env.now, mb.bytes))

    def producer():
        for k in range(4):
            yield env.timeout(1.0)
            mb.put(upd(k, 100))

    env.process(waiter())
    env.process(producer())
    env.run()
    assert woke == [(3.0, 300)]


def test_mailbox_wait_zero_means_first_update():
    """min_bytes 0 (or 1) wakes the waiter on the first put."""
    env = simpy.Environment()
    mb = Mailbox(env)
    ev = mb.wait(0)
    assert not ev.triggered
    mb.put(upd(1, 1))
    assert ev.triggered


def test_mailbox_holds_one_waiter_and_cancel_forgets_it():
    """A second waiter is refused; cancel forgets the waiter so a later put leaves it alone."""
    env = simpy.Environment()
    mb = Mailbox(env)
    ev = mb.wait()
    with pytest.raises(RuntimeError, match="one parked waiter"):
        mb.wait()
    mb.cancel(env.event())  # not the parked waiter: no effect
    with pytest.raises(RuntimeError):
        mb.wait()
    mb.cancel(ev)
    mb.put(upd(1))
    assert not ev.triggered and mb.bytes == 100
    ev2 = mb.wait(200)  # a new waiter is allowed after cancel
    mb.put(upd(2))
    assert ev2.triggered


# -- Inbox ------------------------------------------------------------------------------------

def test_inbox_capacity_processes_one_per_service_time():
    """With capacity c each update takes 1/c: a burst is processed at 1/c, 2/c, 3/c …"""
    env = simpy.Environment()
    rec = Recorder(env, 0.0, 10.0)
    done = []
    inbox = Inbox(env, capacity=10.0, limit=None, done=lambda item, arrived:
                  done.append((item, arrived, env.now)), recorder=rec)
    for k in range(4):
        assert inbox.offer(k, env.now)
    assert len(inbox) == 4
    env.run()
    assert [d[0] for d in done] == [0, 1, 2, 3]
    assert np.allclose([d[2] for d in done], [0.1, 0.2, 0.3, 0.4])
    assert all(d[1] == 0.0 for d in done) and len(inbox) == 0
    assert rec.client_buffer_peak == 3


def test_inbox_without_capacity_processes_at_once():
    """capacity None: done is called during offer, nothing ever waits."""
    env = simpy.Environment()
    rec = Recorder(env, 0.0, 10.0)
    done = []
    inbox = Inbox(env, capacity=None, limit=0, done=lambda item, arrived: done.append(item),
                  recorder=rec)
    assert all(inbox.offer(k, 0.0) for k in range(5))
    assert done == [0, 1, 2, 3, 4] and rec.client_buffer_peak == 0


def test_bounded_inbox_drops_when_full_and_reports_peak():
    """A buffer of 2 holds 1 in processing + 2 waiting; more offers return False."""
    env = simpy.Environment()
    rec = Recorder(env, 0.0, 10.0)
    done = []
    inbox = Inbox(env, capacity=2.0, limit=2, done=lambda item, arrived: done.append(
        (item, env.now)), recorder=rec)
    accepted = [inbox.offer(k, 0.0) for k in range(5)]
    assert accepted == [True, True, True, False, False]
    assert rec.client_buffer_peak == 2
    env.run(until=0.6)  # one finished at 0.5: room for one more
    assert inbox.offer(5, env.now) and not inbox.offer(6, env.now)
    env.run()
    assert done == [(0, 0.5), (1, 1.0), (2, 1.5), (5, 2.0)]
    assert rec.client_buffer_peak == 2


def test_inbox_peak_ignores_the_warmup():
    """Waiting updates before the warm-up do not raise peak."""
    env = simpy.Environment()
    rec = Recorder(env, 5.0, 100.0)
    inbox = Inbox(env, capacity=1.0, limit=None, done=lambda item, arrived: None, recorder=rec)
    for k in range(4):
        inbox.offer(k, 0.0)
    assert rec.client_buffer_peak == 0
    env.run(until=6.0)  # all four done by t=4
    inbox.offer("a", env.now)
    inbox.offer("b", env.now)
    assert rec.client_buffer_peak == 1


# -- presence ---------------------------------------------------------------------------------

def test_presence_alternates_session_and_gap():
    """A client is online for session, offline for gap, and so on; listeners see each switch."""
    env = simpy.Environment()
    client = Client(env, 0, connection=None, limit=1)
    switches = []
    client.on_presence(lambda c, online: switches.append((env.now, online, c.online)))
    env.process(presence(env, client, lambda: 3.0, lambda: 2.0))
    assert client.online
    env.run(until=16.0)
    assert switches == [(3.0, False, False), (5.0, True, True), (8.0, False, False),
                        (10.0, True, True), (13.0, False, False), (15.0, True, True)]


def test_set_online_calls_listeners_only_on_change():
    """Setting the state a client is already in notifies nobody."""
    env = simpy.Environment()
    client = Client(env, 0, connection=None, limit=1)
    calls = []
    client.on_presence(lambda c, online: calls.append(online))
    client.set_online(True)
    client.set_online(False)
    client.set_online(False)
    client.set_online(True)
    assert calls == [False, True]
