"""Keys only the erasure path can touch (PostgreSQL, after `init --roles`): a writer login, working with raw SQL as an
insider, can neither delete nor overwrite a person's key, nor call the key-destroying function without the erasure
being recorded; `erase` from that same login works, records the erasure and destroys the key in one transaction; and
a key lost some other way (the tables' owner, a bad restore) makes `verify` fail, naming the person."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL
from tests.e2e._cli import Cli, error_line


@pytest.fixture
def writer_login(pg_url):
    """Roles with a test-unique prefix and one writer login acting as the group; all dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    login = f"{prefix}_jo"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")

    def make() -> str:
        Cli(pg_url).ok("init", "--roles", "--role-prefix", prefix)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE ROLE "{login}" LOGIN IN ROLE "{prefix}_writer"')
            conn.exec_driver_sql(f'ALTER ROLE "{login}" SET role = "{prefix}_writer"')
        return pg_url.replace("postgres@", f"{login}@", 1)

    make.prefix = prefix
    yield make
    with admin.connect() as conn:
        for role in [login, f"{prefix}_writer", f"{prefix}_reader"]:
            if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
                conn.exec_driver_sql(f'DROP OWNED BY "{role}" CASCADE')
                conn.exec_driver_sql(f'DROP ROLE "{role}"')
    admin.dispose()


def _tables(url: str) -> tuple[str, str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        events = conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                                      "AND tablename LIKE '%\\_events'")).scalar()
    engine.dispose()
    return events, events.replace("_events", "_keys")


def _key(url: str, keys: str, complainant_id: str) -> bytes | None:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(sa.text(f"SELECT key FROM {keys} WHERE complainant_id = :c"),
                             {"c": complainant_id}).scalar()
    engine.dispose()
    return None if value is None else bytes(value)


def test_the_writer_cannot_destroy_a_key_except_by_recording_its_erasure(pg_url, writer_login):
    admin = Cli(pg_url)
    open_ref = admin.receive("2026-03-02", complainant="Ada Lovelace", summary="Damp in the bedroom")
    ended = admin.receive("2026-03-03", complainant="Ben Okri", summary="Broken lift")
    admin.ok("withdraw", ended, "--on", "2026-03-04", "--reason", "fixed")
    jo = Cli(writer_login())
    ada, ben = admin.show(open_ref)["complainant_id"], admin.show(ended)["complainant_id"]
    events, keys = _tables(pg_url)
    # A ledger given roles before keys were protected had the writer own the key table: init --roles takes it back.
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'ALTER TABLE {keys} OWNER TO "{writer_login.prefix}_writer"')
    engine.dispose()
    admin.ok("init", "--roles", "--role-prefix", writer_login.prefix)
    ada_key = _key(pg_url, keys, ada)

    writer = sa.create_engine(jo.url)
    with writer.connect() as conn:
        subject_id = conn.execute(sa.text(
            f"SELECT originator_id FROM {events} WHERE originator_version = 1 AND topic LIKE "
            "'%DataSubject.Registered' AND convert_from(substring(state from 37), 'UTF8')::jsonb ->> "
            "'complainant_id' = :c"), {"c": ada}).scalar()
    for statement, refusal in [
        (f"DELETE FROM {keys} WHERE complainant_id = '{ada}'", "permission denied"),
        (f"UPDATE {keys} SET key = NULL WHERE complainant_id = '{ada}'", "permission denied"),
        (f"TRUNCATE {keys}", "permission denied"),
        (f"ALTER TABLE {keys} DISABLE TRIGGER ALL", "must be owner"),
        (f"SELECT {keys}_destroy('{ada}', '{subject_id}')", "no erasure of complainant"),
        (f"SELECT {keys}_destroy('{ben}', '{subject_id}')", "no data subject"),  # someone else's erasure: no
    ]:
        with writer.connect() as conn, pytest.raises(sa.exc.DBAPIError, match=refusal):
            conn.exec_driver_sql(statement)
    writer.dispose()
    assert _key(pg_url, keys, ada) == ada_key
    assert jo.show(open_ref)["complainant"] == "Ada Lovelace"
    jo.ok("verify")

    # The writer's own erase: recorded with the login as actor, and the key destroyed with it.
    result = jo.ok("erase", "--complainant", ben, "--reason", "erasure request 2026-41")
    assert _key(pg_url, keys, ben) is None and jo.show(ended)["complainant"] == "[erased]"
    erased = [e for e in jo.ok("events", "--event", "PersonalDataErased").stdout.splitlines()]
    assert len(erased) == 1 and jo.url.split("//")[1].split("@")[0] in erased[0]
    assert "VACUUM" in result.stderr  # a writer may not VACUUM: it is told what stays on disk until autovacuum
    jo.ok("verify")


def test_verify_names_a_key_lost_without_an_erasure(db_url):
    cli = Cli(db_url)
    ref = cli.receive("2026-03-02", complainant="Ada Lovelace", summary="Damp in the bedroom")
    other = cli.receive("2026-03-03", complainant="Ben Okri", summary="Broken lift")
    cli.ok("withdraw", other, "--on", "2026-03-04", "--reason", "fixed")
    ada, ben = cli.show(ref)["complainant_id"], cli.show(other)["complainant_id"]
    cli.ok("erase", "--complainant", ben, "--reason", "asked")
    cli.ok("verify")  # an erased key is not a lost one
    events, keys = _tables(db_url) if db_url.startswith("postgresql") else ("", "complaintsledger_keys")
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:  # the tables' owner (or anyone with the SQLite file) deletes Ada's key
        conn.exec_driver_sql(f"DELETE FROM {keys} WHERE complainant_id = '{ada}'")
    engine.dispose()
    assert cli.show(ref)["complainant"] == "[key missing]"
    result = cli("verify")
    assert result.exit_code != 0
    assert f"personal data key for {ada} is missing but no erasure was recorded" in result.stdout
    assert ben not in result.stdout
    assert "broken" in error_line(result)
