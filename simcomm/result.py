"""Results of runs: the summary row, the frames, and how to save them."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from .metrics.definitions import METRIC_NAMES
from .metrics.summary import frames as build_frames

__all__ = ["ID_COLUMNS", "Result", "Results", "Summary"]

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

    @cached_property
    def frames(self) -> dict[str, pd.DataFrame]:
        """``messages`` and ``deliveries`` DataFrames (window only; needs detail='full')."""
        return build_frames(self.recorder)


class Results(list):
    """The results of a ``pattern:`` or ``patterns:`` scenario, in entry order."""

    @property
    def summary(self) -> pd.DataFrame:
        """One row per pattern entry, identified by ``pattern``."""
        return pd.DataFrame([dict(r.summary) for r in self])

    def write(self, out: str | Path) -> list[Path]:
        """Write ``summary.csv`` and, for full-detail runs, ``<pattern>.messages.parquet`` and
        ``<pattern>.deliveries.parquet`` into *out*. All files are written to a temporary
        folder first and moved in at the end, so a failure leaves nothing half-written."""
        import shutil
        import tempfile

        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".simcomm-", dir=out.parent))
        try:
            written = [tmp / "summary.csv"]
            self.summary.to_csv(written[0], index=False)
            for r in self:
                if not r.recorder.full:
                    continue
                slug = _slug(r.pattern)
                for name, df in r.frames.items():
                    path = tmp / f"{slug}.{name}.parquet"
                    df.to_parquet(path, compression="zstd", index=False)
                    written.append(path)
            out.mkdir(exist_ok=True)
            final = []
            for path in written:
                dest = out / path.name
                shutil.move(str(path), dest)
                final.append(dest)
            return final
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _slug(label: str) -> str:
    keep = [c if c.isalnum() or c in "-_." else "_" for c in label]
    return "".join(keep).strip("_") or "pattern"


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
