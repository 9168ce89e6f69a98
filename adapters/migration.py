"""Moving a ledger to another database, and writing it out whole: the tables the ledger owns, row for row.

The event log is copied exactly — notification ids (positions), versions, and the stored bytes, which carry the hash
chain and the sealed personal data — together with the snapshots, the chain heads and the data subjects' keys (an
erased key stays erased), so the copy verifies, reads and counts exactly as the original did. Read models are not
copied: they are rebuilt from the log on the target, and the copy is then checked by `verify` and by comparing the
statistics of the whole history with the source's.

Both read the source in one snapshot (a PostgreSQL REPEATABLE READ transaction, an SQLite read transaction), so
writers may carry on meanwhile: what is copied or exported is the ledger exactly as it stood at one position.
"""

from __future__ import annotations

import base64
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO
from uuid import UUID

import sqlalchemy as sa

from ..domain.errors import InvalidAction
from ..domain.ledger import ComplaintsLedger
from .persistence import as_utc, copy_rows, read_snapshot
from . import login_stamps
from .projection_store import ProjectionRunner

EXPORT_FORMAT = "complaints-ledger-export"
EXPORT_VERSION = 1
BATCH = 2000  # rows per read and per insert (measured 1,000 to 20,000: no difference beyond noise)

Progress = Callable[[str, int, int], None]  # (phase, position reached, head)


@dataclass(frozen=True)
class OwnedTable:
    """A table the ledger owns: copied and exported row for row, never rebuilt."""

    name: str                   # its name in exports and summaries
    table: sa.Table
    secret: bool = False        # holds the keys to personal data: exported only when asked for
    integration: bool = False   # integration state (stream cursors, webhook dead letters), not the record itself


def ledger_tables(ledger: ComplaintsLedger) -> list[OwnedTable]:
    """Every table the ledger owns, in copy order: the event log first. Add a new ledger-owned table here (and
    nowhere else) and `copy` and `export` carry it; read models are not owned, they are rebuilt from the log."""
    recorder: Any = ledger.recorder
    owned = [OwnedTable("events", recorder.events_record_cls.__table__)]
    if ledger.snapshots is not None:
        owned.append(OwnedTable("snapshots", ledger.snapshots.recorder.events_record_cls.__table__))
    owned.append(OwnedTable("chain", recorder.chain))
    owned.append(OwnedTable("log", recorder.log))
    if recorder.vault is not None:
        owned.append(OwnedTable("keys", recorder.vault.table, secret=True))
    from .cursors import cursors_table
    from .webhooks import dead_letters_table

    events = recorder.events_table_name
    owned.append(OwnedTable("cursors", cursors_table(sa.MetaData(), events), integration=True))
    owned.append(OwnedTable("dead_letters", dead_letters_table(sa.MetaData(), events), integration=True))
    return owned


# ---------------------------------------------------------------------------------------------------- reading
def _ordered(table: sa.Table) -> sa.Select:
    return sa.select(table).order_by(*table.primary_key.columns)


def _rows(conn: sa.Connection, table: sa.Table) -> Iterator[list[dict[str, Any]]]:
    """The table's rows in primary-key order, a batch at a time (a server-side cursor on PostgreSQL), with
    timestamps in UTC whichever database they come from (SQLite hands back the UTC the ledger wrote, unzoned)."""
    stamps = [c.name for c in table.columns if isinstance(c.type, sa.DateTime) and c.type.timezone]
    result = conn.execution_options(yield_per=BATCH).execute(_ordered(table))
    keys = list(result.keys())
    for part in result.partitions():
        rows = [dict(zip(keys, r)) for r in part]
        for row in rows:
            for name in stamps:
                row[name] = as_utc(row[name])
        yield rows


def _present(conn: sa.Connection, owned: list[OwnedTable]) -> list[OwnedTable]:
    """Those of the tables that exist here: a table made on first use (integration state) may not yet."""
    inspector = sa.inspect(conn)
    return [t for t in owned if inspector.has_table(t.table.name, schema=t.table.schema)]


def _counts(conn: sa.Connection, owned: list[OwnedTable]) -> dict[str, int]:
    return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t.table)).scalar() or 0 for t in owned}


def _head(conn: sa.Connection, events: sa.Table) -> int:
    return conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0


# ---------------------------------------------------------------------------------------------------- export
def _json_value(value: Any) -> Any:
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    return value


def export_ledger(ledger: ComplaintsLedger, out: TextIO, *, include_keys: bool = False) -> dict[str, Any]:
    """Write the ledger as JSON Lines: a header, then every row of every owned table (the keys only if asked),
    bytes in base64 exactly as stored. Returns the header."""
    engine: sa.Engine = ledger.recorder.datastore.engine
    owned = [t for t in ledger_tables(ledger) if include_keys or not t.secret]
    with read_snapshot(engine) as conn:
        owned = _present(conn, owned)
        header = {
            "format": EXPORT_FORMAT, "version": EXPORT_VERSION,
            "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "position": _head(conn, owned[0].table), "database": engine.dialect.name,
            "tables": _counts(conn, owned),
            "integration_state": [t.name for t in owned if t.integration],
            "encoding": "bytes as base64, ids as UUID text, timestamps in UTC (ISO 8601)",
        }
        out.write(json.dumps(header) + "\n")
        for owned_table in owned:
            for rows in _rows(conn, owned_table.table):
                out.writelines(json.dumps({"table": owned_table.name,
                                           "row": {k: _json_value(v) for k, v in row.items()}},
                                          ensure_ascii=False) + "\n" for row in rows)
    return header


def export_to_file(ledger: ComplaintsLedger, path: str, *, include_keys: bool = False) -> dict[str, Any]:
    """The export written whole or not at all (a partial file is removed); with the keys, readable by its owner only."""
    final = Path(path)
    partial = final.with_name(f".{final.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if include_keys else 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            header = export_ledger(ledger, out, include_keys=include_keys)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return header


# ---------------------------------------------------------------------------------------------------- copy
@dataclass
class Copied:
    """What `copy_ledger` did, and whether the target proved to be the same ledger."""

    source: str
    target: str
    rows: dict[str, int]
    position: int
    cases: int = 0
    seconds: float = 0.0
    verified: bool = False
    verify_problem: str | None = None
    stats_identical: bool = False
    period: tuple[date, date] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verified and self.stats_identical

    def problem(self) -> str | None:
        if not self.verified:
            return f"the copy at {self.target} does not verify: {self.verify_problem}"
        if not self.stats_identical:
            return f"the statistics on {self.target} differ from the source's for {self.period[0]} to {self.period[1]}"
        return None

    def summary(self) -> str:
        period = f"{self.period[0]} to {self.period[1]}" if self.period else "no events counted"
        events, cases = self.rows.get("events", 0), self.cases
        return (f"copied {events} event{'' if events == 1 else 's'} ({cases} case{'' if cases == 1 else 's'}; "
                f"position {self.position}) from "
                f"{self.source} to {self.target} in {self.seconds:.1f}s: "
                + ", ".join(f"{n} {name}" for name, n in self.rows.items() if name != "events") + "\n"
                f"verify: {'ok' if self.verified else 'FAILED'}; "
                f"stats {'identical' if self.stats_identical else 'DIFFER'} ({period})")


def copy_ledger(source: ComplaintsLedger, target_url: str, *, progress: Progress | None = None) -> Copied:
    """Copy the source ledger into the empty ledger at `target_url` (created if need be), rebuild its read models,
    verify it and compare its statistics with the source's. Nothing is written to a target that holds events."""
    from .persistence import normalise_url, open_ledger, redact

    started = time.monotonic()
    target_url = normalise_url(target_url)
    source_url = source.recorder.datastore.engine.url.render_as_string(hide_password=False)
    target = open_ledger(target_url)
    try:
        result = Copied(source=redact(source_url), target=redact(target_url), rows={}, position=0)
        _with_index_key(source)
        result.position, result.rows = _copy_rows(source, target, progress)
        refresh = getattr(target.recorder, "refresh_statistics", None)
        if refresh is not None:
            refresh(appended=result.position)  # rows copied around its save path: measured now, not at a first read
        result.timings["copy"] = time.monotonic() - started
        _check(source, target, result, progress)
        result.seconds = time.monotonic() - started
        return result
    finally:
        target.close()


def _with_index_key(source: ComplaintsLedger) -> None:
    """The blind index's key (adapters/blind_index.py) is made on first use: make it before copying, so that the
    copy carries the source's and both index a person alike, rather than the copy making its own."""
    if getattr(source.recorder, "vault", None) is None:
        return
    from .blind_index import index_key

    index_key(source)


def _copy_rows(source: ComplaintsLedger, target: ComplaintsLedger, progress: Progress | None
               ) -> tuple[int, dict[str, int]]:
    """Insert every owned row of the source into the target in one transaction; refused if the target has any."""
    theirs = {t.name: t for t in ledger_tables(target)}
    owned = ledger_tables(source)
    target_engine: sa.Engine = target.recorder.datastore.engine
    with read_snapshot(source.recorder.datastore.engine) as src, _writing(target_engine, theirs["events"].table) as dst:
        held = _counts(dst, _present(dst, [theirs[t.name] for t in owned]))
        if held.get("events"):
            raise InvalidAction(f"the target already holds {held['events']} events: copy only into an empty "
                                "ledger (nothing was written)")
        if any(held.values()):
            name = next(name for name, n in held.items() if n)
            raise InvalidAction(f"the target's {name} table already holds {held[name]} rows: copy only into an "
                                "empty ledger (nothing was written)")
        head = _head(src, owned[0].table)
        copied = {}
        for owned_table in _present(src, owned):
            copied[owned_table.name] = 0
            into = theirs[owned_table.name].table
            into.create(dst, checkfirst=True)  # a table made on first use may not exist on the target yet
            for rows in _rows(src, owned_table.table):
                _insert(dst, into, rows)
                copied[owned_table.name] += len(rows)
                if progress and owned_table.name == "events":
                    progress("copying the ledger", rows[-1]["id"], head)
            _continue_ids(dst, into)
        login_stamps.check_from(dst, theirs["events"].table.name, head)
    return head, copied


def _continue_ids(conn: sa.Connection, table: sa.Table) -> None:
    """PostgreSQL: rows inserted with their own ids leave the table's id sequence behind; move it to the last one
    copied, so that new rows (the next event appended) continue after it. (SQLite continues from the largest.)"""
    column = table.autoincrement_column
    if conn.dialect.name != "postgresql" or column is None:
        return
    last = conn.execute(sa.select(sa.func.max(column))).scalar()
    if last is not None:
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence(:t, :c), :v)"),
                     {"t": conn.dialect.identifier_preparer.format_table(table), "c": column.name, "v": last})


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: COPY, with bytea as hex text. Measured copying 72,634 events with their chain heads and keys from
    SQLite: 3.0-3.3 s, against 5.5-7.5 s through Core's executemany (insertmanyvalues). Elsewhere Core's executemany,
    which sqlite3 runs as fast as projection_store.bulk_insert would here (2.6 s either way, reading dominates)."""
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg2":
        conn.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    copy_rows(conn, table, columns, ([row[c] for c in columns] for row in rows))


@contextmanager
def _writing(engine: sa.Engine, events: sa.Table) -> Iterator[sa.Connection]:
    """One write transaction that holds the target's event log from the emptiness check to the commit, so nobody
    appends in between (the library's own insert lock on PostgreSQL; SQLite's write lock)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            with conn.begin():
                name = conn.dialect.identifier_preparer.format_table(events)
                conn.exec_driver_sql(f"LOCK TABLE {name} IN EXCLUSIVE MODE")
                yield conn
            return
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def _check(source: ComplaintsLedger, target: ComplaintsLedger, result: Copied, progress: Progress | None) -> None:
    """Rebuild the target's read models, verify its chains, and compare the statistics of the whole history up to
    the copied position with the source's (its read models caught up first, as `stats` does)."""
    from ..projections import all_projections
    from ..projections.committee import read_facts, stats
    from .audit import verify

    def phase(name: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        progress(name, 0, 0)  # announced before it starts: verifying reports nothing until it is done
        return lambda position, head: progress(name, position, head)

    started = time.monotonic()
    theirs = ProjectionRunner(target, all_projections())
    theirs.rebuild(progress=phase("rebuilding the copy's read models"))
    cases = theirs.live_tables("case_status")["cases"]
    with theirs.engine.connect() as conn:
        result.cases = conn.execute(sa.select(sa.func.count()).select_from(cases)).scalar() or 0
    result.timings["rebuild"] = time.monotonic() - started

    started = time.monotonic()
    phase("verifying the copy")
    found = verify(target.recorder)
    result.verified = not found.breaks
    if found.breaks:
        first = found.breaks[0].line()
        was = verify(source.recorder, position=result.position).breaks
        same = [b.line() for b in was] == [b.line() for b in found.breaks]
        result.verify_problem = (f"{len(found.breaks)} broken link(s), first {first}"
                                 + ("; the source has exactly the same breaks" if same else ""))
    result.timings["verify"] = time.monotonic() - started

    started = time.monotonic()
    ours = ProjectionRunner(source, all_projections())
    ours.catch_up(progress=phase("catching up this ledger's read models to compare statistics"))
    figures = []
    for runner in (ours, theirs):
        facts = [f for f in read_facts(runner, date.min, date.max) if f["position"] <= result.position]
        figures.append(facts)
    days = [f["occurred_on"] for f in figures[0]] or [date.today()]
    result.period = (min(days), max(days))
    result.stats_identical = (stats(figures[0], *result.period, "month")
                              == stats(figures[1], *result.period, "month"))
    result.timings["stats"] = time.monotonic() - started
