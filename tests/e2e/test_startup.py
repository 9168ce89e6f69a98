"""Start-up: what a command imports decides how long an officer waits for it (the timings are bench/run.py's).

`complaints --help` must not import the event store, SQLAlchemy, the aggregate or the bank-holiday rules; opening a
ledger must not import the whole of sqlalchemy_utils, of which the event store uses one type. Checked in fresh
interpreters, by what they have imported, not by timing them.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("sqlalchemy", "eventsourcing", "eventsourcing_sqlalchemy", "holidays", "cryptography",
         "complaints_ledger.domain.complaint", "complaints_ledger.domain.policy",
         # each a few milliseconds, on a path whose whole budget is 0.15 s
         "complaints_ledger.domain.values", "tomllib", "zoneinfo", "getpass")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_help_imports_nothing_heavy():
    loaded = _modules_after("from click.testing import CliRunner\nfrom complaints_ledger.cli import cli\n"
                            "assert CliRunner().invoke(cli, ['--help']).exit_code == 0")
    assert not loaded & set(HEAVY)


def test_opening_a_ledger_loads_only_the_uuid_type_of_sqlalchemy_utils_and_the_package_still_answers(tmp_path):
    loaded = _modules_after(f"from complaints_ledger.adapters.persistence import open_ledger\n"
                            f"open_ledger('sqlite:///{tmp_path / 'l.db'}').event_count()")
    assert {m for m in loaded if m.startswith("sqlalchemy_utils")} == {
        "sqlalchemy_utils", "sqlalchemy_utils.types", "sqlalchemy_utils.types.uuid",
        "sqlalchemy_utils.types.scalar_coercible"}
    assert "holidays" not in loaded  # the bank-holiday table covers today's dates
    # UUIDType's module names the PostgreSQL and SQL Server dialects: on SQLite they are registered, never run
    assert not loaded & {"sqlalchemy.dialects.postgresql.base", "sqlalchemy.dialects.mssql.base"}
    after = _modules_after(f"from complaints_ledger.adapters.persistence import open_ledger\n"
                           f"open_ledger('sqlite:///{tmp_path / 'l.db'}')\n"
                           "import sqlalchemy_utils\nfrom sqlalchemy_utils.types import ArrowType\n"
                           "assert callable(sqlalchemy_utils.database_exists)\n"
                           "assert sqlalchemy_utils.UUIDType is sqlalchemy_utils.types.uuid.UUIDType")
    assert "sqlalchemy_utils.functions" in after


def test_show_and_history_on_an_sqlite_file_never_import_sqlalchemy(tmp_path):
    db = tmp_path / "l.db"
    _modules_after(f"from complaints_ledger.adapters.persistence import open_ledger\n"
                   f"from datetime import date\n"
                   f"open_ledger('sqlite:///{db}').receive(complainant='Ann Example', channel='phone', summary='Damp',"
                   f" actor='officer', received_on=date(2026, 11, 2))")
    loaded = _modules_after(
        "from click.testing import CliRunner\nfrom complaints_ledger.cli import cli\n"
        f"for command in (['show', 'CMP-2026-000001'], ['history', 'CMP-2026-000001', '--format', 'json']):\n"
        f"    result = CliRunner().invoke(cli, ['--db', '{db}', *command])\n"
        "    assert result.exit_code == 0 and 'Ann Example' in result.output, result.output\n")
    assert not {m.split(".")[0] for m in loaded} & {"sqlalchemy", "eventsourcing_sqlalchemy"}
