"""Which of simcomm's modules run compiled, and the switch back to their Python source.

The modules in :data:`COMPILED` are on every message's path (a connection carrying it, its
congestion window, the recorder counting it, the process waiting for it). An install compiles
them with mypyc when it can (``setup.py``): the same source, as C extensions beside it, about
15–20 % faster for request and polling patterns (``benchmarks/README.md``). Results are the
same to the bit compiled or not (``tests/test_native.py``).

simcomm uses the compiled modules only when **every** one of them is there and **newer than
its source**. Otherwise — a pure-Python install, a part missing, a source file edited since
the build (``pip install -e .`` again rebuilds), or ``SIMCOMM_PURE=1`` in the environment —
every one of them is imported from its ``.py`` file: compiled code calls compiled classes
directly, so the two kinds cannot be mixed, and code that no longer matches its source must
never run. :data:`STATE` says which it is and why; ``simcomm --version`` and the benchmarks
print it.

This module is imported by ``simcomm/__init__.py`` before any other submodule, and by
``setup.py`` for the list (so it imports nothing of simcomm's).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

__all__ = ["COMPILED", "STATE", "compiled"]

COMPILED = (
    "simcomm.components.window",
    "simcomm.components.connection",
    "simcomm.components.pool",
    "simcomm.components.server",
    "simcomm.components.path",
    "simcomm.components.task",
    "simcomm.metrics.recorder",
)
"""The modules an install compiles, in one mypyc group (they call each other natively)."""

_ROOT = os.path.dirname(os.path.abspath(__file__))


def _source(name: str) -> str:
    return os.path.join(_ROOT, *name.split(".")[1:]) + ".py"


def _extension(name: str) -> str | None:
    """The compiled file of module *name* beside its source, or None."""
    base = os.path.join(_ROOT, *name.split(".")[1:])
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if os.path.exists(base + suffix):
            return base + suffix
    return None


def _state() -> str:
    if os.environ.get("SIMCOMM_PURE"):
        return "pure Python (SIMCOMM_PURE is set)"
    missing, stale = [], []
    for name in COMPILED:
        ext = _extension(name)
        if ext is None:
            missing.append(name)
        elif os.path.getmtime(ext) < os.path.getmtime(_source(name)):
            stale.append(name)
    if len(missing) == len(COMPILED):
        return "pure Python (not compiled at install)"
    if missing:
        return f"pure Python (partly compiled: {', '.join(missing)} missing; reinstall)"
    if stale:
        return (f"pure Python ({', '.join(stale)} edited since compiled; `pip install -e .` "
                "rebuilds)")
    return "compiled (mypyc)"


STATE = _state()
"""``compiled (mypyc)``, or ``pure Python (why)``."""

compiled = STATE.startswith("compiled")
"""True when the modules of :data:`COMPILED` run compiled."""


class _FromSource(importlib.abc.MetaPathFinder):
    """Imports the modules of :data:`COMPILED` from their ``.py`` files."""

    def find_spec(self, fullname, path, target=None):
        if fullname in COMPILED:
            return importlib.util.spec_from_file_location(fullname, _source(fullname))
        return None


if not compiled and not any(isinstance(f, _FromSource) for f in sys.meta_path):
    sys.meta_path.insert(0, _FromSource())
