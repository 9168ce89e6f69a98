"""deadlines: one row per (case, stage, milestone) — the breach table.

Rows hold the milestone as recorded (due date, done date, extension, when its stage ended); whether it was met, late,
pending or overdue, and by how many working days, is judged when the rows are read, as of any date. A second table
keeps each case's dated procedural record, so that "breaches as of 31 March" for a case that moved on since is
judged on the record as it stood that day (later acknowledgements or extensions do not rewrite the past), exactly
as `show --as-of` replays it.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa

from ..adapters.projection_store import Write
from ..domain.complaint import StageProgress
from ..domain.deadlines import MilestoneRecord, RecordAsOf, judge, milestone_records, record_as_of
from ..domain.ombudsman import ombudsman_records, record_from_row, record_row

NAME = "deadlines"
VERSION = 2  # v2: the dated record per case, for as-of judgements
BREACHES = ("late", "overdue")


class Deadlines:
    name = NAME
    version = VERSION

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]:
        return {"milestones": sa.Table(
            f"rm_deadlines_{suffix}", metadata,
            sa.Column("ref", sa.String(40), primary_key=True),
            sa.Column("stage", sa.Integer, primary_key=True),
            sa.Column("milestone", sa.String(16), primary_key=True),
            sa.Column("policy", sa.String(64), nullable=False),
            sa.Column("policy_hash", sa.String(64), nullable=False),
            sa.Column("category", sa.String(120), nullable=True),
            sa.Column("stage_started_on", sa.Date, nullable=False),
            sa.Column("due_on", sa.Date, nullable=False, index=True),
            sa.Column("done_on", sa.Date, nullable=True),
            sa.Column("extended_by", sa.Integer, nullable=False),
            sa.Column("provisional", sa.Boolean, nullable=False),
            sa.Column("cutoff_on", sa.Date, nullable=True),
            sa.Column("last_position", sa.BigInteger, nullable=False),
        ), "cases": sa.Table(
            f"rm_deadlines_cases_{suffix}", metadata,
            sa.Column("ref", sa.String(40), primary_key=True),
            sa.Column("policy_hash", sa.String(64), nullable=False),
            sa.Column("category", sa.String(120), nullable=True),
            sa.Column("received_on", sa.Date, nullable=False),
            sa.Column("last_step_on", sa.Date, nullable=False, index=True),
            sa.Column("record", sa.Text, nullable=False),
        )}

    def writes(self, page: Any) -> list[Write]:
        latest = page.latest_cases()
        earlier = page.earlier_refs(latest)
        return [Write("milestones", [r for case, position in latest.values()
                                     for r in rows(case, position, page.policy_of(case), page.milestones(case))],
                      earlier),
                Write("cases", [case_row(case) for case, _ in latest.values()], earlier)]


def case_row(case: Any) -> dict[str, Any]:
    return {"ref": case.ref, "policy_hash": case.policy_hash, "category": case.category,
            "received_on": case.received_on, "last_step_on": case.last_step_on,
            "record": json.dumps(_record(case), separators=(",", ":"))}


def _record(case: Any) -> dict[str, Any]:
    """The dated facts deadlines depend on, as JSON."""
    def d(day: date | None) -> str | None:
        return day.isoformat() if day else None

    ombudsman = [record_row(r) for r in ombudsman_records(case)]  # only where there are any: earlier rows stand
    return {"ended_on": d(case.ended_on), **({"ombudsman": ombudsman} if ombudsman else {}), "stages": [{
        "number": p.number, "started_on": d(p.started_on), "acknowledged_on": d(p.acknowledged_on),
        "contacted_on": d(p.contacted_on), "hearings": [d(h["occurred_on"]) for h in p.hearings],
        "extensions": [[e["working_days"], d(e["occurred_on"])] for e in p.extensions],
        "responded_on": d(p.responded_on), **({"closed_on": d(p.closed_on)} if p.closed_on else {}),
    } for p in case.stages]}


def _from_record(data: dict[str, Any]) -> RecordAsOf:
    """The stored record (its JSON already parsed) as the domain's RecordAsOf."""

    def d(day: str | None) -> date | None:
        return date.fromisoformat(day) if day else None

    stages = [StageProgress(
        number=s["number"], started_on=d(s["started_on"]), acknowledged_on=d(s["acknowledged_on"]),
        contacted_on=d(s["contacted_on"]), hearings=[{"occurred_on": d(h)} for h in s["hearings"]],
        extensions=[{"working_days": n, "occurred_on": d(on)} for n, on in s["extensions"]],
        responded_on=d(s["responded_on"]), closed_on=d(s.get("closed_on")),
    ) for s in data["stages"]]
    return RecordAsOf(stages, d(data["ended_on"]))


def rows(case: Any, position: int, policy: Any, milestones: list | None = None) -> list[dict[str, Any]]:
    """The deadlines rows for a case: also what the from-scratch check computes."""
    records = milestone_records(case, policy) if milestones is None else milestones
    records = [*records, *ombudsman_records(case)]  # the Ombudsman's evidence requests and orders (their own dates)
    return [{
        "ref": case.ref, "stage": r.stage, "milestone": r.milestone, "policy": case.policy_name,
        "policy_hash": case.policy_hash, "category": case.category, "stage_started_on": r.stage_started_on,
        "due_on": r.due_on, "done_on": r.done_on, "extended_by": r.extended_by, "provisional": r.provisional,
        "cutoff_on": r.cutoff_on, "last_position": position,
    } for r in records]


def breaches(runner: Any, *, as_of: date, due_from: date | None = None, due_to: date | None = None,
             category: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Milestones late or overdue as of `as_of` (falling due between `due_from` and `due_to`, if given), judged
    with each case's pinned calendar on the record as it stood that day: a milestone done after `as_of` counts as
    overdue on it, and steps taken after it (a late acknowledgement, an extension) do not move its due dates.
    In order of due date (then case, stage, milestone); `limit` gives only the first so many, which the database
    finds by walking the due-date index, so a screenful costs the same however many cases are open."""
    tables = runner.live_tables(NAME)
    m, cases = tables["milestones"], tables["cases"]
    # The cases whose record has not moved on since as_of are judged by the database: their rows hold the record
    # as it stood then. Rows are read as plain tuples, the head first and then the MilestoneRecord's fields in
    # order (a report may judge a hundred thousand).
    settled = sa.select(m.c.ref, m.c.policy, m.c.policy_hash, m.c.category, m.c.stage, m.c.milestone,
                        m.c.stage_started_on, m.c.due_on, m.c.done_on, m.c.extended_by, m.c.provisional,
                        m.c.cutoff_on).where(
        m.c.stage_started_on <= as_of, m.c.due_on < as_of,
        sa.or_(m.c.done_on > m.c.due_on,  # done late (and by as_of, since the record had settled by then)
               sa.and_(m.c.done_on.is_(None),  # or undone, and not cut off (superseded, ended) before falling due
                       sa.or_(m.c.cutoff_on.is_(None), m.c.cutoff_on > as_of, m.c.due_on < m.c.cutoff_on))),
    ).order_by(m.c.due_on, m.c.ref, m.c.stage, m.c.milestone)
    moved_on = sa.select(cases).where(cases.c.last_step_on > as_of, cases.c.received_on <= as_of)
    if due_from is not None:
        settled = settled.where(m.c.due_on >= due_from)
    if due_to is not None:
        settled = settled.where(m.c.due_on <= due_to)
    if category:
        settled = settled.where(sa.func.lower(m.c.category) == category.strip().lower())
        moved_on = moved_on.where(sa.func.lower(cases.c.category) == category.strip().lower())
    if limit is not None:
        settled = settled.limit(limit)
    policies = runner.ledger.policy_by_hash
    found = []
    with runner.engine.connect() as conn:
        latest_step = conn.execute(sa.select(sa.func.max(cases.c.last_step_on))).scalar()
        if latest_step is not None and latest_step > as_of:  # as of a past date: some cases have moved on since
            settled = settled.join(cases, cases.c.ref == m.c.ref).where(cases.c.last_step_on <= as_of)
            for c in conn.execute(moved_on):
                policy = policies(c.policy_hash)
                record = json.loads(c.record)
                ombudsman = [record_from_row(row) for row in record.get("ombudsman", ())]  # judged as of by `judge`
                for r in [*milestone_records(record_as_of(_from_record(record), as_of), policy), *ombudsman]:
                    if (due_from is None or r.due_on >= due_from) and (due_to is None or r.due_on <= due_to):
                        found.append((c.ref, policy.name, c.policy_hash, c.category, r))
        found.extend((r[0], r[1], r[2], r[3], MilestoneRecord(*r[4:])) for r in conn.execute(settled))
    calendars = {h: policies(h).working_calendar for h in {f[2] for f in found}}
    out = []
    for ref, policy_name, policy_hash, category_name, milestone in found:
        judged = judge(milestone, calendars[policy_hash], as_of)
        if judged is None or judged.status not in BREACHES:
            continue
        out.append({
            "ref": ref, "stage": milestone.stage, "milestone": milestone.milestone, "due_on": judged.due_on,
            "done_on": judged.done_on, "extended_by": milestone.extended_by, "status": judged.status,
            "working_days_late": judged.working_days_late, "policy": policy_name, "category": category_name,
        })
    out.sort(key=lambda r: (r["due_on"], r["ref"], r["stage"], r["milestone"]))
    return out if limit is None else out[:limit]
