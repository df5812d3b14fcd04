"""Short polling for a long job: submit, get a handle at once, poll its status until done.

Each request of the workload (``workload.requests``) is a job. The client sends it
(``request_size``); a worker runs the service time and answers at once with a handle (headers
only). The job then runs in the background for ``job_duration`` (a job executor apart from
the request workers). From the moment it holds the handle, the client polls the job's status
every ``interval`` (± ``jitter``): each poll costs a worker one service time; while the job
runs the answer is empty (tagged ``empty``, its worker time wasted), once it is done the
answer carries the result (``response_size``) and the job is delivered. Polls are
timer-driven like short polling's: due every ``interval`` from the moment the handle arrived
(at once if the previous poll took longer).

Its latency runs from the intended submission to the parsed result. The decomposition follows
the critical path: the submission's trip and service, the job itself (in ``service``), the wait
for the next status poll to reach the server (``pending``), then that poll's service and the
result's trip. ``notice_mean`` is the mean time from the job's completion to the client having
the result; ``polls_per_delivery`` the status polls per job.

With a poll every T, a job that completes at a uniformly random point of a polling interval
is noticed T/2 + s + d later on average (s: service, d: one-way latency).
"""

from __future__ import annotations

from pydantic import Field

from ..components.path import Trip
from ..components.workload import drive_requests
from ..dists import Exponential, zero
from ..fields import DurationDist, NonNegDuration, PosDuration, ScenarioError
from ..metrics.definitions import PART_NAMES, Kind, Part, Tag
from ..rng import Buffered
from .base import Pattern, PatternParams, register

__all__ = ["JobPolling"]

NPARTS = len(PART_NAMES)
P = {name: int(getattr(Part, name.upper())) for name in PART_NAMES}
REQUEST, RESPONSE = int(Kind.REQUEST), int(Kind.RESPONSE)
USEFUL, EMPTY, CONTROL = int(Tag.USEFUL), int(Tag.EMPTY), int(Tag.CONTROL)


class JobPollingParams(PatternParams):
    interval: PosDuration = Field(1.0, description="seconds between status polls")
    jitter: NonNegDuration = Field(0.0, description="each interval drawn in interval ± jitter")
    job_duration: DurationDist = Field(Exponential(10.0), description="how long a job runs "
                                       "once accepted (a distribution; default exponential, "
                                       "mean 10 s)")


@register("job_polling")
class JobPolling(Pattern):
    """Client submits a long job, gets a handle at once, and polls its status every interval
    until the result is ready."""

    instances = True

    Params = JobPollingParams

    @classmethod
    def check(cls, p: JobPollingParams, sc) -> None:
        if sc.workload.requests is None:
            raise ScenarioError("", "job_polling needs workload.requests (the jobs clients "
                                "submit)")
        if p.jitter >= p.interval:
            raise ScenarioError("jitter", f"must be < interval ({p.interval:g}s)")

    def install(self, world) -> None:
        self.world, self.env, self.rec = world, world.env, world.recorder
        enc = world.encoding
        self._factor = enc.size_factor
        self._ser, self._parse = enc.serialise_per_kib / 1024.0, enc.parse_per_kib / 1024.0
        # per client streams (jobs.duration.<i>, jobs.jitter.<i>), made on a client's first job:
        # adding a client shifts no other client's draws
        self._draws: dict[int, tuple] = {}
        for c in world.clients:
            c.limit = float("inf")  # a client may have several jobs going
        drive_requests(world, self._job, callers_per_client=1)

    def _streams_of(self, ci: int) -> tuple:
        streams, j = self.world.streams, self.p.jitter
        duration = self.p.job_duration.sampler(streams.stream(f"jobs.duration.{ci}"))
        jitter = (Buffered(streams.stream(f"jobs.jitter.{ci}"),
                           lambda g, n: g.uniform(-j, j, n)) if j else zero)
        return duration, jitter

    def _serve(self, conn, poll, req_bytes: int, resp_bytes: int, empty: bool):
        """``yield from``, once the request *poll* has reached the server: a worker parses it,
        runs the service time and serialises *resp_bytes*; the answer travels down and is
        parsed. Returns the answer's :class:`Trip` (its worker visit, its way down and the
        client's parsing), or None if the bounded queue turned the request away. An *empty*
        answer is tagged so and its worker time wasted."""
        env, world, path = self.env, self.world, self.world.path
        hr = world.response_header
        ans = Trip(poll.flow)
        if not (yield from path.work(ans, req_bytes * self._parse, resp_bytes * self._ser)):
            path.turned_away(ans, poll.request[1])
            yield from path.refuse(conn, poll, hr)
            return None
        yield from path.down(conn, ans, hr + resp_bytes, hr, RESPONSE,
                             EMPTY if empty else USEFUL)
        if empty:
            path.settle(poll, EMPTY)
            path.waste(ans.t_work, ans.t_work + ans.busy)
        cp = resp_bytes * self._parse
        if cp:
            yield env.timeout(cp)
            ans.parts[P["parse"]] += cp
        return ans

    def _job(self, client, t0: float, size: float | None = None):
        env, world, rec, p, path = self.env, self.world, self.rec, self.p, self.world.path
        flow = next(world.flow_ids)
        req_size, resp_size = world.sizes(client.index)
        size = (req_size() if size is None else size) * self._factor
        result = resp_size() * self._factor
        hq = world.request_header
        draws = self._draws.get(client.index)
        if draws is None:
            draws = self._draws[client.index] = self._streams_of(client.index)
        duration, jitter = draws
        trip = Trip(flow)
        parts = trip.parts
        conn = yield from path.acquire(client)  # waiting for a free connection is client_wait
        parts[P["client_wait"]] = env.now - t0
        ser = size * self._ser
        if ser:
            yield env.timeout(ser)
        parts[P["parse"]] += ser
        # 1. submit; the answer is a handle (headers only), off the critical path
        yield from path.up(conn, trip, hq + size, hq)
        handle = yield from self._serve(conn, trip, size, 0, False)
        if handle is None:
            path.end(conn)
            return
        t_accepted = handle.t_work + handle.busy
        parts[P["server_queue"]] += handle.parts[P["server_queue"]]
        parts[P["service"]] += handle.service
        parts[P["parse"]] += handle.busy - handle.service
        # 2. the job runs in the background
        t_finished = t_accepted + duration()
        parts[P["service"]] += t_finished - t_accepted
        # 3. poll the status until a poll reaches the server after the job finished
        polls = 0
        due = env.now  # the handle has arrived: polls are due every interval from now
        while True:
            due += p.interval + jitter()
            if due > env.now:
                yield env.timeout(due - env.now)
            polls += 1
            poll = Trip(flow)
            yield from path.up(conn, poll, hq, hq)
            t_arr = env.now
            done = t_arr >= t_finished
            ans = yield from self._serve(conn, poll, 0, result if done else 0, not done)
            if ans is not None and done:
                break
        path.end(conn)
        parts[P["pending"]] += t_arr - t_finished
        for i, v in enumerate(ans.parts):
            parts[i] += v
        now = env.now
        rec.event("notice", t0, now - t_finished)
        rec.event("status_polls", t0, polls)
        rec.delivery(t0, now, flow, client.index, parts)
