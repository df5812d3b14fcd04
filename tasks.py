#!/usr/bin/env python3
"""Set up and run simcomm with nothing but Python (3.11+).

    python3 tasks.py demo          # venv + install, then the bundled comparisons
    python3 tasks.py test          # venv + install with test extras, then run pytest
    python3 tasks.py experiments   # venv + install, then every experiment (out/<name>/)

Each creates ``.venv/`` next to this file on first use and reuses it afterwards. Arguments
after the target go to pytest (``test``) or to ``experiments/run_all.py`` (``experiments``:
``--quick``, ``--only NAME,...``, ``--out DIR``, ``--replications N``, ``--workers N``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def say(what: str) -> None:
    """Say what the next step does before it starts (some take a while and print nothing)."""
    print(f"==> {what}", flush=True)


def sh(*args: object) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True)


def setup(extra: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - tasks.py may be run by an older python3
        sys.exit(f"simcomm needs Python >= 3.11; this is {sys.version.split()[0]}")
    if not PY.exists():
        say(f"creating a virtual environment in {VENV} (first run only)")
        venv.create(VENV, with_pip=True)
        say("installing simcomm and its dependencies into it"
            + (f" with the {extra!r} extras" if extra else "")
            + " (first run: a few minutes, quiet while pip works)")
    elif _up_to_date(extra):
        say(f"simcomm is installed in {VENV}" + (f" with the {extra!r} extras" if extra else "")
            + ", its compiled modules up to date (nothing to do)")
        return
    else:
        say(f"installing simcomm in {VENV}" + (f" with the {extra!r} extras" if extra else "")
            + " (and compiling its hot modules with mypyc: a minute or two)")
    sh(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e",
       f".[{extra}]" if extra else ".")
    STAMP.write_text(_stamp(extra))


STAMP = VENV / ".simcomm-installed"
"""What the last install was made from (see :func:`_stamp`)."""


def _stamp(extra: str) -> str:
    """The inputs of an install: the extras, the build settings and the files that decide what
    is installed and compiled. Any change to them, and the install runs again."""
    h = hashlib.sha256(extra.encode())
    for key in ("SIMCOMM_PURE", "SIMCOMM_COMPILE"):
        h.update(f"{key}={os.environ.get(key, '')};".encode())
    for name in ("pyproject.toml", "setup.py", "simcomm/_native.py"):
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def _up_to_date(extra: str) -> bool:
    """The last install was made from the same inputs, and its compiled modules are all there
    and built from their sources as they are (simcomm/_native.py decides; an edited compiled
    module makes it False, and the install compiles it again). A pure-Python install is redone
    each time."""
    if not STAMP.exists() or STAMP.read_text() != _stamp(extra):
        return False
    check = "import sys, simcomm._native as n; sys.exit(0 if n.compiled else 1)"
    return subprocess.run([str(PY), "-c", check], cwd=ROOT, env={**os.environ,
                          "SIMCOMM_PURE": ""}, capture_output=True).returncode == 0


def demo() -> None:
    setup("")
    say("running examples/api-under-load.yaml: a table of every metric")
    sh(BIN / "simcomm", "run", "examples/api-under-load.yaml")
    say("comparing request-response client styles -> out/client-styles/")
    sh(PY, "experiments/client_styles.py", "--out", "out/client-styles")
    say("comparing the five update patterns over a range of update rates -> out/update-delivery/")
    sh(PY, "experiments/update_delivery.py", "--out", "out/update-delivery")


def experiments() -> None:
    setup("")
    os.environ.setdefault("MPLBACKEND", "Agg")
    say("running every experiment (experiments/run_all.py) -> out/<name>/; the full set takes "
        "a while (page_protocols most of it): --quick for a short check")
    sh(PY, "experiments/run_all.py", *sys.argv[2:])


def test() -> None:
    # the tests must run the compiled hot modules (setup.py): a failed compilation is an error
    # here, not a silently slower pure-Python install (SIMCOMM_COMPILE=optional allows one)
    os.environ.setdefault("SIMCOMM_COMPILE", "require")
    setup("dev")
    os.environ.setdefault("MPLBACKEND", "Agg")
    say("running the tests (pytest, the notebook included)")
    sh(PY, "-m", "pytest", *sys.argv[2:])


if __name__ == "__main__":
    tasks = {"demo": demo, "test": test, "experiments": experiments}
    if len(sys.argv) < 2 or sys.argv[1] not in tasks:
        sys.exit(f"usage: python3 tasks.py {{{'|'.join(tasks)}}} [pytest or run_all args]")
    try:
        tasks[sys.argv[1]]()
    except subprocess.CalledProcessError as e:
        sys.exit(e.returncode)
