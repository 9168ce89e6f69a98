"""A complaint's life under the Code 2024 profile, and the deadlines an officer sees along the way.

Dates are 2026 in England unless stated. Received Monday 2 March 2026: acknowledgement due Monday 9 March.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from complaints_ledger.domain.complaint import CLOSED, OPEN, REFERRED, WITHDRAWN

TODAY = date(2026, 11, 22)
BY = {"today": TODAY, "actor": "officer"}

RECEIVED = date(2026, 3, 2)  # Monday
ACK_DUE = date(2026, 3, 9)  # Monday: 3, 4, 5, 6, 9 March


def deadline(case, policy, milestone, stage=1, as_of=TODAY):
    found = [d for d in case.deadlines(policy, as_of) if d.stage == stage and d.milestone == milestone]
    assert len(found) == 1, f"expected one stage {stage} {milestone} deadline, got {found}"
    return found[0]


def milestones(case, policy, as_of=TODAY):
    return [(d.stage, d.milestone) for d in case.deadlines(policy, as_of)]


@pytest.fixture
def hoc(policy):
    return policy("hoc-2024")


# ------------------------------------------------------------------------------------------ the Code's example


def test_code_worked_example_acknowledge_by_30_december_and_respond_by_14_january(receive, hoc):
    case = receive(date(2025, 12, 19))  # Friday before Christmas
    assert deadline(case, hoc, "acknowledge", as_of=date(2025, 12, 19)).due_on == date(2025, 12, 30)

    case.acknowledge(on=date(2025, 12, 30), **BY)
    respond = deadline(case, hoc, "respond", as_of=date(2025, 12, 30))
    assert respond.due_on == date(2026, 1, 14)
    assert not respond.provisional
    assert respond.status == "pending"

    case.respond(outcome="upheld", on=date(2026, 1, 14), **BY)
    assert [d.status for d in case.deadlines(hoc, TODAY)] == ["met", "met"]


# ---------------------------------------------------------------------------------------------- a whole life


def test_complaint_runs_from_receipt_through_stage_2_review_to_closure_with_every_deadline_met(receive, hoc):
    case = receive(RECEIVED)
    case.acknowledge(on=date(2026, 3, 4), **BY)
    case.respond(outcome="not-upheld", on=date(2026, 3, 16), summary="Boiler was repaired on time", **BY)
    case.escalate(policy=hoc, on=date(2026, 3, 23), reason="Still cold", **BY)
    assert case.stage == 2
    assert deadline(case, hoc, "acknowledge", stage=2, as_of=date(2026, 3, 23)).due_on == date(2026, 3, 30)

    case.acknowledge(on=date(2026, 3, 25), **BY)
    # 20 working days from Wed 25 March, skipping Good Friday (3 April) and Easter Monday (6 April).
    assert deadline(case, hoc, "respond", stage=2, as_of=date(2026, 3, 25)).due_on == date(2026, 4, 24)

    case.review(policy=hoc, outcome="partly-upheld", on=date(2026, 4, 22), remedies=["apology"], **BY)
    case.close(on=date(2026, 4, 24), **BY)

    assert case.status == CLOSED
    assert case.closed_on == date(2026, 4, 24)
    assert [(d.stage, d.milestone, d.status) for d in case.deadlines(hoc, TODAY)] == [
        (1, "acknowledge", "met"),
        (1, "respond", "met"),
        (2, "acknowledge", "met"),
        (2, "respond", "met"),
    ]
    assert case.stages[0].outcome == "not-upheld"
    assert case.stages[1].outcome == "partly-upheld"
    assert case.stages[1].remedies == ["apology"]
    assert case.next_milestone(hoc, TODAY) is None


def test_after_the_final_review_the_resident_can_go_to_the_ombudsman_and_its_order_is_paid(receive, hoc):
    case = receive(RECEIVED)
    case.acknowledge(on=date(2026, 3, 4), **BY)
    case.respond(outcome="not-upheld", on=date(2026, 3, 16), **BY)
    case.escalate(policy=hoc, on=date(2026, 3, 23), **BY)
    case.acknowledge(on=date(2026, 3, 25), **BY)
    case.review(policy=hoc, outcome="not-upheld", on=date(2026, 4, 22), **BY)

    case.refer(policy=hoc, on=date(2026, 5, 1), **BY)
    assert case.status == REFERRED
    case.record_determination(finding="maladministration", orders=["apologise", "pay £150"],
                              compensation="150.00", on=date(2026, 8, 3), **BY)
    case.pay_compensation(amount="150.00", offset="0", on=date(2026, 8, 10), **BY)
    case.close(on=date(2026, 8, 11), **BY)

    assert case.status == CLOSED
    assert case.compensation["ordered"] == Decimal("150.00")
    assert case.compensation["paid"] == Decimal("150.00")


def test_next_milestone_is_what_the_officer_must_do_next(receive, hoc):
    case = receive(RECEIVED)
    first = case.next_milestone(hoc, RECEIVED)
    assert (first.milestone, first.due_on) == ("acknowledge", ACK_DUE)
    case.acknowledge(on=date(2026, 3, 4), **BY)
    second = case.next_milestone(hoc, date(2026, 3, 4))
    assert (second.milestone, second.due_on) == ("respond", date(2026, 3, 18))


# ------------------------------------------------------------------------------------------------- extensions


def test_extension_adds_working_days_to_the_response_deadline(receive, hoc):
    case = receive(RECEIVED)
    case.acknowledge(on=date(2026, 3, 4), **BY)
    assert case.respond_due(hoc) == date(2026, 3, 18)  # Wed 4 March + 10 working days

    case.extend(policy=hoc, working_days=5, reason="Waiting for the surveyor's report", agreed=False,
                on=date(2026, 3, 16), **BY)

    respond = deadline(case, hoc, "respond", as_of=date(2026, 3, 16))
    assert respond.due_on == date(2026, 3, 25)  # Wed 18 March + 5 working days
    assert respond.extended_by == 5
    assert case.respond_due(hoc) == date(2026, 3, 25)
    assert deadline(case, hoc, "acknowledge").extended_by == 0


def test_extensions_accumulate_and_skip_bank_holidays(receive, hoc):
    case = receive(RECEIVED)
    case.acknowledge(on=date(2026, 3, 4), **BY)
    case.extend(policy=hoc, working_days=4, reason="Contractor on leave", agreed=False, on=date(2026, 3, 10), **BY)
    case.extend(policy=hoc, working_days=6, reason="Second inspection", agreed=False, on=date(2026, 3, 20), **BY)
    # Wed 18 March + 10 working days: 19, 20, 23–27, 30, 31 March, 1 April.
    assert deadline(case, hoc, "respond", as_of=date(2026, 3, 20)).due_on == date(2026, 4, 1)
    assert deadline(case, hoc, "respond", as_of=date(2026, 3, 20)).extended_by == 10


def test_a_response_within_the_extended_deadline_is_met(receive, hoc):
    case = receive(RECEIVED)
    case.acknowledge(on=date(2026, 3, 4), **BY)
    case.extend(policy=hoc, working_days=5, reason="Awaiting report", agreed=False, on=date(2026, 3, 16), **BY)
    case.respond(outcome="upheld", on=date(2026, 3, 24), **BY)
    assert deadline(case, hoc, "respond").status == "met"


# --------------------------------------------------------------------------------------- provisional deadlines


def test_before_acknowledgement_the_response_is_due_ten_working_days_after_the_acknowledgement_due_date(receive, hoc):
    case = receive(RECEIVED)
    acknowledge = deadline(case, hoc, "acknowledge", as_of=RECEIVED)
    respond = deadline(case, hoc, "respond", as_of=RECEIVED)
    assert (acknowledge.due_on, acknowledge.provisional) == (ACK_DUE, False)
    assert respond.due_on == date(2026, 3, 23)  # Mon 9 March + 10 working days
    assert respond.provisional is True


def test_acknowledging_early_fixes_the_response_deadline_from_the_real_date(receive, hoc):
    case = receive(RECEIVED)
    case.acknowledge(on=date(2026, 3, 5), **BY)
    respond = deadline(case, hoc, "respond", as_of=date(2026, 3, 5))
    assert respond.due_on == date(2026, 3, 19)
    assert respond.provisional is False


def test_acknowledging_late_moves_the_response_deadline_later(receive, hoc):
    case = receive(RECEIVED)
    case.acknowledge(on=date(2026, 3, 11), **BY)
    assert deadline(case, hoc, "acknowledge").status == "late"
    assert deadline(case, hoc, "respond", as_of=date(2026, 3, 11)).due_on == date(2026, 3, 25)


# ------------------------------------------------------------------------------------ pending, overdue, met, late


def test_acknowledgement_is_pending_up_to_and_including_its_due_date(receive, hoc):
    case = receive(RECEIVED)
    assert deadline(case, hoc, "acknowledge", as_of=RECEIVED).status == "pending"
    on_the_day = deadline(case, hoc, "acknowledge", as_of=ACK_DUE)
    assert (on_the_day.status, on_the_day.working_days_late) == ("pending", 0)


def test_acknowledgement_is_overdue_the_day_after_its_due_date(receive, hoc):
    case = receive(RECEIVED)
    day_after = deadline(case, hoc, "acknowledge", as_of=date(2026, 3, 10))
    assert (day_after.status, day_after.working_days_late) == ("overdue", 1)


def test_overdue_lateness_counts_working_days_not_calendar_days(receive, hoc):
    case = receive(RECEIVED)
    saturday = deadline(case, hoc, "acknowledge", as_of=date(2026, 3, 14))
    assert (saturday.status, saturday.working_days_late) == ("overdue", 4)  # 10, 11, 12, 13 March


def test_acknowledging_on_the_due_date_is_met(receive, hoc):
    case = receive(RECEIVED)
    case.acknowledge(on=ACK_DUE, **BY)
    met = deadline(case, hoc, "acknowledge")
    assert (met.status, met.done_on, met.working_days_late) == ("met", ACK_DUE, 0)


def test_a_late_response_is_late_by_the_working_days_after_its_due_date(receive, hoc):
    case = receive(RECEIVED)
    case.acknowledge(on=date(2026, 3, 4), **BY)
    case.respond(outcome="upheld", on=date(2026, 3, 20), **BY)  # due Wed 18 March
    late = deadline(case, hoc, "respond")
    assert (late.status, late.working_days_late) == ("late", 2)


def test_status_of_an_undone_milestone_depends_on_the_as_of_date(receive, hoc):
    case = receive(RECEIVED)
    statuses = {
        as_of: deadline(case, hoc, "acknowledge", as_of=as_of).status
        for as_of in (date(2026, 3, 3), ACK_DUE, date(2026, 3, 10), TODAY)
    }
    assert statuses == {date(2026, 3, 3): "pending", ACK_DUE: "pending", date(2026, 3, 10): "overdue",
                        TODAY: "overdue"}


def test_a_milestone_done_on_time_stays_met_whatever_the_as_of_date(receive, hoc):
    case = receive(RECEIVED)
    case.acknowledge(on=date(2026, 3, 4), **BY)
    for as_of in (date(2026, 3, 4), date(2026, 6, 1), TODAY):
        assert deadline(case, hoc, "acknowledge", as_of=as_of).status == "met"


# ------------------------------------------------------------------------------ response as acknowledgement


def test_a_response_without_acknowledgement_counts_as_the_acknowledgement(receive, hoc):
    case = receive(RECEIVED)
    case.respond(outcome="upheld", on=date(2026, 3, 6), **BY)
    acknowledge = deadline(case, hoc, "acknowledge")
    assert (acknowledge.status, acknowledge.done_on) == ("met", date(2026, 3, 6))
    assert deadline(case, hoc, "respond").status == "met"


def test_a_late_response_without_acknowledgement_leaves_the_acknowledgement_late(receive, hoc):
    case = receive(RECEIVED)
    case.respond(outcome="upheld", on=date(2026, 3, 11), **BY)
    acknowledge = deadline(case, hoc, "acknowledge")
    assert (acknowledge.status, acknowledge.working_days_late) == ("late", 2)


def test_a_response_weeks_late_without_acknowledgement_is_reported_late(receive, hoc):
    case = receive(RECEIVED)
    # No acknowledgement; the response comes on Fri 17 April, 34 working days after receipt (Code: 5 + 10 at most).
    case.respond(outcome="upheld", on=date(2026, 4, 17), **BY)
    respond = deadline(case, hoc, "respond")
    assert respond.status == "late"
    assert respond.due_on < respond.done_on


# ------------------------------------------------------------------------------ superseded and ended stages


def test_an_overdue_stage_1_response_stays_a_breach_after_escalation(receive, hoc):
    case = receive(RECEIVED)
    case.acknowledge(on=date(2026, 3, 4), **BY)
    case.escalate(policy=hoc, on=date(2026, 3, 25), reason="No response", **BY)  # response was due 18 March
    stage_1 = deadline(case, hoc, "respond", stage=1)
    assert stage_1.status == "overdue"
    assert stage_1.done_on is None
    assert (2, "acknowledge") in milestones(case, hoc)


def test_lateness_of_a_missed_stage_1_response_stops_counting_at_escalation(receive, hoc):
    case = receive(RECEIVED)
    case.acknowledge(on=date(2026, 3, 4), **BY)
    case.escalate(policy=hoc, on=date(2026, 3, 25), **BY)  # response due Wed 18 March: 19, 20, 23, 24, 25 March
    assert deadline(case, hoc, "respond", stage=1, as_of=TODAY).working_days_late == 5


def test_withdrawing_before_any_deadline_leaves_nothing_to_report(receive, hoc):
    case = receive(RECEIVED)
    case.withdraw(on=date(2026, 3, 4), reason="Repaired", **BY)
    assert case.status == WITHDRAWN
    assert case.deadlines(hoc, TODAY) == []
    assert case.next_milestone(hoc, TODAY) is None


def test_withdrawing_after_a_missed_acknowledgement_keeps_that_breach_only(receive, hoc):
    case = receive(RECEIVED)
    case.withdraw(on=date(2026, 3, 12), **BY)  # acknowledgement was due 9 March; response not yet due
    assert [(d.milestone, d.status) for d in case.deadlines(hoc, TODAY)] == [("acknowledge", "overdue")]


def test_a_new_case_is_open_at_stage_1_and_pins_its_profile(receive, hoc):
    case = receive(RECEIVED)
    assert case.status == OPEN
    assert case.stage == 1
    assert (case.policy_name, case.policy_hash) == ("hoc-2024", hoc.content_hash)
