"""Guards: estimate what a run costs before building it, and refuse what cannot finish.

:func:`estimate` reads a validated scenario and one pattern entry — nothing is simulated,
nothing proportional to the scenario is allocated — and returns an :class:`Estimate`: the
simulated items the run makes, the messages, deliveries and SimPy events they cause, the memory
the run holds at its peak and the time it takes on this machine. :func:`check` compares the
estimates of the entries about to run with :class:`Limits` derived from the machine and raises
:class:`GuardError` (a :class:`~simcomm.fields.ScenarioError`: the CLI prints one line and
exits 2) naming the estimate, the limit and what to lower. ``simcomm.run`` and
``simcomm.compare`` call it before building any world unless given ``force=True``
(``--force`` on the command line). An estimate is an order of magnitude, not a prediction:
it exists to stop runs that would take days or exhaust memory, and to say which knob made
them so.

The model
---------
D is the duration, n ``clients.count``, d the mean one-way latency, s the mean service time,
p the link loss. Every count covers the whole run [0, D) (the warm-up included: it is
simulated too). A pattern entry's items are a sum of *terms*; each term is a count times, per
item, its messages, deliveries, SimPy events and bytes on the clients' links:

* **requests** (``request_response``, ``job_polling``): open loop, ``rate`` × D, or
  ``per_client_rate`` × n × D, or ``batch`` × n × D / ``every``, or a trace's rows before D;
  closed loop, callers × D / (think mean + 2d + s + serialisation of a request and its
  response), callers = n (sync) or n × ``concurrency`` (that latency floor makes it an upper
  bound). A request is ``chunks`` request/response
  pairs (2 messages each) and one delivery; ``reuse: per_request`` adds its handshake flights.
  A job adds a status poll (2 messages) per ``interval`` of its mean duration.
* **update copies** (update patterns): every client is subscribed to one topic, so whatever
  the scope, copies = n × λ × D with λ the per-topic ``rate`` (× on / (on + off) when bursty);
  one delivery each. Push and SSE send one message per copy; pub/sub one per copy plus one
  publish per update (topics × λ × D, on the publisher's own link); at-least-once and
  ``prefetch`` add an acknowledgement per copy.
* **polls**: short polling n × D / ``interval``; long polling (and pub/sub ``pull`` fetches)
  n × D / (w + 2d + s + ``retry_delay``), w the mean park time: (1 − e^(−λτ)) / λ for a poll
  answered by the first update or the timeout τ, min(k / λ, τ) for a fetch that waits for
  k = ⌈``min_bytes`` / update size⌉ updates; 2 messages each.
* **heartbeats** (SSE): n × D / ``heartbeat``; **reconnections**: n per ``restart_at`` (SSE)
  and n × D / (session + gap) when clients come and go, each a handshake (and for SSE a request
  and its answer). Clients that come and go poll and beat only while online (× session /
  (session + gap)).
* Lost copies are sent again: messages × 1 / (1 − p).

Offered bytes per second on a client link direction (the overloaded-link warning) = Σ count ×
bytes per item (headers + encoded mean payload, handshakes, acknowledgements) / D, divided by
n with ``topology: per_client``; closed-loop requests are left out (a caller waits for its
answer, so they cannot overload a link), and so are pub/sub publishes (the publisher's own
link).

Run time = events × :data:`SECONDS_PER_EVENT` + n × :data:`SETUP_SECONDS_PER_CLIENT`.

Memory at the peak of a run = n × the pattern's bytes per client (:data:`CLIENT_BYTES`, plus
:data:`LINK_BYTES` per client with ``topology: per_client``) + :data:`BUFFER_BYTES` per
buffered random stream drawn from (one per topic for Poisson or bursty updates, and one per
client for each per-client random quantity that is not a constant: payload sizes, think
time, session and gap, ``client_cpu``, jitter, job duration, a per-client link's latency and
loss) + the recorder's rows (:data:`MESSAGE_ROW_BYTES` per message and
:data:`FULL_DELIVERY_ROW_BYTES` per delivery at ``detail: full``, doubled for the frames built
from them when asked for or written; :data:`DELIVERY_ROW_BYTES` per delivery at ``detail:
summary``) + per-copy state kept by a pattern (pub/sub's duplicate detection,
:data:`PUBSUB_SEEN_BYTES`) + the backlog of an overloaded server (ρ > 1 without a
``queue_limit``: (1 − 1/ρ) of the requests wait, :data:`WAITING_BYTES` each, or
:data:`HELD_BYTES` when the client holds them). A ``patterns:`` list keeps every entry's result
(its recorder, and through it its world), so the entries' memory adds up, as their times do.

How the constants were measured
-------------------------------
On the development machine (x86_64, 2 cores shared with other jobs, Python 3.11, SimPy 4.1)
with :func:`calibrate`::

    python -c "import simcomm.guard as g; g.calibrate()" examples/*.yaml [--no-memory]

which runs every entry of the given files at ``detail: full`` and prints the estimate next to
what the run did: events (SimPy ``Environment.step`` calls, counted by wrapping it), messages
and deliveries (the recorder's rows), the peak of ``tracemalloc``'s traced memory (frames not
built), and the wall time (untraced with ``--no-memory``). Per-client bytes and set-up
time come from building the world and installing the pattern for 2 000 and 6 000 clients and
dividing the difference by 4 000 (so fixed costs cancel); bytes per waiting request from an
M/M/1 at ρ = 10 and 20 (peak memory / requests still waiting at the end).

* events per item (fitted on the bundled examples): a keep-alive request 8 (9 with readiness
  polling or a thread per request), a handshake flight 1.4, a short poll 4 and each copy it
  carries 1.5, a long poll 6.5 and each copy 3, a pushed copy 5, an SSE event 4.5, a heartbeat
  2, a pub/sub copy 4 and publish 4, an acknowledgement 3, a session (online + offline) 2, a
  message's crossing of a ``proxy`` 1.5 more (and a second message, on the backend leg),
  of a balancer 1.5 more;
* seconds per event: 1.6–6 µs measured (7–19 µs per message), depending on the pattern and
  on the machine's load; 4 µs assumed;
* set-up: 33–175 µs per client to build the world, 0–70 µs to install the pattern; 150 µs
  assumed;
* bytes per client (tracemalloc, between 2 000 and 10 000 clients, 20 s, updates 0.01/s
  periodic, a 64-worker server so that no queue builds up): request-response 0.63 kB, job
  polling 1.06, short polling 2.5 (a poll loop per client), long polling 6.1 (a poll held at
  the server per client: its process, condition and timeout), push 0.76, SSE 1.16, pub/sub
  0.92; 0.6 kB more per client link (``topology: per_client``); a per-client buffered random
  stream drawn from a few times ~0.2 kB (a client's session, gap and update streams: 0.58
  kB). The constants are these × ~1.25 (the allocator's ~10 % on top of traced memory, and
  margin). They were 3–12 kB per client until the memory work of issue 10 (per-client
  streams parked, lazy queues, chains instead of processes: ``benchmarks/README.md``);
* rows: a message row 51 B of typed columns (55 B with the arrays' spare capacity), a delivery
  16 B (start, latency), 120 B at ``detail: full`` (flow, client and 11 latency parts); the
  frames built from them take about as much again;
* a request waiting for a worker: 1 350 B (a SimPy process and its events); held by its
  client (sync, or async at its ``concurrency``): 100–120 B.

Estimate / measured on some of them (events, messages, deliveries; memory in MB at
``detail: full``, without the frames; re-run after the memory work of issue 10)::

    api-under-load            1.92e5/1.91e5  4.80e4/4.76e4  2.40e4/2.38e4   5.6/7.4
    connections per-request   9.79e4/9.41e4  4.32e4/4.35e4  7.20e3/7.22e3   3.3/4.7
    long-polling kafka-fetch  4.30e4/3.47e4  8.81e3/8.92e3  4.80e3/4.80e3   1.2/1.8
    notifications short-poll  3.45e4/3.54e4  1.50e4/1.50e4  3.00e3/2.90e3   1.4/1.6
    pubsub pull-fetch         1.46e6/1.48e6  3.25e5/3.90e5  1.44e5/1.44e5  45.4/54.7
    push drop-offline         3.01e5/2.56e5  6.03e4/3.90e4  6.00e4/3.07e4  10.6/8.1
    sse-restart               5.63e5/9.04e5  1.31e5/1.38e5  1.20e5/1.26e5  22.4/32.0

Memory of these small worlds is mostly the recorder's rows, and what a run holds besides
(the interpreter's and numpy's own, the world's fixed parts) is not counted: the estimates
are up to 1.5× low there; on worlds of many clients, which the guard is for, the per-client
constants above dominate.

Every bundled example is within a factor of 2 on messages and deliveries
(``tests/test_guard.py`` checks a few). Not modelled, so under- or overestimated: copies a
client never gets (push dropping for offline or slow clients: up to 2× too many), connections
reopened after ``idle_timeout``, redeliveries, a ``proxy``'s backend handshakes, the extra
events of random latency reordering.

Limits
------
:meth:`Limits.machine`: memory at most :data:`MEMORY_FRACTION` of the machine's memory (the
physical memory from ``os.sysconf``, or a cgroup's ``memory.max`` when lower; 8 GiB when
neither can be read), and at most :data:`MAX_SECONDS` (one hour) of estimated run time per
call (``compare`` sums its entries). Pass other :class:`Limits` to ``run``/``compare``
(``limits=``) to tighten or widen them.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path

from .dists import Constant, Sequence
from .fields import ScenarioError
from .scenario import offered_load

__all__ = ["Estimate", "GuardError", "Limits", "Term", "calibrate", "check", "estimate",
           "link_load", "machine_memory", "measure"]

# ---------------------------------------------------------------------------------------------
# Constants (see the module docstring for how they were measured)

SECONDS_PER_EVENT = 4e-6
"""Wall seconds per SimPy event (measured 1.6–6 µs)."""
SETUP_SECONDS_PER_CLIENT = 150e-6
"""Wall seconds to build one client's part of the world and install the pattern on it."""
CLIENT_BYTES = {
    "request_response": 800.0,
    "job_polling": 1_400.0,
    "short_polling": 3_500.0,
    "long_polling": 7_800.0,
    "push": 1_000.0,
    "sse": 1_500.0,
    "pubsub": 1_200.0,
}
"""Bytes held per client once the world is built and the pattern installed (shared link)."""
DEFAULT_CLIENT_BYTES = 8_000.0
"""Bytes per client for a pattern not in :data:`CLIENT_BYTES`."""
LINK_BYTES = 800.0
"""Bytes of one more link (``topology: per_client``)."""
BUFFER_BYTES = 64 * 8.0 + 300.0
"""A per-client buffered random stream once drawn from (:class:`simcomm.rng.ParkedBuffered`):
what is left of its block of draws as 8-byte floats (1, then 2 … up to 4 096: a per-client
stream is drawn from a few times, about 64 held), its packed state and the object."""
MESSAGE_ROW_BYTES = 55.0
"""One message row at ``detail: full`` (51 B of columns, and the arrays' spare capacity)."""
FULL_DELIVERY_ROW_BYTES = 120.0
"""One delivery row at ``detail: full``: start, latency, flow, client, 11 latency parts."""
DELIVERY_ROW_BYTES = 16.0
"""One delivery at ``detail: summary``: start time and latency."""
FRAMES_FACTOR = 2.0
"""``detail: full``: rows plus the DataFrames built from them (``Result.frames``, ``--out``)."""
PUBSUB_SEEN_BYTES = 70.0
"""pub/sub: one message id in a subscriber's set of messages seen (duplicate detection)."""
WAITING_BYTES = 1_400.0
"""A request waiting for a server worker (a SimPy process and its events)."""
HELD_BYTES = 120.0
"""A request held by its client until the caller (or a concurrency slot) is free."""
MEMORY_FRACTION = 0.5
"""Most of the machine's memory one call may plan to use."""
MAX_SECONDS = 3600.0
"""Longest estimated run time one call may start."""
FALLBACK_MEMORY = 8 * 2.0**30
"""Memory assumed when the machine's cannot be read."""

UPDATE_PATTERNS = ("short_polling", "long_polling", "push", "sse", "pubsub")
"""Patterns estimated from ``workload.updates``; any other is estimated from its requests if
the scenario has some (like ``request_response``), else from its updates (generously)."""

EVENTS = {
    "request": 8.0, "request_extra": 1.0, "flight": 1.4, "job_poll": 4.0,
    "short_poll": 4.0, "short_copy": 1.5, "long_poll": 6.5, "long_copy": 3.0,
    "push_copy": 5.0, "sse_copy": 4.5, "heartbeat": 2.0, "pubsub_copy": 4.0,
    "publish": 4.0, "ack": 3.0, "session": 2.0, "hop": 1.5,
}
"""SimPy events per item of each kind (fitted on the bundled examples)."""


# ---------------------------------------------------------------------------------------------
# Errors and limits

class GuardError(ScenarioError):
    """A run the machine cannot finish (too slow or too big); the message has the estimate
    and the fix. ``estimate`` is the :class:`Estimate` (of the costliest entry)."""

    def __init__(self, field: str, message: str, estimate: Estimate | None = None) -> None:
        super().__init__(field, message)
        self.estimate = estimate


def machine_memory() -> float:
    """Bytes of memory this process may use: physical memory, or a lower cgroup limit."""
    found = []
    try:
        found.append(float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")))
    except (ValueError, OSError, AttributeError):
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    found.append(float(line.split()[1]) * 1024)
        except (OSError, ValueError, IndexError):
            pass
    for p in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            v = float(Path(p).read_text().strip())
        except (OSError, ValueError):
            continue
        if 0 < v < 2.0**60:  # "max" or a huge number: no limit
            found.append(v)
    found = [v for v in found if v > 0]
    return min(found) if found else FALLBACK_MEMORY


@dataclass(frozen=True)
class Limits:
    """The most one call of ``run``/``compare`` may plan to use."""

    memory: float
    """Bytes."""
    seconds: float
    """Estimated wall seconds (set-up and simulation)."""

    @classmethod
    def machine(cls) -> Limits:
        """:data:`MEMORY_FRACTION` of this machine's memory, :data:`MAX_SECONDS`."""
        return cls(memory=MEMORY_FRACTION * machine_memory(), seconds=MAX_SECONDS)


# ---------------------------------------------------------------------------------------------
# The estimate

@dataclass(frozen=True)
class Term:
    """*count* items over the run, each with the given messages, events, deliveries, bytes on
    the clients' links (``up``: towards the server) and bytes kept until the end."""

    name: str
    count: float
    field: str
    """What to lower to make it smaller (a dotted key, or keys joined by ``or``)."""
    messages: float = 0.0
    events: float = 0.0
    deliveries: float = 0.0
    up: float = 0.0
    down: float = 0.0
    keep: float = 0.0
    on_clients_link: bool = True
    """False for traffic on a link of its own (the pub/sub publisher's)."""
    open_loop: bool = True
    """False for closed-loop requests: a caller waits for its answer, so they cannot offer a
    link more than it carries (left out of :meth:`Estimate.link_rates`)."""


@dataclass(frozen=True)
class Estimate:
    """What one pattern entry's run costs (see the module docstring)."""

    label: str
    clients: int
    detail: str
    terms: tuple[Term, ...]
    setup_bytes: float
    """Per-client structures, links and random-stream buffers."""
    backlog_bytes: float = 0.0
    """Requests waiting at an overloaded server by the end."""
    links: int = 1
    """Links the clients' traffic is spread over (1 shared, or one per client)."""
    duration: float = 1.0
    passes: int = 1
    """Times the world is built and run: 2 with ``warmup: mser5`` (a pass to find the
    warm-up, one to measure after it)."""

    @property
    def items(self) -> float:
        return sum(t.count for t in self.terms)

    @property
    def messages(self) -> float:
        return sum(t.count * t.messages for t in self.terms)

    @property
    def deliveries(self) -> float:
        return sum(t.count * t.deliveries for t in self.terms)

    @property
    def events(self) -> float:
        return sum(t.count * t.events for t in self.terms)

    @property
    def row_bytes(self) -> float:
        if self.detail == "full":
            return FRAMES_FACTOR * (self.messages * MESSAGE_ROW_BYTES
                                    + self.deliveries * FULL_DELIVERY_ROW_BYTES)
        return self.deliveries * DELIVERY_ROW_BYTES

    @property
    def memory(self) -> float:
        """Bytes at the run's peak."""
        keep = sum(t.count * t.keep for t in self.terms)
        return self.setup_bytes + self.row_bytes + keep + self.backlog_bytes

    @property
    def setup_seconds(self) -> float:
        return self.clients * SETUP_SECONDS_PER_CLIENT

    @property
    def seconds(self) -> float:
        """Estimated wall seconds: set-up and simulation (of every pass)."""
        return self.passes * (self.setup_seconds + self.events * SECONDS_PER_EVENT)

    def link_rates(self) -> tuple[float, float]:
        """Offered bytes per second (up, down) on the busiest of the clients' links."""
        on = [t for t in self.terms if t.on_clients_link and t.open_loop]
        up = sum(t.count * t.up for t in on)
        down = sum(t.count * t.down for t in on)
        return up / self.duration / self.links, down / self.duration / self.links

    def biggest(self, by: str) -> Term:
        """The term contributing most events (*by* = ``events``) or bytes (``memory``)."""
        if by == "memory":
            row = (FRAMES_FACTOR * MESSAGE_ROW_BYTES if self.detail == "full" else 0.0,
                   FRAMES_FACTOR * FULL_DELIVERY_ROW_BYTES if self.detail == "full"
                   else DELIVERY_ROW_BYTES)
            return max(self.terms, key=lambda t: t.count * (t.messages * row[0]
                                                            + t.deliveries * row[1] + t.keep))
        return max(self.terms, key=lambda t: t.count * t.events)


def _where(sc, spec) -> str:
    """The dotted path of pattern entry *spec* in the scenario (``pattern``, ``patterns.i``)."""
    if sc.pattern is not None:
        return "pattern"
    for i, v in enumerate(sc.variants):
        if v is spec:
            return f"patterns.{i}"
    return "pattern"


def _buffered(dist) -> bool:
    """Does a sampler of *dist* hold a block of draws (everything but constants, sequences)?"""
    return dist is not None and not isinstance(dist, Constant | Sequence)


def _reached(n: float, draws: float) -> float:
    """Clients (of *n*) expected to draw at least once when *draws* are spread over them."""
    if n <= 0:
        return 0.0
    return n * -math.expm1(-draws / n) if draws < 1e300 else n


def estimate(sc, spec) -> Estimate:
    """The cost of running pattern entry *spec* of the validated scenario *sc*."""
    name, p = spec.name, spec.params
    at = _where(sc, spec)
    h = spec.headers or sc.headers
    conn = spec.connection or sc.connection
    net, w = sc.network, sc.workload
    D, n = sc.duration, sc.clients.count
    d = net.latency.mean
    s = sc.server.service_time.mean
    rtt = 2 * d + s
    retx = 1.0 / (1.0 - net.loss)
    enc = sc.encoding_table[getattr(p, "encoding", None) or w.encoding]
    wire = enc.wire
    cl = sc.clients
    online, cycles = 1.0, 0.0
    if cl.session is not None:
        period = cl.session.mean + cl.gap.mean
        online, cycles = cl.session.mean / period, n * D / period
    flights = conn.setup().flights(resumed=True) + conn.setup().early(resumed=True)
    f_n = len(flights)
    f_up = sum(b for di, b in flights if di == 0)
    f_down = sum(b for di, b in flights if di == 1)

    terms: list[Term] = []
    per_client_streams = 0.0   # buffered per-client streams, times clients reaching them
    backlog = 0.0

    if cycles:
        terms.append(Term("reconnections", cycles, "clients.session or duration",
                          messages=f_n * retx, events=EVENTS["session"] + f_n * EVENTS["flight"],
                          up=f_up * retx, down=f_down * retx))
        per_client_streams += n * (_buffered(cl.session) + _buffered(cl.gap))

    if name != "job_polling" and (name not in UPDATE_PATTERNS and w.requests is not None):
        name = "request_response"  # a request-driven pattern this guard does not know: alike
    if name in ("request_response", "job_polling"):
        req = w.requests
        chunks = getattr(p, "chunks", 1)
        req_b = wire(w.request_size.mean) if w.request_size else 0.0
        resp_b = wire(w.response_size.mean) if w.response_size else 0.0
        if req.closed:
            callers = (1 if getattr(p, "client", "sync") == "sync"
                       else getattr(p, "concurrency", None) or 1)
            serialise = 8 * (h.request + h.response + req_b + resp_b) / net.bandwidth
            count = n * callers * D / (req.think_time.mean + rtt + serialise)
            where = "clients.count or duration, or raise workload.requests.think_time"
            per_client_streams += n * _buffered(req.think_time)
        else:
            count = req.mean_rate(n, D) * D
            where = ("workload.requests.rate" if req.rate is not None else
                     "workload.requests.per_client_rate or clients.count"
                     if req.per_client_rate is not None else
                     "workload.requests.batch or clients.count" if req.batch is not None else
                     "workload.requests.trace") + " or duration"
        reached = _reached(n, count)
        per_client_streams += reached * (_buffered(w.request_size) + _buffered(w.response_size))
        if name == "request_response":
            client = getattr(p, "client", "sync")
            style_extra = client == "async" and getattr(p, "completion", "") != "callback"
            per_request = conn.reuse == "per_request"
            fl = f_n if per_request else 0
            chunk_resp = wire(getattr(p, "chunk_response_size", 0.0)) if chunks > 1 else 0.0
            terms.append(Term(
                "requests", count, where, open_loop=not req.closed,
                messages=(2 * chunks + fl) * retx,
                events=chunks * (EVENTS["request"] + EVENTS["request_extra"] * style_extra)
                + fl * EVENTS["flight"],
                deliveries=1.0,
                up=(chunks * h.request + req_b + (f_up if per_request else 0)) * retx,
                down=(chunks * h.response + resp_b + (chunks - 1) * chunk_resp
                      + (f_down if per_request else 0)) * retx))
            per_client_streams += n * _buffered(getattr(p, "client_cpu", None))
            holds = client == "sync" or getattr(p, "concurrency", None) is not None
        else:
            polls = p.job_duration.mean / p.interval + 1
            terms.append(Term(
                "jobs", count, where, open_loop=not req.closed,
                messages=(2 + 2 * polls) * retx,
                events=EVENTS["request"] + polls * EVENTS["job_poll"], deliveries=1.0,
                up=((1 + polls) * h.request + req_b) * retx,
                down=((1 + polls) * h.response + resp_b) * retx))
            per_client_streams += reached * (_buffered(p.job_duration) + (p.jitter > 0))
            holds = False
        if not conn.warm and conn.reuse == "keepalive":
            terms.append(Term("connections", n, "clients.count", messages=f_n * retx,
                              events=f_n * EVENTS["flight"], up=f_up * retx,
                              down=f_down * retx))
        rho = offered_load(sc, chunks) if not req.closed else math.nan
        if rho > 1 and sc.server.queue_limit is None:
            backlog = (1 - 1 / rho) * count * (HELD_BYTES if holds else WAITING_BYTES)
    else:
        up = w.updates
        lam = up.rate
        if up.arrival == "bursty":
            lam *= up.on_period.mean / (up.on_period.mean + up.off_period.mean)
        topics = n if up.scope == "per_client" else 1 if up.scope == "global" else up.topics
        copies = n * lam * D
        where = "workload.updates.rate or clients.count or duration"
        size_b = wire(up.size.mean)
        if up.arrival != "periodic":
            per_client_streams += topics * (1 + _buffered(up.on_period)
                                            + _buffered(up.off_period))
        per_client_streams += topics * _buffered(up.size)
        copy = dict(deliveries=1.0)
        if name == "short_polling":
            polls = n * online * D / p.interval
            terms.append(Term("polls", polls, f"clients.count or duration, or raise {at}.interval",
                              messages=2 * retx, events=EVENTS["short_poll"],
                              up=h.request * retx, down=(h.response + h.body) * retx))
            terms.append(Term("update copies", copies, where, events=EVENTS["short_copy"],
                              down=(size_b + h.item) * retx, **copy))
            per_client_streams += n * (p.jitter > 0)
        elif name in ("long_polling",) or (name == "pubsub" and p.consumer == "pull"):
            if name == "long_polling":
                tau, mb, pause = p.timeout, p.min_bytes, p.retry_delay
            else:
                tau, mb, pause = p.max_wait, 0.0, 0.0
            if mb > 0 and size_b > 0:
                k = math.ceil(mb / size_b)
                wait = min(k / lam, tau)
            else:
                wait = -math.expm1(-lam * tau) / lam if lam * tau < 1e300 else 1 / lam
            polls = n * online * D / max(wait + rtt + pause, 1e-300)
            kind = "fetches" if name == "pubsub" else "polls"
            key = "max_wait" if name == "pubsub" else "timeout"
            terms.append(Term(kind, polls, f"clients.count or duration, or raise {at}.{key}",
                              messages=2 * retx, events=EVENTS["long_poll"],
                              up=h.request * retx, down=(h.response + h.body) * retx))
            ack = name == "pubsub" and p.delivery == "at_least_once"
            terms.append(Term("update copies", copies, where,
                              messages=ack * retx,
                              events=EVENTS["long_copy"] + ack * EVENTS["ack"],
                              up=ack * h.ack * retx, down=(size_b + h.item) * retx,
                              keep=PUBSUB_SEEN_BYTES * (name == "pubsub"), **copy))
        elif name in ("push", "pubsub"):
            ack = (p.prefetch is not None) if name == "push" else p.delivery == "at_least_once"
            terms.append(Term("update copies", copies, where, messages=(1 + ack) * retx,
                              events=EVENTS["push_copy" if name == "push" else "pubsub_copy"]
                              + ack * EVENTS["ack"],
                              up=ack * h.ack * retx, down=(size_b + h.update) * retx,
                              keep=PUBSUB_SEEN_BYTES * (name == "pubsub"), **copy))
        elif name == "sse":
            terms.append(Term("update copies", copies, where, messages=retx,
                              events=EVENTS["sse_copy"], down=(size_b + p.framing) * retx,
                              **copy))
            if p.heartbeat is not None:
                terms.append(Term("heartbeats", n * online * D / p.heartbeat,
                                  f"clients.count or duration, or raise {at}.heartbeat",
                                  messages=retx,
                                  events=EVENTS["heartbeat"], down=p.heartbeat_size * retx))
            restarts = sum(1 for t in p.restart_at if t < D)
            if restarts:
                terms.append(Term("reconnections", n * restarts,
                                  f"clients.count or the restarts ({at}.restart_at)",
                                  messages=(2 + f_n) * retx,
                                  events=EVENTS["request"] + f_n * EVENTS["flight"],
                                  up=(h.request + f_up) * retx,
                                  down=(h.response + f_down) * retx))
        else:  # a pattern this guard does not know: one message per copy, generously
            terms.append(Term("update copies", copies, where, messages=2 * retx,
                              events=2 * EVENTS["long_poll"], down=(size_b + h.update) * retx,
                              **copy))
        if name == "pubsub":
            terms.append(Term("publishes", topics * lam * D, where, messages=retx,
                              events=EVENTS["publish"], on_clients_link=False))
    if getattr(spec, "proxy", None) is not None:  # each message crosses the proxy: twice
        terms = [dataclasses.replace(t, messages=2 * t.messages,
                                     events=t.events + EVENTS["hop"] * t.messages)
                 for t in terms]
    if getattr(spec, "balancer", None) is not None or sc.server.instances > 1:
        # each message crosses the balancer: its latency (and a request its CPU), no message
        terms = [dataclasses.replace(t, events=t.events + EVENTS["hop"] * t.messages)
                 for t in terms]
    per_link = net.topology == "per_client"
    if per_link:
        per_client_streams += n * 2 * (_buffered(net.latency) + (net.loss > 0))
    setup = (n * (CLIENT_BYTES.get(name, DEFAULT_CLIENT_BYTES) + LINK_BYTES * per_link)
             + per_client_streams * BUFFER_BYTES)
    return Estimate(label=spec.label, clients=n, detail=sc.detail, terms=tuple(terms),
                    setup_bytes=setup, backlog_bytes=backlog, links=n if per_link else 1,
                    duration=D, passes=2 if sc.warmup_rule == "mser5" else 1)


def link_load(sc, spec, est: Estimate | None = None) -> tuple[float, float, float]:
    """Offered load of the busiest client link direction: ``(up / bandwidth, down /
    bandwidth, bandwidth)`` from the workload's mean rates and sizes (0 for unlimited)."""
    bw = sc.network.bandwidth
    if not math.isfinite(bw):
        return 0.0, 0.0, bw
    est = est or estimate(sc, spec)
    up, down = est.link_rates()
    return up * 8 / bw, down * 8 / bw, bw


# ---------------------------------------------------------------------------------------------
# The check

def _size(b: float) -> str:
    for unit, k in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= k:
            return f"{b / k:.3g} {unit}"
    return f"{b:.3g} B"


def _time(t: float) -> str:
    if t >= 86400 * 365:
        return f"{t / (86400 * 365):.3g} years"
    if t >= 86400:
        return f"{t / 86400:.3g} days"
    if t >= 3600:
        return f"{t / 3600:.3g} h"
    if t >= 60:
        return f"{t / 60:.3g} min"
    return f"{t:.3g} s"


def check(sc, specs=None, limits: Limits | None = None) -> list[Estimate]:
    """Estimate every entry of *specs* (default: all of *sc*'s) and raise :class:`GuardError`
    if together they need more memory or time than *limits* (default:
    :meth:`Limits.machine`). Returns the estimates.

    The message names the costliest entry, its largest term, both estimates and both limits,
    and what to lower; the error's ``field`` is the first key to lower."""
    specs = sc.variants if specs is None else specs
    limits = limits or Limits.machine()
    ests = [estimate(sc, spec) for spec in specs]
    memory = sum(e.memory for e in ests)
    seconds = sum(e.seconds for e in ests)
    over_memory = not memory <= limits.memory
    if not ests or (not over_memory and seconds <= limits.seconds):
        return ests
    e = max(ests, key=(lambda e: e.memory) if over_memory else (lambda e: e.seconds))
    t = e.biggest("memory" if over_memory else "events")
    if over_memory and e.backlog_bytes >= e.memory / 2:
        fix = ("workload.requests.rate (the server is overloaded: requests pile up waiting "
               "for a worker), or set server.queue_limit")
    elif (e.setup_bytes >= e.memory / 2) if over_memory else (e.setup_seconds >= e.seconds / 2):
        fix = "clients.count"
    else:
        fix = t.field + (", or set detail: summary" if over_memory and sc.detail == "full"
                         else "")
    what = (f"{e.clients:,} client{'s' * (e.clients > 1)}, {t.count:.3g} {t.name} "
            f"({e.messages:.3g} messages, {e.events:.3g} events)")
    need = f"about {_size(e.memory)} of memory and {_time(e.seconds)} of run time"
    if len(ests) > 1:
        need += f" ({_size(memory)} and {_time(seconds)} for all {len(ests)} entries)"
    raise GuardError(fix.split(" ")[0].rstrip(","),
                     f"{e.label}: {what} need {need}; this machine's limits are "
                     f"{_size(limits.memory)} and {_time(limits.seconds)}; lower {fix}, or "
                     "pass --force", e)


# ---------------------------------------------------------------------------------------------
# Calibration: python -m simcomm.guard FILE.yaml ...

def measure(sc, spec, *, memory: bool = True) -> dict:
    """Run entry *spec* of *sc* at ``detail: full`` and count what the estimate predicts:
    SimPy events (``Environment.step`` calls), message and delivery rows, peak traced memory
    (tracemalloc; slow, skipped without *memory*) and wall seconds (untraced when *memory* is
    off)."""
    import gc
    import time
    import tracemalloc

    from .patterns import PATTERNS
    from .world import World

    gc.collect()
    if memory:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    world = World(sc, encoding=getattr(spec.params, "encoding", None), headers=spec.headers,
                  connection=spec.connection)
    PATTERNS[spec.name](spec.params).install(world)
    env, steps = world.env, [0]
    step = env.step

    def counted() -> None:
        steps[0] += 1
        step()

    env.step = counted
    env.run(until=sc.duration)
    seconds = time.perf_counter() - t0
    peak = float("nan")
    if memory:
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    rec = world.recorder
    return {"events": steps[0], "messages": rec.n_messages, "deliveries": len(rec.d_t0),
            "memory": peak, "seconds": seconds}


def calibrate(argv: list[str] | None = None) -> int:
    """Print, for every entry of the scenario files in *argv* (default ``sys.argv[1:]``), the
    estimate next to :func:`measure` (see the module docstring)."""
    import argparse

    from .loader import load_file

    ap = argparse.ArgumentParser(description="Estimate next to measurement, per entry.")
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--no-memory", action="store_true", help="skip tracemalloc (faster)")
    args = ap.parse_args(argv)
    print(f"{'entry':40}{'events':>19}{'messages':>19}{'deliveries':>19}{'memory MB':>15}"
          f"{'seconds':>13}   (estimate/measured)")
    for f in args.files:
        sc = load_file(f, ["detail=full"])
        for spec in sc.variants:
            e, m = estimate(sc, spec), measure(sc, spec, memory=not args.no_memory)
            raw_mem = e.memory - e.row_bytes + e.row_bytes / FRAMES_FACTOR
            print(f"{sc.name[:18] + ':' + spec.label[:21]:40}"
                  f"{e.events:9.3g}/{m['events']:<9.3g}{e.messages:9.3g}/{m['messages']:<9.3g}"
                  f"{e.deliveries:9.3g}/{m['deliveries']:<9.3g}"
                  f"{raw_mem / 1e6:7.3g}/{m['memory'] / 1e6:<7.3g}"
                  f"{e.seconds:6.2g}/{m['seconds']:<6.2g}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(calibrate())
