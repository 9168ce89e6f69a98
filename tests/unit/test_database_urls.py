"""What `--db` accepts (persistence.normalise_url): every way of naming an SQLite file or a PostgreSQL database that
works today keeps working, in the one form the ledger opens; no database is touched to decide."""

from __future__ import annotations

import pytest

from complaints_ledger.adapters.persistence import normalise_url
from complaints_ledger.domain.errors import LedgerUnavailable


@pytest.mark.parametrize("typed, opened", [
    ("complaints.db", "sqlite:///complaints.db"),
    ("  ledgers/2026.db  ", "sqlite:///ledgers/2026.db"),
    ("/srv/complaints/ledger.db", "sqlite:////srv/complaints/ledger.db"),
    ("sqlite:///complaints.db", "sqlite:///complaints.db"),
    ("sqlite:////srv/ledger.db?timeout=30", "sqlite:////srv/ledger.db?timeout=30"),
    ("sqlite+pysqlite:///complaints.db", "sqlite:///complaints.db"),
    ("postgresql://jo@dbhost/complaints", "postgresql+psycopg2://jo@dbhost/complaints"),
    ("postgres://jo:pw@dbhost:5433/complaints", "postgresql+psycopg2://jo:pw@dbhost:5433/complaints"),
    ("postgresql+psycopg2://jo@dbhost/complaints?options=-csearch_path%3Dledger",
     "postgresql+psycopg2://jo@dbhost/complaints?options=-csearch_path%3Dledger"),
    ("postgresql://jo@/complaints?host=/var/run/postgresql",
     "postgresql+psycopg2://jo@/complaints?host=/var/run/postgresql"),
    ("postgresql://jo@[::1]:5432/complaints", "postgresql+psycopg2://jo@[::1]:5432/complaints"),
])
def test_every_usual_way_of_naming_a_ledger_is_accepted(typed, opened):
    assert normalise_url(typed) == opened
    assert normalise_url(opened) == opened  # already normalised: unchanged


def test_no_url_means_COMPLAINTS_DB_then_the_default(monkeypatch):
    monkeypatch.delenv("COMPLAINTS_DB", raising=False)
    assert normalise_url(None) == "sqlite:///complaints.db"
    monkeypatch.setenv("COMPLAINTS_DB", "team.db")
    assert normalise_url(None) == "sqlite:///team.db"
    monkeypatch.setenv("COMPLAINTS_DB", "")
    with pytest.raises(LedgerUnavailable, match="COMPLAINTS_DB is set but empty"):
        normalise_url(None)


@pytest.mark.parametrize("typed", ["sqlite://", "sqlite:///", "sqlite:///:memory:", ":memory:", "file::memory:",
                                   "sqlite:///x.db?mode=memory", "sqlite:///file:x?mode=memory&uri=true",
                                   "SQLITE://"])
def test_every_spelling_of_an_in_memory_database_is_refused(typed):
    with pytest.raises(LedgerUnavailable, match="in-memory SQLite database, which would keep nothing"):
        normalise_url(typed)


def test_a_message_quotes_at_most_sixty_characters_of_what_was_typed():
    typed = "mysql://" + "x" * 10_000

    with pytest.raises(LedgerUnavailable) as caught:
        normalise_url(typed[:1000])

    assert "'mysql://" + "x" * 52 + "…'" in str(caught.value)
    assert len(str(caught.value)) < 250
