"""Every metric simcomm reports: name, unit, exact definition and its computation. This is the
one place: a new metric is one :class:`Metric` here (plus, if it needs data nobody records
yet, a call of :meth:`~simcomm.metrics.recorder.Recorder.event` where it happens).

The README's metrics table is generated from :data:`METRICS` (``simcomm metrics
--markdown``) and a test keeps the two equal; the CLI, ``Result.summary`` and
the DataFrame columns use exactly these names.

Conventions that apply to every metric:

* **Measurement window** ``[warmup, duration)``. A *delivery* counts when the work that produced
  it began inside the window (for request-response: the request's *intended* send time) and it
  completed before ``duration``. A *message* counts when it was handed to a link inside the
  window. Time-weighted quantities (busy, held, blocked) are integrated over the window only.
* **Latency** of a request-response delivery runs from the *intended* send time of the request
  (the open-loop arrival, or the end of think time) to the moment the caller has the parsed
  response — so waiting behind a blocked client counts (no coordinated omission).
* A count a pattern cannot produce is ``0``; a ratio whose denominator is 0, and latency
  statistics with no delivery, are ``NaN``. No metric is ever absent.
* Units: seconds, bytes, and counts. Rates are per second of window.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = ["METRICS", "METRIC_NAMES", "PARTS", "PART_NAMES", "Kind", "Metric", "Part", "Tag",
           "markdown_table"]


class Kind(IntEnum):
    """What a message is, on the wire."""

    REQUEST = 0
    RESPONSE = 1
    UPDATE = 2
    HANDSHAKE = 3
    ACK = 4
    HEARTBEAT = 5


class Tag(IntEnum):
    """Why a message was sent, judged by what it achieved."""

    USEFUL = 0      #: part of an exchange that produced a delivery
    EMPTY = 1       #: part of an exchange that found nothing (e.g. an empty poll)
    CONTROL = 2     #: protocol overhead: handshakes, acks, rejections (503)
    RETRY = 3       #: a retransmitted copy of a lost message
    HEARTBEAT = 4   #: keep-alive traffic
    DUPLICATE = 5   #: a second copy of something already delivered


#: Parts of a delivery's latency, in the order of the ``deliveries`` frame columns.
#: For every delivery they add up to its latency.
PARTS: tuple[tuple[str, str], ...] = (
    ("client_wait", "intended send time → request starts on the wire: waiting for a blocked "
     "sync caller, the async concurrency limit or a thread start, the caller's own "
     "per-request CPU (client_cpu) and, on an event loop, waiting for its CPU; plus "
     "client-side serialisation gaps between chunks"),
    ("pending", "update created → a response or push carries it: waiting on the server for "
     "the next poll, for a parked poll to be answered, for a prefetch slot, or for an offline "
     "client to come back"),
    ("handshake", "connection set-up before the request could be sent: the handshake's "
     "flights, or waiting for one under way (0 on an open connection)"),
    ("transmission", "queueing behind other messages on a link direction, serialisation "
     "(bytes·8/bandwidth), and waiting for the congestion window (slow start, a window cut "
     "by a loss)"),
    ("propagation", "one-way link latency, drawn per message"),
    ("retransmission", "time lost to the message's own lost segments: from when its last "
     "segment would have arrived to when the last retransmitted copy did"),
    ("head_of_line", "time the message sat received but undeliverable, behind data handed "
     "over before it on its connection (TCP) or stream (QUIC) that had not arrived: a lost "
     "segment being recovered, or a message that took longer"),
    ("server_queue", "waiting for a server worker"),
    ("parse", "CPU time to serialise and parse payloads: client encode, server parse, "
     "server encode, client parse (on an event loop, with the wait for its CPU to parse)"),
    ("service", "server service time (the business logic)"),
    ("notify", "response parsed → caller learns of it (async readiness polling)"),
    ("client_buffer", "update arrived at the client → processed: waiting in the client's "
     "inbound buffer plus its processing time (1/capacity)"),
    ("hop", "inside hops between the client's connection and the server (a proxy): waiting "
     "for the hop's worker, its CPU per message, waiting for a backend connection; the "
     "backend leg's wire time is in transmission/propagation/retransmission, its handshakes "
     "in handshake"),
    ("balancer", "inside the load balancer: waiting for one of its workers and its CPU per "
     "request (its latency to the instance is in propagation)"),
    ("sidecar", "inside sidecar proxies: their CPU per message (and waiting for the "
     "server-side sidecar's workers); the loopback hops to them are in propagation"),
    ("retry", "before the try that succeeded: the failed tries (refused, failed, or given up "
     "on at their timeout) and the backoffs between tries (resilience)"),
    ("login", "workflow: logging in before the step could be served — the workflow's login, "
     "or a relogin after a 401 (and the refused try that led to it)"),
    ("store", "workflow, state mode store: the session lookup in the external store (its "
     "round trip and its worker)"),
)
PART_NAMES = tuple(p[0] for p in PARTS)

#: Index of each part in a decomposition list: ``Part.SERVICE`` …
Part = IntEnum("Part", [name.upper() for name in PART_NAMES], start=0)


@dataclass(frozen=True)
class Metric:
    """One reported metric: its *name*, *unit*, exact *definition* (the README's words) and
    the *compute* that implements it, taking the run's
    :class:`~simcomm.metrics.summary.Tally` (the recorder, with the window applied)."""

    name: str
    unit: str
    definition: str
    compute: Callable[[Any], float] = field(repr=False, compare=False)


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


METRICS: tuple[Metric, ...] = (
    Metric("latency_mean", "s", "mean latency over deliveries in the window (request → parsed "
           "response; update created → processed by the client)",
           lambda t: t.latency("mean")),
    Metric("latency_p50", "s", "median latency (numpy linear-interpolated percentile; with "
           "latency_sketch α, the order statistic x_(⌊0.5(n−1)⌋) within relative error α, and "
           "likewise for p95 and p99)",
           lambda t: t.latency("p50")),
    Metric("latency_p95", "s", "95th percentile of latency", lambda t: t.latency("p95")),
    Metric("latency_p99", "s", "99th percentile of latency", lambda t: t.latency("p99")),
    Metric("latency_max", "s", "largest latency", lambda t: t.latency("max")),
    Metric("issued", "count", "requests (or uploads) whose intended send time is in the window",
           lambda t: t.rec.issued),
    Metric("delivered", "count", "useful items that reached their consumer (see window rule)",
           lambda t: t.delivered),
    Metric("throughput", "1/s", "delivered / (duration − warmup)",
           lambda t: t.delivered / t.window),
    Metric("messages", "count", "messages handed to a link in the window, every retransmitted "
           "copy included", lambda t: t.messages),
    Metric("bytes", "bytes", "bytes of those messages on the wire (headers + payload, "
           "retransmitted copies included)", lambda t: t.bytes),
    Metric("bytes_header", "bytes", "the part of `bytes` that was headers, framing or "
           "handshakes rather than payload", lambda t: sum(t.rec.msg_header)),
    Metric("messages_per_delivery", "count", "messages / delivered",
           lambda t: _ratio(t.messages, t.delivered)),
    Metric("bytes_per_delivery", "bytes", "bytes / delivered",
           lambda t: _ratio(t.bytes, t.delivered)),
    Metric("empty_responses", "count", "responses in the window tagged `empty` (carried no new "
           "data)", lambda t: t.tagged(Kind.RESPONSE, Tag.EMPTY)),
    Metric("empty_ratio", "ratio", "empty_responses / responses in the window",
           lambda t: _ratio(t.tagged(Kind.RESPONSE, Tag.EMPTY), t.tagged(Kind.RESPONSE))),
    Metric("server_busy_s", "s", "worker-seconds the server spent parsing, serialising and "
           "serving in the window (summed over workers)", lambda t: t.rec.server_busy_s),
    Metric("server_utilization", "ratio", "server_busy_s / (workers × instances × (duration − "
           "warmup))", lambda t: t.rec.server_busy_s / (t.workers * t.window)),
    Metric("instance_utilization_max", "ratio", "the busiest server instance's worker-seconds "
           "in the window / (workers × (duration − warmup)); equals server_utilization with "
           "one instance", lambda t: max(t.rec.instance_busy_s) * len(t.rec.instance_busy_s)
           / (t.workers * t.window)),
    Metric("wasted_server_s", "s", "worker-seconds spent on work that delivered nothing "
           "(empty answers, work for callers that had given up)", lambda t: t.rec.wasted_s),
    Metric("held_connection_s", "s", "connection-seconds connections were open in the window",
           lambda t: t.rec.conn_held.area),
    # held ≥ active by construction; max() only removes float rounding (~1e-15 s)
    Metric("idle_connection_s", "s", "connection-seconds a connection was open with no exchange "
           "(a request awaiting its answer) outstanding on it. Not waste in itself: a push or SSE "
           "stream (or pub/sub pushing to consumers) carries events with no request "
           "outstanding, so all its open time is idle, while a parked long poll is an "
           "outstanding request and is never idle. What an open connection costs (a socket, its "
           "buffers and a file descriptor at each end; no worker) is held_connection_s, the same "
           "for a stream as for a parked poll",
           lambda t: max(0.0, t.rec.conn_held.area - t.rec.conn_active.area)),
    # an event loop's CPU work all falls inside its outstanding spans; max() removes rounding
    Metric("client_blocked_s", "s", "caller-seconds callers spent blocked: a sync caller from "
           "send to parsed response; a thread-per-request thread for its whole life (start, "
           "request outstanding); a callback or readiness-poll client (one event loop) for "
           "the loop-seconds it had a request outstanding while its CPU was idle (waiting on "
           "I/O)", lambda t: max(0.0, t.rec.client_blocked.area - t.rec.loop_busy_s)),
    Metric("client_checks", "count", "completion checks made by readiness-polling async "
           "callers while they had requests outstanding (0 for other clients)",
           lambda t: t.rec.client_checks),
    Metric("client_threads_peak", "count", "most client threads alive at once (thread per "
           "request); 0 otherwise", lambda t: int(t.rec.threads.peak)),
    Metric("client_thread_memory_peak", "bytes", "client_threads_peak × thread_memory",
           lambda t: t.rec.thread_memory.peak),
    Metric("connections_opened", "count", "connections opened in the window: handshakes that "
           "succeeded (0 when every connection is established before the run and never "
           "drops, as with warm keep-alive)", lambda t: t.count("connections_opened")),
    Metric("handshake_messages", "count", "messages of connection set-up handed to a link in "
           "the window (TCP, TLS and QUIC handshake flights, resets), tagged `control`",
           lambda t: t.tagged(Kind.HANDSHAKE)),
    Metric("rejected", "count", "requests the server turned away because its bounded queue "
           "was full (answered with an error): for request_response and job_polling the issued "
           "request or upload that failed (an upload fails when any chunk is turned away; "
           "issued = delivered + rejected + still in flight), for polling patterns the poll, "
           "for sse the reconnection attempt", lambda t: t.rec.rejected),
    Metric("failed", "count", "requests that ended without their answer: `rejected` ones, "
           "those that failed after the server's work (`faults.failure`, an HTTP 500) or were "
           "failed at once by an open circuit breaker, and those whose last try timed out "
           "(resilience); for request_response and job_polling the issued request or upload, "
           "for polling patterns the poll, for sse the reconnection attempt. A request that "
           "succeeded on a retry is not failed",
           lambda t: t.rec.rejected + t.count("errors") + t.count("timeouts")),
    Metric("success_ratio", "ratio", "delivered / (delivered + failed); NaN when nothing was "
           "issued in the window. For request_response, job_polling and workflow a request's "
           "outcome; for update patterns the updates delivered against the polls (or "
           "reconnections) that failed, which delay updates rather than lose them",
           lambda t: _ratio(t.delivered, t.delivered + t.rec.rejected + t.count("errors")
                            + t.count("timeouts")) if t.rec.issued else math.nan),
    Metric("retries", "count", "retries of requests issued in the window (resilience: a "
           "failed try tried again); each reaches the server like a new request",
           lambda t: t.count("retries")),
    Metric("sessions_lost", "count", "workflow: sessions held in an instance's memory when it "
           "restarted (stateful mode; 0 for stateless and store)",
           lambda t: t.total("sessions_lost")),
    Metric("relogins", "count", "workflow: logins after a step was refused as unknown (a 401: "
           "a lost, expired or revoked session, or a request that reached an instance without "
           "it)", lambda t: t.count("relogins")),
    Metric("revoked_accepted", "count", "workflow: steps served with a session revoked before "
           "they were sent (stateless tokens work until they expire; 0 for stateful and "
           "store)", lambda t: t.count("revoked_accepted")),
    Metric("revocation_window_mean", "s", "workflow: mean time a revoked session keeps "
           "working, over the sessions revoked in the window before they expired: the token "
           "lifetime left (stateless), 0 (stateful, store); NaN without revocations",
           lambda t: t.mean("revocation_window")),
    Metric("lost", "count", "items that never reached their consumer (dropped, not "
           "retransmitted); loss on links is recovered by retransmission and is not `lost`",
           lambda t: t.rec.lost),
    Metric("duplicates", "count", "items delivered more than once (extra copies)",
           lambda t: t.rec.duplicates),
    Metric("lost_offline", "count", "the part of `lost` dropped because the client was "
           "offline (push without a buffer, a full offline buffer, a push that arrived after "
           "the connection dropped)", lambda t: t.rec.lost_offline),
    Metric("redeliveries", "count", "messages sent again by a broker or server because no "
           "acknowledgement came in time", lambda t: t.count("redeliveries")),
    Metric("client_buffer_peak", "count", "most updates waiting at once in one client's "
           "inbound buffer (beyond the one being processed)",
           lambda t: t.rec.client_buffer_peak),
    Metric("reconnects", "count", "reconnection attempts clients made in the window (each "
           "attempt, failed or not)", lambda t: t.count("reconnects")),
    Metric("reconnect_peak_rate", "1/s", "most reconnection attempts that reached the server "
           "in one second (1 s bins from the warm-up); NaN without reconnections",
           lambda t: t.peak_rate("reconnects")),
    Metric("notice_mean", "s", "job polling: mean time from a job's completion to the client "
           "having its result; NaN for other patterns", lambda t: t.mean("notice")),
    Metric("polls_per_delivery", "count", "job polling: status polls per delivered job; NaN "
           "for other patterns",
           lambda t: _ratio(t.total("status_polls"), t.delivered) if t.count("status_polls")
           else math.nan),
    Metric("catchup_s", "s", "after the last server restart in the window: time until every "
           "client connected at the restart (and still online) was reconnected and had "
           "received (or lost for good) every update created before the restart; NaN without "
           "a restart", lambda t: t.last("catchup")),
    Metric("hol_blocked_s", "s", "message-seconds messages sat received but undeliverable "
           "behind earlier data of their connection (TCP: every stream of an HTTP/2 "
           "connection) or of their stream (HTTP/3 over QUIC) that had not arrived yet — the "
           "head-of-line blocking a lost segment causes; summed over the messages handed over "
           "in the window", lambda t: t.total("hol")),
    Metric("batch_time_mean", "s", "batch workloads (`requests: {batch, every}`): mean time "
           "from a batch's intended send time to its last request completed (the caller has "
           "its parsed response, or its rejection), over the batches issued in the window "
           "and complete before its end; NaN for other workloads",
           lambda t: t.mean("batch")),
    Metric("batch_time_p95", "s", "95th percentile (numpy linear-interpolated) of those batch "
           "times; NaN for other workloads", lambda t: t.percentile("batch", 95)),
)
METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)


def markdown_table() -> str:
    """The README metrics table, generated from :data:`METRICS` and :data:`PARTS`."""
    rows = ["| metric | unit | definition |", "|---|---|---|"]
    rows += [f"| `{m.name}` | {m.unit} | {m.definition} |" for m in METRICS]
    rows += ["", "Latency decomposition (columns `<part>_s` of the deliveries frame; they add up "
             "to `latency`):", "", "| part | meaning |", "|---|---|"]
    rows += [f"| `{name}_s` | {meaning} |" for name, meaning in PARTS]
    return "\n".join(rows)
