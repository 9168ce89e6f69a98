"""Erasure, checked where the bytes really are: the database's own files, not a dump (pg_dump never shows a dead row
version, so a key left in the table's data page would pass it).

PostgreSQL: the key table's heap file read back through pg_read_binary_file after a CHECKPOINT, on a server of the
test's own (whose pg_wal, as docs/postgresql.md says, still holds the key). SQLite: the file and its -wal.
"""

from __future__ import annotations

import json
import time
import uuid

import sqlalchemy as sa

from complaints_ledger.adapters.persistence import sqlite_path
from tests.e2e._cli import Cli


def _ended_case(cli: Cli, name: str) -> tuple[str, str]:
    ref = cli.receive("2026-03-02", complainant=name, summary="Damp in the bedroom")
    cli.ok("withdraw", ref, "--on", "2026-03-03", "--reason", "fixed")
    return ref, cli.show(ref)["complainant_id"]


def _pg_key_and_heap(url: str, complainant_id: str) -> tuple[bytes | None, bytes]:
    """The person's key, and the key table's heap file as it is on disk once a CHECKPOINT has written it."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE tablename LIKE '%\\_keys'")).scalar()
        key = conn.execute(sa.text(f"SELECT key FROM {keys} WHERE complainant_id = :c"),
                           {"c": complainant_id}).scalar()
        conn.exec_driver_sql("CHECKPOINT")
        heap = conn.execute(sa.text(f"SELECT pg_read_binary_file(pg_relation_filepath('{keys}'))")).scalar()
    engine.dispose()
    return (None if key is None else bytes(key)), bytes(heap)


def test_postgresql_erase_leaves_no_copy_of_the_key_in_the_table_data_file(private_pg):
    owner = Cli(private_pg.url, actor=None)  # the superuser, the tables' owner
    ref, person = _ended_case(owner, "Ada Lovelace")
    key, heap = _pg_key_and_heap(private_pg.url, person)
    assert key is not None and key in heap  # the check can see a key where it is

    owner.ok("erase", "--complainant", person, "--reason", "erasure request 2026-41")
    after, heap = _pg_key_and_heap(private_pg.url, person)
    assert after is None and owner.show(ref)["complainant"] == "[erased]"
    assert key not in heap  # not even as the dead row version UPDATE leaves behind
    # What docs/postgresql.md warns of: the write-ahead log still holds the key, until its segments are recycled.
    engine = sa.create_engine(private_pg.url)
    with engine.connect() as conn:
        wal = b"".join(bytes(conn.execute(sa.text("SELECT pg_read_binary_file('pg_wal/' || :n)"), {"n": name}).scalar())
                       for name in conn.execute(sa.text("SELECT name FROM pg_ls_waldir()")).scalars())
    engine.dispose()
    assert key in wal


def test_postgresql_a_writer_s_erasure_is_gone_from_the_data_file_once_autovacuum_has_run(private_pg):
    """A writer login may not VACUUM the key table (it does not own it): `erase` says so, and the table is set to be
    autovacuumed for a single dead row. Here autovacuum_naptime is 1 s instead of a minute."""
    private_pg.psql("ALTER SYSTEM SET autovacuum_naptime = 1")
    private_pg.psql("SELECT pg_reload_conf()")
    owner = Cli(private_pg.url, actor=None)  # the superuser, the tables' owner
    ref, person = _ended_case(owner, "Ben Okri")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    owner.ok("init", "--roles", "--role-prefix", prefix)
    private_pg.psql(f'CREATE ROLE "{prefix}_jo" LOGIN IN ROLE "{prefix}_writer"; '
                    f'ALTER ROLE "{prefix}_jo" SET role = "{prefix}_writer"')
    jo = Cli(private_pg.url.replace("postgres@", f"{prefix}_jo@", 1))
    key, heap = _pg_key_and_heap(private_pg.url, person)
    assert key in heap

    result = jo.ok("erase", "--complainant", person, "--reason", "retention period ended")
    assert "VACUUM" in result.stderr and "autovacuum" in result.stderr
    deadline = time.monotonic() + 20
    while key in heap and time.monotonic() < deadline:
        time.sleep(0.5)
        heap = _pg_key_and_heap(private_pg.url, person)[1]
    assert key not in heap, "autovacuum left the destroyed key's old row version in the data file"
    assert jo.show(ref)["complainant"] == "[erased]"


def test_sqlite_erase_leaves_no_copy_of_the_key_in_the_file_or_its_write_ahead_log(sqlite_url):
    cli = Cli(sqlite_url)
    ref, person = _ended_case(cli, "Ada Lovelace")
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        key = bytes(conn.exec_driver_sql("SELECT key FROM complaintsledger_keys WHERE complainant_id = ?",
                                         (person,)).scalar())
    engine.dispose()
    path = sqlite_path(sqlite_url)

    def on_disk() -> bytes:
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # the file, -wal and -shm

    assert key in on_disk()
    cli.ok("erase", "--complainant", person, "--reason", "erasure request 2026-41")
    assert key not in on_disk()
    assert json.loads(cli.ok("show", ref, "--format", "json").stdout)["complainant"] == "[erased]"
