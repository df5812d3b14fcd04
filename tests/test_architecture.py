"""The shape of the package: which module may import which, and what patterns may touch.

DESIGN.md: components know nothing of patterns; patterns ask the path to carry their
messages; the schema and the patterns never import each other. These tests keep it so.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "simcomm"


def _module(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """simcomm module → simcomm modules it imports (anywhere in the file, lazily too)."""
    mods = {_module(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                names = [f"{target}.{a.name}" for a in node.names]
                found = [n for n in names if n in mods] or ([target] if target in mods else [])
                graph[mod].update(found)
            elif isinstance(node, ast.Import):
                graph[mod].update(a.name for a in node.names if a.name in mods)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _package_edges(graph):
    """Modules of a package that import their own package's __init__ count as one: that is
    the registry idiom (``patterns/__init__`` imports each pattern module), not a circle."""
    return {m: {t for t in ts if not (m.startswith(t + ".") and t != "simcomm")}
            for m, ts in graph.items()}


def test_no_import_circle():
    """No two simcomm modules import each other, directly or through others."""
    assert _cycles(_package_edges(_imports())) == []


def test_schema_and_patterns_are_apart():
    """The schema module imports no pattern, and no pattern imports the schema."""
    graph = _imports()
    assert not {t for t in graph["simcomm.scenario"] if t.startswith("simcomm.patterns")}
    for mod, targets in graph.items():
        if mod.startswith("simcomm.patterns"):
            assert "simcomm.scenario" not in targets, mod


def test_components_know_no_patterns():
    """No component imports a pattern module, the world or the runner."""
    for mod, targets in _imports().items():
        if mod.startswith("simcomm.components"):
            bad = {t for t in targets if t.startswith(("simcomm.patterns", "simcomm.world",
                                                        "simcomm.runner"))}
            assert not bad, (mod, bad)


def test_patterns_ask_the_path():
    """No pattern sends on a link or connection, or takes a server worker, by itself: they
    ask the world's path (DESIGN.md: patterns are policies; hops plug into the path)."""
    import re

    forbidden = re.compile(r"\.(up|down)\.send\(|\.send\((UP|DOWN)|\.link\b|\.pipes\b|"
                           r"server\.(admit|work|release)\(|\bPipe\b")
    offenders = []
    for path in sorted((PKG / "patterns").glob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if forbidden.search(line):
                offenders.append(f"{path.name}:{n}: {line.strip()}")
    assert offenders == []


def test_patterns_and_components_set_no_recorder_field():
    """Only the recorder keeps its books: no component or pattern assigns to a recorder
    attribute (they call its methods with raw times) or looks at the warm-up (the recorder
    applies the window)."""
    import re

    assign = re.compile(r"\b(rec|_rec|recorder|self\.rec|self\._rec)\.\w+(\[[^]]*\])?\s*"
                        r"([-+*/]?=)(?!=)")
    warm = re.compile(r"\.warmup\b")
    offenders = []
    for path in sorted([*PKG.glob("components/*.py"), *PKG.glob("patterns/*.py")]):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if assign.search(code) or warm.search(code):
                offenders.append(f"{path.relative_to(PKG)}:{n}: {line.strip()}")
    assert offenders == []


def test_every_metric_is_computed_next_to_its_definition():
    """Each metric carries its computation; the summary is exactly those, in order."""
    from simcomm.metrics.definitions import METRIC_NAMES, METRICS

    assert all(callable(m.compute) for m in METRICS)
    assert len(set(METRIC_NAMES)) == len(METRIC_NAMES)
