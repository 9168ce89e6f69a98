"""Tamper evidence in the event store: a per-aggregate hash chain over the stored bytes, and append-only tables.

Every stored event carries, ahead of its payload, the hash of its aggregate's previous stored event (version 1
carries zeros), so changing, removing or reordering any event breaks the link after it. The hash covers the stored
bytes, so destroying a data subject's key (erasure) changes nothing here. Each save also inserts its aggregates'
new chain heads into `<events>_chain`, which catches a changed or removed last event; `verify --digest` gives a
root over all heads to keep outside the database, which catches a rewrite of both tables.

The recorder (`chained_recorder.py`) strips the prefix when it hands events back, so the library's own recorder
guarantees (and its test cases) are unchanged; code reading the table through Core uses `split_state`. Database
triggers reject UPDATE and DELETE on both tables. SQLAlchemy is imported only by the functions that make tables and
triggers, so that reading a case through the standard library's sqlite3 (sqlite_reads.py) stays cheap.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    import sqlalchemy as sa

MARK = b"\x00CL1"  # never the start of a JSON payload
ZERO = bytes(32)
PREFIX = len(MARK) + len(ZERO)
APPEND_ONLY = "the audit trail is append-only"


def split_state(state: bytes) -> tuple[bytes | None, bytes]:
    """(hash of the previous event, payload); None for an event stored before chaining."""
    if state[:len(MARK)] == MARK:
        return state[len(MARK):PREFIX], state[PREFIX:]
    return None, state


def event_hash(originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The hash of one stored event: its identity, position in its aggregate, type and exact stored bytes."""
    h = hashlib.sha256()
    h.update(originator_id.bytes)
    h.update(version.to_bytes(8, "big"))
    h.update(topic.encode())
    h.update(b"\x00")
    h.update(state)
    return h.digest()


def chain_table(metadata: sa.MetaData, events_table: str) -> sa.Table:
    import sqlalchemy as sa

    return sa.Table(
        f"{events_table}_chain", metadata,
        sa.Column("originator_id", sa.LargeBinary(16), nullable=False),
        sa.Column("originator_version", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("originator_id", "originator_version"),
    )


def install_append_only(engine: sa.Engine, tables: list[str]) -> None:
    """Triggers that make the database itself refuse UPDATE and DELETE on these tables (whoever connects: the
    application, a console, a script). Only someone able to drop triggers can get past them, and `verify` then
    finds what they changed."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for table in tables:
                for action in ("UPDATE", "DELETE"):
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
                        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END")
        elif engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('complaints_append_only'))"))
            missing = [table for table in tables if conn.execute(sa.text(
                "SELECT 1 FROM pg_trigger WHERE tgname = :t AND tgrelid = to_regclass(:r)"),
                {"t": f"{table}_append_only", "r": table}).first() is None]
            if not missing:  # nothing to do, and nothing a role without ownership could do
                return
            conn.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION complaints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN RAISE EXCEPTION USING MESSAGE = '{APPEND_ONLY}: ' || TG_OP || ' on ' || TG_TABLE_NAME; "
                "END $$")
            for table in missing:
                conn.exec_driver_sql(
                    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION complaints_append_only()")
