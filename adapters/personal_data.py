"""Personal data encrypted per data subject (crypto-shredding), so an append-only ledger can still erase a person.

Each complainant has a 256-bit AES-GCM key in the key table (`<app>_keys`), which is not part of the event log and
not append-only. When an event is stored, the fields the domain marks as personal (`PERSONAL_DATA`) are replaced by
tokens, `{"pd": complainant id, "ct": base64(nonce + ciphertext)}`; the case's id and the field's name are the
associated data, so a token cannot be moved to another case or field. Reading an event opens the tokens again.
`erase` sets the key to NULL: every token of that person then reads as "[erased]", in every copy of the log, while
the stored bytes, and so the hash chain, stay exactly as they were.

New keys are written in the same transaction as the events that first use them (the recorder asks `pending_keys`),
so a bulk import pays no extra commit per person, and a failed save leaves no key behind that nothing uses.

Read models never need personal data: the projection runner reads through `without_personal_data()`, which leaves
the tokens closed, so no projection table can hold a person's details and an erasure is complete without touching
any of them. The one exception is the blind index (projections/case_index.py), which keeps keyed hashes of a few
fields (`KEPT_SEALED`): those read as a `Sealed` "[withheld]" that still holds its token, for the index to open.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from json.encoder import c_make_encoder, encode_basestring, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, Callable
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import get_topic

from ..domain.complaint import ERASED, PERSONAL_DATA, Complaint, Feedback
from ..domain.data_subject import DataSubject
from ..domain.errors import InvalidAction

KEY_TABLE_REFUSED = ("this database login may not read personal data (the key table): ask for the writer role, or "
                     "read without it (e.g. --without-personal-data)")
WITHHELD = "[withheld]"        # read models are given this instead of a person's details
KEY_MISSING = "[key missing]"  # the key table lost a key that was never erased (restored from an old backup?)
UNREADABLE = "[unreadable]"    # the ciphertext fails authentication: the stored bytes were changed (see verify)
FIRST_EVENTS = (Complaint.Received, Feedback.FeedbackReceived)  # each names the data subject whose key seals it
# The personal fields the blind index is made from (a case's name, contact details, address and UPRN, as received or
# corrected): without personal data they read as `Sealed`, not as a bare WITHHELD.
KEPT_SEALED: dict[type, frozenset[str]] = {
    Complaint.Received: frozenset({"complainant", "contact", "property_ref", "uprn"}),
    Complaint.Corrected: frozenset({"new_personal"}),
}


class Sealed(str):
    """A personal field as read without personal data: equal to WITHHELD, and shown as it, everywhere, but still
    holding its token (with the case and field it is bound to), so that the blind index can open just the fields it
    needs from the cases a rebuild has folded anyway, with keys read for one page (`open_sealed`), instead of
    reading, decoding and folding each case a second time through the mapper that opens every field."""

    token: dict[str, str]
    originator_id: UUID
    field: str

    def __new__(cls, token: dict[str, str], originator_id: UUID, field: str) -> "Sealed":
        value = super().__new__(cls, WITHHELD)
        value.token, value.originator_id, value.field = token, originator_id, field
        return value

    def __reduce__(self) -> Any:  # copied or pickled with its token (str's own would call __new__ without it)
        return Sealed, (self.token, self.originator_id, self.field)


def open_sealed(value: Sealed, cipher_of: Callable[[str], AESGCM | None]) -> Any:
    """A `Sealed` field opened with `cipher_of` (the person's key; None once erased; KeyError if it has none)."""
    return opened(value.token, value.originator_id, value.field, cipher_of)


def opened(token: dict[str, str], originator_id: UUID, field: str, cipher_of: Callable[[str], AESGCM | None]) -> Any:
    """The value a token was sealed from, or what stands in for it: ERASED once the key is destroyed, KEY_MISSING if
    the key table has no row for the person, UNREADABLE if the ciphertext fails authentication."""
    listed = token.get("t") == "l"
    try:
        aead = cipher_of(token["pd"])
    except KeyError:
        return [KEY_MISSING] if listed else KEY_MISSING
    if aead is None:
        return [ERASED] if listed else ERASED
    raw = base64.b64decode(token["ct"])
    try:
        return json.loads(aead.decrypt(raw[:12], raw[12:], _aad(originator_id, field)))
    except InvalidTag:
        return [UNREADABLE] if listed else UNREADABLE


def _no_keys(complainant_id: str) -> None:
    return None


class KeyCache:
    """Each data subject's key read once per process, ready to seal and open with; None once erased. Subclasses say
    where a key is read from (`_read_key`: (found, key bytes or None))."""

    def __init__(self) -> None:
        self._ciphers: dict[str, AESGCM | None] = {}

    def _read_key(self, complainant_id: str) -> tuple[bool, bytes | None]:
        raise NotImplementedError

    def _read_keys(self, complainant_ids: list[str]) -> list[tuple[str, bytes | None]]:
        """(id, key or None) for those of these people the key table has a row for, in one query."""
        raise NotImplementedError

    def read(self, complainant_ids: Any) -> dict[str, AESGCM | None]:
        """Many people's keys, ready to open with (None once erased), read in one query per 500; a person the key
        table has no row for is left out. Keys already held are taken from the cache, and those read are not added
        to it: a rebuild reads the keys of each page's cases and drops them with the page (a key object takes about
        2 KB, so a ledger's 177,000 people held 350 MB)."""
        ids = set(complainant_ids)
        found = {c: self._ciphers[c] for c in ids if c in self._ciphers}
        wanted = [c for c in ids if c and c not in found]
        for i in range(0, len(wanted), 500):
            for complainant_id, key in self._read_keys(wanted[i:i + 500]):
                found[complainant_id] = None if key is None else AESGCM(bytes(key))
        return found

    def preload(self, complainant_ids: Any) -> None:
        """Read many people's keys in one query per 500 (`find` opens hundreds of cases), so that opening their
        cases does not ask for each key in turn; they stay cached for the rest of the process."""
        self._ciphers.update(self.read(complainant_ids))

    def cipher(self, complainant_id: str) -> AESGCM | None:
        """The person's key; None once erased. KeyError if the table has no row for them."""
        if complainant_id not in self._ciphers:
            found, key = self._read_key(complainant_id)
            if not found:
                raise KeyError(complainant_id)
            self._ciphers[complainant_id] = None if key is None else AESGCM(bytes(key))
        return self._ciphers[complainant_id]

    def holds(self, complainant_id: str) -> bool:
        try:
            return self.cipher(complainant_id) is not None
        except KeyError:
            return False


def _aad(originator_id: UUID, field: str) -> bytes:
    return originator_id.bytes + field.encode()


def _is_token(value: Any) -> bool:
    return isinstance(value, dict) and "pd" in value and "ct" in value


class PersonalDataMapper(Mapper):
    """eventsourcing's mapper, sealing each event's personal fields with its data subject's key."""

    def __init__(self, *args: Any, reveal: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.vault: Any = None                   # the key store (key_store.KeyStore), attached with the recorder
        self.subject_of: Callable[[UUID], str | None] | None = None
        self.reveal = reveal
        self._subjects: dict[UUID, str | None] = {}
        self._encode: Callable[[dict[str, Any]], bytes] | None = None

    def without_personal_data(self) -> "PersonalDataMapper":
        """The same mapper for readers that never show a person's details (read models): tokens stay closed."""
        other = PersonalDataMapper(self.transcoder, self.compressor, self.cipher, reveal=False)
        other.vault, other.subject_of, other._subjects = self.vault, self.subject_of, self._subjects
        return other

    # ------------------------------------------------------------------------------------------------ writing
    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        state = dict(vars(domain_event))
        if cls is DataSubject.Registered and self.vault is not None:
            self.vault.new_key(domain_event.complainant_id)
        fields = PERSONAL_DATA.get(cls)
        if fields and self.vault is not None:
            self._seal(cls, state, fields)
        return self._stored(cls, state)

    def _seal(self, cls: type, state: dict[str, Any], fields: tuple[str, ...]) -> None:
        """Replace the event's personal fields in `state` by tokens sealed with its data subject's key."""
        originator_id = state["originator_id"]
        if cls in FIRST_EVENTS:
            cid = self._subjects[originator_id] = state["complainant_id"]
        else:
            cid = self._subject(originator_id)
        present = [f for f in fields if state.get(f) not in (None, "", [], ())]
        if cid is None or not present:  # nothing personal, or a case recorded before encryption
            return
        try:
            aead = self.vault.cipher(cid)
        except KeyError:
            raise InvalidAction(f"no key is on record for complainant {cid}; their personal data cannot be "
                                "stored") from None
        if aead is None:
            raise InvalidAction(f"the personal data of complainant {cid} has been erased: nothing personal can be "
                                "recorded on their cases any more")
        nonces = os.urandom(12 * len(present))  # a fresh random nonce per field, drawn in one call
        for i, f in enumerate(present):
            nonce = nonces[12 * i:12 * i + 12]
            value = state[f]
            plain = encode_basestring(value) if type(value) is str else json.dumps(value, ensure_ascii=False)
            sealed = aead.encrypt(nonce, plain.encode(), _aad(originator_id, f))
            token = {"pd": cid, "ct": binascii.b2a_base64(nonce + sealed, newline=False).decode()}
            if isinstance(value, (list, tuple)):
                token["t"] = "l"
            state[f] = token

    def _stored(self, cls: type, state: dict[str, Any]) -> StoredEvent:
        """The library's Mapper.to_stored_event, given the event's state: the same bytes (a test holds them equal),
        encoded by a JSON encoder made once (JSONEncoder.encode builds a new one per call, a quarter of the cost of
        encoding an event)."""
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(cls, "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        if self._encode is None:
            self._encode = json_encoder(self.transcoder)
        data = self._encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return StoredEvent(originator_id=originator_id, originator_version=originator_version, topic=get_topic(cls),
                           state=data)

    def _subject(self, originator_id: UUID) -> str | None:
        if originator_id not in self._subjects:
            self._subjects[originator_id] = self.subject_of(originator_id) if self.subject_of else None
        return self._subjects[originator_id]

    # ------------------------------------------------------------------------------------------------ reading
    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        cls = type(event)
        fields = PERSONAL_DATA.get(cls)
        if fields:
            state = event.__dict__
            if cls in FIRST_EVENTS:
                self._subjects[state["originator_id"]] = state.get("complainant_id")
            kept = () if self.reveal else KEPT_SEALED.get(cls, ())
            for f in fields:
                value = state.get(f)
                if _is_token(value):
                    state[f] = self._open(value, state["originator_id"], f, f in kept)
        return event

    def _open(self, token: dict[str, str], originator_id: UUID, field: str, kept: bool = False) -> Any:
        if not self.reveal:
            if token.get("t") == "l":
                return [WITHHELD]
            return Sealed(token, originator_id, field) if kept else WITHHELD
        return opened(token, originator_id, field, self.vault.cipher if self.vault is not None else _no_keys)


def json_encoder(transcoder: Any) -> Callable[[dict[str, Any]], bytes]:
    """The JSON transcoder's encode, with its C encoder made once, not per event (no circular-reference check:
    an event's state is never circular)."""
    encoder = getattr(transcoder, "encoder", None)
    if not isinstance(transcoder, JSONTranscoder) or c_make_encoder is None or encoder.indent is not None:
        return transcoder.encode
    chunks = c_make_encoder(None, encoder.default, encode_basestring_ascii if encoder.ensure_ascii else
                            encode_basestring, None, encoder.key_separator, encoder.item_separator, encoder.sort_keys,
                            encoder.skipkeys, encoder.allow_nan)
    return lambda state: "".join(chunks(state, 0)).encode("utf8")


def subject_lookup(recorder: Any, transcoder: Any) -> Callable[[UUID], str | None]:
    """How the mapper finds a case's data subject when it has not read the case's first event in this process."""

    def subject_of(originator_id: UUID) -> str | None:
        events = recorder.select_events(originator_id, lte=1)
        if not events:
            return None
        return transcoder.decode(events[0].state).get("complainant_id")

    return subject_of


class SealingFactory:
    """Mixed into the ledger's persistence factories: the mapper seals personal data, and opens it with the key
    store its application recorder reads."""

    _mapper: PersonalDataMapper | None = None

    def mapper(self, transcoder: Any = None, mapper_class: Any = None) -> Any:
        if mapper_class is not None:
            return super().mapper(transcoder, mapper_class)  # type: ignore[misc]
        self._mapper = PersonalDataMapper(transcoder=transcoder or self.transcoder(),  # type: ignore[attr-defined]
                                          cipher=self.cipher(), compressor=self.compressor())  # type: ignore[attr-defined]
        return self._mapper

    def attach_keys(self, recorder: Any, vault: Any) -> None:
        if self._mapper is not None:
            self._mapper.vault = vault
            self._mapper.subject_of = subject_lookup(recorder, self._mapper.transcoder)
