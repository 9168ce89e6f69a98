"""The Ombudsman stage to compliance: evidence requests and the determination's orders, each due by a date, judged as
the procedure's milestones are, and a referred case closes only once every dated order is complied with."""

from __future__ import annotations

from datetime import date

import pytest

from complaints_ledger.domain.complaint import PERSONAL_DATA, Complaint
from complaints_ledger.domain.errors import InvalidAction, InvalidDate
from complaints_ledger.domain.ombudsman import ombudsman_records, ombudsman_view

TODAY = date(2026, 11, 22)
BY = {"today": TODAY, "actor": "officer"}
REFERRED_ON = date(2026, 5, 1)
DETERMINED_ON = date(2026, 8, 3)  # a Monday


@pytest.fixture
def hoc(policy):
    return policy("hoc-2024")


@pytest.fixture
def referred(receive, hoc):
    case = receive(date(2026, 3, 2))
    case.acknowledge(on=date(2026, 3, 4), **BY)
    case.respond(outcome="not-upheld", on=date(2026, 3, 16), **BY)
    case.escalate(policy=hoc, on=date(2026, 3, 23), **BY)
    case.acknowledge(on=date(2026, 3, 25), **BY)
    case.review(policy=hoc, outcome="not-upheld", on=date(2026, 4, 22), **BY)
    case.refer(policy=hoc, on=REFERRED_ON, **BY)
    return case


@pytest.fixture
def determined(referred):
    referred.record_determination(finding="maladministration", orders=["pay £300", "inspect the roof"],
                                  order_dues=[date(2026, 8, 31), date(2026, 8, 31)], compensation="300",
                                  on=DETERMINED_ON, **BY)
    return referred


def judged(case, hoc, as_of):
    return {(v["number"], kind): (v["status"], v["working_days_late"])
            for kind, items in ombudsman_view(case, hoc.working_calendar, as_of).items() for v in items}


def test_an_evidence_request_answered_late_is_late_and_one_unanswered_past_due_is_overdue(referred, hoc):
    referred.request_evidence(due=date(2026, 5, 15), on=date(2026, 5, 5), **BY)  # Friday
    referred.request_evidence(due=date(2026, 6, 1), on=date(2026, 5, 6), **BY)
    referred.send_evidence(on=date(2026, 5, 19), **BY)  # the oldest unanswered one: two working days late
    assert [r["sent_on"] for r in referred.evidence_requests] == [date(2026, 5, 19), None]
    assert judged(referred, hoc, date(2026, 6, 3)) == {
        (1, "evidence_requests"): ("late", 2), (2, "evidence_requests"): ("overdue", 2)}
    assert judged(referred, hoc, date(2026, 5, 12)) == {
        (1, "evidence_requests"): ("pending", 0), (2, "evidence_requests"): ("pending", 0)}
    assert judged(referred, hoc, date(2026, 5, 5)) == {(1, "evidence_requests"): ("pending", 0)}


def test_evidence_sent_names_its_request_and_cannot_answer_one_twice(referred):
    referred.request_evidence(due=date(2026, 5, 15), on=date(2026, 5, 5), **BY)
    referred.request_evidence(due=date(2026, 6, 1), on=date(2026, 5, 6), **BY)
    referred.send_evidence(request=2, on=date(2026, 5, 7), **BY)
    assert [r["sent_on"] for r in referred.evidence_requests] == [None, date(2026, 5, 7)]
    with pytest.raises(InvalidAction, match="evidence request 2 on CMP-2026-000001 was already answered on 2026-05-07"):
        referred.send_evidence(request=2, on=date(2026, 5, 8), **BY)
    with pytest.raises(InvalidAction, match="has no evidence request 3 \\(it has 2\\)"):
        referred.send_evidence(request=3, on=date(2026, 5, 8), **BY)


def test_evidence_requests_need_a_referral_and_a_due_date_not_before_the_request(receive, referred):
    with pytest.raises(InvalidAction, match="has not been referred to the Housing Ombudsman"):
        receive(date(2026, 3, 2)).request_evidence(due=date(2026, 5, 1), on=date(2026, 4, 1), **BY)
    with pytest.raises(InvalidDate, match="the due date for the evidence \\(2026-05-04\\) is before it was made"):
        referred.request_evidence(due=date(2026, 5, 4), on=date(2026, 5, 5), **BY)
    with pytest.raises(InvalidAction, match="no evidence request from the Housing Ombudsman is recorded"):
        referred.send_evidence(on=date(2026, 5, 5), **BY)


def test_a_determination_pairs_each_order_with_its_due_date(determined, hoc):
    assert [(o["number"], o["text"], o["due_on"], o["made_on"]) for o in determined.orders] == [
        (1, "pay £300", date(2026, 8, 31), DETERMINED_ON), (2, "inspect the roof", date(2026, 8, 31), DETERMINED_ON)]
    assert determined.determination["orders"] == []  # the dated orders are tracked, not free text
    names = [type(e).__name__ for e in determined.collect_events()][-3:]
    assert names == ["OmbudsmanDetermined", "OmbudsmanOrdered", "OmbudsmanOrdered"]


def test_order_and_due_dates_must_pair(referred):
    with pytest.raises(InvalidAction, match="2 order\\(s\\) and 1 due date\\(s\\) given"):
        referred.record_determination(finding="maladministration", orders=["a", "b"], order_dues=[date(2026, 9, 1)],
                                      compensation="0", on=DETERMINED_ON, **BY)
    with pytest.raises(InvalidDate, match="the due date for an order \\(2026-08-02\\) is before it was made"):
        referred.record_determination(finding="maladministration", orders=["a"], order_dues=[date(2026, 8, 2)],
                                      compensation="0", on=DETERMINED_ON, **BY)
    assert referred.determination is None


def test_a_referred_case_closes_only_when_every_order_is_complied_with(determined, hoc):
    with pytest.raises(InvalidAction, match="cannot close CMP-2026-000001: .*outstanding: order 1 'pay £300' due "
                                            "2026-08-31; order 2 'inspect the roof' due 2026-08-31"):
        determined.close(on=date(2026, 8, 10), **BY)
    determined.comply(order=1, on=date(2026, 8, 20), evidence="BACS ref 991", **BY)
    with pytest.raises(InvalidAction, match="outstanding: order 2 'inspect the roof'"):
        determined.close(on=date(2026, 8, 21), **BY)
    determined.comply(on=date(2026, 9, 2), **BY)  # the only outstanding one: two working days late
    determined.close(on=date(2026, 9, 3), **BY)
    assert determined.status == "closed"
    assert judged(determined, hoc, date(2026, 9, 30)) == {(1, "orders"): ("met", 0), (2, "orders"): ("late", 2)}


def test_compliance_needs_the_order_number_when_several_are_outstanding(determined):
    with pytest.raises(InvalidAction, match="give --order N: orders 1, 2 on CMP-2026-000001 are outstanding"):
        determined.comply(on=date(2026, 8, 20), **BY)
    determined.comply(order=2, on=date(2026, 8, 20), **BY)
    with pytest.raises(InvalidAction, match="order 2 on CMP-2026-000001 was already complied with on 2026-08-20"):
        determined.comply(order=2, on=date(2026, 8, 21), **BY)


def test_a_further_order_can_be_recorded_after_the_determination_but_not_before(referred):
    with pytest.raises(InvalidAction, match="determination on CMP-2026-000001 is not recorded"):
        referred.order(text="apologise", due=date(2026, 9, 1), on=date(2026, 6, 1), **BY)
    referred.record_determination(finding="service-failure", orders=[], compensation="0", on=DETERMINED_ON, **BY)
    referred.order(text="apologise in writing", due=date(2026, 9, 1), on=date(2026, 8, 4), **BY)
    assert [(o["number"], o["due_on"]) for o in referred.orders] == [(1, date(2026, 9, 1))]


def test_orders_without_due_dates_are_recorded_as_before_and_do_not_hold_the_case_open(referred):
    referred.record_determination(finding="maladministration", orders=["apologise"], compensation="0",
                                  on=DETERMINED_ON, **BY)
    assert referred.determination["orders"] == ["apologise"] and referred.orders == []
    referred.close(on=date(2026, 8, 4), **BY)
    assert referred.status == "closed"


def test_an_evidence_request_left_unanswered_stops_counting_at_the_determination(referred, hoc):
    referred.request_evidence(due=date(2026, 5, 15), on=date(2026, 5, 5), **BY)
    referred.request_evidence(due=date(2026, 9, 1), on=date(2026, 7, 1), **BY)
    referred.record_determination(finding="service-failure", orders=[], compensation="0", on=DETERMINED_ON, **BY)
    # The first was overdue from 15 May to the determination on 3 August; the second was not yet due then.
    assert [r.milestone for r in ombudsman_records(referred)] == ["evidence-1"]
    late = hoc.working_calendar.working_days_between(date(2026, 5, 15), DETERMINED_ON)
    assert judged(referred, hoc, date(2026, 11, 1))[(1, "evidence_requests")] == ("overdue", late)


def test_order_texts_and_compliance_evidence_are_personal_data():
    assert PERSONAL_DATA[Complaint.OmbudsmanOrdered] == ("text",)
    assert PERSONAL_DATA[Complaint.OmbudsmanOrderComplied] == ("evidence",)


def test_a_case_records_at_most_so_many_evidence_requests(referred):
    from complaints_ledger.domain.limits import MAX_ITEMS

    for _ in range(MAX_ITEMS):
        referred.request_evidence(due=date(2026, 6, 1), on=date(2026, 5, 5), **BY)
    with pytest.raises(InvalidAction, match=f"already has {MAX_ITEMS} evidence requests"):
        referred.request_evidence(due=date(2026, 6, 1), on=date(2026, 5, 5), **BY)


def test_a_corrected_determination_date_moves_the_orders_it_made(determined):
    version = next(v for v, (step, _, _) in determined.step_dates.items() if step == "OmbudsmanDetermined")
    determined.correct(event_version=version, to=date(2026, 7, 31), reason="letter dated the 31st", on=TODAY,
                       today=TODAY, actor="manager")
    assert determined.determination["occurred_on"] == date(2026, 7, 31)
    assert [o["made_on"] for o in determined.orders] == [date(2026, 7, 31), date(2026, 7, 31)]
