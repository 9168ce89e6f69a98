"""Verified checkpoints: what a clean full `verify` leaves behind so that a report need check only what came since.

A full `complaints verify` with no break, run by a login that may write, records a checkpoint: the log position it
verified up to, the ledger-wide log chain's hash there, every aggregate's chain head there (packed: 16-byte id,
8-byte version, 32-byte hash, sorted by id: the Merkle tree's leaves as they are hashed), when and by whom. A row
is authenticated with HMAC-SHA256 under a key kept in the key table (the row `CHECKPOINT_KEY_ID`, like the blind
index's key): a row edited with SQL by someone who cannot read the key table no longer authenticates, and is
reported as a break (by `verify` and by the reports' source check).

`source_digest` (what the reports call) takes the newest authentic checkpoint at or before the report's position,
checks that the log chain still has the checkpoint's hash at its position, verifies every event after it with the
same pass as the full verify (links, log chain, recorded heads of the cases it touches), and computes the root from
the checkpoint's heads brought up to date: the same root a full verify gives. Without one (none made yet, or this
login may not read the key table) it runs the full pass. What it cannot see: an event before the checkpoint changed
together with the log chain after it by someone who can also read the key table (they can forge the checkpoint as
they could recompute every chain); the nightly full `verify` and signed anchors (anchors.py) are for that.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from . import audit

CHECKPOINT_KEY_ID = "~checkpoint"  # data subjects' ids are P-XXXXXXXXXXXX: this row is never one of theirs
FORMAT = b"complaints-ledger checkpoint 1\x00"
KEEP = 3  # the newest checkpoints kept: one at or before a read model's position that lags a little
_LEAF = struct.Struct(">16sQ32s")


@dataclass
class Checkpoint:
    position: int
    log_hash: bytes
    heads: bytes
    aggregates: int
    events: int
    made_at: str
    made_by: str
    mac: bytes

    def message(self) -> bytes:
        return (FORMAT + self.position.to_bytes(8, "big") + self.log_hash + hashlib.sha256(self.heads).digest()
                + self.aggregates.to_bytes(8, "big") + self.events.to_bytes(8, "big")
                + self.made_at.encode() + b"\x00" + self.made_by.encode())


def checkpoint_table(events_table: str) -> sa.Table:
    return sa.Table(
        f"{events_table}_checkpoints", sa.MetaData(),
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("log_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("heads", sa.LargeBinary, nullable=False),
        sa.Column("aggregates", sa.BigInteger, nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("made_at", sa.String(40), nullable=False),
        sa.Column("made_by", sa.String(200), nullable=False),
        sa.Column("mac", sa.LargeBinary(32), nullable=False),
    )


def _table(recorder: Any) -> sa.Table:
    return checkpoint_table(recorder.events_table_name)


def ensure_table(recorder: Any) -> sa.Table:
    """The checkpoint table, made if missing. On PostgreSQL `init --roles` makes it too, and grants the writer role
    what a verify needs to keep checkpoints (adapters/roles.py); a row is authenticated by its MAC, not by who may
    insert it, so a forged one is a break, never a pass."""
    table = _table(recorder)
    table.create(recorder.datastore.engine, checkfirst=True)
    return table


def _key(recorder: Any, make: bool) -> bytes | None:
    """The checkpoints' HMAC key (made on first use when `make`); None when there is none or this login may not
    read the key table (a reader: it cannot check a checkpoint, so its reports run the full pass)."""
    vault = getattr(recorder, "vault", None)
    if vault is None:
        return None
    try:
        return vault.ledger_secret(CHECKPOINT_KEY_ID, make=make)
    except sa.exc.DBAPIError:
        return None


def record(recorder: Any, found: audit.Verification, made_by: str) -> Checkpoint | None:
    """Keep a clean full verification as a checkpoint (the caller has checked there is no break). None when it
    cannot be kept: no log chain row at its position, or this login may not write the table or read the key."""
    if found.log_head is None or found.log_head[0] != found.position or found.breaks:
        return None
    key = _key(recorder, make=True)
    if key is None:
        return None
    cp = Checkpoint(position=found.position, log_hash=found.log_head[1], heads=found.packed(),
                    aggregates=len(found.heads), events=found.events,
                    made_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), made_by=made_by[:200], mac=b"")
    cp.mac = hmac.new(key, cp.message(), hashlib.sha256).digest()
    engine: sa.Engine = recorder.datastore.engine
    try:
        table = ensure_table(recorder)
        with engine.begin() as conn:
            conn.execute(table.delete().where(table.c.position == cp.position))
            conn.execute(table.insert().values(position=cp.position, log_hash=cp.log_hash, heads=cp.heads,
                                               aggregates=cp.aggregates, events=cp.events, made_at=cp.made_at,
                                               made_by=cp.made_by, mac=cp.mac))
            older = [r[0] for r in conn.execute(sa.select(table.c.position).order_by(table.c.position.desc())
                                                .offset(KEEP))]
            if older:
                conn.execute(table.delete().where(table.c.position.in_(older)))
    except sa.exc.DBAPIError:
        return None  # a read-only file or a reader's login: the reports then check from an older one, or fully
    return cp


def _rows(recorder: Any, at_most: int | None = None, heads: bool = True) -> list[Checkpoint]:
    table = _table(recorder)
    engine: sa.Engine = recorder.datastore.engine
    c = table.c
    columns = [c.position, c.log_hash, c.heads if heads else sa.func.length(c.heads), c.aggregates, c.events,
               c.made_at, c.made_by, c.mac]
    query = sa.select(*columns).order_by(c.position.desc())
    if at_most is not None:
        query = query.where(c.position <= at_most)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    except sa.exc.DBAPIError:
        return []  # none made yet (no table), or not readable by this login
    return [Checkpoint(int(r[0]), bytes(r[1]), bytes(r[2]) if heads else b"", int(r[3]), int(r[4]), r[5], r[6],
                       bytes(r[7])) for r in rows]


def authentic(key: bytes, cp: Checkpoint) -> bool:
    return (len(cp.heads) % _LEAF.size == 0
            and hmac.compare_digest(hmac.new(key, cp.message(), hashlib.sha256).digest(), cp.mac))


def _edited(cp: Checkpoint) -> audit.Break:
    return audit.Break(f"checkpoint at position {cp.position}", None,
                       f"does not authenticate (made {cp.made_at} by {cp.made_by}): edited outside verify")


def checkpoint_breaks(recorder: Any) -> list[audit.Break]:
    """Each kept checkpoint that no longer authenticates (for `complaints verify`); none checked when this login
    may not read the key."""
    key = _key(recorder, make=False)
    if key is None:
        return []
    return [_edited(cp) for cp in _rows(recorder) if not authentic(key, cp)]


@dataclass
class Source:
    """What the reports print of the ledger: its digest at `position` and the breaks found in checking it."""

    position: int
    root: str
    breaks: list[audit.Break]
    checked_from: int  # the first position checked by this run (1: all of it)
    events_checked: int  # events hashed by this run
    checkpoint_at: int | None = None  # the checkpoint the run took over from
    checkpoint_made: str | None = None
    checkpoint_by: str | None = None

    @property
    def broken(self) -> int:
        return len(self.breaks)


def source_digest(recorder: Any, position: int) -> Source:
    """The digest (Merkle root over every aggregate's head at `position`) and the breaks, checking fully only the
    events after the newest authentic checkpoint at or before `position` (see the module's docstring); the full
    pass when there is none."""
    key = _key(recorder, make=False)
    findings: list[audit.Break] = []
    if key is not None:
        table, log = _table(recorder), recorder.log
        for cp in _rows(recorder, at_most=position, heads=False):  # each one's heads read only when it is tried
            with recorder.datastore.engine.connect() as conn:  # its heads, and the log's hash at its position
                cp.heads = bytes(conn.execute(sa.select(table.c.heads).where(table.c.position == cp.position))
                                 .scalar() or b"")
                stored = conn.execute(sa.select(log.c.hash).where(log.c.position == cp.position)).scalar()
            if not authentic(key, cp):
                findings.append(_edited(cp))
                continue
            if stored is None or bytes(stored) != cp.log_hash:
                findings.append(audit.Break(
                    "log", None, f"at position {cp.position}: the log chain's hash is not the one verify "
                    f"checked on {cp.made_at} (the log chain was rewritten since)"))
                break  # the history before it is in question: the full pass
            start = audit._Start(position=cp.position, log_hash=cp.log_hash, packed=cp.heads, events=cp.events)
            found = audit.verify(recorder, position=position, start=start)
            return Source(position=position, root=found.root, breaks=findings + found.breaks,
                          checked_from=cp.position + 1, events_checked=found.events - cp.events,
                          checkpoint_at=cp.position, checkpoint_made=cp.made_at, checkpoint_by=cp.made_by)
    found = audit.verify(recorder, position=position)
    return Source(position=position, root=found.root, breaks=findings + found.breaks, checked_from=1,
                  events_checked=found.events)
