"""A write's cost must not grow with the ledger (issue 20): every statement a command like `note` or `receive` runs
reads what it needs by an index, never the whole events table, on PostgreSQL even where the table has no planner
statistics (autovacuum off, or just after a bulk load or `copy`, before anything analyzed it). Checked by asking
PostgreSQL how it would run each statement the write sent, on a ledger big enough for a scan to be the planner's
choice were a statement written so that it could be."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters.persistence import open_ledger

TODAY = date(2026, 11, 22)
FILLER = 30_000  # rows put in the events table (and its log) by hand before the writes


@pytest.fixture
def big_pg_ledger(pg_url):
    """A PostgreSQL ledger holding FILLER events (stand-ins, written by SQL) that nothing has analyzed."""
    ledger = open_ledger(pg_url, today=lambda: TODAY)
    recorder = ledger.recorder
    events, log = recorder.events_table_name, recorder.log.name
    with recorder.datastore.engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO {events} (originator_id, originator_version, topic, state) "
            f"SELECT md5(g::text)::uuid, 1, 'filler', '\\x00'::bytea FROM generate_series(1, {FILLER}) g")
        conn.exec_driver_sql(
            f"INSERT INTO {log} (position, previous, originator_id, originator_version, hash) "
            f"SELECT id, coalesce(lag(id) OVER (ORDER BY id), 0), uuid_send(originator_id), originator_version, "
            f"decode(repeat('00', 32), 'hex') FROM {events}")
        analyzed = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"),
                                {"t": events}).scalar()
    assert analyzed < 0  # never analyzed: the planner guesses the table's contents from its size alone
    yield ledger
    ledger.close()


def statements_of(engine: sa.Engine, write) -> list[tuple[str, object]]:
    """Every SELECT the write sent through SQLAlchemy, with its parameters."""
    sent: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        write()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return sent


def scans(plan: dict) -> list[str]:
    """The tables a plan reads by a sequential scan."""
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", []):
        found += scans(child)
    return found


def test_a_write_on_a_table_postgresql_never_analyzed_reads_the_events_by_index_only(big_pg_ledger):
    ledger = big_pg_ledger
    engine = ledger.recorder.datastore.engine
    ref = again = None

    def writes():
        nonlocal ref, again
        ref = ledger.receive(complainant="Sam Resident", channel="phone", summary="Heating not working",
                             received_on=date(2026, 11, 20), actor="postgres")
        ledger.add_note(ref, "Called the resident", actor="postgres", on=date(2026, 11, 21))
        ledger.acknowledge(ref, actor="postgres", on=date(2026, 11, 21))
        ledger.respond(ref, outcome="upheld", actor="postgres", on=date(2026, 11, 21))
        ledger.request_compensation(ref, amount=Decimal("50"), actor="postgres", on=date(2026, 11, 21))
        ledger.approve_compensation(ref, amount=Decimal("50"), actor="postgres", on=date(2026, 11, 21))
        ledger.escalate(ref, actor="postgres", on=date(2026, 11, 22))
        again = ledger.receive(complainant="Sam Resident", channel="email", summary="Still no heating",
                               received_on=date(2026, 11, 22), actor="postgres",
                               complainant_id=ledger.show(ref)["complainant_id"])
        ledger.record_feedback(kind="compliment", summary="Quick repair", actor="postgres",
                               received_on=date(2026, 11, 22))

    sent = statements_of(engine, writes)
    assert len(ledger.history(ref)) == 7 and len(ledger.history(again)) == 1  # the writes were made
    assert any("WHERE id >" in statement for statement, _ in sent)  # the new events' positions were read back
    big = {ledger.recorder.events_table_name, ledger.recorder.log.name}
    scanned = []
    with engine.connect() as conn:
        for statement, parameters in sent:
            plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar()[0]["Plan"]
            scanned += [(table, " ".join(statement.split())[:120]) for table in scans(plan) if table in big]
    assert scanned == []


def test_opening_a_ledger_to_write_does_not_queue_behind_another_writer_holding_the_events_table(pg_url):
    """A writer's open checks that the ledger-wide log has its rows (a ledger made before the log chain gets them
    then). Once it has, nothing takes the events table's lock to find that out: `receive` opens while another
    writer's long save (an import batch) holds it, instead of waiting for it to commit."""
    import threading

    first = open_ledger(pg_url, today=lambda: TODAY)
    first.receive(complainant="Sam Resident", channel="phone", summary="Heating", received_on=date(2026, 11, 20),
                  actor="postgres")
    events = first.recorder.events_table_name
    first.close()
    opened: list = []
    holder = sa.create_engine(pg_url)
    with holder.connect() as conn:
        conn.exec_driver_sql(f"LOCK TABLE {events} IN EXCLUSIVE MODE")  # as a save does, until it commits
        opening = threading.Thread(target=lambda: opened.append(open_ledger(pg_url, today=lambda: TODAY)),
                                   daemon=True)
        opening.start()
        opening.join(timeout=30)
        was_open = bool(opened)
        conn.rollback()
    opening.join()
    holder.dispose()
    for ledger in opened:
        ledger.close()
    assert was_open
