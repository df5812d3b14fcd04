"""Which of simcomm's modules run compiled, and the switch back to their Python source.

The modules in :data:`COMPILED` are on every message's path (a connection carrying it, its
link and congestion window, the recorder counting it, the process waiting for it, SimPy's loop
running it, the poll exchange of the polling patterns, pub/sub's per-copy push). An install
compiles them with mypyc when it can (``setup.py``): the same source, as C extensions beside
it, about 1.6× as fast as pure Python for request and polling patterns
(``benchmarks/README.md``). Results are the same to the bit compiled or not
(``tests/test_native.py``).

Writing them, for speed: mypyc calls native classes and functions of this group directly,
but anything typed ``Any`` (or untyped) goes through a lookup by name — an attribute, a
method, a module global that is not ``Final``, a builtin such as ``next``. The build writes
its intermediate code to ``build/ops.txt``: ``CPyDict_GetItem``, ``CPyObject_GetAttr`` and
``PyObject_VectorcallMethod`` there are those lookups (``benchmarks/README.md`` says what
removing them gave).

simcomm uses the compiled modules only when **every** one of them is there and was
**compiled from its source as it is now** (the build records each source's SHA-256 in
``_compiled_from.txt`` beside them; content, not file times, which installs and checkouts
change). Otherwise — a pure-Python install, a part missing, a source file edited since the
build (``pip install -e .`` again rebuilds), or ``SIMCOMM_PURE=1`` in the environment —
every one of them is imported from its ``.py`` file: compiled code calls compiled classes
directly, so the two kinds cannot be mixed, and code that no longer matches its source must
never run. :data:`STATE` says which it is and why; ``simcomm --version`` and the benchmarks
print it.

This module is imported by ``simcomm/__init__.py`` before any other submodule, and by
``setup.py`` for the list (so it imports nothing of simcomm's).
"""

from __future__ import annotations

import glob
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

__all__ = ["COMPILED", "STATE", "compiled"]

COMPILED = (
    "simcomm.components.window",
    "simcomm.components.link",
    "simcomm.components.connection",
    "simcomm.components.pool",
    "simcomm.components.server",
    "simcomm.components.path",
    "simcomm.components.task",
    "simcomm.metrics.recorder",
    "simcomm.patterns.polls",
    "simcomm.patterns.pushes",
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


RECORD = "_compiled_from.txt"
"""Beside the compiled modules: ``name sha256`` of each source they were compiled from."""


def _digest(name: str) -> str:
    with open(_source(name), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _state() -> str:
    if os.environ.get("SIMCOMM_PURE"):
        return "pure Python (SIMCOMM_PURE is set)"
    missing = [name for name in COMPILED if _extension(name) is None]
    if len(missing) == len(COMPILED):
        return "pure Python (not compiled at install)"
    # mypyc's shared library of the group sits beside the package
    if not glob.glob(os.path.join(os.path.dirname(_ROOT), "simcomm__mypyc.*")):
        missing.append("simcomm__mypyc")
    if missing:
        return f"pure Python (partly compiled: {', '.join(missing)} missing; reinstall)"
    try:
        with open(os.path.join(_ROOT, RECORD), encoding="utf-8") as f:
            built = dict(line.split() for line in f if line.strip())
    except (OSError, ValueError):
        return f"pure Python (no record of what was compiled: {RECORD}; reinstall)"
    stale = [name for name in COMPILED if built.get(name) != _digest(name)]
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
