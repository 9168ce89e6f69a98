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
from . import reads
from .reads import home_cases, homes_where, repeat_refs, repeats_of  # noqa: F401 - as SQL text both paths run

NAME, VERSION = reads.CASE_INDEX, reads.CASE_INDEX_VERSION
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
                reads.table_name("terms", suffix), metadata,
                sa.Column("ref", sa.String(40), nullable=False, index=True),
                sa.Column("field", sa.String(16), nullable=False),
                sa.Column("token", sa.String(64), nullable=False, index=True),
            ),
            "homes": sa.Table(
                reads.table_name("homes", suffix), metadata,
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
        preload_keys(ledger, subjects)
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


def complainants(ledger: Any, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Each case's complainant's name as received (its first event's), for `find`: the keys of `rows`'
    complainant_id read in one query and their first events in another (per 500), not a key read and a replay per
    case (7,700 cases of a common surname took 26 s one by one)."""
    from ..domain.complaint import complaint_id

    rows = list(rows)
    cases = opened_cases(ledger, [(complaint_id(r["ref"]), 1) for r in rows],
                         {r["complainant_id"] for r in rows if r.get("complainant_id")})
    return {case.ref: case.complainant for case in cases}


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
