"""The hot path: components and patterns call a :class:`Recorder` with raw times.

Nothing here builds a dict or a DataFrame per event, and nobody outside this module applies
the measurement window ``[warmup, duration)`` or sets a recorder field: callers pass the raw
times of what happened, and the recorder decides what falls in the window — for arrays
(deliveries, events) once, at the end, in :mod:`simcomm.metrics.summary`; for counters,
intervals and levels as they are recorded, so that ``detail="summary"`` keeps O(1) memory
apart from the latency sample. There are four kinds of record:

* **messages** — counted into small per-(kind, tag) counters when they fall in the window, and,
  with ``detail="full"``, appended as a row (typed, row-major columns: see
  :class:`FullRecorder` and :class:`Column`) for the ``messages`` frame;
* **deliveries** — start time and latency always (16 bytes each: the percentiles need them),
  plus, with ``detail="full"``, flow id, client and the latency decomposition; with
  ``detail="summary"`` the decomposition is summed over the window's deliveries instead
  (its means are what a sweep reports);
* **levels** (:class:`Level`) — open connections, blocked callers, threads: recorded only
  when they change and integrated over the window as they go (time-weighted, O(1) memory);
* **events** (:meth:`Recorder.event`) — rarer happenings with a time and a value (a
  reconnection, a redelivery, a job noticed, a catch-up after a restart), kept as two arrays
  per name and filtered by the window at the end.

Everything is summarised once, at the end, by :mod:`simcomm.metrics.summary`.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np

from .definitions import PART_NAMES, Kind, Tag

__all__ = ["Column", "FullRecorder", "Level", "PeakLevel", "Recorder", "SketchRecorder"]

NK: Final = len(Kind)
NT: Final = len(Tag)
NPARTS: Final = len(PART_NAMES)
MSG_FLOATS: Final = 4
"""Floats per message row of a :class:`FullRecorder`: send time, arrival time, bytes,
header bytes."""
MSG_INTS: Final = 2
"""64-bit integers per message row: flow, connection."""
MSG_CODES: Final = 3
"""Small codes per message row (one byte each): kind, tag, direction."""


CHUNK: Final = 4096
"""Values a :class:`Column` keeps as Python objects before it packs them into a NumPy
array."""


class Column:
    """A column of numbers that grows one row at a time: what an ``array.array`` was here,
    cheaper to append to.

    ``array.array`` converts every value it is given with ``PyArg_Parse`` (~35 ns a value,
    measured with ``perf``: a quarter of a pub/sub fan-out at ``detail: full`` went to the
    recorder's ``extend`` calls); a list takes a value with a pointer copy. So values go to a
    list, and every :data:`CHUNK` of them are packed into a NumPy array of the column's
    *dtype* (the same 8 bytes a float, or 1 a code, as the ``array.array`` took; at most
    :data:`CHUNK` values are held as Python objects meanwhile). :meth:`numpy` gives every
    value as one array; indexing reads and writes one value (a row's arrival time, a
    re-tag)."""

    __slots__ = ("_buf", "_chunks", "_packed", "dtype")

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype
        self._buf: list[Any] = []
        self._chunks: list[Any] = []
        """Packed arrays, :data:`CHUNK` values each."""
        self._packed = 0

    def append(self, value: Any) -> None:
        buf = self._buf
        buf.append(value)
        if len(buf) >= CHUNK:
            self._pack()

    def extend(self, values: Any) -> None:
        buf = self._buf
        buf.extend(values)
        if len(buf) >= CHUNK:
            self._pack()

    def _pack(self) -> None:
        buf = self._buf
        self._chunks.append(np.array(buf[:CHUNK], dtype=self.dtype))
        self._packed += CHUNK
        self._buf = buf[CHUNK:]

    def __len__(self) -> int:
        return self._packed + len(self._buf)

    def __getitem__(self, i: int) -> Any:
        if i < 0:
            i += len(self)
        if i >= self._packed:
            return self._buf[i - self._packed]
        return self._chunks[i // CHUNK][i % CHUNK]

    def __setitem__(self, i: int, value: Any) -> None:
        if i >= self._packed:
            self._buf[i - self._packed] = value
        else:
            self._chunks[i // CHUNK][i % CHUNK] = value

    def numpy(self) -> Any:
        """Every value, in one new array of the column's dtype."""
        parts = list(self._chunks)
        if self._buf or not parts:
            parts.append(np.array(self._buf, dtype=self.dtype))
        return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()


def add_parts(sums: list[float], parts: Any) -> None:
    """``sums[i] += parts[i]`` for every latency part, in place (compiled: no list per
    delivery). A part that is zero is skipped, which saves boxing a float per part, and most
    parts of a delivery are zero; the sums are the same to the bit (adding ±0.0 changes only
    a sum of −0.0, and these start at +0.0 and never reach −0.0: ``x + (−x)`` is +0.0)."""
    for i in range(NPARTS):
        v: float = parts[i]
        if v != 0.0:
            sums[i] += v


class Level:
    """A piecewise-constant quantity integrated over the window ``[w0, end)``.

    ``add`` is on the hot path: it touches only what it must.
    """

    __slots__ = ("_env", "_t", "_w0", "area", "value")

    def __init__(self, env, w0: float) -> None:
        self._env = env
        self._w0 = w0
        self._t = 0.0
        self.value = 0.0
        self.area = 0.0
        """Integral of the level over the part of the window seen so far."""

    def add(self, delta: float) -> None:
        now = self._env._now
        if now > self._t:
            if now > self._w0:
                t = self._t
                self.area += self.value * (now - (t if t > self._w0 else self._w0))
            self._t = now
        self.value += delta

    def close(self, end: float) -> None:
        """Integrate up to *end* (the end of the run)."""
        if end > self._t:
            if end > self._w0:
                t = self._t
                self.area += self.value * (end - (t if t > self._w0 else self._w0))
            self._t = end


class PeakLevel(Level):
    """A :class:`Level` that also remembers the largest value held inside the window."""

    __slots__ = ("peak",)

    def __init__(self, env, w0: float) -> None:
        super().__init__(env, w0)
        self.peak = 0.0
        """Largest value held at any time inside the window."""

    def add(self, delta: float) -> None:
        now = self._env._now
        if now > self._w0 and self.value > self.peak:  # held over [_t, now], inside
            self.peak = self.value
        Level.add(self, delta)
        if now >= self._w0 and self.value > self.peak:
            self.peak = self.value

    def close(self, end: float) -> None:
        if end > self._w0 and self.value > self.peak:
            self.peak = self.value
        Level.close(self, end)


class Recorder:
    """Summary-level recording (``detail="summary"``): counters, levels, latencies."""

    full = False

    def __init__(self, env, warmup: float, duration: float) -> None:
        self.env = env
        self.warmup = warmup
        self.duration = duration
        w0 = warmup
        self.server_busy_s = 0.0
        """Worker-seconds of work inside the window (see :meth:`busy`)."""
        self.instance_busy_s = [0.0]
        """The same per server instance (see :meth:`instances`)."""
        self.loop_busy_s = 0.0
        """Core-seconds event-loop clients spent on CPU work inside the window."""
        self.conn_held = Level(env, w0)
        self.conn_active = Level(env, w0)
        self.client_blocked = Level(env, w0)
        """Blocked callers; for an event-loop client, 1 while it has a request outstanding
        (its core's busy time, ``loop_busy_s``, is subtracted at the end)."""
        self.threads = PeakLevel(env, w0)
        self.thread_memory = PeakLevel(env, w0)
        # counters (window only)
        self.issued = 0
        self.rejected = 0
        self.lost = 0
        self.duplicates = 0
        self.client_checks = 0
        self.client_buffer_peak = 0
        self.lost_offline = 0
        self.wasted_s = 0.0
        self.events: dict[str, tuple[Column, Column]] = {}
        """Per event name: the times and values recorded (see :meth:`event`)."""
        # messages by kind*NT + tag
        self.msg_n = [0] * (NK * NT)
        self.msg_bytes = [0.0] * (NK * NT)
        self.msg_header = [0.0] * (NK * NT)
        # deliveries
        self.d_t0 = Column("f8")
        self.d_latency = Column("f8")
        self.part_sum: list[float] = [0.0] * NPARTS
        """Per latency part, its sum over the deliveries whose work began in the window
        (summary detail; full detail keeps each delivery's parts instead)."""

    # -- hot path ------------------------------------------------------------------------------
    def message(self, t: float, kind: int, tag: int, size: float, header: float,
                flow: int, direction: int, t_arrive: float, conn: int = -1) -> int:
        """A message handed to connection *conn* at *t*, reaching the far end at *t_arrive*
        (NaN: lost). Returns its row (-1 when rows are not kept)."""
        if t >= self.warmup:
            i = kind * NT + tag
            self.msg_n[i] += 1
            self.msg_bytes[i] += size
            self.msg_header[i] += header
        return -1

    def connection(self, index: int, owner: int) -> None:
        """Connection *index* belongs to client *owner* (−1: no client, e.g. a publisher;
        −2: a proxy's backend) — for the messages frame's ``client`` column (full detail)."""

    def owner(self, index: int) -> int:
        """The owner recorded for connection *index* (−1 when not known)."""
        return -1

    def arrived(self, row: int, t: float) -> None:
        """The message of *row* reached the far end at *t* (known only once a loss before
        it was recovered)."""

    def retag(self, row: int, t: float, kind: int, old: int, new: int, size: float,
              header: float) -> None:
        """Change the tag of a message already recorded (its outcome became known later)."""
        if t >= self.warmup:
            i, j = kind * NT + old, kind * NT + new
            self.msg_n[i] -= 1
            self.msg_bytes[i] -= size
            self.msg_header[i] -= header
            self.msg_n[j] += 1
            self.msg_bytes[j] += size
            self.msg_header[j] += header

    def delivery(self, t0: float, t_end: float, flow: int, client: int, parts) -> None:
        """A useful item reached its consumer; *t0* is when its work began (intended send)."""
        self.d_t0.append(t0)
        self.d_latency.append(t_end - t0)
        if t0 >= self.warmup:
            add_parts(self.part_sum, parts)

    def issue(self, t: float) -> None:
        if t >= self.warmup:
            self.issued += 1

    def reject(self, t: float) -> None:
        if t >= self.warmup:
            self.rejected += 1

    def lose(self, t: float, offline: bool = False) -> None:
        """An item created (or issued) at *t* will never reach its consumer (*offline*: because
        the consumer was offline)."""
        if t >= self.warmup:
            self.lost += 1
            if offline:
                self.lost_offline += 1

    def duplicate(self, t: float) -> None:
        """An extra copy of an item created at *t* reached its consumer."""
        if t >= self.warmup:
            self.duplicates += 1

    def instances(self, n: int) -> None:
        """The server has *n* instances (their busy time is kept apart)."""
        self.instance_busy_s = [0.0] * n

    def busy(self, start: float, length: float, instance: int = 0) -> None:
        """A worker of server instance *instance* works from *start* for *length* seconds
        (its overlap with the window counts, so work still running at the end counts up to
        the end)."""
        lo = start if start > self.warmup else self.warmup
        hi = start + length
        if hi > self.duration:
            hi = self.duration
        if hi > lo:
            self.server_busy_s += hi - lo
            self.instance_busy_s[instance] += hi - lo

    def unbusy(self, start: float, length: float, instance: int = 0) -> None:
        """Work recorded by :meth:`busy` stopped early: take ``[start, start + length)``
        back (its overlap with the window)."""
        lo = start if start > self.warmup else self.warmup
        hi = start + length
        if hi > self.duration:
            hi = self.duration
        if hi > lo:
            self.server_busy_s -= hi - lo
            self.instance_busy_s[instance] -= hi - lo

    def loop_busy(self, start: float, length: float) -> None:
        """An event-loop client's core works from *start* for *length* seconds."""
        lo = start if start > self.warmup else self.warmup
        hi = start + length
        if hi > self.duration:
            hi = self.duration
        if hi > lo:
            self.loop_busy_s += hi - lo

    def buffered(self, waiting: int) -> None:
        """A client's inbound buffer now holds *waiting* updates (beyond the one being
        processed); the largest inside the window is ``client_buffer_peak``."""
        if waiting > self.client_buffer_peak and self.env._now >= self.warmup:
            self.client_buffer_peak = waiting

    def event(self, name: str, t: float, value: float = 1.0) -> None:
        """Something named *name* happened, attributed to time *t* (its own time, or the
        start of the item it belongs to), with a *value*. The metrics computed from events
        (see :mod:`simcomm.metrics.definitions`) count those with *t* in the window."""
        log = self.events.get(name)
        if log is None:
            log = self.events[name] = (Column("f8"), Column("f8"))
        log[0].append(t)
        log[1].append(value)

    def checks(self, start: float, end: float, phase: float, interval: float) -> None:
        """A readiness-polling client checked for completions at every tick
        ``phase + k·interval`` in ``(start, end]``; those in the window count."""
        lo = start if start > self.warmup else self.warmup
        if end > lo:
            self.client_checks += (math.floor((end - phase) / interval + 1e-9)
                                   - math.floor((lo - phase) / interval + 1e-9))

    def waste(self, start: float, end: float) -> None:
        """Worker time [start, end) that delivered nothing (clipped to the window)."""
        lo = start if start > self.warmup else self.warmup
        if end > lo:
            self.wasted_s += end - lo

    # -- end of run ----------------------------------------------------------------------------
    def close(self) -> None:
        end = self.env.now
        for level in (self.conn_held, self.conn_active, self.client_blocked,
                      self.threads, self.thread_memory):
            level.close(end)


class SketchRecorder(Recorder):
    """Summary level with ``latency_sketch``: the window's latencies go into a
    :class:`~simcomm.metrics.sketch.Sketch` as they are recorded (bounded memory however long
    the run) instead of two arrays of every delivery."""

    def __init__(self, env, warmup: float, duration: float, alpha: float) -> None:
        from .sketch import Sketch

        super().__init__(env, warmup, duration)
        self.sketch = Sketch(alpha)

    def delivery(self, t0: float, t_end: float, flow: int, client: int, parts) -> None:
        if t0 >= self.warmup:
            self.sketch.add(t_end - t0)
            add_parts(self.part_sum, parts)


class FullRecorder(Recorder):
    """``detail="full"``: also keeps one row per message and per delivery for the frames.

    Rows are stored row-major, a few values per ``extend`` (one call per row instead of one
    ``append`` per column): a message is :data:`MSG_FLOATS` floats (send and arrival time,
    bytes, header bytes) in :attr:`m_floats`, :data:`MSG_INTS` integers (flow, connection) in
    :attr:`m_ints` and :data:`MSG_CODES` one-byte codes (kind, tag, direction) in
    :attr:`m_codes`; a delivery's decomposition is
    :data:`NPARTS` floats in :attr:`d_parts_rows`. The per-column views (``m_t``,
    ``m_tag``…) are copies, for tests and small runs; :mod:`simcomm.metrics.summary` reads
    the rows as NumPy arrays. Every column is a :class:`Column`."""

    full = True

    def __init__(self, env, warmup: float, duration: float) -> None:
        super().__init__(env, warmup, duration)
        self.m_floats = Column("f8")
        self.m_ints = Column("i8")
        self.m_codes = Column("i1")
        self.owners: dict[int, int] = {}
        """Connection index → its client (see :meth:`Recorder.connection`)."""
        self.d_flow = Column("i8")
        self.d_client = Column("i8")
        self.d_parts_rows = Column("f8")

    def message(self, t: float, kind: int, tag: int, size: float, header: float,
                flow: int, direction: int, t_arrive: float, conn: int = -1) -> int:
        Recorder.message(self, t, kind, tag, size, header, flow, direction, t_arrive)
        row = len(self.m_ints) // MSG_INTS
        self.m_floats.extend((t, t_arrive, size, header))
        self.m_ints.extend((flow, conn))
        self.m_codes.extend((kind, tag, direction))
        return row

    @property
    def n_messages(self) -> int:
        return len(self.m_ints) // MSG_INTS

    @property
    def m_t(self) -> Any:
        return self.m_floats.numpy()[0::MSG_FLOATS]

    @property
    def m_arrive(self) -> Any:
        return self.m_floats.numpy()[1::MSG_FLOATS]

    @property
    def m_bytes(self) -> Any:
        return self.m_floats.numpy()[2::MSG_FLOATS]

    @property
    def m_header(self) -> Any:
        return self.m_floats.numpy()[3::MSG_FLOATS]

    @property
    def m_kind(self) -> Any:
        return self.m_codes.numpy()[0::MSG_CODES]

    @property
    def m_tag(self) -> Any:
        return self.m_codes.numpy()[1::MSG_CODES]

    @property
    def m_flow(self) -> Any:
        return self.m_ints.numpy()[0::MSG_INTS]

    @property
    def m_dir(self) -> Any:
        return self.m_codes.numpy()[2::MSG_CODES]

    @property
    def m_conn(self) -> Any:
        return self.m_ints.numpy()[1::MSG_INTS]

    def connection(self, index, owner):
        if owner != -1:
            self.owners[index] = owner

    def owner(self, index):
        return self.owners.get(index, -1)

    def arrived(self, row: int, t: float) -> None:
        if row >= 0:
            self.m_floats[row * MSG_FLOATS + 1] = t

    def retag(self, row: int, t: float, kind: int, old: int, new: int, size: float,
              header: float) -> None:
        Recorder.retag(self, row, t, kind, old, new, size, header)
        if row >= 0:
            self.m_codes[row * MSG_CODES + 1] = new

    def delivery(self, t0: float, t_end: float, flow: int, client: int, parts) -> None:
        if len(parts) != NPARTS:
            raise ValueError(f"a delivery has {NPARTS} latency parts, not {len(parts)}")
        self.d_t0.append(t0)
        self.d_latency.append(t_end - t0)
        self.d_flow.append(flow)
        self.d_client.append(client)
        self.d_parts_rows.extend(parts)
