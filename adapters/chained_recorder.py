"""The event store the ledger uses: eventsourcing-sqlalchemy's, with each stored event chained to its
predecessor (see audit_chain.py), each save appended through SQLAlchemy Core in one statement, and events read
through Core. The library's own recorder test cases run against it (tests/integration/test_library_recorder_cases.py).
Imported only when a ledger is opened (PERSISTENCE_MODULE names ChainedFactory).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.persistence import Notification, StoredEvent

from .persistence import bind_converter, copy_rows, load_uuid_type_alone

load_uuid_type_alone()  # before eventsourcing_sqlalchemy imports it
from eventsourcing_sqlalchemy.datastore import transactions  # noqa: E402
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory  # noqa: E402
from eventsourcing_sqlalchemy.recorders import SQLAlchemyAggregateRecorder, SQLAlchemyApplicationRecorder  # noqa: E402

from .audit_chain import (MARK, ZERO, chain_table, event_hash, fast_event_hash, install_append_only,  # noqa: E402
                          log_hash, log_table, split_state)
from ..domain.errors import LedgerUnavailable  # noqa: E402
from .notify import install_notify_trigger  # noqa: E402
from .key_store import KeyStore  # noqa: E402
from .personal_data import SealingFactory  # noqa: E402


class CoreReads:
    """The library's `select_events` as one Core query on a pooled connection, without an ORM session: about a
    fifth of its cost on SQLite, and one round trip instead of three on PostgreSQL. That counts where the ledger
    asks once per case whether it exists (imports, simulations), and on every command's read of its case. Same rows,
    order and types as the library's."""

    events_record_cls: Any
    datastore: Any

    def select_events(self, originator_id: Any, gt: int | None = None, lte: int | None = None, desc: bool = False,
                      limit: int | None = None) -> list[StoredEvent]:
        params: dict[str, Any] = {"originator_id": originator_id}
        if gt is not None:
            params["gt"] = gt
        if lte is not None:
            params["lte"] = lte
        with self._reading() as conn:
            rows = conn.execute(self._events_query(gt is not None, lte is not None, desc, limit), params)
            return [StoredEvent(originator_id=r[0], originator_version=r[1], topic=r[2], state=self._payload(r[3]))
                    for r in rows]

    def select_first_events(self, originator_ids: Sequence[Any], chunk: int = 500) -> list[StoredEvent]:
        """The first event of each of these aggregates that has one, in one query per `chunk` ids (`find` names
        the people of a page of cases by their cases' first events)."""
        c = self.events_record_cls.__table__.c
        found = []
        with self._reading() as conn:
            for start in range(0, len(originator_ids), chunk):
                found += [StoredEvent(originator_id=r[0], originator_version=1, topic=r[1], state=self._payload(r[2]))
                          for r in conn.execute(sa.select(c.originator_id, c.topic, c.state).where(
                              c.originator_version == 1, c.originator_id.in_(originator_ids[start:start + chunk])))]
        return found

    def existing(self, originator_ids: Sequence[Any], chunk: int = 500) -> set[Any]:
        """Which of these aggregates have events stored: one query per `chunk` ids (an import asks for every case
        in its file; one query each cost more than storing the case)."""
        c = self.events_record_cls.__table__.c
        found: set[Any] = set()
        with self._reading() as conn:
            for start in range(0, len(originator_ids), chunk):
                found.update(conn.execute(sa.select(c.originator_id).where(
                    c.originator_version == 1, c.originator_id.in_(originator_ids[start:start + chunk]))).scalars())
        return found

    def _events_query(self, gt: bool, lte: bool, desc: bool, limit: int | None) -> sa.Select:
        """Built once per shape and kept, so SQLAlchemy's compiled cache is hit without recomputing its key."""
        cache = self.__dict__.setdefault("_queries", {})
        key = (gt, lte, desc, limit)
        if key not in cache:
            c = self.events_record_cls.__table__.c
            query = sa.select(c.originator_id, c.originator_version, c.topic, c.state).where(
                c.originator_id == sa.bindparam("originator_id"))
            if gt:
                query = query.where(c.originator_version > sa.bindparam("gt"))
            if lte:
                query = query.where(c.originator_version <= sa.bindparam("lte"))
            query = query.order_by(c.originator_version.desc() if desc else c.originator_version)
            cache[key] = query if limit is None else query.limit(limit)
        return cache[key]

    @contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        """A pooled connection; the library's own transaction where it serialises access (an in-memory SQLite
        database, a scoped session), where one is already open in this context, and for the first read (in which
        the library switches an SQLite file to WAL)."""
        datastore = self.datastore
        if datastore.access_lock or datastore.scoped_session is not None or transactions.get(None) is not None \
                or not datastore._tried_init_sqlite_wal_mode:
            with datastore.transaction(commit=False) as session:
                yield session.connection()
        else:
            with datastore.engine.connect() as conn:
                if datastore.engine.dialect.driver != "psycopg2":
                    yield conn
                    return
                # One statement needs no transaction around it: in autocommit psycopg2 sends no BEGIN before it and
                # the pool's rollback after it costs nothing, so a read is one round trip instead of three.
                driver = conn.connection.driver_connection
                driver.autocommit = True
                try:
                    yield conn
                finally:
                    if not driver.closed:  # a lost connection is the pool's to discard
                        driver.autocommit = False

    @staticmethod
    def _payload(state: Any) -> bytes:
        return bytes(state)


class CoreReadAggregateRecorder(CoreReads, SQLAlchemyAggregateRecorder):
    """The library's aggregate recorder (the ledger's snapshots), reading through Core."""


class ChainedRecorder(CoreReads, SQLAlchemyApplicationRecorder):
    """The library's application recorder, with each event chained to its predecessor and heads recorded.

    Events are appended in one statement per save, not one ORM object per row (SQLite: one executemany; PostgreSQL:
    one COPY), keeping what the library guarantees: on PostgreSQL the table is locked IN EXCLUSIVE MODE
    first, so notification ids become visible in commit order; a repeated (originator_id, originator_version)
    raises the library's IntegrityError (its transaction maps the driver's error) and nothing is written; the ids
    come back in the order of the events; the library's NOTIFY is sent."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.events: sa.Table = self.events_record_cls.__table__
        self.chain = chain_table(sa.MetaData(), self.events_table_name)
        self.log = log_table(sa.MetaData(), self.events_table_name)
        self.append_only_problems: dict[str, str] = {}  # what this open found wrong with the triggers
        self.snapshot_table: sa.Table | None = None  # the factory gives it: snapshots then commit with the events
        self.has_log = True  # False: the log table is missing and this login could not make it
        self.vault = KeyStore(self.datastore.engine, self.events_table_name) if self.datastore.engine else None
        e = self.events.c
        self._append = sa.insert(self.events).returning(e.id, sort_by_parameter_order=True)
        dialect = self.datastore.engine.dialect if self.datastore.engine else None
        self._dialect = f"{dialect.name}+{dialect.driver}" if dialect is not None else ""
        if self._dialect == "sqlite+pysqlite":
            self._append_sql = (f"INSERT INTO {dialect.identifier_preparer.format_table(self.events)} "
                                "(originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)")
            self._qmark = {table.name: _qmark_insert(dialect, table)
                           for table in (self.chain, self.log, *([self.vault.table] if self.vault else []))}
        elif self._dialect == "postgresql+psycopg2":
            name = dialect.identifier_preparer.format_table(self.events)
            self._last_id_sql = f"SELECT max(id) FROM {name}"
            # LIMIT: the planner then walks the primary key from `last` whatever its statistics say. Without it, a
            # table never analyzed (autovacuum off, or just after a bulk load) is estimated to hold a third of its
            # rows above `last`, and every save scanned and sorted the whole table (1.1 s at 1.18M events).
            self._ids_after_sql = f"SELECT id FROM {name} WHERE id > %(last)s ORDER BY id LIMIT %(count)s"
        log = self.log.c
        self._log_head = sa.select(log.position, log.hash).order_by(log.position.desc()).limit(1)
        self._unanalyzed = 0  # PostgreSQL: events this process appended since it last analyzed the tables, as of its
        self._since_look = 0  # last look at their statistics; and appended since that look

    def create_table(self, existing: set[str] | None = None) -> None:
        """Make whichever of the ledger's tables are missing, then check (and where it can, re-arm) their triggers.
        `existing`: the tables the database holds, as the open has just read them (persistence.Holdings); when it
        names every one, nothing is asked table by table (six round trips on PostgreSQL, on every command)."""
        engine = self.datastore.engine
        if existing is None:
            existing = set(sa.inspect(engine).get_table_names())
        existed = existing & {self.events_table_name, self.chain.name, self.log.name}
        vault = {self.vault.table.name} if self.vault is not None else set()
        if {self.events_table_name, self.chain.name, self.log.name, *vault} <= existing:
            self.has_log = True
        else:
            super().create_table()
            self.chain.create(engine, checkfirst=True)
            try:
                self.log.create(engine, checkfirst=True)
                self.has_log = True
            except sa.exc.DBAPIError:  # a reader's login on a ledger made before the log chain: verify says so
                self.has_log = sa.inspect(engine).has_table(self.log.name)
            if self.vault is not None:
                self.vault.create_table()
        # A table made by this open has no triggers yet: nobody took them away.
        found = install_append_only(engine, self.append_only_tables)
        self.append_only_problems = {name: problem for name, problem in found.items()
                                     if any(name.startswith(f"{table}_") and name[len(table) + 1:] in
                                            ("no_update", "no_delete", "append_only") for table in existed)}
        if engine.dialect.name == "postgresql":
            try:  # made with the tables, so followers logged in as readers never need the right to make it
                install_notify_trigger(engine, self.events_table_name)
            except sa.exc.DBAPIError:
                pass  # not the tables' owner: the first follower run by the owner makes it; until then, polling
            from . import login_stamps  # the domain's decision events: imported only where they are stamped

            try:
                login_stamps.install(engine, self.events_table_name)
            except sa.exc.DBAPIError:
                pass  # not the tables' owner: decisions go unstamped (and unchecked) until the owner opens it

    @property
    def stores_snapshots_with_events(self) -> bool:
        """Whether `insert_events(..., snapshots=[stored snapshots])` writes them in the events' transaction."""
        return self.snapshot_table is not None

    @property
    def append_only_tables(self) -> list[str]:
        return [self.events_table_name, self.chain.name, *([self.log.name] if self.has_log else [])]

    def backfill_log(self) -> int:
        """Give a ledger made before the log chain its log rows (a writer's open, or its first save): only while the
        log has none, so that an event inserted later by hand, without its log row, stays reported by `verify`
        rather than adopted. The events are read, never changed. Returns how many rows were added.

        A log that has a row is looked at without the table lock: rows are never removed (append-only), so it has
        nothing to backfill, and every `receive` need not queue behind other writers (PostgreSQL) to find that out."""
        with self._reading() as conn:
            if conn.execute(sa.select(self.log.c.position).limit(1)).first() is not None:
                return 0
        with self.datastore.transaction(commit=True) as session:
            conn = session.connection()
            self._lock_table(session)
            if conn.execute(sa.select(self.log.c.position).limit(1)).first() is not None:
                return 0
            return self._backfill(conn, None)[2]

    def _backfill(self, conn: sa.Connection, below: int | None) -> tuple[int, bytes, int]:
        """Log rows for every event (below position `below`), in a log that has none: (last position, its hash,
        rows added)."""
        previous, prev_hash, batch, added = 0, ZERO, [], 0
        pg = conn.dialect.name == "postgresql"
        table = conn.dialect.identifier_preparer.format_table(self.events)
        oid_sql = "uuid_send(originator_id)" if pg else "originator_id"
        where = f" WHERE id < {int(below)}" if below is not None else ""
        # The driver's own cursor (PostgreSQL: a server-side one), as verify reads: a third of the cost.
        cursor = conn.connection.dbapi_connection.cursor(**({"name": "complaints_backfill"} if pg else {}))
        cursor.execute(f"SELECT id, {oid_sql}, originator_version, topic, state FROM {table}{where} ORDER BY id")
        rows = ((position, bytes(oid), version, topic, bytes(state))
                for position, oid, version, topic, state in cursor) if pg else cursor
        for position, oid, version, topic, state in rows:
            prev_hash = log_hash(prev_hash, position, fast_event_hash(oid, version, topic, state))
            batch.append((position, previous, oid, version, prev_hash))
            previous = position
            if len(batch) >= 5000:
                added += len(batch)
                self._insert_rows(conn, self.log, batch)
                batch = []
        cursor.close()
        if batch:
            added += len(batch)
            self._insert_rows(conn, self.log, batch)
        return previous, prev_hash, added

    @property
    def unarmed(self) -> list[str]:
        """The append-only triggers this open found missing or disabled and could not put back."""
        return [f"{name} is {problem.split(' (', 1)[0]}" for name, problem in self.append_only_problems.items()
                if "cannot repair" in problem and not problem.startswith("origin")]

    def _insert_stored_events(self, session: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        if not stored_events:
            return []
        conn = session.connection()
        self._lock_table(session)  # PostgreSQL: LOCK TABLE ... IN EXCLUSIVE MODE, as the library does
        stored = self._stored_hashes(conn, stored_events)
        rows, heads, digests = [], {}, []
        id_bytes: dict[Any, bytes] = {}  # each aggregate's id as bytes once per save (UUID.bytes is computed per call)
        for e in stored_events:
            originator_id, version = e.originator_id, e.originator_version
            head = heads.get(originator_id)
            if head is None:
                oid = id_bytes[originator_id] = _id_bytes(originator_id)
                state = MARK + stored.get((originator_id, version - 1), ZERO) + e.state
            else:
                oid = id_bytes[originator_id]
                state = MARK + head[1] + e.state
            digest = fast_event_hash(oid, version, e.topic, state)  # event_hash, from the bytes already made
            heads[originator_id] = (version, digest)
            digests.append(digest)
            rows.append((originator_id, version, e.topic, state))
        ids = self._append_rows(conn, rows, id_bytes)
        self._insert_rows(conn, self.chain, [(id_bytes[originator_id], version, digest)
                                             for originator_id, (version, digest) in heads.items()])
        # The ledger-wide chain, read after the insert: on SQLite the INSERT is what takes the write lock, so no
        # other process can append a log row between this read and ours.
        last = conn.execute(self._log_head).first()
        if last is not None:
            previous, prev_hash = last[0], bytes(last[1])
        else:  # a new ledger, or one made before the log chain (its first save gives its events their log rows)
            previous, prev_hash, _ = self._backfill(conn, ids[0])
        links = []
        for position, (originator_id, version, _, _), digest in zip(ids, rows, digests):
            prev_hash = log_hash(prev_hash, position, digest)
            links.append((position, previous, id_bytes[originator_id], version, prev_hash))
            previous = position
        self._insert_rows(conn, self.log, links)
        snapshots = kwargs.get("snapshots")
        if snapshots and self.snapshot_table is not None:  # a few rows a batch at most: SQLAlchemy's own insert
            conn.execute(self.snapshot_table.insert(), [
                {"originator_id": s.originator_id, "originator_version": s.originator_version, "topic": s.topic,
                 "state": s.state} for s in snapshots])
        if self.vault is not None:
            keys = self.vault.pending_keys()
            if keys:  # new data subjects' keys commit with the events that first use them
                columns = self.vault.table.c.keys()
                self._insert_rows(conn, self.vault.table, [tuple(k.get(c) for c in columns) for k in keys])
            self.vault.destroy_in(conn)  # an erasure's key goes in the transaction that records it
        self._notify_channel(session)
        return ids

    def _append_rows(self, conn: sa.Connection, rows: list[tuple[Any, int, str, bytes]],
                     id_bytes: dict[Any, bytes]) -> list[int]:
        """Insert the events in one statement and return their ids in the order of `rows` (`id_bytes`: each
        aggregate's id as bytes)."""
        if self._dialect == "sqlite+pysqlite":
            # One executemany. SQLite has one writer at a time and gives each new row max(id) + 1, so this
            # transaction's rows hold consecutive ids ending at last_insert_rowid(), in the order inserted.
            conn.exec_driver_sql(self._append_sql, [(id_bytes[o], v, t, s) for o, v, t, s in rows])
            last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar()
            return list(range(last - len(rows) + 1, last + 1))
        if self._dialect == "postgresql+psycopg2":
            # COPY, twice as fast as one INSERT from arrays. It returns no ids, but under the EXCLUSIVE lock nobody
            # else can insert, so the rows above the last id before it are these, numbered by the sequence in the
            # order they were copied.
            last = conn.exec_driver_sql(self._last_id_sql).scalar() or 0
            copy_rows(conn, self.events, ("originator_id", "originator_version", "topic", "state"), rows)
            return list(conn.exec_driver_sql(self._ids_after_sql, {"last": last, "count": len(rows)}).scalars())
        # Any other driver: SQLAlchemy's insertmanyvalues, one INSERT per 1,000 rows, ids sorted into row order.
        return list(conn.execute(self._append, [
            {"originator_id": o, "originator_version": v, "topic": t, "state": s} for o, v, t, s in rows]).scalars())

    def _insert_rows(self, conn: sa.Connection, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
        """Rows in the table's column order, through the driver's fastest path (SQLAlchemy's insertmanyvalues
        spends more time building its statement than the server takes to run it)."""
        if self._dialect == "postgresql+psycopg2":
            copy_rows(conn, table, table.c.keys(), rows)
        elif self._dialect == "sqlite+pysqlite":
            sql, processors = self._qmark[table.name]
            conn.exec_driver_sql(sql, [tuple(v if p is None else p(v) for p, v in zip(processors, row))
                                       for row in rows])
        else:
            conn.execute(table.insert(), [dict(zip(table.c.keys(), row)) for row in rows])

    def _stored_hashes(self, conn: sa.Connection,
                       stored_events: Sequence[StoredEvent]) -> dict[tuple[Any, int], bytes]:
        """The hash of each stored event that the first event of an aggregate in this save follows, in one query
        (read under the lock, so no other writer can append meanwhile). A missing predecessor is left out (the event
        then links to zeros): a break in the chain that `verify` reports."""
        wanted, seen = [], set()
        for e in stored_events:
            if e.originator_id not in seen:
                seen.add(e.originator_id)
                if e.originator_version > 1:
                    wanted.append((e.originator_id, e.originator_version - 1))
        if not wanted:
            return {}
        c = self.events.c
        found = conn.execute(sa.select(c.originator_id, c.originator_version, c.topic, c.state).where(
            sa.tuple_(c.originator_id, c.originator_version).in_(wanted)))
        return {(row.originator_id, row.originator_version):
                event_hash(row.originator_id, row.originator_version, row.topic, bytes(row.state)) for row in found}

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        """The library's transaction (which maps a repeated version to its IntegrityError); the data subjects' keys
        made for these events are kept only if it commits. Refused while an append-only trigger is missing or
        disabled and this login could not put it back: writing on would add to a trail anyone could be editing."""
        if self.unarmed:
            if self.vault is not None:
                self.vault.discard_pending()
            raise LedgerUnavailable(f"refusing to write: the append-only trigger {'; '.join(self.unarmed)}, and this "
                                    "login cannot re-arm it (only the tables' owner can): ask the ledger's "
                                    "administrator to open it and run `complaints verify`")
        try:
            ids = super().insert_events(stored_events, **kwargs)
        except BaseException:
            if self.vault is not None:
                self.vault.discard_pending()
            raise
        if self.vault is not None:
            self.vault.committed()
        self._since_look += len(stored_events)
        if self._since_look >= ANALYZE_EVERY:
            appended, self._since_look = self._since_look, 0
            self.refresh_statistics(appended=appended)
        return ids

    def refresh_statistics(self, appended: int = 0) -> list[str]:
        """PostgreSQL: ANALYZE the ledger's growing tables where the planner has never measured them or this process
        has since appended more than a tenth of what it measured (as autovacuum would, on a server where it is off
        or has not come round yet): a bulk load (simulate, import, copy) into a table never measured leaves every
        later query to the planner's guess, which for a read of one case can be a scan of the whole table. Looked
        at every ANALYZE_EVERY events a process appends (the server's own change counts reach its statistics only
        later; `appended`: rows written around the save path, e.g. by `copy`). Tables this login does not own are left
        alone (ANALYZE is the owner's). Returns those analyzed (none on SQLite, which keeps no such statistics here)."""
        if self._dialect != "postgresql+psycopg2":
            return []
        self._unanalyzed += appended
        done: list[str] = []
        try:
            with self.datastore.engine.connect() as conn:
                for table in (self.events, self.log, self.chain):
                    name = conn.dialect.identifier_preparer.format_table(table)
                    row = conn.exec_driver_sql("SELECT reltuples, pg_has_role(relowner, 'USAGE') FROM pg_class "
                                               "WHERE oid = %(t)s::regclass", {"t": name}).first()
                    if row is None or not row[1]:
                        continue
                    if row[0] < 0 or self._unanalyzed > ANALYZE_THRESHOLD + ANALYZE_SCALE * row[0]:
                        conn.exec_driver_sql(f"ANALYZE {name}")
                        done.append(table.name)
                conn.commit()
        except sa.exc.DBAPIError:  # statistics are an optimisation: a failure here must not fail the write
            return done
        if done:
            self._unanalyzed = 0
        return done

    @staticmethod
    def _payload(state: Any) -> bytes:
        return split_state(bytes(state))[1]

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True) -> list[Notification]:
        """The library's query, through Core like `select_events` (the event stream reads the log with it: the ORM's
        objects were half the cost of streaming), with each event's chain link taken off."""
        c = self.events.c
        query = sa.select(c.id, c.originator_id, c.originator_version, c.topic, c.state)
        if start is not None:
            query = query.where(c.id >= start if inclusive_of_start else c.id > start)
        if stop is not None:
            query = query.where(c.id <= stop)
        if topics:
            query = query.where(c.topic.in_(topics))
        with self._reading() as conn:
            return [Notification(id=r[0], originator_id=r[1], originator_version=r[2], topic=r[3],
                                 state=self._payload(r[4]))
                    for r in conn.execute(query.order_by(c.id).limit(limit))]

    def max_notification_id(self) -> int | None:
        with self._reading() as conn:
            return conn.execute(sa.select(sa.func.max(self.events.c.id))).scalar()


ANALYZE_EVERY = 20_000  # events appended by one process between looks at the statistics (a few ms each)
ANALYZE_THRESHOLD, ANALYZE_SCALE = 1_000, 0.1  # as autovacuum's analyze_threshold/scale_factor, threshold raised


def _qmark_insert(dialect: Any, table: sa.Table) -> tuple[str, list[Callable[[Any], Any] | None]]:
    """SQLite: one INSERT for executemany, with each column's conversion as SQLAlchemy would make it."""
    names = ", ".join(dialect.identifier_preparer.quote(c.name) for c in table.c)
    marks = ", ".join("?" for _ in table.c)
    processors = [bind_converter(dialect, c.type) for c in table.c]
    return f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({names}) VALUES ({marks})", processors


def _id_bytes(originator_id: Any) -> bytes:
    return originator_id.bytes if isinstance(originator_id, UUID) else UUID(str(originator_id)).bytes


class ChainedFactory(SealingFactory, SQLAlchemyFactory):
    """eventsourcing-sqlalchemy, with the chained application recorder (PERSISTENCE_MODULE points here)."""

    application_recorder_class = ChainedRecorder
    aggregate_recorder_class = CoreReadAggregateRecorder

    _events_recorder: ChainedRecorder | None = None

    def application_recorder(self) -> Any:
        recorder = super().application_recorder()
        self.attach_keys(recorder, recorder.vault)
        self._events_recorder = recorder
        return recorder

    def aggregate_recorder(self, purpose: str = "events") -> Any:
        """The snapshots' recorder; its table is given to the events' recorder, which writes a save's snapshots in
        the same transaction as its events."""
        recorder = super().aggregate_recorder(purpose)
        if purpose == "snapshots" and self._events_recorder is not None:
            self._events_recorder.snapshot_table = recorder.events_record_cls.__table__
        return recorder
