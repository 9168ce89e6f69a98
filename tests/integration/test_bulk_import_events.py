"""A case saved by the bulk path (ComplaintsLedger.import_cases, as `complaints simulate` and imports save) is stored
exactly as the same facts recorded by the commands one at a time: the same events, attributes and stored shape,
and the chains verify. The bulk path's speed-ups (the lean event calls, snapshots written with the events) must
change how fast, never what."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from complaints_ledger.adapters.audit import verify
from complaints_ledger.domain.complaint import Complaint, complaint_id

ACTOR = "Jo Officer"
RECEIVED = date(2026, 3, 2)
# (verb, its arguments, whether the aggregate's verb takes the profile): a case's life, in order.
STEPS: list[tuple[str, dict[str, Any], bool]] = [
    ("acknowledge", {"on": date(2026, 3, 4)}, False),
    ("request_compensation", {"on": date(2026, 3, 4), "amount": Decimal("250.00"), "reason": "Ruined carpet"}, True),
    ("extend", {"on": date(2026, 3, 6), "working_days": 10, "reason": "Waiting for a report", "agreed": True}, True),
    ("respond", {"on": date(2026, 3, 20), "outcome": "partly-upheld", "summary": "Investigated",
                 "remedies": ["apology", "repair completed"]}, False),
    ("add_note", {"on": date(2026, 3, 21), "text": "Called the resident back"}, False),
    ("escalate", {"on": date(2026, 3, 25), "reason": "Still dissatisfied"}, True),
    ("acknowledge", {"on": date(2026, 3, 26)}, False),
    ("record_learning", {"on": date(2026, 3, 27), "text": "Repairs triage now checks for repeat reports"}, False),
    ("withdraw", {"on": date(2026, 4, 1), "reason": "Resident no longer wishes to pursue"}, False),
]
DETAILS = {"complainant": "Ada Tenant", "channel": "phone", "summary": "Heating not working", "category": "repairs",
           "property_ref": "12 Station Road", "contact": "07700 900123", "tenure": "lcho"}


def bulk(ledger: Any, policy: Any, today: date) -> str:
    def build(ref: str) -> Complaint:
        case = Complaint.receive(ref=ref, policy=policy, received_on=RECEIVED, today=today, actor=ACTOR, **DETAILS)
        for verb, kwargs, needs_policy in STEPS:
            getattr(case, verb)(today=today, actor=ACTOR, **kwargs, **({"policy": policy} if needs_policy else {}))
        return case

    [ref] = ledger.import_cases([(RECEIVED, policy, build)])
    return ref


def one_by_one(ledger: Any, policy: Any) -> str:
    ref = ledger.receive(received_on=RECEIVED, policy=policy, actor=ACTOR, **DETAILS)
    for verb, kwargs, _ in STEPS:
        getattr(ledger, verb)(ref, actor=ACTOR, **kwargs)
    return ref


def facts(ledger: Any, ref: str) -> list[tuple[str, dict[str, Any]]]:
    """The case's events as decoded, less what differs between any two cases (ids, moment recorded, reference)."""
    return [(type(e).__qualname__, {k: v for k, v in vars(e).items()
                                    if k not in ("originator_id", "timestamp", "complainant_id", "ref")})
            for e in ledger.case_events(ref)]


def stored_shapes(ledger: Any, ref: str) -> list[tuple[int, str, list[tuple[str, Any]]]]:
    """The stored JSON of each event: its keys in order, and every value that is neither sealed nor drawn afresh."""
    out = []
    for stored in ledger.recorder.select_events(complaint_id(ref)):
        state = json.loads(stored.state)
        shape = [(k, "sealed" if isinstance(v, dict) and "ct" in v else v) for k, v in state.items()
                 if k not in ("timestamp", "complainant_id", "ref")]  # in order: the same JSON, key for key
        out.append((stored.originator_version, stored.topic, shape))
    return out


def test_a_case_saved_in_bulk_is_stored_as_the_same_facts_recorded_one_by_one(ledger_factory, policy, today):
    ledger = ledger_factory()
    hoc = policy("hoc-2024")
    in_bulk = bulk(ledger, hoc, today)
    by_verbs = one_by_one(ledger, hoc)
    assert in_bulk != by_verbs
    assert len(facts(ledger, in_bulk)) == len(STEPS) + 1
    assert facts(ledger, in_bulk) == facts(ledger, by_verbs)
    assert stored_shapes(ledger, in_bulk) == stored_shapes(ledger, by_verbs)
    assert ledger.show(in_bulk)["status"] == ledger.show(by_verbs)["status"]
    assert verify(ledger.recorder).breaks == []
    reopened = ledger_factory()  # and a new process reads both back the same
    assert facts(reopened, in_bulk) == facts(reopened, by_verbs)
