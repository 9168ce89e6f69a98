"""Commands that write a file (`export --output`, `verify --digest --output`, `report … --output`, `bundle --output`)
never write over the ledger they read, nor over another SQLite database, and say so in one line: found by the CLI
fuzz test, where `verify --digest --output ledger.db` replaced a live ledger with its own digest and exited 0."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ._cli import Cli, error_line

WRITERS = [
    pytest.param(["export", "--output"], id="export"),
    pytest.param(["verify", "--digest", "--output"], id="verify-digest"),
    pytest.param(["report", "committee", "--output"], id="report-committee"),
    pytest.param(["report", "annual", "--year", "2026", "--homes", "100", "--output"], id="report-annual"),
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def ledger_file(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    Cli("ledger.db").receive("2026-03-02")
    return tmp_path / "ledger.db"


@pytest.mark.parametrize("command", WRITERS)
@pytest.mark.parametrize("name", ["ledger.db", "./ledger.db", "ledger.db-wal", "{absolute}"])
def test_a_command_never_writes_its_output_over_the_ledger_it_reads(ledger_file: Path, command, name):
    cli = Cli("ledger.db")
    before = digest(ledger_file)
    target = str(ledger_file) if name == "{absolute}" else name

    message = error_line(cli(*command, target))

    assert "is the ledger's own database" in message
    assert digest(ledger_file) == before
    assert cli.ok("verify").stdout.startswith("verified:")


@pytest.mark.parametrize("command", WRITERS)
def test_a_command_never_writes_its_output_over_another_sqlite_database(ledger_file: Path, command):
    other = ledger_file.with_name("other.db")
    other.write_bytes(ledger_file.read_bytes())
    before = digest(other)

    message = error_line(Cli("ledger.db")(*command, "other.db"))

    assert message == "Error: other.db is an SQLite database, which this would overwrite: write to another file"
    assert digest(other) == before


@pytest.mark.parametrize("command", WRITERS)
def test_an_output_in_a_folder_that_does_not_exist_is_one_line_and_makes_nothing(ledger_file: Path, command):
    message = error_line(Cli("ledger.db")(*command, "no/such/out.txt"))

    assert message == "Error: cannot write no/such/out.txt: folder no/such does not exist"
    assert not Path("no").exists()


def test_an_output_over_an_earlier_report_is_written_as_before(ledger_file: Path):
    Path("committee.html").write_text("last month's report", encoding="utf-8")

    Cli("ledger.db").ok("report", "committee", "--output", "committee.html")

    assert "Complaints report to the committee" in Path("committee.html").read_text(encoding="utf-8")


def test_a_bundle_is_never_written_into_the_ledger_file(ledger_file: Path):
    before = digest(ledger_file)

    assert error_line(Cli("ledger.db")("bundle", "CMP-2026-000001", "--output", "ledger.db"))

    assert digest(ledger_file) == before
