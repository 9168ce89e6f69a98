"""The rules that make each seed landlord's procedure its own, run through the same Complaint aggregate.

Dates are 2026 in England: Good Friday is 3 April and Easter Monday 6 April.
"""

from __future__ import annotations

from datetime import date

import pytest

from complaints_ledger.domain.complaint import Feedback
from complaints_ledger.domain.errors import InvalidAction, InvalidDate

TODAY = date(2026, 11, 22)
BY = {"today": TODAY, "actor": "officer"}

RECEIVED = date(2026, 3, 2)  # Monday


def deadline(case, policy, milestone, stage, as_of=TODAY):
    found = [d for d in case.deadlines(policy, as_of) if d.stage == stage and d.milestone == milestone]
    assert len(found) == 1, f"expected one stage {stage} {milestone} deadline, got {found}"
    return found[0]


def through_stage_1(case, policy, escalate_on):
    """Acknowledge Wed 4 March, respond Mon 16 March, escalate on the given day."""
    case.acknowledge(on=date(2026, 3, 4), **BY)
    case.respond(outcome="not-upheld", on=date(2026, 3, 16), **BY)
    case.escalate(policy=policy, on=escalate_on, **BY)
    return case


# ===================================================================================================== Aspire


@pytest.fixture
def aspire(policy):
    return policy("aspire-2017")


@pytest.fixture
def aspire_responded(receive, aspire):
    case = receive(RECEIVED, "aspire-2017")
    case.respond(outcome="not-upheld", on=date(2026, 3, 6), **BY)  # Friday: the appeal window closes Fri 20 March
    return case


def test_aspire_stage_1_response_is_due_five_working_days_after_receipt_not_after_acknowledgement(receive, aspire):
    case = receive(RECEIVED, "aspire-2017")
    respond = deadline(case, aspire, "respond", stage=1, as_of=RECEIVED)
    assert respond.due_on == date(2026, 3, 9)
    assert respond.provisional is False


def test_aspire_refuses_an_appeal_more_than_14_days_after_the_stage_1_response(aspire_responded, aspire):
    with pytest.raises(InvalidAction, match=r"the 14-day appeal window of aspire-2017 closed on 2026-03-20 "
                                            r"\(response sent 2026-03-06\); the outcome is deemed accepted"):
        aspire_responded.escalate(policy=aspire, on=date(2026, 3, 21), **BY)
    assert aspire_responded.stage == 1


def test_aspire_accepts_an_appeal_on_the_14th_day_after_the_response(aspire_responded, aspire):
    assert aspire_responded.appeal_closes(aspire) == date(2026, 3, 20)
    aspire_responded.escalate(policy=aspire, on=date(2026, 3, 20), reason="Disagree", **BY)
    assert aspire_responded.stage == 2


def test_aspire_deems_the_outcome_accepted_14_days_after_the_response(aspire_responded, aspire):
    assert aspire_responded.deemed_accepted_on(aspire) == date(2026, 3, 20)


def test_aspire_refuses_a_compensation_request_more_than_7_days_after_the_complaint(receive, aspire):
    case = receive(RECEIVED, "aspire-2017")
    with pytest.raises(InvalidAction, match="only within 7 days of the initial complaint .*8 days after"):
        case.request_compensation(policy=aspire, amount="75.00", on=date(2026, 3, 10), **BY)
    assert case.pending_compensation is None


def test_aspire_accepts_a_compensation_request_7_days_after_the_complaint(receive, aspire):
    case = receive(RECEIVED, "aspire-2017")
    case.request_compensation(policy=aspire, amount="75.00", reason="Damaged carpet", on=date(2026, 3, 9), **BY)
    assert str(case.pending_compensation) == "75.00"


def test_the_code_sets_no_window_for_compensation_requests(receive, policy):
    hoc = policy("hoc-2024")
    case = receive(RECEIVED)
    case.request_compensation(policy=hoc, amount="75.00", on=date(2026, 6, 1), **BY)
    assert str(case.pending_compensation) == "75.00"


def test_aspire_refuses_an_extension_not_agreed_with_the_complainant(receive, aspire):
    case = receive(RECEIVED, "aspire-2017")
    with pytest.raises(InvalidAction, match="requires a new response date to be agreed with the complainant"):
        case.extend(policy=aspire, working_days=3, reason="Contractor report", agreed=False, on=date(2026, 3, 4), **BY)
    assert case.current.extensions == []


def test_aspire_extension_agreed_with_the_complainant_moves_the_response_date(receive, aspire):
    case = receive(RECEIVED, "aspire-2017")
    case.extend(policy=aspire, working_days=3, reason="Contractor report", agreed=True, on=date(2026, 3, 4), **BY)
    assert deadline(case, aspire, "respond", stage=1, as_of=date(2026, 3, 4)).due_on == date(2026, 3, 12)
    assert case.current.extensions[0]["agreed"] is True


def test_aspire_immediate_resolution_counts_two_working_days_from_a_friday_receipt(receive, aspire):
    case = receive(date(2026, 3, 6), "aspire-2017")  # Friday: Monday 9 and Tuesday 10 March
    case.resolve_early(policy=aspire, summary="Repair booked while on the phone", on=date(2026, 3, 10), **BY)
    assert case.status == "resolved-early"


def test_aspire_refuses_immediate_resolution_after_two_working_days(receive, aspire):
    case = receive(date(2026, 3, 6), "aspire-2017")
    with pytest.raises(InvalidAction, match="within 2 working days of receipt \\(by 2026-03-10\\); handle .* as a "
                                            "formal stage 1 complaint"):
        case.resolve_early(policy=aspire, summary="Repair booked", on=date(2026, 3, 11), **BY)
    assert case.status == "open"


def test_immediate_resolution_is_refused_once_the_complaint_is_acknowledged(receive, aspire):
    case = receive(RECEIVED, "aspire-2017")
    case.acknowledge(on=date(2026, 3, 3), **BY)
    with pytest.raises(InvalidAction, match="already in the formal procedure"):
        case.resolve_early(policy=aspire, summary="Sorted", on=date(2026, 3, 3), **BY)


def test_aspire_may_refuse_anti_social_behaviour_as_an_excluded_category(receive, aspire):
    case = receive(RECEIVED, "aspire-2017", category="Anti-Social Behaviour")
    case.refuse(policy=aspire, reason="excluded-category", explanation="The Housing Team handles ASB reports",
                on=date(2026, 3, 3), **BY)
    assert case.status == "refused"


def test_aspire_may_not_refuse_a_repairs_complaint_as_an_excluded_category(receive, aspire):
    case = receive(RECEIVED, "aspire-2017", category="repairs")
    with pytest.raises(InvalidAction, match="category 'repairs' is not excluded by aspire-2017 "
                                            "\\(excluded: anti-social behaviour"):
        case.refuse(policy=aspire, reason="excluded-category", explanation="x", on=date(2026, 3, 3), **BY)


def test_aspire_may_refuse_an_issue_seven_months_old_as_out_of_time(receive, aspire):
    case = receive(RECEIVED, "aspire-2017", issue_date=date(2025, 8, 2))
    assert case.time_limit_ends(aspire) == date(2026, 2, 2)
    case.refuse(policy=aspire, reason="out-of-time", explanation="More than six months", on=date(2026, 3, 3), **BY)
    assert case.refusal["reason"] == "out-of-time"


def test_aspire_may_not_refuse_an_issue_five_months_old_as_out_of_time(receive, aspire):
    case = receive(RECEIVED, "aspire-2017", issue_date=date(2025, 10, 2))
    with pytest.raises(InvalidAction, match="within aspire-2017's 6-month time limit"):
        case.refuse(policy=aspire, reason="out-of-time", explanation="x", on=date(2026, 3, 3), **BY)


def test_the_same_seven_month_old_issue_is_in_time_under_the_code(receive, policy):
    case = receive(RECEIVED, issue_date=date(2025, 8, 2))
    with pytest.raises(InvalidAction, match="within hoc-2024's 12-month time limit"):
        case.refuse(policy=policy("hoc-2024"), reason="out-of-time", explanation="x", on=date(2026, 3, 3), **BY)


# ======================================================================================================== OHG


@pytest.fixture
def ohg(policy):
    return policy("ohg-2010")


@pytest.fixture
def ohg_at_stage_3(receive, ohg):
    case = through_stage_1(receive(RECEIVED, "ohg-2010"), ohg, escalate_on=date(2026, 3, 23))
    case.acknowledge(on=date(2026, 3, 25), **BY)
    case.review(policy=ohg, outcome="not-upheld", on=date(2026, 4, 22), **BY)
    case.escalate(policy=ohg, on=date(2026, 4, 27), reason="Appeal to the Area Board", **BY)
    return case


def test_ohg_has_a_third_stage_appeal_after_the_stage_2_review(ohg_at_stage_3, ohg):
    assert ohg_at_stage_3.stage == 3
    # Stage 3 acknowledgement: Mon 27 April + 5 working days: 28, 29, 30 April, 1 May, then (past the early May
    # bank holiday on Monday 4 May) Tuesday 5 May.
    assert deadline(ohg_at_stage_3, ohg, "acknowledge", stage=3, as_of=date(2026, 4, 27)).due_on == date(2026, 5, 5)


def test_ohg_stage_3_hearing_without_a_resident_representative_is_refused(ohg_at_stage_3, ohg):
    panel = [{"name": "Pat Director", "role": "director"}, {"name": "Sam Board", "role": "board-member"}]
    with pytest.raises(InvalidAction, match="the Stage 3 \\(appeal\\) panel of ohg-2010 must include at least "
                                            "1 resident representative \\(has 0\\)"):
        ohg_at_stage_3.hold_hearing(policy=ohg, panel=panel, on=date(2026, 5, 6), **BY)
    assert ohg_at_stage_3.current.hearings == []


def test_ohg_stage_3_hearing_with_a_resident_representative_is_recorded(ohg_at_stage_3, ohg):
    panel = [{"name": "Pat Director", "role": "director"},
             {"name": "Rowan Resident", "role": "resident-representative"}]
    ohg_at_stage_3.hold_hearing(policy=ohg, panel=panel, on=date(2026, 5, 6), **BY)
    assert ohg_at_stage_3.current.hearings[0]["occurred_on"] == date(2026, 5, 6)
    ohg_at_stage_3.review(policy=ohg, outcome="upheld", on=date(2026, 5, 7), **BY)
    assert ohg_at_stage_3.current.outcome == "upheld"


def test_ohg_stage_3_decision_needs_the_hearing_first(ohg_at_stage_3, ohg):
    with pytest.raises(InvalidAction, match="Stage 3 \\(appeal\\) of ohg-2010 decides at a panel hearing: "
                                            "record the hearing first"):
        ohg_at_stage_3.review(policy=ohg, outcome="upheld", on=date(2026, 5, 7), **BY)


def test_ohg_stage_2_has_no_panel_hearing(receive, ohg):
    case = through_stage_1(receive(RECEIVED, "ohg-2010"), ohg, escalate_on=date(2026, 3, 23))
    with pytest.raises(InvalidAction, match="stage 2 of ohg-2010 \\(Stage 2 \\(review\\)\\) has no panel hearing"):
        case.hold_hearing(policy=ohg, panel=[{"name": "R", "role": "resident-representative"}],
                          on=date(2026, 3, 25), **BY)


def test_ohg_cannot_escalate_beyond_stage_3(ohg_at_stage_3, ohg):
    ohg_at_stage_3.hold_hearing(policy=ohg, panel=[{"name": "R", "role": "resident-representative"}],
                                on=date(2026, 5, 6), **BY)
    ohg_at_stage_3.review(policy=ohg, outcome="not-upheld", on=date(2026, 5, 7), **BY)
    with pytest.raises(InvalidAction, match="is at stage 3, the final stage of ohg-2010"):
        ohg_at_stage_3.escalate(policy=ohg, on=date(2026, 5, 8), **BY)


# =================================================================================================== Broadland


@pytest.fixture
def broadland(policy):
    return policy("broadland-2020")


@pytest.fixture
def broadland_at_stage_2(receive, broadland):
    return through_stage_1(receive(RECEIVED, "broadland-2020"), broadland, escalate_on=date(2026, 3, 23))


FULL_PANEL = [
    {"name": "Chris Chief", "role": "chief-executive"},
    {"name": "Bea Board", "role": "board-member"},
    {"name": "Bo Board", "role": "board-member"},
]


def test_broadland_panel_needs_two_board_members(broadland_at_stage_2, broadland):
    with pytest.raises(InvalidAction, match="must include at least 2 board members \\(has 1\\)"):
        broadland_at_stage_2.hold_hearing(policy=broadland, panel=FULL_PANEL[:2], on=date(2026, 4, 9), **BY)


def test_broadland_panel_needs_the_chief_executive(broadland_at_stage_2, broadland):
    panel = [{"name": "Dee Director", "role": "director"}] + FULL_PANEL[1:]
    with pytest.raises(InvalidAction, match="must include at least 1 chief executive \\(has 0\\)"):
        broadland_at_stage_2.hold_hearing(policy=broadland, panel=panel, on=date(2026, 4, 9), **BY)


def test_a_panel_member_listed_twice_is_refused(broadland_at_stage_2, broadland):
    panel = FULL_PANEL[:2] + [{"name": "bea board", "role": "board-member"}]
    with pytest.raises(InvalidAction, match="listed twice on the panel"):
        broadland_at_stage_2.hold_hearing(policy=broadland, panel=panel, on=date(2026, 4, 9), **BY)


def test_broadland_panel_response_is_due_five_working_days_after_the_hearing(broadland_at_stage_2, broadland):
    case = broadland_at_stage_2
    case.hold_hearing(policy=broadland, panel=FULL_PANEL, on=date(2026, 4, 9), **BY)  # Thursday
    respond = deadline(case, broadland, "respond", stage=2, as_of=date(2026, 4, 9))
    assert respond.due_on == date(2026, 4, 16)  # Fri 10, Mon 13 – Thu 16 April
    assert respond.provisional is False
    assert deadline(case, broadland, "hearing", stage=2).status == "met"


def test_broadland_panel_response_before_the_hearing_is_provisional_on_the_hearing_due_date(
        broadland_at_stage_2, broadland):
    case = broadland_at_stage_2
    hearing = deadline(case, broadland, "hearing", stage=2, as_of=date(2026, 3, 23))
    # Mon 23 March + 15 working days, skipping Good Friday and Easter Monday.
    assert (hearing.due_on, hearing.provisional) == (date(2026, 4, 15), False)
    respond = deadline(case, broadland, "respond", stage=2, as_of=date(2026, 3, 23))
    assert respond.due_on == date(2026, 4, 22)  # Wed 15 April + 5 working days
    assert respond.provisional is True


def test_broadland_panel_decision_needs_the_hearing_first(broadland_at_stage_2, broadland):
    with pytest.raises(InvalidAction, match="decides at a panel hearing: record the hearing first"):
        broadland_at_stage_2.review(policy=broadland, outcome="upheld", on=date(2026, 4, 9), **BY)


def test_broadland_allows_swift_resolution_without_leaving_deadlines_behind(receive, broadland):
    case = receive(RECEIVED, "broadland-2020")
    case.resolve_early(policy=broadland, summary="Fence repaired the same week", on=date(2026, 3, 6), **BY)
    assert case.status == "resolved-early"
    assert case.resolution["summary"] == "Fence repaired the same week"
    assert case.deadlines(broadland, TODAY) == []


# ==================================================================================================== Connexus


@pytest.fixture
def connexus(policy):
    return policy("connexus-2021")


@pytest.fixture
def connexus_review(receive, connexus):
    return through_stage_1(receive(RECEIVED, "connexus-2021"), connexus, escalate_on=date(2026, 3, 20))  # Friday


def test_connexus_review_contact_is_due_three_calendar_days_after_the_request(connexus_review, connexus):
    contact = deadline(connexus_review, connexus, "contact", stage=2, as_of=date(2026, 3, 20))
    assert contact.due_on == date(2026, 3, 23)  # Monday: calendar days run through the weekend


def test_connexus_review_contact_a_day_late_is_reported_late(connexus_review, connexus):
    connexus_review.contact(on=date(2026, 3, 24), summary="Phoned the resident", **BY)
    contact = deadline(connexus_review, connexus, "contact", stage=2)
    assert (contact.status, contact.working_days_late) == ("late", 1)


def test_connexus_review_acknowledgement_is_due_five_working_days_after_the_request(connexus_review, connexus):
    ack = deadline(connexus_review, connexus, "acknowledge", stage=2, as_of=date(2026, 3, 20))
    assert ack.due_on == date(2026, 3, 27)


def test_connexus_review_outcome_is_due_twenty_working_days_after_the_acknowledgement(connexus_review, connexus):
    provisional = deadline(connexus_review, connexus, "respond", stage=2, as_of=date(2026, 3, 20))
    # Fri 27 March + 20 working days over Easter.
    assert (provisional.due_on, provisional.provisional) == (date(2026, 4, 28), True)
    connexus_review.acknowledge(on=date(2026, 3, 25), **BY)
    actual = deadline(connexus_review, connexus, "respond", stage=2, as_of=date(2026, 3, 25))
    assert (actual.due_on, actual.provisional) == (date(2026, 4, 24), False)


def test_connexus_review_extension_may_total_twenty_working_days_but_no_more(connexus_review, connexus):
    connexus_review.acknowledge(on=date(2026, 3, 25), **BY)
    connexus_review.extend(policy=connexus, working_days=15, reason="Independent survey", agreed=False,
                           on=date(2026, 4, 1), **BY)
    with pytest.raises(InvalidAction, match="cap of 20 working days for Review \\(15 already used\\)"):
        connexus_review.extend(policy=connexus, working_days=6, reason="More", agreed=False, on=date(2026, 4, 2), **BY)
    connexus_review.extend(policy=connexus, working_days=5, reason="More", agreed=False, on=date(2026, 4, 2), **BY)
    assert deadline(connexus_review, connexus, "respond", stage=2, as_of=date(2026, 4, 2)).extended_by == 20


def test_connexus_may_refuse_an_issue_four_months_old_as_out_of_time(receive, connexus):
    case = receive(RECEIVED, "connexus-2021", issue_date=date(2025, 11, 1))
    case.refuse(policy=connexus, reason="out-of-time", explanation="Outside 3 months", on=date(2026, 3, 3), **BY)
    assert case.status == "refused"


def test_the_code_profile_has_no_informal_early_resolution(receive, policy):
    case = receive(RECEIVED)
    with pytest.raises(InvalidAction, match="hoc-2024 has no informal early resolution: log it as a stage 1 complaint"):
        case.resolve_early(policy=policy("hoc-2024"), summary="Sorted", on=date(2026, 3, 3), **BY)
    assert case.status == "open"


# ==================================================================================================== Feedback


@pytest.mark.parametrize("kind", ["compliment", "comment", "suggestion"])
def test_feedback_of_each_kind_is_recorded(kind):
    feedback = Feedback.receive(ref="FBK-2026-000001", kind=kind, summary="Thanks to the repairs team",
                                received_on=date(2026, 3, 2), channel="email", subject="repairs", **BY)
    assert (feedback.kind, feedback.received_on, feedback.channel) == (kind, date(2026, 3, 2), "email")


def test_a_complaint_cannot_be_recorded_as_feedback():
    with pytest.raises(InvalidAction, match="kind 'complaint' is not one of: compliment, comment, suggestion"):
        Feedback.receive(ref="FBK-2026-000002", kind="complaint", summary="Cold flat",
                         received_on=date(2026, 3, 2), **BY)


def test_feedback_received_in_the_future_is_refused():
    with pytest.raises(InvalidDate, match="in the future"):
        Feedback.receive(ref="FBK-2026-000003", kind="compliment", summary="Great", received_on=date(2026, 11, 23),
                         **BY)


def test_feedback_from_an_unknown_channel_is_refused():
    with pytest.raises(InvalidAction, match="channel 'fax' is not one of"):
        Feedback.receive(ref="FBK-2026-000004", kind="comment", summary="Hmm", received_on=date(2026, 3, 2),
                         channel="fax", **BY)
