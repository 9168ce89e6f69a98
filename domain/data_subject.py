"""A data subject: the person behind one or more complaints, whose personal data can be erased (UK GDPR art. 17).

The person's key lives outside the event log, so that destroying it erases their personal data from every event
(and every backup of the log) while the events themselves, their hash chain and the statistics stay as they were.
This aggregate is the audit record of that: which cases are the person's, and who erased them, when and why.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Callable, Iterable
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .lean_events import lean_commands
from .complaint import ENDED, NAMESPACE
from .errors import InvalidAction
from .values import add_months, plain_text

@lean_commands
class DataSubject(Aggregate):
    """One complainant: the cases that are theirs and, once it happens, the erasure of their personal data."""

    @staticmethod
    def create_id(complainant_id: str) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE, f"data-subject:{complainant_id}")

    @event("Registered")
    def __init__(self, complainant_id: str, first_ref: str) -> None:
        self.complainant_id = complainant_id
        self.refs: list[str] = [first_ref]
        self.erasure: dict[str, Any] | None = None

    def require_linkable(self) -> None:
        if self.erasure is not None:
            raise InvalidAction(f"the personal data of complainant {self.complainant_id} was erased on "
                                f"{self.erasure['occurred_on']}; record a new complaint under a new complainant id")

    def link(self, ref: str) -> None:
        self.require_linkable()
        if ref not in self.refs:
            self._case_linked(ref=ref)

    @event("CaseLinked")
    def _case_linked(self, ref: str) -> None:
        self.refs.append(ref)

    def erase(self, *, reason: str, on: date, actor: str) -> None:
        if reason is None or not str(reason).strip():
            raise InvalidAction("an erasure needs its reason (--reason), e.g. 'retention period ended'")
        reason = plain_text(reason, "the reason for the erasure")
        if self.erasure is not None:
            raise InvalidAction(f"the personal data of complainant {self.complainant_id} was already erased on "
                                f"{self.erasure['occurred_on']} by {self.erasure['actor']}")
        self._erased(reason=reason, refs=list(self.refs), occurred_on=on, actor=actor)

    @event("PersonalDataErased")
    def _erased(self, reason: str, refs: list[str], occurred_on: date, actor: str) -> None:
        self.erasure = {"reason": reason, "refs": list(refs), "occurred_on": occurred_on, "actor": actor}



def retention_review(cases: Iterable[dict[str, Any]], *, as_of: date, closed_before: date | None,
                     years_of: Callable[[str], int]) -> list[dict[str, Any]]:
    """Which people's personal data may now be erased: those whose every case ended more than its policy's
    retention period ago (and, with `closed_before`, before that date). A person with any case still open or still
    within its period is held back, since one key covers all their cases. Only people with at least one case past
    its period are listed. `cases`: ref, complainant_id, status, ended_on, closed_on, policy_hash."""
    people: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        if case["complainant_id"]:
            people.setdefault(case["complainant_id"], []).append(case)
    out = []
    for cid, theirs in sorted(people.items()):
        theirs.sort(key=lambda c: c["ref"])
        held, past, ended, until = [], [], [], []
        for case in theirs:
            end = case["closed_on"] or case["ended_on"] if case["status"] in ENDED else None
            if end is None:
                held.append(f"{case['ref']} is {case['status']}")
                continue
            retain_until = add_months(end, 12 * years_of(case["policy_hash"]))
            if retain_until >= as_of:
                held.append(f"{case['ref']} is kept until {retain_until}")
            elif closed_before is not None and end >= closed_before:
                held.append(f"{case['ref']} ended on {end}, not before {closed_before}")
            else:
                past.append(case["ref"])
            ended.append(end)
            until.append(retain_until)
        if not past:
            continue
        out.append({"complainant_id": cid, "refs": [c["ref"] for c in theirs],
                    "due": not held, "held_because": "; ".join(held) or None,
                    "ended_on": max(ended), "retain_until": max(until)})
    return out
