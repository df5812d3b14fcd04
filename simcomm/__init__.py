"""simcomm: a discrete-event simulator of backend communication design patterns.

>>> import simcomm
>>> results = simcomm.compare("examples/api-under-load.yaml")   # doctest: +SKIP
>>> results.summary[["pattern", "latency_p99", "messages_per_delivery"]]   # doctest: +SKIP
"""

from . import _native  # noqa: F401  (first: it decides where the compiled modules come from)
from .fields import ScenarioError
from .guard import GuardError
from .loader import load, load_file
from .metrics.definitions import METRIC_NAMES, METRICS
from .patterns import PATTERNS
from .result import Result, Results, Summary
from .runner import EmptyRunWarning, OverloadedLinkWarning, UnstableLoadWarning, compare, run
from .scenario import Scenario
from .sequence import trace
from .sweep import sweep

__version__ = "0.1.0"

__all__ = [
    "METRICS",
    "METRIC_NAMES",
    "PATTERNS",
    "EmptyRunWarning",
    "GuardError",
    "OverloadedLinkWarning",
    "Result",
    "Results",
    "Scenario",
    "ScenarioError",
    "Summary",
    "UnstableLoadWarning",
    "__version__",
    "compare",
    "load",
    "load_file",
    "run",
    "sweep",
    "trace",
]
