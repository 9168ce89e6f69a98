"""The promises of `copy` and `export --output` where something had already been written (docs/postgresql.md):
"a failed copy leaves the target as empty as it was" and "--output writes the file whole or not at all". A real
`complaints copy` is killed by kill -9 once its rows are going into the target (SQLite and PostgreSQL targets), and
a copy whose target fails on its third batch is rolled back; a real `complaints export --output F` is killed once the
file is being written, leaving F as it was. Each is followed by the command run again, which then succeeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters import migration, simulation
from complaints_ledger.adapters.persistence import open_ledger
from tests.e2e._cli import Cli

from ._kill import Peek, complaints, killed, seeded

UNTIL = "2026-06-30"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> str:
    """An SQLite ledger big enough that copying or exporting it takes a moment (about 10,000 events)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('source') / 'source.db'}"
    from datetime import date

    ledger = open_ledger(url, today=lambda: date(2026, 6, 30))
    try:
        simulation.build(ledger, cases=1500, seed=3, actor="simulator", until=date(2026, 6, 30))
    finally:
        ledger.close()
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path) -> str:
    """An empty ledger to copy into: made first (as `init` makes it), so that only the copy's rows can fill it."""
    url = f"sqlite:///{tmp_path / 'target.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    Cli(url).ok("init")
    return url


def writing_into(url: str, peek: Peek) -> bool:
    """Rows of the copy's (uncommitted) transaction are reaching the target's storage."""
    if url.startswith("sqlite"):
        wal = Path(url.removeprefix("sqlite:///") + "-wal")
        return wal.exists() and wal.stat().st_size > 256 * 1024  # past the page cache: rows are being written
    return peek.scalar("SELECT pg_relation_size('complaintsledger_events')") > 64 * 1024


def test_a_copy_killed_while_its_rows_go_in_leaves_the_target_as_empty_as_it_was(source, target):
    rng = seeded("copy kill")
    peek = Peek(target)
    try:
        events = Peek(source).events()
        landed, err = killed(complaints(source, "copy", "--to", target), ready=lambda: writing_into(target, peek),
                             delay=rng.uniform(0.0, 0.05))
        assert "Traceback" not in err
        assert landed, "the copy finished before it could be killed"
        assert peek.events() in (0, events)  # killed after its commit, it is whole: the checks are what is lost
        if peek.events() == 0:
            assert peek.scalar("SELECT count(*) FROM complaintsledger_events_chain") == 0
            out = Cli(source).ok("copy", "--to", target).stdout  # as empty as it was: a copy goes in again
            assert "verify: ok; stats identical" in out
            assert peek.events() == events
    finally:
        peek.close()


def test_a_copy_whose_target_fails_on_its_third_batch_writes_nothing_there(source, target, monkeypatch):
    calls = []
    real_insert = migration._insert

    def failing(conn, table, rows):
        calls.append(table.name)
        if len(calls) == 3:
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))
        real_insert(conn, table, rows)

    monkeypatch.setattr(migration, "_insert", failing)
    src = open_ledger(source)
    try:
        with pytest.raises(sa.exc.OperationalError):
            migration.copy_ledger(src, target)
        assert len(calls) == 3 and calls[:2] == ["complaintsledger_events"] * 2  # two batches went in first
        peek = Peek(target)
        try:
            assert (peek.events(), peek.scalar("SELECT count(*) FROM complaintsledger_events_chain")) == (0, 0)
        finally:
            peek.close()
        monkeypatch.undo()
        assert migration.copy_ledger(src, target).ok
    finally:
        src.close()


def test_an_export_killed_while_writing_leaves_the_previous_file_intact_and_never_a_truncated_one(source,
                                                                                                  tmp_path):
    rng = seeded("export kill")
    output = tmp_path / "ledger.jsonl"
    previous = b'{"format": "complaints-ledger-export", "an earlier export": true}\n' * 100
    output.write_bytes(previous)
    partial = output.with_name(f".{output.name}.partial")

    def being_written() -> bool:
        return partial.exists() and partial.stat().st_size > 0 or output.read_bytes() != previous

    landed, err = killed(complaints(source, "export", "--output", str(output)), ready=being_written,
                         delay=rng.uniform(0.0, 0.02))
    assert "Traceback" not in err
    assert landed, "the export finished before it could be killed"
    written = output.read_bytes()
    if written != previous:  # killed after the file was whole: a complete export, never a part of one
        assert_whole_export(output)

    Cli(source).ok("export", "--output", str(output))
    assert_whole_export(output)
    assert not partial.exists()  # what the killed one left beside it is replaced and renamed away


def assert_whole_export(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "complaints-ledger-export"
    assert len(lines) - 1 == sum(header["tables"].values())
    assert all(json.loads(line)["table"] for line in lines[1:])
