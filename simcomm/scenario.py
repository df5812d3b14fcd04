"""Scenarios: a validated, frozen description of one world and the pattern(s) to run on it.

This module is the schema; load one from YAML (:func:`simcomm.load_file`) or from the same
structure as a Python dict (:func:`simcomm.load`), both in :mod:`simcomm.loader`. Quantities
take unit strings (see :mod:`simcomm.units`); random quantities take a distribution spec (see
:mod:`simcomm.dists`). Every problem is reported as a
:class:`ScenarioError` whose ``field`` is the dotted path of the offending key, e.g.
``network.bandwidth: must be > 0, got '0Mbps'``.

Example (``examples/api-under-load.yaml``)::

    name: api-under-load
    duration: 300s
    warmup: 30s
    seed: 7
    network: {latency: 25ms, bandwidth: 100Mbps, loss: 0}
    server: {workers: 4, service_time: {dist: exponential, mean: 10ms}}
    clients: {count: 50}
    workload: {requests: {rate: 80/s, arrival: poisson}, request_size: 512B,
               response_size: 2KiB, encoding: json}
    pattern: {name: request_response, client: sync}

``patterns: [..]`` in place of ``pattern:`` runs each entry on the same workload (common random
numbers); an entry may carry ``label:`` to name its row.
"""

from __future__ import annotations

import bisect
import copy
import math
from collections import abc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from ._suggest import did_you_mean
from .components.codec import DEFAULT_ENCODINGS, Encoding
from .components.setup import Setup
from .components.trace import Trace, read_trace
from .components.window import Transport
from .dists import Constant
from .fields import (
    Bandwidth,
    DurationDist,
    Label,
    NonNegDuration,
    NonNegSize,
    PosDuration,
    PosDurationDist,
    PosSize,
    Rate,
    ScenarioError,
    SizeDist,
    Whole,
    short_repr,
)

__all__ = ["MAX_ALIAS_VALUES", "MAX_DEPTH", "PatternSpec", "Scenario", "ScenarioError",
           "apply_overrides", "offered_load", "read_yaml"]


class OwnTopics(abc.Sequence):
    """The subscribers of every topic when each client has its own (``scope: per_client``):
    topic *i* is ``(i,)``, made when asked (a list per client was memory per client)."""

    __slots__ = ("_n",)

    def __init__(self, clients: int) -> None:
        self._n = clients

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, topic):
        if isinstance(topic, slice):
            return [(i,) for i in range(self._n)[topic]]
        if not -self._n <= topic < self._n:
            raise IndexError(topic)
        return (topic % self._n,)

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class BurstsCfg(_Model):
    """Bursty loss: a two-state Gilbert–Elliott chain per link direction, beside the
    independent ``loss`` (see :mod:`simcomm.components.link`)."""

    enter: float = Field(gt=0.0, le=1.0, allow_inf_nan=False)
    """Per segment, the probability of going from the good state to the bad one."""
    leave: float = Field(gt=0.0, le=1.0, allow_inf_nan=False)
    """Per segment, the probability of going back (bursts last 1/leave segments)."""
    loss: float = Field(1.0, ge=0.0, le=1.0, allow_inf_nan=False)
    """Loss probability of a segment in the bad state."""


class Network(_Model):
    """The path between clients and the server."""

    latency: DurationDist = Constant(0.0)
    """One-way propagation latency, drawn per message."""
    bandwidth: Bandwidth = 1e9
    """Per direction; ``unlimited`` for no serialisation delay."""
    loss: float = Field(0.0, ge=0.0, lt=1.0, allow_inf_nan=False)
    """Probability that one copy of a message is lost (then retransmitted after ``rto``)."""
    rto: PosDuration = 0.2
    """Retransmission timeout (TCP's minimum RTO, RFC 6298, by default)."""
    bursts: BurstsCfg | None = None
    """Bursty loss beside ``loss`` (a Gilbert–Elliott chain; default none)."""
    topology: Literal["shared", "per_client"] = "shared"
    """``shared``: one link between all clients and the server (the server's access link);
    ``per_client``: each client has a link of its own."""


class ServerCfg(_Model):
    workers: Whole = Field(1, ge=1)
    """Workers of each instance."""
    service_time: DurationDist = Constant(0.0)
    queue_limit: Whole | None = Field(None, ge=0)
    """Most requests waiting for a worker of an instance; further ones are rejected. None:
    unbounded."""
    instances: Whole = Field(1, ge=1)
    """Identical instances behind a load balancer (``balancer:``); each has ``workers``
    workers, its own queue and its own service-time stream."""


class RestartsCfg(_Model):
    """Instance restarts: at given times, or drawn as a Poisson process at ``rate``."""

    at: list[PosDuration] = Field(default_factory=list)
    """Times of the restarts (each instance in ``instances`` restarts at each)."""
    rate: Rate | None = None
    """Restarts per second of each instance in ``instances``, at exponential gaps (instead of,
    or beside, ``at``)."""
    downtime: DurationDist = Constant(0.0)
    """How long an instance is down after each restart (drawn per restart)."""
    instances: list[Annotated[int, Field(ge=0)]] | None = None
    """Which instances restart (numbers from 0; default: every instance)."""
    crash: bool = False
    """A crash rather than a graceful restart: the work on the instance's workers and the
    requests waiting for one are lost — each answered with an error."""


class SlowCfg(_Model):
    """A slow episode: an instance's service times are multiplied by ``factor`` while it
    lasts (a noisy neighbour, a garbage-collection storm, a cold cache)."""

    at: NonNegDuration = 0.0
    """When it starts (with ``rate``: when the first may start)."""
    duration: PosDuration | None = None
    """How long (default: to the end of the run; needed with ``rate``)."""
    factor: float = Field(gt=0, allow_inf_nan=False)
    instance: Annotated[int, Field(ge=0)] = 0
    rate: Rate | None = None
    """Instead of one episode: episodes starting at exponential gaps (this many per second,
    from ``at``), each lasting ``duration``."""

    @model_validator(mode="after")
    def _check(self) -> SlowCfg:
        if self.rate is not None and self.duration is None:
            raise ValueError("@duration@ episodes at a rate need a duration each")
        return self

    def windows(self, end: float, draw) -> list[tuple[float, float]]:
        """The episodes ``[start, stop)`` up to *end* (*draw(mean)*: an exponential gap)."""
        return _windows(self.at, self.duration, self.rate, end, draw)


def _windows(at: float, duration: float | None, rate: float | None, end: float,
             draw) -> list[tuple[float, float]]:
    """One window from *at* (for *duration*, or to *end*), or windows starting at
    exponential gaps of mean 1/*rate* from *at* (*draw(mean)* draws a gap), up to *end*."""
    if rate is None:
        return [(at, end if duration is None else at + duration)]
    out, t = [], at + draw(1.0 / rate)
    while t < end:
        out.append((t, t + duration))
        t += draw(1.0 / rate)
    return out


class PartitionCfg(_Model):
    """A network partition: for a while nothing gets through, one way or both — between
    (some) clients and the server, or between the load balancer and (some) instances."""

    at: NonNegDuration = 0.0
    """When it starts (with ``rate``: when the first may start)."""
    duration: PosDuration
    direction: Literal["both", "up", "down"] = "both"
    """``up``: clients → server cut; ``down``: server → clients; ``both``."""
    rate: Rate | None = None
    """Instead of one partition: partitions starting at exponential gaps (this many per
    second, from ``at``), each lasting ``duration``."""
    clients: list[Annotated[int, Field(ge=0)]] | None = None
    """Which clients are cut off (numbers from 0; default: all). Needs
    ``network.topology: per_client`` (a shared link is cut for all)."""
    instances: list[Annotated[int, Field(ge=0)]] | None = None
    """Instead of clients: the instances cut off from the load balancer (numbers from 0);
    ``up`` is balancer → instance."""

    def windows(self, end: float, draw) -> list[tuple[float, float]]:
        """The partitions ``[start, stop)`` up to *end* (*draw(mean)*: an exponential gap)."""
        return _windows(self.at, self.duration, self.rate, end, draw)


class FaultsCfg(_Model):
    """What goes wrong with the server's instances (see :mod:`simcomm.components.server`)
    and the network between them and the clients."""

    restarts: RestartsCfg | None = None
    slow: list[SlowCfg] = Field(default_factory=list)
    failure: float = Field(0.0, ge=0.0, lt=1.0, allow_inf_nan=False)
    """Probability that a request is answered with an error after its work (an HTTP 500):
    the worker time is spent, nothing is delivered."""
    partitions: list[PartitionCfg] = Field(default_factory=list)
    """Network partitions between clients and the server."""


class StateCfg(_Model):
    """Where a session's state lives (see :mod:`simcomm.components.state`)."""

    mode: Literal["stateful", "stateless", "store"] = "stateful"
    """``stateful``: in the memory of the instance that served the login (later requests
    must reach it; a restart loses it); ``stateless``: a self-contained token in every
    request, verified by any instance; ``store``: in an external session store that every
    request consults."""
    token_size: NonNegSize = 800.0
    """stateless: bytes the token adds to every request (a signed JWT with a few claims)."""
    verify: NonNegDuration = 30e-6
    """stateless: server CPU to verify a token's signature, per request (an ECDSA or RSA
    verification: tens of µs)."""
    lifetime: PosDuration = 900.0
    """How long a session (a token) is valid after its login (15 min)."""
    revoke_after: PosDurationDist | None = None
    """Each session is revoked (an administrator, a password change) this long after its
    login, if still in use (default: never). A stateful or store-backed server knows at
    once; a stateless token keeps working until it expires."""
    store_latency: NonNegDuration = 0.0005
    """store: one-way latency server ↔ store."""
    store_service: DurationDist = Constant(100e-6)
    """store: time of one lookup on a store worker."""
    store_workers: Whole = Field(4, ge=1)
    store_failure: float = Field(0.0, ge=0.0, lt=1.0, allow_inf_nan=False)
    """store: probability that a lookup fails (the request is answered with an error)."""

    @model_validator(mode="after")
    def _check(self) -> StateCfg:
        given = self.model_fields_set
        only = {"stateless": {"token_size", "verify"},
                "store": {"store_latency", "store_service", "store_workers", "store_failure"}}
        for mode, keys in only.items():
            wrong = sorted(given & keys) if self.mode != mode else []
            if wrong:
                raise ValueError(f"@{wrong[0]}@ applies to mode {mode} (mode is {self.mode})")
        return self


class BreakerCfg(_Model):
    """A circuit breaker: after ``failures`` failed tries in a row it opens and fails
    requests at once for ``open_for``; then one trial request goes through (half-open): its
    success closes it, its failure opens it again."""

    failures: Whole = Field(5, ge=1)
    open_for: PosDuration = 5.0


class ResilienceCfg(_Model):
    """Timeouts, retries, a circuit breaker and a response cache around each request-response
    exchange — in the client (a library) or in its sidecar (see
    :mod:`simcomm.components.resilience`)."""

    timeout: PosDuration | None = None
    """Per try: a try with no answer this long after it was sent has failed (the server may
    still be working on it)."""
    deadline: PosDuration | None = None
    """Overall: no try starts, and no answer is awaited, after this long since the request
    was issued."""
    retries: Whole = Field(0, ge=0)
    """Most retries per request (its budget): a failed try (an error, a refusal, a timeout)
    is tried again up to this many times."""
    backoff: NonNegDuration = 0.025
    """Before retry k: backoff·2^(k−1), at most ``backoff_max`` …"""
    backoff_max: PosDuration = 1.0
    jitter: bool = True
    """… drawn uniformly below that (\"full jitter\"), so retries of many clients spread out."""
    breaker: BreakerCfg | None = None
    cache: float = Field(0.0, ge=0.0, lt=1.0, allow_inf_nan=False)
    """Share of requests answered from a local response cache (hit ratio): no network, no
    server work."""

    @model_validator(mode="after")
    def _check(self) -> ResilienceCfg:
        given = self.model_fields_set
        if self.retries and self.timeout is None and self.deadline is None:
            raise ValueError("@timeout@ retries need a per-try timeout (or an overall "
                             "deadline): without one a try that never answers (a partition, a "
                             "lost answer) is never retried and the caller waits forever")
        if self.retries == 0 and given & {"backoff", "backoff_max", "jitter"}:
            raise ValueError("@retries@ backoff, backoff_max and jitter apply to retries: set "
                             "retries (the most retries per request)")
        if self.backoff > self.backoff_max:
            raise ValueError(f"@backoff_max@ must be ≥ backoff ({self.backoff:g}s)")
        return self


class SidecarCfg(_Model):
    """A sidecar proxy beside the client and another beside the server (a service mesh):
    each message crosses both, paying a loopback hop and the proxy's CPU at each (see
    :mod:`simcomm.components.sidecar`)."""

    cpu: DurationDist = Constant(50e-6)
    """Proxy CPU per message at each sidecar (Envoy: tens of µs; more with mTLS)."""
    latency: DurationDist = Constant(20e-6)
    """One-way loopback hop between an application and its sidecar."""
    workers: Whole = Field(2, ge=1)
    """Workers of the server-side sidecar (the clients' sidecars each serve one client)."""


class BalancerCfg(_Model):
    """A load balancer between the clients and the server's instances (see
    :mod:`simcomm.components.balancer`)."""

    policy: Literal["round_robin", "least_outstanding", "random", "sticky",
                    "consistent_hash"] = "round_robin"
    """Which instance a request goes to: ``round_robin`` (in turn), ``least_outstanding``
    (fewest requests routed there and not answered yet; ties in turn), ``random`` (uniform),
    ``sticky`` (a session's requests to the instance of its login: the ``workflow`` pattern),
    ``consistent_hash`` (by client, on a ring of 100 virtual nodes per instance)."""
    cpu: DurationDist = Constant(0.0)
    """Balancer CPU per request (a worker's seconds): tens of µs for an L7 balancer."""
    workers: Whole = Field(1, ge=1)
    """The balancer's workers (each request takes one for its CPU)."""
    latency: DurationDist = Constant(0.0)
    """One-way latency balancer ↔ instance, per message, each way."""



class ClientsCfg(_Model):
    count: Whole = Field(1, ge=1)
    session: PosDurationDist | None = None
    """Online session length; with ``gap``, clients alternate online/offline (default: always
    online). Every client starts online."""
    gap: PosDurationDist | None = None
    """Offline gap length between sessions."""
    capacity: Rate | None = None
    """Updates a client can process per second (constant time 1/capacity each); default:
    unlimited (an update is processed the moment it arrives)."""
    buffer: Whole | None = Field(None, ge=0)
    """Most updates waiting in a client's inbound buffer (beyond the one being processed);
    further arrivals are dropped and counted as lost. Default: unbounded."""

    @model_validator(mode="after")
    def _sessions(self) -> ClientsCfg:
        if (self.session is None) != (self.gap is None):
            raise ValueError("@session@ give both session and gap (online/offline lengths), "
                             "or neither (always online)")
        return self


class Requests(_Model):
    """Where client requests come from: exactly one of

    * ``rate`` (total over the clients) or ``per_client_rate``, with ``arrival: poisson`` or
      ``periodic`` — open loop;
    * ``batch: N`` with ``every: T`` — open loop, page loads: each client issues N requests
      at the same instant every T, its first batch at a phase drawn uniformly in [0, T) from
      a stream of its own (``workload.batch.phase.<i>``);
    * ``trace: file.csv`` (``column``, ``size_column``, ``client_column``) — open loop,
      recorded arrivals replayed (see :mod:`simcomm.components.trace`);
    * ``think_time`` — closed loop.

    ``arrival`` applies to ``rate``/``per_client_rate`` only: a batch workload is periodic by
    construction and a trace has its own times.
    """

    rate: Rate | None = None
    per_client_rate: Rate | None = None
    arrival: Literal["poisson", "periodic"] = "poisson"
    think_time: PosDurationDist | None = None
    batch: Whole | None = Field(None, ge=1)
    """Requests each client issues together (a page load)."""
    every: PosDuration | None = None
    """Time between a client's batches."""
    trace: str | None = None
    """A CSV of arrival times to replay (relative to the scenario file)."""
    column: str | None = None
    """The trace's column of times, seconds from the start of the run (default: the first)."""
    size_column: str | None = None
    """The trace's column of request payload sizes (replacing ``workload.request_size``)."""
    client_column: str | None = None
    """The trace's column of client indices (default: row i goes to client i mod count)."""
    _arrivals: Trace | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_mode(self, info: ValidationInfo) -> Requests:
        given = [k for k in ("rate", "per_client_rate", "batch", "trace", "think_time")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of rate (total, open loop), per_client_rate "
                             "(open loop), batch (with every: page loads), trace (recorded "
                             "arrivals) or think_time (closed loop)"
                             + (f"; got {' and '.join(given)}" if given else ""))
        mode = given[0]
        if mode in ("batch", "trace") and "arrival" in self.model_fields_set:
            raise ValueError(f"@arrival@ applies to rate and per_client_rate only (a {mode} "
                             "workload has its own arrival times)")
        if (mode == "batch") != (self.every is not None):
            raise ValueError("@every@ missing: a batch workload needs every (the time "
                             "between a client's batches)" if mode == "batch" else
                             "@every@ applies to batch only")
        for key in ("column", "size_column", "client_column"):
            if getattr(self, key) is not None and mode != "trace":
                raise ValueError(f"@{key}@ applies to trace only")
        if mode == "trace":
            base = (info.context or {}).get("base_dir")
            try:
                self._arrivals = read_trace(self.trace, base_dir=base, column=self.column,
                                            size_column=self.size_column,
                                            client_column=self.client_column)
            except ScenarioError as e:
                raise ValueError(f"@{e.field}@ {e.message}") from None
        return self

    @property
    def closed(self) -> bool:
        return self.think_time is not None

    @property
    def arrivals(self) -> Trace | None:
        """The trace's arrivals (read when the scenario was loaded), or None."""
        return self._arrivals

    def mean_rate(self, clients: int, duration: float) -> float:
        """Requests per second over all *clients* (open loop; NaN for closed loop)."""
        if self.rate is not None:
            return self.rate
        if self.per_client_rate is not None:
            return self.per_client_rate * clients
        if self.batch is not None:
            return self.batch * clients / self.every
        if self._arrivals is not None:
            return bisect.bisect_left(self._arrivals.times, duration) / duration
        return math.nan


class Updates(_Model):
    """Updates created on the server side, to be delivered to clients.

    Each update belongs to a *topic*; every client subscribed to the topic must receive it.
    ``scope: per_client`` — one topic per client (client i subscribes to topic i);
    ``global`` — one topic, every client subscribed; ``per_topic`` — ``topics`` topics, client
    i subscribed to topic i mod topics. ``rate`` is per topic (per client for ``per_client``).
    """

    scope: Literal["per_client", "per_topic", "global"] = "per_client"
    topics: Whole = Field(1, ge=1)
    """Number of topics (``per_topic`` only)."""
    rate: Rate
    """Updates per second of each topic; for ``bursty``, the rate inside an ON period."""
    arrival: Literal["poisson", "periodic", "bursty"] = "poisson"
    on_period: PosDurationDist | None = None
    """``bursty``: length of ON periods (Poisson updates at ``rate``). (Not ``on``: YAML reads
    a bare ``on`` key as the boolean true.)"""
    off_period: PosDurationDist | None = None
    """``bursty``: length of OFF periods (no updates)."""
    size: SizeDist = Constant(512.0)
    """Update payload, as JSON-sized bytes."""

    @model_validator(mode="after")
    def _check(self) -> Updates:
        if self.arrival == "bursty" and (self.on_period is None or self.off_period is None):
            raise ValueError("@on_period@ bursty updates need on_period and off_period")
        if self.arrival != "bursty" and (self.on_period or self.off_period):
            raise ValueError("@on_period@ on_period/off_period apply to arrival: bursty only")
        if self.scope != "per_topic" and "topics" in self.model_fields_set:
            raise ValueError("@topics@ applies to scope: per_topic only")
        return self

    def subscribers(self, clients: int) -> Sequence[Sequence[int]]:
        """Subscribers (client indices) of each topic."""
        if self.scope == "per_client":
            return OwnTopics(clients)
        if self.scope == "global":
            return [list(range(clients))]
        return [list(range(t, clients, self.topics)) for t in range(self.topics)]


class Workload(_Model):
    requests: Requests | None = None
    """Client-initiated requests (request-response patterns)."""
    updates: Updates | None = None
    """Server-side updates (push, polling, SSE, pub/sub)."""
    request_size: SizeDist | None = None
    """Request payload, as JSON-sized bytes; omit it for a request without a body."""
    response_size: SizeDist | None = None
    """Response payload, as JSON-sized bytes; omit it for a response without a body."""
    encoding: str = "json"


class Headers(_Model):
    """Header bytes per message (HTTP/1.1-like defaults: an API request with a token, cookies
    and content headers is a few hundred bytes; curl's bare GET is ~80)."""

    request: NonNegSize = 400.0
    response: NonNegSize = 300.0
    update: NonNegSize = 8.0
    """Framing of a pushed update on an open connection (a WebSocket frame header is 2–14
    bytes)."""
    ack: NonNegSize = 8.0
    """An acknowledgement message (a small frame; no payload)."""
    body: NonNegSize = 2.0
    """Framing of a response body that lists items — a poll or fetch answer, empty or not
    (a JSON array's ``[`` and ``]``)."""
    item: NonNegSize = 1.0
    """Framing per item listed in such a body (a JSON separator; n items cost body + n·item,
    one byte more than JSON's n − 1 commas)."""


def _tls_version(v: Any) -> Any:
    # YAML reads an unquoted 1.3 as a float: accept it as the version string it means
    return f"{v:.1f}" if isinstance(v, float) else v


class ConnectionCfg(_Model):
    """How a client reaches the server: what a new connection costs, and when one is opened.

    Warm keep-alive connections (the defaults) cost nothing until they drop (a client going
    offline, a server restart): the new connection that replaces one pays its handshake. See
    :mod:`simcomm.components.setup` for the handshake flights and their sources."""

    protocol: Literal["h1", "h2", "h3"] = "h1"
    """``h1``: HTTP/1.1 over TCP (+ TLS), one exchange at a time per connection, a pool per
    client; ``h2``: HTTP/2 over TCP, streams on one connection, compressed headers; ``h3``:
    HTTP/3 over QUIC (TLS 1.3 inside), the same. See :mod:`simcomm.components.pool`; for
    segments, congestion windows and loss, :mod:`simcomm.components.window`."""
    tls: Annotated[Literal["none", "1.2", "1.3"], BeforeValidator(_tls_version)] = "1.3"
    reuse: Literal["keepalive", "per_request"] = "keepalive"
    """``per_request``: every request-driven exchange opens a connection of its own."""
    warm: bool = True
    """Open and hot before the run; false: opened (with its handshake) on first use."""
    zero_rtt: bool = False
    """Resumed connections send the request in the first flight (TLS 1.3 early data, QUIC
    0-RTT)."""
    idle_timeout: PosDuration | None = None
    """A connection with no exchange for this long closes; the next request opens a new one
    (default: never; nginx's keepalive_timeout is 75 s, Apache's KeepAliveTimeout 5 s)."""
    pool: Whole = Field(6, ge=1)
    """h1: most connections per client (browsers open 6 per origin); further requests wait
    for one."""
    pipelining: bool = False
    """h1: send the next request before the previous response arrived (responses come back
    in request order); off in every major browser."""
    max_streams: Whole = Field(100, ge=1)
    """h2/h3: most concurrent streams on one connection (SETTINGS_MAX_CONCURRENT_STREAMS:
    100 in nginx and Go)."""
    mss: PosSize = 1460.0
    """Segment payload: a message travels as ⌈bytes / mss⌉ segments (1460 B on a 1500 B
    Ethernet MTU; 1448 B with TCP timestamps)."""
    initial_window: Whole = Field(10, ge=1)
    """Segments a new connection may send in its first round trip (RFC 6928); the window
    then grows by slow start. A connection that stays open keeps its window."""
    slow_start_after_idle: bool = False
    """Reset a kept connection's window to ``initial_window`` after it was idle longer than
    the RTO (Linux's default, ``net.ipv4.tcp_slow_start_after_idle = 1``; servers often turn
    it off, which is the default here)."""
    mtls: bool = False
    """Mutual TLS: a new connection's full handshake also carries the client's certificate
    chain (3.3 KB; a service mesh's sidecars authenticate each other this way). Needs TLS."""
    tail_loss_probe: bool = False
    """TCP: a lost last segment is probed after two round trips (RACK-TLP, RFC 8985; Linux
    sends such probes) instead of waiting for the RTO. Off by default: the classic RTO
    recovery. QUIC (h3) always probes (its probe timeout) and ignores it."""

    @model_validator(mode="after")
    def _check(self) -> ConnectionCfg:
        given = self.model_fields_set
        if self.protocol == "h3" and "tls" in given and self.tls != "1.3":
            raise ValueError(f"@tls@ h3 is always TLS 1.3 inside QUIC; got {self.tls!r} (drop "
                             "tls, or use protocol h1/h2)")
        if self.mtls and self.protocol != "h3" and self.tls == "none":
            raise ValueError("@mtls@ mutual TLS needs TLS: set tls to \"1.2\" or \"1.3\"")
        if self.zero_rtt and self.protocol != "h3" and self.tls != "1.3":
            raise ValueError(f"@zero_rtt@ 0-RTT needs TLS 1.3 (or h3); tls is {self.tls!r}")
        if self.reuse == "per_request" and "warm" in given:
            raise ValueError("@warm@ applies to reuse: keepalive only (per_request opens a "
                             "connection for every request)")
        if self.reuse == "per_request" and "idle_timeout" in given:
            raise ValueError("@idle_timeout@ applies to reuse: keepalive only")
        if self.protocol != "h1" and "pipelining" in given:
            raise ValueError(f"@pipelining@ applies to protocol h1 only ({self.protocol} "
                             "multiplexes streams instead)")
        if self.protocol != "h1" and "pool" in given:
            raise ValueError(f"@pool@ applies to protocol h1 only ({self.protocol} uses one "
                             "connection per client; see max_streams)")
        if self.protocol == "h1" and "max_streams" in given:
            raise ValueError("@max_streams@ applies to protocol h2/h3 only (h1: pool)")
        return self

    def setup(self):
        """The :class:`~simcomm.components.setup.Setup` this configuration describes."""
        return Setup(protocol=self.protocol, tls=self.tls, zero_rtt=self.zero_rtt,
                     mtls=self.mtls)

    def transport(self) -> Transport:
        """The :class:`~simcomm.components.window.Transport` of its connections."""
        return Transport(mss=self.mss, initial_window=self.initial_window,
                         quic=self.protocol == "h3",
                         slow_start_after_idle=self.slow_start_after_idle,
                         tail_loss_probe=self.tail_loss_probe)



class ProxyCfg(_Model):
    """A demultiplexing proxy between the clients and the server (Envoy, nginx): it terminates
    the clients' connections and spreads their requests over a pool of backend connections.
    See :mod:`simcomm.components.proxy`."""

    workers: Whole = Field(1, ge=1)
    """The proxy's workers (each request takes one for its CPU)."""
    cpu: DurationDist = Constant(50e-6)
    """Worker seconds per request (routing: tens of µs for Envoy; more with TLS termination)."""
    pool: Whole = Field(8, ge=1)
    """Most backend connections (HTTP/1.1: one request each at a time)."""
    reuse: Literal["keepalive", "per_request"] = "keepalive"
    """``keepalive``: backend connections are kept (a hot pool); ``per_request``: a new one
    for every request."""
    tls: Annotated[Literal["none", "1.2", "1.3"], BeforeValidator(_tls_version)] = "none"
    """TLS on the backend leg (inside a data centre: often none)."""
    warm: bool = True
    """The first backend connection is open before the run (the others open on demand)."""
    latency: DurationDist = Constant(0.0005)
    """One-way latency proxy → server (0.5 ms: the same data centre)."""
    bandwidth: Bandwidth = 10e9
    """Per direction, proxy ↔ server."""

    def setup(self):
        return Setup(protocol="h1", tls=self.tls)

class EncodingCfg(_Model):
    size_factor: float = Field(gt=0, allow_inf_nan=False)
    parse_per_kib: NonNegDuration
    serialise_per_kib: NonNegDuration


@dataclass(frozen=True)
class PatternSpec:
    """A validated pattern entry: the registered *name*, its *params*, a row *label* and the
    *headers* its messages carry (the scenario's, or the entry's own ``headers:``)."""

    name: str
    label: str
    params: Any
    headers: Headers | None = None
    connection: ConnectionCfg | None = None
    proxy: ProxyCfg | None = None
    balancer: BalancerCfg | None = None
    resilience: ResilienceCfg | None = None
    sidecar: SidecarCfg | None = None
    state: StateCfg | None = None


def _warmup(v: Any) -> Any:
    if isinstance(v, str) and not any(c.isdigit() for c in v):  # not a duration at all
        raise ValueError(f"give a duration (e.g. '30s') or mser5 (each run finds its own "
                         f"warm-up), got {v!r}")
    return v


Warmup = Annotated[NonNegDuration, BeforeValidator(_warmup)]


class Scenario(_Model):
    name: Label = "scenario"
    duration: PosDuration
    warmup: Warmup = 0.0
    """The start of the measurement window; ``warmup: mser5`` lets each run choose it (below)."""
    warmup_rule: Literal["fixed", "mser5"] = "fixed"
    """``mser5`` (written ``warmup: mser5``): each pattern entry's run finds its own warm-up by
    the MSER-5 rule on its delivery latencies (:func:`simcomm.stats.mser`), then runs again
    with it; the result's ``scenario.warmup`` is the one found."""
    seed: Whole = Field(0, ge=0)
    detail: Literal["full", "summary"] = "full"
    """``summary`` keeps only what the metrics need (no per-message frames): for sweeps."""
    latency_sketch: float | None = Field(None, gt=0, lt=1)
    """With ``detail: summary``: keep the latencies in a streaming sketch of this relative
    accuracy (e.g. 0.01) instead of every one (:mod:`simcomm.metrics.sketch`); None keeps
    them all."""
    network: Network = Network()
    server: ServerCfg = ServerCfg()
    clients: ClientsCfg = ClientsCfg()
    headers: Headers = Headers()
    connection: ConnectionCfg = ConnectionCfg()
    proxy: ProxyCfg | None = None
    """A demultiplexing proxy in the path (none by default)."""
    balancer: BalancerCfg | None = None
    """A load balancer in front of the instances (default: none for one instance, a
    round-robin one with no cost for several)."""
    faults: FaultsCfg = FaultsCfg()
    """Restarts, slow episodes and failing requests of the server's instances."""
    resilience: ResilienceCfg | None = None
    """Timeouts, retries, a circuit breaker, a cache around each request (none)."""
    sidecar: SidecarCfg | None = None
    """A sidecar proxy pair in the path (none)."""
    state: StateCfg | None = None
    """Where sessions live, for the ``workflow`` pattern (default: stateful)."""
    encodings: dict[str, EncodingCfg] = {}
    workload: Workload
    pattern: dict[str, Any] | None = None
    patterns: list[dict[str, Any]] | None = None
    _variants: tuple[PatternSpec, ...] = PrivateAttr(default=())

    @model_validator(mode="before")
    @classmethod
    def _mser5(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("warmup"), str) \
                and data["warmup"].strip().lower() == "mser5":
            if data.get("warmup_rule", "mser5") != "mser5":
                raise ValueError("@warmup_rule@ contradicts warmup: mser5; give one of them")
            data = {**data, "warmup": 0.0, "warmup_rule": "mser5"}
        return data

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        if self.latency_sketch is not None and self.detail != "summary":
            raise ValueError("@latency_sketch@ needs detail: summary (full detail keeps every "
                             "delivery anyway); set detail: summary or drop latency_sketch")
        if self.latency_sketch is not None and self.warmup_rule == "mser5":
            raise ValueError("@latency_sketch@ cannot go with warmup: mser5, which needs the "
                             "latencies in order; give a fixed warmup or drop latency_sketch")
        if self.warmup >= self.duration:
            raise ValueError("@warmup@ must be < duration "
                             f"({self.warmup:g}s >= {self.duration:g}s)")
        if self.workload.encoding not in self.encoding_table:
            known = ", ".join(sorted(self.encoding_table))
            raise ValueError(f"@workload.encoding@ unknown encoding {self.workload.encoding!r}"
                             f"{did_you_mean(self.workload.encoding, self.encoding_table)} "
                             f"(known: {known})")
        up = self.workload.updates
        if up is not None and up.scope == "per_topic" and up.topics > self.clients.count:
            raise ValueError(f"@workload.updates.topics@ {up.topics} topics but only "
                             f"{self.clients.count} clients: topic {self.clients.count} would "
                             "have no subscriber; use at most clients.count topics")
        tr = self.workload.requests.arrivals if self.workload.requests else None
        if tr is not None and tr.clients is not None and max(tr.clients) >= self.clients.count:
            i = next(i for i, c in enumerate(tr.clients) if c >= self.clients.count)
            raise ValueError(f"@workload.requests.client_column@ line {tr.lines[i]} of "
                             f"{tr.path!r}: client {tr.clients[i]}, but there are "
                             f"{self.clients.count} clients (numbered from 0)")
        n = self.server.instances
        f = self.faults
        for i, ep in enumerate(f.slow):
            if ep.instance >= n:
                raise ValueError(f"@faults.slow.{i}.instance@ instance {ep.instance}, but there "
                                 f"are {n} (numbered from 0): see server.instances")
            if ep.at >= self.duration:
                raise ValueError(f"@faults.slow.{i}.at@ {ep.at:g}s is not before the end of "
                                 f"the run ({self.duration:g}s)")
        for i, part in enumerate(f.partitions):
            if part.at >= self.duration:
                raise ValueError(f"@faults.partitions.{i}.at@ {part.at:g}s is not before the "
                                 f"end of the run ({self.duration:g}s)")
            for j, c in enumerate(part.clients or ()):
                if c >= self.clients.count:
                    raise ValueError(f"@faults.partitions.{i}.clients.{j}@ client {c}, but "
                                     f"there are {self.clients.count} (numbered from 0)")
            if part.instances is not None:
                if part.clients is not None:
                    raise ValueError(f"@faults.partitions.{i}.instances@ a partition cuts "
                                     "clients from the server or instances from the "
                                     "balancer: give clients or instances, not both")
                if n == 1 and self.balancer is None:
                    raise ValueError(f"@faults.partitions.{i}.instances@ cuts instances from "
                                     "a load balancer, and there is none: give "
                                     "server.instances > 1 or a balancer")
                for j, inst in enumerate(part.instances):
                    if inst >= n:
                        raise ValueError(f"@faults.partitions.{i}.instances.{j}@ instance "
                                         f"{inst}, but there are {n} (numbered from 0): see "
                                         "server.instances")
            if part.clients is not None and self.network.topology == "shared":
                raise ValueError(f"@faults.partitions.{i}.clients@ one shared link carries "
                                 "every client: cut some clients off with network.topology: "
                                 "per_client, or drop clients to cut all")
        if f.restarts is not None:
            for i, inst in enumerate(f.restarts.instances or ()):
                if inst >= n:
                    raise ValueError(f"@faults.restarts.instances.{i}@ instance {inst}, but "
                                     f"there are {n} (numbered from 0): see server.instances")
            for i, t in enumerate(f.restarts.at):
                if t >= self.duration:
                    raise ValueError(f"@faults.restarts.at.{i}@ {t:g}s is not before the end "
                                     f"of the run ({self.duration:g}s)")
        if self.workload.requests is None and up is None:
            raise ValueError("@workload.requests@ missing: give workload.requests (clients "
                             "send requests) and/or workload.updates (the server has updates)")
        if (self.pattern is None) == (self.patterns is None):
            raise ValueError("@pattern@ give exactly one of pattern: {..} or patterns: [..]")
        if self.patterns is not None and not self.patterns:
            raise ValueError("@patterns@ must list at least one pattern")
        return self

    @property
    def encoding_table(self) -> dict[str, Encoding]:
        table = dict(DEFAULT_ENCODINGS)
        for name, e in self.encodings.items():
            table[name] = Encoding(name, e.size_factor, e.parse_per_kib, e.serialise_per_kib)
        return table

    @property
    def variants(self) -> tuple[PatternSpec, ...]:
        """The validated pattern entries (set by :func:`load`)."""
        return self._variants


# ---------------------------------------------------------------------------------------------
# Errors



def _fields_at(model: type[BaseModel], loc: tuple) -> list[str] | None:
    """Field names of the model reached by *loc* (for did-you-mean on unknown keys, and to
    say what a section holds); list indices and the keys of a ``dict[str, Model]`` field
    (``encodings.NAME``) are stepped over."""
    dict_key = False
    for part in loc:
        if isinstance(part, int):
            continue
        if dict_key:
            dict_key = False
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        candidates = [ann, *(inner or ())]
        nxt = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)),
                   None)
        if nxt is None:
            return None
        dict_key = getattr(ann, "__origin__", None) is dict
        model = nxt
    return list(model.model_fields)


_ENTRY = "a pattern entry: a mapping with a name, e.g. {name: request_response}"
_EXPECTED = {  # what a section given as a scalar (or a list) should have been, in user terms
    ("pattern",): _ENTRY,
    ("patterns",): "a list of pattern entries, e.g. [{name: short_polling}, {name: sse}]",
    ("encodings",): "a mapping of encoding names to {size_factor, parse_per_kib, "
                    "serialise_per_kib}",
}


_SHOW_INPUT = {"literal_error", "enum", "int_parsing", "float_parsing", "int_type", "float_type",
               "int_from_float", "greater_than", "greater_than_equal", "less_than", "bool_type",
               "bool_parsing", "string_type", "dict_type", "list_type", "finite_number"}


def _format(err: dict, model: type[BaseModel], prefix: str = "") -> ScenarioError:
    loc = tuple(err["loc"])
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    path = [str(p) for p in loc]
    if msg.startswith("@"):
        sub, _, msg = msg[1:].partition("@ ")
        path = [*path, sub]
    if err["type"] == "extra_forbidden":
        options = _fields_at(model, loc[:-1]) or []
        msg = f"unknown key{did_you_mean(loc[-1], options)}"
        if options:
            msg += f" (allowed here: {', '.join(options)})"
    elif err["type"] == "missing":
        msg = "missing (required)"
    elif err["type"] in ("model_type", "model_attributes_type", "dict_type", "list_type"):
        # a scalar where a section is expected: say what the section holds, not the class
        key = tuple(p for p in loc if not isinstance(p, int))
        options = _fields_at(model, loc) if err["type"] != "dict_type" else None
        if loc and isinstance(loc[-1], int) and key == ("patterns",):
            want = _ENTRY
        elif key in _EXPECTED:
            want = _EXPECTED[key]
        elif options:
            want = f"a mapping of {'.'.join(map(str, key))} keys ({', '.join(options)})"
        elif err["type"] == "list_type":
            want = "a list [..]"
        else:
            want = "a mapping (key: value)"
        msg = f"expected {want}, got {short_repr(err.get('input'))}"
    elif err["type"] in _SHOW_INPUT:
        msg += f", got {short_repr(err.get('input'))}"
    field = ".".join(p for p in path if p)
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    return ScenarioError(field, msg)


def _raise(e: ValidationError, model: type[BaseModel], prefix: str = "") -> None:
    errors = e.errors(include_url=False)
    first = _format(errors[0], model, prefix)
    if len(errors) > 1:
        first = ScenarioError(first.field, f"{first.message} (and {len(errors) - 1} more "
                              "problem(s); fix this one first)")
    raise first from None


# ---------------------------------------------------------------------------------------------
# Loading

MAX_DEPTH = 32
"""Deepest nesting of a scenario file (a scenario needs about six levels)."""
MAX_ALIAS_VALUES = 10_000
"""Most values YAML aliases (``*name``, ``<<: *name``) may add to a file, once expanded."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing while it composes the file — before anything is
    expanded or built — what a scenario never needs and a hostile file would use:

    * nesting deeper than :data:`MAX_DEPTH` (PyYAML recurses once per level);
    * aliases that, expanded, add more than :data:`MAX_ALIAS_VALUES` values (an alias bomb:
      nine aliases of nine aliases of … are a billion values), or an alias inside its own
      anchor (a value that never ends);
    * a key given twice in one mapping (YAML would silently keep the last).

    Each is a :class:`ScenarioError` naming the key path where it happens.
    """

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._path: list[str] = []
        self._size: dict[int, int] = {}  # id(node) -> values in it, aliases expanded
        self._height: dict[int, int] = {}  # id(node) -> levels below it, aliases expanded
        self._open: set[str] = set()  # anchors whose node is being composed
        self._expanded = 0  # values added by aliases so far

    def _deep(self, line: int) -> ScenarioError:
        return ScenarioError(".".join(self._path), f"nested more than {MAX_DEPTH} levels deep "
                             f"(line {line}); a scenario needs a handful")

    def compose_node(self, parent, index):
        if parent is None:
            return self._compose(parent, index)
        if isinstance(index, yaml.ScalarNode):
            self._path.append(str(index.value))
        else:  # a list index, or a mapping's key (index None) or complex key
            self._path.append(str(index) if isinstance(index, int) else "(key)")
        try:
            return self._compose(parent, index)
        finally:
            self._path.pop()

    def _compose(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1
        if len(self._path) > MAX_DEPTH:
            raise self._deep(line)
        if isinstance(event, yaml.AliasEvent):
            anchor = event.anchor
            if anchor in self._open:
                raise ScenarioError(".".join(self._path), f"the alias *{anchor} (line {line}) "
                                    f"is inside its own anchor &{anchor}: the value would "
                                    "never end")
            node = self.anchors.get(anchor)
            if node is not None:  # (an undefined alias is PyYAML's error)
                self._expanded += self._size[id(node)]
                if self._expanded > MAX_ALIAS_VALUES:
                    raise ScenarioError(".".join(self._path), f"YAML aliases expand to more "
                                        f"than {MAX_ALIAS_VALUES} values (here *{anchor}, line "
                                        f"{line}); write the values out or use fewer aliases")
                if len(self._path) + self._height[id(node)] > MAX_DEPTH:
                    raise self._deep(line)
            return super().compose_node(parent, index)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._open.discard(anchor)
        if isinstance(node, yaml.MappingNode):
            kids = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            kids = node.value
        else:
            kids = []
        self._size[id(node)] = 1 + sum(self._size[id(k)] for k in kids)
        self._height[id(node)] = max((1 + self._height[id(k)] for k in kids), default=0)
        return node

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        seen: dict[tuple[str, str], int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue  # (a merged mapping's keys may be overridden: that is what << is for)
            ident, line = (key.tag, key.value), key.start_mark.line + 1
            if ident in seen:
                raise ScenarioError(".".join([*self._path, str(key.value)]), f"given twice, on "
                                    f"line {seen[ident]} and line {line} (YAML would silently "
                                    "keep the last); keep one")
            seen[ident] = line
        return node


def _load_yaml(text: str):
    """*text* read as YAML with :class:`_Loader`'s limits."""
    return yaml.load(text, Loader=_Loader)  # (a SafeLoader: builds plain data only)


def read_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.exists():
        raise ScenarioError(str(path), "no such file")
    if p.is_dir():
        raise ScenarioError(str(path), "is a folder, not a scenario file")
    if not p.is_file():
        raise ScenarioError(str(path), "is not a regular file (a device, pipe or socket)")
    try:
        raw = _load_yaml(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ScenarioError(str(path), f"not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ScenarioError(str(path), "not a text (UTF-8) file") from None
    if raw is None:
        raise ScenarioError(str(path), "is empty")
    if not isinstance(raw, dict):
        raise ScenarioError(str(path), "must hold a mapping (key: value lines) at the top")
    return raw


def apply_overrides(raw: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """A copy of *raw* with each ``a.b.c=value`` applied (the value is read as YAML)."""
    out = copy.deepcopy(raw)
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScenarioError("--set", f"{item!r} is not path.to.key=value")
        parts = key.split(".")
        if "" in parts:
            raise ScenarioError("--set", f"{item!r}: the key {key!r} has an empty part (two "
                                "dots in a row, or a dot at an end); write path.to.key=value")
        try:
            parsed = _load_yaml(value) if value.strip() else None
        except yaml.YAMLError:
            parsed = value
        except ScenarioError as e:  # too deep, an alias bomb: the path is inside the value
            raise ScenarioError(f"{key}.{e.field}" if e.field else key, e.message) from None
        node: Any = out
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ScenarioError(".".join(parts[:i + 1]), f"no list item {part!r} "
                                        f"(the list has {len(node)})")
                node = node[int(part)]
            else:
                if not isinstance(node.get(part, {}), dict | list):
                    raise ScenarioError(".".join(parts[:i + 1]), "is a value, not a section; "
                                        "cannot set a key below it")
                node = node.setdefault(part, {})
            if not isinstance(node, dict | list):
                raise ScenarioError(".".join(parts[:i + 1]), "is a value, not a section; "
                                    "cannot set a key below it")
        last = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ScenarioError(key, f"no list item {last!r}")
            node[int(last)] = parsed
        else:
            node[last] = parsed
    return out


def offered_load(sc: Scenario, requests_per_arrival: float = 1.0) -> float:
    """ρ = arrival rate × mean worker time per arrival / (workers × instances) (open loop
    only; else NaN)."""
    req = sc.workload.requests
    if req is None or req.closed:
        return math.nan
    rate = req.mean_rate(sc.clients.count, sc.duration)
    enc = sc.encoding_table[sc.workload.encoding]
    req_b = enc.wire(sc.workload.request_size.mean) if sc.workload.request_size else 0
    resp_b = enc.wire(sc.workload.response_size.mean) if sc.workload.response_size else 0
    work = (sc.server.service_time.mean + enc.parse_cost(req_b) + enc.serialise_cost(resp_b))
    return rate * requests_per_arrival * work / (sc.server.workers * sc.server.instances)
