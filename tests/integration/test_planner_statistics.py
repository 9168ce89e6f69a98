"""A bulk load into PostgreSQL leaves the planner with statistics (issue 20): where autovacuum is off (as on the
server these tests run on) or has not come round yet, a table loaded by `simulate`, `import` or `copy` and never
analyzed leaves every later query to the planner's guess, which for a read of one case can be a scan of the whole
table. The ledger analyzes its growing tables itself once they have changed by more than a tenth."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from complaints_ledger.adapters import chained_recorder, simulation
from complaints_ledger.adapters.persistence import open_ledger

UNTIL = date(2026, 11, 20)


def measured(engine: sa.Engine, table: str) -> float:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}).scalar()


def test_a_bulk_load_leaves_the_events_log_and_chain_tables_measured(pg_url, monkeypatch):
    monkeypatch.setattr(chained_recorder, "ANALYZE_EVERY", 500)
    monkeypatch.setattr(chained_recorder, "ANALYZE_THRESHOLD", 100)
    ledger = open_ledger(pg_url, today=lambda: UNTIL)
    recorder = ledger.recorder
    engine = recorder.datastore.engine
    tables = (recorder.events_table_name, recorder.log.name, recorder.chain.name)
    assert all(measured(engine, t) < 0 for t in tables)  # new: never analyzed
    simulation.build(ledger, cases=300, seed=3, actor="test", until=UNTIL)
    events = ledger.event_count()
    assert events > 1500
    # Analyzed during the load; what was appended after the last look is within the tenth allowed.
    assert 0.5 * events <= measured(engine, recorder.events_table_name) <= events
    assert measured(engine, recorder.log.name) > 0 and measured(engine, recorder.chain.name) > 0
    assert recorder.refresh_statistics() == []  # nothing more than a tenth out of date: nothing analyzed again
    ledger.receive(complainant="One More", channel="phone", summary="Damp", actor="test", received_on=UNTIL)
    assert recorder.refresh_statistics() == []  # one more case is not a tenth
    ledger.close()


def test_a_rebuilt_read_model_is_measured_before_it_goes_live(pg_url):
    from complaints_ledger.adapters.projection_store import ProjectionRunner
    from complaints_ledger.projections import all_projections

    ledger = open_ledger(pg_url, today=lambda: UNTIL)
    simulation.build(ledger, cases=200, seed=5, actor="test", until=UNTIL)
    runner = ProjectionRunner(ledger, all_projections())
    runner.rebuild()
    engine = ledger.recorder.datastore.engine
    live = [table for name in runner.projections for table in runner.live_tables(name).values()]
    assert live
    with engine.connect() as conn:
        never = [t.name for t in live if conn.execute(sa.text(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relid = to_regclass(:t)"), {"t": t.name}).scalar()
            is None]
    assert never == []  # each live table was analyzed as it went live (CREATE INDEX alone counts rows, no more)
    ledger.close()
