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


def code_response_clock(progress: "StageProgress", calendar: WorkingCalendar) -> tuple[date, str, date]:
    """The Code's one clock for a stage's response: (the date it counts from, why that date, the due date).

    Code 2024 §6.3 (stage 1: 10 working days) and the stage 2 rule (20) count from acknowledgement, which §6.2 and
    §6.11 require within 5 working days. Read together (the Code's own worst case is 25 working days from receipt at
    stage 1, 45 from the escalation request at stage 2), a late acknowledgement buys no time: the clock counts from
    the acknowledgement, or from the day it was due if it came later. Any extension counts up to the Code's maximum
    (§6.4: 10 further working days at stage 1, 20 at stage 2). Stages beyond 2 (legacy three-stage profiles) are
    held to the stage 2 timescale. TSM CH02, the committee's "within the Code" and the case sheet all use this."""
    acknowledge_due = calendar.add_working_days(progress.started_on, CODE_ACKNOWLEDGE_DAYS)
    if progress.acknowledged_on is not None and progress.acknowledged_on <= acknowledge_due:
        anchor, why = progress.acknowledged_on, "acknowledged"
    else:
        anchor, why = acknowledge_due, "acknowledgement due"
    return anchor, why, code_due_from(anchor, progress, calendar)


def code_due_from(anchor: date, progress: "StageProgress", calendar: WorkingCalendar) -> date:
    """The Code's response timescale for the stage (stage 2's beyond it), any extension up to the Code's maximum,
    counted in working days from `anchor`."""
    days, most_extension = CODE_RESPONSE_DAYS[min(progress.number, 2)]
    return calendar.add_working_days(anchor, days + min(progress.extension_days, most_extension))


def code_response_due(progress: "StageProgress", calendar: WorkingCalendar) -> date:
    """When the Code requires the stage's response (see `code_response_clock`)."""
    return code_response_clock(progress, calendar)[2]


def landlord_response_anchor(policy: Policy, progress: "StageProgress") -> tuple[date, str]:
    """What the landlord's own response deadline counts from in the case's profile, and which event that is: the
    anchor of the `respond` milestone as `stage_deadlines` resolves it (the actual acknowledgement, even a late one,
    under every profile shipped; the day acknowledgement was due while none has been recorded)."""
    stage = policy.stage(progress.number)
    respond = stage.milestone("respond")
    if respond is None:
        return progress.started_on, stage.start_anchor
    if respond.anchor == stage.start_anchor:
        return progress.started_on, respond.anchor
    completes = {done: name for name, done in COMPLETION_ANCHOR.items()}
    for name, due, done, _extended, _provisional in stage_deadlines(policy, progress):
        if name == completes.get(respond.anchor):
            if done is None:
                return due, f"{respond.anchor} due"
            if name == "acknowledge" and progress.acknowledged_on is None:
                return min(done, due), "responded"
            return done, respond.anchor
    return progress.started_on, stage.start_anchor


def timescales(policy: Policy, case: CaseLike, as_of: date) -> list[dict]:
    """Each stage's response judged twice: against the landlord's own deadline (its profile, as `deadlines` does)
    and against the Code's timescales (`code_response_clock`), each with the date it counts from. The two can
    differ: a profile may allow longer, or count from a late acknowledgement that the Code does not let buy time.
    `differ` says when the judgements disagree, so a case sheet can explain both rather than show one."""
    calendar = policy.working_calendar
    judged = {(d.stage, d.milestone): d for d in deadlines(case, policy, as_of)}
    out = []
    for progress in case.stages:  # judged on the same record as the landlord's deadlines (`deadlines`)
        mine = judged.get((progress.number, "respond"))
        if mine is None or progress.started_on > as_of:
            continue
        anchor, why, code_due = code_response_clock(progress, calendar)
        done = mine.done_on
        until = done or min(as_of, _cutoff(case, progress, as_of))
        if done is not None:
            code = "within" if done <= code_due else "outside"
        else:  # unanswered: late once the Code's date has passed (by as_of, or by when the stage ended)
            code = "overdue" if until > code_due else "pending"
        landlord_from, landlord_why = landlord_response_anchor(policy, progress)
        met = mine.status in ("met", "pending")
        out.append({
            "stage": progress.number,
            "responded_on": done,
            "landlord": {"due_on": mine.due_on, "counts_from": landlord_from, "counts_from_event": landlord_why,
                         "status": mine.status, "extended_by": mine.extended_by},
            "code": {"due_on": code_due, "counts_from": anchor, "counts_from_event": why, "status": code,
                     "extension_counted": min(progress.extension_days, CODE_RESPONSE_DAYS[min(progress.number, 2)][1]),
                     "working_days_late": max(0, calendar.working_days_between(code_due, until))
                     if code in ("outside", "overdue") else 0},
            "differ": met != (code in ("within", "pending")),
        })
    return out


def _cutoff(case: CaseLike, progress: "StageProgress", as_of: date) -> date:
    """When a stage stopped waiting for its response: the next stage began, the case ended, or (still open) as_of."""
    later = [p.started_on for p in case.stages if p.number > progress.number and p.started_on <= as_of]
    ends = later + [d for d in (progress.closed_on, case.ended_on) if d is not None and d <= as_of]
    return min(ends) if ends else as_of


_Due = TypeVar("_Due", Deadline, MilestoneRecord)


def next_milestone(milestones: list[_Due], stage: int) -> _Due | None:
    """The earliest undone milestone of `stage` (judged deadlines or bare records): what the officer must do next."""
    open_ones = [m for m in milestones if m.stage == stage and m.done_on is None]
    return min(open_ones, key=lambda m: m.due_on) if open_ones else None
