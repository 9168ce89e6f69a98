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

from typing import Any

import sqlalchemy as sa

from ..adapters.projection_store import Write
from ..domain import search
from . import reads
from .reads import (complainants, home_cases, homes_where, matching_refs, opened_cases,  # noqa: F401 - as SQL text
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
