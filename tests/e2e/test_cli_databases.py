"""Database URLs that never lose or damage data (adapters/persistence.py).

- A URL that could not be a ledger's lasting home (in-memory SQLite, another dialect, a malformed, empty or over-long
  URL) is one `Error: …` line naming what is supported, for every command, and nothing is created anywhere.
- A database holding another application's tables is never changed by a read command, nor by a write command until
  `complaints init` has added the ledger beside them; `init` says what it made. Checked byte for byte on an SQLite
  file and row for row (with the schema's tables, triggers and functions) on PostgreSQL.
- Read commands on a missing file or an empty database say there is no ledger and make nothing; a write command
  still sets a ledger up in a new or empty database ("also done on first write").
- `demo` leaves only its own file.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from ._cli import Cli, error_line

REF = "CMP-2026-000001"
RECEIVE = ["receive", "--complainant", "Sam Resident", "--channel", "phone", "--summary", "Heating not working",
           "--received-on", "2026-03-02"]
LEGACY_CSV = str(Path(__file__).resolve().parents[2] / "docs" / "legacy-cases.csv")
SUPPORTED = "postgresql://user@host[:port]/db"


def read_commands(tmp: Path) -> list[list[str]]:
    """Every command that only reads the ledger (or needs one to exist before it can do anything)."""
    return [
        ["show", REF], ["show", REF, "--format", "json"], ["history", REF], ["list"], ["list", "--format", "csv"],
        ["verify"], ["verify", "--digest"], ["breaches"], ["stats"], ["stats", "--format", "csv"],
        ["report", "committee", "--format", "json"], ["report", "annual", "--year", "2025", "--homes", "100"],
        ["events"], ["events", "--cursor", "crm"], ["events", "dead-letters"], ["export"],
        ["export", "--output", str(tmp / "export.jsonl")], ["projections", "status"], ["projections", "rebuild"],
        ["staff", "list"], ["retention"], ["bundle", REF, "--output", str(tmp / "bundle")],
        ["erase", "--complainant", "P-1A2B3C4D5E6F", "--reason", "asked"],
        ["staff", "grant", "Jo Officer", "--role", "officer"],
        ["events", "deliver", "--url", "http://127.0.0.1:9/", "--secret-env", "HOOK_SECRET", "--once"],
    ]


def write_commands(tmp: Path) -> list[list[str]]:
    """Commands that set a ledger up on their first write into a new or empty database."""
    return [
        RECEIVE, ["acknowledge", REF, "--on", "2026-03-03"], ["note", REF, "Called back"],
        ["feedback", "--kind", "compliment", "--summary", "Thanks"],
        ["staff", "add", "Jo Officer", "--role", "officer"],
        ["import", LEGACY_CSV], ["import", LEGACY_CSV, "--dry-run"], ["simulate", "--cases", "2"],
        ["compensation", "request", REF, "--amount", "10"],
    ]


ENV = {"HOOK_SECRET": "s3cret"}


# ---------------------------------------------------------------------------------------------------- URLs
IN_MEMORY = ["sqlite://", "sqlite:///", "sqlite:///:memory:", ":memory:", "sqlite:///ledger.db?mode=memory",
             "sqlite:///file::memory:?cache=shared", "file::memory:", "sqlite+pysqlite:///:memory:"]


@pytest.mark.parametrize("url", IN_MEMORY)
def test_an_in_memory_sqlite_database_is_refused_by_every_command_as_keeping_nothing(tmp_path, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    commands = [*read_commands(tmp_path), *write_commands(tmp_path), ["init"], ["demo", "--db", url]]
    for command in commands:
        result = Cli(url)(*command, env=ENV)

        message = error_line(result)
        assert result.exit_code == 1, (command, message)
        assert "in-memory" in message and "would keep nothing" in message, (command, message)
        assert result.stdout == "", command
    assert list(tmp_path.iterdir()) == []


def test_an_in_memory_database_in_COMPLAINTS_DB_is_refused_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    result = Cli(url=None)(*RECEIVE, env={"COMPLAINTS_DB": "sqlite://"})

    assert "would keep nothing" in error_line(result)
    assert list(tmp_path.iterdir()) == []


def test_copying_into_an_in_memory_database_is_refused(tmp_path):
    source = Cli(str(tmp_path / "ledger.db"))
    source.receive()

    assert "would keep nothing" in source.fails("copy", "--to", "sqlite://")


@pytest.mark.parametrize("url, says", [
    pytest.param("mysql://a@b/c", "unsupported database URL 'mysql://a@b/c'", id="mysql"),
    pytest.param("mssql+pyodbc://a@b/c", "unsupported database URL", id="sql-server"),
    pytest.param("http://example.org/ledger", "unsupported database URL", id="http"),
    pytest.param("postgresql+asyncpg://a@b/c", "unsupported database URL", id="another-postgresql-driver"),
    pytest.param("://nothing", "unsupported database URL", id="no-scheme"),
    pytest.param("postgresql://a@localhost:abc/x", "has a port that is not a number", id="port-abc"),
    pytest.param("postgresql://a@localhost:99999/x", "has a port outside 1 to 65535", id="port-too-big"),
    pytest.param("postgresql://a@localhost:0/x", "has a port outside 1 to 65535", id="port-zero"),
    pytest.param("postgresql://a@/x", "names no host", id="no-host"),
    pytest.param("postgresql:///x", "names no host", id="no-host-no-user"),
    pytest.param("postgresql://a@localhost/", "names no database", id="no-database"),
    pytest.param("postgresql://a@localhost", "names no database", id="no-database-no-slash"),
    pytest.param("postgres://a@localhost:1:2:3/x", "port", id="garbage-port"),
    pytest.param("sqlite://somehost/ledger.db", "names a host", id="sqlite-host"),
    pytest.param("sqlite:///ledger.db?journal=off", "has an option 'journal'", id="sqlite-option"),
    pytest.param("sqlite:///ledger.db?timeout=soon", "timeout", id="sqlite-timeout"),
    pytest.param("sqlite:///file:ledger.db?uri=true", "URI filename", id="sqlite-uri"),
])
def test_an_unsupported_or_malformed_url_is_one_line_naming_what_is_supported(tmp_path, monkeypatch, url, says):
    monkeypatch.chdir(tmp_path)
    for command in (["list"], RECEIVE, ["init"]):
        result = Cli(url)(*command)

        message = error_line(result)
        assert result.exit_code == 1
        assert says in message
        assert "sqlite:///" in message or SUPPORTED in message, message
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_url_never_shows_its_password():
    for url in ("postgresql://jo:s3cretpw@localhost:abc/x", "postgresql://jo:s3cretpw@/x",
                "postgresql://jo:s3cretpw@localhost/", "mysql://jo:s3cretpw@host/db"):
        result = Cli(url)("list")

        assert "s3cretpw" not in error_line(result)


@pytest.mark.parametrize("how", ["option", "environment"])
@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_database_url_is_an_error_not_the_default(tmp_path, monkeypatch, how, value):
    monkeypatch.chdir(tmp_path)
    Cli("complaints.db").receive()  # the default ledger here: an empty URL must not fall back to it
    before = (tmp_path / "complaints.db").read_bytes()

    if how == "option":
        result = Cli(value)(*RECEIVE, env={"COMPLAINTS_DB": str(tmp_path / "other.db")})
    else:
        result = Cli(url=None)(*RECEIVE, env={"COMPLAINTS_DB": value})

    message = error_line(result)
    assert "empty" in message and SUPPORTED in message
    assert (tmp_path / "complaints.db").read_bytes() == before
    assert not (tmp_path / "other.db").exists()


@pytest.mark.parametrize("length", [300, 5000, 100_000])
def test_an_over_long_path_is_one_short_line(tmp_path, monkeypatch, length):
    monkeypatch.chdir(tmp_path)
    for command in (["show", REF], ["list"], RECEIVE, ["init"]):
        result = Cli("a" * length)(*command)

        message = error_line(result)
        assert len(message) < 400, message
        assert "a" * 130 not in message
    assert list(tmp_path.iterdir()) == []


def test_a_control_character_in_a_url_is_refused_and_shown_escaped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    message = error_line(Cli("ledger\n.db")(*RECEIVE))

    assert "control character" in message and "\\n" in message
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------- no ledger
@pytest.fixture
def missing_or_empty(request, tmp_path, pg_url_factory) -> tuple[str, Callable[[], Any]]:
    """(url, snapshot): a database without a ledger, and what it looks like byte for byte / relation by relation."""
    kind = request.param
    if kind == "missing-file":
        path = tmp_path / "db" / "none.db"
        path.parent.mkdir()
        return str(path), lambda: sorted(p.name for p in path.parent.iterdir())
    if kind == "empty-file":
        path = tmp_path / "db" / "empty.db"
        path.parent.mkdir()
        path.touch()
        return f"sqlite:///{path}", lambda: [(p.name, p.read_bytes()) for p in sorted(path.parent.iterdir())]
    url = pg_url_factory()
    return url, lambda: pg_snapshot(url)


@pytest.fixture
def pg_url_factory(request):
    """Fresh PostgreSQL schemas, made only when a test asks (so SQLite-only cases need no server)."""
    schemas = []

    def make() -> str:
        from tests.conftest import ScratchSchemas, require_pg

        require_pg()
        schemas.append(ScratchSchemas())
        return schemas[-1].fresh()

    yield make
    for s in schemas:
        s.close()


def pg_snapshot(url: str) -> dict[str, Any]:
    """Every relation, trigger and function in the URL's schema, with every row of the foreign table if any."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            in_schema = "to_regnamespace(current_schema())"
            relations = conn.execute(sa.text(
                f"SELECT relname, relkind FROM pg_class WHERE relnamespace = {in_schema} ORDER BY 1")).all()
            triggers = conn.execute(sa.text(
                f"SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                f"WHERE c.relnamespace = {in_schema} ORDER BY 1")).all()
            functions = conn.execute(sa.text(
                f"SELECT proname FROM pg_proc WHERE pronamespace = {in_schema} ORDER BY 1")).all()
            rows = conn.execute(sa.text("SELECT * FROM residents ORDER BY id")).all() \
                if ("residents", "r") in relations else []
    finally:
        engine.dispose()
    return {"relations": relations, "triggers": triggers, "functions": functions, "rows": rows}


def refused_leaving_it_as_it_was(url: str, snapshot: Callable[[], Any], commands: list[list[str]],
                                 *said: str) -> None:
    """Each command is one `Error:` line saying all of `said`, and the database is as it was, byte for byte."""
    before = snapshot()
    cli = Cli(url)
    for command in commands:
        message = error_line(cli(*command, env=ENV))

        assert all(words in message for words in said), (command, message)
        assert snapshot() == before, command


@pytest.mark.parametrize("missing_or_empty", ["missing-file", "empty-file", "empty-postgresql-schema"],
                         indirect=True)
def test_a_read_command_where_there_is_no_ledger_says_so_and_makes_nothing(missing_or_empty, tmp_path):
    url, snapshot = missing_or_empty
    refused_leaving_it_as_it_was(url, snapshot, read_commands(tmp_path), "no ledger at", "complaints init")


@pytest.mark.parametrize("missing_or_empty", ["missing-file", "empty-file", "empty-postgresql-schema"],
                         indirect=True)
def test_the_first_write_into_a_new_or_empty_database_sets_the_ledger_up(missing_or_empty):
    url, _ = missing_or_empty
    cli = Cli(url)

    assert cli.receive() == REF
    assert cli.show(REF)["ref"] == REF


@pytest.mark.parametrize("missing_or_empty", ["missing-file", "empty-file", "empty-postgresql-schema"],
                         indirect=True)
def test_a_step_on_a_case_where_there_is_no_ledger_says_so_and_makes_nothing(missing_or_empty):
    """Only the commands that can start a ledger (receive, feedback, import, staff add, simulate, init) set one up:
    a step on a case through a mistyped --db must not leave an empty ledger behind."""
    url, snapshot = missing_or_empty
    steps = [["acknowledge", REF], ["note", REF, "Called"], ["learning", REF, "Fixed"],
             ["compensation", "request", REF, "--amount", "10"],
             ["deviate", REF, "--reason", "r", "--approved-by", "Dee"], ["close", REF]]
    refused_leaving_it_as_it_was(url, snapshot, steps, "no ledger at", "complaints init")


# ---------------------------------------------------------------------------------------------------- foreign
RESIDENTS = [(1, "Ann Other"), (2, "Bo Neighbour")]


@pytest.fixture(params=["sqlite", "postgres"])
def foreign(request, tmp_path, pg_url_factory) -> tuple[str, Callable[[], Any]]:
    """(url, snapshot) of another application's database: one table of residents, with two rows."""
    if request.param == "sqlite":
        folder = tmp_path / "theirs"
        folder.mkdir()
        path = folder / "housing.db"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE residents (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO residents VALUES (?, ?)", RESIDENTS)
        conn.commit()
        conn.close()
        return str(path), lambda: [(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]
    import sqlalchemy as sa

    url = pg_url_factory()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE residents (id integer PRIMARY KEY, name text)")
        conn.execute(sa.text("INSERT INTO residents VALUES (:id, :name)"),
                     [{"id": i, "name": n} for i, n in RESIDENTS])
    engine.dispose()
    return url, lambda: pg_snapshot(url)


def test_no_read_command_changes_another_applications_database(foreign, tmp_path):
    url, snapshot = foreign
    refused_leaving_it_as_it_was(url, snapshot, read_commands(tmp_path), "no ledger at", "residents",
                                 "complaints init")


def test_a_write_command_refuses_another_applications_database_until_init(foreign, tmp_path):
    url, snapshot = foreign
    before = snapshot()
    cli = Cli(url)

    for command in [*write_commands(tmp_path), ["demo", "--db", url]]:
        message = error_line(cli(*command))

        if command[0] in ("acknowledge", "note", "compensation"):  # a step needs a ledger holding the case
            assert "no ledger at" in message and "(it holds other tables: residents)" in message, message
        else:  # a command that could start a ledger says why it did not
            assert "holds other tables (residents) and no ledger" in message, (command, message)
            assert "nothing was written" in message
        assert "complaints init" in message
        assert snapshot() == before, command


def test_copy_refuses_a_target_holding_another_applications_tables(foreign, tmp_path):
    url, snapshot = foreign
    before = snapshot()
    source = Cli(f"sqlite:///{tmp_path / 'ledger.db'}")
    source.receive()

    assert "holds other tables (residents)" in source.fails("copy", "--to", url)
    assert snapshot() == before


def test_init_adds_the_ledger_beside_another_applications_tables_and_says_what_it_made(foreign):
    url, snapshot = foreign
    cli = Cli(url)

    result = cli.ok("init")

    lines = result.stdout.splitlines()
    assert lines[0].startswith("ledger ready at ") and lines[0].endswith("(0 events)")
    tables = next(line for line in lines if line.startswith("created ") and " tables in " in line)
    for table in ("complaintsledger_events", "complaintsledger_events_chain", "complaintsledger_keys",
                  "projection_state", "rm_case_status_a"):
        assert table in tables.split(": ", 1)[1].split(", ")
    assert "residents" not in tables
    triggers = next(line for line in lines if line.startswith("created ") and " trigger" in line)
    assert "complaintsledger_events" in triggers
    assert "beside the 1 other table already there" in result.stderr
    after = snapshot()
    if isinstance(after, dict):
        assert after["rows"] == RESIDENTS
    assert cli.receive() == REF
    assert cli.show(REF)["ref"] == REF
    assert [line.split(",")[0] for line in cli.ok("list", "--format", "csv").stdout.splitlines()[1:]] == [REF]
    assert cli.ok("init").stdout.splitlines() == [lines[0].replace("(0 events)", f"({cli.event_count()} events)")]
    if not isinstance(after, dict):
        rows = sqlite3.connect(Path(url)).execute("SELECT * FROM residents ORDER BY id").fetchall()
        assert rows == RESIDENTS


def test_init_in_a_new_database_lists_the_tables_and_triggers_it_made(db_url):
    out = Cli(db_url).ok("init").stdout

    # PostgreSQL also stamps who appended each decision; the case index has two tables (terms and homes), the
    # committee two (facts and months, whose triggers are listed with the others)
    tables = 14 if db_url.startswith("postgresql") else 13
    assert f"created {tables} tables in " in out
    assert "complaintsledger_events, complaintsledger_events_chain" in out
    assert "created " in out.splitlines()[2] and "trigger" in out.splitlines()[2]


# ---------------------------------------------------------------------------------------------------- demo
def test_demo_in_a_fresh_folder_leaves_only_its_own_file(tmp_path, complaints_exe, subprocess_env):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([complaints_exe, *args], cwd=tmp_path, env=subprocess_env, capture_output=True,
                              text=True, timeout=120)

    built = run("demo")
    listed = run("list")

    assert built.returncode == 0, built.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["complaints-demo.db"]
    assert listed.returncode == 1 and listed.stderr.startswith("Error: no ledger at complaints.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["complaints-demo.db"]
