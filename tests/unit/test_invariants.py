"""Every rule of the procedure and of a case's history is enforced with an error an officer can act on."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from complaints_ledger.domain.complaint import Complaint
from complaints_ledger.domain.errors import InvalidAction, InvalidAmount, InvalidDate
from complaints_ledger.domain.values import pounds

TODAY = date(2026, 11, 22)
BY = {"today": TODAY, "actor": "officer"}

RECEIVED = date(2026, 3, 2)  # Monday; acknowledgement due 9 March
ACKNOWLEDGED = date(2026, 3, 4)  # response then due Wednesday 18 March
RESPOND_DUE = date(2026, 3, 18)


@pytest.fixture
def hoc(policy):
    return policy("hoc-2024")


@pytest.fixture
def case(receive):
    return receive(RECEIVED)


@pytest.fixture
def acknowledged(case):
    case.acknowledge(on=ACKNOWLEDGED, **BY)
    return case


@pytest.fixture
def responded(acknowledged):
    acknowledged.respond(outcome="upheld", on=date(2026, 3, 16), **BY)
    return acknowledged


@pytest.fixture
def at_stage_2(responded, hoc):
    responded.escalate(policy=hoc, on=date(2026, 3, 23), **BY)
    return responded


@pytest.fixture
def finally_reviewed(at_stage_2, hoc):
    at_stage_2.acknowledge(on=date(2026, 3, 25), **BY)
    at_stage_2.review(policy=hoc, outcome="not-upheld", on=date(2026, 4, 22), **BY)
    return at_stage_2


def event_count(case: Complaint) -> int:
    return len(case.collect_events())


# --------------------------------------------------------------------------------------------- stage steps


def test_acknowledging_a_stage_twice_is_refused_naming_the_first_acknowledgement(acknowledged):
    with pytest.raises(InvalidAction, match=r"stage 1 of CMP-2026-000001 was already acknowledged on 2026-03-04"):
        acknowledged.acknowledge(on=date(2026, 3, 5), **BY)
    assert acknowledged.current.acknowledged_on == ACKNOWLEDGED


def test_acknowledging_after_a_response_is_refused_because_the_response_counted(case):
    case.respond(outcome="upheld", on=date(2026, 3, 6), **BY)
    with pytest.raises(InvalidAction, match="already been responded to; the response counts as its acknowledgement"):
        case.acknowledge(on=date(2026, 3, 9), **BY)


def test_responding_at_stage_2_is_refused_because_stage_2_decides_by_review(at_stage_2):
    with pytest.raises(InvalidAction, match="is at stage 2: record that stage's decision as a review"):
        at_stage_2.respond(outcome="upheld", on=date(2026, 3, 24), **BY)


def test_reviewing_at_stage_1_is_refused_because_stage_1_decides_by_response(acknowledged, hoc):
    with pytest.raises(InvalidAction, match="is at stage 1: record its response"):
        acknowledged.review(policy=hoc, outcome="upheld", on=date(2026, 3, 10), **BY)


def test_responding_twice_at_a_stage_is_refused(responded):
    with pytest.raises(InvalidAction, match="stage 1 of CMP-2026-000001 was already decided on 2026-03-16 \\(upheld\\)"):
        responded.respond(outcome="not-upheld", on=date(2026, 3, 17), **BY)


def test_an_outcome_that_is_not_upheld_partly_or_not_is_refused(acknowledged):
    with pytest.raises(InvalidAction, match="outcome 'sorted' is not one of: upheld, partly-upheld, not-upheld"):
        acknowledged.respond(outcome="sorted", on=date(2026, 3, 10), **BY)


# ------------------------------------------------------------------------------------------------------ dates


def test_a_step_dated_before_receipt_is_refused(case):
    with pytest.raises(InvalidDate, match="2026-03-01 is before CMP-2026-000001 was received \\(2026-03-02\\)"):
        case.acknowledge(on=date(2026, 3, 1), **BY)


def test_a_step_dated_in_the_future_is_refused(case):
    with pytest.raises(InvalidDate, match="2026-11-23 is in the future \\(today is 2026-11-22\\)"):
        case.acknowledge(on=date(2026, 11, 23), **BY)


def test_a_complaint_received_in_the_future_is_refused(receive):
    with pytest.raises(InvalidDate, match="received date 2026-11-23 is in the future"):
        receive(date(2026, 11, 23))


def test_an_issue_dated_after_receipt_is_refused(receive):
    with pytest.raises(InvalidDate, match="issue date 2026-03-05 is after the complaint was received"):
        receive(RECEIVED, issue_date=date(2026, 3, 5))


def test_a_step_dated_before_the_latest_step_is_refused_naming_that_step(acknowledged, hoc):
    with pytest.raises(InvalidDate, match=r"before this case's latest step \(acknowledged on 2026-03-04\)"):
        acknowledged.extend(policy=hoc, working_days=2, reason="Survey", agreed=False, on=date(2026, 3, 3), **BY)


def test_a_note_may_be_dated_before_the_latest_step(acknowledged):
    acknowledged.add_note(text="Resident phoned on receipt day", on=RECEIVED, **BY)
    assert acknowledged.notes[-1]["occurred_on"] == RECEIVED
    assert acknowledged.last_step_on == ACKNOWLEDGED


def test_a_refused_step_records_nothing(acknowledged):
    acknowledged.collect_events()
    with pytest.raises(InvalidAction):
        acknowledged.acknowledge(on=date(2026, 3, 5), **BY)
    assert event_count(acknowledged) == 0


# ------------------------------------------------------------------------------------------------- escalation


def test_escalating_a_closed_case_reopens_it_at_the_next_stage(responded, hoc):
    """It was refused until issue 18: a resident who comes back after closure must be escalated (Code 2024)."""
    responded.close(on=date(2026, 3, 17), **BY)
    responded.escalate(policy=hoc, on=date(2026, 3, 18), **BY)
    assert (responded.status, responded.stage, responded.closed_on) == ("open", 2, None)


def test_escalating_a_refused_case_is_refused(case, hoc):
    case.refuse(policy=hoc, reason="legal-action", explanation="Court claim issued", on=date(2026, 3, 3), **BY)
    with pytest.raises(InvalidAction, match="cannot escalate: CMP-2026-000001 is refused \\(on 2026-03-03\\)"):
        case.escalate(policy=hoc, on=date(2026, 3, 25), **BY)


def test_escalating_a_withdrawn_case_is_refused(case, hoc):
    case.withdraw(on=date(2026, 3, 3), **BY)
    with pytest.raises(InvalidAction, match="cannot escalate: CMP-2026-000001 is withdrawn"):
        case.escalate(policy=hoc, on=date(2026, 3, 25), **BY)


def test_escalating_beyond_the_final_stage_points_to_the_ombudsman(finally_reviewed, hoc):
    with pytest.raises(InvalidAction, match="is at stage 2, the final stage of hoc-2024.*refer it to the Housing Ombudsman"):
        finally_reviewed.escalate(policy=hoc, on=date(2026, 4, 23), **BY)


def test_escalating_before_the_stage_1_response_is_refused_while_it_is_not_overdue(acknowledged, hoc):
    with pytest.raises(InvalidAction, match="has not been responded to yet and its response is not overdue \\(due 2026-03-18\\)"):
        acknowledged.escalate(policy=hoc, on=RESPOND_DUE, **BY)
    assert acknowledged.stage == 1


def test_escalating_is_allowed_the_day_after_the_stage_1_response_became_overdue(acknowledged, hoc):
    acknowledged.escalate(policy=hoc, on=date(2026, 3, 19), reason="No response", **BY)
    assert acknowledged.stage == 2
    assert acknowledged.current.started_on == date(2026, 3, 19)


def test_an_extension_moves_the_point_at_which_escalation_without_a_response_is_allowed(acknowledged, hoc):
    acknowledged.extend(policy=hoc, working_days=2, reason="Survey", agreed=False, on=date(2026, 3, 16), **BY)
    with pytest.raises(InvalidAction, match="not overdue \\(due 2026-03-20\\)"):
        acknowledged.escalate(policy=hoc, on=date(2026, 3, 19), **BY)


# ------------------------------------------------------------------------------------------------- extensions


def test_stage_1_extensions_may_not_exceed_ten_working_days_in_total(acknowledged, hoc):
    acknowledged.extend(policy=hoc, working_days=6, reason="Surveyor", agreed=False, on=date(2026, 3, 10), **BY)
    with pytest.raises(InvalidAction, match="would exceed hoc-2024's cap of 10 working days for Stage 1 \\(6 already used\\)"):
        acknowledged.extend(policy=hoc, working_days=5, reason="More time", agreed=False, on=date(2026, 3, 11), **BY)
    acknowledged.extend(policy=hoc, working_days=4, reason="More time", agreed=False, on=date(2026, 3, 11), **BY)
    assert acknowledged.current.extension_days == 10


def test_an_extension_needs_a_reason_and_at_least_one_day(acknowledged, hoc):
    with pytest.raises(InvalidAction, match="the reason for the extension must not be empty"):
        acknowledged.extend(policy=hoc, working_days=2, reason="  ", agreed=False, on=date(2026, 3, 10), **BY)
    with pytest.raises(InvalidAction, match="at least 1 working day"):
        acknowledged.extend(policy=hoc, working_days=0, reason="x", agreed=False, on=date(2026, 3, 10), **BY)


def test_an_extension_recorded_after_the_response_fell_due_is_refused_so_it_cannot_hide_a_late_response(
        acknowledged, hoc):
    due = acknowledged.respond_due(hoc)  # 10 working days after the acknowledgement
    with pytest.raises(InvalidAction, match=f"was due on {due}: an extension has to be agreed before the deadline"):
        acknowledged.extend(policy=hoc, working_days=5, reason="Contractor", agreed=True,
                            on=date.fromordinal(due.toordinal() + 1), today=date(2026, 12, 31), actor="officer")
    acknowledged.extend(policy=hoc, working_days=5, reason="Contractor", agreed=True, on=due,
                        today=date(2026, 12, 31), actor="officer")  # on the last day is still in time
    assert acknowledged.respond_due(hoc) > due


def test_extending_after_the_response_is_refused(responded, hoc):
    with pytest.raises(InvalidAction, match="already been responded to; nothing to extend"):
        responded.extend(policy=hoc, working_days=2, reason="x", agreed=False, on=date(2026, 3, 17), **BY)


# ----------------------------------------------------------------------------------------------- compensation


def test_approving_compensation_that_was_never_requested_is_refused(case):
    with pytest.raises(InvalidAction, match="no compensation request on CMP-2026-000001 is awaiting a decision"):
        case.approve_compensation(amount=Decimal("50.00"), on=date(2026, 3, 3), **BY)


def test_a_second_request_while_one_awaits_a_decision_is_refused(case, hoc):
    case.request_compensation(policy=hoc, amount="80.00", on=date(2026, 3, 3), **BY)
    with pytest.raises(InvalidAction, match="£80.00 on CMP-2026-000001 is still awaiting a decision"):
        case.request_compensation(policy=hoc, amount="20.00", on=date(2026, 3, 4), **BY)


def test_paying_more_than_was_approved_is_refused(case, hoc):
    case.request_compensation(policy=hoc, amount="100.00", on=date(2026, 3, 3), **BY)
    case.approve_compensation(amount="100.00", on=date(2026, 3, 4), **BY)
    case.pay_compensation(amount="60.00", offset="0", on=date(2026, 3, 5), **BY)
    with pytest.raises(InvalidAmount, match="paying £40.01 .* would exceed the £100.00 approved or ordered \\(£60.00 already paid\\)"):
        case.pay_compensation(amount="40.01", offset="0", on=date(2026, 3, 6), **BY)
    case.pay_compensation(amount="40.00", offset="0", on=date(2026, 3, 6), **BY)
    assert case.compensation["paid"] == Decimal("100.00")


def test_paying_nothing_approved_is_refused(case):
    with pytest.raises(InvalidAmount, match="would exceed the £0.00 approved or ordered"):
        case.pay_compensation(amount="10.00", offset="0", on=date(2026, 3, 3), **BY)


def test_payment_may_reach_the_approved_sum_plus_what_the_ombudsman_ordered(finally_reviewed, hoc):
    case = finally_reviewed
    case.request_compensation(policy=hoc, amount="100.00", on=date(2026, 4, 22), **BY)
    case.approve_compensation(amount="100.00", on=date(2026, 4, 23), **BY)
    case.refer(policy=hoc, on=date(2026, 4, 30), **BY)
    case.record_determination(finding="service-failure", orders=["pay a further £250"], compensation="250.00",
                              on=date(2026, 7, 1), **BY)
    case.pay_compensation(amount="350.00", offset="50.00", on=date(2026, 7, 8), **BY)
    assert case.compensation["paid"] == Decimal("350.00")
    assert case.compensation["offset"] == Decimal("50.00")
    with pytest.raises(InvalidAmount, match="would exceed the £350.00 approved or ordered"):
        case.pay_compensation(amount="0.01", offset="0", on=date(2026, 7, 8), **BY)


def test_an_offset_against_arrears_larger_than_the_payment_is_refused(case, hoc):
    case.request_compensation(policy=hoc, amount="100.00", on=date(2026, 3, 3), **BY)
    case.approve_compensation(amount="100.00", on=date(2026, 3, 4), **BY)
    with pytest.raises(InvalidAmount, match="offset against arrears \\(£60.00\\) cannot exceed the amount paid \\(£50.00\\)"):
        case.pay_compensation(amount="50.00", offset="60.00", on=date(2026, 3, 5), **BY)


# ------------------------------------------------------------------------------------------------------ money


@pytest.mark.parametrize(
    "value, message",
    [
        ("10.005", "has fractions of a penny"),
        ("-5.00", "must be more than £0.00"),
        ("0", "must be more than £0.00"),
        ("ten pounds", "is not a sum of money"),
        ("NaN", "is not a sum of money"),
        ("2000000", "implausibly large"),
    ],
)
def test_sums_of_money_that_cannot_be_right_are_refused(value, message):
    with pytest.raises(InvalidAmount, match=message):
        pounds(value)


def test_money_given_as_a_float_is_refused_because_floats_lose_pence():
    with pytest.raises(InvalidAmount, match="not a float"):
        pounds(0.1)


def test_money_is_kept_in_pounds_and_pence_exactly():
    assert pounds("1250.5") == Decimal("1250.50")
    assert pounds(" 150 ") == Decimal("150.00")
    assert pounds("0.10") + pounds("0.20") == Decimal("0.30")
    assert pounds(0, allow_zero=True) == Decimal("0.00")


def test_typed_money_with_a_pound_sign_or_commas_is_refused_rather_than_guessed_at():
    # A typed sum is figures only: "£1,250.5" was once read as £1,250.50, and so "1,2,3" as £123.00.
    with pytest.raises(InvalidAmount, match="is not a sum of money"):
        pounds("£1,250.5")


def test_an_absurdly_large_figure_is_refused_as_implausible_not_crashed_on():
    with pytest.raises(InvalidAmount, match="implausibly large"):
        pounds("1" + "0" * 30)
    with pytest.raises(InvalidAmount, match="implausibly large"):
        pounds(10 ** 5000)
    with pytest.raises(InvalidAmount, match="is not a sum of money"):
        pounds("1e30")  # an exponent is not how anyone writes a sum


# ------------------------------------------------------------------------------------------------ satisfaction


@pytest.mark.parametrize("score", [0, 6, -1])
def test_satisfaction_must_be_a_whole_number_from_1_to_5(responded, score):
    with pytest.raises(InvalidAction, match=f"satisfaction score must be a whole number from 1 to 5, not {score}"):
        responded.record_satisfaction(score=score, on=date(2026, 3, 17), **BY)


def test_satisfaction_given_as_text_is_refused(responded):
    with pytest.raises(InvalidAction, match="whole number from 1 to 5"):
        responded.record_satisfaction(score="5", on=date(2026, 3, 17), **BY)


def test_satisfaction_can_be_recorded_only_once(responded):
    responded.record_satisfaction(score=4, on=date(2026, 3, 17), **BY)
    with pytest.raises(InvalidAction, match="already recorded \\(4 on 2026-03-17\\)"):
        responded.record_satisfaction(score=5, on=date(2026, 3, 18), **BY)


# ---------------------------------------------------------------------------------------------------- refusal


def test_refusing_for_a_reason_the_policy_does_not_allow_is_refused_listing_the_allowed_ones(case, hoc):
    with pytest.raises(InvalidAction, match="hoc-2024 does not allow refusing a complaint as 'unreasonable' \\(it allows: out-of-time"):
        case.refuse(policy=hoc, reason="unreasonable", explanation="Persistent", on=date(2026, 3, 3), **BY)


def test_refusing_as_out_of_time_within_the_time_limit_is_refused(receive, hoc):
    case = receive(RECEIVED, issue_date=date(2025, 6, 1))  # nine months before receipt; the Code allows twelve
    with pytest.raises(InvalidAction, match="within hoc-2024's 12-month time limit .*limit 2026-06-01"):
        case.refuse(policy=hoc, reason="out-of-time", explanation="Too old", on=date(2026, 3, 3), **BY)


def test_refusing_as_out_of_time_is_allowed_after_the_time_limit(receive, hoc):
    case = receive(RECEIVED, issue_date=date(2025, 2, 1))  # thirteen months before receipt
    case.refuse(policy=hoc, reason="out-of-time", explanation="Over 12 months", on=date(2026, 3, 3), **BY)
    assert case.status == "refused"
    assert case.refusal["reason"] == "out-of-time"


def test_a_refusal_needs_an_explanation_for_the_complainant(case, hoc):
    with pytest.raises(InvalidAction, match="the explanation given to the complainant must not be empty"):
        case.refuse(policy=hoc, reason="legal-action", explanation="", on=date(2026, 3, 3), **BY)


# ---------------------------------------------------------------------------------------------------- closure


def test_closing_before_the_stage_is_responded_to_is_refused(acknowledged):
    with pytest.raises(InvalidAction, match="stage 1 has not been responded to \\(to end it otherwise, withdraw or refuse it\\)"):
        acknowledged.close(on=date(2026, 3, 10), **BY)


def test_closing_a_referred_case_waits_for_the_ombudsmans_determination(finally_reviewed, hoc):
    finally_reviewed.refer(policy=hoc, on=date(2026, 5, 1), **BY)
    with pytest.raises(InvalidAction, match="the Housing Ombudsman has not yet made a determination"):
        finally_reviewed.close(on=date(2026, 5, 2), **BY)


# ---------------------------------------------------------------------------------------------- the Ombudsman


def test_referring_before_the_procedure_is_exhausted_is_refused(responded, hoc):
    with pytest.raises(InvalidAction, match="has not completed hoc-2024's procedure \\(stage 1 of 2\\)"):
        responded.refer(policy=hoc, on=date(2026, 3, 17), **BY)


def test_referring_while_a_stage_response_is_not_yet_due_is_refused(acknowledged, hoc):
    with pytest.raises(InvalidAction, match="has not completed hoc-2024's procedure"):
        acknowledged.refer(policy=hoc, on=RESPOND_DUE, **BY)


def test_referring_is_allowed_after_the_final_review(finally_reviewed, hoc):
    finally_reviewed.refer(policy=hoc, on=date(2026, 5, 1), **BY)
    assert finally_reviewed.status == "referred"
    assert finally_reviewed.referred_on == date(2026, 5, 1)


def test_referring_is_allowed_after_a_refusal(case, hoc):
    case.refuse(policy=hoc, reason="already-considered", explanation="Decided in 2025", on=date(2026, 3, 3), **BY)
    case.refer(policy=hoc, on=date(2026, 3, 10), **BY)
    assert case.status == "referred"


def test_referring_is_allowed_once_the_landlords_response_is_overdue(acknowledged, hoc):
    acknowledged.refer(policy=hoc, on=date(2026, 3, 19), **BY)
    assert acknowledged.status == "referred"


def test_referring_twice_is_refused(finally_reviewed, hoc):
    finally_reviewed.refer(policy=hoc, on=date(2026, 5, 1), **BY)
    with pytest.raises(InvalidAction, match="was already referred to the Housing Ombudsman on 2026-05-01"):
        finally_reviewed.refer(policy=hoc, on=date(2026, 5, 2), **BY)


def test_referring_a_withdrawn_case_is_refused(case, hoc):
    case.withdraw(on=date(2026, 3, 3), **BY)
    with pytest.raises(InvalidAction, match="cannot refer CMP-2026-000001 to the Housing Ombudsman: it is withdrawn"):
        case.refer(policy=hoc, on=date(2026, 3, 20), **BY)


def test_a_determination_without_a_referral_is_refused(finally_reviewed):
    with pytest.raises(InvalidAction, match="has not been referred to the Housing Ombudsman"):
        finally_reviewed.record_determination(finding="maladministration", orders=[], compensation="0",
                                              on=date(2026, 5, 1), **BY)


def test_a_second_determination_is_refused(finally_reviewed, hoc):
    finally_reviewed.refer(policy=hoc, on=date(2026, 5, 1), **BY)
    finally_reviewed.record_determination(finding="no-maladministration", orders=[], compensation="0",
                                          on=date(2026, 7, 1), **BY)
    with pytest.raises(InvalidAction, match="determination on CMP-2026-000001 was already recorded \\(no-maladministration"):
        finally_reviewed.record_determination(finding="maladministration", orders=[], compensation="0",
                                              on=date(2026, 7, 2), **BY)


def test_a_finding_the_ombudsman_does_not_make_is_refused(finally_reviewed, hoc):
    finally_reviewed.refer(policy=hoc, on=date(2026, 5, 1), **BY)
    with pytest.raises(InvalidAction, match="finding 'guilty' is not one of"):
        finally_reviewed.record_determination(finding="guilty", orders=[], compensation="0", on=date(2026, 7, 1), **BY)


# ------------------------------------------------------------------------------------------------ on receipt


def test_an_unknown_channel_is_refused(receive):
    with pytest.raises(InvalidAction, match="channel 'pigeon' is not one of: phone"):
        receive(RECEIVED, channel="pigeon")


def test_a_complaint_without_a_summary_is_refused(receive):
    with pytest.raises(InvalidAction, match="summary must not be empty"):
        receive(RECEIVED, summary="   ")


def test_marking_a_representative_authorised_needs_their_name(receive):
    with pytest.raises(InvalidAction, match="needs the representative's name"):
        receive(RECEIVED, representative_authorised=True)
