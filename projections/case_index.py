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

from typing import Any

import sqlalchemy as sa

from ..adapters.projection_store import Write
from ..domain import search
from . import reads
from .reads import (complainants, home_cases, homes_where, matching_refs, received_cases,  # noqa: F401 - as SQL text
                    repeat_refs, repeats_of)  # both paths run

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
