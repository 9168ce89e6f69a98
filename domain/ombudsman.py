"""The Housing Ombudsman stage after referral: the Ombudsman's requests for the landlord's evidence, and the orders
of its determination, each with a due date and a record of when it was done.

Both are deadlines the landlord can miss, like the procedure's own milestones: an evidence request answered late is
what leads to a Complaint Handling Failure Order, and an order not complied with by its date is non-compliance the
Ombudsman publishes. So they are judged exactly as milestones are (deadlines.judge: met, late, pending, overdue,
working days late on the case's pinned calendar) and appear in the breach table as milestones `evidence-N` and
`order-N` of the stage the case was referred from.

Nothing here is stored: the records follow from the case's events.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from .deadlines import Deadline, MilestoneRecord, judge
from .working_days import WorkingCalendar

EVIDENCE, ORDER = "evidence", "order"


def ombudsman_records(case: Any) -> list[MilestoneRecord]:
    """Each evidence request and each dated order as a milestone record: it begins the day it was made, is due on
    the Ombudsman's date and done when the evidence was sent or the order complied with. An evidence request left
    unanswered when the Ombudsman determined the complaint stops accruing lateness then (the investigation it was
    for is over); an order never stops: the case cannot close until it is complied with."""
    records = []
    determined = case.determination["occurred_on"] if getattr(case, "determination", None) else None
    for r in getattr(case, "evidence_requests", ()):
        records.append(MilestoneRecord(r["stage"], f"{EVIDENCE}-{r['number']}", r["requested_on"], r["due_on"],
                                       r["sent_on"], 0, False, determined))
    for o in getattr(case, "orders", ()):
        records.append(MilestoneRecord(o["stage"], f"{ORDER}-{o['number']}", o["made_on"], o["due_on"],
                                       o["complied_on"], 0, False, None))
    return [r for r in records
            if not (r.done_on is None and r.cutoff_on is not None and r.due_on >= r.cutoff_on)]


def ombudsman_deadlines(case: Any, calendar: WorkingCalendar, as_of: date) -> list[Deadline]:
    """The evidence requests and orders judged as of `as_of`, as the case's other deadlines are."""
    judged = (judge(record, calendar, as_of) for record in ombudsman_records(case))
    return [d for d in judged if d is not None]


def record_row(record: MilestoneRecord) -> list[Any]:
    """A record as JSON (the breach table keeps each case's dated record to judge it as of a past date)."""
    def d(day: date | None) -> str | None:
        return day.isoformat() if day else None

    return [record.stage, record.milestone, d(record.stage_started_on), d(record.due_on), d(record.done_on),
            d(record.cutoff_on)]


def record_from_row(row: list[Any]) -> MilestoneRecord:
    def d(day: str | None) -> date | None:
        return date.fromisoformat(day) if day else None

    stage, milestone, started, due, done, cutoff = row
    return MilestoneRecord(stage, milestone, d(started), d(due), d(done), 0, False, d(cutoff))


def ombudsman_view(case: Any, calendar: WorkingCalendar, as_of: date) -> dict[str, list[dict[str, Any]]]:
    """The requests and orders as `show` gives them, each judged as of `as_of` (status met, late, pending or
    overdue, and working days late); those made after `as_of` are left out."""
    judged: dict[str, Deadline | None] = {}
    for record in ombudsman_records(case):
        judged[record.milestone] = judge(record, calendar, as_of)

    def judgement(name: str) -> dict[str, Any] | None:
        d = judged.get(name)
        return None if d is None else {"status": d.status, "working_days_late": d.working_days_late}

    requests = []
    for r in getattr(case, "evidence_requests", ()):
        if r["requested_on"] > as_of:
            continue
        sent = r["sent_on"] if r["sent_on"] and r["sent_on"] <= as_of else None
        j = judgement(f"{EVIDENCE}-{r['number']}") or {"status": "unanswered at determination",
                                                         "working_days_late": 0}
        requests.append({"number": r["number"], "requested_on": r["requested_on"], "due_on": r["due_on"],
                         "sent_on": sent, **j, "late": j["status"] in ("late", "overdue")})
    orders = []
    for o in getattr(case, "orders", ()):
        if o["made_on"] > as_of:
            continue
        done = o["complied_on"] is not None and o["complied_on"] <= as_of
        j = judgement(f"{ORDER}-{o['number']}")
        orders.append({"number": o["number"], "text": o["text"], "made_on": o["made_on"], "due_on": o["due_on"],
                       "complied_on": o["complied_on"] if done else None,
                       "evidence": o["evidence"] if done else None, **(j or {}),
                       "late": bool(j and j["status"] in ("late", "overdue"))})
    return {"evidence_requests": requests, "orders": orders}
