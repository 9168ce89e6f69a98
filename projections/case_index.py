"""case_index: the blind index behind `complaints find` and `list --complainant/--property/--repeat`, and the homes
that repeats are counted by.

Unlike the other read models, this one is built from personal data: it opens each case's name, contact details,
address and UPRN with the person's key (as `show` does), turns them into terms (domain/search.py) and keeps only
their blind tokens (adapters/blind_index.py: keyed HMAC), never the text. So it needs a login that may read the key
table (the owner or a writer); a reader reads it as a writer left it.

Tables:
- terms: one row per (case, field, token), field being name, contact or property.
- homes: one row per case with a home: blind tokens of its UPRN and of its address (search.address_key), its
  received date and category, for the repeats rule (search.repeats).

Erasure: a `PersonalDataErased` event deletes the rows of every case of the person, and a rebuild finds their
fields reading "[erased]", so nothing of an erased person is in the index or counted as a repeat.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Iterable

import sqlalchemy as sa

from ..adapters.projection_store import Write
from ..domain import search

NAME = "case_index"
VERSION = 1
# Events after which a case's index rows are worked out again: its receipt, and a correction of its details.
REINDEX_ON = ("Received", "Corrected")
ERASURE = "PersonalDataErased"


def _placeholder(value: Any) -> bool:
    from ..adapters.personal_data import KEY_MISSING, UNREADABLE, WITHHELD
    from ..domain.complaint import ERASED

    return value in (ERASED, WITHHELD, KEY_MISSING, UNREADABLE)


def _clear(value: Any) -> str | None:
    return None if value is None or not isinstance(value, str) or _placeholder(value) else value


class CaseIndex:
    name = NAME
    version = VERSION

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]:
        return {
            "terms": sa.Table(
                f"rm_case_index_{suffix}", metadata,
                sa.Column("ref", sa.String(40), nullable=False, index=True),
                sa.Column("field", sa.String(16), nullable=False),
                sa.Column("token", sa.String(64), nullable=False, index=True),
            ),
            "homes": sa.Table(
                f"rm_case_homes_{suffix}", metadata,
                sa.Column("ref", sa.String(40), primary_key=True),
                sa.Column("complainant_id", sa.String(16), nullable=True),
                sa.Column("uprn", sa.String(64), nullable=True, index=True),
                sa.Column("address", sa.String(64), nullable=True, index=True),
                sa.Column("received_on", sa.Date, nullable=False),
                sa.Column("category", sa.String(120), nullable=True),
            ),
        }

    def writes(self, page: Any) -> list[Write]:
        reindex: dict[str, tuple[Any, int]] = {}  # ref -> (aggregate id, version to open it at)
        subjects: set[str] = set()  # whose keys open them: the folded case knows (complainant_id is not sealed)
        erased: set[str] = set()
        for change in page.changes:
            kind = type(change.event).__name__
            if change.case is not None and kind in REINDEX_ON:
                reindex[change.case.ref] = (change.event.originator_id, change.event.originator_version)
                if change.case.complainant_id:
                    subjects.add(change.case.complainant_id)
            elif kind == ERASURE:
                erased |= set(change.event.refs)
        if not reindex and not erased:
            return []
        ledger = page.folder.ledger
        from ..adapters.blind_index import index_key, token

        key = index_key(ledger)
        terms, homes = [], []
        for case in opened_cases(ledger, reindex.values(), subjects):
            if case.ref in erased:
                continue
            found = index_rows(key, case, token)
            terms += found["terms"]
            if found["home"] is not None:
                homes.append(found["home"])
        replacing = sorted(set(page.earlier_refs(reindex)) | erased)
        return [Write("terms", terms, replacing), Write("homes", homes, replacing)]


def index_rows(key: bytes, case: Any, token: Any) -> dict[str, Any]:
    """The terms rows and the homes row (or None) of a case opened with its person's key."""
    address, uprn = _clear(case.property_ref), _clear(getattr(case, "uprn", None))
    fields = search.case_terms(complainant=_clear(case.complainant), contact=_clear(case.contact_details),
                               address=address, uprn_value=uprn)
    rows = [{"ref": case.ref, "field": f, "token": t} for f, found in fields.items()
            for t in sorted({token(key, term) for term in found})]
    place = search.address_key(address)
    home = None
    if uprn or place:
        home = {"ref": case.ref, "complainant_id": case.complainant_id,
                "uprn": token(key, f"uprn:{uprn}") if uprn else None,
                "address": token(key, f"address:{place}") if place else None,
                "received_on": case.received_on, "category": case.category}
    return {"terms": rows, "home": home}


def opened_cases(ledger: Any, wanted: Iterable[tuple[Any, int]], subjects: Iterable[str] = ()) -> list[Any]:
    """The cases, folded up to the given versions through the mapper that opens personal data, the keys of their
    data subjects (`subjects`) read in one query first. A case just received needs only its first event, read for
    the whole page in one query."""
    from eventsourcing.persistence import EventStore, StoredEvent

    from ..adapters.audit_chain import split_state
    from ..adapters.blind_index import preload_keys

    wanted = list(wanted)
    recorder, mapper = ledger.recorder, ledger.mapper
    if getattr(recorder, "vault", None) is not None:
        preload_keys(ledger, sorted(subjects))
    firsts = [oid for oid, version in wanted if version == 1]
    stored = []
    if firsts:
        e = recorder.events_record_cls.__table__.c
        with recorder.datastore.engine.connect() as conn:
            for i in range(0, len(firsts), 500):
                stored += conn.execute(sa.select(e.originator_id, e.originator_version, e.topic, e.state).where(
                    e.originator_id.in_(firsts[i:i + 500]), e.originator_version == 1)).all()
    cases = []
    for r in stored:
        event = mapper.to_domain_event(StoredEvent(originator_id=r.originator_id, originator_version=1,
                                                   topic=r.topic, state=split_state(bytes(r.state))[1]))
        cases.append(event.mutate(None))
    later = [(oid, version) for oid, version in wanted if version > 1]
    if later:
        store = EventStore(mapper=mapper, recorder=recorder)
        for oid, version in later:
            case = None
            for event in store.get(oid, lte=version):
                case = event.mutate(case)
            cases.append(case)
    return cases


# ---------------------------------------------------------------------------------------------------- queries
def _live(runner: Any) -> dict[str, sa.Table]:
    return runner.live_tables(NAME)


def matching_refs(runner: Any, text: str, fields: tuple[str, ...] = search.FIELDS) -> set[str]:
    """The references of the cases whose `fields` match `text` (search.query_alternatives: any one reading of the
    text, with all its terms). Needs the index key: a login that may not read the key table is refused by the
    database."""
    from ..adapters.blind_index import index_key, token

    alternatives = search.query_alternatives(text)
    if not alternatives:
        return set()
    key = index_key(runner.ledger)
    terms = _live(runner)["terms"]
    found: set[str] = set()
    with runner.engine.connect() as conn:
        for alternative in alternatives:
            wanted = sorted({token(key, t) for t in alternative})
            q = (sa.select(terms.c.ref).where(terms.c.token.in_(wanted), terms.c.field.in_(fields))
                 .group_by(terms.c.ref).having(sa.func.count(sa.distinct(terms.c.token)) == len(wanted)))
            found |= {r[0] for r in conn.execute(q)}
    return found


def home_cases(runner: Any, start: date | None = None, end: date | None = None) -> list[search.HomeCase]:
    homes = _live(runner)["homes"]
    c = homes.c
    q = sa.select(c.ref, c.uprn, c.address, c.received_on, c.category)  # read as plain tuples: 158,000 at 1M
    if start is not None:
        q = q.where(c.received_on >= start)
    if end is not None:
        q = q.where(c.received_on <= end)
    with runner.engine.connect() as conn:
        return [search.HomeCase(ref, uprn, address, received_on, category)
                for ref, uprn, address, received_on, category in conn.execute(q).tuples()]


# Above this many cases asked about, one pass over every home is quicker than asking about each.
AMONG_MOST = 20000


def repeat_refs(runner: Any, among: Iterable[str] | None = None) -> set[str]:
    """The cases about a home complaining again within 12 months (search.repeats). Needs no key: the tokens are
    compared as they are, so a reader login sees the flags too.

    With `among` (what `list` shows), only those of them, and without reading every home: the database finds each
    one's nearest other complaints about the same home, before and after it, through the uprn and address indexes
    (`_neighbours`), and the 12-month rule is applied here to those two dates. At 1M events reading every home
    took 3-6 s for a screenful of cases."""
    if among is None:
        return search.repeats(home_cases(runner))
    wanted = set(among)
    if not wanted:
        return set()
    if len(wanted) > AMONG_MOST:
        return search.repeats(home_cases(runner)) & wanted
    homes = _live(runner)["homes"]
    refs = sorted(wanted)
    flagged: set[str] = set()
    with runner.engine.connect() as conn:
        for i in range(0, len(refs), 500):  # bounded IN lists
            for ref, received_on, before, after in _neighbours(conn, homes, refs[i:i + 500]):
                if search.again_within(before, received_on) or search.again_within(received_on, after):
                    flagged.add(ref)
    return flagged


def _neighbours(conn: sa.Connection, homes: sa.Table, refs: list[str]) -> list[tuple[str, date, Any, Any]]:
    """For each of `refs` that has a home: its received date, and the latest received date of another complaint
    about the same home on or before it and the earliest on or after it (None where there is none).

    "The same home" is search.homes' rule, in SQL: the home's UPRN token is the case's own, or else the one UPRN
    that the cases giving a UPRN with its address give (`mapped`); a case with neither is about its address. Any
    other complaint within 12 months of a case is found if the nearest one on either side is, so these two dates
    decide the flag exactly as search.repeats' walk through each home's complaints in order does."""
    r = homes.alias("r")

    def mapped(address: Any) -> Any:
        """The one UPRN given with this address by the cases that give one (NULL if none, or more than one)."""
        m = homes.alias()
        return (sa.select(sa.func.min(m.c.uprn)).where(m.c.address == address, m.c.uprn.is_not(None))
                .having(sa.func.count(sa.distinct(m.c.uprn)) == 1).correlate_except(m).scalar_subquery())

    home_uprn = sa.func.coalesce(r.c.uprn, mapped(r.c.address))
    # First which of them are about a home known by a UPRN; then the nearest dates, each kind by its own query, so
    # the UPRN rule's subqueries are not worked out for the (commonly many) homes known only by their address.
    given = homes.alias()
    maybe = [ref for ref, uprn, any_given in conn.execute(sa.select(
        r.c.ref, r.c.uprn, sa.exists().where(given.c.address == r.c.address, given.c.uprn.is_not(None))
        .correlate_except(given)).where(r.c.ref.in_(refs))) if uprn is not None or any_given]
    by_uprn_home = [ref for ref, uprn in conn.execute(sa.select(r.c.ref, home_uprn).where(r.c.ref.in_(maybe)))
                    if uprn is not None] if maybe else []

    def no_uprn(x: Any) -> Any:
        # Not `uprn IS NULL`, which SQLite answers from the uprn index: on a ledger whose cases give no UPRN that
        # is every row, for each case asked about (a minute for a thousand); this leaves it the address index.
        return sa.func.coalesce(x.c.uprn, "") == ""

    def nearest(before: bool, uprn_home: bool) -> list[Any]:
        """Subqueries for the nearest other date on one side: for a home known by its UPRN, by that UPRN and by
        an address that maps to it; for a home known only by its address, by that address."""
        pick = sa.func.max if before else sa.func.min

        def side(x: Any) -> Any:
            return sa.and_(x.c.ref != r.c.ref,
                           x.c.received_on <= r.c.received_on if before else x.c.received_on >= r.c.received_on)

        if not uprn_home:
            by_address = homes.alias()
            return [sa.select(pick(by_address.c.received_on)).where(
                no_uprn(by_address), by_address.c.address == r.c.address, side(by_address))
                .correlate_except(by_address).scalar_subquery()]
        by_uprn, by_mapped, given = homes.alias(), homes.alias(), homes.alias()
        return [
            sa.select(pick(by_uprn.c.received_on)).where(by_uprn.c.uprn == home_uprn, side(by_uprn))
            .correlate_except(by_uprn).scalar_subquery(),
            sa.select(pick(by_mapped.c.received_on)).where(
                no_uprn(by_mapped),
                by_mapped.c.address.in_(sa.select(given.c.address).where(given.c.uprn == home_uprn)
                                        .correlate_except(given)),
                mapped(by_mapped.c.address) == home_uprn, side(by_mapped)).correlate_except(by_mapped)
            .scalar_subquery(),
        ]

    out = []
    uprn_homes = set(by_uprn_home)
    by_address_home = [ref for ref in refs if ref not in uprn_homes]
    for uprn_home, these in ((True, by_uprn_home), (False, by_address_home)):
        if not these:
            continue
        before, after = nearest(True, uprn_home), nearest(False, uprn_home)
        q = sa.select(r.c.ref, r.c.received_on, *before, *after).where(r.c.ref.in_(these))
        if not uprn_home:
            q = q.where(r.c.address.is_not(None))  # a case with neither UPRN nor address has no home
        for ref, received_on, *found in conn.execute(q):
            earlier = [d for d in found[:len(before)] if d is not None]
            later = [d for d in found[len(before):] if d is not None]
            out.append((ref, received_on, max(earlier) if earlier else None, min(later) if later else None))
    return out
