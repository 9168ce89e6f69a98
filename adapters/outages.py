"""Which database errors are an outage to wait out, not a failure: the followers (`events --follow`, `events
deliver`, `projections follow`, `ComplaintsLedger.subscribe`) retry these through domain/stream.Reconnect and end
on anything else.

An outage is a connection that was lost or could not be made (the server stopped, restarted or crashed; the session
terminated by `pg_terminate_backend`; the network gone) and, on SQLite, a database briefly locked by another
writer. The driver's exception is found wherever the layers above wrapped it (eventsourcing's PersistenceError
wraps SQLAlchemy's, which wraps the driver's).
"""

from __future__ import annotations

import sqlite3

import sqlalchemy.exc

_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")


def _chain(error: BaseException) -> list[BaseException]:
    """The error, what it wraps (`orig`) and what caused it, outermost first; each once."""
    seen: list[BaseException] = []
    todo = [error]
    while todo and len(seen) < 12:
        e = todo.pop(0)
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]
    return seen


def _psycopg2_outage(e: BaseException) -> bool:
    try:
        import psycopg2
    except ImportError:  # pragma: no cover - SQLite-only install
        return False
    return isinstance(e, (psycopg2.OperationalError, psycopg2.InterfaceError))


def connection_lost(error: BaseException) -> str | None:
    """A line saying what was lost, if `error` means the database was unreachable for now; None if it is a real
    failure (a missing table, a refused privilege, bad data), which no amount of waiting mends."""
    for e in _chain(error):
        if isinstance(e, sqlalchemy.exc.DBAPIError) and e.connection_invalidated:
            return _line(e)
        if _psycopg2_outage(e):
            return _line(e)
        if isinstance(e, sqlite3.OperationalError) and str(e).strip().lower().startswith(_SQLITE_BUSY):
            return _line(e)
    return None


def _line(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return " ".join(text.splitlines()[0].split())[:200] if text else type(e).__name__
