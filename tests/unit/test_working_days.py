"""Working-day arithmetic: Monday to Friday, less the nation's bank holidays and the landlord's closure days."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from complaints_ledger.domain.policy import Policy
from complaints_ledger.domain.working_days import WorkingCalendar, calendar_for

ENGLAND = calendar_for("england-and-wales")
SCOTLAND = calendar_for("scotland")
NORTHERN_IRELAND = calendar_for("northern-ireland")


# ----------------------------------------------------------------------------------------------------- England


def test_acknowledgement_due_five_working_days_after_friday_receipt_skipping_christmas():
    # Fri 19 Dec 2025: Mon 22, Tue 23, Wed 24 count; Christmas Day and Boxing Day do not; Mon 29, Tue 30 complete five.
    assert ENGLAND.add_working_days(date(2025, 12, 19), 5) == date(2025, 12, 30)


def test_response_due_ten_working_days_after_acknowledgement_skipping_new_years_day():
    # From Tue 30 Dec 2025: Wed 31 (1), Thu 1 Jan is a bank holiday, Fri 2 (2), Mon 5–Fri 9 (3–7), Mon 12–Wed 14 (8–10).
    assert ENGLAND.add_working_days(date(2025, 12, 30), 10) == date(2026, 1, 14)


def test_day_of_receipt_never_counts_even_when_it_is_a_working_day():
    monday = date(2026, 3, 2)
    assert ENGLAND.is_working_day(monday)
    assert ENGLAND.add_working_days(monday, 1) == date(2026, 3, 3)
    # "Within 5 working days" of a Friday means by the following Friday.
    assert ENGLAND.add_working_days(date(2026, 3, 6), 5) == date(2026, 3, 13)


def test_adding_no_working_days_leaves_the_date_unchanged():
    assert ENGLAND.add_working_days(date(2026, 3, 7), 0) == date(2026, 3, 7)


@pytest.mark.parametrize("weekend_day", [date(2026, 3, 7), date(2026, 3, 8)], ids=["saturday", "sunday"])
def test_complaint_received_at_the_weekend_is_due_on_the_friday_after_next_monday(weekend_day):
    # Mon 9 to Fri 13 March 2026 are the five working days.
    assert ENGLAND.add_working_days(weekend_day, 5) == date(2026, 3, 13)


def test_weekends_are_not_working_days_and_say_which_day_they_are():
    assert not ENGLAND.is_working_day(date(2026, 3, 7))
    assert ENGLAND.non_working_reason(date(2026, 3, 7)) == "Saturday"
    assert ENGLAND.non_working_reason(date(2026, 3, 9)) is None


def test_easter_weekend_pushes_a_deadline_past_good_friday_and_easter_monday():
    # Good Friday is 3 April 2026 and Easter Monday 6 April 2026.
    assert not ENGLAND.is_working_day(date(2026, 4, 3))
    assert not ENGLAND.is_working_day(date(2026, 4, 6))
    assert ENGLAND.add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 7)
    assert "Good Friday" in ENGLAND.non_working_reason(date(2026, 4, 3))


def test_substitute_bank_holiday_for_boxing_day_on_a_saturday_is_not_a_working_day():
    # Boxing Day 2026 is a Saturday, so Monday 28 December is the substitute bank holiday.
    assert date(2026, 12, 26).weekday() == 5
    assert date(2026, 12, 28) in holidays.country_holidays("GB", subdiv="ENG", observed=True)
    assert not ENGLAND.is_working_day(date(2026, 12, 28))
    # Christmas Eve (Thu) + 1: Fri 25 Christmas, the weekend, Mon 28 substitute: Tue 29 December.
    assert ENGLAND.add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 29)
    assert "Boxing Day" in ENGLAND.non_working_reason(date(2026, 12, 28))


# ------------------------------------------------------------------------------------ Scotland and Northern Ireland


def test_second_of_january_is_a_bank_holiday_in_scotland_but_not_in_england():
    new_years_eve = date(2025, 12, 31)  # a Wednesday
    assert not SCOTLAND.is_working_day(date(2026, 1, 2))
    assert ENGLAND.is_working_day(date(2026, 1, 2))
    # England: Fri 2 Jan (1), Mon 5 (2). Scotland: 1 and 2 January are holidays, so Mon 5 (1), Tue 6 (2).
    assert ENGLAND.add_working_days(new_years_eve, 2) == date(2026, 1, 5)
    assert SCOTLAND.add_working_days(new_years_eve, 2) == date(2026, 1, 6)


def test_st_andrews_day_is_a_scottish_bank_holiday_only():
    friday = date(2026, 11, 27)  # St Andrew's Day, 30 November 2026, is a Monday
    assert ENGLAND.add_working_days(friday, 1) == date(2026, 11, 30)
    assert SCOTLAND.add_working_days(friday, 1) == date(2026, 12, 1)


def test_easter_monday_is_a_working_day_in_scotland():
    assert SCOTLAND.is_working_day(date(2026, 4, 6))
    assert not SCOTLAND.is_working_day(date(2026, 4, 3))  # Good Friday is a holiday everywhere
    assert SCOTLAND.add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 6)


def test_st_patricks_day_is_a_bank_holiday_in_northern_ireland_only():
    monday = date(2026, 3, 16)  # 17 March 2026 is a Tuesday
    assert not NORTHERN_IRELAND.is_working_day(date(2026, 3, 17))
    assert NORTHERN_IRELAND.add_working_days(monday, 1) == date(2026, 3, 18)
    assert ENGLAND.add_working_days(monday, 1) == date(2026, 3, 17)


def test_unknown_nation_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown calendar 'wales-only'.*england-and-wales"):
        WorkingCalendar("wales-only")


# ------------------------------------------------------------------------------------------------ closure days


def test_christmas_closure_days_push_the_acknowledgement_into_january():
    closed = frozenset({date(2025, 12, 29), date(2025, 12, 30), date(2025, 12, 31)})
    cal = WorkingCalendar("england-and-wales", closed)
    # Mon 22–Wed 24 (3), bank holidays 25, 26, closed 29–31, bank holiday 1 Jan, Fri 2 (4), Mon 5 (5).
    assert cal.add_working_days(date(2025, 12, 19), 5) == date(2026, 1, 5)
    assert cal.non_working_reason(date(2025, 12, 30)) == "closure day"


def test_closure_days_declared_in_a_profile_move_its_deadlines(policy):
    data = dict(policy("hoc-2024").data)
    data["closure_days"] = ["2025-12-29", "2025-12-30", "2025-12-31"]
    with_shutdown = Policy.from_dict(data)
    assert with_shutdown.working_calendar.add_working_days(date(2025, 12, 19), 5) == date(2026, 1, 5)
    assert policy("hoc-2024").working_calendar.add_working_days(date(2025, 12, 19), 5) == date(2025, 12, 30)


# -------------------------------------------------------------------------------------------- counting between


def test_working_days_between_counts_days_after_the_start_up_to_and_including_the_end():
    assert ENGLAND.working_days_between(date(2025, 12, 19), date(2025, 12, 30)) == 5
    assert ENGLAND.working_days_between(date(2026, 3, 6), date(2026, 3, 9)) == 1  # Friday to Monday
    assert ENGLAND.working_days_between(date(2026, 3, 6), date(2026, 3, 8)) == 0  # Friday to Sunday
    assert ENGLAND.working_days_between(date(2026, 3, 4), date(2026, 3, 4)) == 0


def test_working_days_between_is_negative_when_the_end_is_earlier():
    assert ENGLAND.working_days_between(date(2025, 12, 30), date(2025, 12, 19)) == -5


def test_adding_a_negative_number_of_working_days_is_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        ENGLAND.add_working_days(date(2026, 3, 2), -1)


# -------------------------------------------------------------------------------------------------- properties

start_dates = st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31))
calendars = st.sampled_from([ENGLAND, SCOTLAND, NORTHERN_IRELAND])


@settings(max_examples=150, deadline=None)
@given(start=start_dates, days=st.integers(min_value=1, max_value=60), cal=calendars)
def test_adding_working_days_lands_on_a_working_day_exactly_that_many_working_days_later(start, days, cal):
    result = cal.add_working_days(start, days)
    assert cal.is_working_day(result)
    assert cal.working_days_between(start, result) == days
    # ...and it is the first such day: the day before is fewer than `days` working days on.
    assert cal.working_days_between(start, result - timedelta(days=1)) == days - 1


@pytest.mark.parametrize("subdivision", ["ENG", "SCT", "NIR"])
def test_the_shipped_bank_holiday_table_has_exactly_the_installed_librarys_dates(subdivision):
    """The calendars read a generated table (python-holidays takes half a second to build a nation's holidays). If
    this fails, a holiday was announced or corrected upstream: regenerate the table (see domain/bank_holidays.py)."""
    from complaints_ledger.domain.bank_holidays import FIRST_YEAR, LAST_YEAR, BankHolidays

    table = BankHolidays(subdivision)
    library = holidays.country_holidays("GB", subdiv=subdivision, observed=True,
                                        years=range(FIRST_YEAR, LAST_YEAR + 1))
    assert set(table._table) == set(library)
    assert date(2022, 9, 19) in table and "Funeral" in table.get(date(2022, 9, 19))  # announced that September


def test_dates_outside_the_table_come_from_the_library():
    from complaints_ledger.domain.bank_holidays import LAST_YEAR, BankHolidays

    christmas = date(LAST_YEAR + 3, 12, 25)
    assert christmas in BankHolidays("ENG") and BankHolidays("ENG").get(christmas) == "Christmas Day"
    assert date(LAST_YEAR + 3, 12, 23) not in BankHolidays("ENG")


@settings(max_examples=300, deadline=None)
@given(start=st.dates(date(1995, 1, 1), date(2049, 12, 31)), span=st.integers(-800, 800),
       nation=st.sampled_from(["england-and-wales", "scotland", "northern-ireland"]))
def test_working_days_between_counts_exactly_the_working_days_day_by_day(start, span, nation):
    """The running totals agree with counting each day, across year ends, either way round."""
    calendar = calendar_for(nation, frozenset({date(2025, 12, 29), date(2026, 12, 30)}))
    end = start + timedelta(days=span)
    low, high = min(start, end), max(start, end)
    counted = sum(calendar.is_working_day(low + timedelta(days=i)) for i in range(1, (high - low).days + 1))
    assert calendar.working_days_between(start, end) == (counted if end >= start else -counted)
