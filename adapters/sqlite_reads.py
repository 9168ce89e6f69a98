"""Reading cases from an SQLite ledger through the standard library's sqlite3 alone, for the commands that only read
a case (`show`, `history`): they are what an officer runs all day, and importing SQLAlchemy with its ORM and
eventsourcing-sqlalchemy takes longer than everything else such a command does (0.2 s of its 0.4 s here).

The same rows are read from the same tables as the event store's (`chained_recorder.py`) and decoded by the same
mapper and transcoder, so a case reads exactly as it does through the event store: the tests compare every case's
view both ways, on a simulated ledger and on the ledgers written by earlier versions. The connection only reads
(`PRAGMA query_only`); anything that would write is refused. Anything else (PostgreSQL, a URL with options, a file
without the ledger's tables) is opened as usual.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import date
from typing import Any, Callable, Sequence
from urllib.parse import quote
from uuid import UUID

from eventsourcing.persistence import (AggregateRecorder, ApplicationRecorder, InfrastructureFactory, Notification,
                                       OperationalError, ProgrammingError, StoredEvent)

from ..domain.errors import LedgerUnavailable
from ..domain.ledger import ComplaintsLedger
from . import policy_files
from .audit_chain import split_state
from ..domain.values import brief
from .persistence import QUOTED, ledger_table_name, normalise_url, open_ledger, sqlite_path, where
from .personal_data import KeyCache, SealingFactory

FILE = "COMPLAINTS_SQLITE_READ_FILE"


def open_reader(url: str | None = None, *, today: Callable[[], date] = date.today) -> ComplaintsLedger:
    """The ledger at `url` for reading cases: through sqlite3 where it is an SQLite file holding a ledger,
    otherwise opened as usual for a read (which creates nothing, and refuses a database without a ledger)."""
    url = normalise_url(url)
    path = sqlite_path(url)
    try:
        plain_file = path is not None and "?" not in url and path.is_file()
    except OSError:  # e.g. a name too long for the file system: the usual way says so in one line
        plain_file = False
    if not plain_file:
        return open_ledger(url, create=False, today=today)
    env = {"PERSISTENCE_MODULE": f"{__name__}:ReaderFactory", FILE: str(path), "SQLALCHEMY_URL": url}
    try:
        ledger = ComplaintsLedger(env, policies=policy_files.load_shipped, today=today)
    except OperationalError as e:
        raise LedgerUnavailable(f"cannot open the ledger at {where(url)}: {brief(e, QUOTED)}") from None
    if not ledger.recorder.present:  # no ledger here: the usual way says so, and changes nothing
        ledger.close()
        return open_ledger(url, create=False, today=today)
    return ledger


def home_rows(ledger: ComplaintsLedger) -> Callable[[str, list[str]], list[Any]] | None:
    """For `show`'s repeats (search.cases_near): the case_index read model's homes whose column is one of some
    values, read through this reader's connection as the last read command left them; None if `ledger` was not
    opened here. Not built yet (or unreadable): no rows."""
    conn = getattr(ledger.recorder, "conn", None)
    if not isinstance(conn, sqlite3.Connection):
        return None
    from ..domain.search import HomeCase

    try:
        row = conn.execute("SELECT active_suffix FROM projection_state WHERE name = 'case_index'").fetchone()
    except sqlite3.Error:
        row = None
    if row is None or row[0] is None:
        return lambda column, values: []
    table = f"rm_case_homes_{row[0]}"

    def rows_where(column: str, values: list[str]) -> list[Any]:
        if column not in ("ref", "uprn", "address"):
            raise ValueError(column)
        found = []
        try:
            for i in range(0, len(values), 500):
                chunk = values[i:i + 500]
                found += [HomeCase(r[0], r[1], r[2], date.fromisoformat(str(r[3])), r[4])
                          for r in conn.execute(f"SELECT ref, uprn, address, received_on, category FROM {table} "
                                                f"WHERE {column} IN ({', '.join('?' for _ in chunk)})", chunk)]
        except sqlite3.Error:
            return []
        return found

    return rows_where


class ReaderFactory(SealingFactory, InfrastructureFactory):  # type: ignore[type-arg]
    """The ledger's persistence, read-only, on one sqlite3 connection."""

    def __init__(self, env: Any):
        super().__init__(env)
        try:
            # mode=rw: an existing file only, never a new empty one
            self.conn = sqlite3.connect(f"file:{quote(os.path.abspath(self.env.get(FILE)))}?mode=rw", uri=True,
                                        isolation_level=None)
            self.conn.execute("PRAGMA query_only = ON")
            self.tables = {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as e:
            raise OperationalError(str(e)) from e
        self.prefix = self.env.name.lower() or "stored"

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return EventReader(self.conn, f"{self.prefix}_{purpose}", present=f"{self.prefix}_{purpose}" in self.tables)

    def application_recorder(self) -> ApplicationRecorder:
        events = f"{self.prefix}_events"
        recorder = LogReader(self.conn, events, present=events in self.tables)
        keys = ledger_table_name(events, "keys")
        self.attach_keys(recorder, KeyReader(self.conn, keys, present=keys in self.tables))
        return recorder

    def tracking_recorder(self, tracking_recorder_class: Any = None) -> Any:
        _read_only()

    def process_recorder(self) -> Any:
        _read_only()

    def close(self) -> None:
        self.conn.close()
        super().close()


class EventReader(AggregateRecorder):
    """An aggregate's stored events (or snapshots), as eventsourcing-sqlalchemy's recorder selects them; UUIDs are
    stored as their 16 bytes on SQLite."""

    def __init__(self, conn: sqlite3.Connection, table: str, present: bool):
        self.conn, self.table, self.present = conn, table, present
        self.chained = table.endswith("_events")  # the event log carries its hash chain ahead of each payload

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        _read_only()

    def select_events(self, originator_id: Any, gt: int | None = None, lte: int | None = None, desc: bool = False,
                      limit: int | None = None) -> list[StoredEvent]:
        if not self.present:
            return []
        uid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        sql = f"SELECT originator_version, topic, state FROM {self.table} WHERE originator_id = ?"
        params: list[Any] = [uid.bytes]
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
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise OperationalError(str(e)) from e


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
        return [Notification(id=i, originator_id=UUID(bytes=bytes(o)), originator_version=v, topic=t,
                             state=self._payload(s))
                for i, o, v, t, s in self._rows(sql + " ORDER BY id LIMIT ?", params)]

    def max_notification_id(self) -> int | None:
        return self._rows(f"SELECT max(id) FROM {self.table}", ())[0][0]

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Any:
        _read_only()


class KeyReader(KeyCache):
    """The data subjects' keys (key_store.py's table), read through the same connection."""

    def __init__(self, conn: sqlite3.Connection, table: str, present: bool):
        super().__init__()
        self.conn, self.table, self.present = conn, table, present

    def _read_key(self, complainant_id: str) -> tuple[bool, bytes | None]:
        if not self.present:
            return False, None
        try:
            row = self.conn.execute(f'SELECT "key" FROM {self.table} WHERE complainant_id = ?',
                                    (complainant_id,)).fetchone()
        except sqlite3.Error as e:
            raise OperationalError(str(e)) from e
        return (False, None) if row is None else (True, row[0])

    def new_key(self, complainant_id: str) -> None:
        _read_only()

    def destroy(self, complainant_id: str) -> None:
        _read_only()


def _read_only() -> Any:
    raise ProgrammingError("this ledger was opened only to read cases")
