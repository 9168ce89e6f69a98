"""The CLI fuzzer's parts: the command tree, argument-vector strategies, the fixture ledger, and one guarded run.

tests/e2e/test_cli_fuzz.py asserts with these; a throwaway survey script can import them too, to run thousands of
examples and group what fails. Everything here is driven by the click tree itself, so a command added later is
fuzzed without anyone listing it:

- `commands()` walks `complaints_ledger.cli.cli` (groups, their subcommands, and a group that runs on its own, such as
  `events`);
- `argv_for()` builds an argument vector from a command's declared params: click's own types (Choice, IntRange,
  FloatRange, Path, flags, multiple, nargs=-1) and the project's types by their `.name` (YYYY-MM-DD, GBP, NAME:ROLE,
  TIMESTAMP), with hints by param name (`ref`, `cursor`, `url`, ...) so that valid-looking input (real references,
  dates inside the ledger's year, amounts, choices) reaches the domain, and garbage (huge and negative numbers,
  nan/inf, unicode with RTL and combining marks, NUL and newlines, empty and 100,000-character strings, paths that
  do not exist or are folders) reaches every layer;
- `World` builds a small SQLite ledger once (simulated and hand-made cases in several states, staff, dead letters,
  cursors, an erasure) and runs each example in a folder of its own holding a fresh copy of it, through the same
  entry point the `complaints` console script calls, so "no traceback" means what a user would see.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import shlex
import shutil
import signal
import socket
import sqlite3
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner
from hypothesis import strategies as st

import complaints_ledger.cli as cli_module

ROOT: click.Group = cli_module.cli
LEDGER = "ledger.db"  # each example's own copy of the fixture ledger, in its own folder (the example's cwd)
FILES = "../files"  # the input files every example may name (relative, so a failing argv can be replayed)
SECRET_ENV = "FUZZ_HOOK_SECRET"
TIME_LIMIT = 20.0  # seconds: the limit for any one run
CTRL_C_AFTER = 0.3  # seconds: when a person stops a command that runs until stopped
MAX_STDERR_LINES = 3
MAX_LINE = 1000  # characters in one line of an error (the issue: "errors quote at most a short prefix")
MEMORY_HEADROOM = 4 << 30  # bytes of address space one example may add before it gets a MemoryError
EVENTS_TABLE = "complaintsledger_events"
AUDIT_TABLES = (EVENTS_TABLE, "complaintsledger_events_chain", "complaintsledger_keys")


# ------------------------------------------------------------------------------------------------ the command tree
@dataclass(frozen=True)
class Command:
    """One runnable command: its words after `complaints`, and the click object that declares its params."""

    path: tuple[str, ...]
    command: click.Command

    @property
    def name(self) -> str:
        return " ".join(self.path) or "(root)"

    @property
    def runs_until_stopped(self) -> bool:
        """Commands that never end on their own: `... follow`, and those with --follow or --once flags."""
        names = {p.name for p in self.command.params}
        return self.path[-1:] == ("follow",) or bool(names & {"follow", "once"})


def commands(root: click.Group = ROOT) -> list[Command]:
    """Every command in the tree, plus the root itself (its --help/--version and garbage), in a stable order."""
    found = [Command((), root)]

    def walk(group: click.Group, path: tuple[str, ...]) -> None:
        for name in sorted(group.commands):
            sub = group.commands[name]
            if isinstance(sub, click.Group):
                if sub.invoke_without_command:
                    found.append(Command((*path, name), sub))
                walk(sub, (*path, name))
            else:
                found.append(Command((*path, name), sub))

    walk(root, ())
    return found


# ------------------------------------------------------------------------------------------------ what exists
@dataclass
class Corpus:
    """Real values from the fixture ledger, so that examples get past parsing into the domain."""

    refs: list[str]
    open_refs: list[str]  # cases a step can still be recorded on
    complainant_ids: list[str]
    categories: list[str]
    staff: list[str]
    dead_letters: list[int]
    cursors: list[str]
    projections: list[str]
    policies: list[str]
    event_types: list[str]
    hook_url: str  # a loopback port nobody listens on: webhook deliveries fail fast and never leave the machine
    first_day: date
    last_day: date


@dataclass(frozen=True)
class Values:
    """What a careful user would type for one param, and the odd values that belong to its type."""

    valid: st.SearchStrategy[str]
    odd: st.SearchStrategy[str]


# ------------------------------------------------------------------------------------------------ garbage
def _harmless(text: str) -> str:
    """Random text never becomes a URL to somewhere else (the network is the loopback address only), nor a path
    outside the example's folder (an absolute path, or one that climbs out with '..')."""
    return text.replace("://", ":/").replace("..", "._").lstrip("/")


def _relative(text: str) -> str:
    """Random text used as a path stays inside the example's folder."""
    return text.replace("/", "_").replace("\\", "_").replace("\x00", "_") or "_"


NASTY = [
    "", " ", "  \t ", "-", "--", "-1", "0", "nan", "NaN", "inf", "-inf", "1e309", str(10**30), str(-10**30),
    str(2**63), "None", "null", "true", "\x00", "a\x00b", "\n", "line one\nline two", "a\r\nb", "\r", "\t",
    "\x1b[31mred\x1b[0m", "\x07", "\x7f", "\u202eevil\u202c", "\u200f\u05e9\u05dc\u05d5\u05dd", "مرحبا",
    "e\u0301\u0301\u0301\u0301", "\u200b", "\ufeffBOM", "\U0001f600\U0001f4a9", "\ufdfd", "\u2028", "\udcff",
    "Ω" * 300, "x" * 5000, "é" * 100_000, "'; DROP TABLE complaintsledger_events; --", "%s%n", "{0}", "{{x}}",
    "<script>alert(1)</script>", "=HYPERLINK(\"http://127.0.0.1/\")", "+1+1", "@SUM(A1)", "-2+3", "${HOME}",
    "$(reboot)", "../../etc/passwd", "/etc/passwd", "CON", "*", "?", "[", "\\", "'", '"', "`",
]


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, in proportion to its weight (st.one_of neither weights nor keeps repeats)."""
    total = sum(w for w, _ in choices)

    def pick(n: int) -> st.SearchStrategy[Any]:
        for w, strategy in choices:
            if n < w:
                return strategy
            n -= w
        raise AssertionError(n)

    return st.integers(0, total - 1).flatmap(pick)


def garbage() -> st.SearchStrategy[str]:
    """What a person, a paste or a script could put in any argument (made harmless to this machine)."""
    return weighted(
        (4, st.sampled_from(NASTY)),
        (3, st.text(max_size=30)),
        (1, st.text(st.characters(codec="utf-8"), min_size=1, max_size=8).map(lambda s: s * 50)),
        (1, st.integers().map(str)),
        (1, st.floats().map(str)),
    ).map(_harmless)


def _typed(values: list[str]) -> st.SearchStrategy[str]:
    """Real values as people type them: exact, lower or upper case, padded, with a stray newline, cut short."""
    value = st.sampled_from(values or [""])
    return weighted((1, value.map(str.lower)), (1, value.map(str.upper)), (1, value.map(lambda v: f" {v} ")),
                    (1, value.map(lambda v: v + "\n")), (1, value.map(lambda v: v[:-1])))


def _pick(values: list[Any]) -> st.SearchStrategy[str]:
    return st.sampled_from([str(v) for v in values]) if values else garbage()


# ------------------------------------------------------------------------------------------------ by type
def dates(corpus: Corpus) -> Values:
    recent = st.dates(min_value=corpus.last_day - timedelta(days=45), max_value=corpus.last_day)
    inside = st.dates(min_value=corpus.first_day, max_value=corpus.last_day)
    odd = st.sampled_from([
        "1900-01-01", "0001-01-01", "1989-12-31", "1990-01-01", "9999-12-31", "2024-02-29", "2026-02-29",
        "2026-13-01", "2026-00-10", "2026-04-31", "26-1-5", "2026/01/05", "05/01/2026", "2026-1-5", " 2026-01-05 ",
        "2026-01-05T10:00", "20260105", "today", "yesterday", "2026-01-05\n", "２０２６-０１-０５", "+2026-01-05",
        (date.today() + timedelta(days=1)).isoformat(), (date.today() + timedelta(days=3650)).isoformat(),
    ])
    return Values(weighted((3, recent), (1, inside)).map(date.isoformat),
                  weighted((4, odd), (1, st.dates().map(date.isoformat))))


def timestamps(corpus: Corpus) -> Values:
    day = st.dates(min_value=corpus.first_day, max_value=corpus.last_day)
    valid = st.tuples(day, st.sampled_from(["", "T00:00", "T14:30", "T23:59:59", "T14:30Z", "T14:30+05:00"]))
    odd = st.tuples(st.dates(), st.sampled_from(["T14:30:00.123456", " 14:30", "T25:00", "T14:30+25:00", "T1"]))
    edges = st.sampled_from(["2026-03-29T01:30", "2026-10-25T01:30", "0001-01-01T00:00", "9999-12-31T23:59:59",
                             "now", "1700000000", "2026-03-05T14:30Z\n"])
    return Values(valid.map(lambda dc: dc[0].isoformat() + dc[1]),
                  weighted((1, odd.map(lambda dc: dc[0].isoformat() + dc[1])), (1, edges)))


def amounts() -> Values:
    valid = weighted((1, st.integers(1, 2000).map(str)),
                     (1, st.decimals(min_value="0.01", max_value=2000, places=2, allow_nan=False).map(str)))
    odd = st.sampled_from(["0", "0.00", "0.01", "0.001", "1,2,3", "1e3", "1E-2", "-5", "-0", "£20", "20p",
                           "GBP 5", "1_000", "１２", "٣", "0x10", " 5 ", "5.", ".5", "5.5.5", "nan", "inf",
                           "Infinity", "-inf", "9" * 400, str(10**30), "99999999.99", "1000000"])
    return Values(valid, odd)


def panel_members() -> Values:
    from complaints_ledger.domain.vocabulary import PANEL_ROLES

    name = st.sampled_from(["A Jones", "B Roe", "Dana Director", "Ngozi Adeyemi", "O'Brien"])
    odd = st.sampled_from([":", "A:", ":director", "A:B:director", "A Jones: Director ", "A Jones:ceo",
                           "A Jones:director\nB:director", "x" * 5000 + ":director"])
    return Values(st.tuples(name, st.sampled_from(PANEL_ROLES)).map(lambda nr: f"{nr[0]}:{nr[1]}"), odd)


def integers(param: click.Parameter, corpus: Corpus) -> Values:
    t = param.type
    low = t.min if isinstance(t, click.IntRange) and t.min is not None else -5
    high = t.max if isinstance(t, click.IntRange) and t.max is not None else low + 30
    valid = st.integers(low, min(high, low + 30)).map(str)
    if param.name == "ids" and corpus.dead_letters:  # events dead-letters ID...
        valid = _pick(corpus.dead_letters)
    odd = weighted((3, st.sampled_from([str(low - 1), str(high + 1), "0", "-1", str(10**30), str(-10**30),
                                        str(2**63), str(2**31), "1.5", "1e3", " 3", "٣", "0x10", "+5", "-0", "1_0",
                                        ""])),
                   (1, st.integers().map(str)))
    if param.name == "cases":  # simulate: a valid 100,000 cases takes minutes, as it should; that is the bench's
        odd = odd.filter(lambda v: not (v.strip().isdigit() and 2_000 < int(v) <= high))  # business, not a fault
    return Values(valid, odd)


def floats() -> Values:
    odd = st.sampled_from(["0", "-0", "-1", "nan", "inf", "-inf", "1e-300", "1e308", "1e309", "5e-324",
                           str(10**30), "0x1p-3", "1_0", ""])
    return Values(st.sampled_from(["0.01", "0.05", "0.1", "0.2", "0.5", "1"]),
                  weighted((3, odd), (1, st.floats().map(str))))


def choices(param: click.Parameter) -> Values:
    values = [str(c) for c in param.type.choices]  # type: ignore[attr-defined]
    return Values(st.sampled_from(values), _typed(values))


# ------------------------------------------------------------------------------------------------ by name
SENTENCES = ["Heating not working", "Boiler broken since Monday", "Damp in the bedroom", "Repair booked",
             "Called resident, left voicemail", "awaiting surveyor", "Sam Resident", "Ann Smith", "daughter",
             "Resident withdrew by phone", "Apologise in writing", "apology", "repairs", "damp and mould"]
FILE_NAMES = ["policy.toml", "policy-broken.toml", "binary.bin", "empty.txt", "legacy.csv", "legacy-bad.csv",
              "legacy.jsonl", "nested.jsonl", "digest.json", "export.jsonl", "latin1.csv", "folder"]
FILES_VALID = {"policy_file": ["policy.toml"], "file": ["legacy.csv", "legacy.jsonl"], "against": ["digest.json"]}


def text_for(param: click.Parameter, corpus: Corpus) -> Values:
    """Free text, or the name of something in the ledger, by what the param is called."""
    name = param.name or ""
    plain = weighted((3, st.sampled_from(SENTENCES)),
                     (1, st.text(st.characters(codec="ascii", categories=["L", "Zs"]), min_size=1, max_size=60)))
    hints: dict[str, Values] = {
        "ref": Values(weighted((3, _pick(corpus.open_refs)), (2, _pick(corpus.refs))),
                      weighted((2, _typed(corpus.refs)),
                               (1, st.sampled_from(["CMP-2026-999999", "CMP-1900-000001", "CMP-2026-0000001",
                                                    "CMP-2026-000000", "cmp-2026-1", "CR/2025/0142"])))),
        "complainant_id": Values(_pick(corpus.complainant_ids), _typed(corpus.complainant_ids)),
        "category": Values(_pick(corpus.categories or ["repairs"]),
                           st.sampled_from(["=1+1", "+cmd", "-2", "@x", "\tx", "\rx"])),
        "cursor": Values(_pick(corpus.cursors), _typed(corpus.cursors)),
        "url": Values(st.sampled_from([corpus.hook_url, corpus.hook_url + "?q=1#f"]),
                      st.sampled_from(["http://127.0.0.1:1/", "https://127.0.0.1:1/x", "http://[::1]:1/",
                                       "http://localhost:1/", "ftp://127.0.0.1/", "http://", "http:///x",
                                       "127.0.0.1:1", "file:///etc/passwd", "javascript:alert(1)",
                                       "http://127.0.0.1:99999/", "http://127.0.0.1:-1/",
                                       "http://127.0.0.1:1/" + "a" * 5000])),
        "secret_env": Values(st.just(SECRET_ENV), st.sampled_from(["FUZZ_UNSET_VARIABLE", "PATH", ""])),
        "event_types": Values(_pick(corpus.event_types), _typed(corpus.event_types)),
        "names": Values(_pick(corpus.projections), _typed(corpus.projections)),
        "policy_name": Values(_pick(corpus.policies), _typed(corpus.policies)),
        "target": Values(st.sampled_from(["copy.db", "sqlite:///copy.db"]),
                         st.sampled_from([LEDGER, f"sqlite:///{LEDGER}", ".", "no/such/dir/copy.db", FILES,
                                          "postgresql://fuzz@127.0.0.1:1/complaints", "sqlite://",
                                          "sqlite:///:memory:", "mysql://a@127.0.0.1/c", f"{FILES}/binary.bin"])),
        "demo_db": Values(st.sampled_from(["demo.db", "sqlite:///demo.db"]),
                          st.sampled_from([LEDGER, ".", "no/such/dir/demo.db", "sqlite://",
                                           "postgresql://fuzz@127.0.0.1:1/complaints", f"{FILES}/empty.txt"])),
        "login": Values(st.sampled_from(["jo", "dana.d", "olly"]), st.sampled_from(["postgres", "fuzzer", "x" * 64])),
        "role_prefix": Values(st.sampled_from(["complaints", "cl"]),
                              st.sampled_from(["a-b", "Robert'); DROP", "x" * 64, "1abc"])),
        "approved_by": Values(_pick(corpus.staff), _typed(corpus.staff)),
        "name": Values(weighted((2, _pick(corpus.staff)), (2, _pick(corpus.policies)), (1, plain)),
                       weighted((1, _typed(corpus.staff)), (1, _typed(corpus.policies)))),
    }
    if name in hints:
        return hints[name]
    if name == "output":
        return paths_for(param)
    return Values(plain, st.sampled_from(["x" * 2000, "a\nb", "Called\nCMP-2026-000001  Closed  forged line"]))


def paths_for(param: click.Parameter) -> Values:
    """Files the world prepared, places to write inside the example's folder, and paths that cannot work."""
    files = [f"{FILES}/{f}" for f in FILE_NAMES]
    valid = FILES_VALID.get(param.name or "")
    places = ["out.txt", "out.html", "out.json", "bundle", "new.jsonl"]
    odd = [".", "..", LEDGER, FILES, "no/such/dir/x", "new/dir/out.json", "-", "x" * 300, "d" * 5000, "é" * 200,
           "a\nb", "a\x00b", " ", ""]
    return Values(st.sampled_from([f"{FILES}/{f}" for f in valid] if valid else places),
                  weighted((2, st.sampled_from(files)), (2, st.sampled_from(odd)), (1, st.just(LEDGER)),
                           (1, garbage().map(_relative))))


def value_for(param: click.Parameter, corpus: Corpus) -> Values:
    """The values for `param`, by its type (the project's types by `.name`), then by its name."""
    t = param.type
    if t.name == "YYYY-MM-DD":
        return dates(corpus)
    if t.name == "GBP":
        return amounts()
    if t.name == "NAME:ROLE":
        return panel_members()
    if t.name == "TIMESTAMP":
        return timestamps(corpus)
    if isinstance(t, click.Choice):
        return choices(param)
    if isinstance(t, click.types.IntParamType):
        return integers(param, corpus)
    if isinstance(t, click.types.FloatParamType):
        return floats()
    if isinstance(t, (click.Path, click.File)):
        return paths_for(param)
    return text_for(param, corpus)  # text, and any type added later


# ------------------------------------------------------------------------------------------------ argument vectors
DB_ODD = [f"sqlite:///{LEDGER}", "", "sqlite://", "sqlite:///", "sqlite:///:memory:", ".", FILES, "no/such/dir/x.db",
          "mysql://a@127.0.0.1/c", "postgresql://u@127.0.0.1:abc/d", "postgresql://fuzz@127.0.0.1:1/complaints",
          "postgres://fuzz@[::1]:1/c", "oracle://127.0.0.1/x", "sqlite:///" + "a" * 5000, f"{FILES}/binary.bin",
          f"{FILES}/empty.txt", f"{LEDGER}?mode=ro", "new.db", "none"]


@st.composite
def argv_for(draw: Any, cmd: Command, corpus: Corpus) -> list[str]:
    """An argument vector for `cmd` from its declared params, options in any order.

    Two kinds of example: careful ones (every value valid-looking, so the domain's own rules are what refuse
    them) and careless ones (each value may be odd for its type or plain garbage, the ledger URL or actor may be
    wrong, and a stray word may follow)."""
    careful = draw(st.integers(0, 4)) < 2

    def value(values: Values) -> str:
        if careful:
            return draw(values.valid)
        return draw(weighted((4, values.valid), (3, values.odd), (1, garbage())))

    root: list[str] = []
    db = LEDGER if careful else draw(weighted((16, st.just(LEDGER)), (1, st.none()), (2, st.sampled_from(DB_ODD)),
                                              (1, garbage().map(_relative))))
    if db is not None:  # None: no --db, so the default complaints.db in the example's folder
        root += ["--db", db]
    if careful or draw(st.integers(0, 9)):
        actor = "fuzzer" if careful else draw(weighted((16, st.just("fuzzer")),
                                                       (1, st.sampled_from(["Jo Bloggs", "", " "])), (1, garbage())))
        root += ["--actor", actor]
    if not cmd.path:  # the root alone: its own options
        return root + draw(weighted((4, st.sampled_from([["--help"], ["-h"], ["--version"], []])),
                                    (1, st.lists(garbage(), max_size=3))))
    options: list[list[str]] = []
    positionals: list[str] = []
    for param in cmd.command.params:
        if isinstance(param, click.Option):
            if param.hidden or param.name in ("help", "version"):
                continue
            spellings = param.opts + param.secondary_opts
            if param.is_flag:
                if draw(st.integers(0, 2)) == 0:
                    options.append([draw(st.sampled_from(spellings))])
                continue
            if param.required:
                include = careful or draw(st.integers(0, 19)) > 0
            else:
                include = draw(st.integers(0, 9)) < 3
            if not include:
                continue
            for _ in range(draw(st.integers(1, 3)) if param.multiple else 1):
                spelling = draw(st.sampled_from(param.opts))
                text = value(value_for(param, corpus))
                if spelling.startswith("--") and draw(st.integers(0, 9)) == 0:
                    options.append([f"{spelling}={text}"])
                else:
                    options.append([spelling, text])
        elif isinstance(param, click.Argument):
            values = value_for(param, corpus)
            if param.nargs == -1:
                positionals += [value(values) for _ in range(draw(st.integers(0, 3)))]
            elif (careful and param.required) or draw(st.integers(0, 19)) < (19 if param.required else 12):
                positionals.append(value(values))
    options = draw(st.permutations(options))
    words = [w for option in options for w in option]
    if positionals and draw(st.integers(0, 9)) == 0:
        words = words + ["--", *positionals]  # a shell script's way to pass a value that starts with "-"
    elif draw(st.booleans()):
        words = words + positionals
    else:
        words = positionals + words
    tail: list[str] = []
    if not careful and draw(st.integers(0, 9)) == 0:
        tail = draw(st.sampled_from([["--help"], ["--bogus"], ["surplus"], ["--db", LEDGER]]))
    return [*root, *cmd.path, *words, *tail]


# ------------------------------------------------------------------------------------------------ one guarded run
class RanTooLong(BaseException):
    """Raised into a command by the alarm at TIME_LIMIT (a BaseException, so no `except Exception` swallows it)."""


class _Escaped(Exception):
    """Carries a BaseException (KeyboardInterrupt, RanTooLong) out through CliRunner, which catches only Exception."""

    def __init__(self, inner: BaseException):
        super().__init__(repr(inner))
        self.inner = inner


class _ShellEntry:
    """What the `complaints` console script runs (`complaints_ledger.cli:main`, which calls LedgerCLI.main), with
    sys.argv set as a shell would set it: everything CliRunner does besides is capture its output."""

    name = "complaints"

    def __init__(self, state: dict[str, bool]):
        self.state = state  # state["running"]: the command has not returned yet (the alarm may interrupt it)

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:
        saved = sys.argv
        sys.argv = ["complaints", *(args or ())]
        try:
            return cli_module.main()
        except (KeyboardInterrupt, RanTooLong) as e:
            raise _Escaped(e) from e
        finally:
            self.state["running"] = False
            sys.argv = saved


@dataclass
class Outcome:
    """What one run showed a user, and what it did to the ledger."""

    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None
    traceback: str
    seconds: float
    stopped_by_us: bool  # a command that runs until stopped got its Ctrl-C
    problems: list[str] = field(default_factory=list)

    @property
    def command_line(self) -> str:
        """The run as a bash command line to paste (in a folder holding a copy of the fixture ledger)."""
        return "complaints " + " ".join(shell_word(a) for a in self.argv)

    def describe(self) -> str:
        """The run for a failure message, long arguments and outputs abbreviated."""
        words = " ".join(shell_word(a if len(a) <= 80 else a[:40]) + (f"...[{len(a)} characters]" if len(a) > 80
                                                                       else "") for a in self.argv)
        exact = repr(self.argv)
        parts = [f"$ complaints {words}",
                 f"argv: {exact}" if len(exact) <= 2000 else "argv: too long to print here: replay with the seed",
                 f"exit {self.exit_code} after {self.seconds:.2f}s"
                 + (f" (Ctrl-C sent after {CTRL_C_AFTER}s)" if self.stopped_by_us else ""),
                 *[f"PROBLEM: {p}" for p in self.problems]]
        if self.stderr:
            parts.append("stderr:\n" + _abbreviate(self.stderr))
        if self.stdout and self.exit_code:
            parts.append("stdout:\n" + _abbreviate(self.stdout))
        if self.traceback:
            parts.append(_abbreviate(self.traceback, lines=40, from_end=True))
        return "\n".join(parts)


def shell_word(arg: str) -> str:
    """`arg` quoted for bash, control characters and all ($'...' where it holds any)."""
    if arg.isprintable():
        return shlex.quote(arg)
    escaped = "".join(c if c.isprintable() and c not in "\\'" else
                      {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(c) or
                      (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" if ord(c) < 0x10000 else
                       f"\\U{ord(c):08x}") for c in arg)
    return f"$'{escaped}'"


def _abbreviate(text: str, lines: int = 12, width: int = 300, from_end: bool = False) -> str:
    rows = text.rstrip("\n").split("\n")
    kept = rows[-lines:] if from_end else rows[:lines]
    out = [r if len(r) <= width else r[:width] + f"...[{len(r)} characters]" for r in kept]
    if len(rows) > lines:
        note = f"...[{len(rows) - lines} more lines]"
        out = [note, *out] if from_end else [*out, note]
    return "\n".join(out)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _audit_rows(db: Path) -> dict[str, list[tuple]] | str:
    """The audit tables' rows, exactly as stored (bytes stay bytes), or why they could not be read."""
    if not db.is_file():
        return f"{db.name} is gone"
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = {}
            for table in AUDIT_TABLES:
                order = "id" if table == EVENTS_TABLE else "rowid"  # the order rows were stored in
                rows[table] = conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            return rows
        finally:
            conn.close()
    except sqlite3.Error as e:
        return f"{db.name} cannot be read as the ledger: {e}"


class World:
    """A small ledger built once, and a fresh folder with a copy of it for every example."""

    def __init__(self, base: Path):
        self.base = base
        self.files = base / "files"
        self.pristine = base / "pristine" / LEDGER
        self.port = _closed_port()
        self.counter = 0
        self._runner = CliRunner()
        self.corpus = self._build()
        rows = _audit_rows(self.pristine)
        assert isinstance(rows, dict), rows
        self.audit = rows
        shutil.copytree(self.files, base / "files-pristine", symlinks=True)
        self._files_as_built = self._files_state()

    # -------------------------------------------------------------------------------------------- building
    def _cli(self, *args: str, cwd: Path) -> str:
        """Build step: must succeed; returns stdout."""
        here = os.getcwd()
        saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        os.chdir(cwd)
        try:
            result = self._runner.invoke(cli_module.cli, ["--db", LEDGER, "--actor", "fuzzer", *args],
                                         env=self._env(), catch_exceptions=True)
        finally:
            os.chdir(here)
            for s, handler in saved_signals.items():
                signal.signal(s, handler)
        assert result.exit_code == 0, (f"building the fuzz ledger: `complaints {' '.join(args)}` failed "
                                       f"({result.exit_code}): {result.stderr} {result.exception!r}")
        return result.stdout

    def _env(self) -> dict[str, str | None]:
        return {"COMPLAINTS_DB": None, "COMPLAINTS_ACTOR": None, "PYTHONIOENCODING": None,
                SECRET_ENV: "fuzz-secret", "FUZZ_UNSET_VARIABLE": None}

    def _build(self) -> Corpus:
        home = self.pristine.parent
        home.mkdir(parents=True)
        self._make_files()
        today = date.today()
        day = lambda n: (today - timedelta(days=n)).isoformat()  # noqa: E731 - business days in the past
        run = lambda *a: self._cli(*a, cwd=home)  # noqa: E731
        run("init")
        run("simulate", "--cases", "14", "--seed", "11", "--until", day(10))

        def receive(n: int, who: str, *extra: str) -> str:
            return run("receive", "--complainant", who, "--channel", "email", "--summary", "Damp in the bedroom",
                       "--category", "damp and mould", "--received-on", day(n), *extra).strip()

        fresh = receive(20, "Ada Open")
        run("note", fresh, "Called resident, left voicemail", "--on", day(19))
        acked = receive(40, "Bo Acknowledged", "--representative", "Cy Rep")
        run("acknowledge", acked, "--on", day(39))
        run("extend", acked, "--working-days", "5", "--reason", "awaiting surveyor", "--on", day(30))
        stage2 = receive(90, "Di Escalated")
        run("acknowledge", stage2, "--on", day(89))
        run("respond", stage2, "--outcome", "not-upheld", "--on", day(80))
        run("escalate", stage2, "--on", day(70))
        run("compensation", "request", stage2, "--amount", "50", "--on", day(69))
        refused = receive(50, "Ed Refused")
        run("refuse", refused, "--reason", "legal-action", "--explanation", "Court claim issued", "--on", day(49))
        answered = receive(30, "Gus Answered")
        run("acknowledge", answered, "--on", day(29))
        run("respond", answered, "--outcome", "partly-upheld", "--remedy", "apology", "--on", day(20))
        referred = receive(120, "Hal Referred")
        run("acknowledge", referred, "--on", day(119))
        run("respond", referred, "--outcome", "not-upheld", "--on", day(110))
        run("escalate", referred, "--on", day(100))
        run("acknowledge", referred, "--on", day(99))
        run("review", referred, "--outcome", "not-upheld", "--on", day(80))
        run("refer", referred, "--on", day(60))
        gone = receive(60, "Flo Withdrawn")
        run("withdraw", gone, "--on", day(55))
        run("feedback", "--kind", "compliment", "--summary", "Thank you to the repairs team", "--on", day(5))
        run("staff", "add", "Dana Director", "--role", "director", "--login", "fuzzer")  # the fuzz actor
        run("staff", "add", "Olly Officer", "--role", "officer")
        run("events", "--cursor", "crm", "--limit", "5")
        run("events", "deliver", "--url", self.hook_url, "--secret-env", SECRET_ENV, "--once", "--max-attempts", "1",
            "--backoff", "0", "--event", "Received", "--cursor", "fuzz-hook")
        cases = _rows(run("list", "--format", "json"))
        shown = {c["ref"]: json.loads(run("show", c["ref"], "--format", "json")) for c in cases}
        erased = shown[gone].get("complainant_id")
        if erased:
            run("erase", "--complainant", erased, "--reason", "erasure request 2026-41")
        run("verify", "--digest", "--output", str(self.files / "digest.json"))
        run("export", "--output", str(self.files / "export.jsonl"))
        run("projections", "rebuild")
        letters = _rows(run("events", "dead-letters", "--format", "json"))
        return Corpus(
            refs=sorted(shown),
            open_refs=sorted(ref for ref, view in shown.items() if view.get("status") in ("open", "referred")),
            complainant_ids=sorted({v["complainant_id"] for v in shown.values() if v.get("complainant_id")}),
            categories=sorted({c["category"] for c in cases if c.get("category")}),
            staff=[s["name"] for s in _rows(run("staff", "list", "--format", "json"))],
            dead_letters=[int(d["id"]) for d in letters],
            cursors=["crm", "fuzz-hook", f"deliver:{self.hook_url}"],
            projections=[p["name"] for p in _rows(run("projections", "status", "--format", "json"))],
            policies=[p["name"] for p in _rows(run("policy", "list", "--format", "json"))],
            event_types=sorted(_streamed_event_names()),
            hook_url=self.hook_url,
            first_day=today - timedelta(days=400),
            last_day=today,
        )

    @property
    def hook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/complaints"

    def _make_files(self) -> None:
        from complaints_ledger.adapters import policy_files

        f = self.files
        f.mkdir(parents=True)
        (f / "folder").mkdir()
        shipped = Path(policy_files.__file__).parent.parent / "domain" / "policies"
        toml = sorted(shipped.glob("*.toml"))
        (f / "policy.toml").write_bytes(toml[0].read_bytes() if toml else b"")
        (f / "policy-broken.toml").write_text('name = "x"\n[[stages]]\nnumber = "one"\n[unclosed\n')
        (f / "binary.bin").write_bytes(bytes(range(256)) * 64)
        (f / "empty.txt").write_bytes(b"")
        legacy = Path(cli_module.__file__).parent / "docs" / "legacy-cases.csv"
        minimal = "ref,complainant,channel,summary,received_on\nL-1,Jo,phone,Leak,2026-01-05\n"
        text = legacy.read_text(encoding="utf-8") if legacy.exists() else minimal
        (f / "legacy.csv").write_text(text, encoding="utf-8")
        header = text.splitlines()[0]
        bad = [header] + [f"BAD-{i},,carrier-pigeon,,2026-13-{i:02d}" for i in range(1, 30)]
        (f / "legacy-bad.csv").write_text("\n".join(bad) + "\n", encoding="utf-8")
        (f / "latin1.csv").write_bytes((header + "\nR1,Zo\xeb Caf\xe9,phone,Bo\xeete,2026-01-05\n").encode("latin-1"))
        row = {"ref": "JL-1", "complainant": "Jo", "channel": "phone", "summary": "Leak", "received_on": "2026-01-05"}
        (f / "legacy.jsonl").write_text(json.dumps(row) + "\n" + json.dumps({**row, "ref": "JL-2"}) + "\n")
        (f / "nested.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")

    # -------------------------------------------------------------------------------------------- running
    def run(self, cmd: Command, argv: list[str]) -> Outcome:
        """Run one example in a fresh folder holding a fresh copy of the ledger; note every problem a user would
        see (a traceback, an error of more than three lines, a run over 20 s, a changed audit trail)."""
        self.counter += 1
        folder = self.base / f"example-{self.counter}"
        folder.mkdir()
        shutil.copyfile(self.pristine, folder / LEDGER)
        here = os.getcwd()
        saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
        saved_memory = resource.getrlimit(resource.RLIMIT_AS)
        stop_early = cmd.runs_until_stopped  # even with --once: retries to a closed port back off for minutes
        state = {"running": True, "stopped_by_us": False}

        def alarm(signum: int, frame: Any) -> None:
            if not state["running"]:
                return
            if stop_early and not state["stopped_by_us"]:
                state["stopped_by_us"] = True
                signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT - CTRL_C_AFTER, 1.0)
                signal.raise_signal(signal.SIGINT)  # what the terminal sends when a person presses Ctrl-C
                return
            # again every second until the run ends: an exception raised inside a finaliser is only printed
            raise RanTooLong(f"still running after {time.monotonic() - started:.0f}s")

        os.chdir(folder)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a fresh `complaints` process
        signal.signal(signal.SIGALRM, alarm)
        self._limit_memory(saved_memory)
        started = time.monotonic()
        result: Any = None
        escaped: BaseException | None = None
        try:
            if stop_early:
                signal.setitimer(signal.ITIMER_REAL, CTRL_C_AFTER)
            else:
                signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT, 1.0)
            result = self._runner.invoke(_ShellEntry(state), argv, env=self._env(),  # type: ignore[arg-type]
                                         catch_exceptions=True, prog_name="complaints")
        except BaseException as e:  # noqa: BLE001 - the alarm landed in CliRunner's own code, outside the command
            escaped = e
        finally:
            state["running"] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            seconds = time.monotonic() - started
            resource.setrlimit(resource.RLIMIT_AS, saved_memory)
            for s, handler in saved_signals.items():
                signal.signal(s, handler)
            os.chdir(here)
        if result is None:
            exception, exc_info, code, out, err = escaped, None, 1, "", ""
        else:
            exception, exc_info = result.exception, result.exc_info
            code, out, err = result.exit_code, result.stdout, result.stderr
        if isinstance(exception, _Escaped):
            exception = exception.inner
        tb = ""
        if exception is not None and not isinstance(exception, SystemExit):
            tb = "".join(traceback.format_exception(*exc_info) if exc_info else
                         traceback.format_exception(exception))
        outcome = Outcome(argv=argv, exit_code=code, stdout=out, stderr=err, exception=exception, traceback=tb,
                          seconds=seconds, stopped_by_us=bool(state["stopped_by_us"]))
        outcome.problems = self._problems(outcome, folder / LEDGER)
        del result
        shutil.rmtree(folder, ignore_errors=True)
        if self._files_state() != self._files_as_built:  # an example wrote into an input (`--db ../files/x`)
            shutil.rmtree(self.files)
            shutil.copytree(self.base / "files-pristine", self.files, symlinks=True)
            self._files_as_built = self._files_state()
        if self.counter % 50 == 0:
            gc.collect()  # engines of earlier examples hold their (deleted) files open until collected
        return outcome

    def _files_state(self) -> list[tuple[str, int, int]]:
        """Every input file's name, size and modification time: what an example may not change for the next."""
        state = []
        for folder, dirs, names in os.walk(self.files):
            for name in dirs + names:
                path = Path(folder, name)
                st_ = path.lstat()
                state.append((str(path), st_.st_size, st_.st_mtime_ns))
        return sorted(state)

    def _limit_memory(self, saved: tuple[int, int]) -> None:
        """A run that tries to build something enormous gets a MemoryError instead of the machine's memory."""
        try:
            with open("/proc/self/statm") as f:
                size = int(f.read().split()[0]) * resource.getpagesize()
        except OSError:
            return
        soft = size + MEMORY_HEADROOM
        hard = saved[1]
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    def _problems(self, o: Outcome, ledger: Path) -> list[str]:
        problems = []
        stopped = isinstance(o.exception, RanTooLong)
        if stopped:
            problems.append(f"still running after {TIME_LIMIT:.0f}s (the test stopped it)")
        elif o.exception is not None and not isinstance(o.exception, SystemExit):
            problems.append(f"uncaught {type(o.exception).__name__}: {_abbreviate(str(o.exception), 1, 200)} "
                            "(a user sees a traceback)")
        elif o.seconds > TIME_LIMIT:
            problems.append(f"ran {o.seconds:.1f}s (limit {TIME_LIMIT:.0f}s)")
        if "Traceback (most recent call last)" in o.stdout + o.stderr and not stopped:  # not the test's own stop
            problems.append("a traceback is printed")
        if o.exit_code != 0 and not stopped:
            lines = o.stderr.rstrip("\n").split("\n") if o.stderr.strip() else []
            if len(lines) > MAX_STDERR_LINES:
                problems.append(f"{len(lines)} lines on stderr (at most {MAX_STDERR_LINES})")
            longest = max((len(line) for line in lines), default=0)
            if longest > MAX_LINE:
                problems.append(f"an error line of {longest} characters (at most {MAX_LINE})")
        now = _audit_rows(ledger)
        if isinstance(now, str):
            problems.append(f"the ledger was damaged: {now}")
            return problems
        for table in AUDIT_TABLES:
            before, after = self.audit[table], now[table]
            if table != "complaintsledger_keys" and after[:len(before)] != before:  # erasure may change a key
                problems.append(f"{table}: rows already stored were changed or removed")
            elif o.exit_code != 0 and not stopped and after != before:  # a run the test stopped is only too slow
                problems.append(f"failed, yet {table} changed ({len(before)} rows before, {len(after)} after)")
        return problems


def _rows(text: str) -> list[dict[str, Any]]:
    """A command's --format json: one JSON array, or JSON Lines."""
    try:
        rows = json.loads(text)
    except json.JSONDecodeError:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return rows if isinstance(rows, list) else [rows]


def _streamed_event_names() -> list[str]:
    from complaints_ledger.domain.stream import STREAMED

    return list(STREAMED)


def family_of(cmd: Command) -> str:
    """Which fuzz test a command belongs to; a command added later falls into 'record' unless named here."""
    top = cmd.path[0] if cmd.path else ""
    for family, tops in FAMILIES.items():
        if top in tops:
            return family
    return "record"


FAMILIES: dict[str, set[str]] = {
    "read": {"show", "history", "list", "breaches", "stats", "verify", "bundle", ""},
    "report": {"report"},
    "stream": {"events", "projections"},
    "admin": {"init", "policy", "staff", "import", "export", "copy", "demo", "simulate", "erase", "retention"},
}
