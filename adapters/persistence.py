"""Where the ledger lives: a database URL becomes a configured ComplaintsLedger.

SQLite files are the embedded default; PostgreSQL (psycopg2) for several users at once. eventsourcing-sqlalchemy is
imported only here, and only when a ledger is opened, because it is slow to import.

A URL is checked before anything is opened, so that nothing a user types can lose data or damage another
application's database: an in-memory SQLite database (which would keep nothing), another dialect, a malformed or
over-long URL, or an empty one are each one line naming what is supported. Then what the database holds decides
what may be done to it (`Holdings`, `open_ledger`).
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence
from urllib.parse import parse_qsl

from ..domain.errors import LedgerUnavailable
from ..domain.ledger import ComplaintsLedger
from ..domain.values import brief
from . import policy_files

DEFAULT_URL = "sqlite:///complaints.db"
SUPPORTED = "an SQLite file (a path, or sqlite:///path) or PostgreSQL (postgresql://user@host[:port]/db)"
# Longer than any real path or connection URL (Linux paths stop at 4,096 bytes, but nobody types 1,000 characters).
MAX_URL_LENGTH = 1024
# Messages quote at most this much of what was typed, then "…"; a database's path or URL, which a user reads to find
# it, somewhat more.
QUOTED = 60
PLACE = 120
SQLITE_OPTIONS = {"timeout"}  # pysqlite's: seconds to wait for another writer's lock


def normalise_url(url: str | None) -> str:
    """The URL to open, from --db (or COMPLAINTS_DB, or the default): a bare path means an SQLite file, psycopg2 is
    the PostgreSQL driver. Anything that could not be a ledger's lasting home is refused here, before any database
    is touched, as one line naming what is supported."""
    if url is None:
        env = os.environ.get("COMPLAINTS_DB")
        if env is not None and not env.strip():
            raise LedgerUnavailable(f"COMPLAINTS_DB is set but empty: give {SUPPORTED}, or unset it to use "
                                    "complaints.db in this folder")
        url = env or DEFAULT_URL
    if not url.strip():
        raise LedgerUnavailable(f"the database URL is empty: give {SUPPORTED}")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise LedgerUnavailable(f"the database URL {quoted(url)} is {len(url):,} characters long (at most "
                                f"{MAX_URL_LENGTH:,}): give {SUPPORTED}")
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise LedgerUnavailable(f"the database URL {quoted(url)} contains a control character: give {SUPPORTED}")
    if "://" not in url:
        return _sqlite_url(url, url)
    scheme, rest = url.split("://", 1)
    dialect, _, driver = scheme.lower().partition("+")
    if dialect == "sqlite" and driver in ("", "pysqlite"):
        if not rest:  # sqlite:// is SQLAlchemy's in-memory database
            raise _in_memory(url)
        if not rest.startswith("/"):
            raise LedgerUnavailable(f"the SQLite URL {quoted(url)} names a host: write sqlite:///ledger.db for a "
                                    "file in this folder, or sqlite:////srv/ledger.db for a full path")
        return _sqlite_url(rest[1:], url)
    if dialect in ("postgresql", "postgres") and driver in ("", "psycopg2"):
        return _postgresql_url("postgresql+psycopg2://" + rest, url)
    raise LedgerUnavailable(f"unsupported database URL {quoted(url)}: use {SUPPORTED}")


def _sqlite_url(database: str, typed: str) -> str:
    """sqlite:///PATH[?timeout=S], refusing what SQLite or SQLAlchemy would take as an in-memory database."""
    path, _, query = database.partition("?")
    options = parse_qsl(query, keep_blank_values=True)
    if (not path or ":memory:" in path
            or any(key == "mode" and value == "memory" for key, value in options)):
        raise _in_memory(typed)
    if path.startswith("file:"):
        raise LedgerUnavailable(f"the SQLite name {quoted(typed)} is a URI filename (file:…), which the ledger does "
                                "not take: give the file's path, e.g. sqlite:///complaints.db")
    unknown = sorted({key for key, _ in options} - SQLITE_OPTIONS)
    if unknown:
        raise LedgerUnavailable(f"the SQLite URL {quoted(typed)} has an option {quoted(unknown[0], 30)} the ledger "
                                "does not take: sqlite:///path, or sqlite:///path?timeout=SECONDS")
    for _, value in options:
        try:
            ok = 0 < float(value) < 86400
        except ValueError:
            ok = False
        if not ok:
            raise LedgerUnavailable(f"the SQLite URL {quoted(typed)} has a timeout that is not a number of seconds "
                                    "(more than 0, under a day)")
    return f"sqlite:///{database}"


def _in_memory(typed: str) -> LedgerUnavailable:
    return LedgerUnavailable(f"{quoted(typed)} is an in-memory SQLite database, which would keep nothing: give a "
                             "file instead, e.g. complaints.db or sqlite:///complaints.db")


def _postgresql_url(url: str, typed: str) -> str:
    """postgresql+psycopg2://user[:password]@host[:port]/db[?libpq options], parsed as SQLAlchemy will parse it.
    A host is required (or libpq's host= option, e.g. a socket folder); so are a database and a sane port."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    def malformed(problem: str) -> LedgerUnavailable:
        return LedgerUnavailable(scrub(f"the PostgreSQL URL {quoted(typed)} {problem}: write "
                                       "postgresql://user@host[:port]/db", typed))

    try:
        parsed = make_url(url)
    except ValueError:  # SQLAlchemy's int() of what it took for the port
        raise malformed("has a port that is not a number") from None
    except ArgumentError:
        raise malformed("cannot be read") from None
    port = parsed.port
    if port is not None and not 0 < port < 65536:
        raise malformed("has a port outside 1 to 65535")
    if not parsed.host and not parsed.query.get("host"):
        raise malformed("names no host")
    if not parsed.database or not parsed.database.strip():
        raise malformed("names no database")
    return url


def quoted(text: str, limit: int = QUOTED) -> str:
    """What was typed, in quotes, for a message (values.quoted), with the password left out."""
    from ..domain.values import quoted as typed

    return typed(redact(text) if "://" in text and not text.lower().startswith("sqlite") else text, limit)


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL as normalise_url gives it; None for PostgreSQL."""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url[len("sqlite:///"):].split("?", 1)[0])
    return None


def _password(url: str) -> str | None:
    if "@" not in url or "://" not in url:
        return None
    creds = url.split("://", 1)[1].rsplit("@", 1)[0]
    return creds.split(":", 1)[1] if ":" in creds else None


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url


def scrub(text: str, url: str) -> str:
    """Remove the password, and any piece of it a driver may echo back after mis-parsing it, from a message."""
    password = _password(url)
    if password:
        for piece in sorted({password, *re.split(r"[@:/]", password)}, key=len, reverse=True):
            if len(piece) >= 3:
                text = text.replace(piece, "***")
    return text


# ---------------------------------------------------------------------------------------------------- opening
EVENTS_TABLE = f"{ComplaintsLedger.name.lower()}_events"
_LEDGER_SUFFIXES = ("events", "events_chain", "events_log", "events_logins", "snapshots", "keys", "cursors",
                    "dead_letters")
_READ_MODEL = re.compile(r"rm_[a-z0-9_]+_[ab]")


def is_ledger_table(name: str, events_table: str = EVENTS_TABLE) -> bool:
    """Whether a table (or view) of a database is one of the ledger's.

    The ledger's tables are named after its events table (`complaintsledger_events`, after the application):
    the events themselves; `…_events_chain`, each aggregate's chain head, and `…_events_log`, the ledger-wide chain
    over positions (audit_chain.py); `…_events_logins`, the login that appended each decision (PostgreSQL,
    login_stamps.py); `…_snapshots`, the library's snapshots; `…_keys`, the data subjects' keys (key_store.py);
    `…_cursors`, named positions in the event stream (cursors.py); `…_dead_letters`, webhook deliveries given up on (webhooks.py). Then the read models:
    `projection_state`, where each stands (projection_store.py), and each read model's blue/green copies,
    `rm_<read model>_a` and `rm_<read model>_b` (projections/). SQLite's own `sqlite_…` tables are nobody's.
    Every other table belongs to someone else: a database holding any is another application's (or shared), and
    the ledger adds itself there only when told to (`complaints init`). tests/integration/test_database_holdings.py
    checks this list against the tables the ledger really makes."""
    base = events_table[:-len("_events")] if events_table.endswith("_events") else events_table
    return (name in {f"{base}_{what}" for what in _LEDGER_SUFFIXES} or name == "projection_state"
            or bool(_READ_MODEL.fullmatch(name)) or name.startswith("sqlite_"))


@dataclass
class Holdings:
    """What a database holds, as far as the ledger is concerned: its tables (and views) and triggers."""

    where: str
    tables: set[str] = field(default_factory=set)
    triggers: set[str] = field(default_factory=set)
    schema: str | None = None  # PostgreSQL: where the ledger's tables go

    @property
    def place(self) -> str:
        return f"{self.where} (schema {self.schema})" if self.schema else self.where

    @property
    def ledger(self) -> bool:
        """A ledger lives here: its event log exists (made by `init` or by the first write)."""
        return EVENTS_TABLE in self.tables

    @property
    def foreign(self) -> list[str]:
        return sorted(name for name in self.tables if not is_ledger_table(name))

    def check(self, create: bool) -> None:
        """Refuse, before anything is written, what must not be done to this database.

        A read needs a ledger and never makes one. A write makes one in a new or empty database (the first write
        sets a ledger up) but never beside another application's tables: that takes `complaints init`."""
        if self.ledger:
            return
        others = self.foreign
        if not create:
            beside = f" (it holds other tables: {_names(others)})" if others else ""
            raise LedgerUnavailable(f"no ledger at {self.place}{beside}: run `complaints init` first (or pass --db)")
        if others:
            raise LedgerUnavailable(f"{self.place} holds other tables ({_names(others)}) and no ledger, so nothing was "
                                    "written: run `complaints init` to add the ledger's tables beside them, or pass "
                                    "--db for a database of its own")


def _names(names: Sequence[str], shown: int = 3) -> str:
    listed = ", ".join(quoted(n, 40) if not re.fullmatch(r"\w{1,40}", n) else n for n in names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")


def sqlite_holdings(path: Path, where: str) -> Holdings:
    """An SQLite file's holdings, read through the standard library without creating or changing anything (a
    missing file holds nothing; a file that is not a database is one clear error)."""
    import sqlite3
    from urllib.parse import quote

    found = Holdings(where)
    try:
        if not path.exists():
            return found
        conn = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=rw", uri=True, timeout=30)
    except (OSError, sqlite3.Error) as e:
        raise LedgerUnavailable(f"cannot open the ledger at {where}: {_reason(e)}") from None
    try:
        conn.execute("PRAGMA query_only = ON")
        for kind, name in conn.execute("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view', "
                                       "'trigger')"):
            (found.triggers if kind == "trigger" else found.tables).add(name)
    except sqlite3.Error as e:
        raise LedgerUnavailable(f"cannot open the ledger at {where}: {_reason(e)}") from None
    finally:
        conn.close()
    return found


def engine_holdings(engine: Any, where: str) -> Holdings:
    """The holdings of the database behind an engine: on PostgreSQL, of the schema the ledger's tables go in (the
    first of the search_path), every table whatever its owner and the login's rights on it."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view', "
                                        "'trigger')").all()
            return Holdings(where, {n for k, n in rows if k != "trigger"}, {n for k, n in rows if k == "trigger"})
        rows = conn.execute(sa.text(  # one round trip: it is made before every command
            "SELECT 'schema', current_schema() "
            "UNION ALL SELECT 'table', relname FROM pg_class WHERE relnamespace = to_regnamespace(current_schema()) "
            "AND relkind IN ('r', 'p', 'v', 'm', 'f') "
            "UNION ALL SELECT 'trigger', t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relnamespace = to_regnamespace(current_schema()) AND NOT t.tgisinternal")).all()
    schema = next(name for kind, name in rows if kind == "schema")
    tables = [name for kind, name in rows if kind == "table"]
    triggers = [name for kind, name in rows if kind == "trigger"]
    return Holdings(where, set(tables), set(triggers), schema=schema)


def where(url: str) -> str:
    """How messages name the database: an SQLite file by its path, PostgreSQL by its URL without the password."""
    path = sqlite_path(url)
    return brief(str(path) if path is not None else redact(url), PLACE)


def open_ledger(url: str | None = None, *, create: bool = True,
                today: Callable[[], date] = date.today) -> ComplaintsLedger:
    """Open the ledger at `url`; with `create`, set one up in a new or empty database (a write command's first
    write). A missing, unreachable or foreign database is one clear error, and nothing is written to it
    (`Holdings.check`)."""
    return _open(url, "create" if create else "read", today)[0]


def init_ledger(url: str | None = None, *, today: Callable[[], date] = date.today) -> tuple[ComplaintsLedger,
                                                                                             Holdings]:
    """`complaints init`: set the ledger up at `url` even beside another application's tables (the one explicit
    way to put it there); returns it with what the database held before, to say what was made."""
    return _open(url, "init", today)


def holdings(ledger: ComplaintsLedger) -> Holdings:
    """What the ledger's database holds now."""
    engine = ledger.recorder.datastore.engine
    return engine_holdings(engine, where(engine.url.render_as_string(hide_password=False)))


def _open(url: str | None, mode: str, today: Callable[[], date]) -> tuple[ComplaintsLedger, Holdings]:
    url = normalise_url(url)
    shown = where(url)
    path = sqlite_path(url)
    before: Holdings | None = None
    if path is not None:
        try:
            exists, folder = path.exists(), path.parent.exists()
        except OSError as e:  # a name too long for the file system
            raise LedgerUnavailable(f"cannot open the ledger at {shown}: {_reason(e)}") from None
        if not exists and mode == "read":
            raise LedgerUnavailable(f"no ledger at {shown}: run `complaints init` first (or pass --db)")
        if not folder:
            folder_shown = brief(str(path.parent), PLACE)
            raise LedgerUnavailable(f"cannot create a ledger at {shown}: folder {folder_shown} does not exist")
        before = sqlite_holdings(path, shown)
        if mode != "init":
            before.check(create=mode == "create")
    env = {
        "PERSISTENCE_MODULE": "complaints_ledger.adapters.chained_recorder:ChainedFactory",
        "SQLALCHEMY_URL": url,
        "CREATE_TABLE": "n",  # made below, once the database is known to be the ledger's to write
    }
    try:
        import sqlalchemy.exc
        from eventsourcing.persistence import PersistenceError
    except ImportError as e:  # pragma: no cover - broken install
        raise LedgerUnavailable(f"the database libraries are not installed: {e}") from None
    ledger = None
    try:
        ledger = ComplaintsLedger(env, policies=policy_files.load_shipped, today=today)
        engine = ledger.recorder.datastore.engine
        if before is None:
            before = engine_holdings(engine, shown)
            if mode != "init":
                before.check(create=mode == "create")
        if mode != "read" or before.ledger:  # an existing ledger's newer tables are made as it is opened
            create_tables(ledger, writing=mode != "read", existing=before.tables)
        ledger.recorder.max_notification_id()  # touch the database now, not half-way through a command
        from .outages import connection_lost

        ledger.connection_lost = connection_lost  # a following subscription waits these out
        if engine.dialect.name == "postgresql":
            from .notify import Listener

            events_table = ledger.recorder.events_table_name
            ledger.waiter_factory = lambda: Listener(engine, events_table)
            ledger.login_source = lambda: _session_user(engine)  # decisions are then the login's own
    except BaseException as e:
        if ledger is not None:
            ledger.close()
        if isinstance(e, (sqlalchemy.exc.SQLAlchemyError, PersistenceError, OSError)):
            raise LedgerUnavailable(f"cannot open the ledger at {shown}: {scrub(first_line(e), url)}") from None
        if isinstance(e, ValueError):
            raise LedgerUnavailable(f"cannot open the ledger at {shown}: {scrub(str(e), url)}") from None
        raise
    return ledger, before


def create_tables(ledger: ComplaintsLedger, writing: bool = True, existing: set[str] | None = None) -> None:
    """The ledger's own tables and triggers (each made only if missing): the event log with its chains, keys and
    append-only triggers, and the snapshots. Read models, cursors and dead letters are made on first use.
    `existing`: the tables the database holds, just read (Holdings), so that those are not looked for again.

    A writer's open also gives a ledger made before the ledger-wide log chain its log rows (so does its first save,
    whichever comes first); a reader's open changes nothing."""
    recorder = ledger.recorder
    recorder.create_table(existing)
    snapshots = ledger.snapshots.recorder if ledger.snapshots is not None else None
    if snapshots is not None and (existing is None or snapshots.events_table_name not in existing):
        snapshots.create_table()
    if writing and recorder.has_log and not recorder.unarmed:
        recorder.backfill_log()


def _reason(e: BaseException) -> str:
    text = (getattr(e, "strerror", None) or str(e)).strip()
    return brief(text.splitlines()[0] if text else type(e).__name__, QUOTED)


def authenticated_user(ledger: ComplaintsLedger) -> str | None:
    """The login PostgreSQL authenticated (session_user: SET ROLE does not change it); None on SQLite, which has
    no users."""
    return ledger.login()


def _session_user(engine: Any) -> str:
    import sqlalchemy as sa

    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT session_user")).scalar()


def ledger_table_name(events_table: str, what: str) -> str:
    """The ledger's own tables are named after its events table (`complaintsledger_events` → `…_<what>`)."""
    base = events_table[:-len("_events")] if events_table.endswith("_events") else events_table
    return f"{base}_{what}"


def create_if_missing(engine: Any, table: Any) -> None:
    """Create a table unless it exists. The check and the CREATE are two statements, so another process may create
    it in between: its CREATE winning is as good as ours."""
    import sqlalchemy as sa

    try:
        table.create(engine, checkfirst=True)
    except sa.exc.DatabaseError:
        if not sa.inspect(engine).has_table(table.name, schema=table.schema):
            raise


@contextmanager
def read_snapshot(engine: Any) -> Iterator[Any]:
    """A connection that sees one consistent state of the whole database for as long as it reads (verify, copy,
    export): REPEATABLE READ on PostgreSQL; on SQLite an explicit BEGIN, since pysqlite opens a transaction only
    before a write. Nothing is written through it: it ends by rolling back."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
            return
        conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            conn.rollback()


def as_utc(moment: datetime | None) -> datetime | None:
    """A time the ledger stored in UTC, zoned: SQLite hands back the UTC it was given without its zone."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")


def copy_text(value: Any) -> str:
    """A value in PostgreSQL's COPY text format. Bytes go as bytea hex with its backslash escaped, and strings that
    need no escaping as they are: translating every event's payload cost three times the COPY itself."""
    if value is None:
        return "\\N"
    if isinstance(value, (bytes, memoryview)):
        return "\\\\x" + bytes(value).hex()
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str) and not _NEEDS_ESCAPE.search(value):
        return value
    return str(value.isoformat() if isinstance(value, datetime) else value).translate(_COPY_ESCAPES)


def bind_converter(dialect: Any, type_: Any) -> Callable[[Any], Any] | None:
    """How SQLAlchemy's own bind processor would convert a value of this column type for the driver, for inserts
    that go straight to it (so the rows read back exactly as a Core insert would have written them); None where the
    driver takes the value as it is."""
    import sqlalchemy as sa

    if isinstance(type_, sa.Boolean):
        return None  # values are real bools, which both drivers store as SQLAlchemy would (1/0, true/false)
    if dialect.name == "sqlite" and isinstance(type_, sa.LargeBinary):
        return None  # sqlite3 stores bytes as they are (SQLAlchemy only wraps them in a memoryview)
    if dialect.name == "sqlite" and isinstance(type_, sa.Date):
        return date.isoformat  # SQLAlchemy's SQLite storage format for dates, "%04d-%02d-%02d"
    return type_._cached_bind_processor(dialect)


def copy_rows(conn: Any, table: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL (psycopg2): COPY rows (values in `columns` order) into the table in the connection's transaction,
    the fastest way in (twice an INSERT from arrays, five times execute_values). A driver error is raised as
    SQLAlchemy's, as from any statement, so a repeated key is its IntegrityError."""
    import io

    import sqlalchemy as sa

    quote = conn.dialect.identifier_preparer
    sql = f"COPY {quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)}) FROM STDIN"
    buffer = io.StringIO()
    buffer.writelines("\t".join(map(copy_text, row)) + "\n" for row in rows)
    buffer.seek(0)
    dbapi = conn.dialect.dbapi
    try:
        with conn.connection.driver_connection.cursor() as cursor:
            cursor.copy_expert(sql, buffer)
    except dbapi.Error as e:
        raise sa.exc.DBAPIError.instance(sql, None, e, dbapi.Error, dialect=conn.dialect) from e


def load_uuid_type_alone() -> None:
    """eventsourcing_sqlalchemy takes only UUIDType from sqlalchemy_utils, whose package first imports all of itself
    (a third of a second: a fifth of `complaints show`). Register the package and its `types` without running their
    __init__, so that importing `sqlalchemy_utils.types.uuid` loads just that module; the first time anything asks
    either package for anything else, its __init__ runs and the answer is the real one."""
    import importlib.util
    import sys

    if "sqlalchemy_utils" in sys.modules:
        return
    _load_on_first_use("sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.mssql")
    stubs: list[tuple[Any, Any]] = []
    for name in ("sqlalchemy_utils", "sqlalchemy_utils.types"):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return
        module = importlib.util.module_from_spec(spec)
        module.__getattr__ = _completing(module, stubs)  # type: ignore[attr-defined]
        sys.modules[name] = module
        if stubs:
            stubs[-1][0].types = module
        stubs.append((module, spec))


def _load_on_first_use(*names: str) -> None:
    """UUIDType's module imports SQLAlchemy's PostgreSQL and SQL Server dialects for two type names it needs only
    when a database of theirs is opened: 40 ms, a tenth of `complaints show` on SQLite. Register them with the
    standard library's LazyLoader, so that each module runs on its first use (SQLAlchemy opening a PostgreSQL
    database uses it at once)."""
    import importlib
    import importlib.util
    import sys

    for name in names:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            continue
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        parent, _, child = name.rpartition(".")
        setattr(importlib.import_module(parent), child, module)


def _completing(module: Any, stubs: list[tuple[Any, Any]]) -> Callable[[str], Any]:
    """Run the stubs' own __init__s, the package's first (its imports complete `types` in their usual order)."""
    def __getattr__(name: str) -> Any:
        for stub, spec in stubs:
            if "__getattr__" in vars(stub):
                del stub.__getattr__
                spec.loader.exec_module(stub)
        return getattr(module, name)

    return __getattr__


def database_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the database failed mid-command (reported as one line, never a traceback)."""
    import sqlalchemy.exc
    from eventsourcing.persistence import PersistenceError

    return (sqlalchemy.exc.SQLAlchemyError, PersistenceError)


def lacks_rights(e: BaseException) -> bool:
    """The database refused for want of a privilege (PostgreSQL's insufficient_privilege, SQLSTATE 42501): a login
    in the reader role asked to write."""
    return getattr(getattr(e, "orig", None), "pgcode", None) == "42501"


def first_line(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__
