"""Tamper evidence in the event store: a per-aggregate hash chain over the stored bytes, and append-only tables.

Every stored event carries, ahead of its payload, the hash of its aggregate's previous stored event (version 1
carries zeros), so changing, removing or reordering any event breaks the link after it. The hash covers the stored
bytes, so destroying a data subject's key (erasure) changes nothing here. Each save also inserts its aggregates'
new chain heads into `<events>_chain`, which catches a changed or removed last event; `verify --digest` gives a
root over all heads to keep outside the database, which catches a rewrite of both tables.

The per-case chain cannot see a whole case removed, or two events' log positions swapped. So each save also appends,
in the same transaction, one row per event to `<events>_log`: the ledger-wide chain over positions, each row naming
the event at its position (aggregate, version) and the position before it, with hash = H(previous row's hash ‖
position ‖ event hash). Stored events keep their bytes; a ledger made before the log chain gets its rows from the
first writer that opens it (`backfill_log`). A signed anchor (anchors.py) keeps the log hash at a position outside
the database, which catches even a superuser who recomputes every chain.

The recorder (`chained_recorder.py`) strips the prefix when it hands events back, so the library's own recorder
guarantees (and its test cases) are unchanged; code reading the table through Core uses `split_state`. Database
triggers reject UPDATE and DELETE on both tables. SQLAlchemy is imported only by the functions that make tables and
triggers, so that reading a case through the standard library's sqlite3 (plain_reads.py) stays cheap.
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


def log_table(metadata: sa.MetaData, events_table: str) -> sa.Table:
    """The ledger-wide chain: one row per event position. On SQLite the position is the rowid (INTEGER PRIMARY
    KEY), so looking a position up while scanning the events costs one B-tree step."""
    import sqlalchemy as sa

    return sa.Table(
        f"{events_table}_log", metadata,
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("previous", sa.BigInteger, nullable=False),
        sa.Column("originator_id", sa.LargeBinary(16), nullable=False),
        sa.Column("originator_version", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )


def log_hash(previous_hash: bytes, position: int, event_digest: bytes) -> bytes:
    """One link of the ledger-wide chain: the previous row's hash (zeros for the first), this position, and the
    hash of the event stored there."""
    return hashlib.sha256(previous_hash + position.to_bytes(8, "big") + event_digest).digest()


def fast_event_hash(originator_id: bytes, version: int, topic: str, state: bytes) -> bytes:
    """`event_hash` from the id's 16 bytes, in one call: what verify computes for every event."""
    return hashlib.sha256(originator_id + version.to_bytes(8, "big") + topic.encode() + b"\x00" + state).digest()


def trigger_names(dialect: str, tables: list[str]) -> dict[str, str]:
    """Each append-only trigger's name and the table it guards."""
    if dialect == "sqlite":
        return {f"{t}_no_{a}": t for t in tables for a in ("update", "delete")}
    return {f"{t}_append_only": t for t in tables}


def trigger_problems(conn: sa.Connection, tables: list[str]) -> dict[str, str]:
    """The append-only triggers that are not armed, each with what is wrong: "missing", or on PostgreSQL
    "disabled" (ALTER TABLE … DISABLE TRIGGER, tgenabled 'D' or replica-only 'R') or "origin" (enabled as
    PostgreSQL makes it, 'O': a session with session_replication_role = replica skips it; the ledger arms its
    triggers ALWAYS)."""
    import sqlalchemy as sa

    names = trigger_names(conn.dialect.name, tables)
    if conn.dialect.name == "sqlite":
        present = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        return {name: "missing" for name in names if name not in present}
    found = {}
    for name, table in names.items():
        row = conn.execute(sa.text("SELECT tgenabled FROM pg_trigger WHERE tgname = :n AND tgrelid = to_regclass(:r)"),
                           {"n": name, "r": table}).first()
        if row is not None:
            found[name] = row[0]
    out = {}
    for name in names:
        state = found.get(name)
        if state is None:
            out[name] = "missing"
        elif state in ("D", "R"):
            out[name] = "disabled"
        elif state == "O":
            out[name] = "origin"
    return out


def install_append_only(engine: sa.Engine, tables: list[str]) -> dict[str, str]:
    """Triggers that make the database itself refuse UPDATE and DELETE on these tables (whoever connects: the
    application, a console, a script); on PostgreSQL armed ALWAYS, so that `SET session_replication_role = replica`
    does not skip them. Only someone able to drop or disable triggers can get past them, and `verify` then finds
    what they changed.

    Returns what was wrong before, by trigger: "missing" or "disabled" mean someone took a trigger away (verify
    reports it; this open put it back), and "… (cannot repair: …)" that this login may not put it back (not the
    tables' owner): a writer then refuses to write (persistence.refuse_unarmed)."""
    import sqlalchemy as sa

    found: dict[str, str] = {}
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('complaints_append_only'))"))
        found = trigger_problems(conn, tables)
    if not found:  # nothing to do, and nothing a role without ownership could do
        return {}
    names = trigger_names(engine.dialect.name, tables)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                for name in found:
                    action = "UPDATE" if name.endswith("_update") else "DELETE"
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {action} ON {names[name]} "
                        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END")
            elif engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('complaints_append_only'))"))
                now = trigger_problems(conn, tables)  # another process may have repaired them meanwhile
                if "missing" in now.values():
                    conn.exec_driver_sql(
                        "CREATE OR REPLACE FUNCTION complaints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                        f"BEGIN RAISE EXCEPTION USING MESSAGE = '{APPEND_ONLY}: ' || TG_OP || ' on ' || "
                        "TG_TABLE_NAME; END $$")
                for name, problem in now.items():
                    table = names[name]
                    if problem == "missing":
                        conn.exec_driver_sql(
                            f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
                            "FOR EACH STATEMENT EXECUTE FUNCTION complaints_append_only()")
                    conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}")
    except sa.exc.DBAPIError as e:
        reason = str(getattr(e, "orig", e)).strip().splitlines()[0]
        return {name: f"{problem} (cannot repair: {reason})" for name, problem in found.items()}
    return {name: problem for name, problem in found.items() if problem != "origin"}  # 'O': the old default
