"""A resident who comes back after a stage was closed escalates it: the landlord must escalate when asked (Code 2024),
within its appeal window where its policy sets one, and closing a stage after its response is everyday practice.

Dates are 2026 in England: Good Friday is 3 April and Easter Monday 6 April. Aspire's case is received Monday
2 March and answered Friday 6 March, so its 14-day (calendar) appeal window closes Friday 20 March.
"""

from __future__ import annotations

from datetime import date

import pytest

from complaints_ledger.domain.complaint import CLOSED, OPEN
from complaints_ledger.domain.errors import InvalidAction
from complaints_ledger.domain.ledger import fold_as_of

TODAY = date(2026, 11, 22)
BY = {"today": TODAY, "actor": "officer"}
RECEIVED = date(2026, 3, 2)  # Monday
RESPONDED = date(2026, 3, 6)  # Friday
WINDOW_CLOSES = date(2026, 3, 20)  # Friday: 6 March + 14 days
CLOSED_ON = date(2026, 3, 9)


def names(events) -> list[str]:
    return [type(e).__qualname__.rsplit(".", 1)[-1] for e in events]


def deadline(case, policy, milestone, stage, as_of=TODAY):
    found = [d for d in case.deadlines(policy, as_of) if d.stage == stage and d.milestone == milestone]
    assert len(found) == 1, f"expected one stage {stage} {milestone} deadline, got {found}"
    return found[0]


@pytest.fixture
def aspire(policy):
    return policy("aspire-2017")


@pytest.fixture
def hoc(policy):
    return policy("hoc-2024")


@pytest.fixture
def aspire_closed(receive):
    case = receive(RECEIVED, "aspire-2017")
    case.respond(outcome="not-upheld", on=RESPONDED, **BY)
    case.close(on=CLOSED_ON, **BY)
    case.collect_events()  # what follows is only what the escalation records
    return case


# ---------------------------------------------------------------------------------------------- within the window


def test_a_closed_aspire_case_escalated_within_its_window_reopens_at_stage_2(aspire_closed, aspire):
    aspire_closed.escalate(policy=aspire, on=date(2026, 3, 18), reason="Still unhappy", **BY)

    assert names(aspire_closed.collect_events()) == ["Reopened", "Escalated"]
    assert aspire_closed.status == OPEN and aspire_closed.stage == 2
    assert aspire_closed.closed_on is None and aspire_closed.ended_on is None
    assert aspire_closed.reopenings == [{"stage": 1, "closed_on": CLOSED_ON, "occurred_on": date(2026, 3, 18)}]
    assert aspire_closed.current.started_on == date(2026, 3, 18)


def test_a_corrected_escalation_date_moves_the_reopening_with_it(aspire_closed, aspire):
    aspire_closed.escalate(policy=aspire, on=date(2026, 3, 18), **BY)
    escalated = aspire_closed.version  # Reopened, then Escalated: the escalation is the latest event
    aspire_closed.correct(event_version=escalated, to=date(2026, 3, 19), reason="letter dated the 19th",
                          on=TODAY, today=TODAY, actor="manager")
    assert aspire_closed.reopenings == [{"stage": 1, "closed_on": CLOSED_ON, "occurred_on": date(2026, 3, 19)}]
    assert aspire_closed.current.started_on == date(2026, 3, 19)


def test_the_last_day_of_the_window_still_reopens(aspire_closed, aspire):
    assert aspire_closed.reopen_by(aspire) == WINDOW_CLOSES
    aspire_closed.escalate(policy=aspire, on=WINDOW_CLOSES, **BY)
    assert aspire_closed.status == OPEN and aspire_closed.stage == 2


def test_the_reopened_stage_runs_from_the_escalation_and_stage_1_is_unchanged(aspire_closed, aspire):
    before = [d for d in aspire_closed.deadlines(aspire, TODAY) if d.stage == 1]

    aspire_closed.escalate(policy=aspire, on=date(2026, 3, 18), **BY)  # Wednesday

    # Stage 2 acknowledgement: 5 working days after Wed 18 March -> Wed 25 March; the response 20 working days
    # after that (provisional until acknowledged), skipping Good Friday and Easter Monday -> Fri 24 April.
    ack = deadline(aspire_closed, aspire, "acknowledge", 2, as_of=date(2026, 3, 18))
    assert (ack.due_on, ack.status) == (date(2026, 3, 25), "pending")
    respond = deadline(aspire_closed, aspire, "respond", 2, as_of=date(2026, 3, 18))
    assert (respond.due_on, respond.provisional) == (date(2026, 4, 24), True)
    assert [d for d in aspire_closed.deadlines(aspire, TODAY) if d.stage == 1] == before
    nxt = aspire_closed.next_milestone(aspire, date(2026, 3, 18))
    assert (nxt.stage, nxt.milestone, nxt.due_on) == (2, "acknowledge", date(2026, 3, 25))


def test_replaying_the_events_gives_the_closed_case_then_the_reopened_one(receive, aspire):
    case = receive(RECEIVED, "aspire-2017")
    case.respond(outcome="not-upheld", on=RESPONDED, **BY)
    case.close(on=CLOSED_ON, **BY)
    case.escalate(policy=aspire, on=date(2026, 3, 18), **BY)
    events = case.collect_events()

    then = fold_as_of(events, date(2026, 3, 17))
    assert (then.status, then.stage, then.closed_on) == (CLOSED, 1, CLOSED_ON)
    now = fold_as_of(events, TODAY)
    assert (now.status, now.stage, now.closed_on) == (OPEN, 2, None)
    # and the reopened stage can be closed again after its own decision
    now.acknowledge(on=date(2026, 3, 20), **BY)
    now.review(policy=aspire, outcome="upheld", on=date(2026, 4, 1), **BY)
    now.close(on=date(2026, 4, 2), **BY)
    assert (now.status, now.closed_on, now.ended_on) == (CLOSED, date(2026, 4, 2), date(2026, 4, 2))


# --------------------------------------------------------------------------------------------- after the window


def test_after_the_window_a_closed_aspire_case_is_refused_naming_the_last_day(aspire_closed, aspire):
    with pytest.raises(InvalidAction, match=r"the 14-day appeal window of aspire-2017 closed on 2026-03-20 "):
        aspire_closed.escalate(policy=aspire, on=date(2026, 3, 21), **BY)
    assert aspire_closed.status == CLOSED and aspire_closed.stage == 1
    assert list(aspire_closed.collect_events()) == []


def test_a_late_escalation_is_accepted_with_a_reason_and_recorded(aspire_closed, aspire):
    aspire_closed.escalate(policy=aspire, on=date(2026, 4, 1), late_reason="Resident was in hospital", **BY)

    events = aspire_closed.collect_events()
    assert names(events) == ["LateEscalationAccepted", "Reopened", "Escalated"]
    accepted = events[0]
    assert (accepted.stage, accepted.window_closed_on, accepted.reason, accepted.authenticated) == (
        1, WINDOW_CLOSES, "Resident was in hospital", False)
    assert aspire_closed.status == OPEN and aspire_closed.stage == 2
    assert aspire_closed.late_escalations == [{"stage": 1, "window_closed_on": WINDOW_CLOSES,
                                               "reason": "Resident was in hospital", "occurred_on": date(2026, 4, 1),
                                               "actor": "officer", "authenticated": False}]


def test_a_late_reason_on_an_open_case_after_its_window_escalates_without_reopening(receive, aspire):
    case = receive(RECEIVED, "aspire-2017")
    case.respond(outcome="not-upheld", on=RESPONDED, **BY)
    case.collect_events()
    case.escalate(policy=aspire, on=date(2026, 3, 25), late_reason="Letter went astray", **BY)
    assert names(case.collect_events()) == ["LateEscalationAccepted", "Escalated"]


def test_a_late_reason_within_the_window_is_refused(aspire_closed, aspire):
    with pytest.raises(InvalidAction, match=r"within the appeal window of aspire-2017 \(it closes 2026-03-20\)"):
        aspire_closed.escalate(policy=aspire, on=date(2026, 3, 18), late_reason="No need", **BY)
    assert list(aspire_closed.collect_events()) == []


def test_an_empty_late_reason_is_refused(aspire_closed, aspire):
    with pytest.raises(InvalidAction):
        aspire_closed.escalate(policy=aspire, on=date(2026, 4, 1), late_reason="  ", **BY)
    assert aspire_closed.status == CLOSED


# -------------------------------------------------------------------------------------------- no window: any time


@pytest.mark.parametrize("profile", ["hoc-2024", "connexus-2021", "broadland-2020", "ohg-2010"])
def test_without_an_appeal_window_a_closed_case_reopens_months_later(receive, policy, profile):
    rules = policy(profile)
    assert rules.appeal_window_days is None
    case = receive(RECEIVED, profile)
    case.respond(outcome="not-upheld", on=date(2026, 3, 10), **BY)
    case.close(on=date(2026, 3, 11), **BY)
    assert case.reopen_by(rules) is None
    case.escalate(policy=rules, on=date(2026, 9, 14), **BY)  # Monday
    assert case.status == OPEN and case.stage == 2 and case.current.started_on == date(2026, 9, 14)
    # every profile acknowledges a stage 2 within 5 working days of the escalation request (Code 6.11)
    assert deadline(case, rules, "acknowledge", 2).due_on == date(2026, 9, 21)


def test_without_an_appeal_window_a_late_reason_is_refused(receive, hoc):
    case = receive(RECEIVED)
    case.respond(outcome="not-upheld", on=date(2026, 3, 10), **BY)
    case.close(on=date(2026, 3, 11), **BY)
    with pytest.raises(InvalidAction, match="hoc-2024 sets no appeal window"):
        case.escalate(policy=hoc, on=date(2026, 9, 14), late_reason="Away", **BY)


def test_a_case_closed_at_its_final_stage_still_cannot_be_escalated(receive, hoc):
    case = receive(RECEIVED)
    case.respond(outcome="not-upheld", on=date(2026, 3, 10), **BY)
    case.escalate(policy=hoc, on=date(2026, 3, 12), **BY)
    case.review(policy=hoc, outcome="not-upheld", on=date(2026, 4, 1), **BY)
    case.close(on=date(2026, 4, 2), **BY)
    with pytest.raises(InvalidAction, match="is at stage 2, the final stage of hoc-2024.*Housing Ombudsman"):
        case.escalate(policy=hoc, on=date(2026, 4, 8), **BY)
    assert case.status == CLOSED


def test_a_three_stage_case_closed_at_stage_2_reopens_at_stage_3(receive, policy):
    ohg = policy("ohg-2010")
    case = receive(RECEIVED, "ohg-2010")
    case.respond(outcome="not-upheld", on=date(2026, 3, 10), **BY)
    case.escalate(policy=ohg, on=date(2026, 3, 12), **BY)
    case.review(policy=ohg, outcome="not-upheld", on=date(2026, 4, 1), **BY)
    case.close(on=date(2026, 4, 2), **BY)
    case.escalate(policy=ohg, on=date(2026, 5, 5), **BY)
    assert (case.status, case.stage, case.reopenings[0]["stage"]) == (OPEN, 3, 2)


# ------------------------------------------------------------------------------------------- ended stays ended


@pytest.mark.parametrize("end, words", [
    (lambda c, p: c.refuse(policy=p, reason="legal-action", explanation="Court claim", on=date(2026, 3, 3), **BY),
     "is refused \\(on 2026-03-03\\)"),
    (lambda c, p: c.withdraw(on=date(2026, 3, 3), **BY), "is withdrawn \\(on 2026-03-03\\)"),
    (lambda c, p: c.resolve_early(policy=p, summary="Fixed same day", on=date(2026, 3, 3), **BY),
     "is already resolved early \\(on 2026-03-03\\)"),
])
def test_refused_withdrawn_and_early_resolved_cases_stay_ended(receive, aspire, end, words):
    case = receive(RECEIVED, "aspire-2017")
    end(case, aspire)
    for late in (None, "Resident insists"):
        with pytest.raises(InvalidAction, match=f"cannot escalate: {case.ref} {words}"):
            case.escalate(policy=aspire, on=date(2026, 3, 5), late_reason=late, **BY)
    assert case.status != OPEN


def test_a_case_closed_after_the_ombudsmans_determination_is_not_reopened(receive, hoc):
    case = receive(RECEIVED)
    case.refer(policy=hoc, on=date(2026, 4, 1), **BY)  # the stage 1 response was overdue (due 23 March)
    case.record_determination(finding="maladministration", orders=[], compensation=0, on=date(2026, 6, 1), **BY)
    case.close(on=date(2026, 6, 2), **BY)
    with pytest.raises(InvalidAction, match=f"cannot escalate: {case.ref} was closed on 2026-06-02 after the "
                                            "Housing Ombudsman's determination"):
        case.escalate(policy=hoc, on=date(2026, 6, 3), **BY)
    assert case.status == CLOSED


def test_an_escalation_dated_before_the_closure_is_refused(aspire_closed, aspire):
    with pytest.raises(Exception, match=r"before this case's latest step \(closed on 2026-03-09\)"):
        aspire_closed.escalate(policy=aspire, on=date(2026, 3, 8), **BY)



def test_a_closed_stages_undone_milestone_stays_cut_off_at_its_closure_not_at_the_later_escalation(receive, policy):
    """A profile whose stage 1 also asks for a first contact within 10 working days of receipt (16 March). The case
    is answered and closed before then without a contact, so the contact was never owed; reopening it in April
    must not make it an overdue stage 1 breach (the earlier stage's figures are unchanged)."""
    import copy

    from complaints_ledger.domain.policy import Policy

    data = copy.deepcopy(policy("hoc-2024").data)
    data["name"] = "hoc-with-contact"
    data["stages"][0]["milestones"].append(
        {"milestone": "contact", "anchor": "received", "offset": 10, "unit": "working"})
    rules = Policy.from_dict(data)
    case = receive(RECEIVED)  # received under hoc-2024; judged here under the variant
    case.respond(outcome="not-upheld", on=date(2026, 3, 4), **BY)
    case.close(on=date(2026, 3, 5), **BY)
    closed = [(d.stage, d.milestone) for d in case.deadlines(rules, TODAY)]
    assert (1, "contact") not in closed

    case.escalate(policy=rules, on=date(2026, 4, 20), **BY)
    assert [(d.stage, d.milestone) for d in case.deadlines(rules, TODAY) if d.stage == 1] == \
        [(s, m) for s, m in closed if s == 1]
    assert case.stages[0].closed_on == date(2026, 3, 5)
