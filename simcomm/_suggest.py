"""Did-you-mean hints for error messages (one helper for every place that names options)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: object, options: Iterable[object]) -> str:
    """``"; did you mean 'x'?"`` for the closest option to *word*, or ``""``. Case is
    ignored in the comparison (``SSE`` gets ``sse``); the option is shown as spelt."""
    word = str(word).casefold()
    folded: dict[str, str] = {}
    for o in options:
        folded.setdefault(str(o).casefold(), str(o))
    close = difflib.get_close_matches(word, list(folded), n=1, cutoff=0.6)
    if not close and len(word) >= 3:
        close = [o for o in folded if o.startswith(word) or word.startswith(o)][:1]
    return f"; did you mean {folded[close[0]]!r}?" if close else ""
