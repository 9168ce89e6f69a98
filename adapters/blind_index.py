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

import hmac
from typing import Any, Iterable

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
    """Many data subjects' keys for one page of a rebuild, not kept after it (KeyCache.read)."""
    return _vault(ledger).read(complainant_ids)


def preload_keys(ledger: Any, complainant_ids: Iterable[str]) -> None:
    """Read many data subjects' keys in one query (`find` opens hundreds of cases), so that opening their cases does
    not ask for each key in turn; they stay cached for the rest of the process."""
    _vault(ledger).preload(complainant_ids)
