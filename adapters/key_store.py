"""The data subjects' keys for personal_data.py's sealing: a table of their own, beside the event log and not
append-only, so that erasing a person is overwriting one key."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..domain.errors import NotAuthorised
from .persistence import ledger_table_name
from .personal_data import KEY_TABLE_REFUSED, KeyCache


def keys_table(metadata: sa.MetaData, events_table: str) -> sa.Table:
    return sa.Table(
        ledger_table_name(events_table, "keys"), metadata,
        sa.Column("complainant_id", sa.String(16), primary_key=True),
        sa.Column("key", sa.LargeBinary(32), nullable=True),  # NULL once erased
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
    )


class KeyStore(KeyCache):
    """Data subjects' keys, cached per process; a destroyed key is gone from the database file, not just hidden."""

    def __init__(self, engine: sa.Engine, events_table: str):
        super().__init__()
        self.engine = engine
        self.table = keys_table(sa.MetaData(), events_table)
        self._pending: dict[str, bytes] = {}           # made here, not yet committed
        self._erasing: dict[str, UUID] = {}            # to destroy in the next save, with the erasure event
        self.purge_note: str | None = None             # why an old copy of a destroyed key may still be on disk
        self._secrets: dict[str, bytes] = {}           # the ledger's own secrets (ledger_secret), read once

    def create_table(self) -> None:
        self.table.create(self.engine, checkfirst=True)

    def ledger_secret(self, row_id: str, make: bool = True) -> bytes | None:
        """A secret of the ledger's own (not a person's) kept as a row of the key table, e.g. the blind index's or the
        checkpoints' HMAC key: read once per process, made and stored on first use when `make` (another process that
        stores it first wins: its key is the key). None when there is none and none may be made. The database's
        refusal reaches the caller (a reader login may not read this table)."""
        secrets = self._secrets
        if row_id in secrets:
            return secrets[row_id]
        select = sa.select(self.table.c.key).where(self.table.c.complainant_id == row_id)
        with self.engine.connect() as conn:
            key = conn.execute(select).scalar()
        if key is None and make:
            try:
                with self.engine.begin() as conn:
                    conn.execute(self.table.insert().values(complainant_id=row_id, key=os.urandom(32),
                                                            created_at=datetime.now(timezone.utc)))
            except sa.exc.IntegrityError:
                pass  # another process stored it first: theirs is the key
            with self.engine.connect() as conn:
                key = conn.execute(select).scalar()
        if key is None:
            return None
        secrets[row_id] = bytes(key)
        return secrets[row_id]

    def new_key(self, complainant_id: str) -> None:
        """A new data subject: make their key, to be stored with the events that first use it."""
        if complainant_id not in self._ciphers:
            key = self._pending[complainant_id] = AESGCM.generate_key(bit_length=256)
            self._ciphers[complainant_id] = AESGCM(key)

    def _read_keys(self, complainant_ids: list[str]) -> list[tuple[str, bytes | None]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.select(self.table.c.complainant_id, self.table.c.key)
                                                   .where(self.table.c.complainant_id.in_(complainant_ids)))]

    def _read_key(self, complainant_id: str) -> tuple[bool, bytes | None]:
        try:
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(self.table.c.key).where(
                    self.table.c.complainant_id == complainant_id)).first()
        except sa.exc.ProgrammingError as e:
            if "permission denied" not in str(e).lower():
                raise
            raise NotAuthorised(KEY_TABLE_REFUSED) from None
        return (False, None) if row is None else (True, row.key)

    def pending_keys(self) -> list[dict[str, Any]]:
        now = datetime.now(timezone.utc)
        return [{"complainant_id": cid, "key": key, "created_at": now} for cid, key in self._pending.items()]

    def committed(self) -> None:
        """The transaction that inserted the pending keys (and destroyed those being erased) has committed."""
        self._pending.clear()
        if self._erasing:
            erased, self._erasing = list(self._erasing), {}
            self._erased(erased)

    def discard_pending(self) -> None:
        """The transaction that was to insert the pending keys (or destroy the erased ones) failed: forget them, so
        that no key is ever stored without the events that use it (a retry makes its data subject's key afresh), and
        no key is taken as destroyed unless its erasure committed."""
        for complainant_id in self._pending:
            self._ciphers.pop(complainant_id, None)
        self._pending.clear()
        self._erasing.clear()

    # ------------------------------------------------------------------------------------------------ erasing
    def destroy_with_next_save(self, complainant_id: str, subject_id: UUID) -> None:
        """Destroy the key in the transaction that records the person's erasure (the recorder calls
        `destroy_in`), so that a key never goes without its `PersonalDataErased` event, nor the event without the
        key going."""
        self._erasing[complainant_id] = subject_id

    def destroy_in(self, conn: sa.Connection) -> None:
        """Inside the recorder's transaction, after the events are appended."""
        for complainant_id, subject_id in self._erasing.items():
            self._overwrite(conn, complainant_id, subject_id)

    def destroy(self, complainant_id: str, subject_id: UUID) -> None:
        """Destroy a key whose erasure is already on record (an earlier erase cut off between the two)."""
        with self.engine.begin() as conn:
            self._overwrite(conn, complainant_id, subject_id)
        self._erased([complainant_id])

    def _overwrite(self, conn: sa.Connection, complainant_id: str, subject_id: UUID) -> None:
        """Overwrite the key with NULL. On PostgreSQL after `init --roles`, through the SECURITY DEFINER function,
        the only way a writer login can (it checks that the erasure is recorded); otherwise, as the tables' owner or
        on SQLite, directly. SQLite's secure_delete zeroes the freed bytes."""
        table = self.table
        if self.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        elif self._destroy_function(conn):
            conn.execute(sa.text(f'SELECT "{table.name}_destroy"(:c, :s)'), {"c": complainant_id, "s": subject_id})
            return
        conn.execute(table.update().where(table.c.complainant_id == complainant_id)
                     .values(key=None, erased_at=datetime.now(timezone.utc)))

    def _destroy_function(self, conn: sa.Connection) -> bool:
        return conn.execute(sa.text("SELECT to_regprocedure(:f) IS NOT NULL"),
                            {"f": f'"{self.table.name}_destroy"(text, uuid)'}).scalar()

    def _erased(self, complainant_ids: list[str]) -> None:
        """After the commit: no copy of the keys left in the database's files, as far as this login can see to it.

        SQLite: a TRUNCATE checkpoint empties the write-ahead log, which would otherwise keep the page as it was.
        PostgreSQL: VACUUM removes the rows' dead versions from the heap. Only the table's owner may VACUUM it (a
        writer login after `init --roles` is not), so otherwise `purge_note` says what stays on disk until
        autovacuum, set by `init --roles` to act on a single dead row, removes it within autovacuum_naptime."""
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif dialect == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                may = conn.execute(sa.text(
                    "SELECT pg_has_role(relowner, 'USAGE') OR pg_has_role((SELECT datdba FROM pg_database "
                    "WHERE datname = current_database()), 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE "
                    "rolname = current_user) FROM pg_class WHERE oid = to_regclass(:t)"),
                    {"t": self.table.name}).scalar()
                if may:
                    conn.exec_driver_sql(f'VACUUM "{self.table.name}"')
            self.purge_note = None if may else (
                "the destroyed key's old row version stays in the key table's data pages until autovacuum removes "
                f'it (about a minute) or the tables\' owner runs VACUUM "{self.table.name}"')
        for complainant_id in complainant_ids:
            self._ciphers[complainant_id] = None
            self._pending.pop(complainant_id, None)


def subject_topics() -> dict[str, str]:
    """The topics `missing_key_problems` reads (a data subject registered, erased), for `audit.verify`'s
    keep_topics: verify hands their payloads over from its own pass over the table."""
    from eventsourcing.utils import get_topic

    from ..domain.data_subject import DataSubject

    return {get_topic(DataSubject.Registered): "registered", get_topic(DataSubject.PersonalDataErased): "erased"}


_COMPLAINANT_ID = re.compile(rb'"complainant_id":\s*"([^"\\]*)"')


def missing_key_problems(recorder: Any, kept: dict[str, list[tuple[bytes, bytes]]] | None = None
                         ) -> list[str] | None:
    """One line per data subject whose key row is gone (or NULL) while no erasure of theirs is recorded: someone
    destroyed a key outside `erase` (raw SQL as an insider, a restore that lost the key table). None when this login
    may not read the key table (a reader), so that the caller says the check was not made.

    `kept`: the payloads of `subject_topics()` that `audit.verify(keep_topics=...)` collected in its pass, so the
    table is not scanned a second time (a JSON payload, neither compressed nor enciphered: the mapper's default);
    the complainant id is found in the payload's bytes, decoded as JSON only where that does not find it."""
    vault = getattr(recorder, "vault", None)
    if vault is None:
        return []
    import json

    from .audit_chain import split_state

    events, keys = recorder.events, vault.table
    topics = subject_topics()
    registered: dict[Any, bytes] = {}
    erased: set[Any] = set()
    with recorder.datastore.engine.connect() as conn:
        try:
            held = {row[0] for row in conn.execute(sa.select(keys.c.complainant_id).where(keys.c.key.is_not(None)))}
        except sa.exc.ProgrammingError:
            return None  # a reader login may not see the key table: not a problem of the ledger's
        if kept is not None and set(topics) <= set(kept):
            for topic, what in topics.items():
                if what == "erased":
                    erased.update(oid for oid, _ in kept[topic])
                else:
                    registered.update(kept[topic])
        else:
            for row in conn.execute(sa.select(events.c.originator_id, events.c.topic, events.c.state)
                                    .where(events.c.topic.in_(list(topics)))):
                if topics[row.topic] == "erased":
                    erased.add(row.originator_id.bytes)
                else:
                    registered[row.originator_id.bytes] = split_state(bytes(row.state))[1]
    problems = []
    for subject_id, payload in registered.items():
        if subject_id in erased:
            continue
        found = _COMPLAINANT_ID.search(payload)
        complainant_id = found[1].decode() if found else json.loads(payload).get("complainant_id")
        if complainant_id not in held:
            problems.append(f"personal data key for {complainant_id} is missing but no erasure was recorded")
    return sorted(problems)
