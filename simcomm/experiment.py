"""What the scripts in ``experiments/`` share: their command line and its errors.

Each script answers one question: it takes ``--out DIR``, ``--set key=value`` (repeatable,
applied to its scenario) and the values of what it sweeps (``--rates 1,10,100`` …). A bad
value is one line on stderr that names the option, exit status 2 and nothing written::

    args = command_line(__doc__, ROOT / "out" / "x", rates=("1,10", "rates per second"))
    try:
        rates = numbers(args.rates, "--rates", "positive rates", lambda v: v > 0)
        scenarios = [simcomm.load_file(SCENARIO, [*args.overrides, f"…={r:g}"])
                     for r in rates]
    except (UsageError, simcomm.ScenarioError) as e:
        return error(e)
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["UsageError", "command_line", "error", "numbers"]


class UsageError(ValueError):
    """A bad command-line value; the message names the option."""


def command_line(doc: str, out: Path, **sweeps: tuple[str, str]) -> argparse.ArgumentParser:
    """The parser of an experiment script: its first docstring line as description, ``--out``
    (default *out*), one ``--NAME`` per sweep given as ``NAME=(default, help)`` (underscores
    become dashes) and ``--set``."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--out", type=Path, default=out)
    for name, (default, what) in sweeps.items():
        parser.add_argument("--" + name.replace("_", "-"), default=default, help=what)
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help="override a scenario key: path.to.key=value (repeatable)")
    return parser


def numbers(text: str, option: str, what: str,
            ok: Callable[[float], bool] = math.isfinite, at_least: int = 1) -> list[float]:
    """The distinct numbers of a comma-separated *text*, sorted, each passing *ok*, at least
    *at_least* of them; else :class:`UsageError` naming *option* and saying what to give."""
    try:
        values = sorted({float(x) for x in text.split(",") if x.strip()})
    except ValueError:
        values = []
    if len(values) < at_least or not all(ok(v) for v in values):
        many = "at least two distinct " if at_least > 1 else ""
        raise UsageError(f"{option}: give {many}{what} separated by commas, got {text!r}")
    return values


def error(e: Exception | str) -> int:
    """Print one ``error:`` line on stderr; the exit status of a user mistake (2)."""
    print(f"error: {e}", file=sys.stderr)
    return 2
