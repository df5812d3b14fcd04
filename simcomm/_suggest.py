"""Did-you-mean hints for error messages (one helper for every place that names options)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: object, options: Iterable[object]) -> str:
    """``"; did you mean 'x'?"`` for the closest option to *word*, or ``""``."""
    word = str(word)
    opts = [str(o) for o in options]
    close = difflib.get_close_matches(word, opts, n=1, cutoff=0.6)
    if not close and len(word) >= 3:
        close = [o for o in opts if o.startswith(word) or word.startswith(o)][:1]
    return f"; did you mean {close[0]!r}?" if close else ""
