"""Fixtures for the end-to-end suite: the `complaints` command line on a real ledger, in process and as a subprocess.

The in-process driver lives in tests/e2e/_cli.py; `cli` runs on SQLite and on PostgreSQL (the `db_url` fixture),
`sqlite_cli` on SQLite only. On PostgreSQL `cli` logs in as people do: each actor is a login acting as the ledger's
writer role (`init --roles`), never as the owner of the tables or a superuser.
"""

from __future__ import annotations

import os

import pytest

from ..conftest import complaints_command
from ._cli import CLEAN_ENV, Cli


@pytest.fixture
def cli(request, db_url) -> Cli:
    """The CLI on a fresh ledger, once on SQLite and once on PostgreSQL (set up by its owner with `init --roles`;
    every actor then logs in as a member of the writer role)."""
    if db_url.startswith("postgresql"):
        return Cli(request.getfixturevalue("ledger_roles").ledger(db_url))
    return Cli(db_url)


@pytest.fixture
def sqlite_cli(sqlite_url) -> Cli:
    """The CLI on a fresh SQLite ledger (for behaviour that does not depend on the database)."""
    return Cli(sqlite_url)


@pytest.fixture(scope="session")
def complaints_exe() -> str:
    """The installed `complaints` console script (this interpreter's)."""
    [path, *rest] = complaints_command()
    if rest:
        pytest.fail("the `complaints` console script is not installed (pip install -e .)")
    return path


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """The environment for real runs of `complaints`, without any ledger or actor set by the developer."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env["PYTHONIOENCODING"] = "utf-8"
    return env
