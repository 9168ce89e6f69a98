"""Opening a ledger that is missing, unreachable or not a ledger: one clear line, never a traceback or a password.

These are about how each backend fails, so most are written per backend; where a failure has a counterpart on both,
the test is parametrised over both.
"""

from __future__ import annotations

import pytest

from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.domain.errors import LedgerUnavailable

PASSWORD = "s3cret-Pa55"


def assert_one_clear_line(error: LedgerUnavailable, *, secret: str = PASSWORD) -> str:
    message = str(error)
    assert message.strip() == message and message
    assert "\n" not in message
    assert secret not in message
    assert "Traceback" not in message
    return message


@pytest.mark.parametrize("url, says", [
    pytest.param(f"postgresql+psycopg2://postgres:{PASSWORD}@127.0.0.1:1/test", "port 1 failed",
                 id="postgres-nothing-listening"),
    pytest.param(f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test", "port 1 failed",
                 id="postgres-plain-scheme"),
    pytest.param(f"postgres://postgres:{PASSWORD}@127.0.0.1:1/test", "port 1 failed",
                 id="postgres-short-scheme"),
])
def test_an_unreachable_postgresql_server_is_one_line_without_the_password(url, says):
    with pytest.raises(LedgerUnavailable) as caught:
        open_ledger(url)

    message = assert_one_clear_line(caught.value)
    assert message.startswith("cannot open the ledger at postgresql+psycopg2://postgres@127.0.0.1:1/test: ")
    assert says in message


def test_a_missing_postgresql_database_is_one_line_without_the_password(pg_reachable):
    with pytest.raises(LedgerUnavailable) as caught:
        open_ledger(f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/no_such_complaints_db")

    message = assert_one_clear_line(caught.value)
    assert 'database "no_such_complaints_db" does not exist' in message


def test_a_malformed_postgresql_url_is_one_line_without_the_password():
    with pytest.raises(LedgerUnavailable) as caught:
        open_ledger(f"postgresql://postgres:{PASSWORD}@127.0.0.1:notaport/test")

    assert_one_clear_line(caught.value)


@pytest.mark.parametrize("password, fragment", [
    pytest.param("hunter2@home", "home", id="at-sign"),
    pytest.param("hunter2@home:word", "word", id="at-sign-and-colon"),
])
def test_a_password_containing_an_at_sign_is_never_echoed(password, fragment):
    with pytest.raises(LedgerUnavailable) as caught:
        open_ledger(f"postgresql://postgres:{password}@127.0.0.1:1/test")

    message = assert_one_clear_line(caught.value, secret=password)
    assert fragment not in message


def test_opening_a_missing_sqlite_ledger_without_create_says_to_run_complaints_init(tmp_path):
    path = tmp_path / "nothing-here.db"

    with pytest.raises(LedgerUnavailable) as caught:
        open_ledger(f"sqlite:///{path}", create=False)

    message = assert_one_clear_line(caught.value)
    assert "complaints init" in message
    assert str(path) in message
    assert not path.exists()


def test_a_bare_path_to_a_missing_sqlite_ledger_without_create_says_to_run_complaints_init(tmp_path):
    path = tmp_path / "nothing-here.db"

    with pytest.raises(LedgerUnavailable, match="complaints init"):
        open_ledger(str(path), create=False)

    assert not path.exists()


@pytest.mark.parametrize("create", [True, False], ids=["create", "no-create"])
@pytest.mark.parametrize("form", ["url", "bare-path"])
def test_a_sqlite_ledger_in_a_missing_folder_is_reported(tmp_path, create, form):
    path = tmp_path / "no-such-folder" / "ledger.db"

    with pytest.raises(LedgerUnavailable) as caught:
        open_ledger(f"sqlite:///{path}" if form == "url" else str(path), create=create)

    message = assert_one_clear_line(caught.value)
    assert str(path) in message
    assert not path.parent.exists()


def test_an_existing_sqlite_ledger_opens_without_create_when_the_url_carries_driver_options(tmp_path):
    path = tmp_path / "ledger.db"
    open_ledger(f"sqlite:///{path}").close()

    reopened = open_ledger(f"sqlite:///{path}?timeout=30", create=False)
    reopened.close()


def test_a_file_that_is_not_a_ledger_is_reported_and_left_alone(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"These are my notes, not a database.\n" * 200)

    with pytest.raises(LedgerUnavailable) as caught:
        open_ledger(f"sqlite:///{path}")

    assert_one_clear_line(caught.value)
    assert path.read_bytes() == b"These are my notes, not a database.\n" * 200


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_unreachable_ledger_on_either_backend_is_one_clear_line(tmp_path, backend):
    url = (f"sqlite:///{tmp_path / 'gone' / 'ledger.db'}" if backend == "sqlite"
           else f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test")

    with pytest.raises(LedgerUnavailable) as caught:
        open_ledger(url)

    assert_one_clear_line(caught.value)


def test_an_existing_ledger_opens_without_create(db_url, ledger, receive):
    ref = receive(ledger)

    reopened = open_ledger(db_url, create=False)
    try:
        assert reopened.show(ref)["ref"] == ref
    finally:
        reopened.close()
