"""Corrections as events: a fact keyed wrongly is put right by appending a Corrected event, and the case (its
deadlines, its latest step) follows the corrected value; a correction that would leave the case's dates out of order,
change nothing, or name a field that cannot be corrected is refused with nothing recorded.

Received Monday 2 March 2026 under the Code 2024: acknowledgement due Monday 9 March. Correcting the receipt to
Friday 27 February moves it to Friday 6 March.
"""

from __future__ import annotations

from datetime import date

import pytest

from complaints_ledger.domain.complaint import CORRECTABLE, PERSONAL_DATA, Complaint
from complaints_ledger.domain.errors import InvalidAction, InvalidDate
from complaints_ledger.domain.ledger import fold_as_of

TODAY = date(2026, 11, 22)
BY = {"today": TODAY, "actor": "officer"}
FIX = {"reason": "keyed from the wrong letter", "on": TODAY, "today": TODAY, "actor": "manager"}
RECEIVED = date(2026, 3, 2)


@pytest.fixture
def hoc(policy):
    return policy("hoc-2024")


@pytest.fixture
def case(receive):
    return receive(RECEIVED, issue_date=date(2026, 2, 20), category="repairs", property_ref="12 Elm Road",
                   contact="07700 900123")


def due(case, policy, milestone, stage=1):
    return next(d.due_on for d in case.deadlines(policy, TODAY) if d.stage == stage and d.milestone == milestone)


def replayed(case: Complaint) -> Complaint:
    """The case as the ledger reads it back: its events folded from nothing."""
    folded = None
    for e in case.collect_events():
        folded = e.mutate(folded)
    return folded


def pending(case: Complaint) -> int:
    return len(case.pending_events)


# ------------------------------------------------------------------------------------------------ each field


def test_a_corrected_received_date_moves_stage_1_and_its_deadlines(case, hoc):
    assert due(case, hoc, "acknowledge") == date(2026, 3, 9)

    case.correct(field="received-date", to="2026-02-27", **FIX)

    assert case.received_on == date(2026, 2, 27) and case.stages[0].started_on == date(2026, 2, 27)
    assert due(case, hoc, "acknowledge") == date(2026, 3, 6)
    back = replayed(case)
    assert back.received_on == date(2026, 2, 27) and due(back, hoc, "acknowledge") == date(2026, 3, 6)
    assert back.corrections == [{"field": "received-date", "event_version": None, "step": None,
                                 "old": "2026-03-02", "new": "2026-02-27", "reason": "keyed from the wrong letter",
                                 "occurred_on": TODAY, "actor": "manager"}]


def test_a_corrected_issue_date_moves_the_time_limit(case, hoc):
    before = case.time_limit_ends(hoc)
    case.correct(field="issue-date", to="2025-01-10", **FIX)
    assert case.issue_date == date(2025, 1, 10)
    assert case.time_limit_ends(hoc) < before


@pytest.mark.parametrize("field, typed, attribute, expected", [
    ("channel", "email", "channel", "email"),
    ("category", "Damp", "category", "damp"),
    ("property", "14 Elm Road", "property_ref", "14 Elm Road"),
    ("contact", "ada@example.org", "contact_details", "ada@example.org"),
    ("CONTACT", "ada@example.org", "contact_details", "ada@example.org"),
])
def test_each_keyed_field_can_be_corrected_and_reads_back_corrected(case, field, typed, attribute, expected):
    case.correct(field=field, to=typed, **FIX)
    assert getattr(case, attribute) == expected
    assert getattr(replayed(case), attribute) == expected


def test_personal_old_and_new_values_and_the_reason_are_sealed_and_plain_values_are_not(case):
    case.correct(field="property", to="14 Elm Road", **FIX)
    case.correct(field="channel", to="letter", **FIX)
    prop, channel = case.pending_events[-2:]
    assert (prop.old, prop.new, prop.old_personal, prop.new_personal) == (None, None, "12 Elm Road", "14 Elm Road")
    assert (channel.old, channel.new, channel.old_personal, channel.new_personal) == ("phone", "letter", None, None)
    assert set(PERSONAL_DATA[Complaint.Corrected]) == {"old_personal", "new_personal", "reason"}
    assert {f for f, e in CORRECTABLE.items() if e.personal} >= {"property", "contact"}


@pytest.mark.parametrize("field, typed, message", [
    ("channel", "pigeon", "is not one of"),
    ("received-date", "2 March", "is not a date"),
    ("received-date", "2026-11-23", "in the future"),
    ("issue-date", "2026-03-03", "after the complaint was received"),
    ("received-date", "2026-02-19", "before the issue complained about"),
    ("category", "  ", "category"),
])
def test_a_value_its_field_does_not_accept_is_refused_with_nothing_recorded(case, field, typed, message):
    before = pending(case)
    with pytest.raises(InvalidAction, match=message):
        case.correct(field=field, to=typed, **FIX)
    assert pending(case) == before


def test_correcting_to_the_value_already_recorded_is_refused(case):
    with pytest.raises(InvalidAction, match="already recorded as 2026-03-02: nothing to correct"):
        case.correct(field="received-date", to="2026-03-02", **FIX)
    with pytest.raises(InvalidAction, match="already recorded as given"):
        case.correct(field="contact", to="07700 900123", **FIX)


def test_an_unknown_field_is_refused_naming_the_fields_that_can_be_corrected(case):
    with pytest.raises(InvalidAction) as refused:
        case.correct(field="complainant", to="Bea", **FIX)
    line = str(refused.value)
    assert "\n" not in line and all(name in line for name in CORRECTABLE)


@pytest.mark.parametrize("typed", ["received-date", "received_on", "--received-on", "Received"])
def test_the_received_date_is_found_by_the_names_a_person_would_type(case, hoc, typed):
    """`receive` takes it as --received-on; the table calls it received-date: either (and the bare word) works."""
    case.correct(field=typed, to="2026-02-27", **FIX)
    assert case.received_on == date(2026, 2, 27) and due(case, hoc, "acknowledge") == date(2026, 3, 6)


def test_a_correction_needs_a_reason(case):
    with pytest.raises(InvalidAction, match="reason"):
        case.correct(field="channel", to="email", **{**FIX, "reason": " "})


# ------------------------------------------------------------------------------------------------ ordering


def test_a_received_date_after_the_acknowledgement_is_refused(case):
    case.acknowledge(on=date(2026, 3, 4), **BY)
    with pytest.raises(InvalidDate, match=r"after event 2 \(acknowledged, 2026-03-04\)"):
        case.correct(field="received-date", to="2026-03-05", **FIX)
    case.correct(field="received-date", to="2026-03-04", **FIX)  # the same day is in order


def test_a_received_date_after_a_note_is_refused(case):
    case.add_note(text="Rang the tenant", on=date(2026, 3, 3), **BY)
    with pytest.raises(InvalidDate, match="a note dated 2026-03-03"):
        case.correct(field="received-date", to="2026-03-10", **FIX)


@pytest.fixture
def stepped(case, hoc):
    case.acknowledge(on=date(2026, 3, 4), **BY)       # event 2
    case.add_note(text="Visited", on=date(2026, 3, 5), **BY)  # event 3: commentary
    case.respond(outcome="upheld", on=date(2026, 3, 16), **BY)  # event 4
    case.escalate(policy=hoc, on=date(2026, 3, 23), **BY)     # event 5
    return case


def test_a_step_date_moves_the_step_and_the_deadlines_that_follow_from_it(stepped, hoc):
    assert due(stepped, hoc, "acknowledge", stage=2) == date(2026, 3, 30)
    stepped.correct(event_version=5, to=date(2026, 3, 20), **FIX)
    assert stepped.stages[1].started_on == date(2026, 3, 20)
    assert due(stepped, hoc, "acknowledge", stage=2) == date(2026, 3, 27)
    back = replayed(stepped)
    assert back.stages[1].started_on == date(2026, 3, 20) and back.last_step_on == date(2026, 3, 20)
    assert back.corrections[0]["step"] == "Escalated"


def test_a_step_date_before_the_previous_step_or_after_the_next_is_refused(stepped):
    with pytest.raises(InvalidDate, match=r"before the step recorded before it \(acknowledged on 2026-03-04"):
        stepped.correct(event_version=4, to=date(2026, 3, 3), **FIX)
    with pytest.raises(InvalidDate, match=r"after the step recorded after it \(escalated on 2026-03-23"):
        stepped.correct(event_version=4, to=date(2026, 3, 24), **FIX)
    with pytest.raises(InvalidDate, match="before CMP-.* was received"):
        stepped.correct(event_version=2, to=date(2026, 3, 1), **FIX)
    with pytest.raises(InvalidDate, match="in the future"):
        stepped.correct(event_version=5, to=date(2026, 11, 23), **FIX)
    stepped.correct(event_version=4, to=date(2026, 3, 23), **FIX)  # the next step's day is in order


def test_only_a_step_can_be_re_dated(stepped):
    for version, message in ((3, "not a step"), (1, "--field received-date"), (9, "has no event 9"),
                             (0, "has no event 0")):
        with pytest.raises(InvalidAction, match=message):
            stepped.correct(event_version=version, to=date(2026, 3, 5), **FIX)


def test_the_last_step_follows_a_re_dated_latest_step(stepped, hoc):
    stepped.correct(event_version=5, to=date(2026, 3, 17), **FIX)
    assert stepped.last_step_on == date(2026, 3, 17)
    with pytest.raises(InvalidDate, match="latest step"):
        stepped.acknowledge(on=date(2026, 3, 16), **BY)
    stepped.acknowledge(on=date(2026, 3, 17), **BY)


def test_a_closed_case_can_still_be_corrected_for_the_record(stepped, hoc):
    stepped.acknowledge(on=date(2026, 3, 24), **BY)
    stepped.review(policy=hoc, outcome="not-upheld", on=date(2026, 4, 20), **BY)
    stepped.close(on=date(2026, 4, 21), **BY)
    closing = stepped.version
    stepped.correct(event_version=closing, to=date(2026, 4, 20), **FIX)
    stepped.correct(field="category", to="damp", **FIX)
    back = replayed(stepped)
    assert (back.closed_on, back.ended_on, back.category) == (date(2026, 4, 20), date(2026, 4, 20), "damp")


def test_saying_both_a_field_and_an_event_or_neither_is_refused(case):
    with pytest.raises(InvalidAction, match="say what to correct"):
        case.correct(field="channel", event_version=2, to="email", **FIX)
    with pytest.raises(InvalidAction, match="say what to correct"):
        case.correct(to="email", **FIX)


# ------------------------------------------------------------------------------------------------ as of a date


def test_as_of_any_day_the_case_reads_as_now_known_and_only_the_events_recorded_before_give_the_old_belief(case):
    """`as_of` is business time: a correction made on 20 March says what was true on 10 March too. What was
    believed before it is what the events recorded before it give (`show --known-at`)."""
    case.acknowledge(on=date(2026, 3, 4), **BY)
    case.correct(event_version=2, to=date(2026, 3, 12), **{**FIX, "on": date(2026, 3, 20)})
    case.correct(field="received-date", to="2026-02-27", **{**FIX, "on": date(2026, 3, 20)})
    events = case.collect_events()

    on_10_march = fold_as_of(events, date(2026, 3, 10))
    assert on_10_march.received_on == date(2026, 2, 27)
    assert on_10_march.stages[0].acknowledged_on is None  # acknowledged on the 12th, as corrected
    assert fold_as_of(events, date(2026, 3, 12)).stages[0].acknowledged_on == date(2026, 3, 12)
    believed = fold_as_of(events[:2], date(2026, 3, 10))
    assert (believed.received_on, believed.stages[0].acknowledged_on) == (RECEIVED, date(2026, 3, 4))
