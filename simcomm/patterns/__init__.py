"""Communication patterns: strategies registered by name (see :mod:`.base`)."""

from . import request_response  # noqa: F401  (registers itself)
from .base import PATTERNS, Pattern, PatternParams, register

__all__ = ["PATTERNS", "Pattern", "PatternParams", "register"]
