"""`show` and `history` read through a plain DB-API connection (adapters/plain_reads.py: sqlite3 for an SQLite file,
psycopg2 for PostgreSQL): every case must read exactly as it does through the event store, personal data included
(opened, erased, missing), on simulated ledgers on both databases and on the ledgers written by earlier versions;
and that path never writes."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from eventsourcing.persistence import ProgrammingError

from complaints_ledger.adapters import simulation
from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.adapters.plain_reads import ReaderFactory, open_reader
from complaints_ledger.cli import to_json
from complaints_ledger.domain.errors import LedgerUnavailable, UnknownReference
from tests.fixtures.make_ledger_fixture import FIXTURES, UNTIL, paths

AS_OF = date(2026, 6, 30)


def _views(ledger, refs, as_of):
    return json.loads(to_json({ref: {"show": ledger.show(ref, as_of=as_of), "history": ledger.history(ref)}
                               for ref in refs}))


def _all_refs(ledger):
    refs, start = set(), 1
    while batch := ledger.recorder.select_notifications(start, 500):
        refs.update(ledger.mapper.to_domain_event(n).__dict__.get("ref") for n in batch
                    if n.topic.endswith("Complaint.Received"))
        start = batch[-1].id + 1
    return refs - {None}


def _simulate(url: str, cases: int) -> None:
    ledger = open_ledger(url, today=lambda: AS_OF)
    simulation.build(ledger, cases=cases, seed=5, actor="sim", until=AS_OF)
    ended = next(v for ref in sorted(_all_refs(ledger)) if (v := ledger.show(ref, as_of=AS_OF))["status"] == "closed"
                 and v["complainant_id"])
    ledger.erase(ended["complainant_id"], reason="asked to be forgotten", actor="dpo")
    ledger.close()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> str:
    """A year of mixed complaints, one person erased, one case read at a later known-at."""
    url = f"sqlite:///{tmp_path_factory.mktemp('reads') / 'ledger.db'}"
    _simulate(url, 120)
    return url


def test_every_case_reads_the_same_through_sqlite3_as_through_the_event_store(simulated):
    _every_case_reads_the_same(simulated)


def test_every_case_reads_the_same_through_psycopg2_as_through_the_event_store(pg_url):
    _simulate(pg_url, 60)
    _every_case_reads_the_same(pg_url)


def _every_case_reads_the_same(simulated: str) -> None:
    ledger = open_ledger(simulated, create=False)
    refs = sorted(_all_refs(ledger))
    expected = _views(ledger, refs, AS_OF)
    ledger.close()
    reader = open_reader(simulated)
    assert isinstance(reader.factory, ReaderFactory)
    assert _views(reader, refs, AS_OF) == expected
    erased = [v["show"] for v in expected.values() if v["show"]["erasure"]]
    assert erased and all(v["complainant"] == "[erased]" for v in erased)
    assert any(v["show"]["complainant"] not in ("[erased]", "[key missing]") for v in expected.values())
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
    first = refs[0]
    assert [e["event"] for e in reader.history(first, known_at=datetime.now(timezone.utc))] == \
        [e["event"] for e in expected[first]["history"]]
    with pytest.raises(UnknownReference):
        reader.show(first, known_at=moment)  # recorded today: nothing was known at the start of the year
    with pytest.raises(UnknownReference, match="no complaint with reference CMP-2031-000001"):
        reader.show("CMP-2031-000001")
    reader.close()


@pytest.mark.parametrize("name", FIXTURES)
def test_ledgers_written_by_earlier_versions_read_the_same_both_ways(name, tmp_path: Path):
    db, expected_file = paths(name)
    copy = tmp_path / db.name
    shutil.copy(db, copy)
    refs = sorted(json.loads(expected_file.read_text(encoding="utf-8"))["cases"])
    url = f"sqlite:///{copy}"
    reader = open_reader(url)
    assert isinstance(reader.factory, ReaderFactory)
    read = _views(reader, refs, UNTIL)
    reader.close()
    ledger = open_ledger(url, create=False)
    assert read == _views(ledger, refs, UNTIL)
    ledger.close()


def test_the_reader_writes_nothing(simulated, tmp_path: Path):
    path = Path(simulated[len("sqlite:///"):])
    before = path.read_bytes()
    reader = open_reader(simulated)
    with pytest.raises(ProgrammingError):
        reader.receive(complainant="Someone", channel="phone", summary="x", actor="officer")
    with pytest.raises(ProgrammingError):
        reader.recorder.insert_events([])
    reader.close()
    assert path.read_bytes() == before


def test_postgresql_it_cannot_use_as_it_is_is_opened_as_usual(pg_url):
    with pytest.raises(LedgerUnavailable, match="no ledger"):
        open_reader(pg_url)  # an empty schema
    unreachable = "postgresql://nobody:secret-pw@127.0.0.1:1/none"
    with pytest.raises(LedgerUnavailable) as refused:
        open_reader(unreachable)
    assert "secret-pw" not in str(refused.value)


def test_files_it_cannot_read_are_one_clear_error_or_opened_as_usual(tmp_path: Path):
    with pytest.raises(LedgerUnavailable, match="no ledger at"):
        open_reader(f"sqlite:///{tmp_path / 'missing.db'}")
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database")
    with pytest.raises(LedgerUnavailable, match="file is not a database"):
        open_reader(f"sqlite:///{garbage}")
    empty = tmp_path / "empty.db"
    empty.touch()  # no ledger tables: a read sets nothing up, it says there is no ledger and leaves the file as it was
    with pytest.raises(LedgerUnavailable, match="no ledger at .*complaints init"):
        open_reader(f"sqlite:///{empty}")
    assert empty.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "garbage.db"]
