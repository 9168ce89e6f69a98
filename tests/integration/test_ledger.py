"""The ComplaintsLedger application against a real event store (every test runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import pytest

from complaints_ledger.cli import to_json
from complaints_ledger.domain.complaint import Complaint
from complaints_ledger.domain.errors import (
    DuplicateReference,
    InvalidAction,
    InvalidAmount,
    InvalidDate,
    UnknownReference,
)


def deadline(view: dict, stage: int, milestone: str) -> dict:
    return next(d for d in view["deadlines"] if d["stage"] == stage and d["milestone"] == milestone)


# ------------------------------------------------------------------------------------------------ references


def test_receive_issues_sequential_references_per_year_of_receipt(ledger, receive):
    first = receive(ledger, received_on=date(2025, 6, 2))
    second = receive(ledger, received_on=date(2025, 6, 3))
    this_year = receive(ledger, received_on=date(2026, 1, 5))
    third_of_2025 = receive(ledger, received_on=date(2025, 12, 31))

    assert [first, second, this_year, third_of_2025] == [
        "CMP-2025-000001", "CMP-2025-000002", "CMP-2026-000001", "CMP-2025-000003",
    ]
    assert ledger.show(this_year)["received_on"] == date(2026, 1, 5)


def test_receive_defaults_the_date_of_receipt_to_today(ledger, receive, today):
    ref = receive(ledger)

    assert ref == f"CMP-{today.year}-000001"
    assert ledger.show(ref)["received_on"] == today


def test_a_supplied_reference_is_used_and_upper_cased(ledger, receive):
    ref = receive(ledger, ref="  legacy/2019-0042 ", received_on=date(2026, 3, 2))

    assert ref == "LEGACY/2019-0042"
    assert ledger.show("legacy/2019-0042")["ref"] == "LEGACY/2019-0042"
    assert ledger.history("LEGACY/2019-0042")[0]["details"]["ref"] == "LEGACY/2019-0042"


def test_a_supplied_reference_that_already_exists_is_refused_and_nothing_is_written(ledger, receive):
    receive(ledger, ref="OLD-1", received_on=date(2026, 3, 2))
    issued = receive(ledger, received_on=date(2026, 3, 2))
    before = ledger.event_count()

    with pytest.raises(DuplicateReference, match="OLD-1 already exists"):
        receive(ledger, ref="old-1", received_on=date(2026, 3, 3), complainant="Someone Else")
    with pytest.raises(DuplicateReference, match=f"{issued} already exists"):
        receive(ledger, ref=issued.lower(), received_on=date(2026, 3, 3))

    assert ledger.event_count() == before
    assert ledger.show("OLD-1")["complainant"] == "Ada Tenant"
    assert len(ledger.history("OLD-1")) == 1


def test_an_issued_reference_skips_numbers_already_taken_by_imported_cases(ledger, receive):
    receive(ledger, ref="cmp-2026-000001", received_on=date(2026, 2, 2))
    receive(ledger, ref="CMP-2026-000002", received_on=date(2026, 2, 2))
    receive(ledger, ref="CMP-2026-000004", received_on=date(2026, 2, 2))

    issued = [receive(ledger, received_on=date(2026, 2, 3)) for _ in range(3)]

    assert issued == ["CMP-2026-000003", "CMP-2026-000005", "CMP-2026-000006"]
    assert ledger.show("CMP-2026-000003")["received_on"] == date(2026, 2, 3)
    assert ledger.show("CMP-2026-000001")["received_on"] == date(2026, 2, 2)


def test_bulk_issued_references_skip_numbers_held_by_imported_cases_too(ledger, receive):
    """import_cases (the simulator's path) asks which numbers are held a window at a time, not case by case."""
    import random

    from complaints_ledger.adapters import simulation

    for n in (1, 2, 4, 700):  # 700: beyond the first window of numbers asked about
        receive(ledger, ref=f"CMP-2026-{n:06d}", received_on=date(2026, 2, 2))
    refs = ledger.import_cases(simulation.complaints(random.Random(3), cases=720, until=date(2026, 12, 31),
                                                     actor="t"), batch_size=300)

    assert sorted(refs)[:3] == ["CMP-2026-000003", "CMP-2026-000005", "CMP-2026-000006"]
    assert sorted(refs)[-1] == "CMP-2026-000724"  # every case of the year, so past 700
    assert not {"CMP-2026-000001", "CMP-2026-000002", "CMP-2026-000004", "CMP-2026-000700"} & set(refs)
    assert len(refs) == len(set(refs)) == 720
    assert ledger.show("CMP-2026-000004")["received_on"] == date(2026, 2, 2)


def test_reference_sequences_are_snapshotted_as_they_grow_and_read_back_exactly(ledger_factory, receive, today):
    """A year's sequence is snapshotted every hundred references, from the state just saved; a ledger opened
    afterwards reads it back from the snapshot and the events after it, and issues the next number."""
    import random

    from complaints_ledger.adapters import simulation
    from complaints_ledger.domain.registry import ReferenceSequence

    ledger = ledger_factory()
    refs = ledger.import_cases(simulation.complaints(random.Random(4), cases=230, until=today, actor="t"),
                               batch_size=90)
    year = max(int(r.split("-")[1]) for r in refs)
    issued = sum(1 for r in refs if r.startswith(f"CMP-{year}-"))
    for _ in range(3):  # live receipts: one save each
        receive(ledger, received_on=today)
    sequence_id = ReferenceSequence.create_id("CMP", year)
    snapshots = list(ledger.snapshots.get(sequence_id))
    assert len(snapshots) >= issued // 100 >= 1
    assert all(s.originator_version <= issued + 4 for s in snapshots)

    reopened = ledger_factory()
    assert reopened.repository.get(sequence_id).last == issued + 3
    assert receive(reopened, received_on=today) == f"CMP-{year}-{issued + 4:06d}"


@pytest.mark.parametrize("query", [
    pytest.param(lambda l: l.show("CMP-2026-999999"), id="show"),
    pytest.param(lambda l: l.history("CMP-2026-999999"), id="history"),
    pytest.param(lambda l: l.get_case("cmp-2026-999999"), id="get_case"),
    pytest.param(lambda l: l.acknowledge("CMP-2026-999999", actor="x"), id="acknowledge"),
    pytest.param(lambda l: l.add_note("CMP-2026-999999", "hello", actor="x"), id="add_note"),
    pytest.param(lambda l: l.close_case("CMP-2026-999999", actor="x"), id="close"),
])
def test_an_unknown_reference_is_reported_as_unknown(ledger, receive, query):
    receive(ledger, received_on=date(2026, 3, 2))
    before = ledger.event_count()

    with pytest.raises(UnknownReference, match="no complaint with reference CMP-2026-999999"):
        query(ledger)

    assert ledger.event_count() == before


def test_a_feedback_reference_is_not_a_complaint(ledger):
    fbk = ledger.record_feedback(kind="compliment", summary="Thanks to the repairs team", actor="x",
                                 received_on=date(2026, 3, 2))

    assert fbk == "FBK-2026-000001"
    with pytest.raises(UnknownReference):
        ledger.show(fbk)


# ------------------------------------------------------------------------------------------------ show


def test_show_gives_a_json_ready_picture_of_the_case(ledger, receive, received_19_dec_2025):
    ref = receive(ledger, received_on=received_19_dec_2025, category="Heating and Hot Water",
                  issue_date=date(2025, 12, 15))
    ledger.acknowledge(ref, actor="Jo Officer", on=date(2025, 12, 30))

    view = ledger.show(ref)

    assert view["ref"] == ref
    assert view["policy"] == "hoc-2024"
    assert view["status"] == "open"
    assert view["stage"] == 1
    assert view["received_on"] == received_19_dec_2025
    assert view["version"] == 2
    assert view["category"] == "heating and hot water"
    ack = deadline(view, 1, "acknowledge")
    assert (ack["due_on"], ack["done_on"], ack["status"]) == ("2025-12-30", "2025-12-30", "met")
    respond = deadline(view, 1, "respond")
    assert (respond["due_on"], respond["status"], respond["provisional"]) == ("2026-01-14", "overdue", False)
    assert view["next_milestone"]["milestone"] == "respond"
    assert view["time_limit"] == {"months": 12, "ends_on": date(2026, 12, 15), "outside": False}
    # The CLI's encoder turns it into JSON and back without loss of meaning.
    decoded = json.loads(to_json(view))
    assert decoded["received_on"] == "2025-12-19"
    assert decoded["deadlines"] == view["deadlines"]
    assert decoded["compensation"]["paid"] == "0.00"


def test_show_as_of_a_date_replays_only_what_had_happened_by_then(ledger, receive, received_19_dec_2025):
    ref = receive(ledger, received_on=received_19_dec_2025)
    ledger.acknowledge(ref, actor="Jo Officer", on=date(2025, 12, 30))
    ledger.respond(ref, outcome="upheld", actor="Jo Officer", on=date(2026, 1, 9))

    before_ack = ledger.show(ref, as_of=date(2025, 12, 29))
    on_ack = ledger.show(ref, as_of=date(2025, 12, 30))
    now = ledger.show(ref)

    ack = deadline(before_ack, 1, "acknowledge")
    assert (ack["done_on"], ack["status"]) == (None, "pending")
    assert deadline(before_ack, 1, "respond")["provisional"] is True
    assert before_ack["stages"][0]["acknowledged_on"] is None
    assert before_ack["version"] == 1
    assert before_ack["as_of"] == date(2025, 12, 29)
    assert before_ack["next_milestone"]["milestone"] == "acknowledge"

    assert deadline(on_ack, 1, "acknowledge")["status"] == "met"
    assert deadline(on_ack, 1, "respond")["status"] == "pending"
    assert on_ack["stages"][0]["outcome"] is None
    assert on_ack["version"] == 2

    assert deadline(now, 1, "respond")["status"] == "met"
    assert now["stages"][0]["outcome"] == "upheld"
    assert now["version"] == 3


def test_show_as_of_places_a_back_dated_note_on_its_business_date(ledger, receive, received_19_dec_2025):
    ref = receive(ledger, received_on=received_19_dec_2025)
    ledger.acknowledge(ref, actor="Jo Officer", on=date(2025, 12, 30))
    ledger.add_note(ref, "Resident phoned to chase", actor="Jo Officer", on=date(2025, 12, 22))

    as_of_note = ledger.show(ref, as_of=date(2025, 12, 22))
    as_of_receipt = ledger.show(ref, as_of=received_19_dec_2025)

    assert [n["text"] for n in as_of_note["notes"]] == ["Resident phoned to chase"]
    assert deadline(as_of_note, 1, "acknowledge")["status"] == "pending"
    assert as_of_receipt["notes"] == []
    assert [e["event"] for e in ledger.history(ref)] == ["Received", "Acknowledged", "NoteAdded"]


def test_show_as_of_a_date_before_receipt_is_refused(ledger, receive, received_19_dec_2025):
    ref = receive(ledger, received_on=received_19_dec_2025)

    with pytest.raises(InvalidDate, match="received on 2025-12-19"):
        ledger.show(ref, as_of=date(2025, 12, 18))


# ------------------------------------------------------------------------------------------------ history


def test_history_lists_every_event_in_the_order_it_was_recorded(ledger, receive, received_19_dec_2025):
    ref = receive(ledger, received_on=received_19_dec_2025, actor="Reception")
    ledger.acknowledge(ref, actor="Jo Officer", on=date(2025, 12, 30))
    ledger.extend(ref, working_days=5, reason="Waiting for the engineer", actor="Jo Officer", on=date(2026, 1, 9))
    ledger.respond(ref, outcome="partly-upheld", remedies=["apology"], actor="Sam Senior", on=date(2026, 1, 20))
    ledger.add_note(ref, "Called the resident back", actor="Jo Officer", on=date(2025, 12, 23))

    history = ledger.history(ref)

    assert [(e["version"], e["event"], e["occurred_on"], e["actor"]) for e in history] == [
        (1, "Received", date(2025, 12, 19), "Reception"),
        (2, "Acknowledged", date(2025, 12, 30), "Jo Officer"),
        (3, "Extended", date(2026, 1, 9), "Jo Officer"),
        (4, "Responded", date(2026, 1, 20), "Sam Senior"),
        (5, "NoteAdded", date(2025, 12, 23), "Jo Officer"),
    ]
    recorded = [e["recorded_at"] for e in history]
    assert all(isinstance(t, datetime) for t in recorded)
    assert recorded == sorted(recorded)
    assert history[0]["details"]["complainant"] == "Ada Tenant"
    assert history[0]["details"]["policy_name"] == "hoc-2024"
    assert history[2]["details"] == {"stage": 1, "working_days": 5, "reason": "Waiting for the engineer",
                                     "agreed": False, "ombudsman_details_given": False}
    assert history[3]["details"]["outcome"] == "partly-upheld"
    assert history[3]["details"]["remedies"] == ["apology"]
    assert history[4]["details"] == {"text": "Called the resident back"}
    for e in history:
        assert set(e) == {"version", "event", "occurred_on", "recorded_at", "actor", "details"}
        assert not {"originator_id", "originator_version", "timestamp", "occurred_on", "actor"} & set(e["details"])


def test_history_keeps_money_as_exact_pounds_and_pence(ledger, receive, received_19_dec_2025):
    ref = receive(ledger, received_on=received_19_dec_2025)
    ledger.request_compensation(ref, amount=Decimal("150"), actor="x", on=date(2026, 1, 20))
    ledger.approve_compensation(ref, amount=Decimal("120.10"), actor="x", on=date(2026, 1, 22))
    ledger.pay_compensation(ref, amount=Decimal("120.10"), offset=Decimal("40.20"), actor="x", on=date(2026, 1, 27))

    paid = ledger.history(ref)[-1]["details"]
    view = ledger.show(ref)

    assert paid == {"amount": Decimal("120.10"), "offset": Decimal("40.20")}
    assert view["compensation"]["paid"] == Decimal("120.10")
    assert view["compensation"]["offset"] == Decimal("40.20")
    assert view["compensation"]["requested"] == Decimal("150.00")


# ------------------------------------------------------------------------------------------------ invariants

BROKEN_RULES = [
    pytest.param(lambda l, ref: l.receive(complainant="A", channel="phone", summary="s", actor="x",
                                          received_on=date(2026, 11, 23)), InvalidDate, id="receive-in-future"),
    pytest.param(lambda l, ref: l.receive(complainant="A", channel="pigeon", summary="s", actor="x"),
                 InvalidAction, id="receive-unknown-channel"),
    pytest.param(lambda l, ref: l.receive(complainant="  ", channel="phone", summary="s", actor="x"),
                 InvalidAction, id="receive-blank-complainant"),
    pytest.param(lambda l, ref: l.receive(complainant="A", channel="phone", summary="s", actor="x",
                                          ref="not a ref!"), InvalidAction, id="receive-malformed-reference"),
    pytest.param(lambda l, ref: l.receive(complainant="A", channel="phone", summary="s", actor="x",
                                          received_on=date(2026, 1, 5), issue_date=date(2026, 1, 6)),
                 InvalidDate, id="receive-issue-after-receipt"),
    pytest.param(lambda l, ref: l.acknowledge(ref, actor="x", on=date(2026, 1, 2)), InvalidAction,
                 id="acknowledge-twice"),
    pytest.param(lambda l, ref: l.contact(ref, actor="x", on=date(2025, 12, 18)), InvalidDate,
                 id="step-before-receipt"),
    pytest.param(lambda l, ref: l.contact(ref, actor="x", on=date(2025, 12, 29)), InvalidDate,
                 id="step-before-latest-step"),
    pytest.param(lambda l, ref: l.contact(ref, actor="x", on=date(2026, 11, 23)), InvalidDate,
                 id="step-in-future"),
    pytest.param(lambda l, ref: l.respond(ref, outcome="maybe", actor="x", on=date(2026, 1, 5)), InvalidAction,
                 id="respond-unknown-outcome"),
    pytest.param(lambda l, ref: l.review(ref, outcome="upheld", actor="x", on=date(2026, 1, 5)), InvalidAction,
                 id="review-at-stage-1"),
    pytest.param(lambda l, ref: l.escalate(ref, actor="x", on=date(2026, 1, 5)), InvalidAction,
                 id="escalate-before-response-is-due"),
    pytest.param(lambda l, ref: l.extend(ref, working_days=11, reason="busy", actor="x", on=date(2026, 1, 5)),
                 InvalidAction, id="extend-beyond-cap"),
    pytest.param(lambda l, ref: l.close_case(ref, actor="x", on=date(2026, 1, 5)), InvalidAction,
                 id="close-before-response"),
    pytest.param(lambda l, ref: l.resolve_early(ref, summary="sorted", actor="x", on=date(2026, 1, 5)),
                 InvalidAction, id="resolve-early-under-code-2024"),
    pytest.param(lambda l, ref: l.refuse(ref, reason="unreasonable", explanation="no", actor="x",
                                         on=date(2026, 1, 5)), InvalidAction, id="refuse-for-unlisted-reason"),
    pytest.param(lambda l, ref: l.refer(ref, actor="x", on=date(2026, 1, 5)), InvalidAction,
                 id="refer-before-procedure-completes"),
    pytest.param(lambda l, ref: l.request_compensation(ref, amount=Decimal("10.005"), actor="x",
                                                       on=date(2026, 1, 5)), InvalidAmount,
                 id="compensation-fraction-of-penny"),
    pytest.param(lambda l, ref: l.pay_compensation(ref, amount=Decimal("1"), actor="x", on=date(2026, 1, 5)),
                 InvalidAmount, id="pay-more-than-approved"),
    pytest.param(lambda l, ref: l.approve_compensation(ref, amount=Decimal("1"), actor="x", on=date(2026, 1, 5)),
                 InvalidAction, id="approve-without-request"),
    pytest.param(lambda l, ref: l.record_satisfaction(ref, score=6, actor="x", on=date(2026, 1, 5)),
                 InvalidAction, id="satisfaction-out-of-range"),
    pytest.param(lambda l, ref: l.add_note(ref, "   ", actor="x", on=date(2026, 1, 5)), InvalidAction,
                 id="blank-note"),
    pytest.param(lambda l, ref: l.record_feedback(kind="complaint", summary="s", actor="x"), InvalidAction,
                 id="feedback-unknown-kind"),
]


@pytest.mark.parametrize("action, error", BROKEN_RULES)
def test_an_action_that_breaks_a_rule_is_refused_and_writes_nothing(ledger, receive, received_19_dec_2025,
                                                                   action, error):
    ref = receive(ledger, received_on=received_19_dec_2025)
    ledger.acknowledge(ref, actor="Jo Officer", on=date(2025, 12, 30))
    before_count, before_view = ledger.event_count(), ledger.show(ref)

    with pytest.raises(error):
        action(ledger, ref)

    assert ledger.event_count() == before_count
    assert ledger.show(ref) == before_view
    # Nothing half-done: the next reference issued is still the next number.
    assert receive(ledger) == "CMP-2026-000001"


# ------------------------------------------------------------------------------------------------ pinned policy


def test_a_case_keeps_the_policy_it_was_received_under(ledger, ledger_factory, receive, revised_hoc):
    old = receive(ledger, received_on=date(2026, 11, 2))
    new = receive(ledger, received_on=date(2026, 11, 2), policy=revised_hoc)

    fresh = ledger_factory()
    old_view, new_view = fresh.show(old, as_of=date(2026, 11, 2)), fresh.show(new, as_of=date(2026, 11, 2))

    assert (old_view["policy"], old_view["policy_version"]) == ("hoc-2024", "2024.1")
    assert (new_view["policy"], new_view["policy_version"]) == ("hoc-2024", "2026.9-test")
    assert deadline(old_view, 1, "acknowledge")["due_on"] == "2026-11-09"  # 5 working days
    assert deadline(old_view, 1, "respond")["due_on"] == "2026-11-23"  # 10 more
    assert deadline(new_view, 1, "acknowledge")["due_on"] == "2026-11-05"  # 3 working days
    assert deadline(new_view, 1, "respond")["due_on"] == "2026-11-26"  # 15 more


def test_a_case_is_judged_by_its_own_policy_after_the_catalogue_changes(ledger_factory, receive, revised_hoc):
    first = ledger_factory()
    old = receive(first, received_on=date(2026, 11, 2))
    first.acknowledge(old, actor="x", on=date(2026, 11, 3))

    # The shipped profile file is edited: a fresh ledger now reads the revision for new cases.
    edited = ledger_factory()
    edited._policies = lambda name: revised_hoc
    new = receive(edited, received_on=date(2026, 11, 2))
    edited.acknowledge(new, actor="x", on=date(2026, 11, 3))

    # The old case still has the old 10-working-day extension cap; the new one only 2.
    edited.extend(old, working_days=10, reason="Waiting for a survey", actor="x", on=date(2026, 11, 4))
    with pytest.raises(InvalidAction, match="cap of 2 working days"):
        edited.extend(new, working_days=3, reason="Waiting for a survey", actor="x", on=date(2026, 11, 4))

    reader = ledger_factory()
    assert reader.show(new)["policy_version"] == "2026.9-test"
    assert reader.show(old)["policy_version"] == "2024.1"
    old_respond = deadline(reader.show(old), 1, "respond")
    assert (old_respond["extended_by"], old_respond["due_on"]) == (10, "2026-12-01")


# ------------------------------------------------------------------------------------------------ persistence


def test_a_reopened_ledger_sees_the_same_cases_and_continues_the_numbering(ledger_factory, receive,
                                                                          received_19_dec_2025):
    first = ledger_factory()
    ref = receive(first, received_on=received_19_dec_2025)
    first.acknowledge(ref, actor="Jo Officer", on=date(2025, 12, 30))
    view, history = first.show(ref), first.history(ref)
    first.close()

    reopened = ledger_factory()

    assert reopened.show(ref) == view
    assert reopened.history(ref) == history
    assert receive(reopened, received_on=date(2025, 12, 22)) == "CMP-2025-000002"


def test_import_cases_saves_every_case_and_issues_references(ledger, ledger_factory, receive, policy, revised_hoc,
                                                             today):
    receive(ledger, ref="CMP-2025-000002", received_on=date(2025, 5, 1))
    hoc = policy("hoc-2024")
    ohg = policy("ohg-2010")
    before = ledger.event_count()

    def case(received_on, profile, complainant, acknowledged_on=None):
        def build(ref):
            c = Complaint.receive(ref=ref, policy=profile, complainant=complainant, channel="letter",
                                  summary="Imported from the old system", received_on=received_on, today=today,
                                  actor="importer")
            if acknowledged_on:
                c.acknowledge(on=acknowledged_on, today=today, actor="importer")
            return c
        return received_on, profile, build

    refs = ledger.import_cases([
        case(date(2025, 3, 3), hoc, "One", acknowledged_on=date(2025, 3, 4)),
        case(date(2025, 3, 4), ohg, "Two"),
        case(date(2026, 1, 6), revised_hoc, "Three"),
        case(date(2025, 3, 5), hoc, "Four"),
        case(date(2026, 1, 7), ohg, "Five"),
    ], batch_size=2)

    assert refs == ["CMP-2025-000001", "CMP-2025-000003", "CMP-2026-000001", "CMP-2025-000004",
                    "CMP-2026-000002"]
    assert ledger.event_count() > before
    fresh = ledger_factory()
    views = {ref: fresh.show(ref) for ref in refs}
    assert [views[r]["complainant"] for r in refs] == ["One", "Two", "Three", "Four", "Five"]
    assert [views[r]["policy"] for r in refs] == ["hoc-2024", "ohg-2010", "hoc-2024", "hoc-2024", "ohg-2010"]
    assert views["CMP-2026-000001"]["policy_version"] == "2026.9-test"
    assert views["CMP-2025-000001"]["stages"][0]["acknowledged_on"] == date(2025, 3, 4)
    assert [e["event"] for e in fresh.history("CMP-2025-000001")] == ["Received", "Acknowledged"]
    # Receipt carries on numbering after the import.
    assert receive(fresh, received_on=date(2025, 4, 1)) == "CMP-2025-000005"
    assert receive(fresh, received_on=date(2026, 4, 1)) == "CMP-2026-000003"
