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
from . import reads
from .reads import count, days_open, latest, query  # noqa: F401 - `list`'s queries, as SQL text both paths run
from ..domain.deadlines import milestone_records, next_milestone

NAME, VERSION = reads.CASE_STATUS, reads.CASE_STATUS_VERSION
MONEY = sa.Numeric(12, 2)


class CaseStatus:
    name = NAME
    version = VERSION

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]:
        return {"cases": sa.Table(
            reads.table_name("cases", suffix), metadata,
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
