"""The ``simcomm`` command line.

``simcomm run FILE``       run every pattern entry of a scenario; print a table (or ``--json``),
                           optionally write ``summary.csv`` and Parquet frames (``--out DIR``)
``simcomm check FILE``     validate a scenario without running it
``simcomm patterns``       list the patterns and their parameters with defaults
``simcomm metrics``        list every metric with its unit and definition

Bad input (a bad file, an unknown key, a unit that does not parse …) prints one line naming the
field and exits with status 2, writing nothing.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .fields import ScenarioError
from .loader import load_file
from .metrics.definitions import METRICS, markdown_table
from .patterns import PATTERNS
from .result import Results, jsonable
from .runner import UnstableLoadWarning, compare
from .scenario import offered_load

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Simulate backend communication patterns and compare them.")
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


def _load(file: Path, overrides: list[str] | None, seed: int | None):
    try:
        return load_file(file, overrides or [], seed)
    except ScenarioError as e:
        _fail(str(e))


def _fmt(name: str, unit: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    if unit == "s":
        if name.startswith("latency"):
            return f"{value * 1e3:.2f} ms"
        return f"{value:,.2f} s"
    if unit == "bytes":
        return f"{value:,.0f} B"
    if unit == "ratio":
        return f"{value:.4f}"
    if unit == "1/s":
        return f"{value:,.2f} /s"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3f}"
    return f"{int(value):,}"


def _table(results: Results, title: str) -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("metric", style="bold")
    for r in results:
        table.add_column(escape(r.pattern), justify="right", overflow="fold")
    for m in METRICS:
        table.add_row(m.name, *(_fmt(m.name, m.unit, r.metrics[m.name]) for r in results))
    return table


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="scenario YAML file")],
    json_: Annotated[bool, typer.Option("--json", help="print the summary rows as JSON")] = False,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="write summary.csv and Parquet frames into this folder")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="override the scenario's seed")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="override a key: path.to.key=value (repeatable)")] = None,
) -> None:
    """Run a scenario: every pattern entry on the same workload, one summary row each."""
    sc = _load(file, set_, seed)
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        _fail(f"--out: {str(out_dir)!r} exists and is not a folder")
    progress = None
    bar = None
    if err.is_terminal and not json_:
        from rich.progress import Progress

        bar = Progress(console=err, transient=True)
        bar.start()
        tasks: dict[str, int] = {}

        def progress(label: str, fraction: float) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=1.0)
            bar.update(tasks[label], completed=fraction)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnstableLoadWarning)
        try:
            results = compare(sc, progress=progress)
        finally:
            if bar is not None:
                bar.stop()
    for w in caught:
        if issubclass(w.category, UnstableLoadWarning):
            err.print(f"[yellow]warning:[/] {escape(str(w.message))}", soft_wrap=True)
        else:  # pragma: no cover - not ours; show it as Python would
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if out_dir is not None:
        results.write(out_dir)
    if json_:
        rows = [jsonable(r.summary) for r in results]
        sys.stdout.write(json.dumps(rows, indent=2, allow_nan=False) + "\n")
    else:
        window = sc.duration - sc.warmup
        if not out.is_terminal:  # a pipe or file: no need to squeeze columns into 80
            out.width = max(out.width, 30 + 18 * len(results))
        out.print(_table(results, f"{escape(sc.name)}: {window:g}s measured after "
                                  f"{sc.warmup:g}s warm-up, seed {sc.seed}"))
    if out_dir is not None:
        err.print(f"wrote {escape(str(out_dir))}/summary.csv" + (" and Parquet frames"
                                                     if sc.detail == "full" else ""))


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="scenario YAML file")],
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="override a key: path.to.key=value (repeatable)")] = None,
) -> None:
    """Validate a scenario without running it."""
    sc = _load(file, set_, None)
    labels = escape(", ".join(v.label for v in sc.variants))
    out.print(f"ok: {escape(sc.name)}: {len(sc.variants)} pattern entr"
              f"{'y' if len(sc.variants) == 1 else 'ies'} ({labels})", soft_wrap=True)
    for v in sc.variants:
        rho = offered_load(sc, PATTERNS[v.name](v.params).requests_per_arrival())
        if not math.isnan(rho) and rho >= 1:
            err.print(f"[yellow]warning:[/] {escape(v.label)}: offered load ρ = {rho:.2f} ≥ 1: "
                      "queues grow without bound", soft_wrap=True)


@app.command()
def patterns() -> None:
    """List the patterns, one line each, and their parameters with defaults."""
    for name in sorted(PATTERNS):
        cls = PATTERNS[name]
        out.print(f"[bold]{name}[/]: {escape(cls.describe())}", soft_wrap=True)
        for key, field in cls.Params.model_fields.items():
            default = field.get_default(call_default_factory=True)
            shown = "null" if default is None else default
            out.print(f"    {key} = {shown!s}  — {field.description or ''}", soft_wrap=True,
                      markup=False)


@app.command()
def metrics(
    markdown: Annotated[bool, typer.Option("--markdown", help="print README's Markdown table")]
    = False,
) -> None:
    """List every metric with its unit and exact definition."""
    if markdown:
        sys.stdout.write(markdown_table() + "\n")
        return
    table = Table(show_lines=False)
    for col in ("metric", "unit", "definition"):
        table.add_column(col, overflow="fold")
    for m in METRICS:
        table.add_row(m.name, m.unit, escape(m.definition))
    out.print(table)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
