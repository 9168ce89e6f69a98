"""Each save is appended through SQLAlchemy Core in one statement (recorder: adapters/chained_recorder.py), on SQLite
and PostgreSQL: the events of several aggregates saved together take consecutive positions in the order saved, even
with another process saving at the same time; every chain verifies; and a conflicting version raises exactly what
the library's own recorder raises, so the ledger still reports a concurrent change, and writes nothing at all."""

from __future__ import annotations

import itertools
import multiprocessing
import queue
from dataclasses import replace
from datetime import date

import pytest
import sqlalchemy as sa
from eventsourcing.persistence import IntegrityError, RecordConflictError
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder

from complaints_ledger.adapters.audit import verify
from complaints_ledger.adapters.audit_chain import split_state
from complaints_ledger.domain.complaint import Complaint, complaint_id
from complaints_ledger.domain.errors import ConcurrentChange

TODAY = date(2026, 11, 22)
RECEIVED = date(2026, 11, 2)


def new_cases(ledger, refs: list[str]) -> list:
    """Unsaved cases of three events each (received, acknowledged, contacted), each after its new data subject."""
    hoc = ledger.policy("hoc-2024")
    out = []
    for n, ref in enumerate(refs):
        case = Complaint.receive(ref=ref, policy=hoc, complainant=f"Resident {ref}", channel="phone",
                                 summary="Boiler broken", received_on=RECEIVED, today=TODAY, actor="Jo Officer")
        case.acknowledge(on=date(2026, 11, 3), today=TODAY, actor="Jo Officer")
        case.contact(on=date(2026, 11, 4), today=TODAY, actor="Jo Officer", summary=f"Called resident {n}")
        out += [ledger._linked_subject(case), case]
    return out


def counts(ledger) -> dict[str, int]:
    """Rows in the events table, the chain-head table and the key table."""
    recorder = ledger.recorder
    tables = {"events": recorder.events, "chain": recorder.chain, "keys": recorder.vault.table}
    with recorder.datastore.engine.connect() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                for name, table in tables.items()}


def stored_positions(ledger, events) -> list[int]:
    c = ledger.recorder.events.c
    with ledger.recorder.datastore.engine.connect() as conn:
        return [conn.execute(sa.select(c.id).where(c.originator_id == e.originator_id,
                                                   c.originator_version == e.originator_version)).scalar_one()
                for e in events]


def test_a_batch_of_several_aggregates_takes_consecutive_positions_in_order_and_every_chain_verifies(
        ledger, receive):
    earlier = [receive(ledger, received_on=RECEIVED) for _ in range(2)]
    older = [ledger.get_case(ref) for ref in earlier]  # their next events link to events already stored
    for case in older:
        case.acknowledge(on=date(2026, 11, 3), today=TODAY, actor="Jo Officer")
    before = ledger.event_count()
    batch = [older[0], *new_cases(ledger, ["CMP-2026-000901", "CMP-2026-000902", "CMP-2026-000903"]), older[1]]

    recordings = ledger.save(*batch)

    saved = [r.domain_event for r in recordings]
    assert len(saved) == 2 + 3 * (1 + 3)  # two acknowledgements; per new case its subject's event and three more
    ids = [r.notification.id for r in recordings]
    assert ids == list(range(before + 1, before + 1 + len(saved)))
    assert stored_positions(ledger, saved) == ids
    log = ledger.recorder.select_notifications(start=before + 1, limit=100)
    assert [(n.originator_id, n.originator_version) for n in log] == [
        (e.originator_id, e.originator_version) for e in saved]
    found = verify(ledger.recorder)
    assert found.breaks == [] and found.events == ledger.event_count()
    fresh = ledger.show("CMP-2026-000902")
    assert fresh["complainant"] == "Resident CMP-2026-000902" and fresh["version"] == 3
    assert ledger.show(earlier[1])["stages"][0]["acknowledged_on"] == date(2026, 11, 3)


def test_a_conflicting_version_raises_the_librarys_own_error_and_writes_no_event_chain_row_or_key(
        ledger_factory, receive):
    ledger, other = ledger_factory(), ledger_factory()
    ref = receive(ledger, received_on=RECEIVED)
    mine, mine_again, theirs = ledger.get_case(ref), ledger.get_case(ref), other.get_case(ref)
    theirs.acknowledge(on=date(2026, 11, 3), today=TODAY, actor="Other Officer")
    other._save(theirs)
    for case in (mine, mine_again):
        case.acknowledge(on=date(2026, 11, 4), today=TODAY, actor="Jo Officer")
    before = counts(ledger)

    with pytest.raises(IntegrityError) as ours:
        ledger.save(*new_cases(ledger, ["CMP-2026-000911"]), mine)  # a new data subject's key is pending too
    with pytest.raises(IntegrityError) as library:  # the library's own ORM insert of a stored (id, version)
        with ledger.recorder.transaction(commit=True) as session:
            SQLAlchemyApplicationRecorder._insert_stored_events(
                ledger.recorder, session, ledger.recorder.select_events(complaint_id(ref), lte=1))
    assert type(ours.value) is type(library.value) and isinstance(ours.value, RecordConflictError)
    assert type(ours.value.__cause__) is type(library.value.__cause__) is sa.exc.IntegrityError
    with pytest.raises(ConcurrentChange, match="re-run"):  # and so the ledger's own handling of it still works
        ledger._save(*new_cases(ledger, ["CMP-2026-000912"]), mine_again)
    assert counts(ledger) == before
    assert complaint_id("CMP-2026-000911") not in ledger.repository

    ledger._save(*new_cases(ledger, ["CMP-2026-000913"]))
    after = counts(ledger)  # the failed saves' keys were forgotten, not stored later with this one
    assert after == {"events": before["events"] + 4, "chain": before["chain"] + 2, "keys": before["keys"] + 1}
    assert [e["event"] for e in ledger.history(ref)] == ["Received", "Acknowledged"]
    assert verify(ledger.recorder).breaks == []


def test_a_save_whose_last_statement_fails_writes_nothing_even_on_a_connection_that_served_reads(
        ledger_factory, receive):
    first = ledger_factory()
    ref = receive(first, received_on=RECEIVED)
    person = first.show(ref)["complainant_id"]
    ledger = ledger_factory()
    ledger.recorder.vault.new_key(person)  # a key for someone already on record: its insert will fail last
    for _ in range(5):
        ledger.get_case(ref)  # reads on the pool's connection (on PostgreSQL, outside a transaction)
    before = counts(ledger)

    with pytest.raises(IntegrityError):
        ledger.save(*new_cases(ledger, ["CMP-2026-000921"]))

    assert counts(ledger) == before
    assert complaint_id("CMP-2026-000921") not in ledger.repository
    assert ledger.show(ref)["complainant"] == "Ada Tenant"  # the person's own key is untouched


def test_reads_through_core_return_what_the_librarys_orm_query_returns(ledger, receive):
    ref = receive(ledger, received_on=RECEIVED)
    case = ledger.get_case(ref)
    case.acknowledge(on=date(2026, 11, 3), today=TODAY, actor="Jo Officer")
    for day in (4, 5, 6):
        case.add_note(text=f"Note {day}", on=date(2026, 11, day), today=TODAY, actor="Jo Officer")
    ledger._save(case)
    recorder = ledger.recorder
    for gt, lte, desc, limit in itertools.product((None, 1), (None, 4), (False, True), (None, 2)):
        library = SQLAlchemyApplicationRecorder.select_events(recorder, case.id, gt=gt, lte=lte, desc=desc,
                                                              limit=limit)
        ours = recorder.select_events(case.id, gt=gt, lte=lte, desc=desc, limit=limit)
        assert ours == [replace(e, state=split_state(e.state)[1]) for e in library], (gt, lte, desc, limit)
        assert ours and all(type(e.originator_id) is type(case.id) for e in ours)


def save_batches(url: str, prefix: str, batches: int, start, results) -> None:
    """A worker process: save `batches` batches of new cases; report (originator id, version, position) per event."""
    try:
        from complaints_ledger.adapters.persistence import open_ledger

        ledger = open_ledger(url, today=lambda: TODAY)
        start.wait(timeout=60)
        seen = []
        for b in range(batches):
            recordings = ledger.save(*new_cases(ledger, [f"CMP-2026-{prefix}{b}{n}" for n in range(4)]))
            seen.append([(r.notification.originator_id.hex, r.notification.originator_version, r.notification.id)
                         for r in recordings])
        results.put(("ok", seen))
    except BaseException as e:  # noqa: BLE001 - report anything to the parent, precisely
        results.put(("error", f"{type(e).__module__}.{type(e).__name__}: {e}"))


def test_batches_saved_by_two_processes_at_once_each_hold_consecutive_positions_and_return_them(
        db_url, ledger_factory):
    ledger = ledger_factory()  # the tables exist before the race, as after `complaints init`
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=save_batches, args=(db_url, prefix, 6, start, results)) for prefix in ("1", "2")]
    for w in workers:
        w.start()
    try:
        reports = [results.get(timeout=90) for _ in workers]
    except queue.Empty:
        pytest.fail("a worker did not report")
    finally:
        for w in workers:
            w.join(timeout=30)

    assert [r[0] for r in reports] == ["ok", "ok"], reports
    c = ledger.recorder.events.c
    with ledger.recorder.datastore.engine.connect() as conn:
        stored = {(row.originator_id.hex, row.originator_version): row.id
                  for row in conn.execute(sa.select(c.id, c.originator_id, c.originator_version))}
    for _, batches in reports:
        for batch in batches:
            positions = [position for _, _, position in batch]
            assert positions == list(range(positions[0], positions[0] + len(batch)))  # never interleaved
            assert [stored[(oid, version)] for oid, version, _ in batch] == positions
    assert verify(ledger.recorder).breaks == []
