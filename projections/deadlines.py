"""deadlines: one row per (case, stage, milestone) — the breach table.

Rows hold the milestone as recorded (due date, done date, extension, when its stage ended); whether it was met, late,
pending or overdue, and by how many working days, is judged when the rows are read, as of any date. So "breaches as
of 31 March" and "breaches today" come from the same rows, and a row is correct until the case's next event.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from ..domain.deadlines import MilestoneRecord, judge, milestone_records

NAME = "deadlines"
VERSION = 1
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
        )}

    def apply(self, conn: sa.Connection, tables: dict[str, sa.Table], page: Any) -> None:
        latest = page.latest_cases()
        if not latest:
            return
        table = tables["milestones"]
        earlier = page.earlier_refs(latest)
        if earlier:
            conn.execute(table.delete().where(table.c.ref.in_(earlier)))
        values = [r for case, position in latest.values()
                  for r in rows(case, position, page.policy_of(case), page.milestones(case))]
        page.insert(conn, table, values)


def rows(case: Any, position: int, policy: Any, milestones: list | None = None) -> list[dict[str, Any]]:
    """The deadlines rows for a case: also what the from-scratch check computes."""
    records = milestone_records(case, policy) if milestones is None else milestones
    return [{
        "ref": case.ref, "stage": r.stage, "milestone": r.milestone, "policy": case.policy_name,
        "policy_hash": case.policy_hash, "category": case.category, "stage_started_on": r.stage_started_on,
        "due_on": r.due_on, "done_on": r.done_on, "extended_by": r.extended_by, "provisional": r.provisional,
        "cutoff_on": r.cutoff_on, "last_position": position,
    } for r in records]


def breaches(runner: Any, *, as_of: date, due_from: date | None = None, due_to: date | None = None,
             category: str | None = None) -> list[dict[str, Any]]:
    """Milestones late or overdue as of `as_of` (falling due between `due_from` and `due_to`, if given), judged
    with each case's pinned calendar. A milestone done after `as_of` counts as overdue on that date."""
    table = runner.live_tables(NAME)["milestones"]
    c = table.c
    q = sa.select(table).where(c.due_on < as_of, c.stage_started_on <= as_of).order_by(c.due_on, c.ref, c.stage)
    if due_from is not None:
        q = q.where(c.due_on >= due_from)
    if due_to is not None:
        q = q.where(c.due_on <= due_to)
    if category:
        q = q.where(sa.func.lower(c.category) == category.strip().lower())
    with runner.engine.connect() as conn:
        found = [r._mapping for r in conn.execute(q)]
    out = []
    for r in found:
        calendar = runner.ledger.policy_by_hash(r["policy_hash"]).working_calendar
        judged = judge(record(r), calendar, as_of)
        if judged is None or judged.status not in BREACHES:
            continue
        out.append({
            "ref": r["ref"], "stage": r["stage"], "milestone": r["milestone"], "due_on": r["due_on"],
            "done_on": judged.done_on, "extended_by": r["extended_by"], "status": judged.status,
            "working_days_late": judged.working_days_late, "policy": r["policy"], "category": r["category"],
        })
    return out


def record(r: Any) -> MilestoneRecord:
    return MilestoneRecord(r["stage"], r["milestone"], r["stage_started_on"], r["due_on"], r["done_on"],
                           r["extended_by"], r["provisional"], r["cutoff_on"])
