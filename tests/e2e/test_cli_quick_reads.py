"""The quick read path (adapters/quick_reads.py): `list` and `breaches` answered on a plain DB-API connection when
their read models are current, on SQLite and PostgreSQL. What a user sees must be exactly what the full path
(SQLAlchemy, catching up first) shows; a ledger whose read models are behind must still show the newest event; the
live copy answers during and after a rebuild; a PostgreSQL reader login still reads (and is told when the read
models are behind); and the quick path must really be taken, with SQLAlchemy never imported."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from complaints_ledger.adapters import quick_reads
from complaints_ledger.projections.reads import CASE_INDEX, CASE_STATUS, DEADLINES

from ._cli import Cli, login_url, with_role

COMMANDS = [
    ("list",), ("list", "--overdue"), ("list", "--format", "json"), ("list", "--format", "csv"),
    ("list", "--status", "open", "--stage", "1", "--format", "csv"), ("list", "--category", "Repairs"),
    ("list", "--overdue", "--limit", "3", "--format", "json"), ("list", "--limit", "5"), ("list", "--all"),
    ("list", "--repeat", "--format", "csv"), ("list", "--due-within", "10", "--format", "csv"),
    ("breaches",), ("breaches", "--limit", "100"), ("breaches", "--format", "csv"),
    ("breaches", "--as-of", "2026-05-01", "--format", "json"),
    ("breaches", "--from", "2026-02-01", "--to", "2026-04-30", "--category", "repairs", "--format", "csv"),
]
NEEDS = {"list": (CASE_STATUS, CASE_INDEX), "breaches": (DEADLINES,), "find": (CASE_STATUS, CASE_INDEX)}


@pytest.fixture
def ledger(cli: Cli) -> Cli:
    """A few months of simulated cases, with the read models built by a first read."""
    cli.ok("simulate", "--cases", "80", "--seed", "11", "--until", "2026-05-31")
    cli.ok("list", "--limit", "1")
    return cli


def _url(cli: Cli) -> str:
    """The URL the CLI's own connections use (on PostgreSQL, the actor's login acting as the writer role)."""
    return login_url(cli.url, cli.actor) if cli.on_postgres else cli.url


def _seen(cli: Cli, args: tuple[str, ...]) -> tuple[int, str, str]:
    result = cli(*args)
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code, result.stdout, result.stderr


def _both_ways(cli: Cli, monkeypatch, args: tuple[str, ...]) -> tuple[tuple, tuple]:
    """What `args` shows by the quick path (checked to be taken) and by the full path."""
    taken = []
    real = quick_reads.current

    def spy(*a, **k):
        runner = real(*a, **k)
        taken.append(runner is not None)
        return runner

    monkeypatch.setattr(quick_reads, "current", spy)
    quick = _seen(cli, args)
    assert taken == [True], f"{args}: the quick path was not taken"
    monkeypatch.setattr(quick_reads, "current", lambda *a, **k: None)
    full = _seen(cli, args)
    monkeypatch.setattr(quick_reads, "current", real)
    return quick, full


def test_list_and_breaches_show_the_same_by_either_path(ledger: Cli, monkeypatch):
    for args in COMMANDS:
        quick, full = _both_ways(ledger, monkeypatch, args)
        assert quick == full, args
        assert quick[0] == 0 and quick[1], args
    rows = json.loads("[" + ",".join(ledger.ok("list", "--format", "json").stdout.splitlines()) + "]")
    assert any(r["overdue"] for r in rows) and any(r["status"] != "open" for r in rows)  # the data holds both
    assert ledger.ok("breaches", "--format", "csv").stdout.count("\n") > 5


def test_find_and_list_by_person_or_home_show_the_same_by_either_path(ledger: Cli, monkeypatch):
    first = ledger.show(ledger.ok("list", "--limit", "1", "--format", "csv").stdout.splitlines()[1].split(",")[0])
    surname, home = first["complainant"].split()[-1], first["property"]
    for args in [("find", surname), ("find", surname, "--format", "json"), ("find", home, "--format", "csv"),
                 ("find", first["complainant"], "--limit", "1"), ("find", "nobody-of-that-name"),
                 ("list", "--complainant", surname, "--format", "csv"), ("list", "--property", home),
                 ("list", "--repeat", "--complainant", surname, "--format", "json")]:
        quick, full = _both_ways(ledger, monkeypatch, args)
        assert quick == full, args
        assert quick[0] == 0, args
    assert first["ref"] in ledger.ok("find", home).stdout and first["complainant"] in ledger.ok("find", surname).stdout


def test_a_new_event_shows_although_the_read_models_were_behind(ledger: Cli):
    url = _url(ledger)
    assert quick_reads.current(url, NEEDS["list"], lambda: None) is not None
    ref = ledger.receive("2026-06-01", complainant="Newest Resident")
    assert quick_reads.current(url, NEEDS["list"], lambda: None) is None  # one event behind: the full path
    listed = ledger.ok("list", "--format", "csv").stdout
    assert ref in listed
    assert quick_reads.current(url, NEEDS["list"], lambda: None) is not None  # caught up by that read
    ledger.ok("acknowledge", ref, "--on", "2026-06-20")  # late: the code's 5 working days
    assert quick_reads.current(url, NEEDS["breaches"], lambda: None) is None
    late = [line.split(",") for line in ledger.ok("breaches", "--format", "csv").stdout.splitlines()]
    assert [ref, "1", "acknowledge"] in [row[:3] for row in late]


def test_the_live_copy_answers_during_and_after_a_rebuild(ledger: Cli, monkeypatch):
    url = _url(ledger)
    before = ledger.ok("list", "--format", "csv").stdout
    live = quick_reads.current(url, NEEDS["list"], lambda: None)
    old = live.suffixes[CASE_STATUS]
    live.close()
    ledger.ok("projections", "rebuild", CASE_STATUS)
    after = quick_reads.current(url, NEEDS["list"], lambda: None)
    assert after.suffixes[CASE_STATUS] != old  # the rebuilt copy went live
    after.close()
    quick, full = _both_ways(ledger, monkeypatch, ("list", "--format", "csv"))
    assert quick == full and quick[1] == before
    # A rebuild under way (claimed, its copy half filled): the live copy still answers, by the quick path.
    _claim_rebuild(url)
    quick, full = _both_ways(ledger, monkeypatch, ("list", "--format", "csv"))
    assert quick == full and quick[1] == before


def _claim_rebuild(url: str) -> None:
    """Mark case_status as being rebuilt into its idle copy by another run, as projection_store's claim does."""
    where = quick_reads.target(url)
    conn = quick_reads.connect(where, snapshot=False)
    if where[0] == "sqlite":
        conn.execute("PRAGMA query_only = OFF")
    else:
        conn.set_session(readonly=False)
    cur = conn.cursor()
    mark = "?" if where[0] == "sqlite" else "%s"
    cur.execute(f"UPDATE projection_state SET rebuild_suffix = CASE active_suffix WHEN 'a' THEN 'b' ELSE 'a' END, "
                f"rebuild_version = schema_version, rebuild_position = 0, rebuild_owner = {mark}, "
                f"rebuild_heartbeat = CURRENT_TIMESTAMP WHERE name = {mark}", ("elsewhere", CASE_STATUS))
    if where[0] != "sqlite":
        conn.commit()
    conn.close()


def test_a_reader_login_reads_by_the_quick_path_and_is_told_when_behind(request, pg_url, monkeypatch):
    roles = request.getfixturevalue("ledger_roles")
    writer = Cli(roles.ledger(pg_url))
    writer.ok("simulate", "--cases", "40", "--seed", "4", "--until", "2026-05-31")
    writer.ok("list", "--limit", "1")  # builds the read models
    reader = Cli(with_role(pg_url, roles.reader), actor="inspector")
    shown = {}
    for args in (("list", "--format", "csv"), ("breaches", "--limit", "100")):
        quick, full = _both_ways(reader, monkeypatch, args)
        assert quick == full and quick[0] == 0 and "behind" not in quick[2], args
        assert quick[1] == writer.ok(*args).stdout
        shown[args] = quick[1]
    quick, full = _both_ways(reader, monkeypatch, ("find", "smith"))
    assert quick == full and quick[0] != 0 and "may not read the key table" in quick[2]  # a reader never searches
    writer.receive("2026-06-01")
    for args, before in shown.items():
        result = reader(*args)
        assert result.exit_code == 0 and re.search(r"\d+ events? behind the log", result.stderr), (args, result.stderr)
        assert result.stdout == before  # as a writer last brought them up


def test_list_breaches_and_find_never_import_sqlalchemy_when_current(ledger: Cli):
    url = _url(ledger)
    code = ("import sys\nfrom click.testing import CliRunner\nfrom complaints_ledger.cli import cli\n"
            f"for command in (['list', '--overdue'], ['breaches', '--limit', '100'], ['list', '--format', 'csv'],\n"
            f"                ['find', 'smith', '--format', 'json']):\n"
            f"    result = CliRunner().invoke(cli, ['--db', {url!r}, '--actor', 'tester', *command])\n"
            "    assert result.exit_code == 0, result.output\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'eventsourcing_sqlalchemy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
