"""The notebooks as committed: saved without outputs, on the ``python3`` kernel, figures inline,
and writing only into a temporary folder. Executing them is nbmake's job (``--nbmake`` in the
pytest options: ``notebooks/`` is a test path), with the notebook's folder as working directory,
so a notebook that wrote a relative path would write into the repository."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = ("explore.ipynb", "tour.ipynb", "which_pattern.ipynb")
ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))

# calls that write a file, and what names it: the argument (savefig(PATH), Results.write(PATH),
# sweep(SPEC, PATH) …) or the object called (PATH.write_text(…), (OUT / "x").mkdir() …)
WRITERS = re.compile(r"\b(?:savefig|to_csv|to_parquet|write)\(\s*([^,)]*)"
                     r"|\bsweep\([^,]*,\s*([^,)]*)"
                     r"|(\(?[\w.]+(?:\([^)]*\))?(?:\s*/\s*[^)]*\))?)"
                     r"\.(?:write_text|write_bytes|mkdir|open)\("
                     r"|(?<![.\w])open\(\s*([^,)]*),\s*[\"'][wax]")


def _read(name: str) -> dict:
    return json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))


def _code(nb: dict) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def test_the_notebooks_are_there():
    assert set(EXPECTED) <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_saved_without_outputs(name):
    """Outputs are made by running the notebook, not kept in git: no outputs, no execution
    counts, and no metadata beyond the kernel's (and the language Jupyter records)."""
    nb = _read(name)
    assert nb["nbformat"] == 4
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], (name, "".join(cell["source"])[:60])
            assert cell["execution_count"] is None, (name, "".join(cell["source"])[:60])
    assert set(nb["metadata"]) <= {"kernelspec", "language_info"}, nb["metadata"]


@pytest.mark.parametrize("name", ALL)
def test_python3_kernel_and_inline_figures(name):
    """A custom kernelspec name fails under nbmake (NoSuchKernel); figures show inline the way
    Jupyter shows them, so a cell before the first figure says so."""
    nb = _read(name)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = _code(nb)
    inline = [i for i, c in enumerate(code) if c.startswith("%matplotlib inline")]
    figures = [i for i, c in enumerate(code) if re.search(r"\b(?:plots|plt)\.\w+\(", c)]
    assert inline, f"{name}: no %matplotlib inline"
    assert not figures or inline[0] < figures[0], f"{name}: %matplotlib inline after a figure"


@pytest.mark.parametrize("name", ALL)
def test_writes_only_into_a_temporary_folder(name):
    """nbmake runs a notebook in notebooks/: every file written goes under OUT, a folder made by
    tempfile.mkdtemp, never to a path relative to the working directory."""
    source = "\n".join(_code(_read(name)))
    targets = ["".join(groups) for groups in WRITERS.findall(source)]
    if not targets:
        return
    assert re.search(r"^OUT = .*tempfile\.mkdtemp\(", source, re.M), \
        "the notebook writes files: make OUT with tempfile.mkdtemp()"
    for target in targets:
        assert target.strip().lstrip("(").startswith("OUT"), \
            f"{name} writes {target!r}, not under OUT"
