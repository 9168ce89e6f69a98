"""Finding a case from what a caller says (a name, an email, a phone number, a postcode, an address, a UPRN), and
telling when two complaints are about the same home, without the ledger keeping any of it in clear.

Everything here is pure: it turns text into *terms* ("word:smith", "phone:07700900123", "postcode:SW1A1AA",
"uprn:100023336956"), spelt the same however the text was typed (case, accents, spaces, +44 or 0). The adapters turn
each term into a blind token (a keyed HMAC, adapters/blind_index.py), so that the read model holds only tokens: the
same term always gives the same token, and without the key no token can be turned back into the term or checked
against a guess.

Fields a term can come from, so that `list --complainant` and `list --property` search only their own:
NAME (the complainant's name), CONTACT (their contact details), PROPERTY (the address and the UPRN).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Callable, Iterable, NamedTuple

from .errors import InvalidAction
from .values import add_months, quoted

NAME, CONTACT, PROPERTY = "name", "contact", "property"
FIELDS = (NAME, CONTACT, PROPERTY)
UPRN_MAX_DIGITS = 12  # OS AddressBase: a UPRN is a whole number of up to 12 digits
REPEAT_MONTHS = 12  # a home complaining again within this many months is a repeat (the Ombudsman's spotlight window)

_EMAIL = re.compile(r"[^\s@,;<>()\[\]]+@[^\s@,;<>()\[\]]+\.[^\s@,;<>()\[\]]+")
# A UK postcode (outward code, then inward code: digit and two letters), with or without the space.
_POSTCODE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})\b", re.IGNORECASE)
_PHONE = re.compile(r"\+?[0-9][0-9 ()\-.]{8,}[0-9]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def fold(text: str) -> str:
    """Lower case without accents or apostrophes: "Zoë O'Brien" and "ZOE OBRIEN" fold alike (ß becomes ss)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    # Combining marks are never ASCII: most names and addresses need no look at each character (a rebuild folds
    # three fields of every case).
    plain = decomposed if decomposed.isascii() else "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"['’‘`]", "", plain)


def words(text: str) -> list[str]:
    """The folded words of a name or an address, in order (punctuation and hyphens separate words)."""
    return _WORD.findall(fold(text))


def phone_digits(text: str) -> str | None:
    """A phone number as the digits a UK caller would dial: spaces and punctuation dropped, +44 or 0044 read as
    the leading 0. None if it is not a phone number (fewer than 10 digits, or more than 15)."""
    digits = re.sub(r"[^0-9]", "", text)
    if text.strip().startswith("+44") or digits.startswith("0044"):
        digits = "0" + digits[4 if digits.startswith("0044") else 2:].lstrip("0")
    elif text.strip().startswith("+"):
        digits = "+" + digits  # another country's number: kept whole, never taken for a UK one
    count = len(digits.lstrip("+"))
    return digits if 10 <= count <= 15 else None


def postcode(text: str) -> str | None:
    """The one UK postcode `text` is (upper case, no space), or None."""
    m = _POSTCODE.fullmatch(text.strip())
    return (m.group(1) + m.group(2)).upper() if m else None


def uprn(value: str | int | None) -> str | None:
    """A Unique Property Reference Number as stored: its digits, without leading zeros; None when not given.
    InvalidAction (one line) when it is not a UPRN."""
    if value is None:
        return None
    text = str(value).strip()
    if text == "":
        return None
    if not text.isascii() or not text.isdigit() or len(text.lstrip("0")) > UPRN_MAX_DIGITS or not text.strip("0"):
        raise InvalidAction(f"UPRN {quoted(text)} is not valid: a UPRN is a whole number of 1 to {UPRN_MAX_DIGITS} "
                            "digits (the property's Unique Property Reference Number)")
    return text.lstrip("0")


def contact_terms(contact: str) -> set[str]:
    """Terms for each email address, phone number and postcode in free-text contact details."""
    terms = {f"email:{m.group(0).casefold().rstrip('.')}" for m in _EMAIL.finditer(contact)}
    rest = _EMAIL.sub(" ", contact)
    for m in _POSTCODE.finditer(rest):
        terms.add(f"postcode:{(m.group(1) + m.group(2)).upper()}")
    for m in _PHONE.finditer(rest):
        digits = phone_digits(m.group(0))
        if digits:
            terms.add(f"phone:{digits}")
    return terms


def name_terms(name: str) -> set[str]:
    return {f"word:{w}" for w in words(name)}


def property_terms(address: str | None, uprn_value: str | None) -> set[str]:
    terms = set()
    if address:
        terms |= {f"word:{w}" for w in words(address)}
        terms |= {f"postcode:{(m.group(1) + m.group(2)).upper()}" for m in _POSTCODE.finditer(address)}
    if uprn_value:
        terms.add(f"uprn:{uprn_value}")
    return terms


def case_terms(*, complainant: str | None, contact: str | None, address: str | None,
               uprn_value: str | None) -> dict[str, set[str]]:
    """Each field's terms for one case."""
    return {NAME: name_terms(complainant or ""), CONTACT: contact_terms(contact or ""),
            PROPERTY: property_terms(address, uprn_value)}


def query_alternatives(text: str) -> list[set[str]]:
    """What a search for `text` may mean, each as the terms a case must all have: an email, a phone number, a
    postcode, a UPRN, or else words (every word must be one of the case's words, in any order). A string of digits
    may be a UPRN or a phone number, so both are tried. Empty when there is nothing to search for."""
    text = (text or "").strip()
    if not text:
        return []
    if _EMAIL.fullmatch(text):
        return [{f"email:{text.casefold()}"}]
    code = postcode(text)
    if code:
        return [{f"postcode:{code}"}]
    out: list[set[str]] = []
    digits = re.sub(r"[\s\-.()]", "", text)
    if re.fullmatch(r"\+?[0-9]+", digits):
        phone = phone_digits(text)
        if phone:
            out.append({f"phone:{phone}"})
        if digits.isdigit() and len(digits.lstrip("0")) <= UPRN_MAX_DIGITS and digits.strip("0"):
            out.append({f"uprn:{digits.lstrip('0')}"})
    found = {f"word:{w}" for w in words(text)}
    if found:
        out.append(found)
    return out


def address_key(address: str | None) -> str | None:
    """A home's address as compared when there is no UPRN: its folded words in order, so case, accents,
    punctuation and spacing do not matter ("12, High St." is "12 high st"), but spelling does ("Street" is not
    "St"): recording the UPRN is how two spellings of one home are known to be the same."""
    if not address:
        return None
    key = " ".join(words(address))
    return key or None


# ---------------------------------------------------------------------------------------------------- repeats
class HomeCase(NamedTuple):
    """What the repeats rule needs of a case: its blind tokens of the home, when it came in, what about. A named
    tuple, not a frozen dataclass: `find` and the reports read tens of thousands of them, and a frozen dataclass
    takes ten times as long to make (0.74 s for the 158,000 homes at 1M events, against 0.07 s)."""

    ref: str
    uprn: str | None      # blind token of the UPRN
    address: str | None   # blind token of the address key
    received_on: date
    category: str | None = None


def homes(cases: Iterable[HomeCase]) -> dict[str, str]:
    """Each case's home, as a key shared by the cases about the same home. Same home: the same UPRN; a case with no
    UPRN is about the home whose address it gives word for word (address_key), which is the home of the cases
    giving a UPRN with that address when they all give the same one. Cases with neither have no home."""
    cases = list(cases)
    uprn_of_address: dict[str, set[str]] = {}
    for c in cases:
        if c.uprn and c.address:
            uprn_of_address.setdefault(c.address, set()).add(c.uprn)
    out = {}
    for c in cases:
        if c.uprn:
            out[c.ref] = f"u:{c.uprn}"
        elif c.address:
            known = uprn_of_address.get(c.address, set())
            out[c.ref] = f"u:{next(iter(known))}" if len(known) == 1 else f"a:{c.address}"
    return out


def repeats(cases: Iterable[HomeCase]) -> set[str]:
    """The cases about a home that had another complaint (any category) received within REPEAT_MONTHS before or
    after them: each complaint of a home complaining again is flagged, the first one included."""
    cases = list(cases)
    home_of = homes(cases)
    by_home: dict[str, list[HomeCase]] = {}
    for c in cases:
        if c.ref in home_of:
            by_home.setdefault(home_of[c.ref], []).append(c)
    flagged = set()
    for theirs in by_home.values():
        theirs.sort(key=lambda c: (c.received_on, c.ref))
        for a, b in zip(theirs, theirs[1:]):
            if again_within(a.received_on, b.received_on):
                flagged |= {a.ref, b.ref}
    return flagged


def again_within(earlier: date | None, later: date | None) -> bool:
    """Whether a complaint received `later` came within REPEAT_MONTHS of one received `earlier` (False if either
    is missing): the one 12-month rule, of `repeats` and `repeats_of` both, counted forward from the earlier
    complaint (so 28 Feb 2023 reaches 28 Feb 2024, not 29 Feb, whichever of the two cases is asked about)."""
    return earlier is not None and later is not None and later <= add_months(earlier, REPEAT_MONTHS)


def repeat_homes(cases: Iterable[HomeCase], start: date, end: date) -> dict[str, object]:
    """For a report on [start, end]: the homes with more than one complaint received in the period, how many
    complaints those were, and their categories, most complained of first (reports show the top few). Not additive:
    a home complaining once in each of two months complains more than once in the quarter, but in neither month."""
    cases = [c for c in cases if start <= c.received_on <= end]
    home_of = homes(cases)
    by_home: dict[str, list[HomeCase]] = {}
    for c in cases:
        if c.ref in home_of:
            by_home.setdefault(home_of[c.ref], []).append(c)
    again = [c for theirs in by_home.values() if len(theirs) > 1 for c in theirs]
    counts: dict[str, int] = {}
    for c in again:
        counts[c.category or "(none)"] = counts.get(c.category or "(none)", 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return {"homes": sum(1 for theirs in by_home.values() if len(theirs) > 1), "complaints": len(again),
            "by_category": dict(ranked)}


def repeats_of(cases: Iterable[HomeCase], ref: str) -> list[str]:
    """The other complaints about the same home as `ref` received within REPEAT_MONTHS before or after it."""
    cases = list(cases)
    home_of = homes(cases)
    mine = next((c for c in cases if c.ref == ref), None)
    if mine is None or ref not in home_of:
        return []
    return sorted(c.ref for c in cases if c.ref != ref and home_of.get(c.ref) == home_of[ref]
                  and again_within(*sorted((c.received_on, mine.received_on))))


def cases_near(refs: Iterable[str], rows_where: Callable[[str, list[str]], Iterable[HomeCase]]) -> list[HomeCase]:
    """The cases that decide which of `refs` are repeats, and of what: theirs, every case that may be about the
    same home as one of them, and every case giving one of those cases' addresses (whose UPRNs say which home a
    case giving only that address is about). `repeats` and `repeats_of` on these give what they give on every
    case in the ledger, for `refs`, while `show` or `find` read a few rows instead of all of them (158,000 at 1M
    events). `rows_where(column, values)` is the cases whose `column` ("ref", "uprn" or "address") is one of
    `values`."""
    found: dict[str, HomeCase] = {}

    def add(column: str, values: Iterable[str | None]) -> None:
        wanted = sorted({v for v in values if v})
        if wanted:
            found.update((c.ref, c) for c in rows_where(column, wanted))

    wanted = set(refs)
    add("ref", wanted)
    add("address", [c.address for c in found.values()])  # so a case without a UPRN knows its home
    home_of = homes(found.values())
    uprns = {home_of[r][2:] for r in wanted if home_of.get(r, "").startswith("u:")}
    add("uprn", uprns)  # the home's other cases giving its UPRN ...
    add("address", [c.address for c in found.values() if c.uprn in uprns])  # ... and those giving only its address
    return list(found.values())
