"""Least-privilege PostgreSQL roles for a multi-user ledger (`complaints init --roles`).

- `<prefix>_writer`: what officers' logins and the CLI need. SELECT and INSERT on the events, chain and snapshot
  tables; UPDATE on the events table only because eventsourcing-sqlalchemy takes an EXCLUSIVE table lock to keep
  notification ids in commit order, and PostgreSQL asks UPDATE rights for that lock (the append-only trigger still
  refuses every UPDATE, and only the table's owner could drop the trigger). Full rights on the read-model tables,
  which it owns, and CREATE in the schema so that rebuilds can make new copies.
- `<prefix>_reader`: SELECT only, on every table, present and future (reporting tools, a data warehouse), except
  the key table: a reader sees the events with personal data still sealed, so it never holds a person's details that
  an erasure could not reach.
- The key table stays the owner's (`protect_keys`): the writer may read keys and INSERT a new person's key, but not
  UPDATE or DELETE one. A key is destroyed only through `<keys>_destroy(complainant, subject)`, a SECURITY DEFINER
  function that refuses unless the person's `PersonalDataErased` event is in the log (appended by the same
  transaction, as `erase` and `retention --apply` do, or by an earlier one that was cut off before the key went), so
  no login below the owner can erase anyone without the erasure being recorded.
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
from . import checkpoints
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
    install_append_only(engine, recorder.append_only_tables)
    install_notify_trigger(engine, events)  # creating a trigger needs the owner; followers then only LISTEN
    consumer_tables = _create_consumer_tables(ledger)
    checkpoint_table = checkpoints.ensure_table(recorder).name
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
            f'GRANT SELECT, INSERT ON {q}."{recorder.log.name}" TO "{writer}"',
            f'ALTER DEFAULT PRIVILEGES FOR ROLE "{writer}" IN SCHEMA {q} GRANT SELECT ON TABLES TO "{reader}"',
        ]
        for table in tables:
            if table == keys:
                continue  # protect_keys
            grants.append(f'GRANT SELECT ON {q}."{table}" TO "{reader}"')
            if table.endswith("_snapshots"):
                grants.append(f'GRANT SELECT, INSERT ON {q}."{table}" TO "{writer}"')
            elif table == checkpoint_table:
                # A writer's clean verify keeps a checkpoint and drops the oldest; a ledger verified before this
                # version had granted that to every login (PUBLIC), taken back here.
                grants.append(f'REVOKE ALL ON {q}."{table}" FROM PUBLIC')
                grants.append(f'GRANT SELECT, INSERT, DELETE ON {q}."{table}" TO "{writer}"')
            elif table in consumer_tables:
                # Operational state, not the record: a deliverer moves its cursor and re-parks its dead letters.
                grants.append(f'GRANT SELECT, INSERT, UPDATE ON {q}."{table}" TO "{writer}"')
            elif table == STATE_TABLE or table.startswith("rm_"):
                # The writer owns the read models, so that a rebuild can drop and re-create their copies.
                grants.append(f'ALTER TABLE {q}."{table}" OWNER TO "{writer}"')
        for sequence in sequences:
            grants.append(f'GRANT USAGE, SELECT ON SEQUENCE {q}."{sequence}" TO "{writer}"')
        # The read models' trigger functions (the committee's months table): a rebuild by the writer re-creates them.
        functions = conn.execute(sa.text(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema() AND p.proname LIKE 'rm\\_%'")).scalars().all()
        grants += [f'ALTER FUNCTION {q}."{function}"() OWNER TO "{writer}"' for function in functions]
        for statement in grants:
            conn.exec_driver_sql(statement)
        protect_keys(conn, schema, keys, events, writer, reader)
    return {"writer": writer, "reader": reader, "schema": schema}


def _create_consumer_tables(ledger: Any) -> set[str]:
    """The cursor and dead-letter tables are otherwise made on a consumer's first use, owned by whoever ran it: made
    here, before granting, so that a deliverer first started by the owner still leaves them usable by every writer."""
    from .cursors import cursor_store
    from .webhooks import dead_letter_store

    made = set()
    for store in (cursor_store(ledger), dead_letter_store(ledger)):
        store._ensure_table()
        made.add(store.table.name)
    return made


def protect_keys(conn: sa.Connection, schema: str, keys: str, events: str, writer: str, reader: str) -> None:
    """The key table as only the erasure path may change it: owned by the tables' owner (a ledger given roles before
    this was the writer's, and is taken back), SELECT and INSERT for the writer, nothing for the reader, and the one
    function that destroys a key, checking that the erasure is on record first.

    The destroyed key's old row version stays in the table's data page until VACUUM removes it, and only the owner
    may VACUUM (PostgreSQL 15 has no grantable MAINTAIN right): the key store asks for one after each erasure, which
    a writer login cannot do, so the table is also set to be autovacuumed as soon as it holds one dead row (within
    autovacuum_naptime, a minute by default). docs/postgresql.md says what that leaves in WAL and backups."""
    from eventsourcing.utils import get_topic

    from ..domain.data_subject import DataSubject
    from .audit_chain import PREFIX

    q, k, e = f'"{schema}"', f'"{keys}"', f'"{events}"'
    registered, erased = get_topic(DataSubject.Registered), get_topic(DataSubject.PersonalDataErased)
    owner = conn.execute(sa.text("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(:t)"),
                         {"t": f"{q}.{k}"}).scalar()
    if owner == writer:
        conn.exec_driver_sql(f"ALTER TABLE {q}.{k} OWNER TO CURRENT_USER")
    payload = f"convert_from(substring(state from {PREFIX + 1}), 'UTF8')::jsonb"
    conn.exec_driver_sql(f"""
        CREATE OR REPLACE FUNCTION {q}."{keys}_destroy"(complainant text, subject uuid) RETURNS boolean
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
        BEGIN
            PERFORM 1 FROM {q}.{e} WHERE originator_id = subject AND originator_version = 1
                AND topic = '{registered}' AND {payload} ->> 'complainant_id' = complainant;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no data subject % is registered under that id', complainant;
            END IF;
            PERFORM 1 FROM {q}.{e} WHERE originator_id = subject AND topic = '{erased}';
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no erasure of complainant % is recorded: a key is destroyed only with its '
                    'PersonalDataErased event (complaints erase)', complainant USING ERRCODE = 'insufficient_privilege';
            END IF;
            UPDATE {q}.{k} SET key = NULL, erased_at = now() WHERE complainant_id = complainant AND key IS NOT NULL;
            RETURN FOUND;
        END $fn$""".replace("%", "%%"))  # the driver's paramstyle
    for statement in [
        f'REVOKE ALL ON {q}.{k} FROM "{reader}", "{writer}"',
        f'GRANT SELECT, INSERT ON {q}.{k} TO "{writer}"',
        f'ALTER TABLE {q}.{k} SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0)',
        f'REVOKE ALL ON FUNCTION {q}."{keys}_destroy"(text, uuid) FROM PUBLIC',
        f'GRANT EXECUTE ON FUNCTION {q}."{keys}_destroy"(text, uuid) TO "{writer}"',
    ]:
        conn.exec_driver_sql(statement)
