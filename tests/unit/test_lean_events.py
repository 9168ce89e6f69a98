"""The lean call of `@event` methods (domain/lean_events.py) records exactly what the library's own call records."""

from __future__ import annotations

import random
from datetime import date

import pytest
from eventsourcing.domain import CommandMethodDecorator

from complaints_ledger.adapters import simulation
from complaints_ledger.domain.complaint import Complaint
from complaints_ledger.domain.data_subject import DataSubject
from complaints_ledger.domain.registry import ReferenceSequence

LEAN = [Complaint, DataSubject, ReferenceSequence]
UNTIL = date(2026, 11, 20)


def lean_methods(cls: type) -> dict[str, CommandMethodDecorator]:
    return {name: value.__wrapped_command__ for name, value in vars(cls).items()
            if hasattr(value, "__wrapped_command__")}


def played(cases: int = 400) -> list[list[tuple[str, dict]]]:
    """The simulator's cases (every verb it plays), each as its events' (class name, attributes in their order) and
    the case's state after them, less what is drawn afresh each time (the moment recorded, the new data subject's
    id)."""
    out = []
    sequence = ReferenceSequence(prefix="CMP", year=2026)
    for _, _, build in simulation.complaints(random.Random(8), cases=cases, until=UNTIL, actor="t"):
        case = build(sequence.issue())
        assert case.modified_on == case.pending_events[-1].timestamp
        assert case.version == case.pending_events[-1].originator_version == len(case.pending_events)
        out.append([(type(e).__qualname__, [(k, v) for k, v in vars(e).items()  # in order: stored in this order
                                            if k not in ("timestamp", "complainant_id")])
                    for e in case.pending_events])
        out.append([(case.version, {k: v for k, v in vars(case).items()
                                    if k not in ("_created_on", "_modified_on", "_pending_events", "complainant_id")})])
    out.append([(type(e).__qualname__, [(k, v) for k, v in vars(e).items() if k != "timestamp"])
                for e in sequence.pending_events])
    return out


def test_every_event_method_of_the_bulk_aggregates_takes_the_lean_call():
    for cls in LEAN:
        assert lean_methods(cls), cls
        assert not [name for name, value in vars(cls).items()
                    if isinstance(value, CommandMethodDecorator) and name != "__init__"], cls
    assert {"_acknowledged", "_responded", "_escalated", "_closed", "_reviewed", "_extended",
            "_compensation_paid", "_determined"} <= set(lean_methods(Complaint))


def test_the_lean_call_records_the_same_events_as_the_librarys(monkeypatch):
    lean = played()
    for cls in LEAN:
        for name, decorator in lean_methods(cls).items():
            monkeypatch.setattr(cls, name, decorator)  # the library's own BoundCommandMethodDecorator path
    library = played()
    assert sum(len(case) for case in lean) > 2000
    assert lean == library


def test_a_call_the_lean_path_was_not_written_for_fails_as_the_library_makes_it(policy):
    case = Complaint.receive(ref="CMP-2026-000001", policy=policy("hoc-2024"), complainant="Ada Tenant",
                             channel="phone", summary="No heating", received_on=date(2026, 3, 2), today=UNTIL,
                             actor="t")
    with pytest.raises(TypeError):
        case._acknowledged(stage=1, occurred_on=date(2026, 3, 3))  # actor missing
    with pytest.raises(TypeError):
        case._acknowledged(stage=1, occurred_on=date(2026, 3, 3), actor="t", extra=1)
    assert case.version == 1 and case.current.acknowledged_on is None
    case._acknowledged(1, date(2026, 3, 3), "t")  # positional: the library's way, same event
    assert case.current.acknowledged_on == date(2026, 3, 3)
    last = case.pending_events[-1]
    assert type(last) is Complaint.Acknowledged and (last.stage, last.actor, last.originator_version) == (1, "t", 2)


def test_a_lean_creation_records_the_same_first_event_as_the_library(policy):
    from complaints_ledger.domain.lean_events import created

    hoc = policy("hoc-2024")
    receipt = dict(ref="CMP-2026-000001", policy_name=hoc.name, policy_version=hoc.version,
                   policy_hash=hoc.content_hash, complainant="Ada Tenant", channel="phone", summary="No heating",
                   occurred_on=date(2026, 3, 2), actor="t", issue_date=None, category="repairs",
                   property_ref="12 Station Road", contact=None, representative=None, representative_authorised=False,
                   complainant_id="C-1", source=None, uprn=None, tenure="lcra")
    for cls, kwargs in [(Complaint, receipt), (DataSubject, {"complainant_id": "C-1", "first_ref": "CMP-1"})]:
        lean, library = created(cls, **kwargs), cls(**kwargs)
        [a], [b] = lean.pending_events, library.pending_events
        assert type(a) is type(b)
        # In order: the attributes are stored as JSON in this order, so the same order is the same bytes.
        assert [(k, v) for k, v in vars(a).items() if k != "timestamp"] == \
            [(k, v) for k, v in vars(b).items() if k != "timestamp"]
        assert [(k, v) for k, v in vars(lean).items() if k not in ("_created_on", "_modified_on", "_pending_events")] \
            == [(k, v) for k, v in vars(library).items() if k not in ("_created_on", "_modified_on", "_pending_events")]
        assert lean.created_on == lean.modified_on == a.timestamp and lean.version == 1
    with pytest.raises(TypeError):
        created(DataSubject, complainant_id="C-1")  # first_ref missing: the library's error


def test_the_simulator_creates_its_cases_and_subjects_the_direct_way_and_records_what_the_library_would(monkeypatch):
    """The direct creation (lean_events._direct_create) is the one the bulk paths take, and turning it off (the
    library's _create) plays the same cases, event for event, attribute for attribute, in order."""
    from complaints_ledger.domain import lean_events

    created_directly = []
    real = lean_events._direct_create

    def spying(cls, event_cls, names):
        made = real(cls, event_cls, names)
        created_directly.append((cls, made is not None))
        return made

    monkeypatch.setattr(lean_events, "_creations", {})
    monkeypatch.setattr(lean_events, "_direct_create", spying)
    direct = played(150)
    subject = lean_events.created(DataSubject, complainant_id="C-2", first_ref="CMP-2")  # as the ledger links one
    assert {(Complaint, True), (DataSubject, True)} <= set(created_directly)
    assert subject.refs == ["CMP-2"] and subject.id == DataSubject.create_id("C-2")
    monkeypatch.setattr(lean_events, "_creations", {})
    monkeypatch.setattr(lean_events, "_direct_create", lambda cls, event_cls, names: None)
    assert played(150) == direct
