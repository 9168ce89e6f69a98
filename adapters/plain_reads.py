"""Reading cases through a plain DB-API connection (the standard library's sqlite3 for an SQLite file, psycopg2 for
PostgreSQL), for the commands that only read a case (`show`, `history`) and for `breaches`' pinned profiles: they
are what an officer runs all day, and importing SQLAlchemy with its ORM and eventsourcing-sqlalchemy takes longer
than everything else such a command does (0.2 s of its 0.4 s on SQLite; on PostgreSQL `show` took 0.63 s at 1M
events through the full stack).

The same rows are read from the same tables as the event store's (`chained_recorder.py`) and decoded by the same
mapper and transcoder, so a case reads exactly as it does through the event store: the tests compare every case's
view both ways, on a simulated ledger (both databases) and on the ledgers written by earlier versions. The
connection only reads (quick_reads.connect: SQLite `query_only`, PostgreSQL read-only); anything that would write
is refused. Anything else (a URL with options this path does not take as they are, a database without the ledger's
tables, one that cannot be reached) is opened as usual, which says what is wrong.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from typing import Any, Callable, Sequence
from uuid import UUID

from eventsourcing.persistence import (AggregateRecorder, ApplicationRecorder, InfrastructureFactory, Notification,
                                       OperationalError, ProgrammingError, StoredEvent)

from ..domain.errors import LedgerUnavailable, NotAuthorised
from ..domain.ledger import ComplaintsLedger
from . import policy_files
from .audit_chain import split_state
from ..domain.values import brief
from .persistence import QUOTED, ledger_table_name, open_ledger, where
from .personal_data import KEY_TABLE_REFUSED, KeyCache, SealingFactory
from .quick_reads import adapt, connect, target

WHERE = "COMPLAINTS_PLAIN_READ_TARGET"  # the factory's env: which connection quick_reads.target found


def open_reader(url: str | None = None, *, today: Callable[[], date] = date.today) -> ComplaintsLedger:
    """The ledger at `url` for reading cases: through a plain connection where quick_reads.target takes the URL
    and the database holds a ledger, otherwise opened as usual for a read (which creates nothing, and refuses a
    database without a ledger)."""
    found = target(url)
    if found is None:
        return open_ledger(url, create=False, today=today)
    env = {"PERSISTENCE_MODULE": f"{__name__}:ReaderFactory", WHERE: found}
    try:
        ledger = ComplaintsLedger(env, policies=policy_files.load_shipped, today=today)
    except OperationalError as e:
        if found[0] != "sqlite":  # e.g. an unreachable server: the usual way says so, without the password
            return open_ledger(url, create=False, today=today)
        raise LedgerUnavailable(f"cannot open the ledger at {where(found[1])}: {brief(e, QUOTED)}") from None
    if not ledger.recorder.present:  # no ledger here: the usual way says so, and changes nothing
        ledger.close()
        return open_ledger(url, create=False, today=today)
    return ledger


def read_model_runner(ledger: ComplaintsLedger, name: str) -> Any:
    """For `show`'s repeats: a runner of projections/reads.py's queries on this reader's own connection, the read
    model `name` read as the last read command left it (not caught up: this path cannot write); None if `ledger`
    was not opened here. LookupError if the read model is not built; its queries raise OperationalError if it
    cannot be read."""
    from .quick_reads import QuickRunner

    factory = getattr(ledger, "factory", None)
    if not isinstance(factory, ReaderFactory):
        return None
    try:
        rows = factory.db.rows("SELECT active_suffix FROM projection_state WHERE name = ?", (name,))
    except OperationalError:
        rows = []
    if not rows or rows[0][0] is None:
        raise LookupError(f"projection {name} has not been built yet")
    runner = QuickRunner(factory.db.conn, factory.db.dialect, {name: rows[0][0]}, lambda: ledger)
    runner.fetch = factory.db.rows  # type: ignore[method-assign] - errors as the library's, like the events'
    return runner


class PlainDb:
    """One DB-API connection, and how its driver takes and gives what the event store keeps."""

    def __init__(self, conn: Any, dialect: str):
        self.conn, self.dialect = conn, dialect
        self.sqlite = dialect == "sqlite"
        if self.sqlite:
            self.errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
        else:
            import psycopg2

            self.errors = (psycopg2.Error,)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of `sql` (`?` placeholders); a database error as the library's OperationalError."""
        cur = self.conn.cursor()
        try:
            cur.execute(*adapt(self.dialect, sql, params))
            return cur.fetchall()
        except self.errors as e:
            error = OperationalError(str(e))
            error.orig = e  # type: ignore[attr-defined] - as SQLAlchemy's errors carry it (persistence.lacks_rights)
            raise error from e
        finally:
            cur.close()

    def uuid_param(self, uid: UUID) -> Any:
        return uid.bytes if self.sqlite else str(uid)  # SQLite keeps a UUID as its 16 bytes

    def uuid_of(self, value: Any) -> UUID:
        if isinstance(value, UUID):
            return value
        return UUID(bytes=bytes(value)) if self.sqlite else UUID(str(value))

    def tables(self, names: list[str]) -> set[str]:
        if self.sqlite:
            return {row[0] for row in self.rows("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {name for name in names if self.rows("SELECT to_regclass(?) IS NOT NULL", (name,))[0][0]}


class ReaderFactory(SealingFactory, InfrastructureFactory):  # type: ignore[type-arg]
    """The ledger's persistence, read-only, on one plain connection."""

    def __init__(self, env: Any):
        super().__init__(env)
        found = self.env.get(WHERE)
        self.prefix = self.env.name.lower() or "stored"
        try:
            self.db = PlainDb(connect(found, snapshot=False), found[0])
        except (sqlite3.Error, ImportError) as e:
            raise OperationalError(str(e)) from e
        except Exception as e:  # noqa: BLE001 - psycopg2's errors: the usual way reports them, password left out
            raise OperationalError(type(e).__name__) from e
        events = f"{self.prefix}_events"
        self.tables = self.db.tables([events, f"{self.prefix}_snapshots", ledger_table_name(events, "keys")])

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return EventReader(self.db, f"{self.prefix}_{purpose}", present=f"{self.prefix}_{purpose}" in self.tables)

    def application_recorder(self) -> ApplicationRecorder:
        events = f"{self.prefix}_events"
        recorder = LogReader(self.db, events, present=events in self.tables)
        keys = ledger_table_name(events, "keys")
        recorder.vault = KeyReader(self.db, keys, present=keys in self.tables)  # as the event store's recorder
        self.attach_keys(recorder, recorder.vault)
        return recorder

    def tracking_recorder(self, tracking_recorder_class: Any = None) -> Any:
        _read_only()

    def process_recorder(self) -> Any:
        _read_only()

    def close(self) -> None:
        self.db.conn.close()
        super().close()


class EventReader(AggregateRecorder):
    """An aggregate's stored events (or snapshots), as eventsourcing-sqlalchemy's recorder selects them."""

    def __init__(self, db: PlainDb, table: str, present: bool):
        self.db, self.table, self.present = db, table, present
        self.chained = table.endswith("_events")  # the event log carries its hash chain ahead of each payload

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        _read_only()

    def select_events(self, originator_id: Any, gt: int | None = None, lte: int | None = None, desc: bool = False,
                      limit: int | None = None) -> list[StoredEvent]:
        if not self.present:
            return []
        uid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        sql = f"SELECT originator_version, topic, state FROM {self.table} WHERE originator_id = ?"
        params: list[Any] = [self.db.uuid_param(uid)]
        if gt is not None:
            sql += " AND originator_version > ?"
            params.append(gt)
        if lte is not None:
            sql += " AND originator_version <= ?"
            params.append(lte)
        sql += " ORDER BY originator_version" + (" DESC" if desc else "")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [StoredEvent(originator_id=uid, originator_version=version, topic=topic, state=self._payload(state))
                for version, topic, state in self._rows(sql, params)]

    def _payload(self, state: bytes) -> bytes:
        return split_state(bytes(state))[1] if self.chained else bytes(state)

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self.db.rows(sql, params)


class LogReader(EventReader, ApplicationRecorder):
    """The event log: a case's events, and the notification log's positions."""

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True) -> list[Notification]:
        sql = f"SELECT id, originator_id, originator_version, topic, state FROM {self.table} WHERE 1 = 1"
        params: list[Any] = []
        if start is not None:
            sql += " AND id >= ?" if inclusive_of_start else " AND id > ?"
            params.append(start)
        if stop is not None:
            sql += " AND id <= ?"
            params.append(stop)
        if topics:
            sql += f" AND topic IN ({', '.join('?' for _ in topics)})"
            params.extend(topics)
        params.append(limit)
        uuid_of = self.db.uuid_of
        return [Notification(id=i, originator_id=uuid_of(o), originator_version=v, topic=t,
                             state=self._payload(s))
                for i, o, v, t, s in self._rows(sql + " ORDER BY id LIMIT ?", params)]

    def select_first_events(self, originator_ids: Sequence[UUID], chunk: int = 500) -> list[StoredEvent]:
        """As the event store's (chained_recorder.CoreReads)."""
        found = []
        for start in range(0, len(originator_ids), chunk):
            ids = [self.db.uuid_param(uid) for uid in originator_ids[start:start + chunk]]
            found += [StoredEvent(originator_id=self.db.uuid_of(o), originator_version=1, topic=t,
                                  state=self._payload(state))
                      for o, t, state in self._rows(
                          f"SELECT originator_id, topic, state FROM {self.table} WHERE originator_version = 1 AND "
                          f"originator_id IN ({', '.join('?' for _ in ids)})", ids)]
        return found

    def max_notification_id(self) -> int | None:
        return self._rows(f"SELECT max(id) FROM {self.table}", ())[0][0]

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Any:
        _read_only()


class KeyReader(KeyCache):
    """The data subjects' keys (key_store.py's table), read through the same connection."""

    def __init__(self, db: PlainDb, table: str, present: bool):
        super().__init__()
        self.db, self.table, self.present = db, table, present

    def _read_key(self, complainant_id: str) -> tuple[bool, bytes | None]:
        if not self.present:
            return False, None
        try:
            rows = self.db.rows(f'SELECT "key" FROM {self.table} WHERE complainant_id = ?', (complainant_id,))
        except OperationalError as e:
            if getattr(e.__cause__, "pgcode", None) == "42501":  # insufficient_privilege: a reader login
                raise NotAuthorised(KEY_TABLE_REFUSED) from None
            raise
        return (False, None) if not rows else (True, rows[0][0])

    def _read_keys(self, complainant_ids: list[str]) -> list[tuple[str, bytes | None]]:
        if not self.present:
            return []
        return [(c, k) for c, k in self.db.rows(
            f'SELECT complainant_id, "key" FROM {self.table} WHERE complainant_id IN '
            f'({", ".join("?" for _ in complainant_ids)})', complainant_ids)]

    def ledger_secret(self, row_id: str, make: bool = True) -> bytes | None:
        """As key_store.KeyStore's, but never made here (this path only reads): None if there is none yet. The
        database's refusal reaches the caller (a reader login may not read this table)."""
        rows = self.db.rows(f'SELECT "key" FROM {self.table} WHERE complainant_id = ?', (row_id,)) \
            if self.present else []
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else None

    def new_key(self, complainant_id: str) -> None:
        _read_only()

    def destroy(self, complainant_id: str) -> None:
        _read_only()


def _read_only() -> Any:
    raise ProgrammingError("this ledger was opened only to read cases")
