"""Legacy cases: complaints handled in a landlord's old system, rebuilt as the events a live case would have.

Each milestone date of a legacy case becomes the step it records, taken through the Complaint's own public verbs in
date order, so every rule of the case's policy profile is checked exactly as for live entry. The only differences
from the same case entered step by step: the actor is whoever imports it, and its Received event names the `source`
(file and line). The file itself is read by adapters/legacy_import.py; this module sees only parsed values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, NamedTuple
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .complaint import CLOSED, NAMESPACE, REFERRED, Complaint
from .errors import ComplaintsError, InvalidAction
from .policy import Policy

# The legacy file's columns, in the order the sample writes them; only REQUIRED ones must have a value.
COLUMNS = (
    "ref", "complainant", "contact", "property", "uprn", "tenure", "channel", "summary", "category", "policy",
    "issue_date", "received_on", "acknowledged_on", "responded_on", "outcome", "escalated_on",
    "stage2_acknowledged_on", "reviewed_on", "review_outcome", "compensation_approved", "compensation_paid",
    "referred_on", "closed_on",
)
REQUIRED = ("ref", "complainant", "channel", "summary", "received_on")
DATE_COLUMNS = ("issue_date", "received_on", "acknowledged_on", "responded_on", "escalated_on",
                "stage2_acknowledged_on", "reviewed_on", "referred_on", "closed_on")
AMOUNT_COLUMNS = ("compensation_approved", "compensation_paid")
# Decisions the case's profile gives to particular staff roles ([authority]), by the column that records them.
DECISIONS = (("reviewed_on", "decide_review", "decide a review"),
             ("compensation_approved", "approve_compensation", "decide on compensation"))


@dataclass(frozen=True)
class LegacyCase:
    """One row of a legacy file, parsed: None wherever the old system recorded nothing."""

    line: int
    source: str  # what the case's Received event says it came from, e.g. "legacy-cases.csv line 12"
    ref: str
    policy: Policy
    complainant: str
    channel: str
    summary: str
    received_on: date
    contact: str | None = None
    property_ref: str | None = None  # the home's address (the file's `property` column)
    uprn: str | None = None      # its Unique Property Reference Number (domain/search.py: uprn)
    tenure: str | None = None    # lcra, lcho or other; None: the case's profile's default_tenure
    category: str | None = None
    issue_date: date | None = None
    acknowledged_on: date | None = None
    responded_on: date | None = None
    outcome: str | None = None
    escalated_on: date | None = None
    stage2_acknowledged_on: date | None = None
    reviewed_on: date | None = None
    review_outcome: str | None = None
    compensation_approved: Decimal | None = None
    compensation_paid: Decimal | None = None
    referred_on: date | None = None
    closed_on: date | None = None

    @property
    def decided_on(self) -> date | None:
        """The final decision: the review if there was one, else the stage 1 response. The format carries amounts
        of compensation but no dates, so the approval is dated with the decision it was part of."""
        return self.reviewed_on or self.responded_on

    @property
    def paid_on(self) -> date | None:
        """Payment is dated the closure (the last thing the old system knew the landlord did), unless that came
        before the approval; then the approval's own date."""
        approved = self.decided_on
        if self.closed_on is not None and (approved is None or self.closed_on >= approved):
            return self.closed_on
        return approved


class ColumnError(InvalidAction):
    """A legacy case refused, naming the column whose value the procedure does not accept."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason


class LineError(NamedTuple):
    """One problem in a legacy file: its line (the header is line 1), the column, and why."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.column}: {self.reason}"


class InvalidRows(ComplaintsError):
    """Rows of a legacy file that cannot be recorded, every one of them; nothing was imported."""

    def __init__(self, errors: list[LineError]) -> None:
        self.errors = sorted(errors, key=lambda e: e.line)  # stable: a line's problems in column order
        n = len(self.errors)
        super().__init__(f"{n} line{'s' if n != 1 else ''} with errors, nothing imported; first: {self.errors[0]}")


@dataclass(frozen=True)
class ImportResult:
    imported: list[str]  # references recorded (or, in a dry run, that would be)
    skipped: list[str]  # already in the ledger, so left as they are
    events: int  # on the imported cases
    dry_run: bool
    resumed: str | None = None  # the earlier, unfinished import of the same file that this one finishes


@dataclass(frozen=True)
class ImportFile:
    """The file an import reads, as its run records it: the name it was given (not its path) and a SHA-256 of its
    bytes, which is what makes a re-run "the same import"."""

    name: str
    sha256: str


class ImportRun(Aggregate):
    """One legacy file's import, as facts in the log: started (by whom, how many cases the file holds, how many were
    already in), each batch of cases saved (in the batch's own transaction), completed (in the last batch's).

    A big file is saved in batches, so that other writers wait a fraction of a second at a time rather than for the
    whole import (docs/importing.md, "Whole, or said to be incomplete"); a process killed between two batches leaves
    a run started and not completed, which `projections status`, `verify` and every `import` report, and which the
    next import of the same file (the same bytes: one run per SHA-256) resumes and completes. Not streamed: it is
    the ledger's bookkeeping, like the reference sequences."""

    @staticmethod
    def create_id(sha256: str) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE, f"legacy-import:{sha256}")

    @event("Started")
    def __init__(self, *, file: str, sha256: str, cases: int, already: int, occurred_on: date, actor: str) -> None:
        self.file = file
        self.sha256 = sha256
        self.cases = cases  # in the file
        self.in_ledger = already  # of those, in the ledger: already there, or saved by this run
        self.started_by = actor
        self.completed = False

    @property
    def started_at(self) -> datetime:
        return self.created_on

    def resume(self, *, file: str, already: int, on: date, actor: str) -> None:
        """Another attempt at the same bytes (perhaps under another name) after this one stopped part-way."""
        self._resumed(file=file, already=already, occurred_on=on, actor=actor)

    def saved(self, cases: int) -> None:
        self._saved(cases=cases)

    def complete(self, *, on: date, actor: str) -> None:
        self._completed(occurred_on=on, actor=actor)

    @event("Resumed")
    def _resumed(self, file: str, already: int, occurred_on: date, actor: str) -> None:
        self.in_ledger = already
        self.completed = False  # until this attempt's last batch, whatever an earlier one recorded

    @event("BatchSaved")
    def _saved(self, cases: int) -> None:
        self.in_ledger += cases

    @event("Completed")
    def _completed(self, occurred_on: date, actor: str) -> None:
        self.in_ledger = self.cases
        self.completed = True

    def described(self) -> str:
        when = self.started_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"import of {self.file} (sha256 {self.sha256[:12]}…) started {when} by {self.started_by}"

    def stopped_at(self) -> str:
        return f"{self.in_ledger:,} of {self.cases:,} cases"

    def __str__(self) -> str:
        return f"{self.described()} is incomplete: {self.stopped_at()}; run the same import again to finish it"


class ImportRegister(Aggregate):
    """Which files have been imported into this ledger (one register per ledger), so that an unfinished import is
    found without reading the log: each run is listed in the transaction that starts it."""

    @staticmethod
    def create_id() -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE, "legacy-import-register")

    @event("Opened")
    def __init__(self) -> None:
        self.runs: list[str] = []  # SHA-256 of each file, in the order first imported

    def list_run(self, sha256: str) -> None:
        if sha256 not in self.runs:
            self._listed(sha256=sha256)

    @event("RunListed")
    def _listed(self, sha256: str) -> None:
        self.runs.append(sha256)


def build(case: LegacyCase, *, actor: str, today: date) -> Complaint:
    """The legacy case as a new Complaint with its steps pending, or ColumnError naming the first column refused.

    Steps are taken in date order; on the same day, in the procedure's order: acknowledge, respond, escalate,
    acknowledge stage 2, review, compensation (requested and approved as decided), payment, closure, referral. A
    closure and a referral on one day are read as the landlord closing its file on the final response and the
    resident then going to the Ombudsman; a closure after the referral would need the determination, which the
    format does not carry, and is refused as the live `close` refuses it."""
    _check_pairs(case)
    try:
        complaint = Complaint.receive(
            ref=case.ref, policy=case.policy, complainant=case.complainant, channel=case.channel,
            summary=case.summary, received_on=case.received_on, today=today, actor=actor,
            issue_date=case.issue_date, category=case.category, contact=case.contact, source=case.source,
            property_ref=case.property_ref, uprn=case.uprn, tenure=case.tenure)
    except ComplaintsError as e:
        if case.uprn is not None and "UPRN" in str(e):
            raise ColumnError("uprn", str(e)) from None
        issue_wrong = case.received_on <= today and case.issue_date is not None and case.issue_date > case.received_on
        raise ColumnError("issue_date" if issue_wrong else "received_on", str(e)) from None
    for on, _, column, act in sorted(_steps(case, actor, today), key=lambda s: s[:2]):
        try:
            act(complaint, on)
        except ColumnError:
            raise
        except ComplaintsError as e:
            reason = str(e)
            if column == "closed_on" and complaint.status == REFERRED:
                reason += (f" (referred on {case.referred_on}); the file cannot carry the determination: leave "
                           "closed_on empty, import, then record the determination and the closure")
            raise ColumnError(column, reason) from None
    return complaint


Step = tuple[date, int, str, Callable[[Complaint, date], None]]


def _steps(case: LegacyCase, actor: str, today: date) -> list[Step]:
    policy = case.policy
    said: dict[str, Any] = {"today": today, "actor": actor}
    steps: list[Step] = []

    def step(column: str, on: date | None, act: Callable[[Complaint, date], None], stage: int | None = None) -> None:
        if on is None:
            return

        def run(c: Complaint, on: date) -> None:
            if stage is not None:
                _require_stage(c, stage, column, on, case.escalated_on)
            act(c, on)

        steps.append((on, len(steps), column, run))  # the index orders steps that share a date

    step("acknowledged_on", case.acknowledged_on, lambda c, on: c.acknowledge(on=on, **said), stage=1)
    step("responded_on", case.responded_on,
         lambda c, on: c.respond(outcome=case.outcome or "", on=on, **said), stage=1)

    def escalate(c: Complaint, on: date) -> None:
        # Live, escalating a closed case reopens it; the file's one closed_on is the case's final closure.
        if c.status == CLOSED and c.referred_on is None:
            raise ColumnError("closed_on", f"{case.closed_on} is before the escalation on {on}: closed_on is the "
                                           "case's final closure (leave it empty if the case is still open)")
        c.escalate(policy=policy, on=on, **said)

    step("escalated_on", case.escalated_on, escalate)
    step("stage2_acknowledged_on", case.stage2_acknowledged_on, lambda c, on: c.acknowledge(on=on, **said), stage=2)
    step("reviewed_on", case.reviewed_on,
         lambda c, on: c.review(policy=policy, outcome=case.review_outcome or "", on=on, **said), stage=2)
    if case.compensation_approved is not None:
        amount = case.compensation_approved

        def compensate(c: Complaint, on: date) -> None:
            c.request_compensation(policy=policy, amount=amount, on=on, **said)
            c.approve_compensation(amount=amount, on=on, **said)

        step("compensation_approved", case.decided_on, compensate)
    if case.compensation_paid is not None:
        paid = case.compensation_paid
        step("compensation_paid", case.paid_on,
             lambda c, on: c.pay_compensation(amount=paid, offset=Decimal("0"), on=on, **said))
    step("closed_on", case.closed_on, lambda c, on: c.close(on=on, **said))
    step("referred_on", case.referred_on, lambda c, on: c.refer(policy=policy, on=on, **said))
    return steps


def _check_pairs(case: LegacyCase) -> None:
    """Columns that only make sense together."""
    for when, what in (("responded_on", "outcome"), ("reviewed_on", "review_outcome")):
        if getattr(case, when) is not None and not getattr(case, what):
            raise ColumnError(what, f"required when {when} is given (upheld, partly-upheld or not-upheld)")
        if getattr(case, what) and getattr(case, when) is None:
            raise ColumnError(when, f"required when {what} is given")
    if case.compensation_approved is not None and case.decided_on is None:
        raise ColumnError("compensation_approved", "compensation is approved with a decision: give responded_on "
                                                   "(or reviewed_on), whose date the approval takes")
    if case.compensation_paid is not None and case.compensation_approved is None:
        raise ColumnError("compensation_paid", "a payment needs the amount approved (compensation_approved)")


def _require_stage(c: Complaint, stage: int, column: str, on: date, escalated_on: date | None) -> None:
    """A stage's own steps are taken at that stage: a stage 1 date after the escalation, or a stage 2 date before
    it, would otherwise be recorded against the wrong stage."""
    if c.stage == stage:
        return
    if c.stage < stage:
        reason = ("needs escalated_on: the case must be escalated to stage 2 first" if escalated_on is None else
                  f"{on} is before the escalation to stage {stage} ({escalated_on})")
    else:
        reason = f"{on} is after the escalation to stage {c.stage} ({c.current.started_on}); stage {stage} had ended"
    raise ColumnError(column, reason)
