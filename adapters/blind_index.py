"""The blind index's key and tokens: how `find` looks a case up by a name, a contact or a home without the ledger
keeping any of them in clear, and without decrypting every case.

A token is HMAC-SHA256(index key, term), where a term is what domain/search.py makes of the text
("word:smith", "phone:07700900123"). The index key is one random 256-bit key kept in the ledger's key table (the
row `INDEX_KEY_ID`, which no data subject's id can be), beside the data subjects' keys and never in the events:
so a copy of the events alone holds no token, and the read model alone (tokens without the key) cannot be searched
or checked against a guessed name. Whoever may read the key table (the owner, a writer) can search; a reader login
may not read it, and so cannot search either: it never holds a person's details.

The key is made on first use (a writer may INSERT into the key table; two first uses at once keep whichever was
stored first) and is never rotated: changing it would only need `projections rebuild case_index`.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Iterable

import sqlalchemy as sa

INDEX_KEY_ID = "~blind-index"  # data subjects' ids are P-XXXXXXXXXXXX: this row is never one of theirs


def _vault(ledger: Any) -> Any:
    vault = getattr(ledger.recorder, "vault", None)
    if vault is None:
        from ..domain.errors import InvalidAction

        raise InvalidAction("this ledger's storage keeps no key table, so it has no blind index to search")
    return vault


def index_key(ledger: Any) -> bytes:
    """The ledger's index key, made and stored on first use. A login that may not read the key table gets the
    database's refusal (persistence.lacks_rights tells it apart)."""
    return _vault(ledger).ledger_secret(INDEX_KEY_ID)


def token(key: bytes, term: str) -> str:
    return hmac.digest(key, term.encode("utf-8"), "sha256").hex()  # hmac.new(...).hexdigest() in one C call


def read_ciphers(ledger: Any, complainant_ids: Iterable[str]) -> dict[str, Any]:
    """Many data subjects' keys, ready to open with (None once erased), read 500 to a query; a person the key table
    has no row for is left out. Keys this process already holds are taken from its cache, and those read are not
    added to it: a rebuild reads the keys of each page's cases and drops them with the page (a cached key takes
    about 2 KB, so a ledger's 177,000 people held 350 MB)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    vault = _vault(ledger)
    cached, ids = vault._ciphers, set(complainant_ids)
    found = {c: cached[c] for c in ids if c in cached}
    wanted = [c for c in ids if c and c not in found]
    table = vault.table
    for i in range(0, len(wanted), 500):
        with vault.engine.connect() as conn:
            for row in conn.execute(sa.select(table.c.complainant_id, table.c.key)
                                    .where(table.c.complainant_id.in_(wanted[i:i + 500]))):
                found[row.complainant_id] = None if row.key is None else AESGCM(bytes(row.key))
    return found


def preload_keys(ledger: Any, complainant_ids: Iterable[str]) -> None:
    """Read many data subjects' keys in one query (`find` opens hundreds of cases), so that opening their cases does
    not ask for each key in turn; they stay cached for the rest of the process."""
    _vault(ledger)._ciphers.update(read_ciphers(ledger, complainant_ids))
