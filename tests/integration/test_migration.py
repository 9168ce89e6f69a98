"""Moving a ledger between databases, and exporting it: SQLite → PostgreSQL → SQLite keeps every row exactly.

One realistic ledger (200 simulated cases, a staff directory, an erased complainant and a live one) is built once on
SQLite and copied to PostgreSQL and from there to a second SQLite file; every copy must verify, count the same
statistics, show the same cases, and hold byte for byte the same events at the same positions.
"""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest

from complaints_ledger.adapters import audit, migration, simulation
from complaints_ledger.adapters.cursors import cursor_store
from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.adapters.webhooks import DeadLetterStore
from complaints_ledger.domain.errors import InvalidAction
from tests.conftest import TODAY, ScratchSchemas

ADA = "Ada Quenby-Marlowe"   # erased
BEN = "Benedict Oyelaran-Smythe"  # still on record
CASES = 200
PEOPLE = CASES + 2 + CASES // 8  # the simulated complainants, Ada and Ben, and the simulated feedback's givers


def _ledger(url: str):
    return open_ledger(url, today=lambda: TODAY)


def _build(url: str) -> dict:
    ledger = _ledger(url)
    try:
        simulation.build(ledger, cases=CASES, seed=11, actor="Sim Officer", until=TODAY)
        ledger.add_staff("Hana Head", role="head-of-service", actor="Hana Head")
        ledger.add_staff("Oli Officer", role="officer", actor="Hana Head")
        ada = ledger.receive(complainant=ADA, channel="email", summary="Damp in the nursery", actor="Oli Officer",
                             contact="ada@example.org", received_on=date(2026, 3, 2))
        ledger.respond(ada, outcome="upheld", summary="We apologise to Ada", actor="Oli Officer",
                       on=date(2026, 3, 10))
        ledger.close_case(ada, actor="Oli Officer", on=date(2026, 3, 11))
        ledger.erase(ledger.show(ada)["complainant_id"], reason="erasure request 2026-41", actor="Hana Head")
        ben = ledger.receive(complainant=BEN, channel="phone", summary="Broken lift since May", actor="Oli Officer",
                             contact="07700 900123", received_on=date(2026, 11, 2))
        ledger.add_note(ben, "Phoned Benedict about the lift engineer", actor="Oli Officer", on=date(2026, 11, 3))
        # Integration state: a consumer's cursor, and an event a webhook gave up on.
        cursor_store(ledger).advance("warehouse", 120)
        DeadLetterStore(ledger.recorder.datastore.engine, ledger.recorder.events_table_name).park(
            cursor="crm", position=7, url="https://crm.example.org/hook", event="Received", ref="CMP-2025-000001",
            attempts=5, error="HTTP 503\tService Unavailable")
        return {"ada": ada, "ben": ben, "samples": [f"CMP-2026-{n:06d}" for n in (1, 17, 60, 120)] + [ada, ben]}
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def pg_module_url(pg_reachable):
    """A PostgreSQL schema shared by this module's round trip (the per-test pg_url would rebuild it each time)."""
    schemas = ScratchSchemas()
    yield schemas.fresh()
    schemas.close()


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory, pg_module_url):
    """The source on SQLite, its copy on PostgreSQL, and the copy of that on a second SQLite file."""
    folder = tmp_path_factory.mktemp("migration")
    urls = [f"sqlite:///{folder / 'source.db'}", pg_module_url, f"sqlite:///{folder / 'back.db'}"]
    built = _build(urls[0])
    copies = []
    for source_url, target_url in zip(urls, urls[1:]):
        source = _ledger(source_url)
        try:
            copies.append(migration.copy_ledger(source, target_url))
        finally:
            source.close()
    return {"urls": urls, "copies": copies, **built}


def _table_rows(url: str) -> dict[str, list[tuple]]:
    """Every row of every ledger-owned table, as each database hands it back (timestamps in UTC)."""
    ledger = _ledger(url)
    try:
        engine = ledger.recorder.datastore.engine
        out = {}
        with engine.connect() as conn:
            for owned in migration._present(conn, migration.ledger_tables(ledger)):
                out[owned.name] = [tuple(row.values()) for rows in migration._rows(conn, owned.table)
                                   for row in rows]
        return out
    finally:
        ledger.close()


def test_each_copy_verifies_and_counts_the_same_statistics_as_its_source(round_trip):
    for copied in round_trip["copies"]:
        assert copied.ok, copied.problem()
        assert copied.rows["events"] > CASES * 5 and copied.cases == CASES + 2
        assert copied.rows["keys"] == PEOPLE + 1 and copied.rows["snapshots"] >= 1  # + the blind index key
    roots = set()
    for url in round_trip["urls"]:
        ledger = _ledger(url)
        try:
            found = audit.verify(ledger.recorder)
        finally:
            ledger.close()
        assert not found.breaks and found.events == round_trip["copies"][0].rows["events"]
        roots.add(found.root)
    assert len(roots) == 1


def test_every_row_is_identical_positions_and_stored_bytes_included(round_trip):
    source, on_postgres, back = (_table_rows(url) for url in round_trip["urls"])
    assert source == on_postgres == back
    events = source["events"]
    assert [row[0] for row in events] == sorted(row[0] for row in events)  # ids (positions) kept, in order
    keys = dict((row[0], row[1]) for row in source["keys"])
    assert sum(key is None for key in keys.values()) == 1  # the erased key is still erased, and only it
    assert [row[:2] for row in source["cursors"]] == [("warehouse", 120)] and len(source["dead_letters"]) == 1


def test_cases_read_the_same_on_every_copy_erased_fields_stay_erased_and_live_data_reads(round_trip):
    views = []
    for url in round_trip["urls"]:
        ledger = _ledger(url)
        try:
            views.append({ref: ledger.show(ref, as_of=TODAY) for ref in round_trip["samples"]})
        finally:
            ledger.close()
    assert views[0] == views[1] == views[2]
    for view in views:
        ada, ben = view[round_trip["ada"]], view[round_trip["ben"]]
        assert ada["complainant"] == ada["contact"] == ada["summary"] == "[erased]"
        assert ada["stages"][0]["outcome"] == "upheld"
        assert (ben["complainant"], ben["contact"]) == (BEN, "07700 900123")
        assert [n["text"] for n in ben["notes"]] == ["Phoned Benedict about the lift engineer"]


def test_a_copy_takes_new_events_after_the_last_copied_position(round_trip, pg_url):
    source = _ledger(round_trip["urls"][0])
    try:
        head = source.event_count()
        copied = migration.copy_ledger(source, pg_url)
    finally:
        source.close()
    assert copied.ok and copied.position == head
    target = _ledger(pg_url)
    try:
        ref = target.receive(complainant="Cal New", channel="phone", summary="Gutter", actor="Oli Officer",
                             received_on=TODAY)
        assert [n.id for n in target.recorder.select_notifications(head, 100)][:2] == [head, head + 1]
        assert ref == f"CMP-2026-{int(round_trip['ben'][-6:]) + 1:06d}"  # the reference sequence carried on too
        assert target.show(ref)["complainant"] == "Cal New"
        letters = DeadLetterStore(target.recorder.datastore.engine, target.recorder.events_table_name)
        assert letters.park(cursor="crm", position=9, url="https://crm.example.org/hook", event="Received", ref=ref,
                            attempts=1, error="timeout") == 2  # its id sequence carried on as well
        assert not audit.verify(target.recorder).breaks
    finally:
        target.close()


def test_copying_into_a_ledger_that_has_events_is_refused_and_writes_nothing(round_trip, db_url, ledger, receive):
    receive(ledger)
    before = _table_rows(db_url)
    source = _ledger(round_trip["urls"][0])
    try:
        with pytest.raises(InvalidAction, match=r"already holds \d+ events: copy only into an empty ledger"):
            migration.copy_ledger(source, db_url)
    finally:
        source.close()
    assert _table_rows(db_url) == before


def _export(ledger, include_keys: bool = False, out=None) -> list[dict]:
    import io

    out = out or io.StringIO()
    migration.export_ledger(ledger, out, include_keys=include_keys)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_export_holds_every_row_of_the_owned_tables_and_the_keys_only_when_asked(round_trip):
    for url in round_trip["urls"][:2]:
        ledger = _ledger(url)
        try:
            rows = _table_rows(url)
            without, with_keys = _export(ledger), _export(ledger, include_keys=True)
        finally:
            ledger.close()
        header, lines = without[0], without[1:]
        assert header["format"] == "complaints-ledger-export" and header["version"] == 1
        assert header["position"] == rows["events"][-1][0]
        assert header["database"] == ("sqlite" if url.startswith("sqlite") else "postgresql")
        counted = {name: sum(line["table"] == name for line in lines) for name in rows}
        assert header["tables"] == {name: len(found) for name, found in rows.items() if name != "keys"}
        assert counted == {**header["tables"], "keys": 0}
        assert header["integration_state"] == ["cursors", "dead_letters"]
        # The people's keys and the blind index's (adapters/blind_index.py), made when the source was copied.
        assert with_keys[0]["tables"]["keys"] == len(rows["keys"]) == PEOPLE + 1
        assert sum(line.get("table") == "keys" for line in with_keys[1:]) == PEOPLE + 1
        first = lines[0]["row"]
        assert first["id"] == rows["events"][0][0] and base64.b64decode(first["state"]) == rows["events"][0][4]


def test_export_is_one_consistent_snapshot_while_others_append(ledger_factory, receive):
    ledger = ledger_factory()
    for _ in range(3):
        receive(ledger)
    writer = ledger_factory()

    class AppendingMidway:
        """Someone records a complaint just after the export has written its header."""

        def __init__(self):
            import io

            self.buffer, self.appended = io.StringIO(), False

        def write(self, text):
            self.buffer.write(text)
            if not self.appended:
                self.appended = True
                receive(writer)

        def writelines(self, lines):
            for line in lines:
                self.write(line)

        def getvalue(self):
            return self.buffer.getvalue()

    out = AppendingMidway()
    lines = _export(ledger, out=out)
    assert out.appended and writer.event_count() > lines[0]["position"]
    counted = {name: sum(line["table"] == name for line in lines[1:]) for name in lines[0]["tables"]}
    assert counted == lines[0]["tables"]
    assert max(line["row"]["id"] for line in lines[1:] if line["table"] == "events") == lines[0]["position"]
