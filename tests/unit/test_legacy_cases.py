"""Legacy cases become the events a live case would have (domain/legacy.py), and legacy files are read into them
(adapters/legacy_import.py): no database.

Dates are 2026 in England. Received Monday 2 March: stage 1 acknowledgement due 9 March, response 10 working days
after the acknowledgement.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from complaints_ledger.adapters import legacy_import, policy_files
from complaints_ledger.domain.complaint import CLOSED, REFERRED
from complaints_ledger.domain.legacy import ColumnError, LegacyCase, build

TODAY = date(2026, 11, 22)
D = date


@pytest.fixture
def case(policy):
    """A stage 1 case received on 2 March 2026, acknowledged on 4 March; add columns with replace()."""
    return LegacyCase(line=7, source="legacy.csv line 7", ref="OLD/0007", policy=policy("hoc-2024"),
                      complainant="Ada Tenant", channel="phone", summary="Heating not working",
                      received_on=D(2026, 3, 2), acknowledged_on=D(2026, 3, 4))


def steps(complaint):
    return [(type(e).__name__, e.occurred_on) for e in complaint.pending_events]


def refused(case, column: str) -> str:
    with pytest.raises(ColumnError) as caught:
        build(case, actor="importer", today=TODAY)
    assert caught.value.column == column, str(caught.value)
    return caught.value.reason


# ---------------------------------------------------------------------------------------------- building


def test_a_legacy_case_becomes_its_steps_in_date_order_recorded_by_the_importer_with_its_source(case):
    full = replace(case, responded_on=D(2026, 3, 13), outcome="not-upheld", escalated_on=D(2026, 3, 20),
                   stage2_acknowledged_on=D(2026, 3, 24), reviewed_on=D(2026, 4, 17), review_outcome="upheld",
                   compensation_approved=Decimal("150.00"), compensation_paid=Decimal("150.00"),
                   closed_on=D(2026, 4, 24))

    complaint = build(full, actor="importer", today=TODAY)

    assert steps(complaint) == [
        ("Received", D(2026, 3, 2)), ("Acknowledged", D(2026, 3, 4)), ("Responded", D(2026, 3, 13)),
        ("Escalated", D(2026, 3, 20)), ("Acknowledged", D(2026, 3, 24)), ("Reviewed", D(2026, 4, 17)),
        ("CompensationRequested", D(2026, 4, 17)), ("CompensationApproved", D(2026, 4, 17)),
        ("CompensationPaid", D(2026, 4, 24)), ("Closed", D(2026, 4, 24)),
    ]
    assert {e.actor for e in complaint.pending_events} == {"importer"}
    assert complaint.pending_events[0].source == "legacy.csv line 7"
    assert complaint.status == CLOSED and complaint.stages[1].outcome == "upheld"


def test_a_case_entered_live_has_no_source(receive):
    assert receive(D(2026, 3, 2)).pending_events[0].source is None


def test_escalation_before_a_late_response_is_taken_by_date_not_by_column_order(case):
    # Response due 18 March; none came, so the resident escalated on 23 March and stage 2 decided.
    late = replace(case, escalated_on=D(2026, 3, 23), reviewed_on=D(2026, 4, 20), review_outcome="partly-upheld")
    assert [name for name, _ in steps(build(late, actor="importer", today=TODAY))] == [
        "Received", "Acknowledged", "Escalated", "Reviewed"]


def test_approval_is_dated_with_the_stage_1_response_when_there_is_no_review_and_payment_with_it_if_not_closed(case):
    paid = replace(case, responded_on=D(2026, 3, 13), outcome="upheld", compensation_approved=Decimal("80"),
                   compensation_paid=Decimal("80"))
    assert steps(build(paid, actor="importer", today=TODAY))[-3:] == [
        ("CompensationRequested", D(2026, 3, 13)), ("CompensationApproved", D(2026, 3, 13)),
        ("CompensationPaid", D(2026, 3, 13))]


def test_closure_and_referral_on_one_day_are_the_landlord_closing_then_the_resident_referring(case):
    both = replace(case, responded_on=D(2026, 3, 13), outcome="not-upheld", escalated_on=D(2026, 3, 20),
                   reviewed_on=D(2026, 4, 17), review_outcome="not-upheld", closed_on=D(2026, 4, 20),
                   referred_on=D(2026, 4, 20))
    complaint = build(both, actor="importer", today=TODAY)
    assert [name for name, _ in steps(complaint)][-2:] == ["Closed", "ReferredToOmbudsman"]
    assert complaint.status == REFERRED


# ---------------------------------------------------------------------------------------------- refusals


def test_a_closure_after_the_referral_is_refused_on_closed_on_since_the_determination_is_not_in_the_file(case):
    after = replace(case, responded_on=D(2026, 3, 13), outcome="not-upheld", escalated_on=D(2026, 3, 20),
                    reviewed_on=D(2026, 4, 17), review_outcome="not-upheld", referred_on=D(2026, 4, 20),
                    closed_on=D(2026, 6, 1))
    reason = refused(after, "closed_on")
    assert "determination" in reason and "leave closed_on empty" in reason


def test_a_closure_before_the_escalation_is_refused_on_closed_on_since_it_is_the_final_closure(case):
    """Live, escalating a closed case reopens it; a legacy file has one closed_on, the file's final closure, so a
    closure dated before the escalation is a mistake in the file, not a reopening."""
    early = replace(case, responded_on=D(2026, 3, 13), outcome="not-upheld", closed_on=D(2026, 3, 16),
                    escalated_on=D(2026, 3, 20), reviewed_on=D(2026, 4, 17), review_outcome="not-upheld")
    assert refused(early, "closed_on") == ("2026-03-16 is before the escalation on 2026-03-20: closed_on is the "
                                           "case's final closure (leave it empty if the case is still open)")


def test_a_domain_refusal_names_the_column_whose_date_broke_the_rule(case):
    assert "before OLD/0007 was received" in refused(replace(case, acknowledged_on=D(2026, 2, 27)),
                                                     "acknowledged_on")
    assert "in the future" in refused(replace(case, received_on=D(2026, 12, 1), acknowledged_on=None),
                                      "received_on")
    assert "after the complaint was received" in refused(replace(case, issue_date=D(2026, 3, 3)), "issue_date")
    # A stage 1 referral is the resident's only when the response is overdue (due 18 March).
    assert "has not completed" in refused(replace(case, referred_on=D(2026, 3, 10)), "referred_on")


def test_paying_more_than_was_approved_is_refused_on_compensation_paid(case):
    over = replace(case, responded_on=D(2026, 3, 13), outcome="upheld", compensation_approved=Decimal("100"),
                   compensation_paid=Decimal("150"))
    assert "would exceed the £100.00 approved" in refused(over, "compensation_paid")


def test_columns_that_only_make_sense_together(case):
    assert "required when responded_on" in refused(replace(case, responded_on=D(2026, 3, 13)), "outcome")
    assert "required when outcome" in refused(replace(case, outcome="upheld"), "responded_on")
    assert "required when review_outcome" in refused(replace(case, review_outcome="upheld"), "reviewed_on")
    assert "responded_on" in refused(replace(case, compensation_approved=Decimal("50")), "compensation_approved")
    assert "compensation_approved" in refused(replace(case, compensation_paid=Decimal("50")), "compensation_paid")


def test_a_stage_s_own_dates_must_fall_within_that_stage(case):
    # Without this, an acknowledgement dated after the escalation would be taken as stage 2's.
    unacked = replace(case, acknowledged_on=D(2026, 3, 24), responded_on=D(2026, 3, 13), outcome="upheld",
                      escalated_on=D(2026, 3, 20))
    assert "after the escalation to stage 2" in refused(unacked, "acknowledged_on")
    early = replace(case, responded_on=D(2026, 3, 13), outcome="upheld", escalated_on=D(2026, 3, 20),
                    stage2_acknowledged_on=D(2026, 3, 18))
    assert "before the escalation" in refused(early, "stage2_acknowledged_on")
    assert "needs escalated_on" in refused(replace(case, stage2_acknowledged_on=D(2026, 3, 24)),
                                           "stage2_acknowledged_on")


def test_the_cases_own_profile_rules_apply_as_for_live_entry(case, policy):
    # Aspire takes compensation requests only within 7 days of the complaint; the approval is dated 13 March.
    aspire = replace(case, policy=policy("aspire-2017"), responded_on=D(2026, 3, 13), outcome="upheld",
                     compensation_approved=Decimal("50"))
    assert "within 7 days" in refused(aspire, "compensation_approved")


# ---------------------------------------------------------------------------------------------- reading files
HEADER = "ref,complainant,channel,summary,received_on,responded_on,outcome,compensation_approved,closed_on\n"


def read(tmp_path, text: str, name: str = "legacy.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return legacy_import.read(path, default_policy=policy_files.load_shipped("hoc-2024"),
                              policies=policy_files.load_shipped)


def test_excel_csv_with_a_byte_order_mark_uk_dates_and_a_quoted_multi_line_summary(tmp_path):
    text = (HEADER + 'a-1,Ada,Phone,"Leak,\nstill dripping",02/03/2026,13/03/2026,Partly upheld,"£1,250.00",\n'
            + ",,,,,,,,\n" + "A-2,Ben,in person,Noise,2026-03-02,,,0.00,\n")
    reading = read(tmp_path, text, encoding="utf-8-sig")
    assert reading.errors == []
    first, second = reading.cases
    assert (first.ref, first.channel, first.summary, first.received_on, first.outcome) == (
        "A-1", "phone", "Leak,\nstill dripping", D(2026, 3, 2), "partly-upheld")
    assert first.compensation_approved == Decimal("1250.00") and first.policy.name == "hoc-2024"
    # The second record is on line 5: the summary above took two lines, and the empty row is skipped.
    assert (second.line, second.source, second.channel) == (5, "legacy.csv line 5", "in-person")
    assert second.compensation_approved is None  # 0.00: nothing was approved


def test_every_problem_of_every_line_is_reported_and_a_repeated_reference_on_its_second_line(tmp_path):
    text = (HEADER + "A-1,Ada,fax,S,31/02/2026,,,12.345,\n" + "A-2,,phone,S,2026-03-02,,,,\n"
            + "a-2,Ben,phone,S,2026-03-02,,,,\n" + "A-4,Cy,phone,S,2026-03-02,,,,1 March 2026\n")
    reading = read(tmp_path, text)
    assert [(e.line, e.column) for e in reading.errors] == [
        (2, "channel"), (2, "received_on"), (2, "compensation_approved"), (3, "complainant"), (4, "ref"),
        (5, "closed_on")]
    assert reading.errors[4].reason == "A-2 is also on line 3"
    assert "YYYY-MM-DD" in reading.errors[5].reason and "real date" in reading.errors[1].reason
    assert reading.cases == []


def test_the_header_names_unknown_columns_and_missing_required_ones(tmp_path):
    reading = read(tmp_path, "ref,complainant,channel,summary,recieved_on,Policy\nA,B,phone,S,2026-03-02,\n")
    assert [(e.line, e.column, e.reason) for e in reading.errors] == [
        (1, "recieved_on", "unknown column (did you mean received_on?)"),
        (1, "received_on", "required column missing from the header")]


def test_a_named_policy_is_used_and_an_unknown_one_is_that_lines_error(tmp_path):
    reading = read(tmp_path, "ref,complainant,channel,summary,received_on,policy\n"
                             "A,B,phone,S,2026-03-02,aspire-2017\nC,D,phone,S,2026-03-02,hoc-2025\n")
    assert [c.policy.name for c in reading.cases] == ["aspire-2017"]
    assert [(e.line, e.column) for e in reading.errors] == [(3, "policy")]
    assert "no policy profile named 'hoc-2025'" in reading.errors[0].reason


def test_json_lines_take_the_same_keys_with_numbers_for_amounts(tmp_path):
    text = ('{"ref": "A", "complainant": "B", "channel": "phone", "summary": "S", "received_on": "2026-03-02",'
            ' "responded_on": "2026-03-10", "outcome": "upheld", "compensation_approved": 99.5}\n\n'
            '{"ref": "C", "complainant": "D", "channel": "phone", "summary": "S", "recieved_on": "2026-03-02"}\n'
            '[1, 2]\n{"ref": "E",\n')
    reading = read(tmp_path, text, name="legacy.jsonl")
    assert [(c.ref, c.compensation_approved) for c in reading.cases] == [("A", Decimal("99.50"))]
    assert [(e.line, e.column) for e in reading.errors] == [(3, "recieved_on"), (4, "row"), (5, "row")]


def test_an_import_run_counts_its_batches_says_where_it_stopped_and_a_resumption_reopens_it_until_completed():
    from complaints_ledger.domain.legacy import ImportRun

    run = ImportRun(file="old.csv", sha256="ab" * 32, cases=20_000, already=100, occurred_on=date(2026, 12, 7),
                    actor="jo")
    run.saved(4_300)
    assert (run.in_ledger, run.completed) == (4_400, False)
    assert str(run).startswith("import of old.csv (sha256 abababababab…) started ")
    assert str(run).endswith(" by jo is incomplete: 4,400 of 20,000 cases; run the same import again to finish it")

    run.complete(on=date(2026, 12, 7), actor="jo")
    assert (run.in_ledger, run.completed) == (20_000, True)
    run.resume(file="renamed.csv", already=19_990, on=date(2026, 12, 8), actor="sam")  # cases went missing since
    assert (run.in_ledger, run.completed, run.started_by) == (19_990, False, "jo")
    assert ImportRun.create_id("ab" * 32) == run.id  # one run per file content
