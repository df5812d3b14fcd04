"""Pinned summaries of the bundled examples, for their own seeds.

These are regression pins, not correctness checks (the validation tests are those): they make
a refactor that should not change behaviour prove that it did not. When a change is *meant* to
move a figure (a modelling gap closed), regenerate the file and say in the commit which
figures moved and why::

    python tests/test_pinned.py --write
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

import simcomm

ROOT = Path(__file__).resolve().parents[1]
PINS = Path(__file__).with_name("pinned") / "examples.json"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def summaries(path: Path) -> dict[str, dict[str, float]]:
    results = simcomm.compare(path)
    return {r.pattern: {k: (None if isinstance(v, float) and math.isnan(v) else v)
                        for k, v in r.metrics.items()} for r in results}


def _pins() -> dict:
    return json.loads(PINS.read_text())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_summary_is_pinned(path):
    """Every metric of every pattern entry of the example equals its pinned value."""
    pinned = _pins()[path.name]
    got = summaries(path)
    assert sorted(got) == sorted(pinned)
    for label, metrics in pinned.items():
        for name, want in metrics.items():
            have = got[label][name]
            if want is None:
                assert have is None, (label, name, have)
            else:
                assert have == pytest.approx(want, rel=1e-9, abs=1e-12), (label, name)


def test_every_example_is_pinned():
    """No example is left unpinned."""
    assert sorted(_pins()) == sorted(p.name for p in EXAMPLES)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_pinned.py --write")
    import warnings
    warnings.simplefilter("ignore")
    PINS.write_text(json.dumps({p.name: summaries(p) for p in EXAMPLES}, indent=1,
                               sort_keys=True) + "\n")
    print(f"wrote {PINS}")
