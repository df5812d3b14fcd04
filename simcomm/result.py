"""Results of runs: the summary row, the frames, and how to save them."""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from .metrics.definitions import METRIC_NAMES
from .metrics.summary import QUANTILES, latency_parts, latency_quantiles
from .metrics.summary import frames as build_frames

__all__ = ["ID_COLUMNS", "OutputError", "Result", "Results", "Summary", "check_out",
           "file_stems"]

#: Columns that identify a run, before the metrics in every summary row.
ID_COLUMNS = ("scenario", "pattern", "seed")


class Summary(Mapping):
    """The metrics of one run: a read-only mapping, and a one-row DataFrame via ``.frame``."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Summary({self._values!r})"

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([self._values])


@dataclass
class Result:
    """One run of one pattern on one scenario."""

    scenario: Any
    pattern: str
    """The row label (the pattern name, or its ``label``)."""
    seed: int
    metrics: dict[str, Any]
    recorder: Any = field(repr=False)
    warnings: list[str] = field(default_factory=list)

    @property
    def summary(self) -> Summary:
        row = {"scenario": self.scenario.name, "pattern": self.pattern, "seed": self.seed}
        row.update(self.metrics)
        return Summary(row)

    @property
    def parts(self) -> dict[str, float]:
        """The mean of each latency part (``<part>_s``, seconds, the names of the deliveries
        frame's columns) over the window's deliveries: the decomposition of ``latency_mean``.
        Either detail level."""
        return latency_parts(self.recorder)

    def latency_quantiles(self, probs: tuple[float, ...] = QUANTILES) -> pd.Series:
        """The window's latency (s) at each probability of *probs* (default: each hundredth,
        0.995, 0.999 and 1), indexed by probability: the run's latency CDF. Either detail
        level."""
        return pd.Series(latency_quantiles(self.recorder, probs), index=pd.Index(
            probs, name="probability"), name="latency")

    @cached_property
    def frames(self) -> dict[str, pd.DataFrame]:
        """``messages``, ``deliveries`` and ``instances`` DataFrames (window only; needs
        detail='full')."""
        server = self.scenario.server
        return build_frames(self.recorder, server.workers * server.instances)


class Results(list):
    """The results of a ``pattern:`` or ``patterns:`` scenario, in entry order."""

    @property
    def summary(self) -> pd.DataFrame:
        """One row per pattern entry, identified by ``pattern``."""
        return pd.DataFrame([dict(r.summary) for r in self])

    def write(self, out: str | Path, *, overwrite: bool = False) -> list[Path]:
        """Write ``summary.csv`` and, for full-detail runs, ``<label>.messages.parquet``,
        ``<label>.deliveries.parquet`` and ``<label>.instances.parquet`` into the folder
        *out*.

        *out* must not exist yet or be an empty folder; with *overwrite* it may also be a
        folder of earlier results (only ``summary.csv`` and ``*.parquet``), which is replaced
        whole, so old frames never mix with a new summary. Everything is written into a
        temporary folder next to *out* and renamed into place at the end: a failure (or
        Ctrl-C) leaves *out* as it was. Raises :class:`OutputError` before writing anything
        when *out* cannot be used, or when two labels map to the same file name."""
        out = _absolute(out)
        check_out(out, overwrite=overwrite)
        stems = file_stems([r.pattern for r in self])
        created = _make_parents(out.parent)
        tmp = _sibling(out, "tmp")
        try:
            os.mkdir(tmp)
            names = ["summary.csv"]
            self.summary.to_csv(tmp / names[0], index=False)
            for r in self:
                if not r.recorder.full:
                    continue
                for name, df in r.frames.items():
                    names.append(f"{stems[r.pattern]}.{name}.parquet")
                    df.to_parquet(tmp / names[-1], compression="zstd", index=False)
            _replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            for d in reversed(created):
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise
        return [out / n for n in names]


class OutputError(ValueError):
    """An output folder that cannot be used; the message names it and says why."""


def _ours(p: Path) -> bool:
    """Whether *p* is a file :meth:`Results.write` writes (only these may be overwritten)."""
    return p.is_file() and (p.name == "summary.csv" or p.name.endswith(".parquet"))


def _absolute(out: str | Path) -> Path:
    if isinstance(out, str) and not out.strip():
        raise OutputError("an empty path; name a folder (refusing to write into the current "
                          "one)")
    return Path(os.path.abspath(out))


def check_out(out: str | Path, *, overwrite: bool = False,
              flag: str = "overwrite=True") -> None:
    """Raise :class:`OutputError` unless :meth:`Results.write` can write *out*: not an empty
    path, not a file, not below a file, empty (or, with *overwrite*, holding only earlier
    results) and in a place where a folder can be created. Writes nothing (a probe folder is
    created and removed). *flag* is how the message names the overwrite switch."""
    given = Path(out)
    out = _absolute(out)
    if out.parent == out:
        raise OutputError(f"{str(given)!r} is a file system root; name a folder below it")
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise OutputError(f"{str(given)!r} exists and is not a folder")
        entries = sorted(out.iterdir())
        if entries and not overwrite:
            raise OutputError(f"{str(given)!r} is not empty; name a new folder, or pass {flag} "
                              "to replace the results in it")
        foreign = [p.name for p in entries if not _ours(p)]
        if foreign:
            raise OutputError(f"{str(given)!r} holds files simcomm did not write "
                              f"({foreign[0]!r}{', …' if len(foreign) > 1 else ''}); name "
                              "another folder")
    base = given.parent          # the nearest existing folder above, as the user wrote it
    while not (base.exists() or base.is_symlink()):
        base = base.parent
    if not base.is_dir():
        raise OutputError(f"{str(given)!r} is below {str(base)!r}, which is not a folder")
    probe = _sibling(Path(os.path.abspath(base)) / "probe", "probe")
    try:
        os.mkdir(probe)
    except OSError as e:
        raise OutputError(f"cannot create a folder in {str(base)!r}: "
                          f"{e.strerror or e}") from None
    os.rmdir(probe)


def file_stems(labels: Iterable[str]) -> dict[str, str]:
    """The file name stem of each label's frames; :class:`OutputError` naming both labels
    when two map to the same name (compared case-insensitively, as some file systems do)."""
    stems: dict[str, str] = {}
    seen: dict[str, str] = {}
    for label in labels:
        stem = _slug(label)
        other = seen.setdefault(stem.casefold(), label)
        if other != label:
            raise OutputError(f"labels {other!r} and {label!r} both map to the file name "
                              f"{stem!r}; give one another label")
        stems[label] = stem
    return stems


def _sibling(path: Path, what: str) -> Path:
    """A hidden, unused name in *path*'s folder."""
    return path.parent / f".{path.name}.simcomm-{what}-{secrets.token_hex(4)}"


def _make_parents(folder: Path) -> list[Path]:
    """Create *folder* and its missing parents; return the ones created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
    return missing[::-1]


def _replace(tmp: Path, out: Path) -> None:
    """Move the folder *tmp* to *out*: a rename when *out* is missing or empty; otherwise (a
    folder of earlier results) *out* is first renamed aside and removed after the swap."""
    if out.exists() and any(out.iterdir()):
        old = _sibling(out, "old")
        os.rename(out, old)
        try:
            os.rename(tmp, out)
        except BaseException:
            os.rename(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.replace(tmp, out)            # POSIX replaces an empty folder atomically
    except OSError:
        if not out.is_dir():
            raise
        out.rmdir()
        os.rename(tmp, out)


def _slug(label: str) -> str:
    """A file name stem for *label*: letters, digits, ``-``, ``_`` and ``.`` kept, anything else
    ``_``; no leading dot (a hidden file) or underscore."""
    keep = [c if c.isalnum() or c in "-_." else "_" for c in label]
    return "".join(keep).strip("_.") or "pattern"


def jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    """A summary row with NaN/inf as None and numpy scalars as Python numbers (for JSON)."""
    out = {}
    for k, v in row.items():
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out


assert set(ID_COLUMNS).isdisjoint(METRIC_NAMES)
