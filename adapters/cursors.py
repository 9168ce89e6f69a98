"""Durable named positions in the event stream, kept in the ledger's own database.

A consumer (`complaints events --cursor NAME`, a webhook deliverer) stores the position up to which it has handed
events on only after it has done so, so a crash or a kill repeats some events and never loses one (at-least-once;
each event carries its position, by which the receiver can discard repeats).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..domain.values import plain_text
from .persistence import create_if_missing, ledger_table_name


def cursors_table(metadata: sa.MetaData, events_table: str) -> sa.Table:
    return sa.Table(
        ledger_table_name(events_table, "cursors"), metadata,
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def upsert(engine: sa.Engine, table: sa.Table) -> Any:
    """INSERT … ON CONFLICT DO UPDATE in the dialect at hand (SQLite and PostgreSQL spell it the same way)."""
    return (postgresql if engine.dialect.name == "postgresql" else sqlite).insert(table)


class CursorStore:
    def __init__(self, engine: sa.Engine, events_table: str):
        self.engine = engine
        self.table = cursors_table(sa.MetaData(), events_table)
        self._created = False

    def _ensure_table(self) -> None:
        if not self._created:
            create_if_missing(self.engine, self.table)
            self._created = True

    @staticmethod
    def check_name(name: str) -> str:
        """A cursor's name: one line of at most 200 characters, like any short name the ledger keeps."""
        return plain_text(name, "a cursor name", "short")  # type: ignore[return-value]

    def position(self, name: str) -> int | None:
        self._ensure_table()
        with self.engine.connect() as conn:
            return conn.execute(sa.select(self.table.c.position).where(self.table.c.name == name)).scalar()

    def advance(self, name: str, position: int) -> None:
        self._ensure_table()
        now = datetime.now(timezone.utc)
        insert = upsert(self.engine, self.table).values(name=name, position=position, updated_at=now)
        with self.engine.begin() as conn:
            conn.execute(insert.on_conflict_do_update(index_elements=["name"],
                                                      set_={"position": position, "updated_at": now}))

    def all(self) -> list[dict[str, Any]]:
        self._ensure_table()
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(self.table).order_by(self.table.c.name))]


class CursorKeeper:
    """Moves a named cursor as events are handed on: not after every event (a commit each), but every `every`
    events or `seconds`, whenever the stream is caught up, and at the end; so a kill repeats at most that many."""

    def __init__(self, store: CursorStore | None, name: str | None, every: int = 500, seconds: float = 1.0):
        self.store, self.name, self.every, self.seconds = store, name, every, seconds
        self.saved: int | None = store.position(name) if store is not None and name else None
        self._pending: int | None = None
        self._count = 0
        self._since = time.monotonic()

    def handed_on(self, position: int) -> None:
        self._pending = position
        self._count += 1
        if self._count >= self.every or time.monotonic() - self._since >= self.seconds:
            self.save()

    def save(self, position: int | None = None) -> None:
        position = self._pending if position is None else position
        self._pending, self._count, self._since = None, 0, time.monotonic()
        if self.store is not None and self.name and position is not None and position != self.saved:
            self.store.advance(self.name, position)
            self.saved = position


def cursor_store(ledger: Any) -> CursorStore:
    recorder = ledger.recorder
    return CursorStore(recorder.datastore.engine, recorder.events_table_name)
