"""Deadlines derived from a case's history and its pinned policy profile.

Nothing here is stored: a deadline is a pure function of the events and the rules, so a correction to history or a
replay "as of" a past date gives the right answer without migrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Protocol

from .policy import COMPLETION_ANCHOR, Policy

if TYPE_CHECKING:
    from .complaint import StageProgress


class CaseLike(Protocol):
    stages: list["StageProgress"]
    ended_on: date | None


@dataclass(frozen=True)
class Deadline:
    stage: int
    milestone: str
    due_on: date
    done_on: date | None
    extended_by: int
    provisional: bool
    status: str  # pending | overdue | met | late
    working_days_late: int

    def as_dict(self) -> dict:
        return {
            "stage": self.stage,
            "milestone": self.milestone,
            "due_on": self.due_on.isoformat(),
            "done_on": self.done_on.isoformat() if self.done_on else None,
            "status": self.status,
            "extended_by": self.extended_by,
            "provisional": self.provisional,
            "working_days_late": self.working_days_late,
        }


def done_on(progress: "StageProgress", milestone: str) -> date | None:
    """When a milestone was met. A full response within the acknowledgement period also acknowledges."""
    if milestone == "acknowledge":
        return progress.acknowledged_on or progress.responded_on
    if milestone == "contact":
        return progress.contacted_on
    if milestone == "hearing":
        return progress.hearings[0]["occurred_on"] if progress.hearings else None
    return progress.responded_on


def stage_deadlines(policy: Policy, progress: "StageProgress") -> list[tuple[str, date, date | None, int, bool]]:
    """(milestone, due, done, extended_by, provisional) for one stage, in the profile's order.

    An anchor that has not happened yet stands in with its own due date, and the result is marked provisional.
    """
    stage = policy.stage(progress.number)
    cal = policy.working_calendar
    anchors: dict[str, tuple[date, bool]] = {stage.start_anchor: (progress.started_on, False)}
    rows = []
    for m in stage.milestones:
        anchor_date, provisional = anchors[m.anchor]
        due = cal.add_working_days(anchor_date, m.offset) if m.unit == "working" else anchor_date + timedelta(m.offset)
        extended_by = 0
        if m.name == "respond" and progress.extension_days:
            extended_by = progress.extension_days
            due = cal.add_working_days(due, extended_by)
        done = done_on(progress, m.name)
        if done is None:
            anchors[COMPLETION_ANCHOR[m.name]] = (due, True)
        elif m.name == "acknowledge" and progress.acknowledged_on is None:
            # Acknowledged only by the response itself: the response clock cannot start at the response, so it
            # starts when the acknowledgement was due (or at the response, if that came sooner).
            anchors[COMPLETION_ANCHOR[m.name]] = (min(done, due), False)
        else:
            anchors[COMPLETION_ANCHOR[m.name]] = (done, False)
        rows.append((m.name, due, done, extended_by, provisional))
    return rows


def deadlines(case: CaseLike, policy: Policy, as_of: date) -> list[Deadline]:
    """Every milestone of every stage the case has entered, judged as of `as_of`.

    A milestone left undone when its stage was superseded (escalation) or the case ended (closure, withdrawal,
    refusal, early resolution) stays as a breach if it was already past due by then, and is dropped otherwise.
    """
    cal = policy.working_calendar
    result: list[Deadline] = []
    for i, progress in enumerate(case.stages):
        if i + 1 < len(case.stages):
            cutoff = case.stages[i + 1].started_on
        else:
            cutoff = case.ended_on
        for name, due, done, extended_by, provisional in stage_deadlines(policy, progress):
            if done is not None:
                status = "met" if done <= due else "late"
                late = max(0, cal.working_days_between(due, done))
            else:
                if cutoff is not None and due >= cutoff:
                    continue
                status = "overdue" if as_of > due else "pending"
                # A missed milestone stops accruing lateness when its stage was superseded or the case ended.
                until = min(as_of, cutoff) if cutoff is not None else as_of
                late = max(0, cal.working_days_between(due, until)) if status == "overdue" else 0
            result.append(Deadline(progress.number, name, due, done, extended_by, provisional, status, late))
    return result


def next_milestone(all_deadlines: list[Deadline], stage: int) -> Deadline | None:
    """The earliest undone milestone of the current stage: what the officer must do next."""
    open_ones = [d for d in all_deadlines if d.stage == stage and d.done_on is None]
    return min(open_ones, key=lambda d: d.due_on) if open_ones else None
