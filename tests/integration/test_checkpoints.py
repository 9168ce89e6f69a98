"""Verified checkpoints, on SQLite and PostgreSQL: a clean `complaints verify` leaves one, and the reports' source
check (checkpoints.source_digest) takes over from it: the same digest as a full verify, the events after it checked
in full, and a checkpoint edited with SQL, a log row rewritten at its position or an event changed after it each
found."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters import audit, checkpoints
from tests.integration.test_tamper_evidence import Attacker, cases, cli  # noqa: F401 - fixtures


def _more(cli, ref: str) -> None:
    """A few events after the checkpoint: a new case, taken a step on."""
    new = cli.receive("2026-03-20", complainant="Resident later")
    cli.ok("acknowledge", new, "--on", "2026-03-21")
    cli.ok("contact", new, "--on", "2026-03-22")


def _table(attacker: Attacker) -> sa.Table:
    return checkpoints.checkpoint_table(attacker.events.name)


@pytest.fixture
def checkpointed(cli, cases, db_url) -> Attacker:
    cli.ok("verify")  # the checkpoint
    _more(cli, cases[0])
    return Attacker(db_url)


def test_a_clean_verify_leaves_a_checkpoint_and_the_source_check_gives_the_full_digest(cli, cases, checkpointed):
    recorder = checkpointed.ledger.recorder
    with checkpointed.engine.connect() as conn:
        kept = conn.execute(sa.select(_table(checkpointed).c.position)).scalars().all()
    assert len(kept) == 1
    full = audit.verify(recorder)
    source = checkpoints.source_digest(recorder, full.position)
    assert source.checkpoint_at == kept[0] and source.checked_from == kept[0] + 1 and source.events_checked > 0
    assert source.root == full.root and source.broken == 0
    assert json.loads(cli.ok("verify", "--digest").stdout)["root"] == full.root
    # At a position before the head (a read model that lags): the same root as the full pass at that position.
    lagging = full.position - 1
    assert checkpoints.source_digest(recorder, lagging).root == audit.verify(recorder, position=lagging).root
    # Before any checkpoint: the full pass.
    assert checkpoints.source_digest(recorder, kept[0] - 1).checkpoint_at is None


def test_the_committee_report_says_what_it_checked_since_the_checkpoint(cli, cases, checkpointed):
    report = json.loads(cli.ok("report", "committee", "--from", "2026-03-01", "--to", "2026-03-31",
                               "--format", "json").stdout)
    html = cli.ok("report", "committee", "--from", "2026-03-01", "--to", "2026-03-31").stdout
    digest = json.loads(cli.ok("verify", "--digest").stdout)
    source = report["source"]
    assert source["digest"] == digest["root"] and source["broken"] == 0
    assert source["checkpoint_at"] < source["events"] and source["events_checked"] == source["events"] - \
        source["checkpoint_at"]
    assert f"after position {source['checkpoint_at']}" in " ".join(html.split())


def test_a_checkpoint_edited_with_sql_is_found(cli, cases, checkpointed):
    checkpointed.execute(_table(checkpointed).update().values(made_by="someone else"))
    source = checkpoints.source_digest(checkpointed.ledger.recorder, 10**6)
    assert source.checkpoint_at is None and source.broken == 1  # the full pass, and the edit named
    assert "does not authenticate" in source.breaks[0].problem
    result = cli("verify")
    assert result.exit_code == 1 and "BROKEN  checkpoint at position" in result.stdout


def test_heads_in_a_checkpoint_replaced_with_sql_are_found(cli, cases, checkpointed):
    t = _table(checkpointed)
    with checkpointed.engine.connect() as conn:
        heads = bytes(conn.execute(sa.select(t.c.heads)).scalar())
    forged = heads[:-32] + bytes(32)  # the last aggregate's head zeroed, as if its history were otherwise
    checkpointed.execute(t.update().values(heads=forged))
    source = checkpoints.source_digest(checkpointed.ledger.recorder, 10**6)
    assert source.checkpoint_at is None and "does not authenticate" in source.breaks[0].problem


def test_a_log_row_rewritten_at_the_checkpoint_position_is_found(cli, cases, checkpointed):
    checkpointed.drop_triggers()
    t = _table(checkpointed)
    with checkpointed.engine.connect() as conn:
        at = conn.execute(sa.select(t.c.position)).scalar()
    checkpointed.execute(checkpointed.log.update().where(checkpointed.log.c.position == at).values(hash=bytes(32)))
    source = checkpoints.source_digest(checkpointed.ledger.recorder, 10**6)
    assert source.checkpoint_at is None and source.broken >= 1
    assert any(f"at position {at}: the log chain's hash is not the one verify checked" in b.problem
               for b in source.breaks)


def test_an_event_changed_after_the_checkpoint_is_found(cli, cases, checkpointed):
    checkpointed.drop_triggers()
    e = checkpointed.events.c
    with checkpointed.engine.connect() as conn:
        at = conn.execute(sa.select(_table(checkpointed).c.position)).scalar()
        pos, state = conn.execute(sa.select(e.id, e.state).where(e.id > at).order_by(e.id).limit(1)).first()
    state = bytes(state)
    checkpointed.execute(checkpointed.events.update().where(e.id == pos)
                         .values(state=state[:-2] + (b"0}" if state[-2:] != b"0}" else b"1}")))
    source = checkpoints.source_digest(checkpointed.ledger.recorder, 10**6)
    assert source.checkpoint_at == at and source.broken >= 1
    full = audit.verify(checkpointed.ledger.recorder)
    assert sorted(b.line() for b in source.breaks) == sorted(b.line() for b in full.breaks)
    report = json.loads(cli.ok("report", "committee", "--from", "2026-03-01", "--to", "2026-03-31",
                               "--format", "json").stdout)
    assert report["source"]["broken"] == len(full.breaks)


def test_a_broken_ledger_leaves_no_checkpoint(cli, cases, db_url):
    attacker = Attacker(db_url)
    attacker.drop_triggers()
    attacker.execute(attacker.chain.delete().where(attacker.chain.c.originator_version == 5))
    cli.fails("verify")
    assert checkpoints.source_digest(attacker.ledger.recorder, 10**6).checkpoint_at is None


def test_a_clean_ledger_is_checked_in_the_one_pass_and_a_changed_case_walked_again(cli, cases, db_url, monkeypatch):
    """The single pass names no case for the per-case walk on a clean ledger (on PostgreSQL the hashes come from
    the server: a link compared wrongly there would send every case to the slow walk and still verify)."""
    walked: list[bytes] = []
    real = audit._by_case

    def spy(conn, recorder, keys, out, count):
        walked.extend(keys)
        return real(conn, recorder, keys, out, count)

    monkeypatch.setattr(audit, "_by_case", spy)
    attacker = Attacker(db_url)
    found = audit.verify(attacker.ledger.recorder)
    assert not found.breaks and walked == []
    attacker.drop_triggers()
    with attacker.engine.connect() as conn:
        state = bytes(conn.execute(sa.select(attacker.events.c.state).where(attacker.where(cases[1], 3))).scalar())
    attacker.execute(attacker.events.update().where(attacker.where(cases[1], 3)).values(state=state[:36] + b'{"x":1}'))
    found = audit.verify(attacker.ledger.recorder)
    assert found.breaks and len(walked) == 1
