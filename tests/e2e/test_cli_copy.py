"""`complaints copy --to URL` and `complaints export`, as an administrator moving a ledger would use them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters.persistence import open_ledger

from ._cli import Cli

PERIOD = ["--from", "2025-11-01", "--to", "2026-11-22"]


@pytest.fixture
def source(sqlite_cli) -> dict:
    """A small simulated ledger with an erased complainant and a live one."""
    sqlite_cli.ok("simulate", "--cases", "30", "--seed", "4", "--until", "2026-11-22")
    ada = sqlite_cli.receive("2026-03-02", complainant="Ada Quenby-Marlowe", summary="Damp in the nursery")
    sqlite_cli.ok("respond", ada, "--outcome", "upheld", "--on", "2026-03-10")
    sqlite_cli.ok("close", ada, "--on", "2026-03-11")
    sqlite_cli.ok("erase", "--complainant", sqlite_cli.show(ada)["complainant_id"], "--reason", "asked")
    ben = sqlite_cli.receive("2026-11-02", complainant="Benedict Oyelaran-Smythe", summary="Broken lift")
    return {"cli": sqlite_cli, "refs": ["CMP-2025-000001", "CMP-2026-000009", ada, ben], "ada": ada, "ben": ben}


def _same_ledger(a: Cli, b: Cli, refs: list[str]) -> None:
    assert a.ok("stats", *PERIOD, "--by", "month", "--format", "json").stdout == \
        b.ok("stats", *PERIOD, "--by", "month", "--format", "json").stdout
    assert [a.show(ref, as_of="2026-11-22") for ref in refs] == [b.show(ref, as_of="2026-11-22") for ref in refs]
    assert a.ok("verify").stdout == b.ok("verify").stdout  # same events, aggregates and root


def test_copy_to_postgresql_and_back_gives_the_same_ledger_which_then_carries_on(source, pg_url, tmp_path):
    src, refs = source["cli"], source["refs"]
    events = src.event_count()
    out = src.ok("copy", "--to", pg_url)
    assert out.stderr == ""  # no progress bar when nobody is watching
    summary = out.stdout.splitlines()
    assert summary[0].startswith(f"copied {events} events (32 cases; position {events}) from sqlite:///")
    assert summary[1].startswith("verify: ok; stats identical (")

    on_postgres = Cli(pg_url)
    _same_ledger(src, on_postgres, refs)
    back = Cli(f"sqlite:///{tmp_path / 'back.db'}")
    assert "verify: ok; stats identical" in on_postgres.ok("copy", "--to", back.url).stdout
    _same_ledger(src, back, refs)

    for copy in (on_postgres, back):
        assert copy.show(source["ada"])["complainant"] == "[erased]"
        assert copy.show(source["ben"])["complainant"] == "Benedict Oyelaran-Smythe"
        new = copy.receive("2026-11-20", complainant="Cal New")
        assert new == f"CMP-2026-{int(source['ben'][-6:]) + 1:06d}"
        assert json.loads(copy.ok("verify", "--format", "json").stdout)["position"] > events


def test_copy_refuses_a_target_that_holds_events_or_cannot_be_reached_and_writes_nothing(source, cli):
    src = source["cli"]
    cli.receive("2026-03-02")
    before = cli.event_count()
    error = src.fails("copy", "--to", cli.url)
    assert error.startswith("Error: the target already holds ") and "nothing was written" in error
    assert cli.event_count() == before
    assert "cannot open the ledger at postgresql+psycopg2://postgres@127.0.0.1:1/test" in src.fails(
        "copy", "--to", "postgresql://postgres:pw@127.0.0.1:1/test")
    assert "does not exist" in src.fails("copy", "--to", "/no/such/folder/ledger.db")


def test_a_tampered_ledger_copies_but_the_copy_is_reported_not_to_verify(source, tmp_path):
    src = source["cli"]
    engine = sa.create_engine(src.url)
    with engine.begin() as conn:  # someone with the owner's rights drops the trigger and edits an event
        conn.exec_driver_sql("DROP TRIGGER complaintsledger_events_no_update")
        conn.exec_driver_sql("UPDATE complaintsledger_events SET state = CAST(state || ' ' AS BLOB) WHERE id = 40")
    engine.dispose()
    result = src("copy", "--to", f"sqlite:///{tmp_path / 'copy.db'}")
    assert result.exit_code == 1 and "verify: FAILED" in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the copy at sqlite:///") and \
        "does not verify: 2 broken link(s)" in lines[0] and "the source has exactly the same breaks" in lines[0]


def _count_rows(url: str) -> dict[str, int]:
    from complaints_ledger.adapters import migration

    ledger = open_ledger(url)
    try:
        with ledger.recorder.datastore.engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t.table)).scalar()
                    for t in migration._present(conn, migration.ledger_tables(ledger))}
    finally:
        ledger.close()


def test_export_writes_every_owned_row_and_the_keys_only_when_asked(source, tmp_path):
    src = source["cli"]
    counts = _count_rows(src.url)
    plain = src.ok("export")
    assert plain.stderr.splitlines() == ["note: the personal data in this export is sealed and cannot be read "
                                         "without the keys (--include-keys)"]
    lines = [json.loads(line) for line in plain.stdout.splitlines()]
    header = lines[0]
    assert header["position"] == src.event_count() and header["database"] == "sqlite"
    assert header["tables"] == {k: v for k, v in counts.items() if k != "keys"}
    assert len(lines) == 1 + sum(header["tables"].values())
    for personal in ("Quenby-Marlowe", "Oyelaran-Smythe", "Damp in the nursery", "Broken lift"):
        assert personal not in plain.stdout  # (not "Ada": three letters turn up in random base64 now and then)

    path = tmp_path / "with-keys.jsonl"
    keyed = src.ok("export", "--include-keys", "--output", str(path))
    assert keyed.stdout == "" and "note:" not in keyed.stderr and str(path) in keyed.stderr
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["tables"] == counts and len(lines) == 1 + sum(counts.values())
    keys = [json.loads(line)["row"] for line in lines[1:] if json.loads(line)["table"] == "keys"]
    assert len(keys) == counts["keys"] and sum(k["key"] is None for k in keys) == 1  # Ada's key: erased
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(Path(tmp_path).glob(".*.partial"))


def test_copying_a_one_case_ledger_says_one_case(sqlite_cli, tmp_path):
    sqlite_cli.receive("2026-03-02")

    out = sqlite_cli.ok("copy", "--to", f"sqlite:///{tmp_path / 'copy.db'}").stdout

    assert out.startswith(f"copied {sqlite_cli.event_count()} events (1 case; position ")
