#!/usr/bin/env python3
"""Set up and run simcomm with nothing but Python (3.11+).

    python3 tasks.py demo   # venv + install, then the bundled comparisons
    python3 tasks.py test   # venv + install with test extras, then run pytest

Both create ``.venv/`` next to this file on first use and reuse it afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def sh(*args: object) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True)


def setup(extra: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - tasks.py may be run by an older python3
        sys.exit(f"simcomm needs Python >= 3.11; this is {sys.version.split()[0]}")
    if not PY.exists():
        venv.create(VENV, with_pip=True)
    sh(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e",
       f".[{extra}]" if extra else ".")


def demo() -> None:
    setup("")
    sh(BIN / "simcomm", "run", "examples/api-under-load.yaml")
    sh(PY, "experiments/client_styles.py", "--out", "out/client-styles")
    sh(PY, "experiments/update_delivery.py", "--out", "out/update-delivery")


def test() -> None:
    setup("dev")
    os.environ.setdefault("MPLBACKEND", "Agg")
    sh(PY, "-m", "pytest", *sys.argv[2:])


if __name__ == "__main__":
    tasks = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in tasks:
        sys.exit(f"usage: python3 tasks.py {{{'|'.join(tasks)}}} [pytest args]")
    try:
        tasks[sys.argv[1]]()
    except subprocess.CalledProcessError as e:
        sys.exit(e.returncode)
