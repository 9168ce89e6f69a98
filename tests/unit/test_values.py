"""The value rules every entry point shares (domain/values.py, bounds in domain/limits.py, table in docs/limits.md):
whatever is given, the answer is the value as the ledger keeps it or one ComplaintsError, never another exception."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from complaints_ledger.adapters.file_text import TooDeep, deepest, loads
from complaints_ledger.domain import limits
from complaints_ledger.domain.errors import ComplaintsError, InvalidAction, InvalidAmount, InvalidDate
from complaints_ledger.domain.values import (MAX_AMOUNT, business_date, exported_pounds, happened, plain_text, pounds,
                                             quoted, recorded_time, seconds)

TODAY = date(2026, 11, 22)
TYPED_MONEY = re.compile(r"[0-9]+(\.[0-9]{1,2})?")
SHORT = 40 * 10 + 200  # an error's own words and a quoted prefix of 40 characters, each at worst escaped as \U0001xxxx


# ------------------------------------------------------------------------------------------------------ money
@pytest.mark.parametrize("typed", ["1,2,3", "1e3", "1E3", "0x10", "+5", "NaN", "nan", "Infinity", "-Infinity", "1_000",
                                   "٣", "１２", "£150", "1,200.00", "12.", ".5", "1 000", "5p", "", "  "])
def test_typed_money_is_figures_and_optional_pence_only(typed):
    with pytest.raises(InvalidAmount, match="is not a sum of money"):
        pounds(typed)


@pytest.mark.parametrize("typed, kept", [("150", "150.00"), ("125.5", "125.50"), (" 125.50 ", "125.50"),
                                         ("0.01", "0.01"), ("100000", "100000.00"), ("007", "7.00")])
def test_typed_money_in_figures_is_kept_exactly(typed, kept):
    assert pounds(typed) == Decimal(kept)


def test_a_negative_sum_says_it_must_be_more_than_nothing():
    with pytest.raises(InvalidAmount, match=r"must be more than £0.00, not '-5'"):
        pounds("-5")


def test_the_largest_sum_is_one_hundred_thousand_pounds():
    assert MAX_AMOUNT == Decimal("100000.00") == pounds("100000.00")
    with pytest.raises(InvalidAmount, match=r"implausibly large \(over £100,000.00\)"):
        pounds("100000.01")


@pytest.mark.parametrize("exported, kept", [("£1,234.50", "1234.50"), ("1,234", "1234.00"), ("£12", "12.00"),
                                            ("99,999.99", "99999.99"),
                                            ("0.00", "0.00")])
def test_a_spreadsheet_export_may_group_thousands_and_show_the_pound_sign(exported, kept):
    assert exported_pounds(exported, allow_zero=True) == Decimal(kept)


@pytest.mark.parametrize("exported", ["1,2,3", "£1,2,3", "12,34", "1,2345", "1e3", "££5", "£-5", "£ 5", ",123"])
def test_a_spreadsheet_export_with_wrong_grouping_or_an_exponent_is_refused(exported):
    with pytest.raises(InvalidAmount):
        exported_pounds(exported)


@settings(max_examples=300)
@given(st.text(max_size=30) | st.from_regex(r"\A[0-9]{1,8}(\.[0-9]{1,3})?\Z"))
def test_any_typed_text_is_money_in_pence_or_one_refusal(text):
    try:
        amount = pounds(text)
    except InvalidAmount as e:
        assert len(str(e)) < SHORT
        return
    assert TYPED_MONEY.fullmatch(text.strip())
    assert Decimal("0.01") <= amount <= MAX_AMOUNT and amount == amount.quantize(Decimal("0.01"))
    assert amount == Decimal(text.strip())


# ------------------------------------------------------------------------------------------------------ dates
@pytest.mark.parametrize("typed, says", [
    ("1900-01-01", "1900-01-01 is before 1990-01-01, the earliest date the ledger records"),
    ("1989-12-31", "is before 1990-01-01"),
    ("2101-01-01", "2101-01-01 is after 2100-12-31"),
    ("9999-12-31", "is after 2100-12-31"),
    ("٢٠٢٦-٠١-٠٥", "is not a date in the form YYYY-MM-DD"),
    ("２０２６-01-05", "is not a date in the form YYYY-MM-DD"),
    ("2026-1-5", "is not a date in the form YYYY-MM-DD"),
    ("2026-02-30", "is not a date in the form YYYY-MM-DD"),
])
def test_a_typed_date_is_an_ascii_iso_date_from_1990_to_2100(typed, says):
    with pytest.raises(InvalidDate, match=says):
        business_date(typed, "--on")


def test_the_bounds_themselves_are_dates_the_ledger_takes():
    assert business_date("1990-01-01") == limits.EARLIEST_DATE
    assert business_date("2100-12-31") == limits.LATEST_DATE


def test_a_business_date_is_never_before_1990_nor_after_today():
    assert happened(TODAY, TODAY) == TODAY
    with pytest.raises(InvalidDate, match="received date 1989-12-31 is before 1990-01-01"):
        happened(date(1989, 12, 31), TODAY, "received date")
    with pytest.raises(InvalidDate, match=r"2026-11-23 is in the future \(today is 2026-11-22\)"):
        happened(date(2026, 11, 23), TODAY)


@pytest.mark.parametrize("typed", ["9999-12-31T23:00-05:00", "0001-01-01T00:00+01:00", "1900-06-01", "2101-01-01T00:00Z"])
def test_a_recorded_time_outside_1990_to_2100_is_refused_before_any_conversion_can_overflow(typed):
    with pytest.raises(InvalidDate, match="--known-at"):
        recorded_time(typed)


def test_a_recorded_time_in_other_digits_is_refused():
    with pytest.raises(InvalidDate, match="is not a date and time"):
        recorded_time("2026-01-05T1２:00")
    assert recorded_time("2026-01-05T12:00Z") == datetime(2026, 1, 5, 12, tzinfo=timezone.utc)


@settings(max_examples=300)
@given(st.text(max_size=40) | st.dates().map(date.isoformat))
def test_any_typed_text_is_a_date_in_range_or_one_refusal(text):
    try:
        day = business_date(text)
    except InvalidDate as e:
        assert len(str(e)) < SHORT
        return
    assert limits.EARLIEST_DATE <= day <= limits.LATEST_DATE


# ------------------------------------------------------------------------------------------------------ text
@pytest.mark.parametrize("kind, most", [("name", 200), ("short", 200), ("contact", 500), ("text", 2_000),
                                        ("long", 10_000)])
def test_each_kind_of_text_has_its_length(kind, most):
    assert plain_text("x" * most, "it", kind) == "x" * most
    with pytest.raises(InvalidAction, match=f"it is {most + 1:,} characters long; the ledger keeps at most {most:,}"):
        plain_text("x" * (most + 1), "it", kind)


def test_an_over_long_text_is_refused_without_being_repeated():
    with pytest.raises(InvalidAction) as caught:
        plain_text("word " * 20_000, "the note", "long")
    assert "word" not in str(caught.value) and len(str(caught.value)) < 100


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u202e", "\ud800", "\r"])
def test_control_characters_are_refused_in_every_kind_of_text(character):
    for kind in ("name", "long"):
        with pytest.raises(InvalidAction, match=f"contains a control character \\(U\\+{ord(character):04X}"):
            plain_text(f"Ann{character}Smith", "it", kind)


def test_names_are_one_line_but_notes_keep_their_paragraphs():
    with pytest.raises(InvalidAction, match="one line, no tabs"):
        plain_text("Ann\nSmith", "complainant", "name")
    with pytest.raises(InvalidAction, match="one line, no tabs"):
        plain_text("Ann\tSmith", "complainant", "name")
    assert plain_text("  Called.\r\n\tNo answer.\nWill try again. ", "the note", "long") == \
        "Called.\r\n\tNo answer.\nWill try again."
    with pytest.raises(InvalidAction, match="U\\+000D"):
        plain_text("Called.\rNo answer.", "the note", "long")  # a lone return prints over what came before


def test_optional_text_left_empty_is_none_and_required_text_must_be_given():
    assert plain_text("   ", "the reason", required=False) is None
    with pytest.raises(InvalidAction, match="the reason must not be empty"):
        plain_text("   ", "the reason")


@settings(max_examples=300)
@given(st.text(max_size=300), st.sampled_from(["name", "short", "contact", "text", "long"]))
def test_any_text_is_kept_within_its_kind_or_refused_in_one_line(text, kind):
    try:
        kept = plain_text(text, "it", kind, required=False)
    except InvalidAction as e:
        assert "\n" not in str(e) and len(str(e)) < 200
        return
    if kept is not None:
        assert len(kept) <= 200 or kind != "name"
        assert kept == kept.strip() and not any(c in kept for c in "\x00\x1b\u2028\u202e")
        assert "\r" not in kept.replace("\r\n", "")


# ------------------------------------------------------------------------------------------------------ echoes
def test_an_error_quotes_at_most_the_first_40_characters_of_what_was_typed():
    assert quoted("CMP-2026-000001") == "'CMP-2026-000001'"
    assert quoted("X" * 100_000) == "'" + "X" * 40 + "…'"
    assert quoted("a\nb\x00") == "'a\\nb\\x00'"
    assert quoted(10 ** 5000) == "'<a number too long to show>'"


@settings(max_examples=200)
@given(st.one_of(st.text(), st.integers(), st.binary()))
def test_a_quoted_value_is_one_short_line_whatever_it_is(value):
    shown = quoted(value)
    assert "\n" not in shown and len(shown) <= 40 * 10 + 3  # at worst every character escaped as \U0001xxxx


# ------------------------------------------------------------------------------------------------------ waits
@pytest.mark.parametrize("typed", ["0", "-1", "nan", "NaN", "inf", "-inf", "1e3", "١", "3601", "", "0.0",
                                   float("nan"), float("inf"), 0, -1, True, 10 ** 400])
def test_a_poll_interval_is_a_finite_number_of_seconds_above_zero(typed):
    with pytest.raises(InvalidAction, match="is not a number of seconds above 0 and at most 3,600"):
        seconds(typed, "--poll")


@pytest.mark.parametrize("typed, kept", [("0.5", 0.5), ("2", 2.0), ("3600", 3600.0), (0.05, 0.05), ("2.", 2.0)])
def test_a_poll_interval_in_figures_is_taken(typed, kept):
    assert seconds(typed) == kept


def test_a_backoff_may_be_zero_but_not_more_than_its_maximum():
    assert seconds("0", "--backoff", maximum=60, zero_allowed=True) == 0.0
    with pytest.raises(InvalidAction, match="from 0 and at most 60"):
        seconds("61", "--backoff", maximum=60, zero_allowed=True)


# ------------------------------------------------------------------------------------------------------ JSON
def test_json_nesting_is_measured_without_recursion_and_outside_strings():
    assert deepest('{"a": [1, {"b": "[[[[[[["}]}') == 3
    assert deepest("[" * 100_000 + "]" * 100_000) == 100_000
    with pytest.raises(TooDeep, match="nested more than 32 levels deep"):
        loads("[" * 100_000 + "]" * 100_000)
    assert loads("[" * 32 + "]" * 32) == eval("[" * 32 + "]" * 32)


# ------------------------------------------------------------------------------------------------------ the table
def test_docs_limits_states_every_bound_the_code_holds():
    """docs/limits.md is what a user reads: it must say what limits.py does."""
    page = (Path(__file__).parents[2] / "docs" / "limits.md").read_text(encoding="utf-8")
    for shown in (str(limits.EARLIEST_DATE), str(limits.LATEST_DATE), f"£{limits.MAX_AMOUNT_POUNDS:,}.00",
                  f"| {limits.NAME_MAX} |", f"| {limits.CONTACT_MAX} |", f"| {limits.TEXT_MAX:,} |",
                  f"| {limits.LONG_TEXT_MAX:,} |", f"1 to {limits.MAX_STAGES} ", f"0 to {limits.MAX_DUE_WITHIN:,}",
                  f"1 to {limits.MAX_EXTENSION_WORKING_DAYS}", f"1 to {limits.MAX_LIMIT:,}",
                  f"{limits.MAX_POSITION:,}", f"1 to {limits.MAX_CASES:,}", f"0 to {limits.MAX_SEED:,}",
                  f"1 to {limits.MAX_HOMES:,}", f"at most {limits.MAX_POLL_SECONDS:,.0f} seconds",
                  f"at most {limits.MAX_TIMEOUT_SECONDS:,.0f} seconds", f"0 to {limits.MAX_BACKOFF_SECONDS:,.0f} seconds",
                  f"1 to {limits.MAX_ATTEMPTS}", f"{limits.MAX_JSON_DEPTH} deep", f"at most {limits.MAX_ITEMS}",
                  f"| {limits.MAX_OFFSET_DAYS} |", f"| {limits.MAX_WINDOW_DAYS:,} |",
                  f"| {limits.MAX_TIME_LIMIT_MONTHS} |", f"| {limits.MAX_RETENTION_YEARS} |",
                  f"| {limits.MAX_PANEL_AT_LEAST} |", f"first {limits.QUOTE_MAX}",
                  f"at most {limits.MAX_REPORT_YEARS} years"):
        assert shown in page, f"docs/limits.md does not say {shown!r}"


def test_every_refusal_is_a_complaints_error():
    for call in (lambda: pounds(object()), lambda: business_date(object()), lambda: plain_text(5, "it"),
                 lambda: seconds(object())):
        with pytest.raises(ComplaintsError):
            call()
