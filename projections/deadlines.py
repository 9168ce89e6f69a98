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
from . import reads
from .reads import BREACHES, breaches, from_record as _from_record  # noqa: F401 - as SQL text both paths run
from ..domain.deadlines import milestone_records
from ..domain.ombudsman import ombudsman_records, record_row

NAME, VERSION = reads.DEADLINES, reads.DEADLINES_VERSION


class Deadlines:
    name = NAME
    version = VERSION

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]:
        return {"milestones": sa.Table(
            reads.table_name("milestones", suffix), metadata,
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
            reads.table_name("deadline_cases", suffix), metadata,
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
