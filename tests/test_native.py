"""The compiled hot modules (``simcomm/_native.py``, ``setup.py``): the same results to the bit
as their Python source, and never used when they could be out of date.

The comparison runs bundled examples twice on this machine: in this process (compiled, when
the install compiled them) and in a child process with ``SIMCOMM_PURE=1`` (the same modules
imported from their ``.py`` files). Every summary metric and, for full detail, a hash of every
recorded message and delivery row must be *equal*, not close: the two do the same IEEE 754
operations in the same order (``-ffp-contract=off`` forbids fused multiply-adds), so any
difference at all is a bug in one of them. The examples are chosen to cover what the compiled
modules do: rounds of congestion windows and slow start, segment loss and its recovery,
QUIC streams, handshakes and 0-RTT, connections dropped by outages, pools, pipelining,
full-detail rows, the summary recorder and its streaming sketch, and fire-and-forget tasks
(polling, push, SSE).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import simcomm
from simcomm import _native

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "connections": ("connections.yaml", ["duration=30s"]),
    "slow-start": ("slow-start.yaml", []),
    "page-protocols": ("page-protocols.yaml", ["duration=20s"]),
    "zero-rtt": ("zero-rtt.yaml", []),
    "outages": ("outages.yaml", []),
    "retry-storm": ("retry-storm.yaml", []),
    "notifications": ("notifications.yaml", ["duration=60s"]),
    "client-styles": ("client-styles.yaml", ["duration=30s"]),
    "summary-sketch": ("short-polling.yaml", ["detail=summary", "latency_sketch=0.01"]),
    "summary-loss": ("push.yaml", ["detail=summary", "network.loss=0.02",
                                   "duration=60s"]),
}
"""Name → (example, overrides)."""


def _clean(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def outcome(example: str, overrides: list[str]) -> dict:
    """Every entry's summary metrics, and a digest of its full-detail rows (if kept)."""
    sc = simcomm.load_file(ROOT / "examples" / example, overrides)
    out = {}
    for r in simcomm.compare(sc):
        rows = hashlib.sha256()
        frames = r.frames if r.recorder.full else {}
        for name, frame in sorted(frames.items()):
            rows.update(name.encode())
            rows.update(frame.to_csv(float_format="%r").encode())
        out[r.pattern] = {"metrics": {k: _clean(v) for k, v in r.metrics.items()},
                          "rows": rows.hexdigest()}
    return out


def _in_child(env: dict, *code: str, cwd: Path = ROOT) -> str:
    proc = subprocess.run([sys.executable, "-c", "\n".join(code)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_state_says_what_runs():
    """``STATE`` and ``compiled`` agree with where the modules were imported from."""
    import simcomm.components.connection as conn

    assert _native.compiled == _native.STATE.startswith("compiled")
    assert conn.__file__.endswith(".py") != _native.compiled
    for name in _native.COMPILED:
        assert sys.modules[name].__file__.endswith(".py") != _native.compiled, name


def test_a_required_build_is_compiled():
    """Where the install had to compile (``SIMCOMM_COMPILE=require``: ``tasks.py test``, CI),
    the compiled modules are the ones the tests run."""
    if os.environ.get("SIMCOMM_COMPILE") != "require":
        pytest.skip("SIMCOMM_COMPILE is not 'require' here")
    assert _native.compiled, _native.STATE


@pytest.mark.skipif(not _native.compiled, reason="the install did not compile simcomm")
def test_compiled_and_pure_python_agree_to_the_bit():
    """Every case gives equal results compiled and from the Python source."""
    env = {**os.environ, "SIMCOMM_PURE": "1", "PYTHONWARNINGS": "ignore"}
    child = json.loads(_in_child(
        env, "import json, sys, warnings", "warnings.simplefilter('ignore')",
        f"sys.path.insert(0, {str(ROOT / 'tests')!r})", "import test_native as t",
        "from simcomm import _native",
        "assert not _native.compiled, _native.STATE",
        "print(json.dumps({k: t.outcome(*c) for k, c in t.CASES.items()}))"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        here = {k: outcome(*c) for k, c in CASES.items()}
    assert json.loads(json.dumps(here)) == child


def _copy_package(dest: Path) -> Path:
    """A copy of the installed package (sources and compiled files) under *dest*."""
    pkg = dest / "simcomm"
    shutil.copytree(ROOT / "simcomm", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    for lib in ROOT.glob("simcomm__mypyc*"):  # mypyc's shared library, beside the package
        shutil.copy2(lib, dest / lib.name)
    return pkg


def _state_of(dest: Path, **env: str) -> tuple[str, str]:
    out = _in_child({**os.environ, "PYTHONPATH": str(dest), **env},
                    "import simcomm, simcomm.components.window as w",
                    "print(simcomm._native.STATE); print(w.__file__)", cwd=dest)
    state, where = out.strip().splitlines()
    assert where.startswith(str(dest)), where  # the copy, not the install
    return state, where


@pytest.mark.skipif(not _native.compiled, reason="the install did not compile simcomm")
def test_edited_source_is_never_shadowed(tmp_path):
    """A source file edited after the build makes every compiled module come from its
    source: what runs is what the file says. A file only touched (a checkout, an install
    writing the sources after the extensions) keeps the compiled modules: their record holds
    the sources' contents, not their times."""
    pkg = _copy_package(tmp_path)
    state, where = _state_of(tmp_path)
    assert state == "compiled (mypyc)" and not where.endswith(".py")
    src = pkg / "components" / "connection.py"
    later = max(p.stat().st_mtime for p in pkg.rglob("*.so")) + 10
    os.utime(src, (later, later))
    state, where = _state_of(tmp_path)
    assert state == "compiled (mypyc)" and not where.endswith(".py")
    src.write_text(src.read_text() + "# edited\n")
    state, where = _state_of(tmp_path)
    assert "simcomm.components.connection edited since compiled" in state
    assert where == str(pkg / "components" / "window.py")  # all of them, not only the one


@pytest.mark.skipif(not _native.compiled, reason="the install did not compile simcomm")
def test_partial_build_and_the_switch_use_the_source(tmp_path):
    """One compiled module or the build's record missing, or ``SIMCOMM_PURE`` set: every
    module from its source."""
    pkg = _copy_package(tmp_path)
    state, where = _state_of(tmp_path, SIMCOMM_PURE="1")
    assert state == "pure Python (SIMCOMM_PURE is set)" and where.endswith(".py")
    (pkg / _native.RECORD).rename(tmp_path / "record")
    state, where = _state_of(tmp_path)
    assert "no record of what was compiled" in state and where.endswith(".py")
    (tmp_path / "record").rename(pkg / _native.RECORD)
    for so in (pkg / "metrics").glob("recorder*.so"):
        so.unlink()
    state, where = _state_of(tmp_path)
    assert "simcomm.metrics.recorder missing" in state and where.endswith(".py")
