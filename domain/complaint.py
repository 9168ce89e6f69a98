"""The Complaint aggregate: every action on a case is an immutable, past-tense event.

Public verbs (acknowledge, escalate, review …) check the procedure's rules against the case's history and the pinned
policy profile, then call a private `@event` method that only records the fact. Replaying events never re-checks rules,
so a rule tightened later cannot make old history unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from decimal import Decimal
from typing import Any, Callable
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .lean_events import created, lean_commands
from .deadlines import Deadline, deadlines, next_milestone, stage_deadlines
from .errors import InvalidAction, InvalidAmount, InvalidDate
from .ombudsman import ombudsman_deadlines
from .policy import Policy
from .limits import MAX_EXTENSION_WORKING_DAYS, MAX_ITEMS
from .values import (add_months, business_date, fmt_pounds, happened, new_complainant_id, plain_text, pounds,
                     quoted, text_items, within_dates)
from .search import uprn as property_uprn
from .vocabulary import CHANNELS, FEEDBACK_KINDS, FINDINGS, OUTCOMES, PANEL_ROLES, TENURES

NAMESPACE = uuid5(NAMESPACE_URL, "https://complaints-ledger/ids")

# Statuses a case can be in; "open" covers every stage of the procedure.
OPEN, RESOLVED_EARLY, REFUSED, WITHDRAWN, CLOSED, REFERRED = (
    "open", "resolved-early", "refused", "withdrawn", "closed", "referred"
)
ENDED = (CLOSED, REFUSED, WITHDRAWN, RESOLVED_EARLY)  # nothing more to handle (a referred case awaits the Ombudsman)
# Events that are commentary rather than steps: they may be dated anywhere in the case's life.
COMMENTARY = ("NoteAdded", "LearningRecorded")


def not_recorded_before(field: str) -> Any:
    """The upcaster for a field an event gained in its next version: events stored before then did not record it,
    so it reads back as None ("not recorded"), never as an assumed value."""

    def upcast(state: dict[str, Any]) -> None:
        state[field] = None

    return staticmethod(upcast)


# Decisions that need authority (refusal, compensation approved or declined, a deviation, a stage 2+ review, and
# the staff directory's changes) record `authenticated`: True when the actor is the login the database authenticated
# (PostgreSQL's session_user), False when the name was typed (SQLite, a legacy import); None for decisions stored
# before the field existed (not recorded, so not authenticated either).
AUTHORITY_EVENTS = ("Refused", "Reviewed", "CompensationApproved", "CompensationDeclined", "DeviationApproved",
                    "Corrected", "LateEscalationAccepted")


@lru_cache(maxsize=4096)
def complaint_id(ref: str) -> UUID:
    """A case's id follows from its reference, so lookup by reference is a key read and uniqueness is enforced by
    the event store's (id, version) constraint, with no index to scan or race on. Kept for the last few thousand
    references: a bulk import asks for each new case's id three times (is it held? issue it; create the case)."""
    return uuid5(NAMESPACE, f"complaint:{ref}")


@dataclass
class StageProgress:
    """What has happened at one stage of the procedure."""

    number: int
    started_on: date
    reason: str | None = None
    acknowledged_on: date | None = None
    contacted_on: date | None = None
    hearings: list[dict[str, Any]] = field(default_factory=list)
    extensions: list[dict[str, Any]] = field(default_factory=list)
    responded_on: date | None = None
    outcome: str | None = None
    response_summary: str | None = None
    remedies: list[str] = field(default_factory=list)
    closed_on: date | None = None  # set when a case closed at this stage is reopened by escalation

    @property
    def extension_days(self) -> int:
        return sum(e["working_days"] for e in self.extensions)


def _text(value: str | None, what: str, kind: str = "text") -> str:
    """Required text, by the ledger's rule for its kind (values.plain_text: length, no control characters)."""
    return plain_text(value, what, kind)  # type: ignore[return-value]


def _optional(value: str | None, what: str, kind: str = "text") -> str | None:
    return plain_text(value, what, kind, required=False)


def _choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidAction(f"{what} {quoted(value)} is not one of: {', '.join(allowed)}")
    return value


@lean_commands
class Complaint(Aggregate):
    """One complaint, from receipt to closure (and any Housing Ombudsman referral)."""

    @staticmethod
    def create_id(ref: str) -> UUID:  # type: ignore[override]
        return complaint_id(ref)

    # ------------------------------------------------------------------------------------------------ receipt
    @classmethod
    def receive(
        cls,
        *,
        ref: str,
        policy: Policy,
        complainant: str,
        channel: str,
        summary: str,
        received_on: date,
        today: date,
        actor: str,
        issue_date: date | None = None,
        category: str | None = None,
        property_ref: str | None = None,
        contact: str | None = None,
        representative: str | None = None,
        representative_authorised: bool = False,
        complainant_id: str | None = None,
        source: str | None = None,
        uprn: str | None = None,
        tenure: str | None = None,
    ) -> "Complaint":
        happened(received_on, today, "received date")
        if issue_date is not None and issue_date > received_on:
            raise InvalidDate(f"issue date {issue_date} is after the complaint was received ({received_on})")
        if issue_date is not None:
            within_dates(issue_date, "issue date")
        representative = _optional(representative, "the representative's name", "name")
        if representative_authorised and not representative:
            raise InvalidAction("--authorised needs the representative's name (--representative NAME)")
        case = created(
            cls,
            ref=ref,
            policy_name=policy.name,
            policy_version=policy.version,
            policy_hash=policy.content_hash,
            complainant=_text(complainant, "complainant", "name"),
            channel=_choice(channel, CHANNELS, "channel"),
            summary=_text(summary, "summary"),
            occurred_on=received_on,
            actor=actor,
            issue_date=issue_date,
            category=(_optional(category, "category", "short") or "").lower() or None,
            property_ref=_optional(property_ref, "property", "short"),
            contact=_optional(contact, "contact", "contact"),
            representative=representative,
            representative_authorised=bool(representative_authorised),
            complainant_id=complainant_id or new_complainant_id(),
            source=source,
            uprn=property_uprn(uprn),
            tenure=a_tenure(tenure) if tenure is not None else policy.default_tenure,
        )
        # Not state (no event sets it): tells the application this person is new, so there is no record to look up.
        case.new_complainant = complainant_id is None
        return case

    class Received(Aggregate.Created):
        """A complaint arrived. v2 names its data subject (`complainant_id`), whose key encrypts the case's personal
        data; cases received before v2 have none, and their personal data was stored unencrypted. v3 says where an
        imported case came from (`source`, e.g. "legacy-cases.csv line 12"); None for a case entered live, and
        "not recorded" for cases received before v3. v4: the home's Unique Property Reference Number (`uprn`,
        digits), beside the free-text address (`property_ref`), so that repeat complaints about one home are known;
        None when not given, and for cases received before v4. v5: the home's tenure (`tenure`: lcra, lcho or
        other), which the Regulator's TSM return splits CH01 and CH02 by; the profile's `default_tenure` when not
        given, and None ("not recorded") for cases received before v5: they count in the all-tenure figures only,
        until `complaints correct REF --field tenure` says which it was."""

        class_version = 5
        ref: str
        policy_name: str
        policy_version: str
        policy_hash: str
        complainant: str
        channel: str
        summary: str
        occurred_on: date
        actor: str
        issue_date: date | None
        category: str | None
        property_ref: str | None
        contact: str | None
        representative: str | None
        representative_authorised: bool
        complainant_id: str | None
        source: str | None
        uprn: str | None
        tenure: str | None

        upcast_v1_v2 = not_recorded_before("complainant_id")
        upcast_v2_v3 = not_recorded_before("source")
        upcast_v3_v4 = not_recorded_before("uprn")
        upcast_v4_v5 = not_recorded_before("tenure")

    @event(Received)
    def __init__(
        self,
        *,
        ref: str,
        policy_name: str,
        policy_version: str,
        policy_hash: str,
        complainant: str,
        channel: str,
        summary: str,
        occurred_on: date,
        actor: str,
        issue_date: date | None,
        category: str | None,
        property_ref: str | None,
        contact: str | None,
        representative: str | None,
        representative_authorised: bool,
        complainant_id: str | None,
        source: str | None,
        uprn: str | None = None,
        tenure: str | None = None,
    ) -> None:
        self.ref = ref
        self.tenure = tenure
        self.complainant_id = complainant_id
        self.source = source
        self.uprn = uprn
        self.policy_name = policy_name
        self.policy_version = policy_version
        self.policy_hash = policy_hash
        self.complainant = complainant
        self.channel = channel
        self.summary = summary
        self.received_on = occurred_on
        self.issue_date = issue_date
        self.category = category
        self.property_ref = property_ref
        self.contact_details = contact
        self.representative = (
            {"name": representative, "authorised": representative_authorised, "authorised_on": occurred_on
             if representative_authorised else None}
            if representative else None
        )
        self.status = OPEN
        self.stages = [StageProgress(number=1, started_on=occurred_on)]
        self.ended_on: date | None = None
        self.last_step_on = occurred_on
        self.last_step = "Received"
        self.resolution: dict[str, Any] | None = None
        self.refusal: dict[str, Any] | None = None
        self.withdrawal: dict[str, Any] | None = None
        self.compensation = {
            "requested": Decimal("0.00"), "approved": Decimal("0.00"), "declined": Decimal("0.00"),
            "ordered": Decimal("0.00"), "paid": Decimal("0.00"), "offset": Decimal("0.00"),
        }
        self.pending_compensation: Decimal | None = None
        self.referred_on: date | None = None
        self.determination: dict[str, Any] | None = None
        self.evidence_requests: list[dict[str, Any]] = []  # the Ombudsman's requests for evidence (ombudsman block)
        self.orders: list[dict[str, Any]] = []  # the determination's orders with due dates (ombudsman block)
        self.closed_on: date | None = None
        self.notes: list[dict[str, Any]] = []
        self.deviations: list[dict[str, Any]] = []
        self.learning: list[dict[str, Any]] = []
        self.satisfaction: dict[str, Any] | None = None
        self.step_dates: dict[int, tuple[str, date, int]] = {1: ("Received", occurred_on, 1)}  # see corrections
        self.corrections: list[dict[str, Any]] = []
        self.late_escalations: list[dict[str, Any]] = []

    # ------------------------------------------------------------------------------------------------ queries
    @property
    def stage(self) -> int:
        return len(self.stages)

    @property
    def reopenings(self) -> list[dict[str, Any]]:
        """Each time the case was reopened: the stage closed, when, and when the escalation reopened it. Read from
        the stages (a reopened stage keeps its closure; the next one starts at the escalation), so that a corrected
        escalation date moves the reopening with it."""
        return [{"stage": done.number, "closed_on": done.closed_on, "occurred_on": after.started_on}
                for done, after in zip(self.stages, self.stages[1:]) if done.closed_on is not None]

    @property
    def current(self) -> StageProgress:
        return self.stages[-1]

    def deadlines(self, policy: Policy, as_of: date) -> list[Deadline]:
        """The procedure's milestones and, after a referral, the Ombudsman's evidence requests and orders."""
        return deadlines(self, policy, as_of) + ombudsman_deadlines(self, policy.working_calendar, as_of)

    def next_milestone(self, policy: Policy, as_of: date) -> Deadline | None:
        if self.status != OPEN:
            return None
        return next_milestone(self.deadlines(policy, as_of), self.stage)

    def respond_due(self, policy: Policy) -> date:
        return next(due for name, due, *_ in stage_deadlines(policy, self.current) if name == "respond")

    def time_limit_ends(self, policy: Policy) -> date | None:
        """Last day the policy accepts a complaint about the issue, if the issue date is known."""
        if policy.time_limit_months is None or self.issue_date is None:
            return None
        return add_months(self.issue_date, policy.time_limit_months)

    def appeal_closes(self, policy: Policy) -> date | None:
        """Last day to escalate after this stage's response, where the policy sets an appeal window."""
        if policy.appeal_window_days is None or self.current.responded_on is None:
            return None
        return self.current.responded_on + timedelta(days=policy.appeal_window_days)

    def deemed_accepted_on(self, policy: Policy) -> date | None:
        """Where the policy deems a response accepted after silence, the day that happens (if still open)."""
        if policy.deemed_acceptance_days is None or self.current.responded_on is None or self.status != OPEN:
            return None
        if self.stage >= policy.last_stage:
            return None
        return self.current.responded_on + timedelta(days=policy.deemed_acceptance_days)

    # ------------------------------------------------------------------------------------------------ guards
    def _check_date(self, on: date, today: date, *, step: bool = True) -> None:
        happened(on, today, then="; record an action on the day it happened")
        if on < self.received_on:
            raise InvalidDate(f"{on} is before {self.ref} was received ({self.received_on})")
        if step and on < self.last_step_on:
            raise InvalidDate(
                f"{on} is before this case's latest step ({event_words(self.last_step)} on {self.last_step_on}); "
                "steps must be recorded in the order they happened"
            )

    def _require_open(self, doing: str) -> None:
        if self.status != OPEN:
            raise InvalidAction(f"cannot {doing}: {self.ref} is {self._status_words()}")

    def _status_words(self) -> str:
        return {
            RESOLVED_EARLY: f"already resolved early (on {self.ended_on})",
            REFUSED: f"refused (on {self.ended_on})",
            WITHDRAWN: f"withdrawn (on {self.ended_on})",
            CLOSED: f"closed (on {self.closed_on})",
            REFERRED: f"referred to the Housing Ombudsman (on {self.referred_on})",
        }.get(self.status, "open")

    # ------------------------------------------------------------------------------------------------ stage steps
    def acknowledge(self, *, on: date, today: date, actor: str) -> None:
        self._require_open("acknowledge")
        self._check_date(on, today)
        if self.current.acknowledged_on is not None:
            raise InvalidAction(
                f"stage {self.stage} of {self.ref} was already acknowledged on {self.current.acknowledged_on}"
            )
        if self.current.responded_on is not None:
            raise InvalidAction(f"stage {self.stage} of {self.ref} has already been responded to; "
                                "the response counts as its acknowledgement")
        self._acknowledged(stage=self.stage, occurred_on=on, actor=actor)

    @event("Acknowledged")
    def _acknowledged(self, stage: int, occurred_on: date, actor: str) -> None:
        self.current.acknowledged_on = occurred_on
        self._stepped("Acknowledged", occurred_on)

    def contact(self, *, on: date, today: date, actor: str, summary: str | None = None) -> None:
        self._require_open("record the initial contact")
        self._check_date(on, today)
        if self.current.contacted_on is not None:
            raise InvalidAction(f"the initial contact for stage {self.stage} of {self.ref} was already recorded "
                                f"on {self.current.contacted_on}; add a note for further contact")
        self._contacted(stage=self.stage, occurred_on=on, actor=actor,
                        summary=_optional(summary, "the summary of the contact"))

    @event("Contacted")
    def _contacted(self, stage: int, occurred_on: date, actor: str, summary: str | None) -> None:
        self.current.contacted_on = occurred_on
        self._stepped("Contacted", occurred_on)

    def extend(self, *, policy: Policy, working_days: int, reason: str, agreed: bool, on: date, today: date,
               actor: str, ombudsman_details_given: bool = False) -> None:
        self._require_open("extend the deadline")
        self._check_date(on, today)
        reason = _text(reason, "the reason for the extension")
        if isinstance(working_days, bool) or not isinstance(working_days, int) or working_days < 1:
            raise InvalidAction(f"an extension must be at least 1 working day, not {quoted(working_days)}")
        if working_days > MAX_EXTENSION_WORKING_DAYS:
            raise InvalidAction(f"an extension of {working_days:,} working days is more than a working year "
                                f"({MAX_EXTENSION_WORKING_DAYS}); check the figure")
        if self.current.responded_on is not None:
            raise InvalidAction(f"stage {self.stage} of {self.ref} has already been responded to; nothing to extend")
        due = self.respond_due(policy)
        if on > due:
            raise InvalidAction(
                f"the stage {self.stage} response on {self.ref} was due on {due}: an extension has to be agreed "
                "before the deadline passes; recorded afterwards it would hide a late response"
            )
        stage = policy.stage(self.stage)
        if stage.extension_cap == 0:
            raise InvalidAction(f"{policy.name} allows no extensions at stage {self.stage}")
        used = self.current.extension_days
        if used + working_days > stage.extension_cap:
            raise InvalidAction(
                f"extending stage {self.stage} by {working_days} working days would exceed {policy.name}'s cap of "
                f"{stage.extension_cap} working days for {stage.name} ({used} already used)"
            )
        if stage.extension_requires_agreement and not agreed:
            raise InvalidAction(
                f"{policy.name} requires a new response date to be agreed with the complainant: "
                "agree it first, then record the extension as agreed"
            )
        self._extended(stage=self.stage, working_days=working_days, reason=reason, agreed=bool(agreed),
                       ombudsman_details_given=bool(ombudsman_details_given), occurred_on=on, actor=actor)

    class Extended(Aggregate.Event):
        """A response deadline moved. v2 records whether the Ombudsman's contact details were given with it (Code
        6.5); extensions recorded before v2 did not say, so they read back as None: not recorded."""

        class_version = 2
        stage: int
        working_days: int
        reason: str
        agreed: bool
        ombudsman_details_given: bool | None
        occurred_on: date
        actor: str

        upcast_v1_v2 = not_recorded_before("ombudsman_details_given")

    @event(Extended)
    def _extended(self, stage: int, working_days: int, reason: str, agreed: bool,
                  ombudsman_details_given: bool | None, occurred_on: date, actor: str) -> None:
        self.current.extensions.append(
            {"working_days": working_days, "reason": reason, "agreed": agreed,
             "ombudsman_details_given": ombudsman_details_given, "occurred_on": occurred_on}
        )
        self._stepped("Extended", occurred_on)

    def respond(self, *, outcome: str, on: date, today: date, actor: str, summary: str | None = None,
                remedies: list[str] | tuple[str, ...] = ()) -> None:
        self._require_open("record a response")
        self._check_date(on, today)
        if self.stage != 1:
            raise InvalidAction(f"{self.ref} is at stage {self.stage}: record that stage's decision as a review")
        self._check_not_decided()
        self._responded(stage=1, outcome=_choice(outcome, OUTCOMES, "outcome"),
                        summary=_optional(summary, "the summary of the decision"),
                        remedies=text_items(remedies, "a remedy", "remedies"), occurred_on=on, actor=actor)

    @event("Responded")
    def _responded(self, stage: int, outcome: str, summary: str | None, remedies: list[str], occurred_on: date,
                   actor: str) -> None:
        self._decided(outcome, summary, remedies, occurred_on)
        self._stepped("Responded", occurred_on)

    def escalate(self, *, policy: Policy, on: date, today: date, actor: str, reason: str | None = None,
                 late_reason: str | None = None, authenticated: bool = False) -> None:
        """Move the case to the next stage at the resident's request. A case closed after its stage's response is
        reopened at the next stage (Reopened, then Escalated): the landlord must escalate when asked (Code 2024), and
        closing a stage once it has been answered is everyday practice. Where the profile sets an appeal window the
        request must come within it, unless someone with authority accepts it late with a reason (`late_reason`:
        LateEscalationAccepted), since the Code says an escalation must not be unreasonably refused."""
        reopening = self.status == CLOSED
        if reopening:
            self._check_reopenable()
        else:
            self._require_open("escalate")
        self._check_date(on, today)
        if self.stage >= policy.last_stage:
            raise InvalidAction(
                f"{self.ref} is at stage {self.stage}, the final stage of {policy.name}; if the resident remains "
                f"dissatisfied they can refer it to the {policy.ombudsman}"
            )
        late_reason = None if late_reason is None else _text(late_reason, "the reason for accepting it late")
        window_closed_on = None
        responded = self.current.responded_on
        if responded is None:
            due = self.respond_due(policy)
            if on <= due:
                raise InvalidAction(
                    f"stage {self.stage} of {self.ref} has not been responded to yet and its response is not overdue "
                    f"(due {due}); escalate after the response, or once it is late"
                )
        else:
            closes = self.appeal_closes(policy)
            if closes is not None and on > closes:
                if late_reason is None:
                    raise InvalidAction(
                        f"the {policy.appeal_window_days}-day appeal window of {policy.name} closed on {closes} "
                        f"(response sent {responded}); the outcome is deemed accepted, unless someone with authority "
                        "accepts the escalation late (--late-reason)"
                    )
                window_closed_on = closes
        if late_reason is not None and window_closed_on is None:
            closes = self.appeal_closes(policy)
            raise InvalidAction(
                f"{self.ref} can be escalated on {on} without a late reason: "
                + (f"{policy.name} sets no appeal window" if policy.appeal_window_days is None else
                   f"it is within the appeal window of {policy.name} (it closes {closes})" if closes is not None else
                   f"the stage {self.stage} response is overdue")
            )
        reason = _optional(reason, "the reason for escalating")
        if window_closed_on is not None:
            self._late_escalation_accepted(stage=self.stage, window_closed_on=window_closed_on, reason=late_reason,
                                           occurred_on=on, actor=actor, authenticated=authenticated)
        if reopening:
            self._reopened(stage=self.stage, closed_on=self.closed_on, occurred_on=on, actor=actor)
        self._escalated(to_stage=self.stage + 1, reason=reason, occurred_on=on, actor=actor)

    def reopen_by(self, policy: Policy) -> date | None:
        """For a closed case the resident may still escalate: the last day they can, where the profile sets an
        appeal window (None otherwise, or when the closure cannot be reopened)."""
        if self.status != CLOSED or self.referred_on is not None or self.stage >= policy.last_stage:
            return None
        return self.appeal_closes(policy)

    def _check_reopenable(self) -> None:
        """Only a closure after the landlord's own response can be undone by escalating: once the Housing Ombudsman
        has determined the case, the landlord's procedure is over."""
        if self.referred_on is not None:
            raise InvalidAction(f"cannot escalate: {self.ref} was closed on {self.closed_on} after the Housing "
                                "Ombudsman's determination; the landlord's procedure has ended")

    class LateEscalationAccepted(Aggregate.Event):
        """An escalation after the profile's appeal window, accepted by someone with authority, and why (the Code:
        a landlord must not unreasonably refuse to escalate). Recorded just before the Escalated it allows."""

        stage: int
        window_closed_on: date
        reason: str
        occurred_on: date
        actor: str
        authenticated: bool | None

    @event(LateEscalationAccepted)
    def _late_escalation_accepted(self, stage: int, window_closed_on: date, reason: str, occurred_on: date,
                                  actor: str, authenticated: bool | None) -> None:
        self.late_escalations.append({"stage": stage, "window_closed_on": window_closed_on, "reason": reason,
                                      "occurred_on": occurred_on, "actor": actor, "authenticated": authenticated})
        self._stepped("LateEscalationAccepted", occurred_on)

    class Reopened(Aggregate.Event):
        """A closed case is open again because the resident escalated it; the Escalated that follows says to which
        stage. `stage` is the stage it had been closed at, `closed_on` when."""

        stage: int
        closed_on: date
        occurred_on: date
        actor: str

    @event(Reopened)
    def _reopened(self, stage: int, closed_on: date, occurred_on: date, actor: str) -> None:
        self.current.closed_on = closed_on  # the closed stage's undone milestones stop at its closure, as before
        self.status = OPEN
        self.closed_on = None
        self.ended_on = None
        self._stepped("Reopened", occurred_on)

    @event("Escalated")
    def _escalated(self, to_stage: int, reason: str | None, occurred_on: date, actor: str) -> None:
        self.stages.append(StageProgress(number=to_stage, started_on=occurred_on, reason=reason))
        self._stepped("Escalated", occurred_on)

    def hold_hearing(self, *, policy: Policy, panel: list[dict[str, str]], on: date, today: date,
                     actor: str) -> None:
        self._require_open("record a hearing")
        self._check_date(on, today)
        stage = policy.stage(self.stage)
        if not stage.has_panel:
            raise InvalidAction(f"stage {self.stage} of {policy.name} ({stage.name}) has no panel hearing")
        if self.current.responded_on is not None:
            raise InvalidAction(f"stage {self.stage} of {self.ref} has already been decided")
        members = _panel(panel)
        counts = {role: sum(1 for m in members if m["role"] == role) for role in PANEL_ROLES}
        missing = [f"{r.at_least} {r.role.replace('-', ' ')}{'s' if r.at_least > 1 else ''} (has {counts[r.role]})"
                   for r in stage.panel if counts[r.role] < r.at_least]
        if missing:
            raise InvalidAction(
                f"the {stage.name} panel of {policy.name} must include at least " + "; ".join(missing)
            )
        self._hearing_held(stage=self.stage, panel=members, occurred_on=on, actor=actor)

    @event("HearingHeld")
    def _hearing_held(self, stage: int, panel: list[dict[str, str]], occurred_on: date, actor: str) -> None:
        self.current.hearings.append({"occurred_on": occurred_on, "panel": panel})
        self._stepped("HearingHeld", occurred_on)

    def review(self, *, policy: Policy, outcome: str, on: date, today: date, actor: str,
               summary: str | None = None, remedies: list[str] | tuple[str, ...] = (),
               authenticated: bool = False) -> None:
        self._require_open("record a review decision")
        self._check_date(on, today)
        if self.stage == 1:
            raise InvalidAction(f"{self.ref} is at stage 1: record its response (a review decides stage 2 or later)")
        self._check_not_decided()
        stage = policy.stage(self.stage)
        if stage.has_panel and not self.current.hearings:
            raise InvalidAction(f"{stage.name} of {policy.name} decides at a panel hearing: record the hearing first")
        self._reviewed(stage=self.stage, outcome=_choice(outcome, OUTCOMES, "outcome"),
                       summary=_optional(summary, "the summary of the decision"),
                       remedies=text_items(remedies, "a remedy", "remedies"), occurred_on=on, actor=actor,
                       authenticated=authenticated)

    class Reviewed(Aggregate.Event):
        """A stage 2 (or later) decision, taken by someone the policy gives it to. v2: `authenticated`."""

        class_version = 2
        stage: int
        outcome: str
        summary: str | None
        remedies: list[str]
        occurred_on: date
        actor: str
        authenticated: bool | None

        upcast_v1_v2 = not_recorded_before("authenticated")

    @event(Reviewed)
    def _reviewed(self, stage: int, outcome: str, summary: str | None, remedies: list[str], occurred_on: date,
                  actor: str, authenticated: bool | None) -> None:
        self._decided(outcome, summary, remedies, occurred_on)
        self._stepped("Reviewed", occurred_on)

    def _check_not_decided(self) -> None:
        if self.current.responded_on is not None:
            raise InvalidAction(
                f"stage {self.stage} of {self.ref} was already decided on {self.current.responded_on} "
                f"({self.current.outcome})"
            )

    def _decided(self, outcome: str, summary: str | None, remedies: list[str], on: date) -> None:
        self.current.responded_on = on
        self.current.outcome = outcome
        self.current.response_summary = summary
        self.current.remedies = list(remedies)

    # ------------------------------------------------------------------------------------------------ endings
    def resolve_early(self, *, policy: Policy, summary: str, on: date, today: date, actor: str) -> None:
        self._require_open("resolve early")
        self._check_date(on, today)
        summary = _text(summary, "the summary of the resolution")
        if not policy.early_resolution:
            raise InvalidAction(
                f"{policy.name} has no informal early resolution: log it as a stage 1 complaint and respond "
                "(a prompt stage 1 response is the Code's early resolution)"
            )
        if self.stage != 1 or self.current.acknowledged_on or self.current.responded_on:
            raise InvalidAction(f"{self.ref} is already in the formal procedure; it cannot be resolved early now")
        limit = policy.early_resolution_working_days
        if limit is not None:
            latest = policy.working_calendar.add_working_days(self.received_on, limit)
            if on > latest:
                raise InvalidAction(
                    f"early resolution under {policy.name} must happen within {limit} working days of receipt "
                    f"(by {latest}); handle {self.ref} as a formal stage 1 complaint"
                )
        self._resolved_early(summary=summary, occurred_on=on, actor=actor)

    @event("ResolvedEarly")
    def _resolved_early(self, summary: str, occurred_on: date, actor: str) -> None:
        self.status = RESOLVED_EARLY
        self.ended_on = occurred_on
        self.resolution = {"summary": summary, "occurred_on": occurred_on}
        self._stepped("ResolvedEarly", occurred_on)

    def refuse(self, *, policy: Policy, reason: str, explanation: str, on: date, today: date, actor: str,
               notice_sent_on: date | None = None, authenticated: bool = False) -> None:
        self._require_open("refuse")
        self._check_date(on, today)
        explanation = _text(explanation, "the explanation given to the complainant")
        if notice_sent_on is not None and not on <= notice_sent_on <= today:
            raise InvalidDate(f"the written notice of the refusal was sent on {notice_sent_on}: it must be on or "
                              f"after the refusal ({on}) and not in the future (today is {today})")
        if reason not in policy.refusal_reasons:
            raise InvalidAction(
                f"{policy.name} does not allow refusing a complaint as {quoted(reason)} "
                f"(it allows: {', '.join(policy.refusal_reasons)})"
            )
        if reason == "out-of-time":
            ends = self.time_limit_ends(policy)
            if ends is not None and self.received_on <= ends:
                raise InvalidAction(
                    f"{self.ref} is within {policy.name}'s {policy.time_limit_months}-month time limit (issue "
                    f"{self.issue_date}, complaint received {self.received_on}, limit {ends}); it cannot be "
                    "refused as out of time"
                )
        if reason == "excluded-category" and (self.category or "") not in policy.excluded_categories:
            raise InvalidAction(
                f"category {self.category or '(none)'!r} is not excluded by {policy.name} "
                f"(excluded: {', '.join(policy.excluded_categories) or 'none'})"
            )
        self._refused(stage=self.stage, reason=reason, explanation=explanation, notice_sent_on=notice_sent_on,
                      occurred_on=on, actor=actor, authenticated=authenticated)

    class Refused(Aggregate.Event):
        """The complaint will not be taken further. v2 records when the written notice went to the complainant
        (OHG: refusals are explained in writing); refusals recorded before v2 read back as None: not recorded.
        v3: `authenticated`."""

        class_version = 3
        stage: int
        reason: str
        explanation: str
        notice_sent_on: date | None
        occurred_on: date
        actor: str
        authenticated: bool | None

        upcast_v1_v2 = not_recorded_before("notice_sent_on")
        upcast_v2_v3 = not_recorded_before("authenticated")

    @event(Refused)
    def _refused(self, stage: int, reason: str, explanation: str, notice_sent_on: date | None, occurred_on: date,
                 actor: str, authenticated: bool | None) -> None:
        self.status = REFUSED
        self.ended_on = occurred_on
        self.refusal = {"stage": stage, "reason": reason, "explanation": explanation, "occurred_on": occurred_on,
                        "notice_sent_on": notice_sent_on}
        self._stepped("Refused", occurred_on)

    def withdraw(self, *, on: date, today: date, actor: str, reason: str | None = None) -> None:
        self._require_open("withdraw")
        self._check_date(on, today)
        self._withdrawn(stage=self.stage, reason=_optional(reason, "the reason for withdrawing"), occurred_on=on,
                        actor=actor)

    @event("Withdrawn")
    def _withdrawn(self, stage: int, reason: str | None, occurred_on: date, actor: str) -> None:
        self.status = WITHDRAWN
        self.ended_on = occurred_on
        self.withdrawal = {"stage": stage, "reason": reason, "occurred_on": occurred_on}
        self._stepped("Withdrawn", occurred_on)

    def close(self, *, on: date, today: date, actor: str) -> None:
        if self.status == REFERRED:
            if self.determination is None:
                raise InvalidAction(f"cannot close {self.ref}: the Housing Ombudsman has not yet made a determination")
            self._check_orders_complied()
        else:
            self._require_open("close")
            if self.current.responded_on is None:
                raise InvalidAction(
                    f"cannot close {self.ref}: stage {self.stage} has not been responded to "
                    "(to end it otherwise, withdraw or refuse it)"
                )
        self._check_date(on, today)
        self._closed(stage=self.stage, occurred_on=on, actor=actor)

    @event("Closed")
    def _closed(self, stage: int, occurred_on: date, actor: str) -> None:
        self.status = CLOSED
        self.closed_on = occurred_on
        self.ended_on = self.ended_on or occurred_on
        self._stepped("Closed", occurred_on)

    # ------------------------------------------------------------------------------------------------ ombudsman
    def refer(self, *, policy: Policy, on: date, today: date, actor: str) -> None:
        self._check_date(on, today)
        if self.referred_on is not None:
            raise InvalidAction(f"{self.ref} was already referred to the Housing Ombudsman on {self.referred_on}")
        if self.status in (WITHDRAWN, RESOLVED_EARLY):
            raise InvalidAction(f"cannot refer {self.ref} to the Housing Ombudsman: it is {self._status_words()}")
        final_response = self.stage == policy.last_stage and self.current.responded_on is not None
        landlord_late = (self.status == OPEN and self.current.responded_on is None
                         and on > self.respond_due(policy))
        if not (final_response or self.status == REFUSED or landlord_late):
            raise InvalidAction(
                f"{self.ref} has not completed {policy.name}'s procedure (stage {self.stage} of "
                f"{policy.last_stage}); the resident can refer it after the final response, a refusal, "
                "or when a response is overdue"
            )
        self._referred(stage=self.stage, occurred_on=on, actor=actor)

    @event("ReferredToOmbudsman")
    def _referred(self, stage: int, occurred_on: date, actor: str) -> None:
        self.status = REFERRED
        self.referred_on = occurred_on
        self._stepped("ReferredToOmbudsman", occurred_on)

    def record_determination(self, *, finding: str, orders: list[str] | tuple[str, ...], compensation: Decimal,
                             on: date, today: date, actor: str, order_dues: list[date] | tuple[date, ...] = ()) -> None:
        """`order_dues`, if given, pairs each order with its due date: the orders are then recorded one by one
        (OmbudsmanOrdered), tracked to compliance and holding the case open until complied with. Without them the
        orders are recorded as text in the determination, as before."""
        self._check_date(on, today)
        if self.status != REFERRED:
            raise InvalidAction(f"{self.ref} has not been referred to the Housing Ombudsman")
        if self.determination is not None:
            raise InvalidAction(f"the Housing Ombudsman's determination on {self.ref} was already recorded "
                                f"({self.determination['finding']} on {self.determination['occurred_on']})")
        texts = text_items(orders, "an order", "orders")
        dues = list(order_dues)
        if dues and len(dues) != len(texts):
            raise InvalidAction(f"{len(texts)} order(s) and {len(dues)} due date(s) given: give one --order-due "
                                "for each --order, in the same order")
        for due in dues:
            self._check_due(due, on, "an order")
        self._determined(finding=_choice(finding, FINDINGS, "finding"), orders=[] if dues else texts,
                         compensation=pounds(compensation, allow_zero=True, what="compensation ordered"),
                         occurred_on=on, actor=actor)
        for text, due in zip(texts, dues):
            self._ordered(number=len(self.orders) + 1, text=text, due_on=due, stage=self.stage, occurred_on=on,
                          actor=actor)

    @event("OmbudsmanDetermined")
    def _determined(self, finding: str, orders: list[str], compensation: Decimal, occurred_on: date,
                    actor: str) -> None:
        self.determination = {"finding": finding, "orders": list(orders), "compensation": compensation,
                              "occurred_on": occurred_on}
        self.compensation["ordered"] += compensation
        self._stepped("OmbudsmanDetermined", occurred_on)

    # ------------------------------------------------------------------------------------------------ ombudsman stage
    # After referral: the Ombudsman's evidence requests and the determination's orders, each due by a date and done
    # on one (domain/ombudsman.py judges them as deadlines). Numbered from 1 in the order recorded, per case.
    def request_evidence(self, *, due: date, on: date, today: date, actor: str) -> None:
        """The Ombudsman asked for the landlord's evidence by `due` (late evidence leads to a Complaint Handling
        Failure Order)."""
        self._check_date(on, today)
        if self.status != REFERRED:
            raise InvalidAction(f"cannot record an evidence request: {self.ref} is {self._status_words()}"
                                if self.referred_on else
                                f"cannot record an evidence request: {self.ref} has not been referred to the "
                                "Housing Ombudsman")
        self._check_due(due, on, "the evidence")
        self._check_room(self.evidence_requests, "evidence requests")
        self._evidence_requested(number=len(self.evidence_requests) + 1, due_on=due, stage=self.stage,
                                 occurred_on=on, actor=actor)

    @event("OmbudsmanEvidenceRequested")
    def _evidence_requested(self, number: int, due_on: date, stage: int, occurred_on: date, actor: str) -> None:
        self.evidence_requests.append({"number": number, "stage": stage, "requested_on": occurred_on,
                                       "due_on": due_on, "sent_on": None})
        self._stepped("OmbudsmanEvidenceRequested", occurred_on)

    def send_evidence(self, *, on: date, today: date, actor: str, request: int | None = None) -> int:
        """The landlord sent the evidence asked for by request `request` (default: the oldest still unanswered)."""
        self._check_date(on, today)
        if not self.evidence_requests:
            raise InvalidAction(f"no evidence request from the Housing Ombudsman is recorded on {self.ref}: record "
                                "it first (complaints ombudsman request REF --due DATE)")
        unanswered = [r for r in self.evidence_requests if r["sent_on"] is None]
        if request is None:
            if not unanswered:
                raise InvalidAction(f"every evidence request on {self.ref} has been answered")
            chosen = unanswered[0]
        else:
            chosen = self._numbered(self.evidence_requests, request, "evidence request")
            if chosen["sent_on"] is not None:
                raise InvalidAction(f"evidence request {request} on {self.ref} was already answered on "
                                    f"{chosen['sent_on']}")
        self._evidence_sent(number=chosen["number"], occurred_on=on, actor=actor)
        return chosen["number"]  # which request it answered (the oldest unanswered when none was named)

    @event("OmbudsmanEvidenceSent")
    def _evidence_sent(self, number: int, occurred_on: date, actor: str) -> None:
        self.evidence_requests[number - 1]["sent_on"] = occurred_on
        self._stepped("OmbudsmanEvidenceSent", occurred_on)

    def order(self, *, text: str, due: date, on: date, today: date, actor: str) -> None:
        """An order of the Ombudsman's determination, to be complied with by `due`."""
        self._check_date(on, today)
        if self.determination is None:
            raise InvalidAction(f"cannot record an order: the Housing Ombudsman's determination on {self.ref} is "
                                "not recorded (record it with its orders: complaints determination REF --order TEXT "
                                "--order-due DATE)")
        if self.status != REFERRED:
            raise InvalidAction(f"cannot record an order: {self.ref} is {self._status_words()}")
        self._check_due(due, on, "the order")
        self._check_room(self.orders, "orders")
        self._ordered(number=len(self.orders) + 1, text=_text(text, "the order"), due_on=due, stage=self.stage,
                      occurred_on=on, actor=actor)

    @event("OmbudsmanOrdered")
    def _ordered(self, number: int, text: str, due_on: date, stage: int, occurred_on: date, actor: str) -> None:
        self.orders.append({"number": number, "stage": stage, "text": text, "made_on": occurred_on,
                            "due_on": due_on, "complied_on": None, "evidence": None})
        self._stepped("OmbudsmanOrdered", occurred_on)

    def comply(self, *, on: date, today: date, actor: str, order: int | None = None,
               evidence: str | None = None) -> int:
        """The landlord complied with an order (`order`: its number; may be left out when only one is
        outstanding), with what shows it (e.g. "payment ref 123", "roof inspected, report sent")."""
        self._check_date(on, today)
        outstanding = [o for o in self.orders if o["complied_on"] is None]
        if not self.orders:
            raise InvalidAction(f"no order with a due date is recorded on {self.ref}")
        if order is None:
            if len(outstanding) != 1:
                raise InvalidAction(
                    f"every order on {self.ref} has been complied with" if not outstanding else
                    f"give --order N: orders {', '.join(str(o['number']) for o in outstanding)} on {self.ref} are "
                    "outstanding")
            chosen = outstanding[0]
        else:
            chosen = self._numbered(self.orders, order, "order")
            if chosen["complied_on"] is not None:
                raise InvalidAction(f"order {order} on {self.ref} was already complied with on "
                                    f"{chosen['complied_on']}")
        if on < chosen["made_on"]:
            raise InvalidDate(f"{on} is before order {chosen['number']} was made ({chosen['made_on']})")
        self._order_complied(number=chosen["number"], evidence=_optional(evidence, "the evidence of compliance"),
                             occurred_on=on, actor=actor)
        return chosen["number"]  # which order (the one outstanding when none was named)

    @event("OmbudsmanOrderComplied")
    def _order_complied(self, number: int, evidence: str | None, occurred_on: date, actor: str) -> None:
        done = self.orders[number - 1]
        done["complied_on"], done["evidence"] = occurred_on, evidence
        self._stepped("OmbudsmanOrderComplied", occurred_on)

    def _check_due(self, due: date, on: date, what: str) -> None:
        if not isinstance(due, date):
            raise InvalidDate(f"the due date for {what} {quoted(due)} is not a date")
        within_dates(due, "due date")
        if due < on:
            raise InvalidDate(f"the due date for {what} ({due}) is before it was made ({on})")

    def _check_room(self, items: list[dict[str, Any]], what: str) -> None:
        if len(items) >= MAX_ITEMS:
            raise InvalidAction(f"{self.ref} already has {len(items)} {what}, the most one case records")

    def _numbered(self, items: list[dict[str, Any]], number: int, what: str) -> dict[str, Any]:
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(items):
            shown = number if isinstance(number, int) and not isinstance(number, bool) else quoted(number)
            raise InvalidAction(f"{self.ref} has no {what} {shown} (it has {len(items)})")
        return items[number - 1]

    def _check_orders_complied(self) -> None:
        """A referred case closes only once every dated order is complied with (orders recorded without a due date,
        as before orders were tracked, do not hold it open)."""
        outstanding = [o for o in self.orders if o["complied_on"] is None]
        if outstanding:
            named = "; ".join(f"order {o['number']} {quoted(o['text'], 40)} due {o['due_on']}" for o in outstanding)
            raise InvalidAction(f"cannot close {self.ref}: the Housing Ombudsman's orders are not all complied "
                                f"with (outstanding: {named}); record compliance with complaints ombudsman complied")

    # ------------------------------------------------------------------------------------------------ compensation
    def request_compensation(self, *, policy: Policy, amount: Decimal, on: date, today: date, actor: str,
                             reason: str | None = None) -> None:
        self._check_date(on, today)
        if self.status in (WITHDRAWN,):
            raise InvalidAction(f"cannot request compensation: {self.ref} is {self._status_words()}")
        window = policy.compensation_request_window_days
        if window is not None and (on - self.received_on).days > window:
            raise InvalidAction(
                f"{policy.name} accepts compensation requests only within {window} days of the initial complaint "
                f"(received {self.received_on}); this request is {(on - self.received_on).days} days after"
            )
        if self.pending_compensation is not None:
            raise InvalidAction(f"a compensation request for {fmt_pounds(self.pending_compensation)} on {self.ref} "
                                "is still awaiting a decision")
        self._compensation_requested(amount=pounds(amount), reason=_optional(reason, "the reason for the request"),
                                     occurred_on=on, actor=actor)

    @event("CompensationRequested")
    def _compensation_requested(self, amount: Decimal, reason: str | None, occurred_on: date, actor: str) -> None:
        self.pending_compensation = amount
        self.compensation["requested"] += amount
        self._stepped("CompensationRequested", occurred_on)

    def approve_compensation(self, *, amount: Decimal, on: date, today: date, actor: str,
                             authenticated: bool = False) -> None:
        self._check_date(on, today)
        if self.pending_compensation is None:
            raise InvalidAction(f"no compensation request on {self.ref} is awaiting a decision: "
                                "record the request before approving it")
        self._compensation_approved(amount=pounds(amount), requested=self.pending_compensation, occurred_on=on,
                                    actor=actor, authenticated=authenticated)

    class CompensationApproved(Aggregate.Event):
        """Compensation approved, by someone the policy gives the decision to. v2: `authenticated`."""

        class_version = 2
        amount: Decimal
        requested: Decimal
        occurred_on: date
        actor: str
        authenticated: bool | None

        upcast_v1_v2 = not_recorded_before("authenticated")

    @event(CompensationApproved)
    def _compensation_approved(self, amount: Decimal, requested: Decimal, occurred_on: date, actor: str,
                               authenticated: bool | None) -> None:
        self.pending_compensation = None
        self.compensation["approved"] += amount
        self._stepped("CompensationApproved", occurred_on)

    def decline_compensation(self, *, on: date, today: date, actor: str, reason: str | None = None,
                             authenticated: bool = False) -> None:
        self._check_date(on, today)
        if self.pending_compensation is None:
            raise InvalidAction(f"no compensation request on {self.ref} is awaiting a decision")
        self._compensation_declined(amount=self.pending_compensation,
                                    reason=_optional(reason, "the reason for declining"), occurred_on=on, actor=actor,
                                    authenticated=authenticated)

    class CompensationDeclined(Aggregate.Event):
        """Compensation declined, by someone the policy gives the decision to. v2: `authenticated`."""

        class_version = 2
        amount: Decimal
        reason: str | None
        occurred_on: date
        actor: str
        authenticated: bool | None

        upcast_v1_v2 = not_recorded_before("authenticated")

    @event(CompensationDeclined)
    def _compensation_declined(self, amount: Decimal, reason: str | None, occurred_on: date, actor: str,
                               authenticated: bool | None) -> None:
        self.pending_compensation = None
        self.compensation["declined"] += amount
        self._stepped("CompensationDeclined", occurred_on)

    def pay_compensation(self, *, amount: Decimal, offset: Decimal, on: date, today: date, actor: str) -> None:
        self._check_date(on, today)
        amount, offset = pounds(amount), pounds(offset, allow_zero=True, what="offset")
        if offset > amount:
            raise InvalidAmount(f"the offset against arrears ({fmt_pounds(offset)}) cannot exceed the amount "
                                f"paid ({fmt_pounds(amount)})")
        payable = self.compensation["approved"] + self.compensation["ordered"]
        paid = self.compensation["paid"]
        if paid + amount > payable:
            raise InvalidAmount(
                f"paying {fmt_pounds(amount)} on {self.ref} would exceed the {fmt_pounds(payable)} approved or "
                f"ordered ({fmt_pounds(paid)} already paid)"
            )
        self._compensation_paid(amount=amount, offset=offset, occurred_on=on, actor=actor)

    @event("CompensationPaid")
    def _compensation_paid(self, amount: Decimal, offset: Decimal, occurred_on: date, actor: str) -> None:
        self.compensation["paid"] += amount
        self.compensation["offset"] += offset
        self._stepped("CompensationPaid", occurred_on)

    def deviate(self, *, reason: str, approved_by: str, on: date, today: date, actor: str,
                authenticated: bool = False) -> None:
        """Record a departure from the procedure and who agreed it (OHG: a Director, recorded and explained)."""
        self._check_date(on, today, step=False)
        self._deviation_approved(reason=_text(reason, "the reason for the deviation"),
                                 approved_by=_text(approved_by, "who approved the deviation", "name"), occurred_on=on,
                                 actor=actor, authenticated=authenticated)

    class DeviationApproved(Aggregate.Event):
        """A departure from the procedure and who approved it. v2: `authenticated` (True only when `approved_by` is
        the authenticated login's own staff member, who is then also the actor)."""

        class_version = 2
        reason: str
        approved_by: str
        occurred_on: date
        actor: str
        authenticated: bool | None

        upcast_v1_v2 = not_recorded_before("authenticated")

    @event(DeviationApproved)
    def _deviation_approved(self, reason: str, approved_by: str, occurred_on: date, actor: str,
                            authenticated: bool | None) -> None:
        self.deviations.append({"reason": reason, "approved_by": approved_by, "occurred_on": occurred_on,
                                "actor": actor, "authenticated": authenticated})

    # ------------------------------------------------------------------------------------------------ commentary
    def add_note(self, *, text: str, on: date, today: date, actor: str) -> None:
        self._check_date(on, today, step=False)
        self._note_added(text=_text(text, "the note", "long"), occurred_on=on, actor=actor)

    @event("NoteAdded")
    def _note_added(self, text: str, occurred_on: date, actor: str) -> None:
        self.notes.append({"text": text, "occurred_on": occurred_on, "actor": actor})

    def record_learning(self, *, text: str, on: date, today: date, actor: str) -> None:
        self._check_date(on, today, step=False)
        self._learning_recorded(text=_text(text, "the learning", "long"), occurred_on=on, actor=actor)

    @event("LearningRecorded")
    def _learning_recorded(self, text: str, occurred_on: date, actor: str) -> None:
        self.learning.append({"text": text, "occurred_on": occurred_on, "actor": actor})

    def record_satisfaction(self, *, score: int, on: date, today: date, actor: str) -> None:
        self._check_date(on, today)
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            shown = score if isinstance(score, int) and abs(score) < 10 ** 9 else quoted(score)
            raise InvalidAction(f"satisfaction score must be a whole number from 1 to 5, not {shown}")
        if self.satisfaction is not None:
            raise InvalidAction(f"satisfaction with {self.ref} was already recorded "
                                f"({self.satisfaction['score']} on {self.satisfaction['occurred_on']})")
        self._satisfaction_recorded(score=score, occurred_on=on, actor=actor)

    @event("SatisfactionRecorded")
    def _satisfaction_recorded(self, score: int, occurred_on: date, actor: str) -> None:
        self.satisfaction = {"score": score, "occurred_on": occurred_on}
        self._stepped("SatisfactionRecorded", occurred_on)

    def authorise_representative(self, *, name: str, on: date, today: date, actor: str,
                                 relationship: str | None = None) -> None:
        self._check_date(on, today)
        name = _text(name, "the representative's name", "name")
        relationship = _optional(relationship, "the relationship", "short")
        rep = self.representative
        if rep and rep["authorised"] and rep["name"].lower() == name.lower():
            raise InvalidAction(f"{name} is already authorised to act for the complainant on {self.ref}")
        self._representative_authorised(name=name, relationship=relationship, occurred_on=on, actor=actor)

    @event("RepresentativeAuthorised")
    def _representative_authorised(self, name: str, relationship: str | None, occurred_on: date,
                                   actor: str) -> None:
        self.representative = {"name": name, "authorised": True, "authorised_on": occurred_on,
                               "relationship": relationship}
        self._stepped("RepresentativeAuthorised", occurred_on)

    def _stepped(self, step: str, on: date) -> None:
        self.step_dates[self.version + 1] = (step, on, self.stage)  # the event being applied is the next version
        if on >= self.last_step_on:
            self.last_step_on = on
            self.last_step = step

    # ------------------------------------------------------------------------------------------------ corrections
    # A fact keyed wrongly (a received date, a channel, a step's date) is put right by a Corrected event, never by
    # editing the event that recorded it: the case then follows the corrected value, and the trail keeps both. Which
    # facts can be corrected, and how, is the CORRECTABLE table below the class (one entry per field), and which
    # steps can be re-dated is REDATABLE.
    def correct(self, *, reason: str, on: date, today: date, actor: str, field: str | None = None,
                to: Any = None, event_version: int | None = None, authenticated: bool = False) -> None:
        """Correct a fact keyed on receipt (`field` to the text `to`) or the business date of step `event_version`
        (`to` a date). Refused, with nothing recorded, if the case's dates would then be out of order, if the value
        is already the one recorded, or if the field is not one that can be corrected."""
        self._check_date(on, today, step=False)
        reason = _text(reason, "the reason for the correction")
        if (field is None) == (event_version is None):
            raise InvalidAction("say what to correct: a field (--field FIELD --to VALUE) or the date of a step "
                                "(--event N --on DATE)")
        if field is not None:
            name, entry = correctable(field)
            new = entry.parse(to)
            old = getattr(self, entry.attribute)
            if new == old:
                shown = "as given" if entry.personal else f"as {_shown(new)}"
                raise InvalidAction(f"the {name.replace('-', ' ')} of {self.ref} is already recorded {shown}: "
                                    "nothing to correct")
            entry.check(self, new, today)
            plain, personal = (None, None), (_dump(old), _dump(new))
            if not entry.personal:
                plain, personal = personal, plain
            self._corrected(field=name, event_version=None, step=None, old=plain[0], new=plain[1],
                            old_personal=personal[0], new_personal=personal[1], reason=reason, occurred_on=on,
                            actor=actor, authenticated=authenticated)
            return
        step, old_on, _ = self._redatable(event_version)
        new_on = happened(_a_date("corrected date")(to), today, "the corrected date",
                          then="; a step cannot have happened after today")
        if new_on == old_on:
            raise InvalidAction(f"event {event_version} of {self.ref} ({event_words(step)}) is already dated {old_on}: "
                                "nothing to correct")
        self._check_redate(event_version, step, new_on)
        self._corrected(field=None, event_version=event_version, step=step, old=old_on.isoformat(),
                        new=new_on.isoformat(), old_personal=None, new_personal=None, reason=reason, occurred_on=on,
                        actor=actor, authenticated=authenticated)

    def _redatable(self, version: int) -> tuple[str, date, int]:
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= self.version:
            shown = version if isinstance(version, int) and abs(version) < 10 ** 9 else quoted(version)
            raise InvalidAction(f"{self.ref} has no event {shown}: its events are 1 to {self.version} "
                                "(complaints history lists them)")
        if version == 1:
            raise InvalidAction(f"event 1 of {self.ref} is its receipt: correct that date with "
                                "--field received-date")
        found = self.step_dates.get(version)
        if found is None:
            raise InvalidAction(f"event {version} of {self.ref} is not a step of the procedure (a note, learning, "
                                "a deviation or a correction is dated as recorded); only a step's date can be "
                                "corrected")
        if found[0] not in REDATABLE:
            raise InvalidAction(f"the date of a {event_words(found[0])} step cannot be corrected; the steps whose "
                                f"date can be: {', '.join(event_words(s) for s in REDATABLE)}")
        return found

    def _check_redate(self, version: int, step: str, on: date) -> None:
        """A step's corrected date keeps the case's steps in the order they were recorded, after receipt."""
        if on < self.received_on:
            raise InvalidDate(f"{on} is before {self.ref} was received ({self.received_on})")
        before = [(v, s) for v, s in self.step_dates.items() if v < version]
        after = [(v, s) for v, s in self.step_dates.items() if v > version]
        if before:
            v, (name, day, _) = max(before)
            if on < day:
                raise InvalidDate(f"{on} is before the step recorded before it ({event_words(name)} on {day}, event {v}); "
                                  "steps stay in the order they happened")
        if after:
            v, (name, day, _) = min(after)
            if on > day:
                raise InvalidDate(f"{on} is after the step recorded after it ({event_words(name)} on {day}, event {v}); "
                                  "steps stay in the order they happened")
        if step == "Refused" and self.refusal and self.refusal.get("notice_sent_on") \
                and on > self.refusal["notice_sent_on"]:
            raise InvalidDate(f"{on} is after the refusal's written notice was sent "
                              f"({self.refusal['notice_sent_on']})")

    class Corrected(Aggregate.Event):
        """A fact recorded wrongly, put right: either a field keyed on receipt (`field`, see CORRECTABLE) or the
        business date of an earlier step (`event_version`, its `step` name). The old and new values are kept as text
        (dates as YYYY-MM-DD): in `old`/`new`, or, for a person's details (property, contact), sealed in
        `old_personal`/`new_personal`. `reason` is free text about the case, so sealed too. A correction needs
        authority, so it records `authenticated` like other decisions."""

        field: str | None
        event_version: int | None
        step: str | None
        old: str | None
        new: str | None
        old_personal: str | None
        new_personal: str | None
        reason: str
        occurred_on: date
        actor: str
        authenticated: bool | None

    @event(Corrected)
    def _corrected(self, field: str | None, event_version: int | None, step: str | None, old: str | None,
                   new: str | None, old_personal: str | None, new_personal: str | None, reason: str,
                   occurred_on: date, actor: str, authenticated: bool | None) -> None:
        if field is not None:
            entry = CORRECTABLE.get(field)
            if entry is not None:  # a field a later version stopped correcting still reads, and changes nothing
                value = new_personal if entry.personal else new
                entry.apply(self, entry.load(value) if value is not None else None)
        elif event_version in self.step_dates:
            name, was, stage = self.step_dates[event_version]
            on = date.fromisoformat(new)  # type: ignore[arg-type]
            REDATABLE.get(name, lambda *_: None)(self, self.stages[stage - 1], was, on)
            self.step_dates[event_version] = (name, on, stage)
            self._restep()
        self.corrections.append({"field": field, "event_version": event_version, "step": step,
                                 "old": old if old is not None else old_personal,
                                 "new": new if new is not None else new_personal,
                                 "reason": reason, "occurred_on": occurred_on, "actor": actor})

    def _restep(self) -> None:
        """The latest step again, after a step's (or the receipt's) date was corrected."""
        version, (name, on, _) = max(self.step_dates.items(), key=lambda item: (item[1][1], item[0]))
        self.last_step_on, self.last_step = on, name

    def _first_after_receipt(self) -> tuple[date, str] | None:
        """The earliest date anything else on the case is dated: a received date may not move past it."""
        dated = [(on, f"event {v} ({event_words(name)}, {on})") for v, (name, on, _) in self.step_dates.items()
                 if v > 1]
        dated += [(n["occurred_on"], f"a {what} dated {n['occurred_on']}") for what, items in
                  (("note", self.notes), ("deviation", self.deviations), ("learning", self.learning)) for n in items]
        return min(dated) if dated else None


# What in each event is a data subject's personal data: names and contacts, and the free text an officer writes about
# the case. It is encrypted with the complainant's key when stored, and reads back as ERASED once that key is
# destroyed. Left out on purpose: dates, stages, outcomes, codes and amounts (the statistics), staff names (panels,
# approvers), and recorded learning, which is the landlord's own lesson for its committee and must be written without
# personal details.
PERSONAL_DATA: dict[type, tuple[str, ...]] = {
    Complaint.Received: ("complainant", "contact", "summary", "representative", "property_ref", "uprn"),
    Complaint.Contacted: ("summary",),
    Complaint.Extended: ("reason",),
    Complaint.Responded: ("summary", "remedies"),
    Complaint.Escalated: ("reason",),
    Complaint.LateEscalationAccepted: ("reason",),
    Complaint.Reviewed: ("summary", "remedies"),
    Complaint.ResolvedEarly: ("summary",),
    Complaint.Refused: ("explanation",),
    Complaint.Withdrawn: ("reason",),
    Complaint.CompensationRequested: ("reason",),
    Complaint.CompensationDeclined: ("reason",),
    Complaint.OmbudsmanDetermined: ("orders",),
    Complaint.OmbudsmanOrdered: ("text",),
    Complaint.OmbudsmanOrderComplied: ("evidence",),
    Complaint.DeviationApproved: ("reason",),
    Complaint.NoteAdded: ("text",),
    Complaint.RepresentativeAuthorised: ("name", "relationship"),
    Complaint.Corrected: ("old_personal", "new_personal", "reason"),
}
ERASED = "[erased]"  # what an erased personal field reads as, everywhere


def _panel(panel: list[dict[str, str]]) -> list[dict[str, str]]:
    if not panel:
        raise InvalidAction("a hearing needs its panel members (NAME:ROLE)")
    if len(panel) > MAX_ITEMS:
        raise InvalidAction(f"{len(panel):,} panel members given; a panel has at most {MAX_ITEMS}")
    members, seen = [], set()
    for m in panel:
        name = _text(m.get("name"), "a panel member's name", "name")
        role = _choice(m.get("role", ""), PANEL_ROLES, f"panel role for {name}")
        if name.lower() in seen:
            raise InvalidAction(f"{name} is listed twice on the panel")
        seen.add(name.lower())
        members.append({"name": name, "role": role})
    return members


def event_words(event_name: str) -> str:
    """'ReferredToOmbudsman' -> 'referred to ombudsman'."""
    out = "".join(" " + c.lower() if c.isupper() else c for c in event_name).strip()
    return out


# ---------------------------------------------------------------------------------------------------- corrections
# The facts a person keys on receipt that `complaints correct REF --field FIELD --to VALUE` may put right: one entry
# per field, saying which attribute of the case it is, how typed text becomes a value (the rule `receive` applies),
# what else on the case the value must agree with, and whether it is a person's details (then sealed in the event).
@dataclass(frozen=True)
class Correctable:
    attribute: str
    parse: Callable[[Any], Any]
    check: Callable[["Complaint", Any, date], None] = lambda case, value, today: None
    personal: bool = False
    is_date: bool = False
    also: Callable[["Complaint", Any], None] = lambda case, value: None  # what else follows the value

    def load(self, text: str) -> Any:
        return date.fromisoformat(text) if self.is_date else text

    def apply(self, case: "Complaint", value: Any) -> None:
        setattr(case, self.attribute, value)
        self.also(case, value)


def _a_date(what: str) -> Callable[[Any], date]:
    """The one rule for a typed date (values.business_date: YYYY-MM-DD, within the dates the ledger records)."""
    return lambda text: business_date(text, what)


def _received_fits(case: "Complaint", day: date, today: date) -> None:
    happened(day, today, "the received date")
    if case.issue_date is not None and day < case.issue_date:
        raise InvalidDate(f"the received date {day} would be before the issue complained about ({case.issue_date})")
    first = case._first_after_receipt()
    if first is not None and day > first[0]:
        raise InvalidDate(f"the received date {day} would be after {first[1]}: a case is received before anything "
                          "else on it happens")


def _issue_fits(case: "Complaint", day: date, today: date) -> None:
    happened(day, today, "the issue date")
    if day > case.received_on:
        raise InvalidDate(f"the issue date {day} would be after the complaint was received ({case.received_on})")


def _received_moves(case: "Complaint", day: date) -> None:
    """Stage 1 starts at receipt, so its deadlines move with the received date."""
    case.stages[0].started_on = day
    case.step_dates[1] = ("Received", day, 1)
    case._restep()


CORRECTABLE: dict[str, Correctable] = {
    "received-date": Correctable("received_on", _a_date("received date"), _received_fits, is_date=True,
                                 also=_received_moves),
    "issue-date": Correctable("issue_date", _a_date("issue date"), _issue_fits, is_date=True),
    "channel": Correctable("channel", lambda t: _choice(t, CHANNELS, "channel")),
    "category": Correctable("category", lambda t: _text(t, "category", "short").lower()),
    "property": Correctable("property_ref", lambda t: _text(t, "property", "short"), personal=True),
    "contact": Correctable("contact_details", lambda t: _text(t, "contact", "contact"), personal=True),
    "uprn": Correctable("uprn", lambda t: _a_uprn(t), personal=True),
    # Not personal data: a category of home that the Regulator's return counts (docs/choices.md).
    "tenure": Correctable("tenure", lambda t: a_tenure(t)),
}


def a_tenure(text: Any) -> str:
    """A tenure as typed (any case): lcra, lcho or other, else one line listing them."""
    value = str(text).strip().lower() if isinstance(text, str) else text
    return _choice(value, TENURES, "tenure")


def _a_uprn(text: Any) -> str:
    """A corrected UPRN (domain/search.py: uprn): required, since a correction says what the UPRN is."""
    value = property_uprn(text)
    if value is None:
        raise InvalidAction("the corrected UPRN is missing: give its digits (--to DIGITS)")
    return value


# The names `receive` takes them by, and the ones a person reaching for the field would type, for the same entries.
FIELD_ALIASES = {"received-on": "received-date", "received": "received-date", "issued-on": "issue-date",
                 "issue": "issue-date", "property-ref": "property", "address": "property"}


def correctable(field: str) -> tuple[str, Correctable]:
    """The table's entry for a field as typed (any case; `_` for `-`; `receive`'s option names too), or one line
    listing those there are."""
    name = str(field).strip().lower().replace("_", "-").removeprefix("--")
    name = FIELD_ALIASES.get(name, name)
    if name not in CORRECTABLE:
        raise InvalidAction(f"{quoted(field)} cannot be corrected; the fields that can: {', '.join(CORRECTABLE)} "
                            "(or the date of a step: --event N --on DATE)")
    return name, CORRECTABLE[name]


def _redate_first(items: list[dict[str, Any]], was: date, on: date) -> None:
    for item in items:
        if item["occurred_on"] == was:
            item["occurred_on"] = on
            return


def _redate_ending(case: "Complaint", record: str, on: date) -> None:
    case.ended_on = on
    getattr(case, record)["occurred_on"] = on


def _redate_closure(case: "Complaint", on: date) -> None:
    if case.resolution is None and case.refusal is None and case.withdrawal is None:
        case.ended_on = on  # the closure ended the case (otherwise an earlier ending did)
    case.closed_on = on


# The steps `complaints correct REF --event N --on DATE` may re-date: those the procedure's deadlines, breaches and
# statistics are worked out from. Each entry moves the step's date wherever the case keeps it (the stage's progress
# is the stage the step was taken at). Money, satisfaction and representatives are dated as recorded.
REDATABLE: dict[str, Callable[["Complaint", StageProgress, date, date], None]] = {
    "Acknowledged": lambda case, p, was, on: setattr(p, "acknowledged_on", on),
    "Contacted": lambda case, p, was, on: setattr(p, "contacted_on", on),
    "Extended": lambda case, p, was, on: _redate_first(p.extensions, was, on),
    "HearingHeld": lambda case, p, was, on: _redate_first(p.hearings, was, on),
    "Responded": lambda case, p, was, on: setattr(p, "responded_on", on),
    "Reviewed": lambda case, p, was, on: setattr(p, "responded_on", on),
    "Escalated": lambda case, p, was, on: setattr(p, "started_on", on),
    "ResolvedEarly": lambda case, p, was, on: _redate_ending(case, "resolution", on),
    "Refused": lambda case, p, was, on: _redate_ending(case, "refusal", on),
    "Withdrawn": lambda case, p, was, on: _redate_ending(case, "withdrawal", on),
    "Closed": lambda case, p, was, on: _redate_closure(case, on),
    "ReferredToOmbudsman": lambda case, p, was, on: setattr(case, "referred_on", on),
    "OmbudsmanDetermined": lambda case, p, was, on: _redate_determination(case, was, on),
}


def _redate_determination(case: "Complaint", was: date, on: date) -> None:
    """The determination and the orders it made (recorded with it, so dated with it) move together."""
    case.determination.update(occurred_on=on)
    for order in case.orders:
        if order["made_on"] == was:
            order["made_on"] = on


def _dump(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def _shown(value: Any) -> str:
    return "(none)" if value is None else str(value)


class Feedback(Aggregate):
    """Feedback that is not a complaint: compliments, comments and suggestions, recorded and counted."""

    @staticmethod
    def create_id(ref: str) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE, f"feedback:{ref}")

    @classmethod
    def receive(cls, *, ref: str, kind: str, summary: str, received_on: date, today: date, actor: str,
                channel: str | None = None, subject: str | None = None,
                complainant_id: str | None = None) -> "Feedback":
        """`complainant_id`: the person who gave it, if already on record; otherwise a new data subject of its own,
        as for a new complaint, so that its free text is sealed and can be erased."""
        happened(received_on, today, "received date")
        feedback = cls(ref=ref, kind=_choice(kind, FEEDBACK_KINDS, "kind"), summary=_text(summary, "summary"),
                       channel=_choice(channel, CHANNELS, "channel") if channel else None,
                       subject=_optional(subject, "subject", "short"),
                       occurred_on=received_on, actor=actor, complainant_id=complainant_id or new_complainant_id())
        feedback.new_complainant = complainant_id is None  # as Complaint.receive: no record to look up
        return feedback

    class FeedbackReceived(Aggregate.Created):
        """Feedback arrived: a compliment, comment or suggestion. v2 names its data subject (`complainant_id`), whose
        key seals the summary; feedback received before v2 has none, and its summary was stored unencrypted."""

        class_version = 2
        ref: str
        kind: str
        summary: str
        channel: str | None
        subject: str | None
        occurred_on: date
        actor: str
        complainant_id: str | None

        upcast_v1_v2 = not_recorded_before("complainant_id")

    @event(FeedbackReceived)
    def __init__(self, *, ref: str, kind: str, summary: str, channel: str | None, subject: str | None,
                 occurred_on: date, actor: str, complainant_id: str | None) -> None:
        self.ref = ref
        self.complainant_id = complainant_id
        self.kind = kind
        self.summary = summary
        self.channel = channel
        self.subject = subject
        self.received_on = occurred_on


# Feedback's free text is a person's, like a complaint's (the class is defined after the table).
PERSONAL_DATA[Feedback.FeedbackReceived] = ("summary",)
