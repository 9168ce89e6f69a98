"""Least-privilege PostgreSQL roles for a multi-user ledger (`complaints init --roles`).

- `<prefix>_writer`: what officers' logins and the CLI need. SELECT and INSERT on the events, chain and snapshot
  tables; UPDATE on the events table only because eventsourcing-sqlalchemy takes an EXCLUSIVE table lock to keep
  notification ids in commit order, and PostgreSQL asks UPDATE rights for that lock (the append-only trigger still
  refuses every UPDATE, and only the table's owner could drop the trigger). Full rights on the read-model tables,
  which it owns, and CREATE in the schema so that rebuilds can make new copies.
- `<prefix>_reader`: SELECT only, on every table, present and future (reporting tools, a data warehouse), except
  the key table: a reader sees the events with personal data still sealed, so it never holds a person's details that
  an erasure could not reach. The writer owns the key table (to erase a key and VACUUM its old row version away).
  A reader cannot make or move read models: `init` builds them before granting, so that its first `list`, `stats`
  or report works on a fresh ledger; later it reads them as a writer last brought them up (cli.py's `_caught_up`
  says how far behind), and a writer's `projections follow` keeps them live.

Both are group roles without login: give people logins that are members and act as the group, so that the
read-model tables any of them creates belong to the writer role and every writer can rebuild them
(`CREATE ROLE jo LOGIN IN ROLE complaints_writer; ALTER ROLE jo SET role = complaints_writer`). The audit
identity stays the login: PostgreSQL's session_user. The owner of the ledger's tables (the role that ran `init`) keeps the right to drop triggers;
keep it for administration only.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from ..domain.errors import InvalidAction
from ..domain.values import quoted
from .audit_chain import install_append_only
from .notify import install_notify_trigger
from .projection_store import STATE_TABLE

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,40}")


def create_roles(ledger: Any, prefix: str = "complaints") -> dict[str, str]:
    """Create (or bring up to date) the writer and reader roles on the ledger's schema; returns their names."""
    recorder = ledger.recorder
    engine: sa.Engine = recorder.datastore.engine
    if engine.dialect.name != "postgresql":
        raise InvalidAction("roles are for PostgreSQL; an SQLite ledger is a single user's file")
    if not _NAME.fullmatch(prefix):
        raise InvalidAction(f"role prefix {quoted(prefix)} must be lower-case letters, digits and _")
    writer, reader = f"{prefix}_writer", f"{prefix}_reader"
    events = recorder.events_record_cls.__table__.name
    chain = recorder.chain.name
    keys = recorder.vault.table.name
    install_append_only(engine, [events, chain])
    install_notify_trigger(engine, events)  # creating a trigger needs the owner; followers then only LISTEN
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('complaints_roles'))"))
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
        for role in (writer, reader):
            if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is None:
                conn.exec_driver_sql(f'CREATE ROLE "{role}" NOLOGIN')
        tables = [r[0] for r in conn.execute(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))]
        sequences = [r[0] for r in conn.execute(sa.text(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()"))]
        q = f'"{schema}"'
        grants = [
            f'GRANT USAGE, CREATE ON SCHEMA {q} TO "{writer}"',
            f'GRANT USAGE ON SCHEMA {q} TO "{reader}"',
            f'GRANT SELECT, INSERT, UPDATE ON {q}."{events}" TO "{writer}"',
            f'GRANT SELECT, INSERT ON {q}."{chain}" TO "{writer}"',
            f'ALTER DEFAULT PRIVILEGES FOR ROLE "{writer}" IN SCHEMA {q} GRANT SELECT ON TABLES TO "{reader}"',
        ]
        for table in tables:
            if table == keys:
                grants.append(f'REVOKE ALL ON {q}."{table}" FROM "{reader}"')
                grants.append(f'ALTER TABLE {q}."{table}" OWNER TO "{writer}"')
                continue
            grants.append(f'GRANT SELECT ON {q}."{table}" TO "{reader}"')
            if table.endswith("_snapshots"):
                grants.append(f'GRANT SELECT, INSERT ON {q}."{table}" TO "{writer}"')
            elif table == STATE_TABLE or table.startswith("rm_"):
                # The writer owns the read models, so that a rebuild can drop and re-create their copies.
                grants.append(f'ALTER TABLE {q}."{table}" OWNER TO "{writer}"')
        for sequence in sequences:
            grants.append(f'GRANT USAGE, SELECT ON SEQUENCE {q}."{sequence}" TO "{writer}"')
        for statement in grants:
            conn.exec_driver_sql(statement)
    return {"writer": writer, "reader": reader, "schema": schema}
