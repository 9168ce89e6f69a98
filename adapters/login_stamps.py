"""Who appended each decision needing authority, as PostgreSQL itself saw it.

An event's `actor` and `authenticated` are written by the application, so a writer login with a Python prompt could
build a decision by hand (an aggregate's event, saved through the library) naming a director's login as its actor
and claiming authentication. The database knows better: a statement trigger, running as the tables' owner (SECURITY
DEFINER), stamps each appended decision with the session_user that inserted it, in `<events>_logins`, which no
writer can write and no one can update or delete (append-only like the log). `forged` compares the two, for
`verify`: a decision claiming an authenticated login that did not append it is a break.

A row without a login, at minus a log position, marks where checking begins: the log's last position when the
stamps were installed, or when `copy` filled a new ledger (the copy's rows were appended by whoever copied, and the
stamps themselves are not copied: a moved ledger is checked from the move on). Installed with the tables by their
owner; a login that does not own them cannot, and the ledger goes on unstamped (and unchecked) until the owner
opens it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from eventsourcing.utils import get_topic

from ..domain.complaint import AUTHORITY_EVENTS, Complaint
from ..domain.staff import STAFF_EVENTS, StaffDirectory
from .audit import Break
from .audit_chain import install_append_only


def stamps_table(events_table: str) -> str:
    return f"{events_table}_logins"


def _topics() -> list[str]:
    return [get_topic(getattr(Complaint, n)) for n in AUTHORITY_EVENTS] + \
        [get_topic(getattr(StaffDirectory, n)) for n in STAFF_EVENTS]


def install(engine: sa.Engine, events_table: str) -> None:
    """Make the stamps table and its trigger (PostgreSQL; only the tables' owner can). Safe to re-run."""
    if engine.dialect.name != "postgresql":
        return
    stamps = stamps_table(events_table)
    with engine.begin() as conn:
        if conn.execute(sa.text("SELECT 1 FROM pg_trigger WHERE tgname = :t AND tgrelid = to_regclass(:r)"),
                        {"t": f"{events_table}_stamp_logins", "r": events_table}).first() is not None:
            _stamp_new_decisions(conn, events_table, stamps)
            return
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('complaints_login_stamps'))"))
        # No append between reading the last position and the trigger taking over (it would go unstamped).
        conn.exec_driver_sql(f'LOCK TABLE "{events_table}" IN SHARE ROW EXCLUSIVE MODE')
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
        conn.exec_driver_sql(f'CREATE TABLE IF NOT EXISTS "{stamps}" (notification_id bigint PRIMARY KEY, '
                             "login name)")
        # Anyone who may read the schema may read who appended what (verify runs as writers and readers alike).
        conn.exec_driver_sql(f'GRANT SELECT ON "{stamps}" TO PUBLIC')
        conn.exec_driver_sql(f'INSERT INTO "{stamps}" SELECT -coalesce(max(id), 0), NULL FROM "{events_table}" '
                             "ON CONFLICT DO NOTHING")
        conn.exec_driver_sql(_function(events_table, stamps, schema))
        conn.exec_driver_sql(
            f'CREATE TRIGGER "{events_table}_stamp_logins" AFTER INSERT ON "{events_table}" '
            f'REFERENCING NEW TABLE AS appended FOR EACH STATEMENT EXECUTE FUNCTION "{events_table}_stamp_logins"()')
    install_append_only(engine, [stamps])


def _stamp_new_decisions(conn: sa.Connection, events_table: str, stamps: str) -> None:
    """A ledger stamped before a decision event type existed (e.g. `Corrected`) has a trigger that does not know
    it: the owner's next open teaches the trigger every current type (from then on they are stamped)."""
    source = conn.execute(sa.text("SELECT prosrc FROM pg_proc WHERE proname = :f AND pronamespace = "
                                  "current_schema()::regnamespace"), {"f": f"{events_table}_stamp_logins"}).scalar()
    if source is None or all("'" + t.replace("'", "''") + "'" in source for t in _topics()):
        return
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
    conn.exec_driver_sql(_function(events_table, stamps, schema))


def _function(events_table: str, stamps: str, schema: str) -> str:
    topics = ", ".join("'" + t.replace("'", "''") + "'" for t in _topics())
    return (f'CREATE OR REPLACE FUNCTION "{events_table}_stamp_logins"() RETURNS trigger LANGUAGE plpgsql '
            f'SECURITY DEFINER SET search_path = "{schema}" AS $$ BEGIN '
            f'INSERT INTO "{stamps}" SELECT id, session_user FROM appended WHERE topic IN ({topics}); '
            "RETURN NULL; END $$")


def check_from(conn: sa.Connection, events_table: str, position: int) -> None:
    """Check decisions only after `position` (`copy`: every row up to it was appended by the copier)."""
    stamps = stamps_table(events_table)
    if conn.dialect.name == "postgresql" and conn.execute(sa.text("SELECT to_regclass(:t)"),
                                                          {"t": stamps}).scalar() is not None:
        conn.execute(sa.text(f'INSERT INTO "{stamps}" VALUES (:n, NULL) ON CONFLICT DO NOTHING'), {"n": -position})


def forged(ledger: Any, originator_id: Any = None) -> list[Break]:
    """Each decision since stamping began (of the ledger, or of one aggregate) that claims an authenticated login
    which did not append it, or that no stamp vouches for. Empty on SQLite, or where stamps were never installed."""
    recorder = ledger.recorder
    engine: sa.Engine = recorder.datastore.engine
    if engine.dialect.name != "postgresql":
        return []
    stamps = stamps_table(recorder.events_table_name)
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": stamps}).scalar() is None:
            return []
        rows = conn.execute(sa.text(f'SELECT notification_id, login FROM "{stamps}"')).all()
    since = max((-n for n, login in rows if login is None), default=None)
    if since is None:
        return []
    by_position = {n: login for n, login in rows if login is not None}
    mapper = ledger.sealed_mapper()
    # A payload that cannot say `"authenticated": true` (the mapper's plain JSON) claims no login: not decoded.
    plain = not getattr(ledger.mapper, "compressor", None) and not getattr(ledger.mapper, "cipher", None)
    found = []
    for stored in ledger._notifications(_topics()):
        if stored.id <= since or (originator_id is not None and stored.originator_id != originator_id):
            continue
        if plain and not (b'"authenticated"' in stored.state and b"true" in stored.state):
            continue
        event = mapper.to_domain_event(stored)
        appended_by = by_position.get(stored.id)
        if event.authenticated is True and appended_by != event.actor:
            who = f"was appended by {appended_by}" if appended_by else "has no login stamp"
            found.append(Break(_name(ledger, stored.originator_id, mapper), stored.originator_version,
                               f"{type(event).__name__} claims {event.actor}'s authenticated login but {who}"))
    return found


def _name(ledger: Any, originator_id: Any, mapper: Any) -> str:
    if originator_id == StaffDirectory.create_id():
        return "the staff directory"
    first = ledger.recorder.select_events(originator_id, lte=1)
    return getattr(mapper.to_domain_event(first[0]), "ref", str(originator_id)) if first else str(originator_id)
