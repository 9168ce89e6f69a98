"""Deadlines derived from a case's history and its pinned policy profile.

Nothing here is stored: a deadline is a pure function of the events and the rules, so a correction to history or a
replay "as of" a past date gives the right answer without migrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

from .policy import COMPLETION_ANCHOR, Policy
from .working_days import WorkingCalendar

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


@dataclass(frozen=True)
class MilestoneRecord:
    """A milestone as the record stands: what is fixed by the events, before judging it as of a date."""

    stage: int
    milestone: str
    stage_started_on: date
    due_on: date
    done_on: date | None
    extended_by: int
    provisional: bool
    cutoff_on: date | None  # when the stage was superseded or the case ended; an undone milestone stops there


def milestone_records(case: CaseLike, policy: Policy) -> list[MilestoneRecord]:
    """Every milestone of every stage the case has entered, except those left undone that were not yet due when
    their stage was superseded (escalation) or the case ended (closure, withdrawal, refusal, early resolution). A
    stage closed and later reopened by escalation ended at its closure, so its figures do not change."""
    records = []
    for i, progress in enumerate(case.stages):
        cutoff = case.stages[i + 1].started_on if i + 1 < len(case.stages) else case.ended_on
        if progress.closed_on is not None and (cutoff is None or progress.closed_on < cutoff):
            cutoff = progress.closed_on  # closed at this stage, then reopened by escalation: it ended at the closure
        for name, due, done, extended_by, provisional in stage_deadlines(policy, progress):
            if done is None and cutoff is not None and due >= cutoff:
                continue
            records.append(MilestoneRecord(progress.number, name, progress.started_on, due, done, extended_by,
                                           provisional, cutoff))
    return records


@dataclass(frozen=True)
class RecordAsOf:
    """A case's procedural record cut back to what had happened by a date (a CaseLike)."""

    stages: list["StageProgress"]
    ended_on: date | None


def record_as_of(case: CaseLike, as_of: date) -> RecordAsOf:
    """The case's stages as they stood on `as_of`: later steps, extensions and hearings left out. Steps are recorded
    in business-date order, so this is what replaying the events dated up to `as_of` gives (`show --as-of`)."""
    from dataclasses import replace

    stages = []
    for progress in case.stages:
        if progress.started_on > as_of:
            break
        responded = progress.responded_on is not None and progress.responded_on <= as_of
        stages.append(replace(
            progress,
            acknowledged_on=_by(progress.acknowledged_on, as_of),
            contacted_on=_by(progress.contacted_on, as_of),
            hearings=[h for h in progress.hearings if h["occurred_on"] <= as_of],
            extensions=[e for e in progress.extensions if e["occurred_on"] <= as_of],
            responded_on=progress.responded_on if responded else None,
            outcome=progress.outcome if responded else None,
            closed_on=_by(progress.closed_on, as_of),
        ))
    return RecordAsOf(stages, _by(case.ended_on, as_of))


def _by(day: date | None, as_of: date) -> date | None:
    return day if day is not None and day <= as_of else None


def judge(record: MilestoneRecord, calendar: WorkingCalendar, as_of: date) -> Deadline | None:
    """The milestone as it stood on `as_of` (None if its stage had not begun): met or late if done by then,
    otherwise pending or overdue. A missed milestone stops accruing lateness when its stage was superseded or the
    case ended."""
    if record.stage_started_on > as_of:
        return None
    done = record.done_on if record.done_on is not None and record.done_on <= as_of else None
    cutoff = record.cutoff_on if record.cutoff_on is not None and record.cutoff_on <= as_of else None
    due = record.due_on
    if done is not None:
        status = "met" if done <= due else "late"
        late = max(0, calendar.working_days_between(due, done))
    else:
        if cutoff is not None and due >= cutoff:
            return None
        status = "overdue" if as_of > due else "pending"
        until = min(as_of, cutoff) if cutoff is not None else as_of
        late = max(0, calendar.working_days_between(due, until)) if status == "overdue" else 0
    return Deadline(record.stage, record.milestone, due, done, record.extended_by, record.provisional, status, late)


def deadlines(case: CaseLike, policy: Policy, as_of: date) -> list[Deadline]:
    """Every milestone of every stage the case has entered, judged as of `as_of` (see `judge`)."""
    cal = policy.working_calendar
    judged = (judge(record, cal, as_of) for record in milestone_records(case, policy))
    return [d for d in judged if d is not None]


# The Code's own timescales (§6.2-6.4, §6.11 and stage 2), whatever the landlord's profile says: TSM CH02 measures
# responses against these. (working days to respond after acknowledgement, most extension the Code allows)
CODE_ACKNOWLEDGE_DAYS = 5
CODE_RESPONSE_DAYS = {1: (10, 10), 2: (20, 20)}


def code_response_due(progress: "StageProgress", calendar: WorkingCalendar) -> date:
    """When the Code requires the stage's response: counted from acknowledgement, or from when acknowledgement was
    due if it came later (a late acknowledgement buys no time), plus any extension up to the Code's maximum.
    Stages beyond 2 (legacy three-stage profiles) are held to the stage 2 timescale."""
    days, most_extension = CODE_RESPONSE_DAYS[min(progress.number, 2)]
    acknowledge_due = calendar.add_working_days(progress.started_on, CODE_ACKNOWLEDGE_DAYS)
    anchor = min(progress.acknowledged_on or acknowledge_due, acknowledge_due)
    return calendar.add_working_days(anchor, days + min(progress.extension_days, most_extension))


_Due = TypeVar("_Due", Deadline, MilestoneRecord)


def next_milestone(milestones: list[_Due], stage: int) -> _Due | None:
    """The earliest undone milestone of `stage` (judged deadlines or bare records): what the officer must do next."""
    open_ones = [m for m in milestones if m.stage == stage and m.done_on is None]
    return min(open_ones, key=lambda m: m.due_on) if open_ones else None
