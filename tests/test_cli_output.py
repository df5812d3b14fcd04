"""The first hour with simcomm (issue 11): what the command prints and writes, and the polish
around it.

The command: user values printed literally (no terminal escapes, Rich markup or emoji codes),
``--out`` refused before the run when it cannot be written (or is not empty, or two labels would
write the same files) and never half-written, usage errors as one line, ``--help`` with value
names, ``patterns`` with units and choices, ``--force`` passed to ``simcomm.compare``, Ctrl-C
stopping a run. The polish: the README's Python snippet runs as pasted, ``simcomm.plots`` leaves
the matplotlib backend alone, the notebook shows its figures inline, the update-delivery figure
keeps coinciding lines visible, ``tasks.py`` says what it does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import simcomm
from simcomm import cli
from simcomm.cli import app
from simcomm.result import OutputError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "api-under-load.yaml"
SHORT = ["--set", "duration=5s", "--set", "warmup=1s"]
ESC = "\x1b[31m"  # a terminal escape sequence: red text

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *fragments: str, code: int = 2) -> str:
    """Exit *code*, nothing on stdout, one 'error:' line on stderr holding every fragment."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture
def no_run(monkeypatch):
    """Fail the test if the CLI starts a simulation: checks must come before the run."""
    def boom(*args, **kwargs):
        raise AssertionError("the simulation ran")
    monkeypatch.setattr(cli, "compare", boom)


def two_entries(first: str, second: str) -> list[str]:
    """--set arguments replacing the example's pattern by two entries labelled as given."""
    entries = [{"name": "request_response", "label": first},
               {"name": "request_response", "client": "async", "label": second}]
    return ["--set", "pattern=null", "--set", f"patterns={json.dumps(entries)}"]


# --------------------------------------------------------------------------------------------
# Output hygiene: every user-provided string is shown literally, control characters escaped


def assert_literal(text: str) -> None:
    assert "\x1b" not in text, repr(text)
    assert "❌" not in text, text


def test_check_prints_name_and_labels_literally():
    """A name and a label with emoji codes and Rich markup are printed as written: ':x:' not
    turned into an emoji, '[bold]' and '[/]' kept."""
    result = invoke("check", EXAMPLE, "--set", "name=n:x:[red]m",
                    "--set", "pattern.label=a:x:b[bold]c[/]")
    assert result.exit_code == 0, result.output
    assert_literal(result.output)
    assert result.stdout == "ok: n:x:[red]m: 1 pattern entry (a:x:b[bold]c[/])\n"


def test_run_table_and_warnings_print_user_values_literally():
    """run's table title and column header, and the ρ ≥ 1 warning naming the label, show the
    name and label literally."""
    result = invoke("run", EXAMPLE, *SHORT, "--set", "workload.requests.rate=1000/s",
                    "--set", "name=n:x:[b]", "--set", "pattern.label=a:x:b")
    assert result.exit_code == 0, result.output
    assert_literal(result.output)
    assert "n:x:[b]" in result.stdout
    assert "a:x:b" in result.stdout
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("warning: a:x:b: offered load")


def test_paths_and_errors_escape_control_characters(tmp_path):
    """Paths and keys from the user reach the terminal with control characters escaped (the
    scenario refuses them in names and labels; a path or a --set key may still hold them)."""
    line = one_line_error(invoke("check", tmp_path / f"s{ESC}.yaml"))
    assert_literal(line)
    assert r"s\x1b[31m.yaml" in line
    line = one_line_error(invoke("check", EXAMPLE, "--set", f"dura{ESC}tion=5s"))
    assert_literal(line)
    out = tmp_path / f"o{ESC}ut"
    result = invoke("run", EXAMPLE, *SHORT, "--json", "--out", out)
    assert result.exit_code == 0, result.output
    assert_literal(result.stderr)
    assert result.stderr.startswith("wrote ") and r"o\x1b[31mut" in result.stderr
    assert (out / "summary.csv").exists()


def test_shown_escapes_controls_and_keeps_text():
    """cli.shown escapes C0/C1 controls, newlines and bidirectional overrides; keeps the rest."""
    assert cli.shown("plain µs ❌ [b]") == "plain µs ❌ [b]"
    assert cli.shown("a\x1bb\nc\td\x9be\u202ef") == "a\\x1bb\\nc\\td\\x9be\\u202ef"


# --------------------------------------------------------------------------------------------
# --out: checked before the run, never half-written


@pytest.mark.parametrize("target", ["/proc/simcomm-out", "/sys/simcomm-out/x"])
def test_out_that_cannot_be_created_fails_before_the_run(target, no_run):
    """--out under /proc or /sys: one line naming --out, exit 2, nothing run."""
    root = Path("/" + target.split("/")[1])
    if not root.is_dir():  # pragma: no cover - not Linux
        pytest.skip(f"no {root} here")
    one_line_error(invoke("run", EXAMPLE, *SHORT, "--out", target), "--out: ",
                   "cannot create a folder")


def test_out_below_a_file_fails_before_the_run(tmp_path, no_run):
    """--out below a regular file: one line naming the file, exit 2, nothing written."""
    (tmp_path / "f").write_text("x")
    one_line_error(invoke("run", EXAMPLE, *SHORT, "--out", tmp_path / "f" / "a" / "b"),
                   "--out: ", "which is not a folder")
    one_line_error(invoke("run", EXAMPLE, *SHORT, "--out", tmp_path / "f"),
                   "--out: ", "is not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_empty_out_is_refused(tmp_path, monkeypatch, no_run):
    """--out "" would write into the current folder: refused, nothing written."""
    monkeypatch.chdir(tmp_path)
    one_line_error(invoke("run", EXAMPLE, *SHORT, "--out", ""), "--out: ", "empty")
    assert list(tmp_path.iterdir()) == []


def test_labels_with_the_same_file_name_fail_check_and_run(tmp_path, no_run):
    """Labels 'a/b' and 'a_b' (or 'A_b') write the same frame files: check and run --out fail
    with one line naming both, before anything runs or is written."""
    for first, second in (("a/b", "a_b"), ("a/b", "A_b")):
        sets = two_entries(first, second)
        one_line_error(invoke("check", EXAMPLE, *sets), repr(first), repr(second))
        out = tmp_path / "out"
        one_line_error(invoke("run", EXAMPLE, *SHORT, *sets, "--out", out),
                       repr(first), repr(second))
        assert list(tmp_path.iterdir()) == []


def test_out_must_be_new_or_empty_unless_overwrite(tmp_path):
    """A folder of earlier results is refused (exit 2, untouched) without --overwrite; with it
    the folder is replaced whole: no stale frame survives next to the new summary. An empty
    folder is fine; a folder holding other files is refused even with --overwrite."""
    out = tmp_path / "out"
    out.mkdir()
    assert invoke("run", EXAMPLE, *SHORT, "--out", out).exit_code == 0    # empty: fine
    stale = out / "old-label.messages.parquet"
    stale.write_bytes(b"stale")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    one_line_error(invoke("run", EXAMPLE, *SHORT, "--out", out), "not empty", "--overwrite")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    result = invoke("run", EXAMPLE, *SHORT, "--seed", 3, "--out", out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert pd.read_csv(out / "summary.csv").seed.tolist() == [3]
    assert len(list(out.iterdir())) == 4                      # summary + three frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]   # no temporary folder left

    (out / "notes.txt").write_text("mine")
    one_line_error(invoke("run", EXAMPLE, *SHORT, "--out", out, "--overwrite"),
                   "notes.txt", "did not write")
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("existing", [False, True], ids=["new", "overwrite"])
def test_write_failing_midway_leaves_the_target_as_it_was(tmp_path, monkeypatch, existing):
    """Results.write writes into a temporary folder and renames it at the end: a failure half
    way leaves no new folder (or the old results untouched) and no temporary folder."""
    results = simcomm.compare(simcomm.load_file(EXAMPLE, ["duration=5s", "warmup=1s"]))
    out = tmp_path / "deep" / "out"
    if existing:
        results.write(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()} if existing else None

    def fail(self, *args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(pd.DataFrame, "to_parquet", fail)
    with pytest.raises(OSError, match="No space"):
        results.write(out, overwrite=True)
    if existing:
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
        assert sorted(p.name for p in out.parent.iterdir()) == ["out"]
    else:
        assert list(tmp_path.iterdir()) == []        # not even the parent it had made


def test_write_refuses_what_the_cli_refuses(tmp_path):
    """The Python API applies the same rules: OutputError for a non-empty folder (naming
    overwrite=True) and for labels with the same file name."""
    results = simcomm.compare(simcomm.load_file(EXAMPLE, ["duration=5s", "warmup=1s"]))
    (tmp_path / "x").write_text("x")
    with pytest.raises(OutputError, match=r"overwrite=True"):
        results.write(tmp_path)
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw.update(duration="5s", warmup="1s", pattern=None,
               patterns=[{"name": "request_response", "label": "a b"},
                         {"name": "request_response", "label": "a_b", "client": "async"}])
    with pytest.raises(OutputError, match=r"'a b' and 'a_b'"):
        simcomm.compare(raw).write(tmp_path / "new")
    assert not (tmp_path / "new").exists()


# --------------------------------------------------------------------------------------------
# Usage errors, --help, patterns, --force


def test_bad_seed_is_one_line():
    """--seed abc: one error line naming --seed and the value, exit 2 (not a framed box)."""
    one_line_error(invoke("run", EXAMPLE, "--seed", "abc"), "--seed", "'abc'")


@pytest.mark.parametrize("args", [["run", EXAMPLE, "--sed", "3"], ["run"], ["nosuchcommand"]],
                         ids=["unknown-option", "missing-file", "unknown-command"])
def test_usage_errors_are_one_line(args):
    """Every usage error is one 'error:' line with a pointer to --help, exit 2."""
    one_line_error(invoke(*args), "--help")


def test_help_shows_value_names_not_types():
    """run --help names each option's value (KEY=VALUE, DIR, N) and its argument (FILE), never
    a Python type."""
    for command in ("run", "check"):
        result = invoke(command, "--help")
        assert result.exit_code == 0
        text = result.stdout
        for shown in ("KEY=VALUE", "FILE"):
            assert shown in text
        assert not re.search(r"<[a-z\[\]]+>", text), text
    text = invoke("run", "--help").stdout
    for shown in ("DIR", "--overwrite", "--force"):
        assert shown in text


def test_patterns_show_units_and_choices():
    """patterns gives defaults with units (1 MiB, 30 s, 20 µs, 1 ms) and each choice's values."""
    result = invoke("patterns")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for shown in ("thread_memory = 1 MiB  —", "timeout = 30 s  —", "per_copy = 20 µs  —",
                  "poll_interval = 1 ms  —", "thread_start = 30 µs  —", "framing = 24 B  —",
                  "job_duration = exponential(mean=10 s)  —", "concurrency = 64  —",
                  "client = sync (one of sync, async)  —",
                  "completion = callback (one of callback, readiness_poll, thread_per_request)"):
        assert shown in out, shown
    assert "1048576" not in out


@pytest.mark.parametrize("flag", [True, False])
def test_force_is_passed_to_compare(monkeypatch, flag):
    """run --force calls simcomm.compare(..., force=True); without it, force=False."""
    seen = {}

    def fake(scenario, *, progress=None, force=False):
        seen["force"] = force
        return simcomm.Results()
    monkeypatch.setattr(cli, "compare", fake)
    result = invoke("run", EXAMPLE, "--json", *(["--force"] if flag else []))
    assert result.exit_code == 0, result.output
    assert seen == {"force": flag}


def test_runner_warnings_are_one_line_each():
    """A run that measured nothing warns (EmptyRunWarning) as one 'warning:' line, like ρ ≥ 1,
    not as Python's two-line warning with a file name."""
    result = invoke("run", EXAMPLE, "--json", *SHORT, "--set", "workload.requests.rate=0.001/s")
    assert result.exit_code == 0, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("warning: request_response[client=sync]: no delivery")


def test_ctrl_c_stops_a_run_within_a_second(tmp_path):
    """SIGINT during a long run: exit 130 within a second, one line, no traceback, no --out."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "FORCE_TERMINAL")}
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from simcomm.cli import main; "
         "print('started', file=sys.stderr, flush=True); main()",
         "run", str(EXAMPLE), "--set", "duration=100000s", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert proc.stderr.readline() == "started\n"       # imported; main() is starting
        time.sleep(1.0)                                      # well into the simulation
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert elapsed < 1.0, elapsed
    assert stdout == ""
    assert "Traceback" not in stderr
    assert stderr.splitlines() == ["interrupted: stopped before the end of the run; "
                                   "nothing written"]
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Polish


def test_readme_python_snippet_runs_as_pasted(monkeypatch, tmp_path):
    """The README's Python block runs as written from the repository (the dict example is a
    small scenario; the file example runs in a couple of seconds)."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    (snippet,) = [b for b in blocks if "import simcomm" in b and "sweep(" not in b]
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert namespace["small"].summary["delivered"] > 0
    assert len(namespace["results"].summary) == 5


def test_readme_sweep_snippet_runs_as_pasted(monkeypatch, tmp_path):
    """The README's sweep block runs as written, from a folder holding the example it names
    (so that its results/ folder lands in a temporary place, not in the repository)."""
    import shutil

    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    (snippet,) = [b for b in blocks if "simcomm.sweep(" in b]
    (tmp_path / "examples" / "sweeps").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "sweeps" / "polling.yaml",
                tmp_path / "examples" / "sweeps" / "polling.yaml")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    r = namespace["r"]
    assert len(r.runs) > 0 and len(r.aggregate) > 0 and (tmp_path / "results" / "sweep").is_dir()


def test_plots_leave_the_matplotlib_backend_alone():
    """simcomm.plots draws with whatever backend is in use (inline in Jupyter) instead of
    switching to Agg."""
    import matplotlib
    import matplotlib.pyplot as plt

    import simcomm.plots

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        df = pd.DataFrame({"rate": [1, 2, 1, 2], "pattern": ["a", "a", "b", "b"],
                           "latency_mean": [1.0, 2.0, 1.0, 2.0]})
        fig = simcomm.plots.lines(df, "rate", ["latency_mean"])
        assert matplotlib.get_backend() == "svg"
        plt.close(fig)
    finally:
        matplotlib.use(before)


def test_coinciding_lines_stay_visible_and_x_has_a_unit():
    """Two series with identical values are drawn with different markers, dash patterns and
    marker sizes (hollow), so neither hides the other; xlabel labels the x axis."""
    import matplotlib.pyplot as plt

    import simcomm.plots

    df = pd.DataFrame({"rate": [1, 2] * 3, "pattern": ["push"] * 2 + ["sse"] * 2 + ["lp"] * 2,
                       "latency_mean": [0.025] * 6})
    fig = simcomm.plots.lines(df, "rate", ["latency_mean"], xlabel="update rate (1/s)")
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 3
    assert len({ln.get_marker() for ln in lines}) == 3
    assert len({ln.get_linestyle() for ln in lines}) == 3
    assert len({ln.get_markersize() for ln in lines}) == 3
    assert all(ln.get_markerfacecolor() == "none" for ln in lines)
    assert ax.get_xlabel() == "update rate (1/s)"
    plt.close(fig)


def test_update_delivery_figure_has_units_and_a_fair_connection_panel(tmp_path, monkeypatch):
    """The experiment's figure labels its x axis with a unit and adds a panel of connections
    held per client (what a stream and a parked poll both cost), next to the CSV column."""
    import importlib.util

    import matplotlib.figure

    spec = importlib.util.spec_from_file_location(
        "update_delivery", ROOT / "experiments" / "update_delivery.py")
    exp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(exp)
    saved = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda self, *a, **k: saved.append(self))
    assert exp.main(["--out", str(tmp_path), "--rates", "1", "--set", "duration=6s",
                     "--set", "warmup=1s"]) == 0
    (fig,) = saved
    assert all("(updates/s)" in ax.get_xlabel() for ax in fig.axes)
    assert "connections held open per client" in fig.axes[-1].get_title()
    df = pd.read_csv(tmp_path / "update_delivery.csv")
    assert df.connections_per_client.between(0.99, 1.05).all()   # one connection per client


def test_notebook_shows_its_figures_inline(tmp_path):
    """Executed like Jupyter does (an ipykernel; here with MPLBACKEND=Agg as the test command
    sets it), the notebook's figure cells display PNG images."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(ROOT / "notebooks" / "explore.ipynb", as_version=4)
    env = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                resources={"metadata": {"path": str(ROOT / "notebooks")}},
                                ).execute()
    finally:
        if env is None:
            os.environ.pop("MPLBACKEND")
        else:
            os.environ["MPLBACKEND"] = env
    figure_cells = [c for c in nb.cells if c.cell_type == "code" and "fig = " in c.source]
    assert len(figure_cells) == 2
    for cell in figure_cells:
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.source


def test_dev_extras_run_notebooks_like_jupyter():
    """The test extras hold what executing the notebook needs: nbmake, a kernel and the inline
    backend."""
    import tomllib

    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["dev"]
    names = {re.split(r"[<>=\[ ]", d)[0] for d in dev}
    assert {"nbmake", "ipykernel", "matplotlib-inline"} <= names


def test_tasks_say_what_they_do(monkeypatch, capsys, tmp_path):
    """python3 tasks.py test|demo prints each step before it starts, the slow first install
    included."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    ran = []
    monkeypatch.setattr(tasks, "PY", tmp_path / "no-venv-yet" / "python")
    monkeypatch.setattr(tasks.venv, "create", lambda *a, **k: ran.append("venv"))
    monkeypatch.setattr(tasks, "sh", lambda *a: ran.append(a))
    monkeypatch.setattr(sys, "argv", ["tasks.py", "test"])
    monkeypatch.setattr(tasks.os, "environ", dict(os.environ))   # test() sets MPLBACKEND
    tasks.test()
    out = capsys.readouterr().out
    assert "creating a virtual environment" in out
    assert "installing simcomm" in out and "'dev' extras" in out
    assert "running the tests" in out
    assert ran[0] == "venv" and len(ran) == 3


def test_tasks_install_again_only_when_its_inputs_change(monkeypatch, tmp_path):
    """tasks.py skips the (compiling) install when the last one was made from the same
    extras, build settings and files, and its compiled modules are current; a change to any
    of them, or no stamp, installs again."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    env = {k: v for k, v in os.environ.items() if k not in ("SIMCOMM_PURE", "SIMCOMM_COMPILE")}
    monkeypatch.setattr(tasks.os, "environ", env)
    base = tasks._stamp("dev")
    assert tasks._stamp("dev") == base
    assert tasks._stamp("") != base
    env["SIMCOMM_COMPILE"] = "require"
    assert tasks._stamp("dev") != base
    monkeypatch.setattr(tasks, "STAMP", tmp_path / "stamp")
    assert not tasks._up_to_date("dev")  # no stamp yet
