"""The ``simcomm`` command line.

``simcomm run FILE``       run every pattern entry of a scenario; print a table (or ``--json``),
                           optionally write ``summary.csv`` and Parquet frames (``--out DIR``)
``simcomm check FILE``     validate a scenario without running it
``simcomm trace FILE``     one client's exchange over a time window, a line per message
``simcomm plot DIR``       a sweep's figures (bands with intervals, Pareto, waste, latency
                          decomposition, CDFs)
``simcomm compare FILE``   rank the pattern entries with replications; Pareto set; advice
``simcomm sweep FILE``     run a sweep (a grid × replications) into a resumable store
                           (``--out DIR``), with intervals and paired differences
``simcomm patterns``       list the patterns and their parameters with defaults
``simcomm metrics``        list every metric with its unit and definition

Bad input (a bad file, an unknown key, a unit that does not parse, a bad option, an ``--out``
folder that cannot be written …) prints one line naming the field and exits with status 2,
writing nothing; Ctrl-C stops a run with one line and status 130. Every value that comes from
the user (a scenario's name, labels, paths) is printed literally: never read as Rich markup or
emoji codes, control characters shown escaped (``\\x1b``).
"""

from __future__ import annotations

import json
import math
import os
import sys
import typing
import unicodedata
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from . import fields
from .dists import Constant, Distribution
from .fields import ScenarioError
from .loader import load_file
from .metrics.definitions import METRICS, markdown_table
from .patterns import PATTERNS
from .result import OutputError, Results, check_out, file_stems, jsonable
from .runner import EmptyRunWarning, UnstableLoadWarning, WarmupWarning, compare
from .scenario import offered_load

try:  # typer vendors click (typer._click); older releases use click itself
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

__all__ = ["app", "main"]

err = Console(stderr=True, highlight=False, emoji=False)
out = Console(highlight=False, emoji=False)

# Characters never sent to the terminal as they are: C0/C1 controls (ESC starts a terminal
# escape sequence), format characters (bidirectional overrides, zero-width), line separators.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


def shown(value: object) -> str:
    """*value* as text safe to print: control and format characters escaped as Python would
    write them (``\\x1b``, ``\\n``, ``\\u202e``). Print it as a :class:`~rich.text.Text` (or with
    ``markup=False``) so that Rich reads no markup or emoji codes in it."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c.encode("unicode_escape").decode("ascii")
                   if unicodedata.category(c) in _HIDDEN else c for c in text)


def _line(label: str, style: str, message: object) -> Text:
    return Text.assemble((label, style), " ", shown(message))


def _say_error(message: object) -> None:
    err.print(_line("error:", "bold red", message), soft_wrap=True)


def _fail(message: str) -> None:
    _say_error(message)
    raise typer.Exit(2)


class _Group(TyperGroup):
    """The ``simcomm`` command group: a usage error (an unknown option, a missing argument)
    is one ``error:`` line and exit status 2, like any other bad input, not a framed box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_exceptions.ClickException as e:
            if type(e).__name__ != "NoArgsIsHelpError":  # that one has printed the help
                ctx = getattr(e, "ctx", None)
                hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                _say_error(e.format_message() + hint)
            code = e.exit_code
        except typer.Abort:  # (typer vendors click: its Abort is typer.Abort)
            err.print("aborted")
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code or 0)

    def get_help_option(self, ctx):
        return _no_type(super().get_help_option(ctx))

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if param.name == "version":  # a flag: no <bool> beside it
                _no_type(param)
        return params


class _Command(TyperCommand):
    def get_help_option(self, ctx):
        return _no_type(super().get_help_option(ctx))

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if param.param_type_name == "argument":
                # its name (FILE) is what a user needs; typer would add the type (<path>)
                param.display_type_rich = lambda ctx: None
        return params


def _no_type(option):
    """``--help`` takes no value: show no ``<bool>`` next to it."""
    if option is not None:
        option.metavar = ""
    return option


app = typer.Typer(add_completion=False, no_args_is_help=True, cls=_Group,
                  help="Simulate backend communication patterns and compare them.")


def _version(value: bool) -> None:
    if value:
        from . import __version__, _native

        typer.echo(f"simcomm {__version__}, {_native.STATE}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, show_default=False,
        help="Print the version and whether the hot modules run compiled, then exit.")) -> None:
    """Simulate backend communication patterns and compare them."""


def _load(file: Path, overrides: list[str] | None, seed: int | None):
    try:
        return load_file(file, overrides or [], seed)
    except ScenarioError as e:
        _fail(str(e))


def _seed(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        _fail(f"--seed: expected a whole number such as 7, got {value!r}")


def _file_names(sc) -> None:
    """Fail naming both labels when two pattern entries would write the same frame files."""
    try:
        file_stems(v.label for v in sc.variants)
    except OutputError as e:
        _fail(f"patterns: {e}")


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


def _table(results: Results, title: Text) -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("metric", style="bold")
    for r in results:
        table.add_column(Text(shown(r.pattern)), justify="right", overflow="fold")
    for m in METRICS:
        table.add_row(m.name, *(_fmt(m.name, m.unit, r.metrics[m.name]) for r in results))
    return table


# the runner's warnings, each printed as one 'warning:' line
_OURS = (UnstableLoadWarning, EmptyRunWarning, WarmupWarning)
FILE = Annotated[Path, typer.Argument(metavar="FILE", help="scenario YAML file",
                                      show_default=False)]
SET = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE", help="override a key, e.g. server.workers=8 (repeatable)")]


@app.command(cls=_Command)
def run(
    file: FILE,
    json_: Annotated[bool, typer.Option("--json", metavar="",
                                        help="print the summary rows as JSON")] = False,
    out_dir: Annotated[str | None, typer.Option(
        "--out", metavar="DIR", help="write summary.csv and Parquet frames into this new (or "
        "empty) folder")] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", metavar="", help="let --out replace the results of an earlier run in "
        "DIR (a folder holding only summary.csv and Parquet frames)")] = False,
    seed: Annotated[str | None, typer.Option(
        "--seed", metavar="N", help="override the scenario's seed", show_default=False)] = None,
    set_: SET = None,
    force: Annotated[bool, typer.Option(
        "--force", metavar="", help="run even when the run looks too large to finish in "
        "reasonable time and memory")] = False,
) -> None:
    """Run a scenario: every pattern entry on the same workload, one summary row each."""
    sc = _load(file, set_, _seed(seed))
    if out_dir is not None:
        _file_names(sc)
        try:
            check_out(out_dir, overwrite=overwrite, flag="--overwrite")
        except OutputError as e:
            _fail(f"--out: {e}")
    progress = None
    bar = None
    if err.is_terminal and not json_:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

        bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                       TaskProgressColumn(), console=err, transient=True)
        bar.start()
        tasks: dict[str, int] = {}

        def progress(label: str, fraction: float) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(shown(label), total=1.0)
            bar.update(tasks[label], completed=fraction)

    try:
        with warnings.catch_warnings(record=True) as caught:
            for category in _OURS:
                warnings.simplefilter("always", category)
            try:
                results = compare(sc, progress=progress, force=force)
            finally:
                if bar is not None:
                    bar.stop()
    except KeyboardInterrupt:
        err.print(_line("interrupted:", "yellow", "stopped before the end of the run; "
                        "nothing written"), soft_wrap=True)
        raise typer.Exit(130) from None
    except ScenarioError as e:  # the run-size guard: too large without --force
        _fail(str(e))
    for w in caught:
        if issubclass(w.category, _OURS):
            err.print(_line("warning:", "yellow", w.message), soft_wrap=True)
        else:  # pragma: no cover - not ours; show it as Python would
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    written = None
    if out_dir is not None:
        try:
            written = results.write(out_dir, overwrite=overwrite)
        except OutputError as e:  # the folder changed while the run ran
            _fail(f"--out: {e}")
        except OSError as e:  # a full disk, a folder made read-only meanwhile
            _fail(f"--out: cannot write {out_dir!r}: {e.strerror or e}")
        except KeyboardInterrupt:  # write() removed what it had written
            err.print(_line("interrupted:", "yellow", "nothing written"), soft_wrap=True)
            raise typer.Exit(130) from None
    if json_:
        rows = [jsonable(r.summary) for r in results]
        sys.stdout.write(json.dumps(rows, indent=2, allow_nan=False) + "\n")
    else:
        if not out.is_terminal:  # a pipe or file: no need to squeeze columns into 80
            out.width = max(out.width, 30 + 18 * len(results))
        if sc.warmup_rule == "mser5":
            found = ", ".join(f"{r.pattern} {r.scenario.warmup:.4g}s" for r in results)
            title = (f"{shown(sc.name)}: {sc.duration:g}s run, measured after the warm-up "
                     f"MSER-5 found ({shown(found)}), seed {sc.seed}")
        else:
            title = (f"{shown(sc.name)}: {sc.duration - sc.warmup:g}s measured after "
                     f"{sc.warmup:g}s warm-up, seed {sc.seed}")
        out.print(_table(results, Text(title)))
    if written:
        err.print(Text(f"wrote {shown(Path(out_dir) / 'summary.csv')}"
                       + (" and Parquet frames" if len(written) > 1 else "")), soft_wrap=True)


@app.command(cls=_Command)
def check(file: FILE, set_: SET = None) -> None:
    """Validate a scenario without running it.

    Its pattern entries' labels must also make distinct file names (for --out)."""
    sc = _load(file, set_, None)
    _file_names(sc)
    labels = ", ".join(shown(v.label) for v in sc.variants)
    out.print(Text(f"ok: {shown(sc.name)}: {len(sc.variants)} pattern entr"
                   f"{'y' if len(sc.variants) == 1 else 'ies'} ({labels})"), soft_wrap=True)
    for v in sc.variants:
        rho = offered_load(sc, PATTERNS[v.name](v.params).requests_per_arrival())
        if not math.isnan(rho) and rho >= 1:
            err.print(_line("warning:", "yellow", f"{v.label}: offered load ρ = {rho:.2f} ≥ 1: "
                            "queues grow without bound"), soft_wrap=True)


@app.command(cls=_Command)
def trace(
    file: FILE,
    client: Annotated[str, typer.Option("--client", metavar="N", help="the client (numbered "
                                        "from 0)", show_default=False)] = "0",
    window: Annotated[str, typer.Option("--window", metavar="FROM..TO", help="the messages "
                                        "sent in this window, e.g. 0s..2s", show_default=False)
                      ] = "0s..2s",
    pattern: Annotated[str | None, typer.Option(
        "--pattern", metavar="LABEL", help="which pattern entry (default: the first)",
        show_default=False)] = None,
    figure: Annotated[Path | None, typer.Option(
        "--figure", metavar="PNG", help="also draw the exchange as a sequence diagram",
        show_default=False)] = None,
    set_: SET = None,
) -> None:
    """Print one client's exchange over a time window, one line per message (as curl -v).

    Each line: when it was sent, from which party to which (client, proxy, publisher,
    server), its kind and tag, its bytes (headers apart), its flow and connection, and when it
    arrived. The run is the scenario's, cut short just after the window, in full detail."""
    from .sequence import lines
    from .sequence import trace as trace_run
    from .units import parse_duration

    sc = _load(file, set_, None)
    try:
        n = int(client.strip())
    except ValueError:
        n = -1
    if not 0 <= n < sc.clients.count:
        _fail(f"--client: expected a client number from 0 to {sc.clients.count - 1}, got "
              f"{client!r}")
    try:
        lo_s, hi_s = window.split("..")
        lo, hi = parse_duration(lo_s.strip()), parse_duration(hi_s.strip())
        if not 0 <= lo < hi:
            raise ValueError
    except ValueError:
        _fail(f"--window: expected FROM..TO with FROM < TO, such as 0s..2s, got {window!r}")
    labels = [v.label for v in sc.variants]
    if pattern is not None and pattern not in labels:
        _fail(f"--pattern: no entry labelled {pattern!r} (entries: {', '.join(labels)})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _OURS)
        try:
            ex = trace_run(sc, n, (lo, hi), pattern=pattern if pattern is not None else 0)
        except ScenarioError as e:
            _fail(str(e))
    label = ex.attrs["pattern"]
    out.print(Text(f"{shown(label)}: client {n}, messages sent in "
                   f"[{lo:g} s, {hi:g} s): {len(ex)}"), soft_wrap=True)
    for line in lines(ex):
        out.print(Text(line), soft_wrap=True)
    if figure is not None:
        from . import plots

        fig = plots.sequence(ex, title=f"{label}: client {n}, {lo:g}–{hi:g} s")
        try:
            fig.savefig(figure, dpi=110)
        except OSError as e:
            _fail(f"--figure: cannot write {shown(figure)}: {e.strerror or e}")
        err.print(Text(f"wrote {shown(figure)}"), soft_wrap=True)


def _close_figures() -> None:
    """Close the figures drawn so far (saved already): a sweep of many points draws many."""
    import matplotlib.pyplot as plt

    plt.close("all")


@app.command(cls=_Command)
def plot(
    out_dir: Annotated[Path, typer.Argument(metavar="DIR", help="a sweep's store (simcomm "
                                            "sweep --out DIR)", show_default=False)],
) -> None:
    """Draw a sweep's figures into DIR/figures/.

    For each swept key whose values are quantities: latency, chattiness and waste against it,
    one line per pattern with its 95% interval as a band (the other keys held at each of
    their values); for each grid point: latency against chattiness (the Pareto front), the
    stacked resource waste, the mean latency by part (the decomposition) and the latency
    CDFs (each quantile averaged over the replications, with its 95% interval)."""
    import json

    import pandas as pd

    from . import plots
    from .metrics.definitions import PART_NAMES
    from .sweep import cdf_runs, numeric, read_runs

    try:
        agg = pd.read_csv(out_dir / "aggregate.csv")
        keys = json.loads((out_dir / "sweep.json").read_text())["grid"]
    except (OSError, ValueError, KeyError):
        _fail(f"DIR: {shown(out_dir)} holds no finished sweep (aggregate.csv and sweep.json); "
              "run simcomm sweep FILE --out DIR first")
    figs = out_dir / "figures"
    figs.mkdir(exist_ok=True)
    wrote = 0
    shown_metrics = [m for m in ("latency_mean", "latency_p99", "messages_per_delivery",
                                 "wasted_server_s") if m in set(agg.metric)]
    for key in keys:
        if numeric(list(dict.fromkeys(agg[key].tolist()))) is None:
            continue
        others = [k for k in keys if k != key]
        for combo, rows in (agg.groupby(others, sort=False) if others else [((), agg)]):
            combo = combo if isinstance(combo, tuple) else (combo,)
            held = ", ".join(f"{k}={v}" for k, v in zip(others, combo, strict=True))
            fig = plots.bands(rows, key, shown_metrics,
                              title=f"against {key}" + (f" ({held})" if held else ""))
            name = "bands-" + "-".join(_safe(str(p)) for p in (key, *combo)) + ".png"
            fig.savefig(figs / name, dpi=100)
            wrote += 1
            _close_figures()
    means = agg.pivot_table(index=["point", *keys, "pattern"], columns="metric",
                            values="mean", sort=False).reset_index()
    curves = cdf_runs(read_runs(out_dir), keys)
    parts = {f"{p}_s" for p in PART_NAMES} <= set(means.columns)
    for point, rows in means.groupby("point", sort=True):
        where = ", ".join(f"{k}={rows.iloc[0][k]}" for k in keys)
        at = f"p{int(point):05d}"
        plots.pareto(rows, title=f"point {point}: {where}").savefig(
            figs / f"pareto-{at}.png", dpi=100)
        plots.waste(rows, title=f"Resource waste, point {point}: {where}").savefig(
            figs / f"waste-{at}.png", dpi=100)
        wrote += 2
        if parts:
            plots.decomposition(rows, title=f"Mean latency by part, point {point}: "
                                f"{where}").savefig(figs / f"decomposition-{at}.png", dpi=100)
            wrote += 1
        curve = curves[curves["point"] == point]
        if len(curve) and curve["latency"].notna().any():
            plots.cdf(curve, title=f"Latency CDF, point {point}: {where}").savefig(
                figs / f"cdf-{at}.png", dpi=100)
            wrote += 1
        _close_figures()
    err.print(Text(f"wrote {wrote} figures into {shown(figs)}"), soft_wrap=True)


@app.command("compare", cls=_Command)
def compare_cmd(
    file: FILE,
    replications: Annotated[str, typer.Option(
        "--replications", metavar="R", help="replications of every pattern entry (≥ 2)")] = "5",
    figure: Annotated[Path | None, typer.Option(
        "--figure", metavar="PNG", help="also draw latency against chattiness (the Pareto "
        "front)", show_default=False)] = None,
    set_: SET = None,
) -> None:
    """Rank a scenario's pattern entries with replications and recommend one.

    Prints, per metric, the entries from best to worst with their mean and 95% interval;
    the Pareto-optimal ones on p99 latency, messages per delivery and wasted server time; and
    a one-line recommendation."""
    from .ranking import RANKED, rank

    sc = _load(file, set_, None)
    try:
        r = int(replications.strip())
    except ValueError:
        r = 0
    if r < 2:
        _fail(f"--replications: expected a whole number ≥ 2 such as 5, got {replications!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _OURS)
        try:
            ranking = rank(sc, r)
        except ScenarioError as e:
            _fail(str(e))
    units = {m.name: m.unit for m in METRICS}
    for metric in RANKED:
        table = Table(title=Text(f"{metric} (best first, mean and 95% interval over {r} "
                                 "replications)"), show_lines=False)
        for col in ("rank", "pattern", "mean", "interval"):
            table.add_column(col, justify="left" if col == "pattern" else "right")
        for row in ranking.table[ranking.table.metric == metric].itertuples(index=False):
            table.add_row(str(row.rank), shown(row.pattern),
                          _fmt(metric, units[metric], row.mean),
                          f"{_fmt(metric, units[metric], row.ci_low)} … "
                          f"{_fmt(metric, units[metric], row.ci_high)}")
        out.print(table)
    out.print(Text("Pareto-optimal (p99 latency, messages per delivery, wasted server time): "
                   + ", ".join(shown(p) for p in ranking.pareto)), soft_wrap=True)
    out.print(Text("recommendation: " + ranking.recommendation), soft_wrap=True)
    if figure is not None:
        from . import plots

        means = ranking.runs.groupby("pattern", sort=False).mean(numeric_only=True)
        fig = plots.pareto(means.reset_index(), title=f"{sc.name}: latency against "
                           f"chattiness, mean of {r} replications (filled: Pareto front)")
        try:
            fig.savefig(figure, dpi=110)
        except OSError as e:
            _fail(f"--figure: cannot write {shown(figure)}: {e.strerror or e}")
        err.print(Text(f"wrote {shown(figure)}"), soft_wrap=True)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


@app.command(cls=_Command)
def sweep(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="sweep YAML file",
                                         show_default=False)],
    out_dir: Annotated[str, typer.Option(
        "--out", metavar="DIR", help="the sweep's store: a new or empty folder (or, with "
        "--resume, this sweep's earlier store)", show_default=False)],
    workers: Annotated[str | None, typer.Option(
        "--workers", metavar="N", help="worker processes (default: the core count)",
        show_default=False)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", metavar="", help="finish the sweep stored in DIR: runs already there are "
        "not run again")] = False,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", metavar="tcp://HOST:PORT", help="run on the workers of this Dask "
        "distributed scheduler instead of local processes",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="run even runs the size guard expects this machine cannot finish")]
        = False,
) -> None:
    """Run a parameter sweep: every grid point × replication, every pattern entry.

    Writes DIR/runs/ (Parquet, one file per finished run), DIR/aggregate.csv (mean and 95%
    Student-t interval per point, pattern and metric), DIR/paired.csv (paired differences
    between patterns) and DIR/crossover.csv (where one pattern overtakes another along a
    swept key). A run that fails is reported and the others go on (exit 1)."""
    from .sweep import progress_bar
    from .sweep import sweep as run_sweep

    n = None
    if workers is not None:
        try:
            n = int(workers.strip())
        except ValueError:
            n = 0
        if n < 1:
            _fail(f"--workers: expected a whole number ≥ 1 such as 2, got {workers!r}")
    progress, stop = progress_bar(err) if err.is_terminal else (None, lambda: None)
    try:
        try:
            result = run_sweep(file, out_dir, workers=n, resume=resume, progress=progress,
                               scheduler=scheduler, force=force)
        finally:
            stop()
    except (ScenarioError, OutputError) as e:
        _fail(f"--out: {e}" if isinstance(e, OutputError) else str(e))
    except KeyboardInterrupt:
        err.print(_line("interrupted:", "yellow", f"finished runs are kept in {out_dir}; run "
                        "the same command with --resume to finish the sweep"), soft_wrap=True)
        # exit now: the store is whole (each run renamed into place), and the interpreter's
        # exit would join the process pool's management thread, which can hang once its
        # workers were terminated
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    for w in result.warnings:
        err.print(_line("warning:", "yellow", w), soft_wrap=True)
    keys = list(result.failures.columns[1:-3])   # the grid keys
    for row in result.failures.to_dict("records"):
        point = ", ".join(f"{k}={row[k]}" for k in keys)
        err.print(_line("failed:", "bold red", f"point {row['point']} ({point}), replication "
                        f"{row['replication']}: {row['error']}"), soft_wrap=True)
    skipped = f", {result.skipped} found finished" if result.skipped else ""
    failed = f", {len(result.failures)} failed (DIR/failures.csv)" if len(result.failures) \
        else ""
    err.print(Text(f"{result.ran} runs{skipped}{failed}; wrote {shown(out_dir)}: runs/, "
                   "aggregate.csv, paired.csv, crossover.csv"), soft_wrap=True)
    if len(result.failures):
        raise typer.Exit(1)


# -- parameter defaults in scenario terms: `1 MiB`, `30 s`, `20 µs`, a choice's allowed values

_KINDS = {"duration": (fields.PosDuration, fields.NonNegDuration, fields.DurationDist,
                       fields.PosDurationDist),
          "size": (fields.PosSize, fields.NonNegSize, fields.SizeDist),
          "bandwidth": (fields.Bandwidth,), "rate": (fields.Rate,)}
# the validators a field type carries identify it (an int field has none of these)
_KIND_OF = {id(meta): kind for kind, types in _KINDS.items() for t in types
            for meta in typing.get_args(t)[1:]}
_SCALES = {
    "duration": ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")),
    "bandwidth": ((1e9, "Gbps"), (1e6, "Mbps"), (1e3, "kbps"), (1.0, "bps")),
}
_SIZES = (("GiB", 1024.0**3), ("MiB", 1024.0**2), ("KiB", 1024.0), ("GB", 1e9), ("MB", 1e6),
          ("kB", 1e3))
# distribution fields that hold a quantity (lognormal's mu and sigma are log-space numbers)
_QUANTITY_FIELDS = {"value", "mean_", "low", "high", "loc", "scale"}


def _annotations(annotation: Any) -> list[Any]:
    """*annotation* and every type nested in it (``X | None``, ``list[X]``, ``Annotated``)."""
    found = [annotation]
    for arg in typing.get_args(annotation):
        found += _annotations(arg)
    return found


def _kind(field) -> str | None:
    metas = list(field.metadata)
    for a in _annotations(field.annotation):
        metas += getattr(a, "__metadata__", ())
    return next((_KIND_OF[id(m)] for m in metas if id(m) in _KIND_OF), None)


def _choices(field) -> list[Any]:
    return [c for a in _annotations(field.annotation) if typing.get_origin(a) is typing.Literal
            for c in typing.get_args(a)]


def _quantity(value: float, kind: str | None) -> str:
    """*value* (SI) as a scenario would write it: ``30 s``, ``20 µs``, ``1 MiB``, ``80 /s``."""
    if kind is None or not math.isfinite(value):
        return f"{value:g}"
    if kind == "size":
        for unit, factor in _SIZES:
            if value >= factor and value % factor == 0:
                return f"{value / factor:g} {unit}"
        return f"{value:g} B"
    if kind == "rate":
        return f"{value:g}/s"
    scales = _SCALES[kind]
    if value == 0:
        return f"0 {scales[0][1]}"
    factor, unit = next(((f, u) for f, u in scales if abs(value) >= f * (1 - 1e-9)),
                        scales[-1])
    return f"{round(value / factor, 9):g} {unit}"


def _default(value: Any, kind: str | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return _quantity(value, kind)
    if isinstance(value, Constant):
        return _quantity(value.value, kind)
    if isinstance(value, Distribution):
        parts = ", ".join(f"{k.rstrip('_')}={_quantity(v, kind if k in _QUANTITY_FIELDS else None)}"
                          for k, v in vars(value).items() if isinstance(v, float))
        return f"{value.name}({parts})"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_default(v, kind) for v in value) + "]"
    return str(value)


@app.command(cls=_Command)
def patterns() -> None:
    """List the patterns and their parameters with defaults.

    Each default is given with its unit, each choice with its allowed values."""
    for name in sorted(PATTERNS):
        cls = PATTERNS[name]
        out.print(Text.assemble((name, "bold"), f": {cls.describe()}"), soft_wrap=True)
        for key, field in cls.Params.model_fields.items():
            default = _default(field.get_default(call_default_factory=True), _kind(field))
            choices = _choices(field)
            allowed = f" (one of {', '.join(map(str, choices))})" if choices else ""
            out.print(Text(f"    {key} = {default}{allowed}  — {field.description or ''}"),
                      soft_wrap=True)


@app.command(cls=_Command)
def metrics(
    markdown: Annotated[bool, typer.Option("--markdown", metavar="",
                                           help="print README's Markdown table")] = False,
) -> None:
    """List every metric with its unit and exact definition."""
    if markdown:
        sys.stdout.write(markdown_table() + "\n")
        return
    table = Table(show_lines=False)
    for col in ("metric", "unit", "definition"):
        table.add_column(col, overflow="fold")
    for m in METRICS:
        table.add_row(m.name, m.unit, Text(m.definition))
    out.print(table)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
