"""Checking the audit trail: every aggregate's hash chain, its recorded heads, and digests kept outside the database.

`verify` walks each aggregate's events in version order and reports, per case, the first link that does not hold:
a version missing or out of place, a link that does not match the event before it (that event changed, removed or
swapped), a recorded head that no longer matches (the last event changed) or lies beyond the end (events removed).
It checks the ledger-wide log chain in the same pass (audit_chain.py): an event removed (its log row remains, or the
next row names a position that is gone), moved to another position, changed, or written without a log row.
A digest is the Merkle root over every aggregate's chain head at a log position; a digest kept elsewhere proves
later that the ledger up to that position is still contained, unchanged, in the ledger now. Signed anchors
(anchors.py) keep the log chain's hash at a position outside the database.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from uuid import UUID

import sqlalchemy as sa

from ..domain.errors import ComplaintsError
from ..domain.limits import MAX_POSITION
from ..domain.values import brief, quoted
from .audit_chain import MARK, PREFIX, ZERO, event_hash, split_state
from .file_text import NotUtf8, loads, utf8
from .persistence import read_snapshot

DIGEST_FORMAT = "complaints-ledger digest 1"
_HEX_ID, _HEX_HASH = re.compile(r"[0-9a-f]{32}"), re.compile(r"[0-9a-f]{64}")


class DigestUnreadable(ComplaintsError):
    """A file given as a digest that is not one `complaints verify --digest` wrote."""


@dataclass(frozen=True)
class Break:
    """The first link of one aggregate's chain that does not hold (version None: a finding about the ledger as a
    whole, such as a trigger or an anchor)."""

    name: str
    version: int | None
    problem: str

    def line(self) -> str:
        if self.version is None:
            return f"{self.name}: {self.problem}"
        return f"{self.name} version {self.version}: {self.problem}" if self.version else self.problem


@dataclass
class Verification:
    position: int
    aggregates: int = 0
    events: int = 0
    breaks: list[Break] = field(default_factory=list)
    heads: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)  # chain head at `position`, per aggregate
    names: dict[bytes, str] = field(default_factory=dict)
    log_start: int | None = None  # the first position the ledger-wide log chain covers (None: it has no rows)
    log_hashes: dict[int, bytes] = field(default_factory=dict)  # the log chain's hash at positions asked for
    log_head: tuple[int, bytes] | None = None  # the last log row: (position, hash)
    namer: Callable[[bytes], str] | None = None
    kept: dict[str, list[tuple[bytes, bytes]]] = field(default_factory=dict)  # (aggregate, payload) by topic asked for
    _packed: tuple[int, bytes] | None = field(default=None, repr=False, compare=False)
    _root_of: tuple[bytes, bytes] | None = field(default=None, repr=False, compare=False)  # (packed, its root)
    _rooting: _RootJob | None = field(default=None, repr=False, compare=False)
    base: bytes | None = field(default=None, repr=False)  # a checkpoint's packed heads, which `heads` update
    dropped: set[bytes] = field(default_factory=set, repr=False)  # heads of `base` that no longer stand

    @property
    def root(self) -> str:
        packed = self.packed()
        if self._rooting is not None:  # computed meanwhile in a process of its own (`root_soon`)
            job, self._rooting = self._rooting, None
            found = job.result()
            if found is not None and job.packed is packed:
                self._root_of = (packed, found)
        if self._root_of is None or self._root_of[0] is not packed:
            self._root_of = (packed, merkle_root_packed(packed))
        return self._root_of[1].hex()

    def root_soon(self) -> None:
        """Start computing the root in a forked process, for `root` to collect: a large ledger's root (0.6 s at 1M
        events) is then worked out on the other core while the caller goes on with its other checks and writes the
        checkpoint (which needs the packed heads, not the root). Where fork is missing, `root` computes it."""
        import multiprocessing

        if "fork" in multiprocessing.get_all_start_methods():
            self._rooting = _RootJob(self.packed())

    def packed(self) -> bytes:
        """The heads as the Merkle tree's leaves hash them (id, version, hash; sorted by id), made once: the root
        and a checkpoint (checkpoints.py) both read them. From a checkpoint (`base`), its packed heads with this
        pass's (`heads`) put in place and the `dropped` ones taken out."""
        if self._packed is None or self._packed[0] != len(self.heads):
            if self.base is None:
                packed = b"".join([key + version.to_bytes(8, "big") + digest
                                   for key, (version, digest) in sorted(self.heads.items())])
            else:
                packed = _merge_packed(self.base, self.heads, self.dropped)
            self._packed = (len(self.heads), packed)
        return self._packed[1]

    def name(self, key: bytes) -> str:
        if key not in self.names:
            self.names[key] = self.namer(key) if self.namer else f"aggregate {UUID(bytes=key)}"
        return self.names[key]


def verify(recorder: Any, originator_id: UUID | None = None, position: int | None = None,
           log_positions: Iterable[int] = (), keep_topics: Iterable[str] = (), start: _Start | None = None
           ) -> Verification:
    """Recompute the chains (of one aggregate, or all) and the heads as they stood at `position` (default: now).

    The whole ledger is read once, in log order, joined with its log chain: each event's hash is computed once and
    checked against its case's previous event (the link it carries) and the log row at its position (which names
    the event that belongs there and the position before it). A case whose events do not follow each other there,
    or whose recorded head disagrees, is walked again on its own (`_check`) to name its first broken link. The log
    hash at each of `log_positions` is kept, for anchors. The payloads (without their link) of the events whose
    topic is in `keep_topics` are kept in `kept`, by topic: the other checks of `complaints verify` read them from
    this pass instead of scanning the table again (whole-ledger pass only)."""
    engine: sa.Engine = recorder.datastore.engine
    with read_snapshot(engine) as conn:
        out = Verification(position=0)
        out.namer = lambda key: _names(conn, recorder.events, [key]).get(key, f"aggregate {UUID(bytes=key)}")
        head_position = conn.execute(sa.select(sa.func.max(recorder.events.c.id))).scalar() or 0
        out.position = head_position if position is None else position
        if originator_id is not None:
            _by_case(conn, recorder, [originator_id.bytes], out, count=True)
        else:
            _whole_ledger(conn, recorder, out, set(log_positions), keep_topics, start, head_position)
    out.namer = lambda key: _names_now(engine, recorder.events, key)
    return out


def trigger_breaks(problems: dict[str, str]) -> list[Break]:
    """What the open found wrong with the append-only triggers (`recorder.append_only_problems`), as breaks for
    `complaints verify`: someone able to alter the tables took a trigger away (the open put it back if it could).
    Not part of `verify` itself, which checks the history (a copy compares its breaks with its source's)."""
    out = []
    for name, problem in sorted(problems.items()):
        what, _, rest = problem.partition(" (")
        if what == "origin":
            continue
        done = "re-created by this open" if what == "missing" else "re-enabled by this open"
        out.append(Break(f"append-only trigger {name}", None,
                         f"{what} ({rest[:-1]})" if rest else f"was {what} ({done}): someone with the rights to "
                                                             "alter the tables took it away"))
    return out


def _names_now(engine: sa.Engine, events: sa.Table, key: bytes) -> str:
    with engine.connect() as conn:
        return _names(conn, events, [key]).get(key, f"aggregate {UUID(bytes=key)}")


def _names(conn: sa.Connection, events: sa.Table, keys: list[bytes]) -> dict[bytes, str]:
    """Each aggregate's name (a case's reference), read from its first remaining event."""
    e = events.c
    out = {}
    for key in keys:
        row = conn.execute(sa.select(e.originator_id, e.topic, e.state).where(e.originator_id == UUID(bytes=key))
                           .order_by(e.originator_version).limit(1)).first()
        if row is not None:
            out[key] = _name(row)
    return out


class _PackedKeys:
    """The ids of packed heads as a sequence, for bisect."""

    def __init__(self, packed: bytes):
        self.packed = packed

    def __len__(self) -> int:
        return len(self.packed) // 56

    def __getitem__(self, i: int) -> bytes:
        return self.packed[i * 56:i * 56 + 16]


def _find_packed(packed: bytes, key: bytes) -> tuple[int, bytes] | None:
    keys = _PackedKeys(packed)
    i = bisect.bisect_left(keys, key)
    if i < len(keys) and keys[i] == key:
        return int.from_bytes(packed[i * 56 + 16:i * 56 + 24], "big"), packed[i * 56 + 24:i * 56 + 56]
    return None


def _merge_packed(base: bytes, heads: dict[bytes, tuple[int, bytes]], dropped: set[bytes]) -> bytes:
    keys = _PackedKeys(base)
    parts, at = [], 0
    for key in sorted(set(heads) | dropped):
        i = bisect.bisect_left(keys, key, at)
        parts.append(base[at * 56:i * 56])
        at = i + 1 if i < len(keys) and keys[i] == key else i
        if key in heads:
            version, digest = heads[key]
            parts.append(key + version.to_bytes(8, "big") + digest)
    parts.append(base[at * 56:])
    return b"".join(parts)


@dataclass
class _Start:
    """Where an incremental pass takes over from a checkpoint: the events after `position` are checked, the cases'
    heads there (`packed`, as `Verification.packed` gives them) and the log chain's hash there standing for
    everything before it."""

    position: int
    log_hash: bytes
    packed: bytes
    events: int


def _whole_ledger(conn: sa.Connection, recorder: Any, out: Verification, wanted: set[int],
                  keep_topics: Iterable[str] = (), start: _Start | None = None, head: int | None = None) -> None:
    """The pass in log order (see `verify`); from `start` on, when given, instead of from the first event."""
    events: sa.Table = recorder.events
    log = recorder.log
    has_log = recorder.has_log
    pg = conn.dialect.name == "postgresql"
    q = conn.dialect.identifier_preparer.format_table
    oid_sql = "pg_catalog.uuid_send(e.originator_id)" if pg else "e.originator_id"
    keep_topics = list(keep_topics)
    # The log row is compared with its event in SQL (one flag instead of two more columns per row) and the topic
    # comes as bytes, so the loop below only unpacks a tuple, hashes twice and looks its case up once. PostgreSQL
    # hashes each event itself (its sha256, schema-qualified so that no function of the ledger's schema stands in
    # for it), in its own process beside this one, and sends the hash and the link instead of the whole payload
    # (except the payloads asked for).
    server_hash = pg and conn.dialect.server_version_info >= (11,)
    if server_hash:
        topic_sql = "e.topic"
        kept_sql = ", ".join(f"'{t}'" for t in keep_topics if "'" not in t)
        state_sql = (f"CASE WHEN e.topic IN ({kept_sql}) THEN e.state ELSE substring(e.state from 1 for {PREFIX}) "
                     "END" if kept_sql else f"substring(e.state from 1 for {PREFIX})")
        hash_sql = (f"pg_catalog.sha256({oid_sql} || pg_catalog.int8send(e.originator_version::int8) || "
                    "pg_catalog.convert_to(e.topic, 'UTF8') || '\\x00'::bytea || e.state)")
    else:
        topic_sql = "pg_catalog.convert_to(e.topic, 'UTF8')" if pg else "CAST(e.topic AS BLOB)"
        state_sql, hash_sql = "e.state", "NULL"

    def select(lo: int | None, hi: int | None) -> str:
        """The pass's query over the positions in (lo, hi] (open at either end when None)."""
        bounds = ([f"e.id > {int(lo)}"] if lo is not None else []) + ([f"e.id <= {int(hi)}"] if hi is not None else [])
        where = f" WHERE {' AND '.join(bounds)}" if bounds else ""
        if not has_log:
            return (f"SELECT e.id, {oid_sql}, e.originator_version, {topic_sql}, {state_sql}, NULL, NULL, NULL, "
                    f"{hash_sql} FROM {q(events)} e{where} ORDER BY e.id")
        on = "".join(f" AND {b.replace('e.id', 'l.position')}" for b in bounds)
        return (f"SELECT e.id, {oid_sql}, e.originator_version, {topic_sql}, {state_sql}, l.previous, "
                f"CASE WHEN l.hash IS NULL THEN NULL WHEN l.originator_id = {oid_sql} AND l.originator_version = "
                f"e.originator_version THEN 1 ELSE 0 END, l.hash, {hash_sql} FROM {q(events)} e LEFT JOIN {q(log)} l "
                f"ON l.position = e.id{on}{where} ORDER BY e.id")

    if has_log:
        count_log = sa.select(sa.func.count()).select_from(log)
        if start is not None:
            count_log = count_log.where(log.c.position > start.position)
        log_rows = conn.execute(count_log).scalar() or 0
    else:
        log_rows = 0
    dbapi = conn.connection.dbapi_connection
    if start is not None:
        out.base = start.packed

    def newest_heads() -> dict[bytes, tuple[int, bytes]]:
        """The newest recorded head of each aggregate. SQLite: the recorded heads table in its stored order, the
        newest picked out here (its GROUP BY walks the key's index and looks each row's hash up in the table: 1.5 s
        at 1M events, against 0.45 s). PostgreSQL: DISTINCT ON over the key's index."""
        cur = dbapi.cursor()
        newest: dict[bytes, tuple[int, bytes]] = {}
        if pg:
            cur.execute(f"SELECT DISTINCT ON (originator_id) originator_id, originator_version, hash FROM "
                        f"{q(recorder.chain)} ORDER BY originator_id, originator_version DESC")
            for key, version, digest_ in cur:
                newest[bytes(key)] = (version, bytes(digest_))
        else:
            cur.execute(f"SELECT originator_id, originator_version, hash FROM {q(recorder.chain)}")
            for key, version, digest_ in cur:
                was = newest.get(key)
                if was is None or version > was[0]:
                    newest[key] = (version, digest_)
        cur.close()
        return newest

    newest: dict[bytes, tuple[int, bytes]] | None = None
    source = _split_source(conn, has_log, out.position, head, start, pg, server_hash)
    if source is not None:
        scan, newest = _split_scan(conn, dbapi, source, select, log, events, out.position, head, wanted, keep_topics,
                                   server_hash, newest_heads)
    else:
        cur = _cursor(dbapi, pg)
        cur.execute(select(start.position if start is not None else None, None))
        carry = (None, b"") if start is None else (start.position, start.log_hash)
        scan = _scan(_rows(cur, pg, server_hash), out.position, wanted, keep_topics, server_hash, start, carry,
                     firsts=False)
        cur.close()
    cases, suspects, n, logged = scan.cases, scan.suspects, scan.n, scan.logged
    unlogged, log_breaks, deferred, mismatched = scan.unlogged, scan.log_breaks, scan.deferred, scan.mismatched
    last_pos, last_hash = scan.last_pos, scan.last_hash
    out.log_start = scan.log_start
    out.log_hashes.update(scan.log_hashes)
    for topic, kept in scan.kept.items():
        out.kept.setdefault(topic, []).extend(kept)
    heads = out.heads = dict(cases) if scan.heads is None else scan.heads
    sha256 = hashlib.sha256
    if mismatched:  # rare (tampering): which event the log row names, read again for the message
        for pos, oid, ver, loid, lver in conn.exec_driver_sql(
                f"SELECT e.id, {oid_sql}, e.originator_version, l.originator_id, l.originator_version "
                f"FROM {q(events)} e JOIN {q(log)} l ON l.position = e.id WHERE e.id IN "
                f"({', '.join(str(int(p)) for p in mismatched)})"):
            oid, loid = bytes(oid), bytes(loid)
            which = f"its version {lver}" if loid == oid else f"{_key_hex(loid)} version {lver}"
            log_breaks.append((pos, oid, ver, f"the log chain recorded {which} at this position, not this event "
                                              "(events moved between positions, or replaced)"))
    out.events, out.aggregates = n + (start.events if start is not None else 0), len(cases)
    if start is not None:
        out.aggregates = len(start.packed) // 56 + sum(1 for k in cases if _find_packed(start.packed, k) is None)
    if last_pos is not None:
        out.log_head = (last_pos, last_hash)
    # Recorded heads: each case's last event must be its recorded head (one row per aggregate, its newest).
    chain = recorder.chain
    gone: list[tuple[bytes, int]] = []
    if start is None:
        newest = newest_heads() if newest is None else newest
        recorded_heads: Iterable[Any] = ((key, version, digest_) for key, (version, digest_) in newest.items())
    else:  # only the cases with events after the checkpoint: the others' heads were checked when it was made
        recorded_heads = _recorded_heads(conn, chain, sorted(cases))
    for key, version, digest_ in recorded_heads:
        key = bytes(key)
        st = cases.get(key)
        if st is None:
            gone.append((key, version))
        elif st[0] != version or st[1] != bytes(digest_):
            suspects.add(key)
    # Log rows whose event is gone.
    orphans: dict[int, tuple[int, bytes, int, bytes]] = {}
    if log_rows > logged:
        for lpos, lprev, loid, lver, lhash in conn.exec_driver_sql(
                f"SELECT l.position, l.previous, l.originator_id, l.originator_version, l.hash FROM {q(log)} l "
                f"WHERE NOT EXISTS (SELECT 1 FROM {q(events)} e WHERE e.id = l.position)"
                f"{f' AND l.position > {int(start.position)}' if start is not None else ''} ORDER BY l.position"):
            orphans[lpos] = (lprev, bytes(loid), lver, bytes(lhash))
    # The per-case walk, for the cases that did not follow on cleanly.
    for key in list(suspects):
        heads.pop(key, None)
        if start is not None:
            out.dropped.add(key)  # its checkpoint head too, unless the walk below finds one at the position
    _by_case(conn, recorder, sorted(suspects), out, count=False)
    for key, version in gone:
        out.breaks.append(Break(f"aggregate {UUID(bytes=key)}", version,
                                "its chain head is recorded but all its events are gone"))
    # The log chain's findings, by position.
    findings: list[tuple[int, bytes | None, int | None, str]] = list(log_breaks)
    for pos, lprev, oid, eh, ver, lhash in deferred:
        before = orphans.get(lprev)
        if before is not None:
            if sha256(before[3] + pos.to_bytes(8, "big") + eh).digest() != lhash:
                findings.append((pos, oid, ver, _CHANGED))
        elif lprev == 0 and out.log_start == pos:
            pass
        else:
            findings.append((pos, oid, ver, f"the log chain says position {lprev} came before it, which has "
                                            "neither its event nor its log row any more (removed)"))
    for pos, oid, ver in unlogged:
        findings.append((pos, oid, ver, "has no link in the ledger-wide log chain (written around the ledger)"))
    by_case: dict[bytes, list[int]] = {}
    for lpos, (lprev, loid, lver, lhash) in orphans.items():
        by_case.setdefault(loid, []).append(lpos)
    findings.sort(key=lambda f: f[0])
    reported: dict[tuple[bytes | None, str], list[int]] = {}
    for pos, oid, ver, problem in findings:
        reported.setdefault((oid, problem), []).append(pos)
    for (oid, problem), positions in sorted(reported.items(), key=lambda kv: kv[1][0]):
        first = positions[0]
        ver = next(f[2] for f in findings if f[0] == first and f[1] == oid)
        more = f" (and {len(positions) - 1} later event(s) of it likewise)" if len(positions) > 1 else ""
        out.breaks.append(Break(out.name(oid) if oid else "log", ver, f"at position {first}: {problem}{more}"))
    for oid, positions in by_case.items():
        versions = sorted(orphans[p][2] for p in positions)
        where = ", ".join(str(p) for p in positions[:10]) + (" …" if len(positions) > 10 else "")
        if oid in cases or (start is not None and _find_packed(start.packed, oid) is not None):
            shown = ", ".join(str(v) for v in versions[:10]) + (" …" if len(versions) > 10 else "")
            out.breaks.append(Break(out.name(oid), versions[0],
                                    f"missing: the log chain recorded version{'s' if len(versions) > 1 else ''} "
                                    f"{shown} at position{'s' if len(positions) > 1 else ''} {where}; the event"
                                    f"{'s are' if len(positions) > 1 else ' is'} gone (removed)"))
        else:
            out.breaks.append(Break(f"aggregate {UUID(bytes=oid)}", None,
                                    f"missing: the log chain recorded {len(positions)} event(s) of it (versions "
                                    f"{versions[0]}–{versions[-1]}, at positions {where}); none remain (a whole "
                                    "case or record removed)"))
    if source is not None:  # a large ledger: its root worked out on the other core while the caller goes on
        out.root_soon()


@dataclass
class _Scan:
    """What the pass in log order found over a run of positions (the whole ledger, or one range of a split pass)."""

    cases: dict[bytes, tuple[int, bytes]]  # each case's last event in the run: (version, hash)
    heads: dict[bytes, tuple[int, bytes]] | None  # `cases` as it stood at the position asked for (None: the end)
    suspects: set[bytes]
    firsts: dict[bytes, tuple[int, bytes]] | None  # a later range: each case's first event there (version, link)
    n: int
    logged: int
    last_pos: int | None
    last_hash: bytes
    log_start: int | None
    log_hashes: dict[int, bytes]
    unlogged: list[tuple[int, bytes, int]]
    log_breaks: list[tuple[int, bytes, int, str]]
    deferred: list[tuple[int, int, bytes, bytes, int, bytes]]
    mismatched: list[int]
    kept: dict[str, list[tuple[bytes, bytes]]]


def _scan(rows: Iterable[Any], position: int, wanted: set[int], keep_topics: list[str], server_hash: bool,
          start: _Start | None, carry: tuple[int | None, bytes], firsts: bool) -> _Scan:
    """The loop of the pass in log order. `carry` is the last log row before the run (position and stored hash), as
    the loop itself carries it from row to row. With `firsts`, a later range of a split pass: each case's first
    event there is kept for the stitch (`_split_scan`) instead of checked, since its link is to an event that an
    earlier range read."""
    sha256 = hashlib.sha256
    cases: dict[bytes, tuple[int, bytes]] = {}  # from a checkpoint: only the cases with events after it
    heads: dict[bytes, tuple[int, bytes]] | None = None  # a copy of `cases` as it stood at `position`
    suspects: set[bytes] = set()
    first: dict[bytes, tuple[int, bytes]] | None = {} if firsts else None
    first_link = MARK + ZERO
    n = logged = 0
    last_pos, last_hash = carry
    log_start: int | None = None
    log_hashes: dict[int, bytes] = {}
    unlogged: list[tuple[int, bytes, int]] = []
    log_breaks: list[tuple[int, bytes, int, str]] = []
    deferred: list[tuple[int, int, bytes, bytes, int, bytes]] = []
    mismatched: list[int] = []
    versions = [v.to_bytes(8, "big") for v in range(4096)]
    mark = MARK
    kept: dict[str, list[tuple[bytes, bytes]]] = {t: [] for t in keep_topics}
    keep: dict[Any, list[tuple[bytes, bytes]]] = {(t if server_hash else t.encode()): kept[t] for t in keep_topics}
    for pos, oid, ver, topic, state, lprev, same, lhash, eh in rows:
        n += 1
        if keep and topic in keep:
            keep[topic].append((oid, split_state(state)[1]))
        if pos > position and heads is None:
            heads = dict(cases)
        if eh is None:
            eh = sha256(oid + (versions[ver] if ver < 4096 else ver.to_bytes(8, "big")) + topic + b"\x00"
                        + state).digest()
        st = cases.get(oid)
        if st is None and start is not None:
            st = _find_packed(start.packed, oid)
        if st is None:
            if first is not None:
                first[oid] = (ver, state[:PREFIX])
            elif ver != 1 or state[:PREFIX] != first_link:
                suspects.add(oid)
        elif ver != st[0] + 1 or state[4:PREFIX] != st[1] or not state.startswith(mark):
            suspects.add(oid)
        cases[oid] = (ver, eh)
        if lhash is None:
            if last_pos is None:
                suspects.add(oid)  # before the log chain: its case's own chain and heads are all there is
            else:
                unlogged.append((pos, oid, ver))
            continue
        logged += 1
        if pos in wanted:
            log_hashes[pos] = lhash
        if not same:
            mismatched.append(pos)
        elif lprev == last_pos:
            if sha256(last_hash + pos.to_bytes(8, "big") + eh).digest() != lhash:
                log_breaks.append((pos, oid, ver, _CHANGED))
        elif last_pos is None and lprev == 0:
            if sha256(ZERO + pos.to_bytes(8, "big") + eh).digest() != lhash:
                log_breaks.append((pos, oid, ver, _CHANGED))
            log_start = pos
        else:
            deferred.append((pos, lprev, oid, eh, ver, lhash))
            if last_pos is None:
                log_start = pos
        last_pos, last_hash = pos, lhash
    return _Scan(cases, heads, suspects, first, n, logged, last_pos, last_hash, log_start, log_hashes, unlogged,
                 log_breaks, deferred, mismatched, kept)


def _cursor(dbapi: Any, pg: bool) -> Any:
    """A cursor for the pass's query: on PostgreSQL a server-side one, read 20,000 rows at a time."""
    if not pg:
        return dbapi.cursor()
    cur = dbapi.cursor(name="complaints_verify")
    cur.itersize = 20000
    return cur


def _rows(cur: Any, pg: bool, server_hash: bool) -> Iterable[Any]:
    """The pass's rows as `_scan` reads them: PostgreSQL's bytea arrives as memoryview (whose == with bytes is
    False), so bytes for every one; the topic as bytes when this process hashes."""
    if server_hash:
        return ((pos, bytes(oid), ver, topic, bytes(state), lprev, same_, None if lh is None else bytes(lh),
                 bytes(eh)) for pos, oid, ver, topic, state, lprev, same_, lh, eh in cur)
    if pg:
        return ((pos, bytes(oid), ver, bytes(topic), bytes(state), lprev, same_, None if lh is None else bytes(lh),
                 None) for pos, oid, ver, topic, state, lprev, same_, lh, _ in cur)
    return cur


# A whole-ledger verify with more events than this is split into position ranges, each read and checked by its own
# process (COMPLAINTS_VERIFY_SPLIT_MIN lowers it, for the tests).
SPLIT_MIN = 200_000
_RANGES = 2  # the machines this runs on have 2 cores or more; more ranges than cores only adds the stitching
_PARENT_SHARE = 0.45  # of the positions: this process also reads the recorded heads while the child finishes


@dataclass(frozen=True)
class _Source:
    """Where a range's process reads from: the SQLite file (`path`), or PostgreSQL through a connection of its own
    made with `connect` (the driver's arguments) that takes up this pass's snapshot (`snapshot`, exported by it)."""

    path: str | None = None
    connect: tuple[tuple[Any, ...], dict[str, Any]] | None = None
    snapshot: str | None = None


def _split_source(conn: sa.Connection, has_log: bool, position: int, head: int | None, start: _Start | None,
                  pg: bool, server_hash: bool) -> _Source | None:
    """What to split the pass over, when splitting it is safe and worth it: the whole ledger from its start (not
    from a checkpoint) with its log chain, the heads asked for at the end (not at an earlier position), enough events
    for two processes to pay, and fork (the child starts at once, without importing anything again). SQLite: a
    file, which each range's process opens itself. PostgreSQL (psycopg2, hashing in the server): each range's
    process opens its own connection in this one's snapshot, so that two server processes hash at once."""
    if start is not None or not has_log or head is None or position < head:
        return None
    try:
        least = int(os.environ.get("COMPLAINTS_VERIFY_SPLIT_MIN", SPLIT_MIN))
    except ValueError:
        least = SPLIT_MIN
    if head <= least or (os.cpu_count() or 1) < 2:
        return None
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    if pg:
        if not server_hash or conn.dialect.driver != "psycopg2":
            return None
        return _Source(connect=conn.dialect.create_connect_args(conn.engine.url))
    if conn.dialect.name != "sqlite":
        return None
    database = conn.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return _Source(path=os.path.abspath(database))


def _cuts(low: int, head: int) -> list[int]:
    """The ranges' bounds over the positions low..head: range i is (cuts[i], cuts[i + 1]]; the last is this
    process's, `_PARENT_SHARE` of them, the children's share the rest."""
    child = (head - low + 1) * (1 - _PARENT_SHARE) / (_RANGES - 1)
    return [low - 1 + int(child * i) for i in range(_RANGES)] + [head]


def _split_scan(conn: sa.Connection, dbapi: Any, source: _Source, select: Callable[[int | None, int | None], str],
                log: sa.Table, events: sa.Table, position: int, head: int, wanted: set[int],
                keep_topics: list[str], server_hash: bool, meanwhile: Callable[[], Any]) -> tuple[_Scan, Any]:
    """The pass in log order over position ranges at once: the earlier ranges each in a forked process, the last in
    this one, then stitched into what the one pass would have found.

    The ranges end at `head`, the largest position this connection's snapshot holds. On SQLite (WAL) each
    process's connection gets the state of the file when it first reads, so a child may see events appended since,
    but they are all after `head` and so outside every range (positions only grow; rows in a range cannot change
    under the append-only triggers, and a change around them is what verify reports the next time). On PostgreSQL
    each child's transaction takes up this one's exported snapshot (SET TRANSACTION SNAPSHOT), so it reads exactly
    what this connection reads. Each range starts with the log row before it as the one pass would carry it (the
    last log row at or before its start that has its event), read in this snapshot, so the log chain's checks
    inside each range are the one pass's. A case's chain that crosses a boundary is stitched afterwards: its first
    event in a later range must follow its last head in the ranges before (version + 1, link to that head's hash),
    or be a first event if it had none; otherwise the case is a suspect, walked on its own as in the one pass. This
    process's range is the shorter, and it does `meanwhile` (in its snapshot) while the children finish theirs and
    hand them over."""
    import multiprocessing

    pg = source.connect is not None
    if pg:
        source = _Source(connect=source.connect,
                         snapshot=conn.exec_driver_sql("SELECT pg_catalog.pg_export_snapshot()").scalar())
    q = conn.dialect.identifier_preparer.format_table
    low = conn.execute(sa.select(sa.func.min(events.c.id))).scalar() or 0
    cuts = _cuts(low, head)
    carries: list[tuple[int | None, bytes]] = [(None, b"")]
    for cut in cuts[1:-1]:
        row = conn.exec_driver_sql(
            f"SELECT l.position, l.hash FROM {q(log)} l WHERE l.position <= {int(cut)} AND EXISTS "
            f"(SELECT 1 FROM {q(events)} e WHERE e.id = l.position) ORDER BY l.position DESC LIMIT 1").first()
        carries.append((None, b"") if row is None else (row[0], bytes(row[1])))
    ctx = multiprocessing.get_context("fork")
    children = []
    for i in range(_RANGES - 1):
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_range_child, daemon=True,
                            args=(send, source, select(cuts[i], cuts[i + 1]), position, wanted, keep_topics,
                                  server_hash, carries[i], i > 0))
        child.start()
        send.close()
        children.append((child, receive))

    def here(i: int) -> _Scan:
        cur = _cursor(dbapi, pg)
        cur.execute(select(cuts[i], cuts[i + 1]))
        found = _scan(_rows(cur, pg, server_hash), position, wanted, keep_topics, server_hash, None, carries[i],
                      firsts=i > 0)
        cur.close()
        return found

    last = here(len(cuts) - 2)
    also = meanwhile()
    scans = []
    for i, (child, receive) in enumerate(children):
        try:
            kind, value = receive.recv()
        except EOFError:
            kind, value = "error", "the process ended without an answer"
        receive.close()
        child.join()
        if kind != "ok":  # e.g. the file could not be opened again: that range in this process after all
            value = here(i)
        scans.append(value)
    scans.append(last)
    return _stitch(scans), also


def _range_child(send: Any, source: _Source, sql: str, position: int, wanted: set[int], keep_topics: list[str],
                 server_hash: bool, carry: tuple[int | None, bytes], firsts: bool) -> None:
    """One range of a split pass, in a forked process, through its own read-only connection (nothing of the
    parent's engine or connection is used here)."""
    try:
        if source.path is not None:
            import sqlite3
            from urllib.parse import quote

            conn = sqlite3.connect(f"file:{quote(source.path)}?mode=rw", uri=True, isolation_level=None)
            conn.execute("PRAGMA query_only = ON")
            cur = conn.execute(sql)
        else:
            import psycopg2

            args, kwargs = source.connect
            conn = psycopg2.connect(*args, **kwargs)
            conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
            conn.cursor().execute("SET TRANSACTION SNAPSHOT %s", (source.snapshot,))
            cur = _cursor(conn, True)
            cur.execute(sql)
        found = _scan(_rows(cur, source.path is None, server_hash), position, wanted, keep_topics, server_hash,
                      None, carry, firsts)
        cur.close()
        conn.close()
        send.send(("ok", found))
    except Exception as e:  # noqa: BLE001 - the parent reads the range itself
        send.send(("error", repr(e)))
    finally:
        send.close()


def _stitch(scans: list[_Scan]) -> _Scan:
    """The ranges' findings as the one pass would have made them (see `_split_scan`)."""
    whole = scans[0]
    cases, suspects = whole.cases, whole.suspects
    first_link = MARK + ZERO
    for part in scans[1:]:
        for oid, (ver, link) in (part.firsts or {}).items():
            st = cases.get(oid)
            if st is None:
                if ver != 1 or link != first_link:
                    suspects.add(oid)
            elif ver != st[0] + 1 or link[4:] != st[1] or not link.startswith(MARK):
                suspects.add(oid)
        cases.update(part.cases)
        suspects |= part.suspects
        whole.n += part.n
        whole.logged += part.logged
        if part.last_pos is not None:
            whole.last_pos, whole.last_hash = part.last_pos, part.last_hash
        if whole.log_start is None:
            whole.log_start = part.log_start
        whole.log_hashes.update(part.log_hashes)
        whole.unlogged += part.unlogged
        whole.log_breaks += part.log_breaks
        whole.deferred += part.deferred
        whole.mismatched += part.mismatched
        for topic, kept in part.kept.items():
            whole.kept.setdefault(topic, []).extend(kept)
    whole.heads, whole.firsts = None, None  # split only when the heads are asked for at the end
    return whole


_CHANGED = "changed since the ledger-wide log chain recorded it"


def _recorded_heads(conn: sa.Connection, chain: sa.Table, keys: list[bytes]) -> Iterator[tuple[bytes, int, bytes]]:
    """Each of these aggregates' newest recorded chain head (the primary key's index, 500 at a time)."""
    c = chain.c
    for i in range(0, len(keys), 500):
        newest: dict[bytes, tuple[int, bytes]] = {}
        for key, version, digest_ in conn.execute(sa.select(c.originator_id, c.originator_version, c.hash)
                                                  .where(c.originator_id.in_(keys[i:i + 500]))):
            key = bytes(key)
            if key not in newest or version > newest[key][0]:
                newest[key] = (version, bytes(digest_))
        for key, (version, digest_) in newest.items():
            yield key, version, digest_


def _key_hex(key: bytes) -> str:
    return f"aggregate {UUID(bytes=key)}"


def _by_case(conn: sa.Connection, recorder: Any, keys: list[bytes], out: Verification, count: bool) -> None:
    """The per-case walk (in version order, with every recorded head) of these aggregates."""
    if not keys:
        return
    events: sa.Table = recorder.events_record_cls.__table__
    chain: sa.Table = recorder.chain
    e = events.c
    if len(keys) > 200:  # many (a ledger made before the log chain): one pass over them all, as verify once did
        wanted = set(keys)
        recorded_all: dict[bytes, dict[int, bytes]] = {}
        for row in conn.execute(sa.select(chain.c.originator_id, chain.c.originator_version, chain.c.hash)):
            if bytes(row.originator_id) in wanted:
                recorded_all.setdefault(bytes(row.originator_id), {})[row.originator_version] = bytes(row.hash)
        group: list[Any] = []
        query = sa.select(e.id, e.originator_id, e.originator_version, e.topic, e.state).order_by(
            e.originator_id, e.originator_version)
        for row in conn.execution_options(yield_per=2000).execute(query):
            if group and row.originator_id != group[0].originator_id:
                if group[0].originator_id.bytes in wanted:
                    _check(group, recorded_all.get(group[0].originator_id.bytes, {}), out, count)
                group = []
            group.append(row)
        if group and group[0].originator_id.bytes in wanted:
            _check(group, recorded_all.get(group[0].originator_id.bytes, {}), out, count)
        return
    for key in keys:
        originator_id = UUID(bytes=key)
        rows = conn.execute(sa.select(e.id, e.originator_id, e.originator_version, e.topic, e.state)
                            .where(e.originator_id == originator_id).order_by(e.originator_version)).all()
        recorded: dict[int, bytes] = {}
        for row in conn.execute(sa.select(chain.c.originator_version, chain.c.hash)
                                .where(chain.c.originator_id == key)):
            recorded[row.originator_version] = bytes(row.hash)
        if rows:
            _check(rows, recorded, out, count)
        elif recorded and count:
            out.breaks.append(Break(f"aggregate {originator_id}", max(recorded),
                                    "its chain head is recorded but all its events are gone"))


def _check(rows: list[Any], recorded: dict[int, bytes], out: Verification, count: bool = True) -> None:
    originator_id: UUID = rows[0].originator_id
    name = _name(rows[0])
    if count:
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


class _RootJob:
    """`merkle_root_packed(packed)` in a forked process (see `Verification.root_soon`)."""

    def __init__(self, packed: bytes):
        import multiprocessing

        self.packed = packed
        ctx = multiprocessing.get_context("fork")
        self.receive, send = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_root_child, args=(send, packed), daemon=True)
        self.process.start()
        send.close()

    def result(self) -> bytes | None:
        """The root; None if the process failed (the caller computes it then)."""
        try:
            found = self.receive.recv()
        except (EOFError, OSError):
            found = None
        self.receive.close()
        self.process.join()
        return found if isinstance(found, bytes) and len(found) == 32 else None


def _root_child(send: Any, packed: bytes) -> None:
    try:
        send.send(merkle_root_packed(packed))
    except Exception:  # noqa: BLE001 - the parent computes it itself
        send.send(None)
    finally:
        send.close()


def merkle_root_packed(packed: bytes) -> bytes:
    """The root over leaves packed as `Verification.packed` gives them (56 bytes each)."""
    sha256 = hashlib.sha256
    level = [sha256(b"\x00" + packed[i:i + 56]).digest() for i in range(0, len(packed), 56)]
    if not level:
        return sha256(b"").digest()
    while len(level) > 1:
        odd = level[-1] if len(level) % 2 else None
        level = [sha256(b"\x01" + left + right).digest() for left, right in zip(level[0::2], level[1::2])]
        if odd is not None:
            level.append(odd)
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
        name = now.name(key)
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
