"""Insiders, on SQLite files and PostgreSQL: someone with the database owner's (or a superuser's) rights takes the
append-only triggers away and edits the audit trail with raw SQL, recomputing whatever hashes they can. Each test
asserts that plain `complaints verify` exits 1 naming what happened (which case, version and position is missing,
moved or changed), or, where the insider recomputed every chain, that the last signed anchor taken before the rewrite
names it, or that the database itself refuses.

The insider works with the database's own tools only (SQL through a plain engine, the hash formulas as
docs/audit-trail.md gives them), never through the ledger's code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from complaints_ledger.domain.complaint import complaint_id
from tests.e2e._cli import Cli
from tests.integration.test_roles import _logins_in_roles, logins  # noqa: F401 - a fixture

EVENTS, CHAIN, LOG = "complaintsledger_events", "complaintsledger_events_chain", "complaintsledger_events_log"
MARK, ZERO = b"\x00CL1", bytes(32)


def event_hash(oid: bytes, version: int, topic: str, state: bytes) -> bytes:
    return hashlib.sha256(oid + version.to_bytes(8, "big") + topic.encode() + b"\x00" + state).digest()


class Insider:
    """A database owner at a console: drops or disables triggers, then rewrites rows and recomputes hashes."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(url)
        self.pg = self.engine.dialect.name == "postgresql"

    def run(self, sql: str, **params) -> int:
        with self.engine.begin() as conn:
            return conn.execute(sa.text(sql), params).rowcount

    def _oid(self, ref: str):
        oid = complaint_id(ref)
        return str(oid) if self.pg else oid.bytes

    def drop_triggers(self) -> None:
        with self.engine.begin() as conn:
            for table in (EVENTS, CHAIN, LOG):
                if self.pg:
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
                else:
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_delete")

    def events_of(self, ref: str) -> list[tuple[int, int, str, bytes]]:
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2], bytes(r[3])) for r in conn.execute(sa.text(
                f"SELECT id, originator_version, topic, state FROM {EVENTS} WHERE originator_id = :o "
                "ORDER BY originator_version"), {"o": self._oid(ref)})]

    def position(self, ref: str, version: int) -> int:
        return next(p for p, v, _, _ in self.events_of(ref) if v == version)

    def rewrite(self, ref: str, version: int, old: bytes, new: bytes) -> int:
        """Change one event's payload and recompute its case's chain after it (links and recorded heads), as an
        insider who read docs/audit-trail.md would; returns the event's position."""
        oid = complaint_id(ref).bytes
        prev = ZERO
        with self.engine.begin() as conn:
            for position, v, topic, state in self.events_of(ref):
                payload = state[len(MARK) + 32:]
                if v == version:
                    assert old in payload
                    payload = payload.replace(old, new)
                    changed = position
                fresh = MARK + prev + payload
                if fresh != state:
                    conn.execute(sa.text(f"UPDATE {EVENTS} SET state = :s WHERE id = :p"), {"s": fresh, "p": position})
                prev = event_hash(oid, v, topic, fresh)
                conn.execute(sa.text(f"UPDATE {CHAIN} SET hash = :h WHERE originator_id = :o AND "
                                     "originator_version = :v"), {"h": prev, "o": oid, "v": v})
        return changed

    def recompute_log(self) -> None:
        """Recompute the whole ledger-wide chain from the events as they are now."""
        with self.engine.begin() as conn:
            oid = "uuid_send(e.originator_id)" if self.pg else "e.originator_id"
            rows = conn.execute(sa.text(f"SELECT l.position, {oid}, e.originator_version, e.topic, e.state "
                                        f"FROM {LOG} l JOIN {EVENTS} e ON e.id = l.position ORDER BY l.position")).all()
            prev = ZERO
            for position, o, v, topic, state in rows:
                prev = hashlib.sha256(prev + position.to_bytes(8, "big")
                                      + event_hash(bytes(o), v, topic, bytes(state))).digest()
                conn.execute(sa.text(f"UPDATE {LOG} SET hash = :h WHERE position = :p"), {"h": prev, "p": position})


@pytest.fixture
def cli(db_url) -> Cli:
    return Cli(db_url)


@pytest.fixture
def cases(cli) -> list[str]:
    """Three cases; the second has £120 compensation approved, then a response."""
    refs = []
    for n in range(3):
        ref = cli.receive("2026-03-02", complainant=f"Resident {n}")
        cli.ok("acknowledge", ref, "--on", "2026-03-03")
        refs.append(ref)
    cli.ok("compensation", "request", refs[1], "--amount", "120", "--on", "2026-03-04")
    cli.ok("compensation", "approve", refs[1], "--amount", "120", "--on", "2026-03-05")
    cli.ok("respond", refs[1], "--outcome", "upheld", "--on", "2026-03-09")
    cli.ok("contact", refs[2], "--on", "2026-03-10")
    return refs


@pytest.fixture
def insider(db_url, cases) -> Insider:
    insider = Insider(db_url)
    yield insider
    insider.engine.dispose()


def broken(cli: Cli, *args: str, env=None) -> list[str]:
    """`verify`'s BROKEN lines, less the ones about the triggers the insider dropped (the open puts them back)."""
    result = cli("verify", *args, env=env)
    assert result.exit_code == 1, result.stdout
    return [line for line in result.stdout.splitlines()
            if line.startswith("BROKEN") and not line.startswith("BROKEN  append-only trigger ")]


def test_removing_a_case_s_last_event_with_its_chain_head_is_named_with_its_position(cli, insider, cases):
    insider.drop_triggers()
    position = insider.position(cases[2], 3)
    insider.run(f"DELETE FROM {EVENTS} WHERE id = :p", p=position)
    insider.run(f"DELETE FROM {CHAIN} WHERE originator_id = :o AND originator_version = 3",
                o=complaint_id(cases[2]).bytes)

    assert broken(cli) == [f"BROKEN  {cases[2]} version 3: missing: the log chain recorded version 3 at position "
                           f"{position}; the event is gone (removed)"]


def test_removing_a_whole_case_is_named_with_its_positions(cli, insider, cases):
    insider.drop_triggers()
    positions = [p for p, _, _, _ in insider.events_of(cases[0])]
    insider.run(f"DELETE FROM {EVENTS} WHERE originator_id = :o", o=insider._oid(cases[0]))
    insider.run(f"DELETE FROM {CHAIN} WHERE originator_id = :o", o=complaint_id(cases[0]).bytes)
    assert cli("show", cases[0]).exit_code != 0  # gone from every screen

    assert broken(cli) == [f"BROKEN  aggregate {complaint_id(cases[0])}: missing: the log chain recorded 2 event(s) "
                           f"of it (versions 1–2, at positions {', '.join(map(str, positions))}); none remain (a whole "
                           "case or record removed)"]


def test_an_approved_amount_rewritten_with_its_case_chain_recomputed_is_named(cli, insider, cases, tmp_path):
    digest = tmp_path / "digest.json"
    cli.ok("verify", "--digest", "--output", str(digest))
    insider.drop_triggers()
    position = insider.rewrite(cases[1], 4, b'"120.00"', b'"999.00"')
    assert cli.show(cases[1])["compensation"]["approved"] in ("999.00", 999, "999")  # the forgery shows

    lines = broken(cli)
    assert lines == [f"BROKEN  {cases[1]} version 4: at position {position}: changed since the ledger-wide log chain "
                     "recorded it (and 1 later event(s) of it likewise)"]
    # The digest kept outside compares hashes, not only versions: it names the case's history as changed.
    assert f"BROKEN  {cases[1]} version 5: its history up to this version changed since the digest" in \
        broken(cli, "--against", str(digest))


def test_swapping_two_events_positions_is_named(cli, insider, cases):
    insider.drop_triggers()
    first, second = insider.position(cases[0], 2), insider.position(cases[2], 2)
    insider.run(f"UPDATE {EVENTS} SET id = -1 WHERE id = :a", a=first)
    insider.run(f"UPDATE {EVENTS} SET id = :a WHERE id = :b", a=first, b=second)
    insider.run(f"UPDATE {EVENTS} SET id = :b WHERE id = -1", b=second)

    lines = broken(cli)
    assert f"BROKEN  {cases[2]} version 2: at position {first}: the log chain recorded aggregate " \
           f"{complaint_id(cases[0])} version 2 at this position, not this event (events moved between positions, " \
           "or replaced)" in lines
    assert f"BROKEN  {cases[0]} version 2: at position {second}: the log chain recorded aggregate " \
           f"{complaint_id(cases[2])} version 2 at this position, not this event (events moved between positions, " \
           "or replaced)" in lines


def _anchor(cli: Cli, key: Path, folder: Path) -> Path:
    before = set(folder.iterdir())
    result = cli.ok("verify", "--anchor", "--signing-key", str(key), "--anchors", str(folder))
    assert result.stdout.startswith("verified: ")
    assert "anchored position" in result.stderr
    [path] = set(folder.iterdir()) - before
    return path


def test_a_superuser_who_recomputes_every_chain_is_caught_by_the_last_anchor_before_the_rewrite(
        cli, insider, cases, tmp_path):
    key, folder = tmp_path / "anchor.key", tmp_path / "anchors"
    folder.mkdir()
    cli.ok("verify", "--new-signing-key", str(key))
    first = _anchor(cli, key, folder)  # the approval is already there: both anchors cover it
    cli.ok("acknowledge", cli.receive("2026-03-11"), "--on", "2026-03-12")
    second = _anchor(cli, key, folder)
    check = ("--anchors", str(folder), "--public-key", f"{key}.pub")
    assert "2 signed anchors hold" in cli.ok("verify", *check).stdout

    insider.drop_triggers()
    insider.rewrite(cases[1], 4, b'"120.00"', b'"999.00"')
    insider.recompute_log()
    # Every chain in the database is consistent again: plain verify sees only the dropped triggers (which its open
    # puts back), and after that nothing (docs/audit-trail.md says so)...
    assert broken(cli) == []
    assert cli.ok("verify").stdout.startswith("verified: ")
    # ...but each anchor taken after the rewritten event names it, and the first says where the rewrite lies.
    first_position = json.loads(first.read_text())["position"]
    second_position = json.loads(second.read_text())["position"]
    lines = broken(cli, *check)
    assert lines[0].startswith(f"BROKEN  anchor {first.name}: position {first_position}, taken ")
    assert f"an event at or before position {first_position} was changed, removed or moved, and the chains " \
           "recomputed" in lines[0]
    assert lines[1].startswith(f"BROKEN  anchor {second.name}: position {second_position}")
    # The same check configured through the environment, as from cron.
    assert broken(cli, env={"COMPLAINTS_ANCHORS": str(folder), "COMPLAINTS_PUBLIC_KEY": f"{key}.pub"}) == lines


def test_an_anchor_taken_before_the_rewritten_event_still_holds_and_brackets_the_rewrite(
        cli, insider, cases, tmp_path):
    key, folder = tmp_path / "anchor.key", tmp_path / "anchors"
    folder.mkdir()
    cli.ok("verify", "--new-signing-key", str(key))
    ref = cli.receive("2026-03-11")
    held = _anchor(cli, key, folder)
    cli.ok("compensation", "request", ref, "--amount", "120", "--on", "2026-03-12")
    cli.ok("compensation", "approve", ref, "--amount", "120", "--on", "2026-03-13")
    caught = _anchor(cli, key, folder)

    insider.drop_triggers()
    insider.rewrite(ref, 3, b'"120.00"', b'"999.00"')
    insider.recompute_log()
    lines = broken(cli, "--anchors", str(folder), "--public-key", f"{key}.pub")
    held_at = json.loads(held.read_text())["position"]
    caught_at = json.loads(caught.read_text())["position"]
    assert len(lines) == 1 and lines[0].startswith(f"BROKEN  anchor {caught.name}: position {caught_at}")
    assert lines[0].endswith(f"(the anchor before it, {held.name} at position {held_at}, still holds: the rewrite lies "
                             f"between positions {held_at} and {caught_at})")


def test_an_anchor_whose_signature_does_not_hold_is_reported_as_such(cli, cases, tmp_path):
    key, other, folder = tmp_path / "anchor.key", tmp_path / "other.key", tmp_path / "anchors"
    folder.mkdir()
    cli.ok("verify", "--new-signing-key", str(key))
    cli.ok("verify", "--new-signing-key", str(other))
    path = _anchor(cli, key, folder)
    # Checked with another key pair's public key: not this operator's anchor.
    lines = broken(cli, "--anchors", str(folder), "--public-key", f"{other}.pub")
    assert lines == [f"BROKEN  anchor {path.name}: position {json.loads(path.read_text())['position']}, taken "
                     f"{json.loads(path.read_text())['made_at']}: its signature does not verify with the public key "
                     "(forged, altered, or signed with another key)"]
    # An anchor edited to match a rewritten log: its signature no longer holds.
    body = json.loads(path.read_text())
    body["log_hash"] = "00" * 32
    forged = folder / path.name.replace(".json", "-1.json")
    forged.write_text(json.dumps(body))
    lines = broken(cli, "--anchors", str(folder), "--public-key", f"{key}.pub")
    assert len(lines) == 1 and lines[0].startswith(f"BROKEN  anchor {forged.name}: ") and "signature" in lines[0]


def test_anchors_are_new_files_never_overwritten_and_a_key_is_never_overwritten(cli, cases, tmp_path):
    key, folder = tmp_path / "anchor.key", tmp_path / "anchors"
    folder.mkdir()
    cli.ok("verify", "--new-signing-key", str(key))
    assert (key.stat().st_mode & 0o777) == 0o600
    assert cli.fails("verify", "--new-signing-key", str(key)) == \
        f"Error: {key} already exists: a signing key is never overwritten"
    paths = {_anchor(cli, key, folder) for _ in range(2)}  # same second, same position: two files
    assert len(paths) == 2 and len(set(folder.iterdir())) == 2
    result = cli("verify", "--anchors", str(folder))  # checking anchors needs the public key
    assert result.exit_code == 2 and "checking anchors needs the public key" in result.stderr
    result = cli("verify", "--anchor", "--anchors", str(folder))  # an anchor needs the key that signs it
    assert result.exit_code == 2 and "--anchor needs the key to sign it with" in result.stderr
    digest = tmp_path / "digest.json"  # a digest kept beside its anchor: both come from one verify
    result = cli.ok("verify", "--digest", "--output", str(digest), "--signing-key", str(key), "--anchors", str(folder))
    assert len(set(folder.iterdir())) == 3 and "anchored position" in result.stderr
    assert json.loads(digest.read_text())["root"] in {json.loads(p.read_text())["root"] for p in folder.iterdir()}


def test_a_disabled_trigger_is_reported_by_name_and_re_enabled(cli, insider, cases, pg_url):
    if not insider.pg:
        pytest.skip("SQLite triggers cannot be disabled, only dropped (the tests above)")
    insider.run(f"ALTER TABLE {EVENTS} DISABLE TRIGGER {EVENTS}_append_only")
    insider.run(f"ALTER TABLE {CHAIN} DISABLE TRIGGER {CHAIN}_append_only")
    position = insider.rewrite(cases[1], 4, b'"120.00"', b'"999.00"')

    result = cli("verify")
    assert result.exit_code == 1
    assert f"BROKEN  append-only trigger {EVENTS}_append_only: was disabled (re-enabled by this open): someone " \
           "with the rights to alter the tables took it away" in result.stdout
    assert f"at position {position}: changed since the ledger-wide log chain recorded it" in result.stdout
    assert f"BROKEN  append-only trigger {CHAIN}_append_only: was disabled" in result.stdout
    with insider.engine.connect() as conn:  # armed again, ALWAYS
        assert conn.execute(sa.text("SELECT tgenabled FROM pg_trigger WHERE tgname = :n AND tgrelid = to_regclass(:t)"),
                            {"n": f"{EVENTS}_append_only", "t": EVENTS}).scalar() == "A"
    assert "append-only trigger" not in cli("verify").stdout


def test_session_replication_role_replica_does_not_get_past_the_triggers(cli, insider, cases):
    if not insider.pg:
        pytest.skip("PostgreSQL only")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with insider.engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.exec_driver_sql(f"UPDATE {EVENTS} SET topic = topic")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with insider.engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.exec_driver_sql(f"DELETE FROM {LOG}")


def test_a_writer_login_that_cannot_re_enable_a_disabled_trigger_refuses_to_write(pg_url, logins):
    """The tables' owner can re-arm a trigger (the test above); a writer login cannot, so it writes nothing while
    the trail is unguarded, and says why in one line. A reader still verifies, and is told the same."""
    prefix, urls, names = logins
    admin = Cli(pg_url)
    ref = admin.receive("2026-03-02")
    admin.ok("init", "--roles", "--role-prefix", prefix)
    _logins_in_roles(prefix, names)
    before = admin.event_count()
    insider = Insider(pg_url)
    insider.run(f"ALTER TABLE {EVENTS} DISABLE TRIGGER {EVENTS}_append_only")
    insider.engine.dispose()
    jo = Cli(urls["writer"])

    assert jo.fails("acknowledge", ref, "--on", "2026-03-03").startswith(
        f"Error: refusing to write: the append-only trigger {EVENTS}_append_only is disabled, and this login cannot "
        "re-arm it (only the tables' owner can)")
    result = Cli(urls["reader"])("verify")
    assert result.exit_code == 1
    assert f"BROKEN  append-only trigger {EVENTS}_append_only: disabled (cannot repair: " in result.stdout
    assert admin.event_count() == before  # (the owner's open re-arms the trigger: the writer may write again)
    jo.ok("acknowledge", ref, "--on", "2026-03-03")


def test_the_newest_events_cut_from_every_table_are_caught_by_an_anchor_only(cli, insider, cases, tmp_path):
    key, folder = tmp_path / "anchor.key", tmp_path / "anchors"
    folder.mkdir()
    cli.ok("verify", "--new-signing-key", str(key))
    anchor = _anchor(cli, key, folder)
    position = insider.position(cases[2], 3)  # the newest event of the log
    assert json.loads(anchor.read_text())["position"] == position
    insider.drop_triggers()
    insider.run(f"DELETE FROM {EVENTS} WHERE id = :p", p=position)
    insider.run(f"DELETE FROM {LOG} WHERE position = :p", p=position)
    insider.run(f"DELETE FROM {CHAIN} WHERE originator_id = :o AND originator_version = 3",
                o=complaint_id(cases[2]).bytes)
    assert broken(cli) == []  # consistent in every table: plain verify sees only the dropped triggers
    assert broken(cli, "--anchors", str(folder), "--public-key", f"{key}.pub") == [
        f"BROKEN  anchor {anchor.name}: position {position}, taken {json.loads(anchor.read_text())['made_at']}: the "
        f"log now ends at position {position - 1} (events removed from its end since)"]


def test_an_event_inserted_around_the_ledger_is_named(cli, insider, cases):
    insider.drop_triggers()
    stranger = complaint_id("CMP-2026-999999")
    state = MARK + ZERO + b'{"ref": "CMP-2026-999999"}'
    topic = "complaints_ledger.domain.complaint:Complaint.Received"
    insider.run(f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state) VALUES (:o, 1, :t, :s)",
                o=str(stranger) if insider.pg else stranger.bytes, t=topic, s=state)
    insider.run(f"INSERT INTO {CHAIN} (originator_id, originator_version, hash) VALUES (:o, 1, :h)",
                o=stranger.bytes, h=event_hash(stranger.bytes, 1, topic, state))
    with insider.engine.connect() as conn:
        position = conn.execute(sa.text(f"SELECT max(id) FROM {EVENTS}")).scalar()

    assert broken(cli) == [f"BROKEN  CMP-2026-999999 version 1: at position {position}: has no link in the "
                           "ledger-wide log chain (written around the ledger)"]


def test_positions_the_database_skipped_are_harmless(cli, insider, cases):
    if not insider.pg:
        pytest.skip("SQLite reuses no sequence: its ids have no gaps to skip")
    insider.run(f"SELECT nextval(pg_get_serial_sequence('{EVENTS}', 'id'))")  # as a rolled-back insert leaves
    cli.ok("contact", cases[0], "--on", "2026-03-04")
    assert cli.ok("verify").stdout.startswith("verified: ")
