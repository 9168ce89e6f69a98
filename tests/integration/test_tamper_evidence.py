"""Tamper evidence, on SQLite and PostgreSQL: the database refuses UPDATE and DELETE on the audit trail; someone
who gets past that (by dropping the triggers, as a database owner could) is caught by `complaints verify`, which
names the case, through its own chain and the ledger-wide log chain; and a digest kept outside the database names
what changed. tests/faults/test_insiders.py has the insiders who recompute the chains."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.domain.complaint import complaint_id
from tests.e2e._cli import Cli


@pytest.fixture
def cli(db_url) -> Cli:
    return Cli(db_url)


@pytest.fixture
def cases(cli) -> list[str]:
    """Three cases of five events each (received, acknowledged, contacted, responded, closed)."""
    refs = []
    for n in range(3):
        ref = cli.receive("2026-03-02", complainant=f"Resident {n}")
        cli.ok("acknowledge", ref, "--on", "2026-03-03")
        cli.ok("contact", ref, "--on", "2026-03-04")
        cli.ok("respond", ref, "--outcome", "upheld", "--on", "2026-03-09")
        cli.ok("close", ref, "--on", "2026-03-10")
        refs.append(ref)
    return refs


class Attacker:
    """Someone with the database owner's rights: drops the append-only triggers, then edits rows directly."""

    def __init__(self, url: str):
        ledger = open_ledger(url)
        recorder = ledger.recorder
        self.engine: sa.Engine = recorder.datastore.engine
        self.events = recorder.events_record_cls.__table__
        self.chain = recorder.chain
        self.log = recorder.log
        self.ledger = ledger

    def position(self, ref: str, version: int) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(self.events.c.id).where(self.where(ref, version))).scalar()

    def drop_triggers(self) -> None:
        with self.engine.begin() as conn:
            for table in (self.events.name, self.chain.name, self.log.name):
                if self.engine.dialect.name == "sqlite":
                    conn.exec_driver_sql(f"DROP TRIGGER {table}_no_update")
                    conn.exec_driver_sql(f"DROP TRIGGER {table}_no_delete")
                else:
                    conn.exec_driver_sql(f"DROP TRIGGER {table}_append_only ON {table}")

    def where(self, ref: str, version: int):
        e = self.events.c
        return sa.and_(e.originator_id == complaint_id(ref), e.originator_version == version)

    def execute(self, statement) -> int:
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount


@pytest.fixture
def attacker(db_url, cases) -> Attacker:
    return Attacker(db_url)


def test_an_untouched_ledger_verifies_and_so_does_each_case(cli, cases):
    out = cli.ok("verify").stdout
    assert out.startswith("verified: ") and "BROKEN" not in out
    assert cli.ok("verify", cases[1]).stdout.startswith("verified: 5 events of 1 aggregate")
    report = json.loads(cli.ok("verify", "--format", "json").stdout)
    assert report["ok"] and report["events"] == cli.event_count() and not report["breaks"]


def test_the_database_itself_refuses_update_delete_and_truncate_of_events(attacker, cases, cli):
    e = attacker.events
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        attacker.execute(e.update().where(attacker.where(cases[0], 2)).values(topic="x"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        attacker.execute(e.delete().where(attacker.where(cases[0], 2)))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        attacker.execute(attacker.chain.delete())
    if attacker.engine.dialect.name == "postgresql":  # SQLite has no TRUNCATE: DELETE without WHERE, refused above
        for table in (e, attacker.chain, attacker.log):  # as the tables' owner (a superuser here), not only a writer
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                attacker.execute(sa.text(f"TRUNCATE {table.name}"))
    assert "BROKEN" not in cli.ok("verify").stdout


def _broken(cli: Cli) -> list[str]:
    """The BROKEN lines of `verify` about the events: the triggers the attacker dropped are reported too (each
    test checks that once), and put back by the open."""
    result = cli("verify")
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: the audit trail is broken")
    lines = [line for line in result.stdout.splitlines() if line.startswith("BROKEN")]
    dropped = [line for line in lines if line.startswith("BROKEN  append-only trigger ")]
    assert len(dropped) in (0, 3, 6) and all("was missing (re-created by this open)" in line for line in dropped)
    return [line for line in lines if line not in dropped]


def test_changing_the_bytes_of_an_event_is_found_and_names_the_case(cli, attacker, cases):
    attacker.drop_triggers()
    e = attacker.events
    with attacker.engine.connect() as conn:
        state = bytes(conn.execute(sa.select(e.c.state).where(attacker.where(cases[1], 3))).scalar())
    forged = state.replace(b"2026-03-04", b"2026-03-03")
    assert forged != state
    attacker.execute(e.update().where(attacker.where(cases[1], 3)).values(state=forged))

    assert _broken(cli) == [f"BROKEN  {cases[1]} version 4: its link does not match version 3 (that event was "
                            "changed, removed or swapped)",
                            f"BROKEN  {cases[1]} version 3: at position {attacker.position(cases[1], 3)}: changed "
                            "since the ledger-wide log chain recorded it"]
    assert cli("verify", cases[0]).exit_code == 0  # the other cases are intact


def test_changing_a_case_s_last_event_is_found_through_its_recorded_head(cli, attacker, cases):
    attacker.drop_triggers()
    e = attacker.events
    with attacker.engine.connect() as conn:
        state = bytes(conn.execute(sa.select(e.c.state).where(attacker.where(cases[2], 5))).scalar())
    attacker.execute(e.update().where(attacker.where(cases[2], 5))
                     .values(state=state.replace(b"2026-03-10", b"2026-03-05")))

    assert _broken(cli) == [f"BROKEN  {cases[2]} version 5: changed since it was recorded",
                            f"BROKEN  {cases[2]} version 5: at position {attacker.position(cases[2], 5)}: changed "
                            "since the ledger-wide log chain recorded it"]


def test_deleting_an_event_is_found(cli, attacker, cases):
    attacker.drop_triggers()
    position = attacker.position(cases[0], 2)
    attacker.execute(attacker.events.delete().where(attacker.where(cases[0], 2)))

    lines = _broken(cli)
    assert len(lines) == 2 and lines[0].startswith(f"BROKEN  {cases[0]} version 2: missing: version 3 follows")
    assert lines[1] == (f"BROKEN  {cases[0]} version 2: missing: the log chain recorded version 2 at position "
                        f"{position}; the event is gone (removed)")


def test_swapping_two_events_versions_is_found(cli, attacker, cases):
    attacker.drop_triggers()
    e = attacker.events
    third, fourth = attacker.position(cases[1], 3), attacker.position(cases[1], 4)
    attacker.execute(e.update().where(attacker.where(cases[1], 3)).values(originator_version=99))
    attacker.execute(e.update().where(attacker.where(cases[1], 4)).values(originator_version=3))
    attacker.execute(e.update().where(attacker.where(cases[1], 99)).values(originator_version=4))

    lines = _broken(cli)
    assert lines == [f"BROKEN  {cases[1]} version 3: its link does not match version 2 (that event was changed, "
                     "removed or swapped)",
                     f"BROKEN  {cases[1]} version 4: at position {third}: the log chain recorded its version 3 at "
                     "this position, not this event (events moved between positions, or replaced)",
                     f"BROKEN  {cases[1]} version 3: at position {fourth}: the log chain recorded its version 4 at "
                     "this position, not this event (events moved between positions, or replaced)"]


def test_truncating_a_case_after_a_digest_is_found_by_the_digest_even_with_its_heads_rewritten(
        cli, attacker, cases, tmp_path):
    digest = tmp_path / "digest.json"
    cli.ok("verify", "--digest", "--output", str(digest))
    # Later work: the old digest still proves the ledger of then is contained in the ledger now.
    cli.ok("acknowledge", cli.receive("2026-03-05"), "--on", "2026-03-06")
    assert "contained unchanged" in cli.ok("verify", "--against", str(digest)).stdout

    attacker.drop_triggers()
    position = attacker.position(cases[0], 5)
    attacker.execute(attacker.events.delete().where(attacker.where(cases[0], 5)))
    gone = (f"BROKEN  {cases[0]} version 5: missing: the log chain recorded version 5 at position {position}; the "
            "event is gone (removed)")
    assert _broken(cli) == [f"BROKEN  {cases[0]} version 5: missing: version 5 was recorded, the case now ends at "
                            "version 4 (events removed from its end)", gone]
    # The careful attacker also removes the recorded head (dropping the triggers again: opening the ledger re-arms
    # them): the case's own chain now looks whole, but the ledger-wide log still has the event's row...
    attacker.drop_triggers()
    chain, log = attacker.chain, attacker.log
    attacker.execute(chain.delete().where(chain.c.originator_id == complaint_id(cases[0]).bytes,
                                          chain.c.originator_version == 5))
    assert _broken(cli) == [gone]
    # ...and without it, the next row of the log still names the position before it.
    attacker.drop_triggers()
    attacker.execute(log.delete().where(log.c.position == position))
    [line] = _broken(cli)  # named by the event after it (here the reference sequence's)
    assert line.endswith(f"at position {position + 1}: the log chain says position {position} came before it, which "
                         "has neither its event nor its log row any more (removed)")
    # The digest kept outside the database names the case as well.
    result = cli("verify", "--against", str(digest))
    assert result.exit_code == 1
    assert f"BROKEN  {cases[0]} version 5: the digest recorded it at version 5, the ledger has version 4" \
        in result.stdout


def test_a_digest_file_that_is_not_one_is_one_clear_error(cli, cases, tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": 1}')
    assert cli.fails("verify", "--against", str(bad)).startswith(f"Error: cannot read the digest {bad}")


def test_the_committee_report_carries_the_digest_that_verify_gives(cli, cases):
    report = json.loads(cli.ok("report", "committee", "--from", "2026-03-01", "--to", "2026-03-31",
                               "--format", "json").stdout)
    digest = json.loads(cli.ok("verify", "--digest").stdout)
    assert report["source"]["events"] == digest["position"]
    assert report["source"]["digest"] == digest["root"] and report["source"]["broken"] == 0
