"""Finding a case from what a caller says: the terms (domain/search.py) a name, contact, address or UPRN becomes are
spelt the same however the text is typed, and the repeats rule says which complaints are about a home complaining
again."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from complaints_ledger.domain import search
from complaints_ledger.domain.errors import InvalidAction
from complaints_ledger.domain.search import HomeCase


def matches(query: str, **case: str | None) -> bool:
    """Whether a search for `query` finds a case with these details (the rule find applies to the blind tokens)."""
    fields = search.case_terms(complainant=case.get("complainant"), contact=case.get("contact"),
                               address=case.get("address"), uprn_value=case.get("uprn"))
    held = set().union(*fields.values())
    return any(alternative <= held for alternative in search.query_alternatives(query))


@pytest.mark.parametrize("query", ["Zoë", "zoe", "ZOE", "o'brien", "OBrien", "O’Brien", "zoe obrien", "obrien zoe"])
def test_a_name_is_found_by_any_of_its_words_ignoring_case_accents_and_apostrophes(query):
    assert matches(query, complainant="Zoë O'Brien")


def test_every_word_searched_for_must_be_in_the_name():
    assert not matches("zoe smith", complainant="Zoë O'Brien")
    assert matches("straße", complainant="Hans Strasse") and matches("STRASSE", complainant="Hans Straße")


@pytest.mark.parametrize("query", ["07700 900123", "07700900123", "+44 7700 900123", "+447700900123",
                                   "0044 7700 900 123", "(07700) 900-123"])
def test_a_phone_number_is_found_however_it_is_spaced_and_whether_plus_44_or_0(query):
    assert matches(query, contact="mobile +44 (0)7700 900123, evenings")
    assert matches(query, contact="07700 900123")


def test_a_different_phone_number_is_not_found():
    assert not matches("07700 900124", contact="07700 900123")


def test_an_email_is_found_ignoring_case_and_a_postcode_ignoring_spaces_and_case():
    assert matches("Zoe@Example.org", contact="zoe@example.org, 07700 900123")
    for query in ("LS1 4AB", "ls14ab", "ls1  4ab"):
        assert matches(query, address="12 High Street, Leeds LS1 4AB")
        assert matches(query, contact="12 High Street, Leeds ls14ab")
    assert not matches("LS1 4AC", address="12 High Street, Leeds LS1 4AB")


def test_address_words_and_a_uprn_find_the_property():
    assert matches("high street", address="12, High Street, Leeds")
    assert matches("100023336956", address="12 High Street", uprn="100023336956")
    assert not matches("100023336957", address="12 High Street", uprn="100023336956")


@pytest.mark.parametrize("given, stored", [("100023336956", "100023336956"), (" 0100023336956 ", "100023336956"),
                                           ("1", "1"), ("", None), (None, None)])
def test_a_uprn_is_up_to_twelve_digits_stored_without_leading_zeros(given, stored):
    assert search.uprn(given) == stored


@pytest.mark.parametrize("given", ["1000233369561", "12x", "-5", "1.5", "0", "١٢٣", "UPRN 123"])
def test_anything_else_is_refused_as_a_uprn_in_one_line(given):
    with pytest.raises(InvalidAction) as e:
        search.uprn(given)
    assert "UPRN" in str(e.value) and "12 digits" in str(e.value) and "\n" not in str(e.value)


def test_nothing_to_search_for_gives_no_alternatives():
    assert search.query_alternatives("   ") == [] and search.query_alternatives("!!") == []


def test_an_address_key_ignores_case_accents_punctuation_and_spacing_but_not_spelling():
    assert search.address_key("12, High  Street.") == search.address_key("12 HIGH STREET")
    assert search.address_key("12 High St") != search.address_key("12 High Street")


def case(ref: str, on: str, uprn: str | None = None, address: str | None = None, category: str = "repairs"):
    return HomeCase(ref=ref, uprn=uprn, address=address, received_on=date.fromisoformat(on), category=category)


def test_complaints_about_one_uprn_within_twelve_months_are_repeats_whatever_their_category():
    cases = [case("A", "2026-01-10", uprn="t1", category="damp and mould"), case("B", "2026-12-20", uprn="t1"),
             case("C", "2026-02-01", uprn="t2"), case("D", "2028-01-01", uprn="t2")]
    assert search.repeats(cases) == {"A", "B"}  # C and D are nearly two years apart
    assert search.repeats_of(cases, "A") == ["B"] and search.repeats_of(cases, "C") == []


def test_without_a_uprn_the_same_address_is_the_same_home_and_joins_the_uprn_given_with_it():
    cases = [case("A", "2026-01-10", uprn="t1", address="a1"), case("B", "2026-03-01", address="a1"),
             case("C", "2026-03-02", address="a2"), case("D", "2026-03-03", uprn="t3", address="a2"),
             case("E", "2026-03-04", uprn="t4", address="a2")]
    assert search.repeats(cases) == {"A", "B"}  # a2 is given with two different UPRNs: C is neither's


def _rows_where(cases, asked):
    def rows_where(column, values):
        asked.append((column, len(values)))
        return [c for c in cases if getattr(c, column) in values]
    return rows_where


_home_case = st.builds(lambda n, on, uprn, address: case(f"R{n}", f"2026-{on:02d}-01", uprn, address),
                       st.integers(0, 10**6), st.integers(1, 12), st.sampled_from([None, "t1", "t2", "t3"]),
                       st.sampled_from([None, "a1", "a2", "a3"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_home_case, max_size=14, unique_by=lambda c: c.ref), st.data())
def test_the_cases_near_some_refs_flag_them_as_every_case_in_the_ledger_would(cases, data):
    """show and find read the rows near their cases, not the whole homes table: the flags must be the same."""
    refs = data.draw(st.sets(st.sampled_from([c.ref for c in cases] + ["nope"])))
    asked = []
    near = search.cases_near(refs, _rows_where(cases, asked))
    assert search.repeats(near) & refs == search.repeats(cases) & refs
    for ref in refs:
        assert search.repeats_of(near, ref) == search.repeats_of(cases, ref)
        assert search.repeats_of(search.cases_near([ref], _rows_where(cases, [])), ref) == search.repeats_of(cases, ref)
    assert len(asked) <= 4


_dated_case = st.builds(lambda n, on, uprn: case(f"R{n}", on.isoformat(), uprn),
                        st.integers(0, 10**6),
                        st.one_of(st.dates(date(2023, 1, 1), date(2025, 12, 31)),
                                  st.sampled_from([date(y, m, d) for y, m, d in [
                                      (2023, 2, 28), (2023, 3, 1), (2024, 2, 28), (2024, 2, 29), (2024, 3, 1),
                                      (2025, 2, 28), (2025, 3, 1), (2024, 8, 31), (2025, 8, 31)]])),
                        st.sampled_from(["t1", "t2"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_dated_case, min_size=1, max_size=8, unique_by=lambda c: c.ref))
def test_a_case_is_flagged_a_repeat_exactly_when_show_lists_its_repeats(cases):
    """`list` flags a case (search.repeats) and `show` names its repeats (search.repeats_of) by one 12-month rule,
    whatever the dates (month ends and 29 February included)."""
    flagged = search.repeats(cases)
    for c in cases:
        assert (c.ref in flagged) == bool(search.repeats_of(cases, c.ref)), c


def test_twelve_months_after_the_last_day_of_february_is_the_same_on_both_sides_of_a_leap_day():
    # 28 Feb 2023 + 12 months = 28 Feb 2024: a complaint on 29 Feb 2024 is a day too late, read from either case.
    cases = [case("A", "2023-02-28", uprn="t1"), case("B", "2024-02-29", uprn="t1")]
    assert search.repeats(cases) == set()
    assert search.repeats_of(cases, "A") == [] and search.repeats_of(cases, "B") == []
    cases = [case("A", "2024-02-29", uprn="t1"), case("B", "2025-02-28", uprn="t1")]
    assert search.repeats(cases) == {"A", "B"} and search.repeats_of(cases, "B") == ["A"]


def test_a_home_known_by_its_uprn_and_by_its_address_alone_is_found_from_either():
    cases = [case("A", "2026-01-10", uprn="t1", address="a1"), case("B", "2026-03-01", address="a1"),
             case("C", "2026-04-01", uprn="t1"), case("D", "2026-05-01", address="a9")]
    assert search.repeats_of(search.cases_near(["B"], _rows_where(cases, [])), "B") == ["A", "C"]
    assert search.repeats_of(search.cases_near(["C"], _rows_where(cases, [])), "C") == ["A", "B"]
    assert "D" not in {c.ref for c in search.cases_near(["C"], _rows_where(cases, []))}


def test_homes_complaining_more_than_once_in_a_period_with_their_top_categories():
    cases = [case("A", "2026-01-10", uprn="t1", category="damp and mould"),
             case("B", "2026-02-10", uprn="t1", category="damp and mould"),
             case("C", "2026-03-10", uprn="t1", category="repairs"),
             case("D", "2026-03-10", uprn="t2", category="noise"),
             case("E", "2025-03-10", uprn="t2", category="noise")]
    got = search.repeat_homes(cases, date(2026, 1, 1), date(2026, 12, 31))
    assert got == {"homes": 1, "complaints": 3, "by_category": {"damp and mould": 2, "repairs": 1}}
    assert list(got["by_category"]) == ["damp and mould", "repairs"]  # most complained of first


def test_a_blind_token_is_the_same_for_the_same_term_and_key_and_tells_nothing_without_the_key():
    from complaints_ledger.adapters.blind_index import token

    key, other = b"k" * 32, b"o" * 32
    assert token(key, "word:obrien") == token(key, "word:obrien") != token(key, "word:obrian")
    assert token(key, "word:obrien") != token(other, "word:obrien")
    assert "obrien" not in token(key, "word:obrien") and len(token(key, "word:obrien")) == 64
