"""Value rules shared by every aggregate: money in pounds and pence, references, business dates, free text.

Each rule is here once, used by the command line's option types, the aggregates' guards and the legacy import
alike; the bounds themselves are in limits.py (and docs/limits.md).
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, time, timezone
from uuid import uuid4
from zoneinfo import ZoneInfo
from decimal import Decimal

from .errors import InvalidAction, InvalidAmount, InvalidDate
from .limits import (CONTACT_MAX, EARLIEST_DATE, LATEST_DATE, LONG_TEXT_MAX, MAX_AMOUNT_POUNDS, MAX_GIVE_UP_SECONDS,
                     MAX_ITEMS, MAX_POLL_SECONDS, NAME_MAX, QUOTE_MAX, SHORT_TEXT_MAX, TEXT_MAX)

MAX_AMOUNT = Decimal(MAX_AMOUNT_POUNDS).quantize(Decimal("0.01"))
# ASCII digits only, everywhere: Python's \d also matches ٣ and ３, which no one means in a date or a sum.
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
MONEY = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")  # pounds and optional pence: 150, 125.5, 125.50
# As a spreadsheet exports a sum: an optional £ and thousands grouped in threes (£1,234.50), or plain.
EXPORTED_MONEY = re.compile(r"£?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]{1,2})?")
REFERENCE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9/_-]{0,39}\Z")
COMPLAINANT_ID = re.compile(r"P-[0-9A-F]{12}")


# Control characters, the Unicode line and paragraph separators, and the bidirectional marks, overrides and isolates
# that can make text display in an order other than the one stored.
_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(value: object) -> str:
    """`value` as one line of screen text: control characters, line breaks and bidi controls shown escaped (`\\n`),
    so that no text a user typed can forge another line of a screen, a table or an error."""
    text = "" if value is None else str(value)
    if not _UNSHOWN.search(text):
        return text
    return _UNSHOWN.sub(lambda m: _NAMED.get(m.group(), f"\\u{ord(m.group()):04x}"), text)


def quoted(value: object, limit: int = QUOTE_MAX) -> str:
    """What was typed, as an error message shows it: quoted, control characters escaped, and at most `limit`
    characters with '…' marking the cut, so that a pasted document cannot turn a one-line error into pages."""
    try:
        text = value if isinstance(value, str) else str(value)
    except ValueError:  # an integer of more digits than Python will write out
        text = "<a number too long to show>"
    return repr(text[:limit] + "…") if len(text) > limit else repr(text)


def brief(text: object, limit: int = 200) -> str:
    """Text named plainly in a message (a file's name, a database's place): `printable`, cut at `limit` with '…'."""
    text = str(text)
    return printable(text[:limit]) + ("…" if len(text) > limit else "")


def new_complainant_id() -> str:
    """A data subject's id: short enough to read out and type (P- and 12 hex digits), random so it says nothing."""
    return "P-" + uuid4().hex[:12].upper()


def complainant_id(value: str) -> str:
    """A typed complainant id, normalised; one clear error if it cannot be one."""
    cleaned = str(value or "").strip().upper()
    if not COMPLAINANT_ID.fullmatch(cleaned):
        raise InvalidAction(f"complainant id {quoted(value)} is not like P-1A2B3C4D5E6F (see 'complaints show REF')")
    return cleaned


# ------------------------------------------------------------------------------------------------ money
def pounds(value: str | int | Decimal, *, allow_zero: bool = False, what: str = "amount") -> Decimal:
    """A sum in pounds and pence. Never a float: £0.10 + £0.20 must be £0.30.

    Typed, it is exactly pounds and optional pence (150, 125.5, 125.50): no £, no commas, no signs, no exponents,
    no underscores, ASCII digits only, so that '1,2,3' can never be read as £123 nor '1e3' as £1,000."""
    if isinstance(value, float):
        raise InvalidAmount(f"{what} must be given as text or Decimal, not a float")
    not_money = (f"{what} {quoted(value)} is not a sum of money (pounds and pence in figures, e.g. 1250.50: no £, "
                 "commas or signs)")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidAmount(not_money)
        amount = value
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if text[:1] == "-" and MONEY.fullmatch(text[1:]):
            raise InvalidAmount(f"{what} must be more than £0.00, not {quoted(value)}")
        if re.fullmatch(r"[0-9]+\.[0-9]{3,}", text):
            raise InvalidAmount(f"{what} {quoted(value)} has fractions of a penny (use at most two decimal places)")
        if not MONEY.fullmatch(text):
            raise InvalidAmount(not_money)
        amount = Decimal(text)
    else:
        raise InvalidAmount(not_money)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidAmount(f"{what} must be more than £0.00, not {quoted(value)}")
    if amount > MAX_AMOUNT:
        raise InvalidAmount(f"{what} {quoted(value)} is implausibly large (over {fmt_pounds(MAX_AMOUNT)}); "
                            "check the figure")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidAmount(f"{what} {quoted(value)} has fractions of a penny (use at most two decimal places)")
    return amount.quantize(Decimal("0.01"))


def exported_pounds(value: str, *, allow_zero: bool = False, what: str = "amount") -> Decimal:
    """A sum as a spreadsheet exports it (a legacy file): '£1,234.50', with thousands grouped in threes, or a
    plain one. Otherwise the rule of `pounds`: '1,2,3' and '1e3' are refused, never guessed at."""
    text = value.strip()
    if EXPORTED_MONEY.fullmatch(text):
        text = text.removeprefix("£").replace(",", "")
    return pounds(text, allow_zero=allow_zero, what=what)


def fmt_pounds(amount: Decimal) -> str:
    return f"£{amount:,.2f}"


# ------------------------------------------------------------------------------------------------ dates
def business_date(value: str | date, what: str = "date") -> date:
    """A typed date: YYYY-MM-DD in ASCII digits, a real day, from EARLIEST_DATE to LATEST_DATE. Whether it may be
    in the future is the caller's rule (a step may not; --as-of may): see `happened`."""
    if isinstance(value, date):
        return within_dates(value, what)
    text = str(value).strip()
    try:
        if not ISO_DATE.match(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidDate(f"{_named(what)}{quoted(value)} is not a date in the form YYYY-MM-DD") from None
    return within_dates(day, what)


def within_dates(day: date, what: str = "date") -> date:
    """A date the ledger can work with: deadlines before EARLIEST_DATE cannot be worked out (the bank-holiday table
    starts there), and no question needs one after LATEST_DATE."""
    if day < EARLIEST_DATE:
        raise InvalidDate(f"{_named(what)}{day} is before {EARLIEST_DATE}, the earliest date the ledger records "
                          "(its bank-holiday table starts there)")
    if day > LATEST_DATE:
        raise InvalidDate(f"{_named(what)}{day} is after {LATEST_DATE}, the latest date the ledger works with")
    return day


def happened(day: date, today: date, what: str = "", then: str = "") -> date:
    """The rule for every business date (when something happened): from EARLIEST_DATE to the ledger's today.
    `then`: what to add to the future date's message."""
    if not isinstance(day, date):
        raise InvalidDate(f"{_named(what)}{quoted(day)} is not a date")
    if day > today:
        raise InvalidDate(f"{_named(what)}{day} is in the future (today is {today}){then}")
    return within_dates(day, what)


def _named(what: str) -> str:
    return f"{what} " if what else ""


def add_months(day: date, months: int) -> date:
    """Same day `months` later, clamped to the month's end (31 Aug + 6 months = 28/29 Feb)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def normalise_reference(ref: str) -> str:
    cleaned = str(ref).strip().upper()
    if not REFERENCE_PATTERN.match(cleaned):
        raise InvalidReferenceFormat(
            f"reference {quoted(ref)} is not valid: use up to 40 letters, digits, '-', '/' or '_' "
            "(e.g. CMP-2026-000042)"
        )
    return cleaned


class InvalidReferenceFormat(InvalidAction):
    """A reference that cannot be a case reference."""


LOCAL = ZoneInfo("Europe/London")  # recorded times without a zone are read as UK clock time


def recorded_time(value: str | datetime, what: str = "--known-at") -> datetime:
    """A moment on the recording clock: ISO date and time (UK clock time unless a zone is given), or a bare date
    meaning the end of that day in the UK; from EARLIEST_DATE to LATEST_DATE, like any date asked about."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            if ISO_DATE.match(text):
                moment = datetime.combine(date.fromisoformat(text), time.max)
            elif text.isascii():
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            else:
                raise ValueError(text)
        except ValueError:
            raise InvalidDate(f"{_named(what)}{quoted(text)} is not a date and time like 2026-03-05T14:30 "
                              "(UK clock time) or 2026-03-05T14:30Z") from None
    within_dates(moment.date(), what)  # before converting: 9999-12-31T23:00-05:00 has no UTC time
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL)
    return moment.astimezone(timezone.utc)


# ------------------------------------------------------------------------------------------------ waiting
SECONDS = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")  # 0.5, 2, 2.: what float() takes, less nan, inf, 1e3, 1_0


def seconds(value: object, what: str = "--poll", *, maximum: float = MAX_POLL_SECONDS,
            zero_allowed: bool = False) -> float:
    """A wait in seconds: a finite number above 0 (or from 0, where `zero_allowed`) and at most `maximum`. Zero,
    a negative or NaN between checks would spin a processor; infinity would never check again."""
    bound = f"{'from 0' if zero_allowed else 'above 0'} and at most {maximum:,g}"
    wrong = InvalidAction(f"{_named(what)}{quoted(value)} is not a number of seconds {bound}")
    if isinstance(value, bool):
        raise wrong
    if isinstance(value, str):
        if not SECONDS.fullmatch(value.strip()):
            raise wrong
        value = float(value)
    if not isinstance(value, (int, float)) or (isinstance(value, int) and not 0 <= value <= maximum):
        raise wrong  # (an int is compared before float() can overflow on it)
    number = float(value)
    if not (0 <= number <= maximum) or (number == 0 and not zero_allowed):  # NaN fails every comparison
        raise wrong
    return number


DURATION = re.compile(r"([0-9]{1,7})\s*(s|m|h|d)?", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


def duration(value: object, what: str = "--give-up-after") -> float:
    """A span of time a person types: a whole number with an optional unit, `30s`, `5m`, `1h`, `2d` (seconds
    without one), from 1 second to MAX_GIVE_UP_SECONDS. Fractions and combinations (`1h30m`) are refused rather
    than guessed at: `90m` says it."""
    most = MAX_GIVE_UP_SECONDS // 86_400
    wrong = InvalidAction(f"{_named(what)}{quoted(value)} is not a duration: give a whole number of seconds, "
                          f"minutes, hours or days such as 30s, 5m, 1h or 2d (at most {most} days)")
    match = DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise wrong
    total = int(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
    if not 1 <= total <= MAX_GIVE_UP_SECONDS:
        raise wrong
    return float(total)



# ------------------------------------------------------------------------------------------------ free text
# What a piece of text may be, by kind: (the most characters kept, whether new lines and tabs are allowed). Names and
# short fields are one line; the longer ones are what an officer writes, in paragraphs. docs/limits.md lists which
# field is which kind.
TEXT_KINDS: dict[str, tuple[int, bool]] = {
    "name": (NAME_MAX, False),
    "short": (SHORT_TEXT_MAX, False),
    "contact": (CONTACT_MAX, True),
    "text": (TEXT_MAX, True),
    "long": (LONG_TEXT_MAX, True),
}
# Never kept in any text: control characters (NUL, escape, C1), line and paragraph separators, the bidirectional
# overrides that make text read differently from how it is stored, and lone surrogates (bytes that were not UTF-8).
# Paragraphs may have tabs and new lines, a Windows line end (\r\n) included, but never a carriage return on its own,
# which lets what follows it print over what went before.
_NEVER = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_REFUSED = {False: re.compile(f"[\t\n\r{_NEVER}]"), True: re.compile(f"\r(?!\n)|[{_NEVER}]")}


def plain_text(value: object, what: str, kind: str = "text", *, required: bool = True) -> str | None:
    """Text a person typed, trimmed, as the ledger keeps it: at most the kind's length, and no control characters
    (new lines and tabs only where the kind allows paragraphs). Kept as typed, less surrounding spaces; empty text
    is None where it is optional. The error never repeats the text: it may be the very thing too long."""
    limit, lines = TEXT_KINDS[kind]
    if value is None:
        text = ""
    elif not isinstance(value, str):
        raise InvalidAction(f"{what} must be text, not {type(value).__name__}")
    else:
        text = value.strip()
    if not text:
        if required:
            raise InvalidAction(f"{what} must not be empty")
        return None
    if len(text) > limit:
        raise InvalidAction(f"{what} is {len(text):,} characters long; the ledger keeps at most {limit:,}")
    bad = _REFUSED[lines].search(text)
    if bad:
        allowed = "new lines and tabs are fine" if lines else "one line, no tabs"
        raise InvalidAction(f"{what} contains a control character (U+{ord(bad.group()):04X}, character "
                            f"{bad.start() + 1}): type plain text ({allowed})")
    return text


def text_items(values: object, what: str, plural: str, kind: str = "text") -> list[str]:
    """Repeatable text (remedies, orders): each as `plain_text`, empty ones left out, at most MAX_ITEMS."""
    if values is None:
        return []
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        raise InvalidAction(f"the {plural} must be a list of text")
    items = [t for t in (plain_text(v, what, kind, required=False) for v in values) if t]
    if len(items) > MAX_ITEMS:
        raise InvalidAction(f"{len(items):,} {plural} given; at most {MAX_ITEMS} go with one decision")
    return items


def json_default(o: object) -> object:
    """How the ledger's values appear in JSON output: ISO dates and times, money as pounds and pence."""
    if isinstance(o, (date, datetime)):
        return o.isoformat()
    if isinstance(o, Decimal):
        return f"{o:.2f}"
    raise TypeError(f"cannot encode {type(o).__name__}")
