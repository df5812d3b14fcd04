"""Hostile and malformed input (issue 11): every case runs the real command line, both
``simcomm check FILE`` and ``simcomm run FILE --out DIR``, and each must

* exit with status 2,
* print exactly one line (on stdout and stderr together), ``error: <field>: <message>``,
  naming the field (the dotted key path, ``--set``, or the file) and saying what was expected,
* print no traceback,
* write nothing: the ``--out`` folder is not created,
* finish within :data:`TIME_BOUND` seconds (each invocation; the cases that used to take
  15–33 s and 2 GB, or to read forever, run in a subprocess with that timeout and an address
  space of :data:`MEMORY_BOUND` bytes),
* and ``check`` and ``run`` give the same line.

The cases that cannot blow up run in-process through typer's CliRunner (as tests/test_cli.py
does), the others (``subprocess=True``) as ``python -m simcomm.cli``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simcomm.cli import app
from simcomm.scenario import MAX_ALIAS_VALUES, MAX_DEPTH

TIME_BOUND = 10.0
"""Seconds one invocation may take. A refusal costs well under a second in-process and about
one (the interpreter and its imports) in a subprocess; the bound leaves room for a slow,
shared CI box while failing at once on the 15–33 s an alias bomb used to take."""
MEMORY_BOUND = 1024**3
"""Address space of a subprocess case (a whole `simcomm run` fits in half of it; an alias bomb
used to take 2 GB before failing with MemoryError)."""

BASE = """\
name: bad-input
duration: 5s
warmup: 1s
seed: 1
network: {latency: 5ms, bandwidth: 100Mbps}
server: {workers: 1, service_time: 5ms}
clients: {count: 2}
workload: {requests: {rate: 20/s}, request_size: 256B, response_size: 1KiB}
pattern: {name: request_response, client: sync}
"""
UPDATES = BASE.replace("{requests: {rate: 20/s}, request_size: 256B, response_size: 1KiB}",
                       "{updates: {rate: 1/s}}")
SECRET = "SECRET-1234:x:0:0:hunter2"
"""A line of a file that is not a CSV at all: no error may echo any of it."""


def sub(old: str, new: str, base: str = BASE) -> str:
    assert old in base, old
    return base.replace(old, new)


def bomb() -> str:
    """'Billion laughs': nine levels of nine aliases each, 9⁹ values once expanded."""
    levels = ["&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"&l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    return sub("client: sync}", f"client: sync, label: [{', '.join(levels)}, *l8]}}")


def deep(n: int = 2500) -> str:
    return sub("client: sync}", f"client: sync, label: {'[' * n}1{']' * n}}}")


def service(spec: str) -> str:
    return sub("service_time: 5ms", f"service_time: {spec}")


def trace(extra: str) -> str:
    return sub("{requests: {rate: 20/s}", f"{{requests: {{{extra}}}")


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    field: str
    fragments: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    """Text the line must not hold (a file's content, an internal class name)."""
    args: tuple[str, ...] = ()
    files: dict[str, bytes] = field(default_factory=dict)
    """Files written next to the scenario first."""
    prefix: bool = False
    """The field only starts with ``field`` (a long path into deep nesting)."""
    subprocess: bool = False


NOT_A_CSV = {"secret.txt": f"{SECRET}\nroot:x:0:0:{SECRET}\n".encode()}
BINARY = {"binary.csv": bytes(range(256)) * 4}
RAGGED = {"ragged.csv": b"t,size\n1,10\n2\n"}
CLASS_NAMES = ("instance of", "Cfg", "Network", "Workload", "Requests", "Updates", "Headers")

CASES = [
    # YAML: aliases, nesting, duplicate keys
    Case("alias-bomb", bomb(), "pattern.label", (f"more than {MAX_ALIAS_VALUES} values",
                                                 "fewer aliases"), prefix=True, subprocess=True),
    Case("alias-in-own-anchor", sub("client: sync}", "client: sync, label: &s [1, *s]}"),
         "pattern.label.1", ("inside its own anchor",), subprocess=True),
    Case("nesting-2500-deep", deep(), "pattern.label.0.0.0",
         (f"nested more than {MAX_DEPTH} levels deep",), prefix=True, subprocess=True),
    Case("nesting-deep-via-alias", sub("client: sync}", "client: sync, label: *d}",
                                       f"deep: &d {'[' * 31}1{']' * 31}\n" + BASE),
         "pattern.label", (f"nested more than {MAX_DEPTH} levels deep",), subprocess=True),
    Case("nesting-deep-in-set", BASE, "name.0.0", (f"nested more than {MAX_DEPTH}",),
         args=("--set", "name=" + "[" * 2500 + "]" * 2500), prefix=True, subprocess=True),
    Case("duplicate-key", sub("duration: 5s", "duration: -5s\nduration: 5s"), "duration",
         ("line 2", "line 3", "given twice")),
    Case("duplicate-key-in-flow-mapping", sub("latency: 5ms", "latency: 5ms, latency: 1s"),
         "network.latency", ("line 5", "given twice")),
    # distributions and quantities: finite, with finite mean and variance
    Case("lognormal-mu-1000", service("{dist: lognormal, mu: 1000, sigma: 1}"),
         "server.service_time.mu", ("no finite mean and variance",)),
    Case("lognormal-sigma-100", service("{dist: lognormal, mu: 0, sigma: 100}"),
         "server.service_time.sigma", ("no finite mean and variance",)),
    Case("lognormal-mu-nan", service("{dist: lognormal, mu: .nan, sigma: 1}"),
         "server.service_time.mu", ("finite number", "nan")),
    Case("lognormal-sigma-inf", service("{dist: lognormal, mu: 0, sigma: .inf}"),
         "server.service_time.sigma", ("finite number",)),
    Case("lognormal-huge-p99", service("{dist: lognormal, median: 1s, p99: 1e300s}"),
         "server.service_time.p99", ("no finite mean and variance",)),
    Case("exponential-denormal-rate", service("{dist: exponential, rate: 5e-324/s}"),
         "server.service_time.rate", ("too small a rate",)),
    Case("uniform-huge", service("{dist: uniform, low: 0, high: 1e300}"),
         "server.service_time.high", ("no finite mean and variance",)),
    Case("empirical-huge", service("{dist: empirical, samples: [0, 1e300]}"),
         "server.service_time.samples", ("no finite mean and variance",)),
    Case("denormal-request-rate", sub("rate: 20/s", "rate: 5e-324/s"), "workload.requests.rate",
         ("too small a rate",)),
    Case("denormal-bandwidth", sub("100Mbps", "5e-324"), "network.bandwidth",
         ("too small a bandwidth",)),
    Case("loss-nan", sub("bandwidth: 100Mbps", "bandwidth: 100Mbps, loss: .nan"),
         "network.loss", ("finite",)),
    Case("quantity-as-a-huge-text", sub("5ms}", f"{'1' * 20000}x}}"), "server.service_time",
         ("20001-character text",), subprocess=True),
    # whole numbers and labels
    Case("seed-true", sub("seed: 1", "seed: true"), "seed", ("whole number", "true")),
    Case("workers-true", sub("workers: 1", "workers: true"), "server.workers",
         ("whole number",)),
    Case("seed-text", sub("seed: 1", "seed: '7'"), "seed", ("whole number",)),
    Case("label-list", sub("client: sync}", "client: sync, label: [1, 2]}"), "pattern.label",
         ("must be text", "a list")),
    Case("label-empty", sub("client: sync}", 'client: sync, label: ""}'), "pattern.label",
         ("must not be empty",)),
    Case("label-control-character", sub("client: sync}", 'client: sync, label: "a\\nb"}'),
         "pattern.label", ("printable",)),
    Case("name-empty", sub("name: bad-input", "name: ''"), "name", ("must not be empty",)),
    # pattern checks
    Case("sse-restart-after-the-end", sub("name: request_response, client: sync",
                                          "name: sse, restart_at: [2s, 9s]", UPDATES),
         "pattern.restart_at.1", ("not before the end of the run", "< duration")),
    Case("pattern-name-case", sub("name: request_response, client: sync", "name: SSE",
                                  UPDATES), "pattern.name", ("did you mean 'sse'",)),
    # a scalar where a section is expected, for every section
    *[Case(f"scalar-section-{key}", text, key, (want, "got "), CLASS_NAMES)
      for key, text, want in [
          ("network", sub("{latency: 5ms, bandwidth: 100Mbps}", "fast"),
           "mapping of network keys (latency, "),
          ("server", sub("{workers: 1, service_time: 5ms}", "4"), "mapping of server keys"),
          ("clients", sub("{count: 2}", "2"), "mapping of clients keys (count, "),
          ("headers", BASE + "headers: big\n", "mapping of headers keys (request, "),
          ("connection", BASE + "connection: h2\n", "mapping of connection keys (protocol"),
          ("encodings", BASE + "encodings: fast\n", "mapping of encoding names"),
          ("encodings.fast", BASE + "encodings: {fast: 3}\n",
           "mapping of encodings.fast keys (size_factor"),
          ("workload", sub("{requests: {rate: 20/s}, request_size: 256B, response_size: 1KiB}",
                           "heavy"), "mapping of workload keys (requests, "),
          ("workload.requests", sub("{rate: 20/s}", "20/s"),
           "mapping of workload.requests keys (rate, "),
          ("workload.updates", sub("{rate: 1/s}", "1/s", UPDATES),
           "mapping of workload.updates keys ("),
          ("pattern", sub("{name: request_response, client: sync}", "sse"),
           "a pattern entry: a mapping with a name"),
          ("patterns", sub("pattern: {name: request_response, client: sync}",
                           "patterns: sse"), "a list of pattern entries"),
          ("patterns.1", sub("pattern: {name: request_response, client: sync}",
                             "patterns: [{name: request_response}, sse]"),
           "a pattern entry: a mapping with a name"),
      ]],
    # --set
    Case("set-empty-segment", BASE, "--set", ("empty part", "server..workers"),
         args=("--set", "server..workers=2")),
    Case("set-trailing-dot", BASE, "--set", ("empty part",), args=("--set", "server.=2")),
    # CSV files: an empirical distribution's file: and a request trace
    *[c for key, spec, field_ in [
        ("empirical", lambda f, extra="": service(f"{{dist: empirical, file: {f}{extra}}}"),
         "server.service_time"),
        ("trace", lambda f, extra="": trace(f"trace: {f}{extra}"), "workload.requests"),
    ] for c in [
        Case(f"{key}-not-a-csv", spec("secret.txt"),
             f"{field_}.{'file' if key == 'empirical' else 'trace'}",
             ("line 2", "secret.txt"), ("SECRET", "hunter2", "1234"), files=NOT_A_CSV),
        Case(f"{key}-not-a-csv-column", spec("secret.txt", ", column: SECRET"),
             f"{field_}.column", ("no column", "line 1", "1 column(s)"), ("1234", "hunter2"),
             files=NOT_A_CSV),
        Case(f"{key}-binary", spec("binary.csv"),
             f"{field_}.{'file' if key == 'empirical' else 'trace'}",
             ("binary.csv", "is not UTF-8 text"), ("codec", "0x"), files=BINARY),
        Case(f"{key}-folder", spec("."), f"{field_}.{'file' if key == 'empirical' else 'trace'}",
             ("is a folder",), ("no such file",)),
        Case(f"{key}-dev-zero", spec("/dev/zero"),
             f"{field_}.{'file' if key == 'empirical' else 'trace'}",
             ("/dev/zero", "is not a regular file"), ("no such file",), subprocess=True),
        Case(f"{key}-ragged-row", spec("ragged.csv", ", column: size" if key == "empirical"
                                       else ", size_column: size"),
             f"{field_}.{'file' if key == 'empirical' else 'size_column'}",
             ("line 3", "1 column(s)", "column 2"), ("list index",), files=RAGGED),
    ]],
]


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BOUND, MEMORY_BOUND))


def _invoke(case: Case, args: list[str], cwd: Path) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, seconds) of `simcomm *args`."""
    start = time.monotonic()
    if case.subprocess:
        try:
            r = subprocess.run([sys.executable, "-m", "simcomm.cli", *args], cwd=cwd,
                               capture_output=True, text=True, timeout=TIME_BOUND,
                               preexec_fn=_limit_memory if os.name == "posix" else None)
        except subprocess.TimeoutExpired:
            pytest.fail(f"simcomm {args[0]} took more than {TIME_BOUND:g}s")
        return r.returncode, r.stdout, r.stderr, time.monotonic() - start
    cur = os.getcwd()
    os.chdir(cwd)
    try:
        r = CliRunner().invoke(app, args)
    finally:
        os.chdir(cur)
    return r.exit_code, r.stdout, r.stderr, time.monotonic() - start


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_naming_the_field(case: Case, tmp_path):
    """check and run both refuse the input with exit 2 and the same single line naming the
    field, quickly, without a traceback and without writing anything."""
    for name, data in case.files.items():
        (tmp_path / name).write_bytes(data)
    path = tmp_path / "scenario.yaml"
    path.write_text(case.text)
    out = tmp_path / "out"
    lines = {}
    for command in (["check", str(path)], ["run", str(path), "--out", str(out)]):
        code, stdout, stderr, seconds = _invoke(case, [*command, *case.args], tmp_path)
        text = stdout + stderr
        assert "Traceback" not in text, text
        assert code == 2, (code, text)
        shown = [line for line in text.splitlines() if line.strip()]
        assert len(shown) == 1, text
        line = shown[0]
        assert line.startswith("error: "), line
        where = line.removeprefix("error: ").split(": ", 1)[0]
        assert where.startswith(case.field) if case.prefix else where == case.field, line
        for fragment in case.fragments:
            assert fragment in line, (fragment, line)
        for fragment in case.absent:
            assert fragment not in line, (fragment, line)
        assert seconds < TIME_BOUND, (command[0], seconds)
        lines[command[0]] = line
    assert not out.exists(), "run wrote its --out folder"
    assert lines["check"] == lines["run"]


def test_a_fifo_is_never_opened(tmp_path):
    """A named pipe as a CSV would block the reader forever: it is refused unopened."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    os.mkfifo(tmp_path / "pipe.csv")
    case = Case("fifo", service("{dist: empirical, file: pipe.csv}"),
                "server.service_time.file", ("is not a regular file",), subprocess=True)
    test_bad_input_is_one_line_naming_the_field(case, tmp_path)


def test_aliases_within_the_bound_still_work(tmp_path):
    """Anchors, aliases and merge keys are YAML a scenario may use (one entry built on
    another); the limits leave them alone."""
    path = tmp_path / "scenario.yaml"
    path.write_text(sub("pattern: {name: request_response, client: sync}",
                        "patterns:\n  - &sync {name: request_response, client: sync, "
                        "label: one}\n  - {<<: *sync, client: async, label: two}\n"))
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "(one, two)" in result.stdout


def test_readme_states_the_limits():
    """README's scenario section gives the limits the loader applies."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert f"more than {MAX_ALIAS_VALUES:,} values" in readme
    assert f"deeper than {MAX_DEPTH} levels" in readme
