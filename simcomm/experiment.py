"""What the scripts in ``experiments/`` share: their command line, their errors, and running
their points through a sweep with replications.

Each script answers one question: it takes ``--out DIR``, ``--set key=value`` (repeatable,
applied to its scenario), the values of what it sweeps (``--rates 1,10,100`` …),
``--replications N`` (independent runs of every point, default 5) and ``--workers N``
(processes, default: the core count; 1 runs in this process). A bad value is one line on
stderr that names the option, exit status 2 and nothing written::

    args = command_line(__doc__, ROOT / "out" / "x", rates=("1,10", "rates per second"))
    try:
        rates = numbers(args.rates, "--rates", "positive rates", lambda v: v > 0)
        res = run_sweep(SCENARIO, [Axis("rate", "workload.requests.rate", rates,
                                        lambda r: f"{r:g}/s")], args)
    except ERRORS as e:
        return error(e)  # 2: a user mistake; 1: runs failed

:func:`run_sweep` hands the points to :func:`simcomm.sweep` (a store in ``OUT/sweep/``: every
run's rows, ``aggregate.csv``, ``paired.csv``) and gives back a :class:`SweepOutcome`:

* ``runs`` — one row per point × pattern × replication, the swept values as the script's own
  columns (numbers), every metric, and the script's derived columns (its *derive* function,
  applied to these rows, so a derived value is computed per replication);
* ``table`` — one row per point × pattern: the swept values, ``pattern``, ``n`` (replications)
  and for every metric and derived column its mean and ``<column>_ci_low`` /
  ``<column>_ci_high``, the 95 % Student-t interval across replications (the metrics' are the
  sweep's ``aggregate.csv``; the derived columns' come from :func:`simcomm.stats.t_interval`
  over their per-replication values);
* :meth:`SweepOutcome.paired` — the interval of the per-replication difference of two
  patterns at each point (the patterns of a replication share common random numbers, as in
  the sweep's ``paired.csv``), for a metric or a derived column, in either order.

Findings keep their criteria on the means; :meth:`SweepOutcome.support` words whether the
intervals support a finding as well.

Choices worth knowing. The scenario goes to the sweep inline (the file with the script's fixed
overrides and ``--set`` applied), with the file's folder as the base of relative file names
inside it (a ``trace:``). A store an earlier run of the script left is
replaced, not resumed: the sweep's hash covers the scenario and the grid but not the code, so
a resumed store could mix results of two versions. A script that sweeps nothing (one scenario,
replications only) gives the sweep a one-value grid on the scenario's own ``duration``, since
a sweep needs a grid. An experiment that is not one grid over one scenario runs one sweep per
variant (``store=``, e.g. ``OUT/sweep-tlp/``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .fields import ScenarioError
from .result import OutputError

__all__ = ["DEFAULT_REPLICATIONS", "ERRORS", "USER_ERRORS", "Axis", "RunsFailed", "SweepOutcome",
           "UsageError", "command_line", "counts", "error", "numbers", "run_sweep", "table_to_csv",
           "verdict"]

DEFAULT_REPLICATIONS = 5
"""Replications of every point unless ``--replications`` says otherwise: a Student-t interval
with 4 degrees of freedom (t = 2.78), at five times the cost of one run."""


class UsageError(ValueError):
    """A bad command-line value; the message names the option."""


class RunsFailed(RuntimeError):
    """Runs of the sweep raised (each is listed in the message, one per line); the finished
    runs are in the store. The scripts exit with status 1."""


USER_ERRORS = (UsageError, ScenarioError, OutputError)
"""The mistakes a user can make on the command line: one line, exit status 2."""
ERRORS = (*USER_ERRORS, RunsFailed)
"""What a script's ``main`` catches around its sweep and reports with :func:`error`."""


def command_line(doc: str, out: Path, *, replications: int = DEFAULT_REPLICATIONS,
                 **sweeps: tuple[str, str]) -> argparse.ArgumentParser:
    """The parser of an experiment script: its first docstring line as description, ``--out``
    (default *out*), one ``--NAME`` per sweep given as ``NAME=(default, help)`` (underscores
    become dashes), ``--replications`` (default *replications*), ``--workers`` and ``--set``.
    Numbers stay text here: :func:`counts` and :func:`numbers` check them and name the
    option in one line, where argparse would print its usage too."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--out", type=Path, default=out)
    for name, (default, what) in sweeps.items():
        parser.add_argument("--" + name.replace("_", "-"), default=default, help=what)
    parser.add_argument("--replications", default=str(replications),
                        help=f"independent runs of every point (default {replications}); "
                             "the intervals are 95 %% Student-t across them")
    parser.add_argument("--workers", default=None,
                        help="processes running the replications (default: the core count; "
                             "1 runs them in this process)")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help="override a scenario key: path.to.key=value (repeatable)")
    return parser


def _whole(text: Any, option: str, what: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"{option}: give a whole number ≥ 1 ({what}), got {text!r}")
    return value


def counts(args: argparse.Namespace) -> tuple[int, int | None]:
    """``--replications`` and ``--workers`` as whole numbers ≥ 1 (workers None: the core
    count); else :class:`UsageError` naming the option."""
    replications = _whole(args.replications, "--replications", "runs of every point")
    workers = None if args.workers is None else _whole(args.workers, "--workers",
                                                       "processes")
    return replications, workers


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


def error(e: Exception | str, *, status: int | None = None) -> int:
    """Print ``error:`` and *e* on stderr; return *status*, by default 1 when runs failed
    (:class:`RunsFailed`, whose message has a line per failed run) and 2 for a user
    mistake."""
    print(f"error: {e}", file=sys.stderr)
    if status is None:
        status = 1 if isinstance(e, RunsFailed) else 2
    return status


def verdict(ok: bool) -> str:
    """How a finding's line says whether the means show it."""
    return "reproduced" if ok else "NOT shown"


# -- running an experiment's points ------------------------------------------------------------

@dataclass(frozen=True)
class Axis:
    """One swept quantity: the script's column for it (``update_rate``), the dotted scenario
    key it sets (``workload.updates.rate``), its values (numbers, as the script reasons with
    them) and *setting*, which turns a value into what the key gets (``lambda r:
    f"{r:g}/s"``, or None for a null; not a mapping or list: the sweep's crossover summary
    needs grid values it can hash)."""

    column: str
    key: str
    values: Sequence[float]
    setting: Callable[[float], Any] = lambda v: v


@dataclass
class SweepOutcome:
    """An experiment's sweep, as the script reads it (see the module docstring)."""

    axes: list[Axis]
    runs: pd.DataFrame
    """One row per point × pattern × replication: ``point``, the axis columns, ``pattern``,
    ``replication``, ``seed``, every metric, the derived columns."""
    table: pd.DataFrame
    """One row per point × pattern: axis columns, ``pattern``, ``n``, then for each metric and
    derived column its mean, ``_ci_low`` and ``_ci_high``."""
    replications: int
    store: Path
    base: dict = field(repr=False)
    """The scenario every point overrides (the file with the script's and ``--set``'s
    overrides applied)."""
    warnings: list[str] = field(default_factory=list)
    base_dir: Path | None = None
    """The scenario file's folder: what relative file names in it are relative to."""

    @property
    def columns(self) -> list[str]:
        """The axis columns (the index of :meth:`pivot` and :meth:`paired`)."""
        return [a.column for a in self.axes]

    def pivot(self, column: str, *, stat: str = "") -> pd.DataFrame:
        """*column*'s mean (or ``stat="_ci_low"``/``"_ci_high"``) per point (rows, indexed by
        the axis columns) and pattern (columns, in the scenario's order)."""
        t = self.table
        wide = t.pivot_table(index=self.columns, columns="pattern", values=column + stat,
                             sort=True, dropna=False)
        return wide[list(dict.fromkeys(t.pattern))]

    def paired(self, a: str, b: str, column: str) -> pd.DataFrame:
        """Per point (indexed by the axis columns): the mean of ``a − b`` over the replications
        both patterns finished (``mean``), its 95 % Student-t interval (``ci_low``,
        ``ci_high``) and ``n``. The patterns of a replication ran on the same workload, so
        this interval is narrower than the two patterns' intervals side by side."""
        from .stats import paired_difference

        rows = []
        for _, g in self.runs.groupby("point", sort=True):
            x = g[g.pattern == a].set_index("replication")[column]
            y = g[g.pattern == b].set_index("replication")[column]
            both = x.index.intersection(y.index).sort_values()
            ci = paired_difference(x.loc[both].to_numpy(), y.loc[both].to_numpy())
            first = g.iloc[0]
            rows.append({**{c: first[c] for c in self.columns}, "mean": ci.mean,
                         "ci_low": ci.low, "ci_high": ci.high, "n": ci.n})
        return pd.DataFrame(rows).set_index(self.columns)

    def support(self, ok: bool, detail: str) -> str:
        """The tail of a finding's line: whether the 95 % intervals support it (*ok*, judged by
        the script, e.g. a paired difference's interval excluding zero), with *detail*; with
        one replication there is no interval to judge."""
        if self.replications < 2:
            return "; 95 % intervals: none with one replication"
        return f"; 95 % intervals: {'support it' if ok else 'do NOT support it'} ({detail})"

    def scenario(self, point: int):
        """The :class:`~simcomm.scenario.Scenario` of *point* (as its runs loaded it, without
        their seeds)."""
        from .loader import load
        from .scenario import apply_overrides

        values = self.runs.loc[self.runs.point == point, self.columns].iloc[0]
        return load(apply_overrides(self.base, [
            f"{a.key}={_yaml(a.setting(values[a.column]))}" for a in self.axes]),
            base_dir=self.base_dir)


Derive = Callable[[pd.DataFrame, list], pd.DataFrame]
"""``derive(runs, scenarios)``: the runs' rows with the script's columns added (see
:func:`run_sweep`)."""


def _yaml(value: Any) -> str:
    """*value* as ``--set`` reads it, as the sweep writes it (JSON is a subset of YAML)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


_STORE_FILES = {"sweep.json", "runs", "aggregate.csv", "paired.csv", "crossover.csv",
                "failures.csv"}


def _clear_store(store: Path) -> None:
    """Remove a sweep store an earlier run of the script left at *store*, so that the results
    come from this run's code (a store is only reused by ``simcomm sweep --resume``). Anything
    that is not a sweep store is left for :func:`simcomm.sweep` to refuse."""
    if not (store / "sweep.json").is_file() or store.is_symlink():
        return
    if all(p.name in _STORE_FILES or p.name.startswith(".") for p in store.iterdir()):
        shutil.rmtree(store)


def run_sweep(scenario: str | Path, axes: Sequence[Axis], args: argparse.Namespace, *,
              fixed: Sequence[str] = (), check: Callable[[Any], str | None] | None = None,
              derive: Derive | None = None, store: str = "sweep",
              label: str | None = None) -> SweepOutcome:
    """Run the scenario file *scenario* over the grid of *axes* (every combination; the last
    varies fastest) with ``args.replications`` replications on ``args.workers`` processes,
    into the store ``args.out / store`` (replacing one an earlier run left there).

    The scenario is the file with *fixed* and then ``args.overrides`` (``--set``) applied,
    given to the sweep inline; the axes' values are set over that. Everything is checked
    before anything is written: a bad ``--replications``/``--workers`` (:class:`UsageError`),
    a scenario or point that does not load (:class:`~simcomm.fields.ScenarioError`), an
    unusable folder (:class:`~simcomm.result.OutputError`), and what *check* says of the
    first point's loaded scenario (a message, raised as :class:`UsageError`; None: fine,
    e.g. the pattern entries the script needs are there). *derive* gets the rows of every
    run (one per point × pattern × replication, the axis columns filled in) and the loaded
    scenario of each point (a list indexed by ``point``), and returns the rows with its
    columns added; the table has their means and intervals too. Runs that raised:
    :class:`RunsFailed`, after the others finished. Warnings the runs raised (an offered load
    at or above capacity …) are printed on stderr, each once."""
    import simcomm

    from .scenario import apply_overrides, read_yaml
    from .sweep import read_sweep

    replications, workers = counts(args)
    base = apply_overrides(read_yaml(scenario), [*fixed, *args.overrides])
    where = Path(scenario).resolve().parent
    axes = list(axes)
    if axes:
        grid = {a.key: [a.setting(v) for v in a.values] for a in axes}
    else:
        # the sweep needs a grid: one point, the scenario's own duration
        grid = {"duration": [base.get("duration")
                             or f"{simcomm.load(base, base_dir=where).duration!r}s"]}
    spec = {"scenario": base, "grid": grid, "replications": replications}
    checked = read_sweep(spec, where)  # check it all before the old store goes
    if check is not None:
        problem = check(simcomm.load(apply_overrides(base, [
            f"{k}={_yaml(v)}" for k, v in checked.points[0].items()]), base_dir=where))
        if problem:
            raise UsageError(problem)
    out = Path(args.out) / store
    _clear_store(out)
    from .sweep import progress_bar

    progress, stop = (progress_bar(label=label or Path(args.out).name) if sys.stderr.isatty()
                      else (None, lambda: None))
    try:
        result = simcomm.sweep(spec, out, workers=workers, base_dir=where, progress=progress)
    finally:
        stop()
    if not result.failures.empty:
        lines = [f"{len(result.failures)} run(s) failed (the others are in {out}):"]
        lines += [f"  point {f.point}, replication {f.replication}: {f.error}"
                  for f in result.failures.itertuples()]
        raise RunsFailed("\n".join(lines))
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)

    points = list(itertools.product(*(a.values for a in axes)))
    runs = result.runs
    values = pd.DataFrame([dict(zip([a.column for a in axes], p, strict=True))
                           for p in points] or [{}], index=range(max(1, len(points))))
    keep = ["point", "pattern", "replication", "seed",
            *[m for m in simcomm.METRIC_NAMES if m in runs.columns]]
    runs = runs[keep]
    runs = pd.concat([runs[["point"]], values.loc[runs.point].reset_index(drop=True),
                      runs.drop(columns="point")], axis=1)
    outcome = SweepOutcome(axes, runs, pd.DataFrame(), replications, out, base,
                           list(result.warnings), where)
    derived: list[str] = []
    if derive is not None:
        before = set(runs.columns)
        runs = derive(runs, [outcome.scenario(i) for i in range(len(values))])
        derived = [c for c in runs.columns if c not in before]
    outcome.runs = runs
    outcome.table = _table(result.aggregate, runs, [a.column for a in axes], derived)
    return outcome


def _table(aggregate: pd.DataFrame, runs: pd.DataFrame, columns: list[str],
           derived: list[str]) -> pd.DataFrame:
    """Means and intervals per point × pattern: the metrics from the sweep's aggregate, the
    derived columns from :func:`~simcomm.stats.t_interval` over the runs' values."""
    from .metrics.definitions import METRIC_NAMES
    from .stats import t_interval

    stats = {}
    for row in aggregate.itertuples(index=False):
        stats.setdefault((int(row.point), row.pattern), {}).update({
            row.metric: row.mean, f"{row.metric}_ci_low": row.ci_low,
            f"{row.metric}_ci_high": row.ci_high})
    metrics = [m for m in METRIC_NAMES if m in runs.columns]
    rows = []
    for (point, pattern), g in runs.groupby(["point", "pattern"], sort=False):
        first = g.iloc[0]
        row = {"point": int(point), **{c: first[c] for c in columns}, "pattern": pattern,
               "n": len(g)}
        got = stats.get((int(point), pattern), {})
        for m in metrics:
            for suffix in ("", "_ci_low", "_ci_high"):
                row[m + suffix] = got.get(m + suffix, math.nan)
        for c in derived:
            ci = t_interval(pd.to_numeric(g[c], errors="coerce").astype(float))
            row.update({c: ci.mean, f"{c}_ci_low": ci.low, f"{c}_ci_high": ci.high})
        rows.append(row)
    return pd.DataFrame(rows)


def table_to_csv(table: pd.DataFrame, path: Path) -> None:
    """Write an experiment's table (without the sweep's internal ``point`` number)."""
    table.drop(columns=["point"], errors="ignore").to_csv(path, index=False)
