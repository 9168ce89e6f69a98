"""`complaints init --roles` on PostgreSQL: a writer login records complaints and keeps the read models (rebuilds
included) but the database refuses it any change to the audit trail; a reader login can only read."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL
from tests.e2e._cli import Cli


@pytest.fixture
def logins(pg_url):
    """Roles with a test-unique prefix, and one login in each; all dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    names = {"writer": f"{prefix}_jo", "reader": f"{prefix}_ana"}
    yield prefix, {kind: pg_url.replace("postgres@", f"{name}@", 1) for kind, name in names.items()}, names
    with admin.connect() as conn:
        for role in [*names.values(), f"{prefix}_writer", f"{prefix}_reader"]:
            if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
                conn.exec_driver_sql(f'DROP OWNED BY "{role}" CASCADE')
                conn.exec_driver_sql(f'DROP ROLE "{role}"')
    admin.dispose()


def test_init_roles_gives_a_writer_that_cannot_rewrite_history_and_a_reader_that_only_reads(pg_url, logins):
    prefix, urls, names = logins
    admin = Cli(pg_url)
    first = admin.receive("2026-03-02")
    admin.ok("list")  # read models exist before the roles: the writer must still be able to rebuild them
    out = admin.ok("init", "--roles", "--role-prefix", prefix).stdout
    assert f"{prefix}_writer" in out and f"{prefix}_reader" in out
    admin.ok("init", "--roles", "--role-prefix", prefix)  # safe to re-run
    admin.ok("events", "--cursor", "ops")  # the owner moves a cursor first: its table must stay the writers' too
    _logins_in_roles(prefix, names)

    jo = Cli(urls["writer"])
    ref = jo.receive("2026-03-03")
    jo.ok("acknowledge", first, "--on", "2026-03-04")
    listed = {line.split(",")[0] for line in jo.ok("list", "--format", "csv").stdout.splitlines()[1:]}
    assert listed == {first, ref}
    jo.ok("projections", "rebuild")
    jo.ok("verify")

    writer = sa.create_engine(urls["writer"])
    with writer.connect() as conn:
        events = conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                                      "AND tablename LIKE '%\\_events'")).scalar()
    for statement, refusal in [
        (f"UPDATE {events} SET topic = topic", "append-only"),
        (f"DELETE FROM {events}", "permission denied"),
        (f"TRUNCATE {events}", "permission denied"),
        (f"DELETE FROM {events}_chain", "permission denied"),
        (f"UPDATE {events}_chain SET hash = hash", "permission denied"),
        (f"DROP TRIGGER {events}_append_only ON {events}", "must be owner"),
        (f"DROP TABLE {events}", "must be owner"),
    ]:
        with writer.connect() as conn, pytest.raises(sa.exc.DBAPIError, match=refusal):
            conn.exec_driver_sql(statement)
    writer.dispose()

    reader = sa.create_engine(urls["reader"])
    with reader.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM {events}").scalar() == Cli(pg_url).event_count()
        assert conn.exec_driver_sql("SELECT count(*) FROM rm_case_status_a UNION ALL "
                                    "SELECT count(*) FROM rm_case_status_b").all()
    with reader.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="permission denied"):
        conn.exec_driver_sql(f"INSERT INTO {events}_chain VALUES ('\\x00', 1, '\\x00')")
    keys = events.replace("_events", "_keys")
    with reader.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="permission denied"):
        conn.exec_driver_sql(f"SELECT count(*) FROM {keys}")  # personal data stays sealed for readers
    reader.dispose()
    read = Cli(urls["reader"]).ok("verify")
    assert read.stdout.startswith("verified: ")
    assert "may not read the key table" in read.stderr  # the key check it could not make is said, not skipped quietly
    assert Cli(urls["reader"]).ok("verify", first).stdout.startswith("verified: ")  # naming a case unseals nothing
    assert "no complaint" in Cli(urls["reader"]).fails("verify", "CMP-2026-999999")

    # The event stream: a reader may not see personal data, and is told how to read without it.
    ana = Cli(urls["reader"])
    assert "may not read personal data" in ana.fails("events")
    streamed = [json.loads(line) for line in ana.ok("events", "--without-personal-data").stdout.splitlines()]
    assert streamed[0]["details"]["complainant"] == "[withheld]" and len(streamed) == 3
    assert [json.loads(line)["event"] for line in jo.ok("events", "--cursor", "crm").stdout.splitlines()] == [
        "Received", "Received", "Acknowledged"]  # the writer keeps cursors (and reads personal data)
    assert [json.loads(line)["event"] for line in jo.ok("events", "--cursor", "ops").stdout.splitlines()] == [
        "Received", "Acknowledged"]  # and carries on from where the owner's run of the same cursor stopped


def test_roles_are_refused_on_sqlite_with_one_clear_line(sqlite_url):
    assert "PostgreSQL" in Cli(sqlite_url).fails("init", "--roles")


READS = [
    pytest.param(["list"], id="list"),
    pytest.param(["list", "--format", "csv"], id="list-csv"),
    pytest.param(["breaches"], id="breaches"),
    pytest.param(["stats", "--format", "json"], id="stats"),
    pytest.param(["report", "committee", "--format", "json"], id="report-committee"),
    pytest.param(["report", "annual", "--year", "2025", "--homes", "100", "--format", "json"], id="report-annual"),
    pytest.param(["projections", "status"], id="projections-status"),
    pytest.param(["verify"], id="verify"),
]


def _logins_in_roles(prefix: str, names: dict[str, str]) -> None:
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{names["writer"]}" LOGIN IN ROLE "{prefix}_writer"')
        conn.exec_driver_sql(f'ALTER ROLE "{names["writer"]}" SET role = "{prefix}_writer"')
        conn.exec_driver_sql(f'CREATE ROLE "{names["reader"]}" LOGIN IN ROLE "{prefix}_reader"')
    engine.dispose()


@pytest.mark.parametrize("command", READS)
def test_on_a_fresh_ledger_the_reader_login_reads_at_once_after_init_roles(pg_url, logins, command):
    prefix, urls, names = logins
    Cli(pg_url).ok("init", "--roles", "--role-prefix", prefix)  # nothing else has run: no case, no read model
    _logins_in_roles(prefix, names)

    result = Cli(urls["reader"]).ok(*command)

    assert "permission denied" not in result.stderr


def test_the_reader_still_reads_when_writers_have_recorded_cases_since_the_read_models_were_last_brought_up(
        pg_url, logins):
    prefix, urls, names = logins
    Cli(pg_url).ok("init", "--roles", "--role-prefix", prefix)
    _logins_in_roles(prefix, names)
    ref = Cli(urls["writer"]).receive("2026-03-02")  # a write does not bring the read models up to date

    ana = Cli(urls["reader"])
    behind = ana.ok("list", "--format", "csv")

    assert behind.stdout.splitlines()[1:] == []  # what the read models hold; the reader may not move them on
    assert "behind" in behind.stderr and "projections follow" in behind.stderr
    Cli(urls["writer"]).ok("list")  # a writer's read brings them up to date, for everyone
    assert [line.split(",")[0] for line in ana.ok("list", "--format", "csv").stdout.splitlines()[1:]] == [ref]


def test_the_reader_has_no_right_beyond_reading_the_read_models(pg_url, logins):
    prefix, urls, names = logins
    Cli(pg_url).ok("init", "--roles", "--role-prefix", prefix)
    _logins_in_roles(prefix, names)

    reader = sa.create_engine(urls["reader"])
    with reader.connect() as conn:
        tables = conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                              ).scalars().all()
        rights = {table: conn.execute(sa.text(
            "SELECT array_agg(p) FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p "
            "WHERE has_table_privilege(current_user, :t, p)"), {"t": table}).scalar() for table in tables}
        may_create = conn.execute(sa.text("SELECT has_schema_privilege(current_user, current_schema(), 'CREATE')")
                                  ).scalar()
    reader.dispose()
    assert {t for t in tables if t.startswith("rm_")} and "projection_state" in tables
    assert rights == {table: None for table in tables}
    assert not may_create


def test_verified_checkpoints_are_kept_by_a_writers_verify_and_cannot_be_written_by_a_reader(pg_url, logins):
    prefix, urls, names = logins
    admin = Cli(pg_url)
    admin.receive("2026-03-02")
    admin.ok("verify")  # the owner keeps the first checkpoint before any role exists
    admin.ok("init", "--roles", "--role-prefix", prefix)
    _logins_in_roles(prefix, names)
    Cli(urls["writer"]).receive("2026-03-03")

    Cli(urls["writer"]).ok("verify")  # a writer's clean verify keeps the next one
    Cli(urls["reader"]).ok("verify")  # a reader verifies in full, and keeps none

    owner = sa.create_engine(pg_url)
    with owner.connect() as conn:
        table = conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                                     "AND tablename LIKE '%\\_checkpoints'")).scalar()
        kept = conn.execute(sa.text(f"SELECT events FROM {table} ORDER BY position")).scalars().all()
        public = conn.execute(sa.text(
            "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = to_regclass(:t) "
            "AND a.grantee = 0"), {"t": table}).scalar()
    owner.dispose()
    assert len(kept) == 2 and kept[0] < kept[1]  # the owner's, then the writer's over the writer's new case
    assert public == 0  # rights on the checkpoints go to the roles, none to every login (PUBLIC)
    reader = sa.create_engine(urls["reader"])
    with reader.connect() as conn:
        rights = conn.execute(sa.text(
            "SELECT array_agg(p) FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p "
            "WHERE has_table_privilege(current_user, :t, p)"), {"t": table}).scalar()
    reader.dispose()
    assert rights is None
