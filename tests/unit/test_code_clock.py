"""The Code's one clock for a response (domain/deadlines.py `code_response_clock`), without a database: it counts
from acknowledgement, or from when acknowledgement was due if that came later (Code §6.2-6.3: a late
acknowledgement buys no time), with extensions up to the Code's maximum (§6.4). England's 2026 bank holidays."""

from __future__ import annotations

from datetime import date

from complaints_ledger.domain.complaint import StageProgress
from complaints_ledger.domain.deadlines import code_response_clock
from complaints_ledger.domain.working_days import WorkingCalendar

ENGLAND = WorkingCalendar("england-and-wales")


def stage(number: int, started: date, acknowledged: date | None, extension: int = 0) -> StageProgress:
    extensions = [{"working_days": extension, "occurred_on": started}] if extension else []
    return StageProgress(number=number, started_on=started, acknowledged_on=acknowledged, extensions=extensions)


def test_an_acknowledgement_in_time_starts_the_clock():
    # received Mon 8 Jun 2026, acknowledged Tue 9 Jun (due 15 Jun): 9 Jun + 10 = Tue 23 Jun (10-12 | 15-19 | 22, 23)
    assert code_response_clock(stage(1, date(2026, 6, 8), date(2026, 6, 9)), ENGLAND) == (
        date(2026, 6, 9), "acknowledged", date(2026, 6, 23))


def test_a_late_acknowledgement_buys_no_time():
    # CMP-2026-000479: received Thu 26 Feb, acknowledgement due Thu 5 Mar (27 | 2-5), given Mon 9 Mar; extended
    # by 10: 5 Mar + 20 = Thu 2 Apr (6 | 9-13 | 16-20 | 23-27 | 30, 31, 1, 2)
    assert code_response_clock(stage(1, date(2026, 2, 26), date(2026, 3, 9), extension=10), ENGLAND) == (
        date(2026, 3, 5), "acknowledgement due", date(2026, 4, 2))


def test_no_acknowledgement_counts_from_when_it_was_due_and_extensions_stop_at_the_codes_maximum():
    # stage 2 escalated Mon 13 Jul 2026, never acknowledged: due Mon 20 Jul (14-17 | 20); extended by 30, of which
    # the Code allows 20: 20 Jul + 40 working days = Tue 15 Sep (21-24: 4 | 27-31: 9 | 3-7 Aug: 14 | 10-14: 19 |
    # 17-21: 24 | 24-28: 29 | 31 Aug is a bank holiday | 1-4 Sep: 33 | 7-11: 38 | 14, 15: 40)
    assert code_response_clock(stage(2, date(2026, 7, 13), None, extension=30), ENGLAND) == (
        date(2026, 7, 20), "acknowledgement due", date(2026, 9, 15))
