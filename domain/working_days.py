"""Working-day arithmetic: Monday to Friday, less the nation's bank holidays and the landlord's closure days.

The day a clock starts (receipt, acknowledgement, escalation) never counts: "within 5 working days of receipt" on a
Friday means by the following Friday, and bank holidays (with their substitute days) push the date on.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from .bank_holidays import BankHolidays

CALENDARS = {
    # England and Wales share bank holidays; python-holidays needs a subdivision to give the right set.
    "england-and-wales": "ENG",
    "scotland": "SCT",
    "northern-ireland": "NIR",
}


class WorkingCalendar:
    """A nation's working days, with extra closure days (e.g. the Christmas shutdown) taken out."""

    def __init__(self, nation: str = "england-and-wales", closure_days: frozenset[date] = frozenset()):
        if nation not in CALENDARS:
            raise ValueError(f"unknown calendar {nation!r} (choose from {', '.join(CALENDARS)})")
        self.nation = nation
        self.closure_days = frozenset(closure_days)
        self._bank_holidays = BankHolidays(CALENDARS[nation])
        # Memos: deadlines are recomputed for every case on every replay, and the holiday lookup is slow.
        self._working: dict[date, bool] = {}
        self._added: dict[tuple[date, int], date] = {}
        self._totals: dict[int, list[int]] = {}

    def is_working_day(self, day: date) -> bool:
        known = self._working.get(day)
        if known is None:
            known = self._working[day] = (day.weekday() < 5 and day not in self._bank_holidays
                                          and day not in self.closure_days)
        return known

    def non_working_reason(self, day: date) -> str | None:
        """Why a day is not a working day (for explanations), or None if it is one."""
        if day.weekday() >= 5:
            return day.strftime("%A")
        if day in self._bank_holidays:
            return str(self._bank_holidays.get(day))
        if day in self.closure_days:
            return "closure day"
        return None

    def add_working_days(self, start: date, days: int) -> date:
        """The date `days` working days after `start` (the start day itself never counts)."""
        if days < 0:
            raise ValueError("working days to add must not be negative")
        known = self._added.get((start, days))
        if known is not None:
            return known
        if len(self._added) > 500_000:
            self._added.clear()
        current = start
        remaining = days
        while remaining:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        self._added[(start, days)] = current
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (negative if `end` is earlier).

        Counted from each year's running totals, not day by day: a breach report judges every overdue milestone,
        some of them months old."""
        if end < start:
            return -self.working_days_between(end, start)
        first, last = self._running(start.year), self._running(end.year)
        days_in = start.timetuple().tm_yday
        if start.year == end.year:
            return last[end.timetuple().tm_yday] - first[days_in]
        between = sum(self._running(year)[-1] for year in range(start.year + 1, end.year))
        return first[-1] - first[days_in] + between + last[end.timetuple().tm_yday]

    def _running(self, year: int) -> list[int]:
        """[0, working days among the year's first day, ... first two days, ..., the whole year]."""
        running = self._totals.get(year)
        if running is None:
            running, count, day = [0], 0, date(year, 1, 1)
            while day.year == year:
                count += self.is_working_day(day)
                running.append(count)
                day += timedelta(days=1)
            self._totals[year] = running
        return running


@lru_cache(maxsize=64)
def calendar_for(nation: str, closure_days: frozenset[date] = frozenset()) -> WorkingCalendar:
    """Shared calendars, each built once."""
    return WorkingCalendar(nation, closure_days)
