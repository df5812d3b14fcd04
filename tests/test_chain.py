"""Chains of timeouts behind one pending event (simcomm.components.chain): the same times and
the same order as a timeout per chain."""

import math
import random

import simpy

from simcomm.components.chain import Timers, exact_delay, start_all


def test_exact_delay_reaches_the_time_or_the_float_just_below_it():
    """now + d is t whenever some d reaches it; else the largest reachable float below t, from
    which t − now is exact (the wake-up re-arms from there)."""
    rng = random.Random(3)
    below = 0
    cases = [(0.19947698678684253, 0.46030410777040304)]  # found in a run: t is not reachable
    cases += [(rng.random() * rng.choice([1, 10, 1e4]), 0.0) for _ in range(20000)]
    for now, t in cases:
        t = t or now + rng.random() * rng.choice([1e-6, 1e-2, 1, 1e3])
        d = exact_delay(now, t)
        got = now + d
        assert got <= t and (got == t or now + math.nextafter(d, math.inf) > t)
        if got < t:
            below += 1
            assert got + (t - got) == t
    assert below >= 1


class Every:
    """A chain: fires at a random phase, then every *period*, logging (time, name)."""

    def __init__(self, timers, name, phase, period, log):
        self.timers, self.name, self.phase, self.period, self.log = (timers, name, phase,
                                                                      period, log)

    def start(self):
        self.timers.after(self.phase, self)

    def fire(self):
        self.log.append((self.timers.now, self.name))
        self.timers.after(self.period, self)


def reference(env, name, phase, period, log):
    yield env.timeout(phase)
    while True:
        log.append((env.now, name))
        yield env.timeout(period)


def test_timers_fire_at_the_times_and_in_the_order_of_a_process_per_chain():
    """300 chains with random phases and periods (some equal, so instants coincide): the
    log of firings, times to the bit, equals that of a process per chain."""
    rng = random.Random(11)
    specs = [(f"c{i}", rng.uniform(0, 3), rng.choice([0.5, 1.0, rng.uniform(0.1, 2)]))
             for i in range(300)]
    env, got = simpy.Environment(), []
    timers = Timers(env)
    start_all(env, [Every(timers, n, ph, pe, got) for n, ph, pe in specs])
    env.run(until=40)
    env2, want = simpy.Environment(), []
    for n, ph, pe in specs:
        env2.process(reference(env2, n, ph, pe, want))
    env2.run(until=40)
    assert len(got) > 10_000 and got == want


def test_a_wheel_fires_as_a_chain_per_member_would():
    """A Wheel of 500 members with random phases (a few equal, so instants coincide) and one
    period, beside other chains: the log of firings, times to the bit and order, equals that
    of a process per member and per chain."""
    from simcomm.components.chain import Wheel

    rng = random.Random(5)
    period = 0.7
    phases = [rng.uniform(0, period) for _ in range(500)]
    phases[10] = phases[20] = phases[30]  # ties: the lower number fires first
    others = [(f"o{i}", rng.uniform(0, 3), rng.uniform(0.1, 2)) for i in range(50)]
    env, got = simpy.Environment(), []
    timers = Timers(env)
    start_all(env, [Wheel(timers, len(phases), period, phases.__getitem__,
                          lambda m: got.append((env.now, f"w{m}")))])
    start_all(env, [Every(timers, n, ph, pe, got) for n, ph, pe in others])
    env.run(until=30)
    env2, want = simpy.Environment(), []
    for m, ph in enumerate(phases):
        env2.process(reference(env2, f"w{m}", ph, period, want))
    for n, ph, pe in others:
        env2.process(reference(env2, n, ph, pe, want))
    env2.run(until=30)
    assert len(got) > 20_000 and got == want


def test_a_wheel_of_no_members_does_nothing():
    from simcomm.components.chain import Wheel

    env = simpy.Environment()
    start_all(env, [Wheel(Timers(env), 0, 1.0, lambda m: 0.0, lambda m: None)])
    env.run(until=5)
