"""Tenure on each case (low-cost rental accommodation, low-cost home ownership, other) and the TSM return's
arithmetic: how a tenure is read, what a case has when none is given, how old cases read back, how it is corrected,
which homes figure CH01 divides by, and how the return rounds. No database."""

from __future__ import annotations

import copy
from datetime import date

import pytest

from complaints_ledger.adapters import policy_files
from complaints_ledger.adapters.reports import (InconsistentHomes, per_1000, return_csv, return_rows, tsm_homes,
                                                tsm_measures)
from complaints_ledger.domain.complaint import CORRECTABLE, PERSONAL_DATA, Complaint
from complaints_ledger.domain.errors import InvalidAction, PolicyError
from complaints_ledger.domain.policy import Policy
from complaints_ledger.projections.committee import NOT_RECORDED, figures, figures_by_tenure

TODAY = date(2026, 11, 22)
FIX = {"reason": "keyed as rental; the home is shared ownership", "on": TODAY, "today": TODAY, "actor": "manager"}


def profile_with(**settings) -> Policy:
    data = copy.deepcopy(policy_files.load_shipped("hoc-2024").data)
    data.update(name="tenure-test", version="1-test", **settings)
    return Policy.from_dict(data)


@pytest.mark.parametrize("typed, recorded", [("lcra", "lcra"), ("LCHO", "lcho"), (" Other ", "other")])
def test_a_tenure_is_read_in_any_case(receive, typed, recorded):
    assert receive(date(2026, 3, 2), tenure=typed).tenure == recorded


@pytest.mark.parametrize("typed", ["market", "", "lcra lcho", 3])
def test_anything_else_is_refused_in_one_line_listing_the_tenures(receive, typed):
    with pytest.raises(InvalidAction, match="is not one of: lcra, lcho, other$"):
        receive(date(2026, 3, 2), tenure=typed)


def test_without_a_tenure_a_case_has_its_profiles_default_and_the_shipped_profiles_default_to_lcra(receive):
    # No shipped profile sets default_tenure: most of a social landlord's homes are low-cost rental.
    for name in ("hoc-2024", "ohg-2010", "aspire-2017", "broadland-2020", "connexus-2021"):
        assert receive(date(2026, 3, 2), name).tenure == "lcra"
    leasehold = profile_with(default_tenure="other")
    case = Complaint.receive(ref="CMP-2026-000900", policy=leasehold, complainant="A", channel="phone", summary="s",
                             received_on=date(2026, 3, 2), today=TODAY, actor="officer")
    assert case.tenure == "other"
    given = Complaint.receive(ref="CMP-2026-000901", policy=leasehold, complainant="A", channel="phone",
                              summary="s", received_on=date(2026, 3, 2), today=TODAY, actor="officer",
                              tenure="lcho")
    assert given.tenure == "lcho"


def test_a_profile_with_an_unknown_default_tenure_is_refused():
    with pytest.raises(PolicyError, match="default_tenure 'rental' is not one of: lcra, lcho, other"):
        profile_with(default_tenure="rental")


def test_tenure_is_not_sealed_personal_data_and_is_on_the_received_event(receive):
    assert "tenure" not in PERSONAL_DATA[Complaint.Received]
    case = receive(date(2026, 3, 2), tenure="lcho")
    [received] = case.collect_events()
    assert received.tenure == "lcho" and type(received).class_version == 5


def test_a_case_received_before_tenure_was_recorded_reads_back_as_not_recorded():
    state = {"ref": "CMP-2025-000001", "uprn": None}
    Complaint.Received.upcast_v4_v5(state)
    assert state["tenure"] is None  # not the profile's default: nobody said which it was


def test_a_tenure_is_corrected_by_a_correction_kept_in_plain_text(receive):
    case = receive(date(2026, 3, 2))
    assert not CORRECTABLE["tenure"].personal
    case.correct(field="Tenure", to="LCHO", **FIX)
    assert case.tenure == "lcho"
    corrected = case.collect_events()[-1]
    assert (corrected.field, corrected.old, corrected.new) == ("tenure", "lcra", "lcho")
    with pytest.raises(InvalidAction, match="already recorded as lcho: nothing to correct"):
        case.correct(field="tenure", to="lcho", **FIX)
    with pytest.raises(InvalidAction, match="is not one of: lcra, lcho, other"):
        case.correct(field="tenure", to="shared ownership", **FIX)


def test_a_case_with_no_tenure_recorded_can_be_given_one_by_correction(receive):
    case = receive(date(2026, 3, 2))
    case.tenure = None  # as an upcast case reads
    case.correct(field="tenure", to="other", **FIX)
    assert case.tenure == "other" and case.corrections[-1]["old"] is None


# ---------------------------------------------------------------------------------------------------- homes
@pytest.mark.parametrize("homes, lcra, lcho, total", [
    (None, 1500, 400, 1900),  # the two tenures together
    (2000, 1500, 400, 2000),  # --homes also counts 100 homes of other tenures
    (1900, 1500, 400, 1900),
    (None, 900, 0, 900),      # a landlord with no low-cost home ownership
])
def test_all_tenure_homes_are_homes_if_given_else_lcra_and_lcho_together(homes, lcra, lcho, total):
    assert tsm_homes(homes, lcra, lcho) == total


@pytest.mark.parametrize("homes, lcra, lcho, said", [
    (None, 1500, None, "give both --homes-lcra and --homes-lcho"),
    (1900, None, 400, "give both --homes-lcra and --homes-lcho"),
    (1000, 1500, 400, "--homes 1,000 is fewer than --homes-lcra 1,500 and --homes-lcho 400 together (1,900)"),
    (None, 0, 0, "both 0"),
])
def test_inconsistent_homes_are_refused(homes, lcra, lcho, said):
    with pytest.raises(InconsistentHomes, match=said.replace("(", r"\(").replace(")", r"\)")):
        tsm_homes(homes, lcra, lcho)


# ---------------------------------------------------------------------------------------------------- the return
@pytest.mark.parametrize("count, homes, value", [
    (3, 1500, 2.00), (1, 1500, 0.67),  # 0.666… -> 0.67
    (1, 8000, 0.13),                   # 0.125 -> 0.13: halves round up, as worked by hand
    (7, 1900, 3.68),                   # 3.684…
    (5, 0, None), (5, None, None),     # no homes of the tenure: nothing to divide by
])
def test_ch01_is_per_1000_homes_to_two_places(count, homes, value):
    assert per_1000(count, homes) == value


def fact(kind, stage, tenure, within_code=None, ref="R"):
    return {"kind": kind, "stage": stage, "tenure": tenure, "within_code": within_code, "in_time": within_code,
            "extended": False, "detail": None, "category": None, "channel": "phone", "policy": "hoc-2024",
            "ref": ref, "occurred_on": date(2025, 6, 2), "amount": None, "score": None, "text": None,
            "due_on": None, "item": None, "within_code_from_ack": within_code}


def test_each_tenures_figures_are_its_own_facts_and_feedback_is_no_tenures():
    facts = [fact("received", 1, "lcra"), fact("received", 1, "lcho"), fact("received", 1, None),
             fact("responded", 1, "lcra", True), fact("responded", 1, "lcra", False),
             fact("escalated", 2, "lcho"), fact("feedback", None, None)]
    by = figures_by_tenure(facts)
    assert list(by) == ["lcra", "lcho", "other", NOT_RECORDED]
    assert [by[t]["received"]["total"] for t in by] == [1, 1, 0, 1]
    assert by["lcra"]["stages"]["1"]["within_code"] == 1 and by["lcra"]["stages"]["1"]["responses"] == 2
    assert by["lcho"]["escalated"]["to_stage"] == {"2": 1}
    assert sum(by[t]["received"]["total"] for t in by) == figures(facts)["received"]["total"]


def test_the_return_has_one_row_per_measure_stage_and_tenure_then_all_tenures():
    facts = [fact("received", 1, "lcra")] * 3 + [fact("received", 1, "lcho")] + [fact("received", 1, "other")] \
        + [fact("responded", 1, "lcra", True), fact("responded", 1, "lcra", True), fact("responded", 1, "lcra", False)]
    by = figures_by_tenure(facts)
    tenures = {"lcra": tsm_measures(by["lcra"], 1500), "lcho": tsm_measures(by["lcho"], 400)}
    rows = return_rows(tsm_measures(figures(facts), 1900), tenures)
    assert [(r["measure"], r["stage"], r["tenure"]) for r in rows] == [
        (m, s, t) for t in ("LCRA", "LCHO", "ALL") for m in ("CH01", "CH02") for s in (1, 2)]
    lcra_ch02 = rows[2]
    # 2 of LCRA's 3 stage 1 responses within the Code: 66.666…% -> 66.7
    assert lcra_ch02 == {"measure": "CH02", "stage": 1, "tenure": "LCRA", "numerator": 2, "denominator": 3,
                         "value": 66.7, "unit": "%"}
    # All tenures: 3 + 1 + 1 (other) = 5 received against 1,900 homes = 2.63…
    assert rows[8]["numerator"] == 5 and rows[8]["value"] == 2.63
    text = return_csv({"tsm": {"return": rows}})
    assert text.splitlines()[0] == "measure,stage,tenure,numerator,denominator,value,unit"
    assert text.splitlines()[1] == 'CH01,1,LCRA,3,1500,2.00,"per 1,000 homes"'
    assert text.splitlines()[4] == "CH02,2,LCRA,0,0,,%"  # no stage 2 responses: no percentage
