"""A correction is a decision needing authority, so on PostgreSQL the database stamps who appended it, as it does
refusals and approvals. A ledger whose stamping trigger was made before corrections existed learns the new event
type the next time its owner opens it; without that, `verify` would call every vouched-for correction unstamped."""

from __future__ import annotations

import sqlalchemy as sa

from complaints_ledger.adapters import login_stamps
from complaints_ledger.adapters.persistence import open_ledger
from tests.e2e._cli import staff_logins

STAFF = [("Dee Director", "director", "dee"), ("Mo Manager", "manager", "mo")]


def test_a_ledger_stamped_before_corrections_existed_stamps_them_once_its_owner_opens_it(ledger_roles, pg_url,
                                                                                       monkeypatch):
    logins = staff_logins(ledger_roles, pg_url, STAFF)
    mo = logins["mo"]
    ref = mo.receive("2026-03-02")
    ledger = open_ledger(pg_url)
    events = ledger.recorder.events_table_name
    ledger.close()
    stamps = login_stamps.stamps_table(events)
    engine = sa.create_engine(pg_url)
    try:
        with monkeypatch.context() as m:  # the trigger as an earlier version made it: no Corrected among its types
            m.setattr(login_stamps, "_topics", _without_corrected)
            with engine.begin() as conn:
                schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
                conn.exec_driver_sql(login_stamps._function(events, stamps, schema))
    finally:
        engine.dispose()

    open_ledger(pg_url).close()  # the owner opens it
    mo.ok("correct", ref, "--field", "channel", "--to", "letter", "--reason", "It came by post")

    assert mo.history(ref)[-1]["details"]["authenticated"] is True
    assert mo.ok("verify").stdout.startswith("verified: ")


_ALL_TOPICS = login_stamps._topics


def _without_corrected() -> list[str]:
    return [t for t in _ALL_TOPICS() if not t.endswith(".Corrected")]
