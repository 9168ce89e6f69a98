"""The data subjects' keys for personal_data.py's sealing: a table of their own, beside the event log and not
append-only, so that erasing a person is overwriting one key."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..domain.errors import NotAuthorised
from .persistence import ledger_table_name
from .personal_data import KeyCache


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

    def create_table(self) -> None:
        self.table.create(self.engine, checkfirst=True)

    def new_key(self, complainant_id: str) -> None:
        """A new data subject: make their key, to be stored with the events that first use it."""
        if complainant_id not in self._ciphers:
            key = self._pending[complainant_id] = AESGCM.generate_key(bit_length=256)
            self._ciphers[complainant_id] = AESGCM(key)

    def _read_key(self, complainant_id: str) -> tuple[bool, bytes | None]:
        try:
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(self.table.c.key).where(
                    self.table.c.complainant_id == complainant_id)).first()
        except sa.exc.ProgrammingError as e:
            if "permission denied" not in str(e).lower():
                raise
            raise NotAuthorised("this database login may not read personal data (the key table): ask for the "
                                "writer role, or read without it (e.g. --without-personal-data)") from None
        return (False, None) if row is None else (True, row.key)

    def pending_keys(self) -> list[dict[str, Any]]:
        now = datetime.now(timezone.utc)
        return [{"complainant_id": cid, "key": key, "created_at": now} for cid, key in self._pending.items()]

    def committed(self) -> None:
        """The transaction that inserted the pending keys has committed."""
        self._pending.clear()

    def discard_pending(self) -> None:
        """The transaction that was to insert the pending keys failed: forget them, so that no key is ever stored
        without the events that use it (a retry makes its data subject's key afresh)."""
        for complainant_id in self._pending:
            self._ciphers.pop(complainant_id, None)
        self._pending.clear()

    def destroy(self, complainant_id: str) -> None:
        """Overwrite the key with NULL so that no copy of it is left in the database's files.

        SQLite: secure_delete zeroes the freed bytes and a TRUNCATE checkpoint empties the write-ahead log, which
        would otherwise keep the page as it was. PostgreSQL: VACUUM removes the row's dead version from the heap
        (the writer role owns the key table so that it may)."""
        table, dialect = self.table, self.engine.dialect.name
        with self.engine.begin() as conn:
            if dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA secure_delete = ON")
            conn.execute(table.update().where(table.c.complainant_id == complainant_id)
                         .values(key=None, erased_at=datetime.now(timezone.utc)))
        if dialect == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif dialect == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f'VACUUM "{table.name}"')
        self._ciphers[complainant_id] = None
        self._pending.pop(complainant_id, None)
