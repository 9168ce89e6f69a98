"""The quick read path: `list` and `breaches` answered on a plain DB-API connection when their read models are
current, without importing SQLAlchemy or eventsourcing-sqlalchemy (issue 20: their start-up was most of such a
command's half second; the queries take milliseconds).

`current(url, names, ledger)` opens sqlite3 (an SQLite file, given as a bare path or sqlite:///path) or psycopg2 (a
postgresql URL, connected with the same arguments SQLAlchemy's psycopg2 dialect would pass: user, password, host,
port, database and the URL's query, e.g. `options=-csearch_path=…` or `-c role=…`), and in one snapshot reads the
`projection_state` rows of the read models named and the head of the log. Only if every one is built, at the code's
schema version (projections/reads.py) and at the head does it return a runner for projections/reads.py's queries;
otherwise (stale, missing, being built for the first time, a URL with options it does not know, an unreadable table,
any error) None, and the command takes the full path, which catches up (or, for a login that may only read, says
how far behind the read models are). During a rebuild the live copy still answers, as on the full path.

Nothing here writes: the SQLite connection is `query_only`, the PostgreSQL one a read-only transaction.
"""

from __future__ import annotations

import os
import re
import sqlite3
from datetime import date
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import parse_qsl, quote, unquote

STATE_TABLE = "projection_state"
EVENTS_TABLE = "complaintsledger_events"  # persistence.EVENTS_TABLE (a test holds them equal)
DEFAULT_URL = "sqlite:///complaints.db"  # persistence.DEFAULT_URL

# SQLAlchemy's own pattern for a URL (sqlalchemy.engine.url._parse_url), so that a URL means the same database here.
_URL = re.compile(r"""
    (?P<name>[\w\+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/\?]+)\]|(?P<ipv4host>[^/:\?]+))?(?::(?P<port>[^/\?]*))?)?
    (?:/(?P<database>[^\?]*))?
    (?:\?(?P<query>.*))?
    """, re.X)


def adapt(dialect: str, sql: str, params: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
    """A query of projections/reads.py (`?` placeholders, dates as dates) as the driver takes it: on SQLite dates
    as the ISO text SQLAlchemy's Date stores, on PostgreSQL psycopg2's `%s` placeholders. Every `?` is taken for a
    placeholder, so reads.py's SQL holds no literal `?` or `%` (a value goes in as a parameter)."""
    if dialect == "sqlite":
        return sql, tuple(p.isoformat() if isinstance(p, date) else p for p in params)
    return sql.replace("?", "%s"), tuple(params)


class QuickRunner:
    """What projections/reads.py's queries need (`live_suffix`, `fetch`, `ledger`), on one DB-API connection."""

    def __init__(self, conn: Any, dialect: str, suffixes: dict[str, str], ledger: Callable[[], Any]):
        self.conn, self.dialect, self.suffixes = conn, dialect, suffixes
        self._open_ledger = ledger
        self._ledger: Any = None

    @property
    def ledger(self) -> Any:
        """The ledger, for the profiles pinned by hash (a working calendar): opened only when a query asks."""
        if self._ledger is None:
            self._ledger = self._open_ledger()
        return self._ledger

    def live_suffix(self, name: str) -> str:
        try:
            return self.suffixes[name]
        except KeyError:
            raise LookupError(f"projection {name} was not checked by the quick read path") from None

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        try:
            cur.execute(*adapt(self.dialect, sql, params))
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    def close(self) -> None:
        self.conn.close()


def current(url: str | None, names: Iterable[str], ledger: Callable[[], Any]) -> QuickRunner | None:
    """A QuickRunner if the read models `names` are current at `url` (see the module's docstring), else None."""
    from ..projections.reads import VERSIONS

    names = list(names)
    where = target(url)
    if where is None:
        return None
    try:
        conn = connect(where, snapshot=True)
    except Exception:  # noqa: BLE001 - any doubt: the full path opens it, and says what is wrong
        return None
    runner = QuickRunner(conn, where[0], {}, ledger)
    try:
        marks = ", ".join("?" for _ in names)
        rows = {name: (version, suffix, position) for name, version, suffix, position in runner.fetch(
            f"SELECT name, schema_version, active_suffix, position FROM {STATE_TABLE} WHERE name IN ({marks})",
            names)}
        head = runner.fetch(f"SELECT max(id) FROM {EVENTS_TABLE}")[0][0] or 0
        for name in names:
            version, suffix, position = rows.get(name, (None, None, 0))
            if suffix is None or version != VERSIONS[name] or position < head:
                conn.close()
                return None
            runner.suffixes[name] = suffix
    except Exception:  # noqa: BLE001 - no such table, no right to read it, …: the full path decides
        conn.close()
        return None
    return runner


def target(url: str | None) -> tuple[str, Any] | None:
    """Where a --db value (or COMPLAINTS_DB, or the default) points, for a plain DB-API connection: ("sqlite", the
    path of an existing file) or ("postgresql", psycopg2.connect's arguments, as SQLAlchemy's psycopg2 dialect
    would pass them); None for anything else (a URL with options or parts this path does not take as they are, a
    missing file), which is then checked and opened as usual (persistence.normalise_url, open_ledger)."""
    if url is None:
        url = os.environ.get("COMPLAINTS_DB") or DEFAULT_URL
    url = url.strip()
    if not url or len(url) > 1024 or any(ord(c) < 32 or ord(c) == 127 for c in url):
        return None
    if "://" not in url:
        path = url
    else:
        scheme, rest = url.split("://", 1)
        if scheme.lower() in ("postgresql", "postgres", "postgresql+psycopg2"):
            args = _postgresql_args("postgresql://" + rest)
            return None if args is None else ("postgresql", args)
        if scheme.lower() not in ("sqlite", "sqlite+pysqlite") or not rest.startswith("/"):
            return None
        path = rest[1:]
    if not path or "?" in path or ":memory:" in path or path.startswith("file:"):
        return None
    try:
        return ("sqlite", path) if os.path.isfile(path) else None
    except (OSError, ValueError):
        return None


def _postgresql_args(url: str) -> dict[str, Any] | None:
    m = _URL.match(url)
    if m is None or m["ipv6host"]:
        return None
    args: dict[str, Any] = {}
    if m["username"] is not None:
        args["user"] = unquote(m["username"])
    if m["password"] is not None:
        args["password"] = unquote(m["password"])
    if m["ipv4host"]:
        args["host"] = m["ipv4host"]
    if m["port"]:
        if not m["port"].isdigit() or not 0 < int(m["port"]) < 65536:
            return None
        args["port"] = int(m["port"])
    if not m["database"] or not m["database"].strip():
        return None
    args["dbname"] = m["database"]
    for key, value in parse_qsl(m["query"] or ""):
        if key in args:
            return None  # several hosts, or an option given twice: SQLAlchemy's dialect has its own rules for those
        args[key] = value
    return args if "host" in args else None


def connect(where: tuple[str, Any], *, snapshot: bool) -> Any:
    """A connection that only reads: sqlite3 `query_only` on an existing file (mode=rw: never a new empty one),
    psycopg2 in read-only transactions. With `snapshot`, everything read comes from one snapshot (a transaction
    held open until the connection closes); without, each statement stands alone (so that one refused statement,
    e.g. a reader login's read of the key table, does not spoil the next)."""
    dialect, arg = where
    if dialect == "sqlite":
        conn = sqlite3.connect(f"file:{quote(os.path.abspath(arg))}?mode=rw", uri=True, isolation_level=None)
        conn.execute("PRAGMA query_only = ON")
        if snapshot:
            conn.execute("BEGIN")
        return conn
    import psycopg2

    conn = psycopg2.connect(**arg)
    if snapshot:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    else:
        conn.set_session(readonly=True, autocommit=True)
    return conn
