"""Fire-and-forget processes (simcomm.components.task): the same steps, at the same times and
in the same order, as ``env.process`` — without the end event nobody waits for."""

from __future__ import annotations

import random

import pytest
import simpy

from simcomm.components.task import Task, spawn, start


def _world(start, n: int = 300, seed: int = 4, ties: bool = True):
    """*n* workers started by *start* (``env.process`` or ``spawn``) at random times, each
    taking a shared resource-like token, waiting on timeouts (some zero, so instants
    coincide), on events already processed and on failed events; the log of what each saw."""
    env = simpy.Environment()
    rng = random.Random(seed)
    log = []
    done = env.event()
    done.succeed("early")
    gate = [env.event()]

    def worker(i: int, delays: list[float]):
        log.append((env.now, i, "start", env.active_process is not None))
        for k, d in enumerate(delays):
            got = yield env.timeout(d, value=(i, k))
            log.append((env.now, i, got))
        got = yield done  # processed long ago: goes on at once, with its value
        log.append((env.now, i, got))
        if i % 7 == 0:
            bad = env.event()
            bad.fail(ValueError(f"no {i}"))
            try:
                yield bad
            except ValueError as e:
                log.append((env.now, i, str(e)))
        if i % 11 == 0:
            got = yield gate[0]
            log.append((env.now, i, got))

    def source():
        for i in range(n):
            yield env.timeout(rng.choice([0.0, 0.0, rng.random()]) if ties else rng.random())
            start(env, worker(i, [rng.choice([0.0, 0.5, rng.random()]) if ties
                                  else rng.random() for _ in range(3)]))
            if i % 50 == 49:
                gate[0].succeed(i)
                gate[0] = env.event()

    env.process(source())
    env.run(until=1000)
    return log


def test_a_task_takes_the_steps_of_a_process():
    want = _world(lambda env, gen: env.process(gen))
    got = _world(spawn)
    assert len(got) > 1500 and got == want


def test_a_task_started_now_takes_the_steps_of_a_process_but_ties_may_turn():
    """:func:`~simcomm.components.task.start` runs the first step in the caller's step. Where
    no two things happen at one instant the log is a process's, in the same order; where
    they do (zero delays), the same things happen at the same instants, and only their
    order within an instant may differ: what the first step schedules comes before what the
    caller schedules after starting it. The caller is the active process again after the
    first step."""
    outer = []

    def start_checked(env, gen):
        task = start(env, gen)
        outer.append(env.active_process)
        return task
    want = _world(lambda env, gen: env.process(gen), ties=False)
    got = _world(start_checked, ties=False)
    assert len(got) > 1500 and got == want
    assert outer and all(p is not None for p in outer)  # (the source, a process)

    def per_instant(log):  # (every entry begins with its time)
        return sorted(log, key=lambda entry: (entry[0], repr(entry)))
    want = _world(lambda env, gen: env.process(gen))
    got = _world(start)
    assert len(got) > 1500 and got != want and per_instant(got) == per_instant(want)


def test_a_task_can_be_interrupted_as_a_process_can():
    env = simpy.Environment()
    seen = []

    def sleeper():
        try:
            yield env.timeout(10)
        except simpy.Interrupt as i:
            seen.append((env.now, i.cause, env.active_process is task))
        yield env.timeout(1)
        seen.append(("after", env.now))

    task = spawn(env, sleeper())

    def crash():
        yield env.timeout(3)
        task.interrupt("crash")

    env.process(crash())
    env.run(until=20)
    assert seen == [(3, "crash", True), ("after", 4)]
    assert not task.is_alive and isinstance(task, Task)
    with pytest.raises(RuntimeError):
        task.interrupt("again")  # finished: as a finished process, it cannot be


def test_an_error_in_a_task_stops_the_run():
    env = simpy.Environment()

    def broken():
        yield env.timeout(1)
        raise KeyError("boom")

    spawn(env, broken())
    with pytest.raises(KeyError, match="boom"):
        env.run(until=5)


@pytest.mark.parametrize("completion", ["callback", "thread_per_request"])
def test_unlimited_requests_as_tasks_crash_and_retry_as_processes_do(completion):
    """An async client without a concurrency limit runs its requests as Tasks; with a limit
    it can never reach, as processes. Behind a balancer whose instance 0 crashes with work in
    flight and a queue (each failed request retried), the two give the same summary, to the
    bit: the crash finds the Tasks' work and interrupts it as it does a process's."""
    import simcomm

    def scenario(concurrency):
        return {
            "duration": 12.0, "seed": 5,
            "network": {"latency": "2ms", "bandwidth": "unlimited"},
            "server": {"service_time": {"dist": "exponential", "mean": "150ms"},
                       "instances": 2, "workers": 1},
            "clients": {"count": 3},
            "workload": {"requests": {"rate": "12/s"}},
            "faults": {"restarts": {"at": ["4.05s", "8.3s"], "downtime": "1s", "crash": True,
                                    "instances": [0]}},
            "resilience": {"retries": 1, "timeout": "10s", "backoff": "1ms", "jitter": False},
            "pattern": {"name": "request_response", "client": "async",
                        "completion": completion, "concurrency": concurrency},
        }

    tasks = simcomm.run(scenario(None)).metrics
    procs = simcomm.run(scenario(10**6)).metrics
    assert tasks["retries"] > 0 and tasks["delivered"] > 100
    for k, v in tasks.items():
        w = procs[k]
        assert v == w or (v != v and w != w), (k, v, w)


def _timeouts(make):
    """Processes and tasks wait on timeouts made by *make* (``env.timeout`` or
    :func:`~simcomm.components.task.timeout`) — alone, in ``|`` and ``&`` with other events,
    with values, interrupted while waiting, and read later — and log what they see."""
    env = simpy.Environment()
    rng = random.Random(7)
    log = []

    def waiter(i: int):
        try:
            got = yield make(env, rng.choice([0.0, 0.25, rng.random()]), (i, "v"))
            log.append((env.now, i, got))
            ev = make(env, rng.random(), i)
            other = env.timeout(rng.random(), "other")
            got = yield ev | other
            log.append((env.now, i, sorted(map(repr, got.values()))))
            got = yield make(env, rng.random(), 1) & env.timeout(rng.random(), 2)
            log.append((env.now, i, sorted(got.values())))
            log.append((ev.value, ev.triggered, ev.ok, ev.processed))
            yield make(env, 5.0)
        except simpy.Interrupt as e:
            log.append((env.now, i, "interrupted", e.cause))

    def source():
        for i in range(200):
            yield env.timeout(rng.choice([0.0, rng.random()]))
            (env.process if i % 2 else lambda g: spawn(env, g))(waiter(i))
            w = env.process(waiter(1000 + i))
            if i % 3 == 0:
                def stop(w=w):
                    yield env.timeout(1.0 + rng.random())
                    if w.is_alive:
                        w.interrupt("stop")
                env.process(stop())

    env.process(source())
    env.run(until=500)
    return log


def test_a_tick_is_what_a_timeout_is_to_simpy():
    """:func:`~simcomm.components.task.timeout` (a :class:`Tick`, native when compiled) is
    used as ``env.timeout`` is: the same log, at the same times, in the same order."""
    from simcomm.components.task import Tick, timeout

    want = _timeouts(lambda env, d, v=None: env.timeout(d, v))
    got = _timeouts(timeout)
    assert len(got) > 1000 and got == want
    env = simpy.Environment()
    assert isinstance(timeout(env, 1.0), Tick)
    with pytest.raises(ValueError, match="Negative delay"):
        timeout(env, -1.0)


def _landings(schedule, seed: int = 8):
    """Fan-outs of callbacks at random moments: each a few copies due at one instant (the
    same delay, one call after the other), some fan-outs interleaved with timeouts and
    processes due at the same instants; the log of (time, who) in the order they ran, and
    the environment."""
    env = simpy.Environment()
    rng = random.Random(seed)
    log = []

    def note(who):
        return lambda _ev: log.append((env.now, who))

    def waiter(who, d):
        yield env.timeout(d)
        log.append((env.now, who))

    def source():
        for i in range(400):
            yield env.timeout(rng.choice([0.0, 0.25, 0.5]))
            d = rng.choice([0.25, 0.5, 0.75])
            for k in range(rng.randint(1, 6)):
                schedule(env, d, note((i, k)))
                if rng.random() < 0.2:  # something else due then, scheduled in between
                    env.timeout(d).callbacks.append(note((i, k, "timeout")))
                if rng.random() < 0.1:
                    env.process(waiter((i, k, "process"), d))
    env.process(source())
    env.run()
    return log, env


def test_later_runs_callbacks_when_and_in_the_order_an_event_each_would():
    """:func:`~simcomm.components.task.later` runs every callback at the time, and in the
    order, that a timeout each would; consecutive calls for one instant share one event, and
    every call still takes its event id (later events keep theirs)."""
    from simcomm.components.task import later

    want, env_a = _landings(lambda env, d, fn: env.timeout(d).callbacks.append(fn))
    got, env_b = _landings(later)
    assert len(got) > 1200 and got == want
    assert next(env_a._eid) == next(env_b._eid)  # the same ids taken

    env = simpy.Environment()
    seen = []
    for k in range(100):
        later(env, 0.005, lambda _ev, k=k: seen.append((env.now, k)))
    assert len(env._queue) == 1  # one event for the hundred
    env.timeout(0.005)  # scheduled in between: the next call cannot join the first event
    later(env, 0.005, lambda _ev: seen.append((env.now, "after")))
    later(env, 0.006, lambda _ev: seen.append((env.now, "then")))  # another instant
    assert len(env._queue) == 4
    env.run()
    assert seen == [(0.005, k) for k in range(100)] + [(0.005, "after"), (0.006, "then")]


def test_later_may_turn_a_tie_with_an_urgent_event_a_callback_schedules():
    """The documented exception: a process started by one callback (its start is urgent)
    ran before the next landing's callback with an event each; with one shared event it runs
    after the last."""
    from simcomm.components.task import later

    def run(schedule):
        env = simpy.Environment()
        log = []

        def started():
            log.append("process")
            yield env.timeout(0)

        def first(_ev):
            log.append("first")
            env.process(started())
        schedule(env, 1.0, first)
        schedule(env, 1.0, lambda _ev: log.append("second"))
        env.run()
        return log

    assert run(lambda env, d, fn: env.timeout(d).callbacks.append(fn)) == [
        "first", "process", "second"]
    assert run(later) == ["first", "second", "process"]


def _mixed(run, seed: int = 5):
    """Processes, tasks, timeouts, ticks, conditions and failed events (defused by the process
    that waits on them), some due exactly at the stops; run in three stops by *run(env, t)*;
    the log of what happened, and the clock and the log's length after each stop."""
    from simcomm.components.task import later, timeout

    env = simpy.Environment()
    rng = random.Random(seed)
    log = []

    def worker(i):
        for k in range(4):
            d = rng.choice([0.0, 1.0, 2.5, rng.random() * 3])
            ev = timeout(env, d, (i, k)) if k % 2 else env.timeout(d, (i, k))
            if k == 2:
                got = yield ev | env.timeout(rng.random())
                log.append((env.now, i, "any", len(got.todict())))
            else:
                log.append((env.now, i, (yield ev)))
            if i % 5 == 0 and k == 1:
                bad = env.event()
                bad.fail(KeyError(i))
                try:
                    yield bad
                except KeyError:
                    log.append((env.now, i, "caught"))
        later(env, 1.0, lambda _ev: log.append((env.now, i, "landed")))

    def source():
        for i in range(200):
            yield env.timeout(rng.choice([0.0, 0.5, rng.random()]))
            (env.process if i % 2 else lambda g: spawn(env, g))(worker(i))

    env.process(source())
    for t in (10, 25.0):  # due exactly at a stop: after it, as with SimPy's end marker
        env.timeout(t).callbacks.append(lambda _ev: log.append((env.now, "due at the stop")))
        timeout(env, t).callbacks.append(lambda _ev: log.append((env.now, "tick at the stop")))
    stops = []
    for t in (10, 25.0, 60):
        run(env, t)
        stops.append((env.now, len(log)))  # (what happened before each stop)
    return log, stops


def test_run_until_processes_what_env_run_would_in_the_same_order():
    """:func:`~simcomm.components.task.run_until` (SimPy's loop, compiled) gives the log of
    ``env.run(until=...)``, stops at the same instants (what is due exactly then is left
    for the next stop, as SimPy's urgent end marker does), refuses a time not after now, and
    stops the run with a copy of an undefused failure's exception, as SimPy does."""
    from simcomm.components.task import run_until

    want = _mixed(lambda env, t: env.run(until=t))
    got = _mixed(run_until)
    assert len(got[0]) > 800 and got == want
    assert [t for t, _ in want[1]] == [10, 25.0, 60]

    env = simpy.Environment()
    env.timeout(1)
    run_until(env, 2)
    with pytest.raises(ValueError, match="must be greater"):
        run_until(env, 2)

    def broken():
        yield env.timeout(1)
        raise LookupError("gone")

    env.process(broken())
    with pytest.raises(LookupError, match="gone") as err:
        run_until(env, 10)
    assert isinstance(err.value.__cause__, LookupError) and env.now == 3
