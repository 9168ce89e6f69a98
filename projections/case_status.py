"""case_status: one row per complaint — where it stands and what is due next.

Rows hold only what does not change with the calendar (next due date, not "overdue"), so a row is correct until the
case's next event; "overdue" and "days open" are worked out when the rows are read.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from ..domain.complaint import OPEN, REFERRED, Complaint
from ..domain.ombudsman import ombudsman_records
from ..adapters.projection_store import Write
from ..domain.deadlines import milestone_records, next_milestone

NAME = "case_status"
VERSION = 3  # v2: policy_hash, so working-day filters use the exact pinned calendar; v3: complainant_id, closed_on
MONEY = sa.Numeric(12, 2)


class CaseStatus:
    name = NAME
    version = VERSION

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]:
        return {"cases": sa.Table(
            f"rm_case_status_{suffix}", metadata,
            sa.Column("ref", sa.String(40), primary_key=True),
            sa.Column("policy", sa.String(64), nullable=False),
            sa.Column("policy_version", sa.String(32), nullable=False),
            sa.Column("policy_hash", sa.String(64), nullable=False),
            sa.Column("status", sa.String(16), nullable=False, index=True),
            sa.Column("stage", sa.Integer, nullable=False),
            sa.Column("stage_name", sa.String(120), nullable=False),
            sa.Column("category", sa.String(120), nullable=True),
            sa.Column("channel", sa.String(20), nullable=False),
            sa.Column("received_on", sa.Date, nullable=False, index=True),
            sa.Column("ended_on", sa.Date, nullable=True),
            sa.Column("closed_on", sa.Date, nullable=True),
            sa.Column("complainant_id", sa.String(16), nullable=True, index=True),
            sa.Column("next_milestone", sa.String(16), nullable=True),
            sa.Column("next_due_on", sa.Date, nullable=True, index=True),
            sa.Column("next_provisional", sa.Boolean, nullable=False),
            sa.Column("compensation_requested", MONEY, nullable=False),
            sa.Column("compensation_approved", MONEY, nullable=False),
            sa.Column("compensation_ordered", MONEY, nullable=False),
            sa.Column("compensation_paid", MONEY, nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("last_position", sa.BigInteger, nullable=False),
        )}

    def writes(self, page: Any) -> list[Write]:
        latest = page.latest_cases()
        return [Write("cases", [row(case, position, page.policy_of(case), page.milestones(case))
                                for case, position in latest.values()], page.earlier_refs(latest))]


def row(case: Complaint, position: int, policy: Any, milestones: list | None = None) -> dict[str, Any]:
    """The case_status row for a case: also what the from-scratch check computes."""
    records = milestone_records(case, policy) if milestones is None else milestones
    nxt = next_milestone(records, case.stage) if case.status == OPEN else None
    if case.status == REFERRED:  # what the Ombudsman is waiting for: the earliest evidence or order still due
        nxt = next_milestone([r for r in ombudsman_records(case) if r.cutoff_on is None], case.stage)
    c = case.compensation
    return {
        "ref": case.ref,
        "policy": case.policy_name,
        "policy_version": case.policy_version,
        "policy_hash": case.policy_hash,
        "status": case.status,
        "stage": case.stage,
        "stage_name": policy.stage(case.stage).name,
        "category": case.category,
        "channel": case.channel,
        "received_on": case.received_on,
        "ended_on": case.ended_on,
        "closed_on": case.closed_on,
        "complainant_id": case.complainant_id,
        "next_milestone": nxt.milestone if nxt else None,
        "next_due_on": nxt.due_on if nxt else None,
        "next_provisional": bool(nxt and nxt.provisional),
        "compensation_requested": c["requested"],
        "compensation_approved": c["approved"],
        "compensation_ordered": c["ordered"],
        "compensation_paid": c["paid"],
        "version": case.version,
        "last_position": position,
    }


def days_open(received_on: date, ended_on: date | None, today: date) -> int:
    return ((ended_on or today) - received_on).days


def _where(table: sa.Table, *, status: str | None, stage: int | None, overdue: bool, due_within: int | None,
           category: str | None, today: date, refs: set[str] | None) -> list[Any]:
    """The conditions of a `list` (what `query` and `count` select by)."""
    c = table.c
    where: list[Any] = []
    if refs is not None:
        where.append(c.ref.in_(sorted(refs)))
    if status:
        where.append(c.status == status)
    if stage:
        where.append(c.stage == stage)
    if category:
        where.append(sa.func.lower(c.category) == category.strip().lower())
    awaited = c.status.in_(("open", "referred"))  # a referred case awaits the Ombudsman's evidence and orders
    if overdue:
        where += [awaited, c.next_due_on < today]
    if due_within is not None:
        where += [awaited, c.next_due_on.is_not(None)]
    return where


def query(runner: Any, *, status: str | None = None, stage: int | None = None, overdue: bool = False,
          due_within: int | None = None, category: str | None = None, today: date,
          refs: set[str] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows for `complaints list`, oldest first, with the calendar-dependent columns worked out for `today`; with
    `refs`, only those cases (what `find` found); with `limit`, the first so many (not with `due_within`, whose
    working days are each case's own calendar's, counted here)."""
    table = runner.live_tables(NAME)["cases"]
    q = sa.select(table).where(*_where(table, status=status, stage=stage, overdue=overdue, due_within=due_within,
                                       category=category, today=today, refs=refs))
    q = q.order_by(table.c.received_on, table.c.ref)
    if limit is not None and due_within is None:
        q = q.limit(limit)
    with runner.engine.connect() as conn:
        result = conn.execute(q)
        keys = list(result.keys())
        rows = [dict(zip(keys, r)) for r in result.tuples()]
    if due_within is not None:
        # Working days depend on each case's pinned profile (nation, closure days).
        horizon = {}
        for h in {r["policy_hash"] for r in rows}:
            horizon[h] = runner.ledger.policy_by_hash(h).working_calendar.add_working_days(today, due_within)
        rows = [r for r in rows if r["next_due_on"] <= horizon[r["policy_hash"]]]
    for r in rows:
        r["overdue"] = bool(r["status"] in ("open", "referred") and r["next_due_on"] and r["next_due_on"] < today)
        r["days_open"] = days_open(r["received_on"], r["ended_on"], today)
    return rows


def count(runner: Any, *, status: str | None = None, stage: int | None = None, overdue: bool = False,
          category: str | None = None, today: date) -> int:
    """How many cases `query` would list (without `due_within`): what a screenful of them is out of."""
    table = runner.live_tables(NAME)["cases"]
    q = sa.select(sa.func.count()).select_from(table).where(
        *_where(table, status=status, stage=stage, overdue=overdue, due_within=None, category=category, today=today,
                refs=None))
    with runner.engine.connect() as conn:
        return conn.execute(q).scalar() or 0


def latest(runner: Any, refs: set[str], n: int) -> tuple[int, set[str]]:
    """How many of `refs` have a case, and the `n` of them received most recently (as `query` orders them), for a
    `find` that shows a screenful of thousands: reading only their references, not every row."""
    table = runner.live_tables(NAME)["cases"]
    q = (sa.select(table.c.ref).where(table.c.ref.in_(sorted(refs)))
         .order_by(table.c.received_on.desc(), table.c.ref.desc()))
    with runner.engine.connect() as conn:
        found = conn.execute(q).scalars().all()
    return len(found), set(found[:n])


def retention_review(runner: Any, *, as_of: date, closed_before: date | None) -> list[dict[str, Any]]:
    """People whose cases are past their retention period (`complaints retention`), leaving out those already
    erased. The rule is the domain's; this reads the cases it needs."""
    from ..domain.data_subject import retention_review as review

    table = runner.live_tables(NAME)["cases"]
    c = table.c
    with runner.engine.connect() as conn:
        people = sa.select(c.complainant_id).where(
            c.complainant_id.is_not(None), c.ended_on.is_not(None)).distinct().subquery()
        rows = [dict(r._mapping) for r in conn.execute(
            sa.select(c.ref, c.complainant_id, c.status, c.ended_on, c.closed_on, c.policy_hash)
            .where(c.complainant_id.in_(sa.select(people.c.complainant_id))))]
    ledger = runner.ledger
    found = review(rows, as_of=as_of, closed_before=closed_before,
                   years_of=lambda h: ledger.policy_by_hash(h).retention_years)
    return [p for p in found if ledger.data_subject(p["complainant_id"]).erasure is None]
