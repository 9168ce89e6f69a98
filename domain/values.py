"""Value rules shared by every aggregate: money in pounds and pence, references, business dates."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, time, timezone
from uuid import uuid4
from zoneinfo import ZoneInfo
from decimal import Decimal, InvalidOperation

from .errors import InvalidAction, InvalidAmount, InvalidDate

MAX_AMOUNT = Decimal("1000000.00")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
REFERENCE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9/_-]{0,39}$")
COMPLAINANT_ID = re.compile(r"P-[0-9A-F]{12}")


def new_complainant_id() -> str:
    """A data subject's id: short enough to read out and type (P- and 12 hex digits), random so it says nothing."""
    return "P-" + uuid4().hex[:12].upper()


def complainant_id(value: str) -> str:
    """A typed complainant id, normalised; one clear error if it cannot be one."""
    cleaned = str(value or "").strip().upper()
    if not COMPLAINANT_ID.fullmatch(cleaned):
        raise InvalidAction(f"complainant id {value!r} is not like P-1A2B3C4D5E6F (see 'complaints show REF')")
    return cleaned


def pounds(value: str | int | Decimal, *, allow_zero: bool = False, what: str = "amount") -> Decimal:
    """A sum in pounds and pence. Never a float: £0.10 + £0.20 must be £0.30."""
    if isinstance(value, float):
        raise InvalidAmount(f"{what} must be given as text or Decimal, not a float")
    try:
        amount = Decimal(str(value).strip().lstrip("£").replace(",", ""))
    except InvalidOperation:
        raise InvalidAmount(f"{what} {value!r} is not a sum of money (use pounds and pence, e.g. 125.50)") from None
    if not amount.is_finite():
        raise InvalidAmount(f"{what} {value!r} is not a sum of money (use pounds and pence, e.g. 125.50)")
    if abs(amount) > MAX_AMOUNT:
        raise InvalidAmount(f"{what} {value!r} is implausibly large (over £{MAX_AMOUNT:,}); check the figure")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidAmount(f"{what} {value!r} has fractions of a penny (use at most two decimal places)")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidAmount(f"{what} must be more than £0.00, not {value!r}")
    return amount.quantize(Decimal("0.01"))


def fmt_pounds(amount: Decimal) -> str:
    return f"£{amount:,.2f}"


def business_date(value: str | date, what: str = "date") -> date:
    """An ISO date (YYYY-MM-DD)."""
    if isinstance(value, date):
        return value
    try:
        text = str(value).strip()
        if not ISO_DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidDate(f"{what} {value!r} is not a date in the form YYYY-MM-DD") from None


def add_months(day: date, months: int) -> date:
    """Same day `months` later, clamped to the month's end (31 Aug + 6 months = 28/29 Feb)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def normalise_reference(ref: str) -> str:
    cleaned = ref.strip().upper()
    if not REFERENCE_PATTERN.match(cleaned):
        raise InvalidReferenceFormat(
            f"reference {ref!r} is not valid: use up to 40 letters, digits, '-', '/' or '_' (e.g. CMP-2026-000042)"
        )
    return cleaned


class InvalidReferenceFormat(InvalidAction):
    """A reference that cannot be a case reference."""


LOCAL = ZoneInfo("Europe/London")  # recorded times without a zone are read as UK clock time


def recorded_time(value: str | datetime, what: str = "--known-at") -> datetime:
    """A moment on the recording clock: ISO date and time (UK clock time unless a zone is given), or a bare date
    meaning the end of that day in the UK."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                moment = datetime.combine(date.fromisoformat(text), time.max)
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidDate(f"{what} {text!r} is not a date and time like 2026-03-05T14:30 "
                              "(UK clock time) or 2026-03-05T14:30Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL)
    return moment.astimezone(timezone.utc)


def json_default(o: object) -> object:
    """How the ledger's values appear in JSON output: ISO dates and times, money as pounds and pence."""
    if isinstance(o, (date, datetime)):
        return o.isoformat()
    if isinstance(o, Decimal):
        return f"{o:.2f}"
    raise TypeError(f"cannot encode {type(o).__name__}")
