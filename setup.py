"""Build simcomm, compiling its hot modules with mypyc when it can (pyproject.toml has the rest).

The modules listed in ``simcomm/_native.py`` (the path, connections, pools, congestion
windows, the server's workers, the recorder, fire-and-forget processes) are compiled to C
extensions by mypyc: the same source, type-checked, run without the interpreter's
per-operation overhead (see benchmarks/README.md for what it gains). Everything else stays
Python. Beside them the build writes ``_compiled_from.txt``, the SHA-256 of each source it
compiled: simcomm uses them only while the sources still match.

* ``SIMCOMM_PURE=1`` at install time: compile nothing (a pure-Python install).
* No C compiler, or the compilation fails: a warning, and a pure-Python install, unless
  ``SIMCOMM_COMPILE=require`` (``tasks.py test`` and CI set it: there a failed build is an
  error, not a slower run).

Results are the same to the bit either way: the compiled code does the same float operations in
the same order (IEEE 754 doubles; ``-ffp-contract=off`` keeps the C compiler from fusing a
multiply and an add into one rounding, which some processors would otherwise do), and
``tests/test_native.py`` compares the two on the bundled examples.
"""

from __future__ import annotations

import ast
import hashlib
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext


def _compiled() -> tuple[str, ...]:
    """``simcomm._native.COMPILED``, the one list (read, not imported: nothing of simcomm's
    runs at build time)."""
    tree = ast.parse((Path(__file__).resolve().parent / "simcomm" / "_native.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILED":
            return ast.literal_eval(node.value)
    raise SystemExit("setup.py: simcomm/_native.py has no COMPILED list")


COMPILED = _compiled()
ROOT = Path(__file__).resolve().parent
RECORD = "_compiled_from.txt"
"""Written beside the compiled modules: each one's name and the SHA-256 of the source it was
compiled from (simcomm/_native.py uses them only while their sources still match)."""

REQUIRED = os.environ.get("SIMCOMM_COMPILE", "") == "require"


def _warn(why: str) -> None:
    print(f"simcomm: {why}; installing pure Python (slower, same results). Set "
          "SIMCOMM_COMPILE=require to make this an error.", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """Build the compiled modules, or fall back to pure Python when they cannot be built."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # no compiler, missing headers, ...
            if REQUIRED:
                raise
            _warn(f"could not compile ({e})")
            # (a part built before the failure is harmless: simcomm uses its compiled modules
            # only when every one is there and recorded as built from its source as it is)
            return
        if self.extensions:
            # where the compiled modules went (the source tree for an editable install, the
            # build folder for a wheel): the record goes to the package folder there
            package = Path(self.get_ext_fullpath("simcomm._record")).parent
            package.mkdir(parents=True, exist_ok=True)
            (package / RECORD).write_text("".join(f"{name} {_digest(name)}\n"
                                                  for name in COMPILED))


def _digest(name: str) -> str:
    """SHA-256 of module *name*'s source (as simcomm/_native.py computes it)."""
    return hashlib.sha256((ROOT / (name.replace(".", "/") + ".py")).read_bytes()).hexdigest()


def ext_modules() -> list:
    if os.environ.get("SIMCOMM_PURE"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError as e:
        if REQUIRED:
            raise
        _warn(f"mypyc is not available ({e})")
        return []
    files = [name.replace(".", "/") + ".py" for name in COMPILED]
    # mypy checks the compiled modules strictly enough for mypyc; the rest of simcomm is only
    # read for their types (its errors are not theirs), and libraries without types (SimPy,
    # numpy in an isolated build) are Any to it
    flags = ["--follow-imports=silent", "--ignore-missing-imports"]
    exts = mypycify([*flags, *files], opt_level="3", debug_level="1", group_name="simcomm")
    for ext in exts:
        ext.extra_compile_args = [*ext.extra_compile_args, "-ffp-contract=off"]
    return exts


setup(ext_modules=ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
