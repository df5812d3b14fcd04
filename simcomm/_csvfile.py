"""Reading a CSV file a scenario names (an ``empirical`` distribution's ``file:``, a
``workload.requests.trace``), refusing what is not one — without echoing its content.

A scenario may name any path, ``/etc/passwd`` or ``/dev/zero`` included, so every message here
names the file and a line number and says what was expected, and never repeats what the file
holds; a path that is not a regular file (a folder, a device, a pipe) is refused before it is
opened, so an endless device is never read.
"""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

__all__ = ["CsvFileError", "read_rows"]


class CsvFileError(ValueError):
    """The file cannot be read as CSV; the message names it (never its content)."""


def read_rows(p: Path) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank line of the CSV file at *p*."""
    name = repr(str(p))
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise CsvFileError(f"no such file: {name}") from None
    except OSError as e:
        raise CsvFileError(f"{name} cannot be read: {e.strerror}") from None
    if stat.S_ISDIR(mode):
        raise CsvFileError(f"{name} is a folder, not a CSV file")
    if not stat.S_ISREG(mode):
        raise CsvFileError(f"{name} is not a regular file (a device, pipe or socket); name a "
                           "CSV file")
    rows: list[tuple[int, list[str]]] = []
    reader = None
    try:
        with p.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append((reader.line_num, row))
    except UnicodeDecodeError:
        raise CsvFileError(f"{name} is not UTF-8 text (a binary file?); name a CSV file") from None
    except csv.Error as e:  # the csv module's messages quote no content ("line contains NUL")
        line = reader.line_num if reader is not None else 1
        raise CsvFileError(f"{name} is not valid CSV at line {line}: {e}") from None
    except OSError as e:
        raise CsvFileError(f"{name} cannot be read: {e.strerror}") from None
    return rows
