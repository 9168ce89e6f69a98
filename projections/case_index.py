"""case_index: the blind index behind `complaints find` and `list --complainant/--property/--repeat`, and the homes
that repeats are counted by.

Unlike the other read models, this one is built from personal data: it opens each case's name, contact details,
address and UPRN with the person's key (the rebuild folds cases with these few fields still sealed, as
personal_data.Sealed, and the keys of a page's people are read for that page only), turns them into terms
(domain/search.py) and keeps only their blind tokens (adapters/blind_index.py: keyed HMAC), never the text. So it needs a login that may read the key
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
        reindex: dict[str, Any] = {}  # ref -> the case as folded after the page
        erased: set[str] = set()
        for change in page.changes:
            kind = type(change.event).__name__
            if change.case is not None and kind in REINDEX_ON:
                reindex[change.case.ref] = change.case
            elif kind == ERASURE:
                erased |= set(change.event.refs)
        if not reindex and not erased:
            return []
        from ..adapters.blind_index import index_key, token

        key = index_key(page.folder.ledger)
        cases = [case for ref, case in reindex.items() if ref not in erased]
        terms, homes = [], []
        for case, fields in zip(cases, opened_fields(page.folder.ledger, cases)):
            found = index_rows(key, case, fields, token)
            terms += found["terms"]
            if found["home"] is not None:
                homes.append(found["home"])
        replacing = sorted(set(page.earlier_refs(reindex)) | erased)
        return [Write("terms", terms, replacing), Write("homes", homes, replacing)]


# The case's personal fields the index is made from (the case's attribute names). Only Received and Corrected set
# them, or the received date and category a home row also keeps (REINDEX_ON), so a case folded after the page holds
# the values of its last such event on the page.
INDEXED = ("complainant", "contact_details", "property_ref", "uprn")


def opened_fields(ledger: Any, cases: list[Any]) -> list[dict[str, Any]]:
    """Each case's INDEXED fields opened. The cases come folded by the rebuild without personal data, so these
    fields are `Sealed`; only they are decrypted, with the keys of the page's people read in one query per 500 and
    dropped with the page (never cached: at 1M events the whole ledger's keys took 200 MB per worker)."""
    from ..adapters.blind_index import read_ciphers
    from ..adapters.personal_data import Sealed, open_sealed

    fields = [{f: getattr(case, f, None) for f in INDEXED} for case in cases]
    subjects = {v.token["pd"] for found in fields for v in found.values() if isinstance(v, Sealed)}
    if not subjects:
        return fields
    ciphers = read_ciphers(ledger, subjects)
    cipher_of = ciphers.__getitem__  # KeyError for a person the key table has no row for: KEY_MISSING
    return [{f: open_sealed(v, cipher_of) if isinstance(v, Sealed) else v for f, v in found.items()}
            for found in fields]


def index_rows(key: bytes, case: Any, fields: dict[str, Any], token: Any) -> dict[str, Any]:
    """The terms rows and the homes row (or None) of a case, given its INDEXED fields opened."""
    address, uprn = _clear(fields["property_ref"]), _clear(fields["uprn"])
    found = search.case_terms(complainant=_clear(fields["complainant"]), contact=_clear(fields["contact_details"]),
                              address=address, uprn_value=uprn)
    rows = [{"ref": case.ref, "field": f, "token": t} for f, terms in found.items()
            for t in sorted({token(key, term) for term in terms})]
    place = search.address_key(address)
    home = None
    if uprn or place:
        home = {"ref": case.ref, "complainant_id": case.complainant_id,
                "uprn": token(key, f"uprn:{uprn}") if uprn else None,
                "address": token(key, f"address:{place}") if place else None,
                "received_on": case.received_on, "category": case.category}
    return {"terms": rows, "home": home}


def received_cases(ledger: Any, ids: Iterable[Any], subjects: Iterable[str] = ()) -> list[Any]:
    """The cases as received (their first events, read 500 to a query), through the mapper that opens personal
    data, the keys of their data subjects (`subjects`) read in one query first."""
    from eventsourcing.persistence import StoredEvent

    from ..adapters.audit_chain import split_state
    from ..adapters.blind_index import preload_keys

    ids = list(ids)
    recorder, mapper = ledger.recorder, ledger.mapper
    if getattr(recorder, "vault", None) is not None:
        preload_keys(ledger, subjects)
    stored: list[Any] = []
    e = recorder.events_record_cls.__table__.c
    with recorder.datastore.engine.connect() as conn:
        for i in range(0, len(ids), 500):
            stored += conn.execute(sa.select(e.originator_id, e.originator_version, e.topic, e.state).where(
                e.originator_id.in_(ids[i:i + 500]), e.originator_version == 1)).all()
    return [mapper.to_domain_event(StoredEvent(originator_id=r.originator_id, originator_version=1, topic=r.topic,
                                               state=split_state(bytes(r.state))[1])).mutate(None) for r in stored]


def complainants(ledger: Any, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Each case's complainant's name as received (its first event's), for `find`: the keys of `rows`'
    complainant_id read in one query and their first events in another (per 500), not a key read and a replay per
    case (7,700 cases of a common surname took 26 s one by one)."""
    from ..domain.complaint import complaint_id

    rows = list(rows)
    cases = received_cases(ledger, [complaint_id(r["ref"]) for r in rows],
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


def _home_columns(homes: sa.Table) -> list[Any]:
    return [homes.c[f] for f in search.HomeCase._fields]  # in HomeCase's order: rows become HomeCases as they are


def home_cases(runner: Any, start: date | None = None, end: date | None = None) -> list[search.HomeCase]:
    homes = _live(runner)["homes"]
    q = sa.select(*_home_columns(homes))
    if start is not None:
        q = q.where(homes.c.received_on >= start)
    if end is not None:
        q = q.where(homes.c.received_on <= end)
    with runner.engine.connect() as conn:
        return [search.HomeCase(*r) for r in conn.execute(q).tuples()]  # a year is 150,000 rows


def homes_where(runner: Any) -> Any:
    """search.cases_near's `rows_where`: the homes whose ref, uprn or address is one of some values, in chunks."""
    homes = _live(runner)["homes"]

    def rows_where(column: str, values: list[str]) -> list[search.HomeCase]:
        found = []
        with runner.engine.connect() as conn:
            for i in range(0, len(values), 500):
                q = sa.select(*_home_columns(homes)).where(homes.c[column].in_(values[i:i + 500]))
                found += [search.HomeCase(*r) for r in conn.execute(q).tuples()]
        return found

    return rows_where


def repeats_of(runner: Any, ref: str) -> list[str]:
    """The other complaints about the same home as `ref` within 12 months (search.repeats_of), reading only the
    homes near it."""
    return search.repeats_of(search.cases_near([ref], homes_where(runner)), ref)


# Above this many cases asked about, one pass over every home is quicker than asking about each one's neighbours.
AMONG_MOST = 20000


def repeat_refs(runner: Any, among: Iterable[str] | None = None) -> set[str]:
    """The cases about a home complaining again within 12 months (search.repeats). Needs no key: the tokens are
    compared as they are, so a reader login sees the flags too.

    With `among` (what `list` or `find` shows), only those of them, reading only the homes near them
    (search.cases_near: their own, their addresses', their UPRNs'), not every home: at 1M events reading every home
    took 3-6 s for a screenful of cases."""
    if among is None:
        return search.repeats(home_cases(runner))
    wanted = set(among)
    if not wanted:
        return set()
    if len(wanted) > AMONG_MOST:
        return search.repeats(home_cases(runner)) & wanted
    return search.repeats(search.cases_near(wanted, homes_where(runner))) & wanted
