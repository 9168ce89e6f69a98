"""The rule for "the ledger's tables" (persistence.is_ledger_table), which decides whether a database is someone
else's: it must cover every table the ledger really makes, on SQLite and PostgreSQL, and nothing else."""

from __future__ import annotations

import sqlalchemy as sa

from complaints_ledger.adapters.cursors import cursor_store
from complaints_ledger.adapters.migration import ledger_tables
from complaints_ledger.adapters.persistence import holdings, is_ledger_table
from complaints_ledger.adapters.projection_store import SUFFIXES, ProjectionRunner
from complaints_ledger.adapters.webhooks import dead_letter_store
from complaints_ledger.projections import all_projections


def test_every_table_the_ledger_makes_is_recognised_as_the_ledgers(ledger, receive):
    receive(ledger)
    runner = ProjectionRunner(ledger, all_projections())
    runner.catch_up()
    runner.rebuild()  # both blue/green copies exist now
    cursor_store(ledger).advance("crm", 1)
    dead_letter_store(ledger)._ensure_table()

    made = holdings(ledger).tables

    owned = {t.table.name for t in ledger_tables(ledger)}
    read_models = {table.name for p in all_projections() for suffix in SUFFIXES
                   for table in p.define(sa.MetaData(), suffix).values()}
    assert owned | read_models | {"projection_state"} <= made
    assert [name for name in made if not is_ledger_table(name)] == []
    assert holdings(ledger).ledger and holdings(ledger).foreign == []


def test_other_applications_tables_are_not_the_ledgers():
    for name in ("residents", "complaints", "events", "rm_case_status", "rm_case_status_c", "projection_states",
                 "otherapp_events", "complaintsledger_events_archive", "x"):
        assert not is_ledger_table(name), name
