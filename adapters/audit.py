"""Checking the audit trail: every aggregate's hash chain, its recorded heads, and digests kept outside the database.

`verify` walks each aggregate's events in version order and reports, per case, the first link that does not hold:
a version missing or out of place, a link that does not match the event before it (that event changed, removed or
swapped), a recorded head that no longer matches (the last event changed) or lies beyond the end (events removed).
A digest is the Merkle root over every aggregate's chain head at a log position; a digest kept elsewhere proves
later that the ledger up to that position is still contained, unchanged, in the ledger now.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from ..domain.errors import ComplaintsError
from ..domain.limits import MAX_POSITION
from ..domain.values import brief, quoted
from .audit_chain import ZERO, event_hash, split_state
from .file_text import NotUtf8, loads, utf8

DIGEST_FORMAT = "complaints-ledger digest 1"
_HEX_ID, _HEX_HASH = re.compile(r"[0-9a-f]{32}"), re.compile(r"[0-9a-f]{64}")


class DigestUnreadable(ComplaintsError):
    """A file given as a digest that is not one `complaints verify --digest` wrote."""


@dataclass(frozen=True)
class Break:
    """The first link of one aggregate's chain that does not hold."""

    name: str
    version: int
    problem: str

    def line(self) -> str:
        return f"{self.name} version {self.version}: {self.problem}" if self.version else self.problem


@dataclass
class Verification:
    position: int
    aggregates: int = 0
    events: int = 0
    breaks: list[Break] = field(default_factory=list)
    heads: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)  # chain head at `position`, per aggregate
    names: dict[bytes, str] = field(default_factory=dict)

    @property
    def root(self) -> str:
        return merkle_root(self.heads).hex()


def verify(recorder: Any, originator_id: UUID | None = None, position: int | None = None) -> Verification:
    """Recompute the chains (of one aggregate, or all) and the heads as they stood at `position` (default: now)."""
    engine: sa.Engine = recorder.datastore.engine
    events: sa.Table = recorder.events_record_cls.__table__
    chain: sa.Table = recorder.chain
    e = events.c
    query = sa.select(e.id, e.originator_id, e.originator_version, e.topic, e.state).order_by(
        e.originator_id, e.originator_version)
    heads_query = sa.select(chain.c.originator_id, chain.c.originator_version, chain.c.hash)
    if originator_id is not None:
        query = query.where(e.originator_id == originator_id)
        heads_query = heads_query.where(chain.c.originator_id == originator_id.bytes)
    with engine.connect() as conn:
        head_position = conn.execute(sa.select(sa.func.max(e.id))).scalar() or 0
        recorded: dict[bytes, dict[int, bytes]] = {}
        for row in conn.execute(heads_query):
            recorded.setdefault(bytes(row.originator_id), {})[row.originator_version] = bytes(row.hash)
        out = Verification(position=head_position if position is None else position)
        group: list[Any] = []
        for row in conn.execution_options(yield_per=2000).execute(query):
            if group and row.originator_id != group[0].originator_id:
                _check(group, recorded.pop(group[0].originator_id.bytes, {}), out)
                group = []
            group.append(row)
        if group:
            _check(group, recorded.pop(group[0].originator_id.bytes, {}), out)
    for key, versions in recorded.items():  # heads recorded for aggregates that have no events left
        out.breaks.append(Break(f"aggregate {UUID(bytes=key)}", max(versions),
                                "its chain head is recorded but all its events are gone"))
    return out


def _check(rows: list[Any], recorded: dict[int, bytes], out: Verification) -> None:
    originator_id: UUID = rows[0].originator_id
    name = _name(rows[0])
    out.aggregates += 1
    out.events += len(rows)
    out.names[originator_id.bytes] = name
    hashes: dict[int, bytes] = {}
    prev, broken = ZERO, None
    for expected, row in enumerate(rows, start=1):
        state = bytes(row.state)
        link, _ = split_state(state)
        if row.originator_version != expected:
            broken = Break(name, expected, f"missing: version {row.originator_version} follows version "
                                           f"{expected - 1} (an event was removed or renumbered)")
        elif link is None:
            broken = Break(name, expected, "carries no link to the event before it (stored without the chain)")
        elif link != prev:
            broken = Break(name, expected, f"its link does not match version {expected - 1} (that event was "
                                           "changed, removed or swapped)" if expected > 1 else
                           "its link should be empty for a first event (events were swapped)")
        if broken:
            out.breaks.append(broken)
            return
        prev = hashes[expected] = event_hash(originator_id, expected, row.topic, state)
        if row.id <= out.position:
            out.heads[originator_id.bytes] = (expected, prev)
    last = len(rows)
    for version in sorted(recorded):
        if version > last:
            out.breaks.append(Break(name, last + 1, f"missing: version {version} was recorded, the case now ends "
                                                    f"at version {last} (events removed from its end)"))
            return
        if hashes[version] != recorded[version]:
            out.breaks.append(Break(name, version, "changed since it was recorded"))
            return
    if not recorded or max(recorded) != last:
        out.breaks.append(Break(name, last, "was not recorded through the ledger (no chain head for it)"))


def _name(first: Any) -> str:
    """A case's reference (or feedback's), read from its first event; the aggregate id otherwise."""
    kind = first.topic.rsplit(":", 1)[-1].split(".")[0]
    try:
        ref = json.loads(split_state(bytes(first.state))[1]).get("ref")
    except (ValueError, AttributeError):
        ref = None
    return str(ref) if ref else f"{kind} {first.originator_id}"


def merkle_root(heads: dict[bytes, tuple[int, bytes]]) -> bytes:
    level = [hashlib.sha256(b"\x00" + key + version.to_bytes(8, "big") + digest).digest()
             for key, (version, digest) in sorted(heads.items())]
    if not level:
        return hashlib.sha256(b"").digest()
    while len(level) > 1:
        level = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0]


def digest(found: Verification) -> dict[str, Any]:
    """What to keep outside the database: the root, and each aggregate's head so a later check can name cases."""
    return {
        "format": DIGEST_FORMAT, "position": found.position,
        "made_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "aggregates": len(found.heads), "root": found.root,
        "heads": {UUID(bytes=k).hex: [v, h.hex()] for k, (v, h) in sorted(found.heads.items())},
    }


def read_digest_file(path: str | Path) -> dict[str, Any]:
    """A digest kept outside the database, read and checked whole before anything is compared with it; one
    DigestUnreadable line naming the file if it is not UTF-8, not JSON, nested deeper than a digest, or not a
    digest."""
    where = f"cannot read the digest {brief(path)}"
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DigestUnreadable(f"{where}: {e.strerror or e}") from None
    try:
        return read_digest(utf8(data))
    except NotUtf8 as e:
        raise DigestUnreadable(f"{where}: {e}, so not a digest written by 'complaints verify --digest'") from None
    except ValueError as e:
        raise DigestUnreadable(f"{where}: {e}") from None


def read_digest(text: str) -> dict[str, Any]:
    """The digest in `text`, every part of it checked (ValueError says which is wrong): what `compare` reads."""
    data = loads(text)
    if not isinstance(data, dict) or data.get("format") != DIGEST_FORMAT:
        raise ValueError(f"not a digest written by 'complaints verify --digest' ({DIGEST_FORMAT})")
    position, root, heads = data.get("position"), data.get("root"), data.get("heads")
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= MAX_POSITION:
        raise ValueError(f"its position {quoted(position)} is not a position in a ledger")
    if not isinstance(root, str) or not _HEX_HASH.fullmatch(root):
        raise ValueError(f"its root {quoted(root)} is not a SHA-256 hash in hex")
    if not isinstance(heads, dict):
        raise ValueError("its heads are not a table of aggregates")
    for key, head in heads.items():
        if not (_HEX_ID.fullmatch(key) and isinstance(head, list) and len(head) == 2
                and isinstance(head[0], int) and not isinstance(head[0], bool) and 1 <= head[0] <= MAX_POSITION
                and isinstance(head[1], str) and _HEX_HASH.fullmatch(head[1])):
            raise ValueError(f"its head for {quoted(key)} is not [version, hash]")
    return data


def compare(recorded: dict[str, Any], now: Verification) -> list[Break]:
    """How the ledger now (its heads at the digest's position) differs from the digest: empty if it contains the
    ledger of then unchanged."""
    out = []
    then = {UUID(hex=k).bytes: (int(v), bytes.fromhex(h)) for k, (v, h) in recorded["heads"].items()}
    for key in sorted(set(then) | set(now.heads)):
        name = now.names.get(key, f"aggregate {UUID(bytes=key)}")
        if key not in now.heads:
            out.append(Break(name, then[key][0], "in the digest, but none of its events up to the digest's "
                                                 "position remain"))
        elif key not in then:
            out.append(Break(name, now.heads[key][0], "has events at or before the digest's position that the "
                                                      "digest does not know (inserted afterwards)"))
        elif now.heads[key][0] != then[key][0]:
            out.append(Break(name, then[key][0], f"the digest recorded it at version {then[key][0]}, the ledger "
                                                 f"has version {now.heads[key][0]} at that position"))
        elif now.heads[key][1] != then[key][1]:
            out.append(Break(name, then[key][0], "its history up to this version changed since the digest"))
    if not out and now.root != recorded["root"]:
        out.append(Break("ledger", 0, "the root differs from the digest's"))
    return out


def case_links(recorder: Any, originator_id: UUID) -> list[dict[str, Any]]:
    """Each stored event of one aggregate with the link it carries and its own hash, in version order."""
    e = recorder.events_record_cls.__table__.c
    with recorder.datastore.engine.connect() as conn:
        rows = conn.execute(sa.select(e.id, e.originator_version, e.topic, e.state)
                            .where(e.originator_id == originator_id).order_by(e.originator_version)).all()
    out = []
    for row in rows:
        state = bytes(row.state)
        link, _ = split_state(state)
        out.append({"version": row.originator_version, "position": row.id,
                    "link": link.hex() if link is not None else None,
                    "hash": event_hash(originator_id, row.originator_version, row.topic, state).hex()})
    return out
