"""Where the ledger lives: a database URL becomes a configured ComplaintsLedger.

SQLite files are the embedded default; PostgreSQL (psycopg2) for several users at once. eventsourcing-sqlalchemy is
imported only here, and only when a ledger is opened, because it is slow to import.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..domain.errors import LedgerUnavailable
from ..domain.ledger import ComplaintsLedger
from . import policy_files

DEFAULT_URL = "sqlite:///complaints.db"


def normalise_url(url: str | None) -> str:
    """Accept a URL, or a bare path meaning an SQLite file; psycopg2 is the PostgreSQL driver."""
    url = (url or os.environ.get("COMPLAINTS_DB") or DEFAULT_URL).strip()
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def sqlite_path(url: str) -> Path | None:
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


def open_ledger(url: str | None = None, *, create: bool = True,
                today: Callable[[], date] = date.today) -> ComplaintsLedger:
    """Open (and, if `create`, set up) the ledger at `url`; a missing or unreachable one is one clear error."""
    url = normalise_url(url)
    path = sqlite_path(url)
    if path is not None:
        if not create and not path.exists():
            raise LedgerUnavailable(f"no ledger at {path}: run 'complaints init' first (or pass --db)")
        if not path.parent.exists():
            raise LedgerUnavailable(f"cannot create a ledger at {path}: folder {path.parent} does not exist")
    env = {
        "PERSISTENCE_MODULE": "complaints_ledger.adapters.chained_recorder:ChainedFactory",
        "SQLALCHEMY_URL": url,
        "CREATE_TABLE": "y",
    }
    try:
        import sqlalchemy.exc
        from eventsourcing.persistence import PersistenceError
    except ImportError as e:  # pragma: no cover - broken install
        raise LedgerUnavailable(f"the database libraries are not installed: {e}") from None
    try:
        ledger = ComplaintsLedger(env, policies=policy_files.load_shipped, today=today)
        ledger.recorder.max_notification_id()  # touch the database now, not half-way through a command
        engine = ledger.recorder.datastore.engine
        if engine.dialect.name == "postgresql":
            from .notify import Listener

            events_table = ledger.recorder.events_table_name
            ledger.waiter_factory = lambda: Listener(engine, events_table)
    except (sqlalchemy.exc.SQLAlchemyError, PersistenceError, OSError) as e:
        raise LedgerUnavailable(f"cannot open the ledger at {redact(url)}: {scrub(first_line(e), url)}") from None
    except ValueError as e:
        raise LedgerUnavailable(f"cannot open the ledger at {redact(url)}: {scrub(str(e), url)}") from None
    return ledger


def authenticated_user(ledger: ComplaintsLedger) -> str | None:
    """The login PostgreSQL authenticated (session_user: SET ROLE does not change it); None on SQLite, which has
    no users."""
    engine = ledger.recorder.datastore.engine
    if engine.dialect.name != "postgresql":
        return None
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


def first_line(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__
