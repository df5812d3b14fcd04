"""Metrics: definitions (the one place), the hot-path recorder, end-of-run summary."""

from .definitions import METRIC_NAMES, METRICS, PART_NAMES, PARTS, Kind, Metric, Tag
from .recorder import FullRecorder, Level, Recorder
from .summary import frames, summarise

__all__ = [
    "METRICS",
    "METRIC_NAMES",
    "PARTS",
    "PART_NAMES",
    "FullRecorder",
    "Kind",
    "Level",
    "Metric",
    "Recorder",
    "Tag",
    "frames",
    "summarise",
]
