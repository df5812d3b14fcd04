"""Parameter sweeps: a grid of scenario overrides × replications, run on local processes, kept
in a resumable Parquet store, summarised with Student-t intervals and paired differences.

A sweep file (YAML) or dict::

    scenario: notifications.yaml          # relative to the sweep file, or an inline mapping
    grid:                                  # dotted scenario keys; every combination is a point
      network.latency: [10ms, 50ms, 200ms]
      workload.updates.rate: {log: [0.01/s, 10/s], num: 7}
    replications: 5                        # or {target: {metric: latency_p99, rel: 0.05},
                                           #     min: 5, max: 50}

Each grid value reaches the scenario through :func:`~simcomm.scenario.apply_overrides`, as
``--set KEY=VALUE`` does. A run is one (point, replication): every pattern entry of the point's
scenario on the same workload (common random numbers), with the seed
``SeedSequence([base_seed, point, replication])`` — never the order runs execute in — and with
``detail: summary`` (no per-message frames; the metrics are the same).

The store ``DIR``:

* ``sweep.json`` — what the sweep is (its hash, grid keys, number of points), written first;
* ``runs/p00003-r0002.parquet`` — one file per finished run (one row per pattern), written to a
  hidden temporary file and renamed into place: a file there is whole, a run is in it once.
  A row holds the grid values, ``pattern``, ``replication``, ``seed``, every contract metric,
  the mean of each latency part (``<part>_s``, the deliveries frame's names; they add up to
  ``latency_mean``), ``warmup_used_s`` (the scenario's warm-up, or the one ``warmup: mser5``
  found for that pattern), ``latency_quantiles`` (the latency, s, at each probability of
  :data:`simcomm.metrics.summary.QUANTILES`: the run's CDF), ``scenario_hash`` and
  ``simcomm_version``;
* ``aggregate.csv`` — per point × pattern × metric (and latency part, and ``warmup_used_s``):
  mean, 95 % Student-t ``ci_low``/``ci_high`` and ``n`` (replications with a finite value);
* ``paired.csv`` — per point × metric × pair of patterns: the mean of the per-replication
  difference ``pattern_a − pattern_b`` with its interval;
* ``crossover.csv`` — along each swept key whose values are quantities, where the paired
  difference of two patterns on a metric changes sign, with the range where its interval
  straddles zero;
* ``failures.csv`` — the runs that raised, with their point and error (only when some did).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import re
import secrets
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._suggest import did_you_mean
from .fields import ScenarioError
from .loader import load
from .metrics.definitions import METRIC_NAMES, PART_NAMES
from .result import OutputError
from .scenario import apply_overrides, read_yaml
from .units import UnitError, parse_bandwidth, parse_duration, parse_rate, parse_size

__all__ = ["SweepResult", "SweepSpec", "progress_bar", "read_sweep", "run_seed", "sweep"]

Progress = Callable[[int, int, "float | None"], None]
"""``progress(done, total, eta_seconds)``: runs finished (those found on resume included), runs
planned so far (it grows when the stopping rule adds replications), and the estimated seconds
left (None until a run has finished in this call)."""

MANIFEST = "sweep.json"
RUNS = "runs"
_OURS = {MANIFEST, RUNS, "aggregate.csv", "paired.csv", "crossover.csv", "failures.csv"}
_RUN_FILE = re.compile(r"^p(\d{5})-r(\d{4})\.parquet$")
_RESERVED = {"point", "pattern", "replication", "seed", "scenario_hash", "simcomm_version",
             "metric"}
_SWEEP_KEYS = ("scenario", "grid", "replications")


# -- the sweep file ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """The stopping rule: replications are added until the CI half-width of *metric* is
    within *rel* × |mean| at every point and pattern, between *min* and *max* replications."""

    metric: str
    rel: float
    min: int = 5
    max: int = 50


@dataclass
class SweepSpec:
    """A validated sweep: the base scenario (raw, as read), the grid and the replications."""

    base: dict
    base_dir: Path | None
    grid: dict[str, list]
    replications: int | Target
    points: list[dict[str, Any]] = field(default_factory=list)
    scales: dict[str, str] = field(default_factory=dict)
    """``log`` for a key given as a log range, else ``lin`` (how crossovers interpolate)."""
    """One ``{key: value}`` per point, in grid order (the last key varies fastest)."""

    @property
    def seed(self) -> int:
        return int(self.base.get("seed", 0) or 0)

    @property
    def hash(self) -> str:
        """A hash of the base scenario, the grid and the seed: the same on every machine."""
        text = json.dumps({"scenario": self.base, "grid": self.grid},
                          sort_keys=True, default=str, ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_seed(base_seed: int, point: int, replication: int) -> int:
    """The seed of one run: the first 32-bit word of ``SeedSequence([base_seed, point,
    replication])``; it depends on nothing else (not on the order runs execute in)."""
    state = np.random.SeedSequence([base_seed, point, replication]).generate_state(1)
    return int(state[0])


def read_sweep(path_or_dict: str | Path | Mapping,
               base_dir: str | Path | None = None) -> SweepSpec:
    """Read and check a sweep (a YAML file or the same structure as a dict): the scenario
    loads, every grid key is a key of it (did-you-mean otherwise), every point's scenario
    loads. Raises :class:`~simcomm.fields.ScenarioError` (one line) without running anything.

    Relative paths (``scenario: FILE``, a scenario's ``trace:`` files) are relative to the
    sweep file's folder; for a dict, to *base_dir* (default: the working folder)."""
    if isinstance(path_or_dict, Mapping):
        raw = dict(path_or_dict)
        where = None if base_dir is None else Path(os.path.abspath(base_dir))
    else:
        raw, where = read_yaml(path_or_dict), Path(path_or_dict).resolve().parent
    for key in raw:
        if key not in _SWEEP_KEYS:
            raise ScenarioError(str(key), f"unknown sweep key{did_you_mean(key, _SWEEP_KEYS)} "
                                f"(a sweep file has: {', '.join(_SWEEP_KEYS)})")
    if "scenario" not in raw:
        raise ScenarioError("scenario", "missing (a scenario file, relative to the sweep "
                            "file, or an inline scenario mapping)")
    base, base_dir = _base(raw["scenario"], where)
    grid = _grid(raw.get("grid"))
    replications = _replications(raw.get("replications", 1))
    spec = SweepSpec(base, base_dir, grid, replications)
    spec.scales = {k: "log" if isinstance(v, Mapping) and "log" in v else "lin"
                   for k, v in raw["grid"].items()}
    try:
        load(base, base_dir=base_dir)
    except ScenarioError as e:
        raise ScenarioError(f"scenario.{e.field}" if e.field else "scenario", e.message) \
            from None
    for key, values in grid.items():
        _check_key(spec, key, values[0])
    keys = list(grid)
    for combo in itertools.product(*grid.values()):
        spec.points.append(dict(zip(keys, combo, strict=True)))
    for i, point in enumerate(spec.points):
        try:
            load(_point_raw(spec, point), base_dir=base_dir)
        except ScenarioError as e:
            values = ", ".join(f"{k}={_text(v)}" for k, v in point.items())
            raise ScenarioError(e.field, f"{e.message} (grid point {i}: {values})") from None
    return spec


def _base(scenario: Any, where: Path | None) -> tuple[dict, Path | None]:
    if isinstance(scenario, Mapping):
        return dict(scenario), where
    if not isinstance(scenario, str | Path) or not str(scenario).strip():
        raise ScenarioError("scenario", f"expected a scenario file name or mapping, got "
                            f"{scenario!r}")
    path = Path(scenario)
    if not path.is_absolute() and where is not None:
        path = where / path
    try:
        return read_yaml(path), path.resolve().parent
    except ScenarioError as e:
        raise ScenarioError("scenario", f"{e.field}: {e.message}") from None


def _grid(grid: Any) -> dict[str, list]:
    if not isinstance(grid, Mapping) or not grid:
        raise ScenarioError("grid", "expected a mapping of dotted scenario keys to values, "
                            "e.g. {network.latency: [10ms, 50ms]}, got "
                            f"{'nothing' if not grid else repr(grid)}")
    out = {}
    for key, values in grid.items():
        if not isinstance(key, str) or not key.strip():
            raise ScenarioError("grid", f"{key!r} is not a dotted scenario key")
        if key in _RESERVED:
            raise ScenarioError(f"grid.{key}", "is set by the sweep (each run's seed derives "
                                "from its point and replication)" if key == "seed" else
                                "names a column of the store; sweep another key")
        out[key] = expand(key, values)
    return out


def _replications(value: Any) -> int | Target:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ScenarioError("replications", f"must be at least 1, got {value}")
        return value
    if not isinstance(value, Mapping):
        raise ScenarioError("replications", "expected a number such as 5, or {target: {metric: "
                            f"latency_p99, rel: 0.05}}, min: 5, max: 50}}, got {value!r}")
    extra = set(value) - {"target", "min", "max"}
    if extra:
        key = sorted(map(str, extra))[0]
        raise ScenarioError(f"replications.{key}", "unknown key"
                            f"{did_you_mean(key, ('target', 'min', 'max'))}")
    target = value.get("target")
    if not isinstance(target, Mapping):
        raise ScenarioError("replications.target", "expected {metric: NAME, rel: FRACTION}, "
                            f"got {target!r}")
    metric = target.get("metric")
    if metric is None:
        raise ScenarioError("replications.target.metric", "missing (the metric whose "
                            "interval must be narrow, e.g. latency_p99)")
    if metric not in METRIC_NAMES:
        raise ScenarioError("replications.target.metric", f"unknown metric {metric!r}"
                            f"{did_you_mean(metric, METRIC_NAMES)}")
    rel = target.get("rel")
    if isinstance(rel, bool) or not isinstance(rel, int | float) or not 0 < rel < math.inf:
        raise ScenarioError("replications.target.rel", "expected a positive fraction of the "
                            f"mean such as 0.05, got {rel!r}")
    bounds = {}
    for key, default in (("min", 5), ("max", 50)):
        v = value.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            raise ScenarioError(f"replications.{key}", f"expected a whole number ≥ 2 (an "
                                f"interval needs two replications), got {v!r}")
        bounds[key] = v
    if bounds["max"] < bounds["min"]:
        raise ScenarioError("replications.max", f"{bounds['max']} is below min "
                            f"({bounds['min']})")
    return Target(metric, float(rel), bounds["min"], bounds["max"])


# -- grid values -------------------------------------------------------------------------------

_PARSERS = (parse_duration, parse_rate, parse_size, parse_bandwidth)
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def expand(key: str, values: Any) -> list:
    """The values of one grid key: a list as it is; ``{log: [a, b], num: k}`` (geometric) or
    ``{lin: [a, b], num: k}`` (evenly spaced), k values from a to b, given back in a's unit
    (``{log: [0.01/s, 10/s], num: 4}`` → ``['0.01/s', '0.1/s', '1/s', '10/s']``)."""
    where = f"grid.{key}"
    if isinstance(values, list):
        if not values:
            raise ScenarioError(where, "an empty list; give at least one value")
        return list(values)
    if not isinstance(values, Mapping):
        raise ScenarioError(where, f"expected a list [a, b, …], {{log: [a, b], num: k}} or "
                            f"{{lin: [a, b], num: k}}, got {values!r}")
    kinds = [k for k in ("log", "lin") if k in values]
    extra = sorted(str(k) for k in values if k not in ("log", "lin", "num"))
    if extra:
        raise ScenarioError(f"{where}.{extra[0]}", "unknown key"
                            f"{did_you_mean(extra[0], ('log', 'lin', 'num'))} (a range is "
                            "{log: [a, b], num: k} or {lin: [a, b], num: k})")
    if len(kinds) != 1:
        raise ScenarioError(where, "a range is {log: [a, b], num: k} or {lin: [a, b], num: k}"
                            " (one of log and lin)")
    kind = kinds[0]
    ends = values[kind]
    if not isinstance(ends, list) or len(ends) != 2:
        raise ScenarioError(f"{where}.{kind}", f"expected the two ends [a, b], got {ends!r}")
    num = values.get("num")
    if isinstance(num, bool) or not isinstance(num, int) or num < 2:
        raise ScenarioError(f"{where}.num", f"expected a whole number ≥ 2 of values, got "
                            f"{num!r}")
    (a, b), unit = _ends(where, kind, ends)
    if kind == "log":
        if a <= 0 or b <= 0:
            raise ScenarioError(f"{where}.log", f"both ends must be above zero (a log range "
                                f"cannot reach or cross zero), got {ends!r}")
        points = np.geomspace(a, b, num)
    else:
        points = np.linspace(a, b, num)
    if unit:
        return [f"{_g(v)}{unit}" for v in points]
    ints = all(isinstance(e, int) and not isinstance(e, bool) for e in ends)
    if ints and all(float(_g(v)).is_integer() for v in points):
        return [round(float(v)) for v in points]
    return [float(_g(v)) for v in points]


def _g(v: float) -> str:
    """*v* to 6 significant digits (``0.0316228``), no trailing zeros."""
    return f"{float(v):.6g}"


def _ends(where: str, kind: str, ends: list) -> tuple[tuple[float, float], str]:
    """The two ends as numbers in the first end's unit, and that unit ('' for plain
    numbers)."""
    parts = []
    for e in ends:
        if isinstance(e, bool) or not isinstance(e, int | float | str):
            raise ScenarioError(f"{where}.{kind}", f"expected numbers with units such as 10ms, "
                                f"got {e!r}")
        m = _QUANTITY.match(str(e))
        if not m:
            raise ScenarioError(f"{where}.{kind}", f"cannot read {e!r} as a number with a "
                                "unit (such as 10ms, 0.5/s, 4KiB)")
        parts.append((float(m.group(1)), m.group(2)))
    (x, ux), (y, uy) = parts
    if ux == uy:
        return (x, y), ux
    for parse in _PARSERS:   # different units of one quantity: convert b into a's unit
        try:
            factor = parse(f"1{ux}") if ux else 1.0
            return (x, parse(str(ends[1])) / factor), ux
        except (UnitError, ZeroDivisionError):
            continue
    raise ScenarioError(f"{where}.{kind}", f"the ends {ends[0]!r} and {ends[1]!r} are not the "
                        "same kind of quantity")


def _text(value: Any) -> str:
    """*value* as ``--set`` reads it (YAML: JSON is a subset of it)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _override(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value, ensure_ascii=False, allow_nan=False)}"


def _point_raw(spec: SweepSpec, point: Mapping[str, Any]) -> dict:
    return apply_overrides(spec.base, [_override(k, v) for k, v in point.items()])


_NOT_A_KEY = ("unknown key", "is a value, not a section", "no list item")


def _check_key(spec: SweepSpec, key: str, value: Any) -> None:
    """A one-line error naming *key* when it is not a key of the scenario."""
    try:
        load(apply_overrides(spec.base, [_override(key, value)]), base_dir=spec.base_dir)
    except ScenarioError as e:
        on_key = e.field == key or key.startswith(f"{e.field}.") or not e.field
        if on_key and any(s in e.message for s in _NOT_A_KEY):
            detail = e.message if e.field == key else f"{e.field}: {e.message}"
            raise ScenarioError(f"grid.{key}", f"not a key of the scenario ({detail})") \
                from None


def _column(values: list) -> list:
    """The values of one grid key as a store column: numbers stay numbers (floats if any is
    a float), anything else becomes its text."""
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return list(values)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values]
    return [_text(v) for v in values]


# -- running -----------------------------------------------------------------------------------

@dataclass
class SweepResult:
    """What :func:`sweep` did and what the store holds."""

    out: Path
    scenario_hash: str
    runs: pd.DataFrame
    """Every row of ``DIR/runs/`` (this call's and earlier ones'), sorted by point, pattern
    entry and replication."""
    aggregate: pd.DataFrame
    paired: pd.DataFrame
    crossover: pd.DataFrame
    """Where one pattern starts to beat another along a swept key (see
    :func:`crossover_runs`)."""
    failures: pd.DataFrame
    """The runs of this call that raised: ``point``, the grid values, ``replication``,
    ``seed``, ``error``."""
    ran: int
    skipped: int
    """Runs found finished in the store (``resume``) and not run again."""
    warnings: list[str] = field(default_factory=list)
    """The distinct warnings the runs raised (an offered load ρ ≥ 1, a run that measured
    nothing …), each once."""

    @property
    def means(self) -> pd.DataFrame:
        """One row per point × pattern: ``point``, the grid values, ``pattern`` and the mean of
        every metric (and latency part) across the replications, as columns — what
        :func:`simcomm.plots.pareto` and :func:`simcomm.plots.waste` take."""
        agg = self.aggregate
        keys = [c for c in agg.columns[1:agg.columns.get_loc("pattern")]]
        if agg.empty:
            return pd.DataFrame(columns=["point", *keys, "pattern"])
        rows = ["point", *keys, "pattern"]
        wide = agg.pivot(index=rows, columns="metric", values="mean").reset_index()
        wide.columns.name = None
        order = {k: i for i, k in enumerate(dict.fromkeys(zip(agg["point"], agg["pattern"],
                                                               strict=True)))}
        wide = wide.iloc[sorted(range(len(wide)), key=lambda i: order[
            (wide["point"].iat[i], wide["pattern"].iat[i])])].reset_index(drop=True)
        return wide[["point", *keys, "pattern",
                     *[m for m in dict.fromkeys(agg["metric"]) if m in wide.columns]]]


def _run_task(task: dict) -> dict:
    """One run (in a worker, or here with one worker): load the point's scenario, run every
    pattern entry, write the rows to ``runs/`` atomically. Never raises: an error comes back
    as text (a worker's exception may not survive pickling)."""
    from .runner import compare

    # the package's version, without importing the package here (it imports this module)
    version = sys.modules[__package__].__version__

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = compare(load(task["raw"], base_dir=task["base_dir"]),
                              force=task.get("force", False))
        rows = []
        for r in results:
            row = {"point": task["point"], **task["columns"], "pattern": r.pattern,
                   "replication": task["replication"], "seed": task["seed"]}
            row.update({m: float(r.metrics[m]) for m in METRIC_NAMES})
            row.update(r.parts)
            row["warmup_used_s"] = float(r.scenario.warmup)
            row["latency_quantiles"] = r.latency_quantiles().to_numpy()
            row.update(scenario_hash=task["hash"], simcomm_version=version)
            rows.append(row)
        found = sorted({str(w.message) for w in caught})
        if task.get("file") is None:  # a Dask worker: the rows go back to be stored there
            return {"ok": True, "warnings": found, "rows": rows, "store": task["store"]}
        _store(rows, Path(task["file"]))
        return {"ok": True, "warnings": found}
    except Exception as e:  # reported with its point, the others go on
        return {"ok": False, "error": f"{type(e).__name__}: {e}".splitlines()[0]}


def _store(rows: list[dict], final: Path) -> None:
    """Write one run's rows to *final* whole: a temporary file renamed into place."""
    df = pd.DataFrame(rows)
    for c in ("point", "replication", "seed"):
        df[c] = df[c].astype("int64")
    tmp = final.parent / f".{final.name}.tmp-{secrets.token_hex(4)}"
    try:
        df.to_parquet(tmp, index=False)
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _dask_client(address: str):
    """A client of the Dask distributed scheduler at *address*, with a worker; a
    :class:`~simcomm.fields.ScenarioError` naming ``--scheduler`` if there is none."""
    try:
        from distributed import Client
    except ImportError:
        raise ScenarioError("--scheduler", "Dask is not installed: pip install "
                            "'dask[distributed]' (or simcomm's dask extra)") from None
    if not isinstance(address, str) or "://" not in address:
        raise ScenarioError("--scheduler", f"expected an address such as "
                            f"tcp://127.0.0.1:8786, got {address!r}")
    try:
        client = Client(address, timeout=5, set_as_default=False)
    except Exception as e:
        raise ScenarioError("--scheduler", f"cannot reach a Dask scheduler at {address} "
                            f"({type(e).__name__}); start one (dask scheduler) or check the "
                            "address") from None
    try:
        client.wait_for_workers(1, timeout=10)
    except Exception:
        client.close()
        raise ScenarioError("--scheduler", f"the Dask scheduler at {address} has no worker "
                            "(start some: dask worker ADDRESS)") from None
    return client


def _ignore_sigint() -> None:
    """Worker initialiser: Ctrl-C is the parent's to handle (it stops the workers)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _done(runs: Path) -> set[tuple[int, int]]:
    found = set()
    if runs.is_dir():
        for p in runs.iterdir():
            m = _RUN_FILE.match(p.name)
            if m:
                found.add((int(m.group(1)), int(m.group(2))))
    return found


def _prepare(out: Path, given: str, spec: SweepSpec, resume: bool) -> None:
    """Refuse an *out* that is not ours to write; writes nothing."""
    if out.parent == out:
        raise OutputError(f"{given!r} is a file system root; name a folder below it")
    if not (out.exists() or out.is_symlink()):
        base = out.parent
        while not base.exists():
            base = base.parent
        if not base.is_dir():
            raise OutputError(f"{given!r} is below {str(base)!r}, which is not a folder")
        if not os.access(base, os.W_OK | os.X_OK):
            raise OutputError(f"cannot create a folder in {str(base)!r}: permission denied")
        return
    if not out.is_dir():
        raise OutputError(f"{given!r} exists and is not a folder")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    if MANIFEST not in entries:
        raise OutputError(f"{given!r} is not empty and holds no sweep ({MANIFEST} is missing); "
                          "name a new folder")
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        theirs = manifest["scenario_hash"]
    except (OSError, ValueError, KeyError, TypeError):
        raise OutputError(f"{given!r}: {MANIFEST} cannot be read; name a new folder") from None
    if theirs != spec.hash:
        raise OutputError(f"{given!r} holds the store of a different sweep (scenario hash "
                          f"{theirs}, this sweep's is {spec.hash}); name a new folder")
    if not resume:
        raise OutputError(f"{given!r} already holds this sweep's store; pass --resume "
                          "(resume=True) to finish it, or name a new folder")
    foreign = [n for n in entries if n not in _OURS]
    if foreign:
        raise OutputError(f"{given!r} holds files a sweep did not write ({foreign[0]!r}); "
                          "name a new folder")


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.parent / f".{path.name}.tmp-{secrets.token_hex(4)}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _guard(spec: SweepSpec, parallel: int) -> None:
    """Refuse, before anything runs, a sweep with a run this machine cannot finish: every
    point's scenario through :func:`simcomm.guard.check`, with the machine's memory shared by
    the *parallel* runs that execute at once."""
    from .guard import GuardError, Limits, check

    limits = Limits.machine()
    share = Limits(memory=limits.memory / parallel, seconds=limits.seconds)
    for i, point in enumerate(spec.points):
        raw = _point_raw(spec, point)
        raw["detail"] = "summary"
        try:
            check(load(raw, base_dir=spec.base_dir), limits=share)
        except GuardError as e:
            values = ", ".join(f"{k}={_text(v)}" for k, v in point.items())
            at_once = (f"; {parallel} runs at once share the machine's memory, fewer "
                       "--workers leave each more") if parallel > 1 else ""
            raise GuardError(e.field, f"{e.message} (grid point {i}: {values}{at_once})",
                             e.estimate) from None


def sweep(path_or_dict: str | Path | Mapping, out: str | Path, *, workers: int | None = None,
          resume: bool = False, progress: Progress | None = None,
          scheduler: str | None = None, force: bool = False,
          base_dir: str | Path | None = None) -> SweepResult:
    """Run a sweep (a YAML file or dict, see :mod:`simcomm.sweep`) into the store *out*.

    Everything is checked before anything runs or is written: the sweep (a
    :class:`~simcomm.fields.ScenarioError`: an unknown grid key with did-you-mean, a bad range,
    a point whose scenario does not load) and *out* (an
    :class:`~simcomm.result.OutputError`: not empty without *resume*, another sweep's store).
    *workers* processes (default: the core count; 1 runs here, in this process) share the
    runs; with *resume* the runs already in the store are not run again. A run that raises is
    recorded (``failures.csv``, :attr:`SweepResult.failures`) and the others go on. Ctrl-C
    (KeyboardInterrupt) stops the workers; every finished run stays in the store.

    With *scheduler* (``tcp://HOST:PORT``) the runs go to the workers of that existing Dask
    distributed cluster instead (*workers* is then ignored): each returns its rows and this
    process writes them into the store, so the workers need no shared disk. The rows are the
    same as on local processes: seeds come from (point, replication) only.

    Before anything runs, every point's run goes through the run-size guard
    (:func:`simcomm.guard.check`, at ``detail: summary``) with this machine's memory shared by
    the *workers* that run at once (with *scheduler*, one run's worth: the cluster's machines
    are not known here); a :class:`~simcomm.guard.GuardError` names the point. *force* skips
    the guard, here and in every run. *base_dir*: what a dict sweep's relative paths are
    relative to (see :func:`read_sweep`)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"workers must be a whole number ≥ 1, got {workers!r}")
    spec = read_sweep(path_or_dict, base_dir)
    if not force:
        planned = len(spec.points) * (spec.replications.min if isinstance(
            spec.replications, Target) else spec.replications)
        _guard(spec, 1 if scheduler is not None else max(1, min(
            workers or os.cpu_count() or 1, planned)))
    given = str(out)
    if not given.strip():
        raise OutputError("an empty path; name a folder for the sweep's store")
    out = Path(os.path.abspath(out))
    # the scheduler first: an unreachable one is a user mistake, and nothing is written yet
    client = _dask_client(scheduler) if scheduler is not None else None
    try:
        _prepare(out, given, spec, resume)
    except BaseException:
        if client is not None:
            client.close()
        raise
    workers = workers or os.cpu_count() or 1

    runs = out / RUNS
    runs.mkdir(parents=True, exist_ok=True)
    manifest = {"scenario_hash": spec.hash, "grid": list(spec.grid), "points": len(spec.points)}
    if not (out / MANIFEST).exists():
        _write_atomic(out / MANIFEST, lambda p: p.write_text(json.dumps(manifest, indent=2)
                                                             + "\n", encoding="utf-8"))
    for p in runs.iterdir():   # temporary files of a run stopped while writing
        if p.name.startswith("."):
            with contextlib.suppress(OSError):
                p.unlink()

    columns = {k: _column(v) for k, v in spec.grid.items()}
    col_of = [{k: columns[k][_index(spec.grid[k], pt[k])] for k in spec.grid}
              for pt in spec.points]
    found = _done(runs)
    target = spec.replications if isinstance(spec.replications, Target) else None
    wanted = {i: (target.min if target else spec.replications)
              for i in range(len(spec.points))}
    skipped = sum(1 for i, r in found if i in wanted and r < wanted[i])
    failed: dict[tuple[int, int], str] = {}
    caught: dict[str, None] = {}
    ran = 0
    started = time.monotonic()

    def task(i: int, r: int) -> dict:
        raw = _point_raw(spec, spec.points[i])
        seed = run_seed(spec.seed, i, r)
        raw["seed"] = seed
        raw["detail"] = "summary"
        return {"raw": raw, "base_dir": spec.base_dir, "point": i, "replication": r,
                "seed": seed, "columns": col_of[i], "hash": spec.hash, "force": force,
                "file": str(runs / f"p{i:05d}-r{r:04d}.parquet")}

    def report() -> None:
        if progress is None:
            return
        total = sum(wanted.values())
        done = sum(1 for i, r in itertools.chain(found, failed)
                   if i in wanted and r < wanted[i])
        eta = None
        if ran:
            eta = (time.monotonic() - started) / ran * max(0, total - done)
        progress(done, total, eta)

    def finished(key: tuple[int, int], outcome: dict) -> None:
        nonlocal ran
        ran += 1
        if outcome["ok"]:
            found.add(key)
            for w in outcome["warnings"]:
                caught.setdefault(w, None)
        else:
            failed[key] = outcome["error"]
        report()

    if client is not None:
        plain_task = task

        def task(i: int, r: int) -> dict:  # the worker sends its rows back to be stored here
            t = plain_task(i, r)
            t["store"] = t.pop("file")
            return t

        plain_finished = finished

        def finished(key: tuple[int, int], outcome: dict) -> None:
            if outcome.get("ok") and "rows" in outcome:
                try:
                    _store(outcome.pop("rows"), Path(outcome.pop("store")))
                except Exception as e:
                    outcome = {"ok": False, "error": f"storing the run: {type(e).__name__}: "
                                                     f"{e}".splitlines()[0]}
            plain_finished(key, outcome)

    pool = None
    try:
        report()
        while True:
            todo = [(i, r) for i, n in wanted.items() for r in range(n)
                    if (i, r) not in found and (i, r) not in failed]
            if todo:
                if client is not None:
                    _run_pool(client.get_executor(), todo, task, finished, failed)
                elif workers == 1:
                    for key in todo:
                        finished(key, _run_task(task(*key)))
                else:
                    if pool is None:
                        pool = ProcessPoolExecutor(
                            min(workers, len(todo)) if target is None else workers,
                            mp_context=_pool_context(),
                            initializer=_ignore_sigint)
                    _run_pool(pool, todo, task, finished, failed)
            if target is None or not _grow(wanted, target, failed, runs):
                break
    except BaseException:
        if pool is not None:
            _stop(pool)
            pool = None
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        if client is not None:
            client.close()
        _write_failures(out, spec, failed)

    data = read_runs(out)
    if not data.empty:  # runs a resumed sweep asking fewer replications found in the store
        keep = data["replication"] < data["point"].map(wanted)
        data = data[keep].reset_index(drop=True)
    aggregate = aggregate_runs(data, list(spec.grid))
    paired = paired_runs(data, list(spec.grid))
    _write_atomic(out / "aggregate.csv", lambda p: aggregate.to_csv(p, index=False))
    crossover = crossover_runs(paired, spec)
    _write_atomic(out / "paired.csv", lambda p: paired.to_csv(p, index=False))
    _write_atomic(out / "crossover.csv", lambda p: crossover.to_csv(p, index=False))
    return SweepResult(out, spec.hash, data, aggregate, paired, crossover,
                       _failures(spec, failed), ran, skipped, list(caught))


def _pool_context():
    """How the local pool starts its workers: from a fork server that has imported simcomm
    already (POSIX), so a worker starts in ~0.02 s instead of importing simcomm, pandas and
    pydantic again (~0.5 s with spawn; benchmarks/bench_sweep.py), and exits as fast; spawn
    where there is no fork server (Windows). The tasks are module-level functions, so nothing
    of the caller's ``__main__`` is needed in a worker."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return multiprocessing.get_context("spawn")


def _eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "ETA --"
    seconds = round(seconds)
    if seconds >= 3600:
        return f"ETA {seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"ETA {seconds // 60}m{seconds % 60:02d}s"
    return f"ETA {seconds}s"


def progress_bar(console=None, label: str = "sweep"):
    """A progress bar of a sweep's runs on *console* (a rich Console on a terminal; default:
    stderr's): ``(progress, stop)``, the callback :func:`sweep` takes and what removes the bar
    at the end. It appears with the first call: nothing is drawn while the sweep is still
    being checked. ``simcomm sweep`` and the experiment scripts show it."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn(label, markup=False), BarColumn(), MofNCompleteColumn(),
                   TextColumn("runs"), TextColumn("{task.fields[eta]}"),
                   console=console or Console(stderr=True), transient=True)
    task = None

    def progress(done: int, total: int, eta: float | None) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(label, total=total, eta=_eta(eta))
        bar.update(task, completed=done, total=total, eta=_eta(eta))
        bar.refresh()  # a run finished: show it now, not at the next tick

    def stop() -> None:
        if task is not None:
            bar.stop()

    return progress, stop


def _index(values: list, value: Any) -> int:
    return next(i for i, v in enumerate(values) if v is value or v == value)


def _run_pool(pool: ProcessPoolExecutor, todo, task, finished, failed) -> None:
    from concurrent.futures.process import BrokenProcessPool

    pending = {pool.submit(_run_task, task(*key)): key for key in todo}
    while pending:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for fut in done:
            key = pending.pop(fut)
            try:
                outcome = fut.result()
            except BrokenProcessPool:
                outcome = {"ok": False, "error": "a worker process died (killed, or out of "
                                                 "memory) during the run"}
            except Exception as e:  # e.g. a task that could not be pickled
                outcome = {"ok": False, "error": f"{type(e).__name__}: {e}".splitlines()[0]}
            finished(key, outcome)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop *pool*'s workers now (Ctrl-C): the runs they were doing are lost, finished runs
    are in the store already (renamed into place whole)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in processes:
        with contextlib.suppress(Exception):
            p.join(5)


def _grow(wanted: dict[int, int], target: Target, failed, runs: Path) -> bool:
    """The stopping rule: give another batch of replications (half as many again, at least
    one, at most up to ``max``) to each point where some pattern's interval of the target
    metric is wider than ``rel`` × |mean|. Whether it grew."""
    from .stats import t_interval

    out = Path(runs).parent
    data = read_runs(out)
    grew = False
    for i, n in wanted.items():
        if n >= target.max or any(k[0] == i for k in failed):
            continue
        rows = data[(data["point"] == i) & (data["replication"] < n)]
        wide = rows.empty
        for _, g in rows.groupby("pattern", sort=False):
            ci = t_interval(g[target.metric])
            if not (ci.half_width <= target.rel * abs(ci.mean)):   # NaN: not narrow yet
                wide = True
                break
        if wide:
            wanted[i] = min(target.max, n + max(1, math.ceil(n / 2)))
            grew = True
    return grew


def _failures(spec: SweepSpec, failed: dict[tuple[int, int], str]) -> pd.DataFrame:
    cols = ["point", *spec.grid, "replication", "seed", "error"]
    rows = [{"point": i, **{k: _text(v) for k, v in spec.points[i].items()}, "replication": r,
             "seed": run_seed(spec.seed, i, r), "error": err}
            for (i, r), err in sorted(failed.items())]
    return pd.DataFrame(rows, columns=cols)


def _write_failures(out: Path, spec: SweepSpec, failed) -> None:
    path = out / "failures.csv"
    if failed:
        df = _failures(spec, failed)
        _write_atomic(path, lambda p: df.to_csv(p, index=False))
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# -- the store and its summaries ---------------------------------------------------------------

def read_runs(out: str | Path) -> pd.DataFrame:
    """Every row of the store *out* (``DIR/runs/``), sorted by point, pattern entry (in the
    scenario's order) and replication."""
    runs = Path(out) / RUNS
    files = sorted(p for p in runs.iterdir() if _RUN_FILE.match(p.name)) if runs.is_dir() \
        else []
    if not files:
        return pd.DataFrame()
    frames = []
    for p in files:
        df = pd.read_parquet(p)
        df["_entry"] = range(len(df))
        frames.append(df)
    data = pd.concat(frames, ignore_index=True)
    data = data.sort_values(["point", "_entry", "replication"], kind="stable")
    return data.drop(columns="_entry").reset_index(drop=True)


def _metrics(data: pd.DataFrame) -> list[str]:
    return [m for m in METRIC_NAMES if m in data.columns]


def _aggregated(data: pd.DataFrame) -> list[str]:
    """What ``aggregate.csv`` holds intervals of: every metric, the latency parts' means
    (``<part>_s``) and the warm-up each run used."""
    extra = [f"{p}_s" for p in PART_NAMES] + ["warmup_used_s"]
    return _metrics(data) + [c for c in extra if c in data.columns]


def aggregate_runs(data: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per point × pattern × metric: ``mean``, ``ci_low``, ``ci_high`` (95 % Student-t across
    replications) and ``n`` (replications with a finite value)."""
    from .stats import t_interval

    cols = ["point", *keys, "pattern", "metric", "mean", "ci_low", "ci_high", "n"]
    rows = []
    if not data.empty:
        for (_, _), g in data.groupby(["point", "pattern"], sort=False):
            first = g.iloc[0]
            head = {"point": int(first["point"]), **{k: first[k] for k in keys},
                    "pattern": first["pattern"]}
            for m in _aggregated(data):
                ci = t_interval(g[m])
                rows.append({**head, "metric": m, "mean": ci.mean, "ci_low": ci.low,
                             "ci_high": ci.high, "n": ci.n})
    return pd.DataFrame(rows, columns=cols)


def cdf_runs(data: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per point × pattern × probability of :data:`~simcomm.metrics.summary.QUANTILES`: the
    latency quantile averaged over the replications (``latency``, s: the quantile-averaged
    CDF), its 95 % Student-t ``ci_low``/``ci_high`` and ``n``, for :func:`simcomm.plots.cdf`.
    Replications are independent, so one run's quantile is one i.i.d. value, as for any
    metric (:func:`simcomm.stats.t_interval`)."""
    from .metrics.summary import QUANTILES
    from .stats import t_interval

    cols = ["point", *keys, "pattern", "probability", "latency", "ci_low", "ci_high", "n"]
    if data.empty or "latency_quantiles" not in data.columns:
        return pd.DataFrame(columns=cols)
    rows = []
    for (_, _), g in data.groupby(["point", "pattern"], sort=False):
        q = np.stack(g["latency_quantiles"].to_numpy())
        first = g.iloc[0]
        head = {"point": int(first["point"]), **{k: first[k] for k in keys},
                "pattern": first["pattern"]}
        for j, p in enumerate(QUANTILES):
            ci = t_interval(q[:, j])
            rows.append({**head, "probability": p, "latency": ci.mean, "ci_low": ci.low,
                         "ci_high": ci.high, "n": ci.n})
    return pd.DataFrame(rows, columns=cols)


def paired_runs(data: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per point × metric × pair of patterns (``pattern_a`` before ``pattern_b`` in the
    scenario's order): the mean of ``a − b`` over the replications both finished
    (``mean_diff``), its 95 % Student-t interval and ``n``. The patterns of one replication
    share common random numbers, so this interval is narrower than the two separate ones."""
    from .stats import paired_difference

    cols = ["point", *keys, "metric", "pattern_a", "pattern_b", "mean_diff", "ci_low",
            "ci_high", "n"]
    rows = []
    if not data.empty:
        for _, g in data.groupby("point", sort=False):
            first = g.iloc[0]
            head = {"point": int(first["point"]), **{k: first[k] for k in keys}}
            patterns = list(dict.fromkeys(g["pattern"]))
            by = {p: g[g["pattern"] == p].set_index("replication") for p in patterns}
            for a, b in itertools.combinations(patterns, 2):
                both = by[a].index.intersection(by[b].index).sort_values()
                for m in _metrics(data):
                    ci = paired_difference(by[a].loc[both, m].to_numpy(),
                                           by[b].loc[both, m].to_numpy())
                    rows.append({**head, "metric": m, "pattern_a": a, "pattern_b": b,
                                 "mean_diff": ci.mean, "ci_low": ci.low, "ci_high": ci.high,
                                 "n": ci.n})
    return pd.DataFrame(rows, columns=cols)


_UNITS = ((parse_duration, "s"), (parse_rate, "1/s"), (parse_size, "B"),
          (parse_bandwidth, "bps"))


def numeric(values: list) -> tuple[list[float], str] | None:
    """The values of a grid key as numbers in SI units, and the unit (``s``, ``1/s``, ``B``,
    ``bps``; ``''`` for plain numbers), or None when they are not quantities of one kind."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values], ""
    for parse, unit in _UNITS:
        try:
            return [parse(v) for v in values], unit
        except (UnitError, TypeError, ValueError):
            continue
    return None


def crossover_runs(paired: pd.DataFrame, spec: SweepSpec) -> pd.DataFrame:
    """Along each swept key whose values are quantities (the other keys held at each of their
    values), where the paired difference of two patterns on a metric changes sign: ``at``
    (where the mean difference crosses zero, interpolated; in log scale for a log range),
    ``at_low``/``at_high`` (where its 95 % interval straddles zero: NaN when the grid never
    resolves that side), in SI ``unit``; ``lower_before`` is the pattern with the lower value
    below ``at``, ``lower_after`` the one above it."""
    from .stats import crossovers

    keys = list(spec.grid)
    cols = ["key", *keys, "metric", "pattern_a", "pattern_b", "at", "at_low", "at_high",
            "unit", "lower_before", "lower_after"]
    rows = []
    if paired.empty:
        return pd.DataFrame(rows, columns=cols)
    for key in keys:
        values: list = []   # distinct, in order; a value may be a mapping (not hashable)
        for v in spec.grid[key]:
            if not any(v is u or v == u for u in values):
                values.append(v)
        conv = numeric(values)
        if conv is None or len(values) < 2:
            continue
        xs, unit = conv
        col = _column(spec.grid[key])
        x_of = {c: x for c, x in zip([col[_index(spec.grid[key], v)] for v in values], xs,
                                     strict=True)}
        log = spec.scales.get(key) == "log" and min(xs) > 0
        others = [k for k in keys if k != key]
        group_by = [*others, "metric", "pattern_a", "pattern_b"]
        for names, g in paired.groupby(group_by, sort=False, dropna=False):
            g = g.assign(_x=g[key].map(x_of)).sort_values("_x")
            found = crossovers(g["_x"].tolist(), g["mean_diff"].tolist(),
                               g["ci_low"].tolist(), g["ci_high"].tolist(), log=log)
            fixed = dict(zip(group_by, names, strict=True))
            for c in found:
                a, b = fixed["pattern_a"], fixed["pattern_b"]
                first, second = (a, b) if c["sign_before"] < 0 else (b, a)
                rows.append({"key": key, **{k: fixed.get(k, "") for k in keys},
                             "metric": fixed["metric"], "pattern_a": a, "pattern_b": b,
                             "at": c["at"], "at_low": c["at_low"], "at_high": c["at_high"],
                             "unit": unit, "lower_before": first, "lower_after": second})
    return pd.DataFrame(rows, columns=cols)
