"""The data subject's rules without a database: one erasure per person, nothing linked after it, and which people
the retention period lets us erase (all of their cases must be past it)."""

from __future__ import annotations

from datetime import date

import pytest

from complaints_ledger.domain.data_subject import DataSubject, retention_review
from complaints_ledger.domain.errors import InvalidAction
from complaints_ledger.domain.values import complainant_id, new_complainant_id


def test_complainant_ids_are_short_random_and_typed_back_in_any_case():
    a, b = new_complainant_id(), new_complainant_id()
    assert a != b and len(a) == 14 and a.startswith("P-")
    assert complainant_id(f"  {a.lower()} ") == a
    with pytest.raises(InvalidAction, match="is not like P-"):
        complainant_id("Ada Tenant")


def test_a_person_is_erased_once_with_a_reason_and_no_case_can_be_linked_to_them_afterwards():
    person = DataSubject("P-0123456789AB", first_ref="CMP-2026-000001")
    person.link("CMP-2026-000007")
    person.link("CMP-2026-000007")  # linking twice changes nothing
    assert person.refs == ["CMP-2026-000001", "CMP-2026-000007"]
    with pytest.raises(InvalidAction, match="needs its reason"):
        person.erase(reason="  ", on=date(2026, 11, 2), actor="hana")
    person.erase(reason="erasure request", on=date(2026, 11, 2), actor="hana")
    assert person.erasure["refs"] == ["CMP-2026-000001", "CMP-2026-000007"]
    with pytest.raises(InvalidAction, match="already erased on 2026-11-02 by hana"):
        person.erase(reason="again", on=date(2026, 11, 3), actor="hana")
    with pytest.raises(InvalidAction, match="was erased on 2026-11-02"):
        person.link("CMP-2026-000009")


def case(ref, cid, status, ended_on=None, closed_on=None, policy="six"):
    return {"ref": ref, "complainant_id": cid, "status": status, "ended_on": ended_on, "closed_on": closed_on,
            "policy_hash": policy}


YEARS = {"six": 6, "two": 2}.__getitem__


def test_retention_is_counted_from_the_end_of_each_case_under_its_own_policy():
    cases = [
        case("A1", "P-A", "closed", date(2020, 1, 10), date(2020, 1, 10)),          # kept until 2026-01-10
        case("B1", "P-B", "closed", date(2020, 12, 1), date(2020, 12, 1)),          # kept until 2026-12-01
        case("C1", "P-C", "refused", date(2024, 5, 1), policy="two"),               # kept until 2026-05-01
        # Refused, referred, then closed after the Ombudsman's determination: counted from the closure.
        case("D1", "P-D", "closed", date(2019, 3, 1), date(2021, 6, 1)),            # kept until 2027-06-01
    ]
    found = {p["complainant_id"]: p for p in retention_review(cases, as_of=date(2026, 11, 22), closed_before=None,
                                                            years_of=YEARS)}
    assert sorted(found) == ["P-A", "P-C"]
    assert found["P-A"]["retain_until"] == date(2026, 1, 10) and found["P-A"]["due"]
    assert found["P-C"]["retain_until"] == date(2026, 5, 1)


def test_a_person_with_any_case_open_or_within_its_period_is_held_back_with_the_reason():
    cases = [
        case("A1", "P-A", "closed", date(2018, 1, 10), date(2018, 1, 10)),
        case("A2", "P-A", "open"),
        case("B1", "P-B", "withdrawn", date(2018, 2, 1)),
        case("B2", "P-B", "closed", date(2023, 2, 1), date(2023, 2, 1)),
        case("C1", "P-C", "referred", date(2018, 2, 1)),  # refused, then referred: the Ombudsman has it
        case("C2", "P-C", "closed", date(2018, 2, 1), date(2018, 2, 1)),
        case("X1", None, "closed", date(2010, 1, 1), date(2010, 1, 1)),  # recorded before complainant ids
    ]
    found = {p["complainant_id"]: p for p in retention_review(cases, as_of=date(2026, 11, 22), closed_before=None,
                                                            years_of=YEARS)}
    assert sorted(found) == ["P-A", "P-B", "P-C"]
    assert not any(p["due"] for p in found.values())
    assert found["P-A"]["held_because"] == "A2 is open"
    assert found["P-B"]["held_because"] == "B2 is kept until 2029-02-01"
    assert found["P-C"]["held_because"] == "C1 is referred"


def test_closed_before_narrows_the_list_but_never_reaches_a_case_within_its_period():
    cases = [case("A1", "P-A", "closed", date(2018, 1, 10), date(2018, 1, 10)),
             case("B1", "P-B", "closed", date(2019, 6, 1), date(2019, 6, 1)),
             case("B2", "P-B", "closed", date(2018, 6, 1), date(2018, 6, 1)),
             case("C1", "P-C", "closed", date(2025, 6, 1), date(2025, 6, 1))]
    found = {p["complainant_id"]: p for p in retention_review(
        cases, as_of=date(2026, 11, 22), closed_before=date(2019, 1, 1), years_of=YEARS)}
    assert {cid: p["due"] for cid, p in found.items()} == {"P-A": True, "P-B": False}
    assert found["P-B"]["held_because"] == "B1 ended on 2019-06-01, not before 2019-01-01"
    assert {p["complainant_id"] for p in retention_review(
        cases, as_of=date(2026, 11, 22), closed_before=date(2030, 1, 1), years_of=YEARS)} == {"P-A", "P-B"}
