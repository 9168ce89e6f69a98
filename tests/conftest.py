"""Fixtures shared by the unit, integration and e2e suites.

PostgreSQL: every test gets its own schema in the database at COMPLAINTS_TEST_PG_URL (default the local `test`
database), dropped afterwards. When COMPLAINTS_REQUIRE_PG=1 (CI), an unreachable PostgreSQL fails the run instead of
skipping it.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from datetime import date
from urllib.parse import quote

import pytest

from complaints_ledger.adapters import policy_files

# A killed rebuild's claim lapses after this many seconds (60 in production); tests that kill one needn't wait.
os.environ.setdefault("COMPLAINTS_REBUILD_LEASE_SECONDS", "3")
# Rebuild pages as small as catch-up pages, so a few hundred simulated cases make a multi-page rebuild to interrupt.
os.environ.setdefault("COMPLAINTS_REBUILD_PAGE_SIZE", "500")

PG_URL = os.environ.get("COMPLAINTS_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("COMPLAINTS_REQUIRE_PG", "").lower() in ("1", "true", "yes")
TODAY = date(2026, 11, 22)


def complaints_command() -> list[str]:
    """The `complaints` console script of the interpreter running the tests (not whichever install is first on
    PATH), or `python -m complaints_ledger.cli` where none is installed beside it."""
    beside = os.path.join(os.path.dirname(sys.executable), "complaints")
    exe = beside if os.path.exists(beside) else shutil.which("complaints")
    return [exe] if exe else [sys.executable, "-m", "complaints_ledger.cli"]


@pytest.fixture
def today() -> date:
    """A fixed 'today' so deadline tests do not drift with the calendar."""
    return TODAY


@pytest.fixture(scope="session")
def policy():
    """Load a shipped profile by name."""
    return policy_files.load_shipped


def _pg_problem() -> str | None:
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
        engine.dispose()
        return None
    except Exception as e:  # noqa: BLE001 - any failure means "not reachable"
        return str(e).splitlines()[0]


def require_pg() -> None:
    """Skip the test when PostgreSQL is unreachable, or fail it under COMPLAINTS_REQUIRE_PG=1."""
    problem = _pg_problem()
    if problem is None:
        return
    if REQUIRE_PG:
        pytest.fail(f"PostgreSQL is required (COMPLAINTS_REQUIRE_PG=1) but unreachable at {PG_URL}: {problem}")
    pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {problem}")


@pytest.fixture(scope="session")
def pg_reachable() -> bool:
    require_pg()
    return True


class ScratchSchemas:
    """Fresh schemas in the test database, each handed out as a URL whose search_path is it, so tests never see each
    other's tables; close() drops them all."""

    def __init__(self) -> None:
        import sqlalchemy

        self._sa = sqlalchemy
        self._admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        self._schemas: list[str] = []

    def fresh(self) -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.execute(self._sa.text(f'CREATE SCHEMA "{schema}"'))
        self._schemas.append(schema)
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"

    def close(self) -> None:
        with self._admin.connect() as conn:
            for schema in self._schemas:
                conn.execute(self._sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        self._admin.dispose()


@pytest.fixture
def pg_url(pg_reachable):
    """A PostgreSQL URL whose search_path is a fresh schema."""
    schemas = ScratchSchemas()
    yield schemas.fresh()
    schemas.close()


@pytest.fixture(scope="session")
def ledger_roles(pg_reachable):
    """The writer and reader group roles of this test process (tests/e2e/_cli.py's LedgerRoles: `ledger(pg_url)`
    sets a fresh schema's ledger up with them), dropped at the end of the session."""
    from tests.e2e._cli import LedgerRoles

    roles = LedgerRoles(PG_URL)
    yield roles
    roles.close()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request):
    """The same test on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def ledger_factory(db_url, today):
    """Open (another) ledger on the test database; every one opened is closed afterwards."""
    from complaints_ledger.adapters.persistence import open_ledger

    opened = []

    def make(url: str | None = None):
        ledger = open_ledger(url or db_url, today=lambda: today)
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(ledger_factory):
    return ledger_factory()
