"""Recorded request arrivals: a CSV of times (and optionally sizes and clients) to replay.

``workload.requests: {trace: arrivals.csv, column: t, size_column: size, client_column: c}``
reads the file once, when the scenario is loaded, so that a bad trace is a
:class:`~simcomm.fields.ScenarioError` from ``simcomm check`` like any other bad input.

The file is read like the ``empirical`` distribution's ``file:`` (:mod:`simcomm.dists`): a
relative path is relative to the scenario file; a first row whose first cell is not a number
is a header naming the columns, otherwise the columns are named ``0``, ``1`` …; blank lines
are skipped. Unlike a distribution's samples, the rows of a trace are kept in order and every
problem names the line of the file it is on (and never repeats what the file holds: a
scenario may name any file):

* ``column`` (default: the first column): the intended send time of each request, seconds
  from the start of the run (a plain number or a duration such as ``1500ms``), >= 0 and in
  non-decreasing order (equal times are requests issued together);
* ``size_column`` (optional): the request's payload, JSON-sized bytes (``512`` or ``2KiB``),
  replacing ``workload.request_size`` for that request;
* ``client_column`` (optional): the index of the client that sends it (0 … clients.count − 1;
  without it the rows go to the clients in turn, row i to client i mod count).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._csvfile import CsvFileError, read_rows
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
    try:
        return read_rows(p)
    except CsvFileError as e:
        raise ScenarioError(field, str(e)) from None


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
    header_line = rows[0][0]
    try:  # no header row: the first row is data
        parse_duration(header[0])
        header = [str(i) for i in range(len(header))]
        has_header = False
    except UnitError:
        rows = rows[1:]
        has_header = True
    if not rows:
        raise ScenarioError("trace", f"{name} is empty: a header and no arrival times")

    def index(key: str, col: str | None) -> int | None:
        if col is None:
            return None
        if col in header:
            return header.index(col)
        if has_header:  # its names are the file's content: say how many, not what they are
            raise ScenarioError(key, f"no column {col!r} in the header row (line "
                                f"{header_line}) of {name}, which has {len(header)} "
                                "column(s); names are case-sensitive")
        raise ScenarioError(key, f"no column {col!r}: {name} has no header row, so its "
                            f"columns are named 0 to {len(header) - 1}")

    t_idx = index("column", column)
    t_idx = 0 if t_idx is None else t_idx
    s_idx = index("size_column", size_column)
    c_idx = index("client_column", client_column)

    given = {t_idx: column, s_idx: size_column, c_idx: client_column}

    def cell(key: str, line: int, row: list[str], i: int, what: str) -> str:
        col = f"column {i + 1}" + (f", {given[i]!r}" if given.get(i) is not None else "")
        if i >= len(row):
            raise ScenarioError(key, f"line {line} of {name} has {len(row)} column(s); its "
                                f"{what} ({col}) is missing")
        v = row[i].strip()
        if not v:
            raise ScenarioError(key, f"line {line} of {name} has no {what} ({col})")
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
            raise ScenarioError("trace", f"line {line} of {name}: the time is not a number "
                                "of seconds (or a duration like 1500ms)") from None
        if t < 0:
            raise ScenarioError("trace", f"line {line} of {name}: the time is negative; "
                                "times are seconds from the start of the run")
        if t < prev:
            raise ScenarioError("trace", f"line {line} of {name}: the time comes before the "
                                "previous row's; sort the trace by time")
        prev = t
        times.append(t)
        lines.append(line)
        if sizes is not None:
            raw = cell("size_column", line, row, s_idx, "size")
            try:
                s = parse_size(raw)
            except UnitError:
                raise ScenarioError("size_column", f"line {line} of {name}: the size is not "
                                    "a number of bytes (or a size like 2KiB)") from None
            if s < 0:
                raise ScenarioError("size_column", f"line {line} of {name}: the size is "
                                    "negative")
            sizes.append(s)
        if clients is not None:
            raw = cell("client_column", line, row, c_idx, "client")
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
                raise ScenarioError("client_column", f"line {line} of {name}: the client is "
                                    "not a client index (0, 1, …)")
            clients.append(int(raw))
    return Trace(str(p), tuple(times), None if sizes is None else tuple(sizes),
                 None if clients is None else tuple(clients), tuple(lines))
