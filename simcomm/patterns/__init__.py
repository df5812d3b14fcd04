"""Communication patterns: strategies registered by name (see :mod:`.base`)."""

from . import (  # noqa: F401  (each module registers its pattern)
    job_polling,
    long_polling,
    pubsub,
    push,
    request_response,
    short_polling,
    sse,
    workflow,
)
from .base import PATTERNS, Pattern, PatternParams, register

__all__ = ["PATTERNS", "Pattern", "PatternParams", "register"]
