"""Projection storage and the runner that keeps read models in step with the event log.

Read models are SQLAlchemy Core tables in the ledger's own database. Each page of events is applied in one
transaction together with the projection's new position, so a crash leaves every projection exactly at some
position, never half-applied. The position moves only by compare-and-set, so two processes catching up at once
cannot both apply the same page.

Rebuilds are blue/green: a projection's tables exist in two copies (suffix `a` and `b`); a rebuild fills the idle
copy while the live one keeps answering, then switches over in one transaction. An interrupted rebuild leaves the
live copy serving and resumes from where it stopped.

Notification ids: eventsourcing-sqlalchemy takes an EXCLUSIVE lock on the events table while inserting on
PostgreSQL, so ids become visible in commit order; reading `id > position` therefore never skips a committed event,
even though ids may have gaps (rolled-back inserts).
"""

from __future__ import annotations

import csv
import io
import logging
import operator
import os
import pickle
import selectors
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

import sqlalchemy as sa
from eventsourcing.persistence import EventStore, StoredEvent

from ..domain.complaint import Complaint
from ..domain.collection import PausedCollection
from ..domain.deadlines import MilestoneRecord, milestone_records
from ..domain.errors import ConcurrentChange
from ..domain.ledger import ComplaintsLedger
from ..domain.stream import Reconnect, StopWaiting, idle
from .audit_chain import split_state
from .persistence import as_utc, bind_converter, copy_text, create_if_missing

PAGE_SIZE = 500
# Rebuilds read far ahead of any reader, so they take bigger pages: fewer commits and statements (measured best at
# about 2,000: +30% events/s over 500 on SQLite and PostgreSQL; 5,000 is slower again).
REBUILD_PAGE_SIZE = int(os.environ.get("COMPLAINTS_REBUILD_PAGE_SIZE", "2000"))
# A rebuild that has not written a page for this long is taken to have died (killed), and may be resumed.
LEASE_SECONDS = float(os.environ.get("COMPLAINTS_REBUILD_LEASE_SECONDS", "60"))
# A rebuild this many events behind fills its copies with one process per core (up to 4); 1 turns this off.
REBUILD_WORKERS = int(os.environ.get("COMPLAINTS_REBUILD_WORKERS", str(min(os.cpu_count() or 1, 4))))
# Complaints kept folded in memory between pages (about 4 KB each); a case beyond them is replayed from the store.
FOLDED_CASES = int(os.environ.get("COMPLAINTS_FOLDED_CASES", "10000"))
PARALLEL_REBUILD_MIN_EVENTS = int(os.environ.get("COMPLAINTS_PARALLEL_REBUILD_MIN_EVENTS", "100000"))
SUFFIXES = ("a", "b")
from .quick_reads import STATE_TABLE  # noqa: E402 - named once, for both read paths


class Projection(Protocol):
    """A read model: its tables (per blue/green suffix) and how a page of changes alters them."""

    name: str
    version: int

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]: ...

    def writes(self, page: "Page") -> list["Write"]:
        """What the page changes, worked out before the transaction writes anything (so write locks are short)."""
        ...

    # Optional: `complete(conn, tables)`, run on a copy once it is filled from the log (in the transaction that
    # switches a rebuild live, and on `projections verify`'s fresh copy): what is derived from the whole copy at once
    # (the committee's months table and the triggers that keep it in step).


def complete(projection: Projection, conn: sa.Connection, tables: dict[str, sa.Table]) -> None:
    finish = getattr(projection, "complete", None)
    if finish is not None:
        finish(conn, tables)


@dataclass
class Write:
    """Rows for one of a projection's tables; the rows of the cases in `replacing` are deleted first. `updates`,
    applied after the rows are added: (which rows, by column values; the values they take), for a table whose rows
    are otherwise only added (a correction restating facts already counted)."""

    table: str
    rows: list[dict[str, Any]]
    replacing: list[str] = field(default_factory=list)
    updates: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)


def write(conn: sa.Connection, tables: dict[str, sa.Table], writes: list[Write]) -> None:
    for w in writes:
        table = tables[w.table]
        for i in range(0, len(w.replacing), 500):  # bounded IN lists
            conn.execute(table.delete().where(table.c.ref.in_(w.replacing[i:i + 500])))
        bulk_insert(conn, table, w.rows)
        for where, values in w.updates:
            conn.execute(table.update().where(*(table.c[k] == v for k, v in where.items())).values(**values))


@dataclass(frozen=True)
class Notified:
    """One event from the notification log with its position."""

    position: int
    event: Any


class Change:
    """An event and the complaint it belongs to as folded after the page (None for other aggregates)."""

    __slots__ = ("position", "event", "case")

    def __init__(self, position: int, event: Any, case: Complaint | None):
        self.position, self.event, self.case = position, event, case


class Page:
    """The changes one projection applies in one transaction, with what projections need to interpret them.
    Projections given the same changes share one Page, so what they derive from it is worked out once."""

    def __init__(self, changes: list[Change], folder: "CaseFolder"):
        self.changes = changes
        self.folder = folder
        self._latest: dict[str, tuple[Complaint, int]] | None = None
        self._created: set[str] | None = None

    def earlier_refs(self, refs: Iterable[str]) -> list[str]:
        """Those of `refs` that may already have rows: their first event is not on this page. (A case created on
        this page cannot, since each page is applied exactly once and in order.)"""
        if self._created is None:
            self._created = {c.case.ref for c in self.changes
                             if c.case is not None and c.event.originator_version == 1}
        return [ref for ref in refs if ref not in self._created]

    def policy_of(self, case: Complaint) -> Any:
        return self.folder.policy_of(case)

    def milestones(self, case: Complaint) -> list[MilestoneRecord]:
        """The case's milestone records, worked out once per case version for all projections on the page."""
        return self.folder.milestones(case)

    def latest_cases(self) -> dict[str, tuple[Complaint, int]]:
        """Each complaint touched by the page, as it stands after the page, with the last position that changed it."""
        if self._latest is None:
            self._latest = {c.case.ref: (c.case, c.position) for c in self.changes if c.case is not None}
        return self._latest


class CaseFolder:
    """Keeps complaint aggregates folded across pages, so each event is decoded and applied once for every
    projection being processed together.

    A case not in memory (first seen after a restart, or not changed for a long while) is loaded up to the version
    before the event. Only the most recently changed `max_cases` are kept (a dict keeps insertion order:
    re-inserting moves a case to the end), so a rebuild's memory does not grow with the log: a folded case takes
    about 4 KB, and a landlord's cases gain their events within months, far fewer than 10,000 cases apart.
    """

    def __init__(self, ledger: ComplaintsLedger, max_cases: int | None = None):
        self.ledger = ledger
        self.max_cases = FOLDED_CASES if max_cases is None else max_cases
        self._cases: dict[Any, Complaint] = {}
        self._milestones: dict[tuple[Any, int], list[MilestoneRecord]] = {}  # for the page being processed
        # A case not in memory is read as the projections read the log: with personal data left sealed.
        self._events = EventStore(mapper=ledger.sealed_mapper(), recorder=ledger.recorder)

    def fold(self, event: Any) -> Complaint:
        key = event.originator_id
        cases = self._cases
        case = cases.pop(key, None)
        if case is None or case.version != event.originator_version - 1:
            case = None
            if event.originator_version > 1:  # complaints are never snapshotted: replay up to the event before
                for earlier in self._events.get(key, lte=event.originator_version - 1):
                    case = earlier.mutate(case)
        case = event.mutate(case)
        cases[key] = case
        if len(cases) > self.max_cases:
            del cases[next(iter(cases))]
        return case

    def policy_of(self, case: Complaint) -> Any:
        return self.ledger.policy_of(case)  # the ledger caches profiles by content hash

    def milestones(self, case: Complaint) -> list[MilestoneRecord]:
        key = (case.id, case.version)
        records = self._milestones.get(key)
        if records is None:
            records = self._milestones[key] = milestone_records(case, self.policy_of(case))
        return records

    def changes(self, page: list[Notified]) -> list[Change]:
        self._milestones.clear()
        fold, complaint_event = self.fold, _COMPLAINT_EVENT_TYPES
        changes = []
        for n in page:
            event = n.event
            kind = type(event)
            is_complaint = complaint_event.get(kind)
            if is_complaint is None:
                is_complaint = complaint_event[kind] = is_complaint_event(event)
            changes.append(Change(n.position, event, fold(event) if is_complaint else None))
        return changes


_COMPLAINT_EVENT_TYPES: dict[type, bool] = {}


def bulk_insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the page's transaction through the driver's fastest path (PostgreSQL COPY, 5x faster
    than execute_values here; sqlite3 executemany), converting values as SQLAlchemy's own bind processors would, so
    they read back exactly as a Core insert would have written them. Core's per-row parameter handling is most of
    the cost of a rebuild, so each table's conversion is planned once."""
    if not rows:
        return
    plan = _insert_plan(conn.dialect, table, tuple(rows[0]))
    data = plan.values(rows)
    if plan.copy:
        buffer = io.StringIO()
        if any("" in values for values in data):  # CSV would read "" back as NULL: use the exact text format
            sql = plan.text_sql
            buffer.writelines("\t".join(map(copy_text, values)) + "\n" for values in data)
        else:
            sql = plan.sql
            csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC).writerows(data)
        buffer.seek(0)
        with conn.connection.driver_connection.cursor() as cursor:
            cursor.copy_expert(sql, buffer)
    else:
        conn.exec_driver_sql(plan.sql, data)


class _InsertPlan:
    """How one table's rows become driver parameters (or COPY lines): only columns whose type needs converting
    are touched, with C-level conversions where they give the same stored value as SQLAlchemy's processor."""

    def __init__(self, dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...]):
        self.getter = operator.itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
        quote = dialect.identifier_preparer
        target = f"{quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)})"
        self.copy = dialect.name == "postgresql" and dialect.driver == "psycopg2"
        types = [table.c[name].type for name in columns]
        self.converters = [(i, c) for i, c in enumerate(bind_converter(dialect, t) for t in types) if c is not None]
        if self.copy:
            # CSV written by the csv module, in C: numbers and bools bare (PostgreSQL reads True/False), anything
            # else quoted, None as "" and read back as NULL (FORCE_NULL). Rows holding a real "" take the text format.
            names = ", ".join(quote.quote(c) for c in columns)
            self.sql = f"COPY {target} FROM STDIN WITH (FORMAT csv, FORCE_NULL ({names}))"
            self.text_sql = f"COPY {target} FROM STDIN"
        else:
            marks = ", ".join(["?" if dialect.paramstyle == "qmark" else "%s"] * len(columns))
            self.sql = f"INSERT INTO {target} VALUES ({marks})"

    def values(self, rows: list[dict[str, Any]]) -> list[Any]:
        getter, converters = self.getter, self.converters
        if not converters:
            return [getter(row) for row in rows]
        data = []
        for row in rows:
            values = list(getter(row))
            for i, convert in converters:
                value = values[i]
                if value is not None:
                    values[i] = convert(value)
            data.append(tuple(values))
        return data


def _insert_plan(dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...]) -> _InsertPlan:
    plans = table.info.setdefault("complaints_insert_plans", {})
    key = (dialect.name, dialect.driver, columns)
    if key not in plans:
        plans[key] = _InsertPlan(dialect, table, columns)
    return plans[key]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def is_complaint_event(event: Any) -> bool:
    return type(event).__qualname__.startswith("Complaint.")


@dataclass(frozen=True)
class Partition:
    """One worker's share of a parallel rebuild: the aggregates whose id ends in its hex digits, up to `upto`."""

    number: int
    of: int
    upto: int
    parent_pid: int

    def digits(self) -> list[str]:
        return [f"{d:x}" for d in range(16) if d % self.of == self.number]

    def predicate(self, dialect: str, originator_id: Any) -> Any:
        if dialect == "sqlite":  # a 16-byte blob: hex() gives upper-case digits
            last = sa.func.substr(sa.func.hex(originator_id), 32, 1)
            return last.in_([d.upper() for d in self.digits()])
        return sa.func.right(sa.cast(originator_id, sa.Text), 1).in_(self.digits())

    def parent_alive(self) -> bool:
        return os.getppid() == self.parent_pid


def run_partition_worker() -> None:
    """A rebuild worker process (adapters/rebuild_worker.py): read its job from stdin, fill one partition into the
    claimed copies, and report on stdout: "page POSITION" per page, then "done EVENTS" or "error MESSAGE"."""
    def report(line: str) -> None:
        sys.stdout.write(line.replace("\n", " ") + "\n")
        sys.stdout.flush()

    try:
        env, projections, claims, start, part = pickle.loads(sys.stdin.buffer.read())
        runner = ProjectionRunner(ComplaintsLedger(env), projections)
        mine = {name: sa.and_(runner.state.c.name == name, runner.state.c.rebuild_owner == owner)
                for name, (owner, _, _) in claims.items()}
        with PausedCollection() as collection:
            applied = runner._fill_pages(claims, {name: start for name in claims}, mine, part.upto,
                                         lambda position, _: report(f"page {position}"), collection, part)
        report(f"done {applied}")
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which fails the rebuild with it
        report(f"error {type(e).__name__}: {e}")
        raise SystemExit(1) from None


@contextmanager
def _relaxed_sync(conn: sa.Connection) -> Iterator[None]:
    """A rebuild's pages commit without waiting for the disk (SQLite in WAL mode: synchronous=NORMAL; PostgreSQL:
    synchronous_commit off): still atomic and never corrupt, but a power cut may undo the last pages, which the
    resumed rebuild simply redoes. The setting belongs to the connection and is put back after the page, so the
    ledger's own commits, on the same pooled connection later, keep their full durability."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        before = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        relax = conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal" and (before or 0) > 1
        relaxed, restore = "PRAGMA synchronous=NORMAL", f"PRAGMA synchronous={int(before or 0)}"
    elif dialect == "postgresql":
        before = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
        relax = before != "off"
        relaxed, restore = "SET synchronous_commit TO off", f"SET synchronous_commit TO {before}"
    else:
        relax = False
    if relax:
        conn.exec_driver_sql(relaxed)
    conn.commit()  # SQLite PRAGMAs open no transaction; this ends SQLAlchemy's autobegun one
    try:
        yield
    finally:
        if relax:
            try:
                conn.exec_driver_sql(restore)
                conn.commit()
            except sa.exc.SQLAlchemyError:
                conn.invalidate()  # never back in the pool with the relaxed setting; the first error stands


class _Overtaken(Exception):
    """Raised inside a page's transaction to roll it back."""


class ProjectionRunner:
    """Catches projections up with the log, rebuilds them, and reports where they stand."""

    def __init__(self, ledger: ComplaintsLedger, projections: Iterable[Projection]):
        self.ledger = ledger
        # Read models never hold a person's details, so an erasure needs nothing from them (personal_data.py).
        self._mapper = ledger.sealed_mapper()
        self.projections = {p.name: p for p in projections}
        recorder: Any = ledger.recorder
        self.engine: sa.Engine = recorder.datastore.engine
        self.events: sa.Table = recorder.events_record_cls.__table__
        self.metadata = sa.MetaData()
        self.state = sa.Table(
            STATE_TABLE, self.metadata,
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("schema_version", sa.Integer, nullable=False),
            sa.Column("active_suffix", sa.String(1), nullable=True),
            sa.Column("position", sa.BigInteger, nullable=False),
            sa.Column("rebuilt_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("rebuild_suffix", sa.String(1), nullable=True),
            sa.Column("rebuild_version", sa.Integer, nullable=True),
            sa.Column("rebuild_position", sa.BigInteger, nullable=True),
            sa.Column("rebuild_owner", sa.String(32), nullable=True),
            sa.Column("rebuild_heartbeat", sa.DateTime(timezone=True), nullable=True),
        )
        self._create_state_table()
        self._tables: dict[tuple[str, str], dict[str, sa.Table]] = {}
        self.cases = CaseFolder(ledger)
        # Told when a rebuild waits on another run's claim: the projections and the seconds until that claim
        # lapses if its run has stopped; None once the wait is over (the CLI says so on stderr).
        self.on_wait: Callable[[list[str], float | None], None] | None = None

    def _create_state_table(self) -> None:
        create_if_missing(self.engine, self.state)

    # ------------------------------------------------------------------------------------------------ reading
    def tables(self, name: str, suffix: str) -> dict[str, sa.Table]:
        key = (name, suffix)
        if key not in self._tables:
            self._tables[key] = self.projections[name].define(self.metadata, suffix)
        return self._tables[key]

    def live_tables(self, name: str) -> dict[str, sa.Table]:
        """The copy that currently answers queries."""
        return self.tables(name, self.live_suffix(name))

    def live_suffix(self, name: str) -> str:
        return self.live_copy(name).active_suffix

    def live_copy(self, name: str) -> Any:
        """The read model's state row (its live suffix and the schema version it was built at); LookupError if it
        has not been built yet."""
        with self.engine.connect() as conn:
            row = self._state(conn, name)
        if row is None or row.active_suffix is None:
            raise LookupError(f"projection {name} has not been built yet")
        return row

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of a read model's query as SQL text (projections/reads.py), run as the quick path runs it
        (quick_reads.adapt), on this engine's connection: one query, two ways of reaching the database."""
        from .quick_reads import adapt

        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(*adapt(self.engine.dialect.name, sql, params))]

    def head(self, conn: sa.Connection) -> int:
        return conn.execute(sa.select(sa.func.max(self.events.c.id))).scalar() or 0

    def read_page(self, conn: sa.Connection, after: int, limit: int = PAGE_SIZE) -> list[Notified]:
        """A page of the notification log through Core (one row tuple per event, no ORM objects)."""
        e = self.events.c
        return self._decoded(conn.execute(
            sa.select(e.id, e.originator_id, e.originator_version, e.topic, e.state)
            .where(e.id > after).order_by(e.id).limit(limit)))

    def read_partition_page(self, conn: sa.Connection, after: int, part: "Partition",
                            limit: int = PAGE_SIZE) -> tuple[list[Notified], int]:
        """The partition's events in the next window of positions that holds any, and the window's end. Windows
        bound each query to a range of the primary key: with a LIMIT instead, PostgreSQL's planner (which cannot
        estimate the partition filter) scans all the rest of the log for every page."""
        e = self.events.c
        while after < part.upto:
            end = min(after + limit * part.of, part.upto)
            page = self._decoded(conn.execute(
                sa.select(e.id, e.originator_id, e.originator_version, e.topic, e.state)
                .where(e.id > after, e.id <= end, part.predicate(conn.dialect.name, e.originator_id))
                .order_by(e.id)))
            if page:
                return page, end
            after = end
        return [], after

    def _decoded(self, result: Any) -> list[Notified]:
        to_event = self._mapper.to_domain_event
        return [
            Notified(r.id, to_event(StoredEvent(originator_id=r.originator_id, originator_version=r.originator_version,
                                                topic=r.topic, state=split_state(bytes(r.state))[1])))
            for r in result.all()
        ]

    def _page_after(self, changes: list[Change], position: int, shared: dict[int, Page]) -> Page | None:
        """The changes past `position`, as one Page shared by every projection standing there (None if none)."""
        page = shared.get(position)
        if page is None:
            after = changes if not changes or changes[0].position > position else [
                c for c in changes if c.position > position]
            page = shared[position] = Page(after, self.cases)
        return page if page.changes else None

    def _state(self, conn: sa.Connection, name: str) -> Any:
        return conn.execute(sa.select(self.state).where(self.state.c.name == name)).first()

    # ------------------------------------------------------------------------------------------------ status
    def status(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            head = self.head(conn)
            out = []
            for name, projection in self.projections.items():
                row = self._state(conn, name)
                position = row.position if row else 0
                out.append({
                    "name": name,
                    "position": position,
                    "head": head,
                    "lag": max(0, head - position) if row and row.active_suffix else head,
                    "schema_version": row.schema_version if row else None,
                    "code_version": projection.version,
                    "built": bool(row and row.active_suffix),
                    "live_copy": row.active_suffix if row else None,
                    "last_rebuild": row.rebuilt_at if row else None,
                    "rebuild_in_progress": bool(row and row.rebuild_suffix),
                })
        return out

    # ------------------------------------------------------------------------------------------------ catch-up
    def catch_up(self, names: Iterable[str] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> int:
        """Bring projections up to the head of the log; rebuild any whose schema version changed."""
        names = list(names or self.projections)
        with self.engine.connect() as conn:
            rows = {name: self._state(conn, name) for name in names}
        stale = [name for name, row in rows.items()
                 if row is None or row.active_suffix is None or row.schema_version != self.projections[name].version]
        applied = self.rebuild(stale, progress=progress) if stale else 0
        fresh = [name for name in names if name not in stale]
        return applied + (self._advance(fresh, progress) if fresh else 0)

    def _advance(self, names: list[str], progress: Callable[[int, int], None] | None) -> int:
        """Apply new pages to the live copies. Projections at different positions share one read and one fold per
        page; each takes only the events past its own position."""
        with PausedCollection() as collection:
            return self._advance_pages(names, progress, collection)

    def _advance_pages(self, names: list[str], progress: Callable[[int, int], None] | None,
                       collection: PausedCollection) -> int:
        applied = 0
        while True:
            collection.step_done()
            try:
                with self.engine.begin() as conn:
                    rows = {name: self._state(conn, name) for name in names}
                    live = {name: row for name, row in rows.items() if row is not None and row.active_suffix}
                    if not live:
                        return applied
                    page = self.read_page(conn, min(row.position for row in live.values()))
                    if not page:
                        return applied
                    changes, shared = self.cases.changes(page), {}
                    planned = {name: (row, self.projections[name].writes(mine)) for name, row in live.items()
                               if (mine := self._page_after(changes, row.position, shared)) is not None}
                    for name, (row, writes) in planned.items():
                        # Claim the page first: a second runner blocks on this row, then finds it moved and gives
                        # way before writing anything.
                        claimed = conn.execute(
                            self.state.update()
                            .where(self.state.c.name == name, self.state.c.position == row.position,
                                   self.state.c.active_suffix == row.active_suffix)
                            .values(position=page[-1].position)
                        ).rowcount
                        if claimed != 1:
                            raise _Overtaken
                        write(conn, self.tables(name, row.active_suffix), writes)
            except _Overtaken:  # another process applied this page first: ours was rolled back, read on
                self.cases = CaseFolder(self.ledger)
                continue
            applied += len(page)
            if progress:
                progress(page[-1].position, 0)

    # ------------------------------------------------------------------------------------------------ rebuild
    def rebuild(self, names: Iterable[str] | None = None,
                progress: Callable[[int, int], None] | None = None) -> int:
        """Fill the idle copies from the start of the log in one pass, then switch them live in one transaction."""
        names = list(names or self.projections)
        for name in names:
            self._ensure_state_row(name, self.projections[name].version)
        claims: dict[str, tuple[str, str, int]] = {}
        held_elsewhere = []
        for name in names:
            claim = self._claim_rebuild(name)
            if claim is None:
                held_elsewhere.append(name)
            else:
                claims[name] = claim
        applied = self._fill(claims, progress) if claims else 0
        if held_elsewhere:
            applied += self._await_rebuilds(held_elsewhere, progress)
        return applied

    def _await_rebuilds(self, names: list[str], progress: Callable[[int, int], None] | None) -> int:
        """Others are rebuilding these right now: wait for their switch, then just catch up; take over together
        any whose owner stopped beating (killed). While waiting, `on_wait` hears which and how long until the
        lease of a stopped run would lapse, and finally (with None) that the wait is over."""
        applied, pending, waited = 0, list(names), False
        deadline = time.monotonic() + 10 * LEASE_SECONDS
        try:
            while pending:
                with self.engine.connect() as conn:
                    rows = {name: self._state(conn, name) for name in pending}
                switched = [name for name, row in rows.items() if row.rebuild_suffix is None and row.active_suffix
                            and row.schema_version == self.projections[name].version]
                expired = [name for name, row in rows.items() if name not in switched and self._lease_expired(row)]
                # A stopped run's claims lapse one by one (it beat them in turn): taken over together once all of
                # its claims have lapsed, so the log is read once for them, not once for each that lapsed first.
                beating = {row.rebuild_owner for name, row in rows.items()
                           if name not in switched and name not in expired}
                abandoned = [name for name in expired if rows[name].rebuild_owner not in beating]
                if switched:
                    applied += self._advance(switched, progress)
                if abandoned:
                    applied += self.rebuild(abandoned, progress)
                pending = [name for name in pending if name not in switched and name not in abandoned]
                if pending:
                    if time.monotonic() > deadline:
                        raise ConcurrentChange(f"projection {pending[0]} is being rebuilt by another process, which "
                                               f"is still at it after {10 * LEASE_SECONDS:.0f}s; try again later")
                    if self.on_wait is not None:
                        self.on_wait(pending, max(self._lease_left(rows[name]) for name in pending))
                        waited = True
                    time.sleep(0.2)
        finally:
            if waited and self.on_wait is not None:
                self.on_wait(names, None)
        return applied

    def _fill(self, claims: dict[str, tuple[str, str, int]], progress: Callable[[int, int], None] | None) -> int:
        self.cases = CaseFolder(self.ledger)
        positions = {name: position for name, (_, _, position) in claims.items()}
        mine = {name: sa.and_(self.state.c.name == name, self.state.c.rebuild_owner == owner)
                for name, (owner, _, _) in claims.items()}
        with self.engine.connect() as conn:
            head = self.head(conn)
        try:
            applied = 0
            workers = self._workers_for(positions, head)
            if workers > 1:
                start = min(positions.values())
                applied = self._fill_in_parallel(claims, mine, start, head, workers, progress)
                positions = {name: head for name in positions}
            with PausedCollection() as collection:
                return applied + self._fill_pages(claims, positions, mine, head, progress, collection)
        except BaseException:
            # Failed here (not killed): let go of the claims at once; the positions reached are kept for a resume.
            with self.engine.begin() as conn:
                for condition in mine.values():
                    conn.execute(self.state.update().where(condition)
                                 .values(rebuild_owner=None, rebuild_heartbeat=None))
            raise

    def _fill_pages(self, claims: dict[str, tuple[str, str, int]], positions: dict[str, int], mine: dict[str, Any],
                    head: int, progress: Callable[[int, int], None] | None, collection: PausedCollection,
                    part: "Partition | None" = None) -> int:
        """Apply pages until the log is exhausted, then switch the new copies live. A partition worker applies only
        its partition's pages and leaves positions and the switch to the process that started it."""
        applied = 0
        while True:
            collection.step_done()
            if part is not None and not part.parent_alive():
                raise RuntimeError("the process that started this rebuild worker has gone")
            with self.engine.connect() as conn, _relaxed_sync(conn), conn.begin():
                after = min(positions.values())
                if part is None:
                    page = self.read_page(conn, after, REBUILD_PAGE_SIZE)
                    reached = page[-1].position if page else after
                else:
                    page, reached = self.read_partition_page(conn, after, part, REBUILD_PAGE_SIZE)
                    if not page:
                        return applied
                changes, shared = self.cases.changes(page), {}
                planned = {name: self.projections[name].writes(theirs) for name in claims
                           if (theirs := self._page_after(changes, positions[name], shared)) is not None}
                for name, writes in planned.items():
                    write(conn, self.tables(name, claims[name][1]), writes)
                # The tracking rows last, so that parallel workers hold their locks only while committing.
                for name, (_, target, _) in claims.items():
                    projection = self.projections[name]
                    values: dict[str, Any] = {"rebuild_heartbeat": _now()}
                    if name in planned:
                        if part is None:
                            values["rebuild_position"] = page[-1].position
                    elif not page:
                        # Caught up with the log: complete, index the new copy and switch it live, atomically with
                        # the others.
                        complete(projection, conn, self.tables(name, target))
                        for table in self.tables(name, target).values():
                            for index in table.indexes:
                                index.create(conn, checkfirst=True)
                            if conn.dialect.name == "postgresql":
                                # Measured before it answers: a copy filled in one go and never analyzed (autovacuum
                                # off, or not yet round) leaves the planner guessing its size (3,422 rows for
                                # 669,108 committee facts at 1M events), and the reports' grouping spilled to disk.
                                conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.format_table(table)}")
                        values.update(active_suffix=target, position=positions[name],
                                      schema_version=projection.version, rebuilt_at=_now(), rebuild_suffix=None,
                                      rebuild_version=None, rebuild_position=None, rebuild_owner=None,
                                      rebuild_heartbeat=None)
                    if conn.execute(self.state.update().where(mine[name]).values(**values)).rowcount != 1:
                        raise RuntimeError(f"the rebuild of {name} was taken over by another process")
            if not page:
                return applied
            positions = {name: max(position, reached) for name, position in positions.items()}
            applied += len(page)
            if progress:
                progress(reached, max(head, reached))

    # ------------------------------------------------------------------------------------------------ parallel
    def _workers_for(self, positions: dict[str, int], head: int) -> int:
        """How many processes a rebuild's backlog is worth: one unless it is large, all projections start from the
        same position, and the database can be opened from another process (a file or a server)."""
        if REBUILD_WORKERS < 2 or len(set(positions.values())) != 1:
            return 1
        if head - min(positions.values()) < PARALLEL_REBUILD_MIN_EVENTS:
            return 1
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and (url.database in (None, "", ":memory:")
                                                   or "memory" in str(url.query.get("mode", ""))):
            return 1
        return REBUILD_WORKERS

    def _fill_in_parallel(self, claims: dict[str, tuple[str, str, int]], mine: dict[str, Any], start: int,
                          upto: int, workers: int, progress: Callable[[int, int], None] | None) -> int:
        """Fill the new copies up to `upto` with one process per partition of the cases (each case's events are in
        one partition, in order), then hand back to the serial loop for the tail and the switch.

        While partitions fill, the rebuild cannot be resumed part-way (each partition stands at its own
        position): its position is marked -1, so a rebuild interrupted here starts again from the beginning."""
        with self.engine.begin() as conn:
            for name in claims:
                if conn.execute(self.state.update().where(mine[name])
                                .values(rebuild_position=-1, rebuild_heartbeat=_now())).rowcount != 1:
                    raise RuntimeError(f"the rebuild of {name} was taken over by another process")
        projections = [self.projections[name] for name in claims]
        # Fresh interpreters (not multiprocessing, which would re-run the caller's main script in each).
        processes = [subprocess.Popen([sys.executable, "-m", "complaints_ledger.adapters.rebuild_worker"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                     for _ in range(workers)]
        finished: dict[int, int] = {}
        reached = [start] * workers
        try:
            with selectors.DefaultSelector() as selector:
                for number, process in enumerate(processes):
                    job = (dict(self.ledger.env), projections, claims, start, Partition(number, workers, upto,
                                                                                         os.getpid()))
                    process.stdin.write(pickle.dumps(job))
                    process.stdin.close()
                    selector.register(process.stdout, selectors.EVENT_READ, number)
                while len(finished) < workers:
                    for key, _ in selector.select(timeout=0.5):
                        number, line = key.data, key.fileobj.readline()
                        if not line:
                            selector.unregister(key.fileobj)
                            if number not in finished:
                                code = processes[number].wait()
                                raise RuntimeError(f"rebuild worker {number + 1} of {workers} stopped "
                                                   f"unexpectedly (exit code {code})")
                            continue
                        kind, value = line.decode().rstrip("\n").split(" ", 1)
                        if kind == "error":
                            raise RuntimeError(f"rebuild worker {number + 1} of {workers} failed: {value}")
                        if kind == "done":
                            finished[number], reached[number] = int(value), upto
                        else:
                            reached[number] = int(value)
                        if progress:
                            progress(min(reached), upto)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
                process.wait()
        with self.engine.begin() as conn:
            for name in claims:
                if conn.execute(self.state.update().where(mine[name])
                                .values(rebuild_position=upto, rebuild_heartbeat=_now())).rowcount != 1:
                    raise RuntimeError(f"the rebuild of {name} was taken over by another process")
        return sum(finished.values())

    def _ensure_state_row(self, name: str, version: int) -> None:
        try:
            with self.engine.begin() as conn:
                if self._state(conn, name) is None:
                    conn.execute(self.state.insert().values(name=name, schema_version=version,
                                                            active_suffix=None, position=0))
        except sa.exc.IntegrityError:
            pass  # another process created it at the same moment

    @staticmethod
    def _lease_left(row: Any) -> float:
        """Seconds until another run's claim lapses unless it beats again (it beats with every page it commits)."""
        beat = as_utc(row.rebuild_heartbeat)
        if beat is None:
            return 0.0
        return max(0.0, LEASE_SECONDS - (_now() - beat).total_seconds())

    @classmethod
    def _lease_expired(cls, row: Any) -> bool:
        return cls._lease_left(row) <= 0

    def _claim_rebuild(self, name: str) -> tuple[str, str, int] | None:
        """Take the rebuild (fresh, or resuming one whose owner stopped beating); None if someone else holds it."""
        projection = self.projections[name]
        owner = uuid.uuid4().hex
        with self.engine.connect() as conn:
            row = self._state(conn, name)
        if row.rebuild_owner is not None and not self._lease_expired(row):
            return None
        resume = (row.rebuild_suffix is not None and row.rebuild_version == projection.version
                  and (row.rebuild_position or 0) >= 0)  # -1: stopped while partitions were filling
        if resume:
            target, position = row.rebuild_suffix, row.rebuild_position or 0
        else:
            target = SUFFIXES[1] if row.active_suffix == SUFFIXES[0] else SUFFIXES[0]
            position = 0
        with self.engine.begin() as conn:
            took = conn.execute(
                self.state.update()
                .where(self.state.c.name == name,
                       self.state.c.rebuild_owner.is_(None) if row.rebuild_owner is None
                       else self.state.c.rebuild_owner == row.rebuild_owner)
                .values(rebuild_owner=owner, rebuild_heartbeat=_now(), rebuild_suffix=target,
                        rebuild_version=projection.version, rebuild_position=position)
            ).rowcount
            if took != 1:
                return None
            if not resume:
                tables = self.tables(name, target)
                for table in reversed(list(tables.values())):
                    table.drop(conn, checkfirst=True)
                for table in tables.values():
                    # Secondary indexes are built once the copy is full, just before it goes live: maintaining
                    # them row by row would slow the fill.
                    conn.execute(sa.schema.CreateTable(table))
        return owner, target, position

    def follow(self, poll_seconds: float = 1.0, stop: Callable[[], bool] = lambda: False,
               reconnect: Reconnect | None = None) -> None:
        """Keep projections live until `stop()` says so; each page is its own transaction.

        On PostgreSQL a LISTEN connection wakes the follower as soon as events are committed; it still checks the
        log every `poll_seconds`, so a lost notification delays it by at most that much. On SQLite it polls. A lost
        connection (a server restart, a terminated session) is waited out through `reconnect` (by default: for
        ever, reported on the `complaints_ledger.projections` logger) and the read models carry on from their
        positions: a page whose transaction was cut off was rolled back whole, and is applied again."""
        if reconnect is None:
            reconnect = Reconnect(lost=self.ledger.connection_lost,
                                  report=logging.getLogger("complaints_ledger.projections").warning)
        reached: dict[str, int] = {}  # the position the read models have reached, for the 'back' line
        if reconnect.position is None:
            reconnect.position = lambda: reached.get("position")

        def applied_up_to(position: int, _total: int) -> None:
            reached["position"] = position

        def advance() -> int:
            try:
                if not reached:
                    reached["position"] = min((row["position"] for row in self.status()), default=0)
                return self.catch_up(progress=applied_up_to)
            except Exception:
                self.cases = CaseFolder(self.ledger)  # what it folded from the lost page is folded again
                raise

        waiter = self.ledger.waiter_factory()
        try:
            while not stop():
                try:
                    applied = reconnect.run(advance, stop)
                except StopWaiting:
                    break
                if not applied:
                    idle(waiter, poll_seconds, stop)
        finally:
            waiter.close()


# ---------------------------------------------------------------------------------------------------- verifying
def verify_read_models(runner: ProjectionRunner,
                       names: Iterable[str] | None = None) -> tuple[dict[str, int], list[str]]:
    """Compare each read model's live copy with one rebuilt afresh from the log up to the same position, and name
    every difference: read models are not append-only (a rebuild must be able to replace them), so this is how
    someone editing them with raw SQL (a writer login, the tables' owner) is caught.

    The fresh copy is built in an in-memory SQLite database, so checking never writes to the ledger's and a reader
    login can run it. The live rows and the log are read in one snapshot (PostgreSQL REPEATABLE READ; an SQLite read
    transaction), so a follower moving the read models meanwhile is no difference. Returns each projection's
    position and the problem lines."""
    names = list(names or runner.projections)
    scratch = sa.create_engine("sqlite://")
    metadata = sa.MetaData()
    fresh = {name: runner.projections[name].define(metadata, "verify") for name in names}
    metadata.create_all(scratch)
    problems: list[str] = []
    positions: dict[str, int] = {}
    with runner.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            live: dict[str, dict[str, sa.Table]] = {}
            for name in names:
                row = runner._state(conn, name)
                if row is None or row.active_suffix is None:
                    problems.append(f"{name}: not built yet")
                    continue
                positions[name], live[name] = row.position, runner.tables(name, row.active_suffix)
            for upto in sorted(set(positions.values())):
                _rebuild_into(runner, conn, scratch, {n: fresh[n] for n in live if positions[n] == upto}, upto)
            with scratch.begin() as out:
                for name in live:
                    complete(runner.projections[name], out, fresh[name])
            with scratch.connect() as rebuilt:
                for name, tables in live.items():
                    for key, table in tables.items():
                        problems += _differences(f"{name}.{key}", conn.execute(sa.select(table)).all(),
                                                 rebuilt.execute(sa.select(fresh[name][key])).all(), table)
    scratch.dispose()
    return positions, problems


def _rebuild_into(runner: ProjectionRunner, conn: sa.Connection, scratch: sa.Engine,
                  tables: dict[str, dict[str, sa.Table]], upto: int) -> None:
    folder, after = CaseFolder(runner.ledger), 0
    while after < upto:
        page = [n for n in runner.read_page(conn, after, REBUILD_PAGE_SIZE) if n.position <= upto]
        if not page:
            return
        changes = folder.changes(page)
        with scratch.begin() as out:
            for name, theirs in tables.items():
                write(out, theirs, runner.projections[name].writes(Page(changes, folder)))
        after = page[-1].position


def _differences(what: str, stored: list[Any], rebuilt: list[Any], table: sa.Table) -> list[str]:
    """One line per row (by case reference where every row has one) that the read model holds differently from the
    rebuild, or holds and the log does not give, or lacks."""
    columns = list(table.c.keys())
    keyed = "ref" in columns and not table.c.ref.nullable  # by case where every row is a case's

    def rows(result: list[Any]) -> dict[Any, list[tuple[Any, ...]]]:
        out: dict[Any, list[tuple[Any, ...]]] = {}
        for row in result:
            values = tuple(_comparable(v) for v in row)
            out.setdefault(row.ref if keyed else values, []).append(values)
        return {k: sorted(v, key=repr) for k, v in out.items()}

    mine, theirs = rows(stored), rows(rebuilt)
    out = []
    for key in sorted(set(mine) | set(theirs), key=repr):
        a, b = mine.get(key), theirs.get(key)
        if a == b:
            continue
        label = f"{what}: {key}" if keyed else f"{what}: row {_row_label(columns, (a or b)[0])}"
        if a is None:
            out.append(f"{label} is missing from the read model")
        elif b is None:
            out.append(f"{label} is in the read model but not in the log")
        else:
            extra, lacking = [r for r in a if r not in b], [r for r in b if r not in a]
            if len(extra) == len(lacking) == 1:
                changed = [f"{c} {extra[0][i]!r} (the log gives {lacking[0][i]!r})" for i, c in enumerate(columns)
                           if extra[0][i] != lacking[0][i]]
                out.append(f"{label} differs from the log: {'; '.join(changed)}")
            else:
                out.append(f"{label} differs from the log: {len(extra)} row(s) in the read model that the log does "
                           f"not give, {len(lacking)} row(s) of the log missing")
    return out


def _row_label(columns: list[str], values: tuple[Any, ...]) -> str:
    """A row without a case reference named by the columns it fills, as a person reads them ("month 2026-03-01,
    kind received, …"); `key` (the committee months' grouping key, spelt out by the other columns) left out."""
    return "(" + ", ".join(f"{c} {v}" for c, v in zip(columns, values) if v is not None and c != "key") + ")"


def _comparable(value: Any) -> Any:
    """The same value as read back from PostgreSQL or SQLite."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if hasattr(value, "as_tuple") and hasattr(value, "normalize"):  # Decimal: 10.00 and 10 are the same amount
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return round(value, 9)
    return value
