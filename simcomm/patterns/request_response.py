"""Request-response: the client asks, the server answers.

The five steps, each visible in the latency decomposition:

1. the client serialises and sends the request (``parse``, ``transmission``, ``propagation``);
2. the server parses it (``server_queue`` while waiting for a worker, then ``parse``);
3. the server processes it (``service``);
4. the server serialises and sends the response (``parse``, ``transmission``, ``propagation``);
5. the client parses the response (``parse``).

**Clients** (each style a small strategy in :mod:`simcomm.patterns.callers`). ``client: sync``
— the caller blocks until its response is parsed; one request at a
time per client, so a request due while the caller is blocked waits (``client_wait``), and the
blocked time is ``client_blocked_s``. ``client: async`` — up to ``concurrency`` requests in
flight per client (further ones wait), completed in one of three ways:

* ``callback`` (io_uring-like): the caller is notified the moment the response is parsed;
* ``readiness_poll`` (epoll-like): the caller checks for completions every ``poll_interval``
  while it has requests outstanding (at ticks of a per-client phase), so it notices a response
  at the next tick (``notify``), and each tick counts in ``client_checks``;
* ``thread_per_request``: each request runs on a new thread that costs ``thread_start`` before
  the request is sent and ``thread_memory`` while alive; the thread is blocked while its request
  is outstanding (``client_blocked_s``, ``client_threads_peak``).

**Client CPU.** A request may cost its caller ``client_cpu`` seconds of CPU of its own (a
duration distribution, default 0: the work of making the request, e.g. building the query),
done just before the request is serialised; each client draws it from its own stream
``request_response.client_cpu.<i>`` (in the order its requests start), so that one client's
draws do not depend on the timing of the others and every entry of ``patterns:`` sees the same
values. An async client with ``callback`` or ``readiness_poll`` completion is one event loop on
one core (:class:`~simcomm.components.client.Cpu`): its per-request CPU, its serialisation of
requests and its parsing of responses are jobs on that core, first come first served, so N
requests issued together with c of CPU each complete N·c + RTT + s after they were issued (a
sync caller takes N·(c + RTT + s)). A sync caller runs one request at a time, so nothing
contends with its CPU work; ``thread_per_request`` threads are OS threads that may run on
several cores, so their CPU work does not contend either (no shared-CPU model: an optimistic
bound for a many-core client).

In the decomposition, everything before the request is on the wire is ``client_wait``
(waiting for the loop's core, and ``client_cpu`` itself) except the serialisation, which is
``parse``; on the way back, waiting for the loop's core and parsing the response are ``parse``.

**Blocked time.** ``client_blocked_s`` counts a sync caller from send (after its
``client_cpu``) to parsed response, and a thread-per-request thread for its whole life. For an
event loop it counts loop-seconds during which the client had at least one request outstanding
(from taking its concurrency slot to the caller learning of the completion) and its core was
idle: waiting on I/O. Its CPU work always falls inside such a span, so this is the outstanding
time minus the core's busy time, both inside the window.

**Chunked upload.** With ``chunks: k`` the request payload of B bytes is sent as k requests of
B/k bytes, each answered (intermediate answers carry ``chunk_response_size``, the last the
response); ``window: w`` keeps up to w chunks in flight (1 = sequential). The upload is one
delivery; its decomposition follows the critical path (the chain of chunks that released one
another), so the parts still add up to its latency. A rejected chunk aborts the upload: its
messages are re-tagged ``control`` and the worker time spent on its chunks is wasted.

Connections are established keep-alive connections, one per client, carried by the world's
path (:mod:`simcomm.components.path`). Concurrent requests of an async client share it; its
messages arrive in the order they were sent in each direction (a response that would overtake
an earlier one waits for it, as on one TCP connection), so with a random latency concurrent
requests see head-of-line blocking. Pools and HTTP/2-style streams come later.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..components.connection import Connection
from ..components.path import Trip
from ..components.workload import drive_requests
from ..dists import Constant
from ..fields import DurationDist, NonNegDuration, NonNegSize, PosDuration, ScenarioError
from ..metrics.definitions import PART_NAMES, Kind, Part, Tag
from .base import Pattern, PatternParams, register
from .callers import STYLES, Callback

__all__ = ["RequestResponse"]

# plain ints (not enum members) for indexing on the hot path
CLIENT_WAIT, TRANSMISSION, PROPAGATION = (int(Part.CLIENT_WAIT), int(Part.TRANSMISSION),
                                          int(Part.PROPAGATION))
RETRANSMISSION, SERVER_QUEUE = int(Part.RETRANSMISSION), int(Part.SERVER_QUEUE)
PARSE, SERVICE, NOTIFY = int(Part.PARSE), int(Part.SERVICE), int(Part.NOTIFY)
NPARTS = len(PART_NAMES)
REQUEST, RESPONSE = int(Kind.REQUEST), int(Kind.RESPONSE)
USEFUL, CONTROL = int(Tag.USEFUL), int(Tag.CONTROL)


class RequestResponseParams(PatternParams):
    client: Literal["sync", "async"] = Field("sync", description="caller style")
    completion: Literal["callback", "readiness_poll", "thread_per_request"] = Field(
        "callback", description="async only: how the caller learns of a completion")
    concurrency: int | None = Field(
        64, ge=1, description="async only: most requests in flight per client (null: no limit)")
    poll_interval: PosDuration = Field(
        0.001, description="readiness_poll: seconds between completion checks")
    thread_start: NonNegDuration = Field(
        30e-6, description="thread_per_request: seconds to start a thread "
        "(pthread_create plus stack set-up: tens of µs)")
    thread_memory: NonNegSize = Field(
        1024.0 * 1024, description="thread_per_request: bytes per live thread "
        "(1 MiB, the JVM's default -Xss stack)")
    encoding: str | None = Field(None, description="payload encoding (default: "
                                 "workload.encoding)")
    client_cpu: DurationDist = Field(
        Constant(0.0), description="seconds of the caller's own CPU per request, just before "
        "it is serialised (a distribution; on the event loop's one core for async callback "
        "and readiness_poll clients)")
    chunks: int = Field(1, ge=1, description="send the request payload as this many chunks")
    window: int = Field(1, ge=1, description="chunks in flight at once (1: sequential)")
    chunk_response_size: NonNegSize = Field(
        0.0, description="payload bytes of the answer to each intermediate chunk")


@register("request_response")
class RequestResponse(Pattern):
    """Client sends a request, server parses, processes and answers; sync or async callers,
    any encoding, optional chunked upload."""

    instances = True

    Params = RequestResponseParams

    @classmethod
    def check(cls, p: RequestResponseParams, sc) -> None:
        if sc.workload.requests is None:
            raise ScenarioError("", "request_response needs workload.requests (who sends "
                                "what, how often)")
        if p.client == "sync":
            for key in ("completion", "concurrency", "poll_interval", "thread_start",
                        "thread_memory"):
                if key in p.model_fields_set:
                    raise ScenarioError(key, "applies to client: async only")
        else:
            if p.completion != "readiness_poll" and "poll_interval" in p.model_fields_set:
                raise ScenarioError("poll_interval", "applies to completion: readiness_poll "
                                    "only")
            if p.completion != "thread_per_request":
                for key in ("thread_start", "thread_memory"):
                    if key in p.model_fields_set:
                        raise ScenarioError(key, "applies to completion: thread_per_request "
                                            "only")
            if sc.workload.requests.closed and p.concurrency is None:
                raise ScenarioError("concurrency", "a closed-loop async client needs a finite "
                                    "concurrency (the number of callers per client)")
        if p.encoding is not None and p.encoding not in sc.encoding_table:
            raise ScenarioError("encoding", f"unknown encoding {p.encoding!r} (known: "
                                f"{', '.join(sorted(sc.encoding_table))})")
        if p.window > p.chunks:
            raise ScenarioError("window", f"must be <= chunks ({p.chunks}), got {p.window}")
        if p.chunks > 1 and sc.workload.request_size is None:
            raise ScenarioError("chunks", "a chunked upload needs workload.request_size")

    def requests_per_arrival(self) -> float:
        return float(self.p.chunks)

    # -- installation ----------------------------------------------------------------------
    def install(self, world) -> None:
        p = self.p
        self.world = world
        self.env = world.env
        self.rec = world.recorder
        enc = world.encoding  # the runner builds the world with this entry's encoding
        # the per-byte figures of Encoding.wire/serialise_cost/parse_cost, bound once (hot path)
        self._costs = (enc.size_factor, enc.serialise_per_kib / 1024.0,
                       enc.parse_per_kib / 1024.0)
        self.style = style = STYLES["sync" if p.client == "sync" else p.completion](p, world)
        limit = style.limit()
        for c in world.clients:
            c.limit = limit
        n = len(world.clients)
        cc = p.client_cpu
        if isinstance(cc, Constant):
            draw = cc.sampler(None)
            self._ccpu = None if cc.value == 0 else [draw] * n
        else:
            self._ccpu = [cc.sampler(world.streams.stream(f"request_response.client_cpu.{i}"))
                          for i in range(n)]
        self._blocked = self.rec.client_blocked
        callers = 1 if p.client == "sync" else limit
        fast = style.__class__ is Callback and p.chunks == 1
        job = self._callback if fast else self._request
        drive_requests(world, job, callers_per_client=callers)

    # -- one request, from the caller's point of view -----------------------------------------
    def _request(self, client, t0: float, size: float | None = None):
        env, rec, p, style = self.env, self.rec, self.p, self.style
        flow = next(self.world.flow_ids)
        ccpu = self._ccpu
        pre = 0.0 if ccpu is None else ccpu[client.index]()
        pre = yield from style.begin(client, pre)
        cpu = client.cpu if style.loop else None
        trip = Trip(flow)
        trip.parts[CLIENT_WAIT] = env.now - t0
        req_size, resp_size = self.world.sizes(client.index)
        if size is None:  # else a traced request's own size
            size = req_size()
        resp = resp_size()
        if p.chunks == 1:
            conn = yield from self._connection(client, trip)
            ok = yield from self._exchange(conn, trip, size, resp, cpu, pre)
            self.world.path.end(conn)
        else:
            if pre:  # once per upload, before its first chunk
                wait = cpu.run(pre)
                yield env.timeout(wait)
                trip.parts[CLIENT_WAIT] += wait
            ok = yield from self._upload(client, trip, size, resp, cpu)
        yield from style.end(client, trip)
        if ok:
            rec.delivery(t0, env.now, flow, client.index, trip.parts)
        else:
            self.world.path.turned_away(trip, t0)

    def _callback(self, client, t0: float, size: float | None = None):
        """:meth:`_request` for an event loop with callback completion and one chunk, with
        :meth:`_exchange` written out in the same frame: the hot path of
        ``benchmarks/bench_mm1.py``. The same steps and draws; with no CPU work (no encoding
        cost, no ``client_cpu``) the client's core is never called."""
        env, world = self.env, self.world
        ci = client.index
        pending = self.style.pending
        k = pending[ci]
        if not k:
            self._blocked.add(1)
        pending[ci] = k + 1
        flow = next(world.flow_ids)
        trip = Trip(flow)
        parts = trip.parts
        parts[CLIENT_WAIT] = env._now - t0
        ccpu = self._ccpu
        factor, ser_b, parse_b = self._costs
        req_size, resp_size = world.sizes(ci)
        req_b = (req_size() if size is None else size) * factor
        resp_b = resp_size() * factor
        conn = world.path.begin(client)
        if conn.__class__ is not Connection:  # no connection (or stream) free: wait for one
            conn = yield conn
            parts[CLIENT_WAIT] = env._now - t0
        ser = req_b * ser_b
        work = ser if ccpu is None else ccpu[ci]() + ser
        if work:
            wait = client.cpu.run(work)
            yield env.timeout(wait)
            parts[CLIENT_WAIT] += wait - ser
        h_req, h_resp = world.request_header, world.response_header
        ok = yield from world.path.exchange(conn, trip, h_req + req_b, h_req, h_resp + resp_b,
                                            h_resp, req_b * parse_b, resp_b * ser_b)
        if ok:
            cp = resp_b * parse_b
            if cp:
                cp = client.cpu.run(cp)
                yield env.timeout(cp)
            parts[PARSE] += ser + cp
        self.world.path.end(conn)
        k = pending[ci] - 1
        pending[ci] = k
        if not k:
            self._blocked.add(-1)
        if ok:
            self.rec.delivery(t0, env._now, flow, ci, parts)
        else:
            world.path.turned_away(trip, t0)

    # -- one request and its response on the wire -------------------------------------------
    def _exchange(self, conn, trip, size: float, resp_size: float, cpu=None,
                  pre: float = 0.0):
        """``yield from``: the client spends *pre* seconds of its own CPU and serialises, the
        path carries the exchange, the client parses. With *cpu* (an event loop's
        :class:`~simcomm.components.client.Cpu`) the client's work queues on that core.
        Adds its times to ``trip.parts``; returns False if the server refused it."""
        env, world = self.env, self.world
        factor, ser_b, parse_b = self._costs  # Encoding.wire / serialise_cost / parse_cost
        req_b, resp_b = size * factor, resp_size * factor
        ser = req_b * ser_b
        work = pre + ser
        if work:  # one job: the caller's work and its serialisation, back to back
            wait = work if cpu is None else cpu.run(work)
            yield env.timeout(wait)
            trip.parts[CLIENT_WAIT] += wait - ser  # the core's queue and *pre*
        h_req, h_resp = world.request_header, world.response_header
        ok = yield from world.path.exchange(conn, trip, h_req + req_b, h_req, h_resp + resp_b,
                                            h_resp, req_b * parse_b, resp_b * ser_b)
        if not ok:
            return False
        cp = resp_b * parse_b
        if cp:
            if cpu is not None:
                cp = cpu.run(cp)  # the core's queue, then the parse
            yield env.timeout(cp)
        trip.parts[PARSE] += ser + cp
        return True

    def _connection(self, client, trip):
        """``yield from``: a connection for one exchange from the client's pool, the wait for
        one (all HTTP/1.1 connections or HTTP/2 streams busy) counted in ``client_wait``."""
        conn = self.world.path.begin(client)
        if conn.__class__ is not Connection:
            t = self.env.now
            conn = yield conn
            trip.parts[CLIENT_WAIT] += self.env.now - t
        return conn

    def _upload(self, client, trip, size: float, resp_size: float, cpu=None):
        """k chunks, up to *window* in flight, each an exchange on a connection of the
        client's pool (on HTTP/1.1 two chunks in flight take two connections); decomposition
        along the critical path."""
        env, p = self.env, self.p
        k, w = p.chunks, p.window
        chunk = size / k
        log: list = []
        t_up = env.now
        ends = [0.0] * k
        trigger = [-1] * k
        ctrips = [Trip(trip.flow, log) for _ in range(k)]
        works: list[tuple[float, float]] = []
        state = {"next": 0, "running": 0, "ok": True, "last": -1}
        done = env.event()

        def run_chunk(i: int, trig: int):
            start_ref = t_up if trig < 0 else ends[trig]
            ct = ctrips[i]
            ct.parts[CLIENT_WAIT] = env.now - start_ref
            r = resp_size if i == k - 1 else p.chunk_response_size
            conn = yield from self._connection(client, ct)
            ok = yield from self._exchange(conn, ct, chunk, r, cpu)
            self.world.path.end(conn)
            if ok:
                works.append((ct.t_work, ct.t_work + ct.busy))
            ends[i] = env.now
            trigger[i] = trig
            state["running"] -= 1
            state["last"] = i
            if not ok and state["ok"]:
                state["ok"] = False
                trip.failed = ct.failed  # the upload failed as its first failing chunk did
            if state["ok"] and state["next"] < k:
                launch(state["next"], i)
            elif state["running"] == 0:
                done.succeed()

        def launch(i: int, trig: int):
            state["next"] = i + 1
            state["running"] += 1
            env.process(run_chunk(i, trig))

        for i in range(min(w, k)):
            launch(i, -1)
        yield done
        path = self.world.path
        if not state["ok"]:
            path.settle_log(ctrips[0], CONTROL)
            for w0, w1 in works:
                path.waste(w0, w1)
            return False
        parts = trip.parts
        i = state["last"]
        while i >= 0:
            for j, v in enumerate(ctrips[i].parts):
                parts[j] += v
            i = trigger[i]
        return True
