"""The committee figures' shape for quiet periods, and how periods are cut, without a database."""

from __future__ import annotations

from datetime import date

from complaints_ledger.adapters.reports import _cut
from complaints_ledger.projections import committee


def fact(kind: str, on: date, **extra) -> dict:
    return {**dict.fromkeys(("position", "ref", "stage", "policy", "category", "channel", "detail", "in_time",
                             "within_code", "extended", "amount", "score", "text")), "kind": kind, "occurred_on": on,
            **extra}


def test_a_period_with_nothing_in_it_gives_both_stages_with_zeros_and_no_percentages():
    got = committee.figures([])

    assert set(got["stages"]) == {"1", "2"}
    for stage in got["stages"].values():
        assert stage["responses"] == 0 and stage["entered"] == 0
        assert stage["pct_not_in_time"] is stage["pct_extended"] is stage["pct_within_code"] is None
    assert got["escalation_rate_pct"] is None and got["satisfaction"]["average"] is None


def test_a_month_without_a_category_counts_it_as_zero_rather_than_leaving_it_out():
    facts = [fact("received", date(2026, 4, 2), stage=1, category="repairs", channel="phone", policy="hoc-2024"),
             fact("received", date(2026, 5, 6), stage=1, category="noise", channel="web", policy="hoc-2024")]

    got = committee.stats(facts, date(2026, 4, 1), date(2026, 5, 31), "month")

    april, may = (p["figures"] for p in got["periods"])
    assert april["received"]["by_category"] == {"noise": 0, "repairs": 1}
    assert may["received"]["by_channel"] == {"phone": 0, "web": 1}
    assert april["stages"]["1"]["by_category"] == {"noise": 0, "repairs": 1}
    assert got["total"]["received"]["by_category"] == {"noise": 1, "repairs": 1}


def test_periods_up_to_the_last_day_of_the_calendar_end_there():
    assert committee.periods(date(9999, 12, 1), date(9999, 12, 31), "quarter") == [
        (date(9999, 12, 1), date(9999, 12, 31))]
    assert committee.periods(date(9999, 3, 1), date(9999, 12, 31), "year") == [
        (date(9999, 3, 1), date(9999, 3, 31)), (date(9999, 4, 1), date(9999, 12, 31))]
    assert committee.periods(date(9999, 12, 1), date(9999, 12, 31), "month") == [
        (date(9999, 12, 1), date(9999, 12, 31))]


def test_the_committee_report_goes_month_by_month_up_to_three_years_then_by_quarter_then_by_year():
    assert _cut(date(2026, 12, 1), date(2026, 12, 7)) == "month"
    assert _cut(date(2024, 1, 1), date(2026, 12, 31)) == "month"    # 36 months
    assert _cut(date(2024, 1, 1), date(2027, 1, 31)) == "quarter"  # 37
    assert _cut(date(2017, 1, 1), date(2026, 12, 31)) == "quarter"  # 120
    assert _cut(date(1990, 1, 1), date(2026, 12, 31)) == "year"
