"""Recorded request arrivals: a CSV of times (and optionally sizes and clients) to replay.

``workload.requests: {trace: arrivals.csv, column: t, size_column: size, client_column: c}``
reads the file once, when the scenario is loaded, so that a bad trace is a
:class:`~simcomm.fields.ScenarioError` from ``simcomm check`` like any other bad input.

The file is read like the ``empirical`` distribution's ``file:`` (:mod:`simcomm.dists`): a
relative path is relative to the scenario file; a first row whose first cell is not a number
is a header naming the columns, otherwise the columns are named ``0``, ``1`` …; blank lines
are skipped. Unlike a distribution's samples, the rows of a trace are kept in order and every
problem names the line of the file it is on:

* ``column`` (default: the first column): the intended send time of each request, seconds
  from the start of the run (a plain number or a duration such as ``1500ms``), >= 0 and in
  non-decreasing order (equal times are requests issued together);
* ``size_column`` (optional): the request's payload, JSON-sized bytes (``512`` or ``2KiB``),
  replacing ``workload.request_size`` for that request;
* ``client_column`` (optional): the index of the client that sends it (0 … clients.count − 1;
  without it the rows go to the clients in turn, row i to client i mod count).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..fields import ScenarioError
from ..units import UnitError, parse_duration, parse_size

__all__ = ["Trace", "read_trace"]


@dataclass(frozen=True)
class Trace:
    """The arrivals of a trace file, in file order (times non-decreasing)."""

    path: str
    times: tuple[float, ...]
    """Intended send time of each request (s from the start of the run)."""
    sizes: tuple[float, ...] | None
    """Request payload of each (bytes), or None: draw ``workload.request_size``."""
    clients: tuple[int, ...] | None
    """Client index of each, or None: row i goes to client i mod count."""
    lines: tuple[int, ...]
    """Line of the file each row is on (for error messages)."""


def _rows(p: Path, field: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank line of the CSV at *p*."""
    if not p.is_file():
        raise ScenarioError(field, f"no such file: {str(p)!r}")
    try:
        with p.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            return [(reader.line_num, row) for row in reader
                    if any(cell.strip() for cell in row)]
    except UnicodeDecodeError:
        raise ScenarioError(field, f"{str(p)!r} is not a text (UTF-8) file") from None
    except csv.Error as e:
        raise ScenarioError(field, f"{str(p)!r} is not valid CSV: {e}") from None


def read_trace(path: str, *, base_dir: Path | None, column: str | None = None,
               size_column: str | None = None, client_column: str | None = None) -> Trace:
    """Read and check a trace file. Raises :class:`ScenarioError` whose ``field`` is the key
    at fault (``trace`` for the file and its times, or the column key) and whose message
    names the file's line."""
    p = Path(path)
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    rows = _rows(p, "trace")
    name = repr(str(p))
    if not rows:
        raise ScenarioError("trace", f"{name} is empty: no arrival times")
    header = rows[0][1]
    try:  # no header row: the first row is data
        parse_duration(header[0])
        header = [str(i) for i in range(len(header))]
    except UnitError:
        rows = rows[1:]
    if not rows:
        raise ScenarioError("trace", f"{name} is empty: a header and no arrival times")

    def index(key: str, col: str | None) -> int | None:
        if col is None:
            return None
        if col not in header:
            raise ScenarioError(key, f"no column {col!r} in {name} (has {header})")
        return header.index(col)

    t_idx = index("column", column)
    t_idx = 0 if t_idx is None else t_idx
    s_idx = index("size_column", size_column)
    c_idx = index("client_column", client_column)

    def cell(key: str, line: int, row: list[str], i: int, what: str) -> str:
        v = row[i].strip() if i < len(row) else ""
        if not v:
            raise ScenarioError(key, f"line {line} of {name} has no {what} "
                                f"(column {header[i]!r})")
        return v

    times: list[float] = []
    sizes: list[float] | None = [] if s_idx is not None else None
    clients: list[int] | None = [] if c_idx is not None else None
    lines: list[int] = []
    prev = 0.0
    for line, row in rows:
        raw = cell("trace", line, row, t_idx, "time")
        try:
            t = parse_duration(raw)
        except UnitError:
            raise ScenarioError("trace", f"line {line} of {name}: time {raw!r} is not a "
                                "number of seconds (or a duration like 1500ms)") from None
        if t < 0:
            raise ScenarioError("trace", f"line {line} of {name}: time {raw!r} is negative; "
                                "times are seconds from the start of the run")
        if t < prev:
            raise ScenarioError("trace", f"line {line} of {name}: time {raw!r} comes before "
                                f"the previous row's {prev:g}s; sort the trace by time")
        prev = t
        times.append(t)
        lines.append(line)
        if sizes is not None:
            raw = cell("size_column", line, row, s_idx, "size")
            try:
                s = parse_size(raw)
            except UnitError:
                raise ScenarioError("size_column", f"line {line} of {name}: size {raw!r} is "
                                    "not a number of bytes (or a size like 2KiB)") from None
            if s < 0:
                raise ScenarioError("size_column", f"line {line} of {name}: size {raw!r} is "
                                    "negative")
            sizes.append(s)
        if clients is not None:
            raw = cell("client_column", line, row, c_idx, "client")
            if not raw.isdigit():
                raise ScenarioError("client_column", f"line {line} of {name}: client {raw!r} "
                                    "is not a client index (0, 1, …)")
            clients.append(int(raw))
    return Trace(str(p), tuple(times), None if sizes is None else tuple(sizes),
                 None if clients is None else tuple(clients), tuple(lines))
