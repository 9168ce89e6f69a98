"""The split verify pass (audit._split_scan), on SQLite (a process per range, each opening the file) and on
PostgreSQL (a connection per range, each in the pass's exported snapshot): with the split forced on a small
simulated ledger, `verify` finds exactly what the one pass finds (root, breaks, events, aggregates, the log chain's
head and start and hashes, the payloads kept for the other checks), clean and with the history tampered with where
the two ranges meet: an event of a case whose chain crosses the boundary changed, an event removed just after it or
at it, two events of such a case swapped across it, the log row at the boundary rewritten, and (the whole command)
a checkpoint row edited. The stitch of the chains that cross the boundary is what
these would catch if it were wrong (the changed event's next link lies in the other range)."""

from __future__ import annotations

import json
from typing import Iterator

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters import audit, checkpoints, simulation
from complaints_ledger.adapters.key_store import subject_topics
from complaints_ledger.adapters.persistence import open_ledger
from tests.e2e._cli import Cli
from tests.integration.test_projections import UNTIL
from tests.integration.test_tamper_evidence import Attacker


@pytest.fixture
def attacker(db_url) -> Iterator[Attacker]:
    ledger = open_ledger(db_url)
    try:
        simulation.build(ledger, cases=60, seed=20261207, actor="simulator", until=UNTIL)
    finally:
        ledger.close()
    attacker = Attacker(db_url)
    yield attacker
    attacker.ledger.close()


def _boundary(attacker: Attacker) -> int:
    """The last position of the first range, as `_split_scan` cuts two."""
    with attacker.engine.connect() as conn:
        low, head = conn.execute(sa.select(sa.func.min(attacker.events.c.id), sa.func.max(attacker.events.c.id))).one()
    cuts = audit._cuts(low, head)
    assert len(cuts) == 3 and low < cuts[1] < head
    return cuts[1]


def _both(attacker: Attacker, monkeypatch, positions: list[int]) -> tuple[audit.Verification, audit.Verification]:
    """The one pass and the split pass over the same ledger; the split checked to have run in two processes (this
    process read one range: a child that failed would leave it to read both)."""
    recorder = attacker.ledger.recorder
    keep = list(subject_topics()) + attacker.ledger.authority_topics() + [
        "complaints_ledger.domain.complaint:Complaint.Received"]
    monkeypatch.setenv("COMPLAINTS_VERIFY_SPLIT_MIN", "1000000000")
    one = audit.verify(recorder, log_positions=positions, keep_topics=keep)
    scans, stitched = [], []
    real_scan, real_stitch = audit._scan, audit._stitch
    monkeypatch.setattr(audit, "_scan", lambda *a, **k: scans.append(1) or real_scan(*a, **k))
    monkeypatch.setattr(audit, "_stitch", lambda parts: stitched.append(len(parts)) or real_stitch(parts))
    monkeypatch.setenv("COMPLAINTS_VERIFY_SPLIT_MIN", "0")
    split = audit.verify(recorder, log_positions=positions, keep_topics=keep)
    assert stitched == [2] and scans == [1]
    return one, split


def _same(one: audit.Verification, split: audit.Verification) -> None:
    assert [b.line() for b in split.breaks] == [b.line() for b in one.breaks]
    assert (split.root, split.events, split.aggregates) == (one.root, one.events, one.aggregates)
    assert (split.log_head, split.log_start, split.log_hashes) == (one.log_head, one.log_start, one.log_hashes)
    assert split.kept == one.kept and any(split.kept.values())
    assert split.heads == one.heads


def _crossing(attacker: Attacker, at: int) -> tuple[bytes, int, int]:
    """A case whose chain crosses the boundary and goes on after it: (id, the version of its last event at or before
    `at`, that event's position)."""
    e = attacker.events.c
    with attacker.engine.connect() as conn:
        rows = conn.execute(sa.select(e.originator_id, e.originator_version, e.id).order_by(e.id)).all()
    last_before: dict = {}
    after: dict = {}
    for oid, version, pos in rows:
        if pos <= at:
            last_before[oid] = (version, pos)
        else:
            after.setdefault(oid, []).append(version)
    for oid, (version, pos) in last_before.items():
        if len(after.get(oid, [])) >= 2 and after[oid][0] == version + 1:
            return oid, version, pos
    raise AssertionError("no case crosses the boundary")


def _where(attacker: Attacker, oid, version: int):
    e = attacker.events.c
    return sa.and_(e.originator_id == oid, e.originator_version == version)


def test_a_clean_ledger_gives_the_same_verification_split_or_not(attacker, monkeypatch):
    at = _boundary(attacker)
    one, split = _both(attacker, monkeypatch, [at - 1, at, at + 1, at + 2])
    assert not one.breaks and len(one.log_hashes) == 4 and one.log_head[0] > at
    _same(one, split)


def test_an_event_changed_just_before_the_boundary_is_found_through_its_link_after_it(attacker, monkeypatch):
    at = _boundary(attacker)
    oid, version, pos = _crossing(attacker, at)
    attacker.drop_triggers()
    with attacker.engine.connect() as conn:
        state = bytes(conn.execute(sa.select(attacker.events.c.state).where(_where(attacker, oid, version))).scalar())
    forged = state[:-1] + (b" " if state[-1:] != b" " else b"\n")
    attacker.execute(attacker.events.update().where(_where(attacker, oid, version)).values(state=forged))
    one, split = _both(attacker, monkeypatch, [at])
    lines = [b.line() for b in one.breaks]
    assert any(f"version {version + 1}: its link does not match version {version}" in line for line in lines), lines
    assert any(f"version {version}: at position {pos}: changed" in line for line in lines), lines
    _same(one, split)


@pytest.mark.parametrize("where", ["just after", "at"])
def test_an_event_removed_at_the_boundary_is_found(attacker, monkeypatch, where):
    at = _boundary(attacker)
    oid, version, pos = _crossing(attacker, at)
    gone = version + 1 if where == "just after" else version  # its first event after the boundary, or at it
    e = attacker.events.c
    attacker.drop_triggers()
    if where == "at":  # the event at the boundary position itself, whichever case it is
        with attacker.engine.connect() as conn:
            oid, gone = conn.execute(sa.select(e.originator_id, e.originator_version).where(e.id == at)).one()
    attacker.execute(attacker.events.delete().where(_where(attacker, oid, gone)))
    one, split = _both(attacker, monkeypatch, [at - 1, at + 1])
    lines = [b.line() for b in one.breaks]
    assert any(f"version {gone}: missing" in line for line in lines), lines
    _same(one, split)


def test_the_log_row_at_the_boundary_rewritten_is_found(attacker, monkeypatch):
    at = _boundary(attacker)
    attacker.drop_triggers()
    log = attacker.log
    attacker.execute(log.update().where(log.c.position == at).values(hash=b"\x01" * 32))
    one, split = _both(attacker, monkeypatch, [at, at + 1])
    lines = [b.line() for b in one.breaks]
    assert any(f"at position {at}: changed since the ledger-wide log chain" in line for line in lines), lines
    # The row after it is checked against the hash stored at the boundary (a range that took the hash the chain
    # should have there would find nothing wrong after it).
    assert any(f"at position {at + 1}: changed" in line for line in lines) or any(
        f"at position {at}: changed" in line and "(and 1 later event(s) of it likewise)" in line for line in lines)
    assert one.log_hashes[at] == b"\x01" * 32
    _same(one, split)


def test_two_events_swapped_across_the_boundary_are_found(attacker, monkeypatch):
    at = _boundary(attacker)
    oid, version, pos = _crossing(attacker, at)
    attacker.drop_triggers()
    events = attacker.events
    attacker.execute(events.update().where(_where(attacker, oid, version)).values(originator_version=0))
    attacker.execute(events.update().where(_where(attacker, oid, version + 1)).values(originator_version=version))
    attacker.execute(events.update().where(_where(attacker, oid, 0)).values(originator_version=version + 1))
    one, split = _both(attacker, monkeypatch, [at])
    lines = [b.line() for b in one.breaks]
    assert any(f"at position {pos}: the log chain recorded its version {version} at this position" in line
               for line in lines), lines
    _same(one, split)


def test_the_command_says_the_same_split_or_not(attacker, db_url, monkeypatch):
    """The whole `complaints verify`, clean and with a case crossing the boundary changed."""
    cli = Cli(db_url)
    monkeypatch.setenv("COMPLAINTS_VERIFY_SPLIT_MIN", "1000000000")
    one = json.loads(cli.ok("verify", "--digest").stdout)
    monkeypatch.setenv("COMPLAINTS_VERIFY_SPLIT_MIN", "0")
    split = json.loads(cli.ok("verify", "--digest").stdout)
    assert {**split, "made_at": None} == {**one, "made_at": None} and len(one["heads"]) == one["aggregates"] > 60
    at = _boundary(attacker)
    oid, version, _ = _crossing(attacker, at)
    attacker.drop_triggers()
    attacker.execute(attacker.events.update().where(_where(attacker, oid, version + 1)).values(topic="x"))
    split = cli("verify")
    monkeypatch.setenv("COMPLAINTS_VERIFY_SPLIT_MIN", "1000000000")
    whole = cli("verify")
    assert split.exit_code == whole.exit_code == 1 and "its link does not match" in whole.stdout
    assert [line for line in split.stdout.splitlines() if "append-only trigger" not in line] == \
        [line for line in whole.stdout.splitlines() if "append-only trigger" not in line]


def test_a_checkpoint_row_edited_is_found_split_or_not(attacker, db_url, monkeypatch):
    """The clean split verify keeps a checkpoint that the next verify (split or not) authenticates; edited with SQL,
    both report it alike."""
    cli = Cli(db_url)
    monkeypatch.setenv("COMPLAINTS_VERIFY_SPLIT_MIN", "0")
    cli.ok("verify")
    table = checkpoints.checkpoint_table(attacker.events.name)
    with attacker.engine.connect() as conn:
        position, heads = conn.execute(sa.select(table.c.position, table.c.heads)).one()
    with attacker.engine.connect() as conn:
        assert position == conn.execute(sa.select(sa.func.max(attacker.events.c.id))).scalar() > _boundary(attacker)
    cli.ok("verify")
    attacker.execute(table.update().where(table.c.position == position)
                     .values(heads=bytes(heads)[:-1] + bytes([bytes(heads)[-1] ^ 1])))
    split = cli("verify")
    monkeypatch.setenv("COMPLAINTS_VERIFY_SPLIT_MIN", "1000000000")
    whole = cli("verify")
    assert split.exit_code == whole.exit_code == 1
    assert f"checkpoint at position {position}: does not authenticate" in whole.stdout
    assert split.stdout == whole.stdout
