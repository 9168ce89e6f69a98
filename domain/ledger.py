"""The ComplaintsLedger application: one intention-revealing method per command, queries by reference.

Commands load a case, act, save, and return nothing (receive returns the new reference). Which database is used is
the adapters' business: this module sees only eventsourcing's abstract Application.
"""

from __future__ import annotations

import json

import logging
import random
import time
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, RecordConflictError, Transcoding

from .collection import PausedCollection
from .complaint import AUTHORITY_EVENTS, CLOSED, ENDED, Complaint, Feedback, complaint_id
from .data_subject import DataSubject
from .deadlines import timescales
from .lean_events import created
from .ombudsman import ombudsman_view
from .errors import (ConcurrentChange, DuplicateReference, InvalidAction, InvalidDate, NotAuthorised,
                     UnknownReference)
from .policy import Policy
from .registry import PolicySnapshot, ReferenceSequence
from .staff import STAFF_ADMIN_ROLES, STAFF_EVENTS, StaffDirectory
from .stream import Polling, Reconnect, Subscription, Waiter, event_names
from .vocabulary import STAFF_ROLES
from .limits import MAX_POSITION
from .values import LOCAL, complainant_id as parse_complainant_id, normalise_reference, plain_text, quoted, seconds

if TYPE_CHECKING:  # imported by import_legacy: no other command needs it
    from . import legacy

COMPLAINT_PREFIX = "CMP"
FEEDBACK_PREFIX = "FBK"
EVENT_META = ("originator_id", "originator_version", "originator_topic", "timestamp", "occurred_on", "actor")


class DateAsISO(Transcoding):
    """Business dates are stored as ISO strings (the library only knows datetimes)."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


PolicySource = Callable[[str], Policy]
# import_cases' cases as built with their references, (year, numbers skipped, profile, case), and what may build them
# elsewhere while the ledger saves (adapters/play_ahead.py: in a worker process), yielding the same in the same order.
Played = tuple[int, int, Policy, "Complaint"]
PlayAhead = Callable[[Iterator[Played]], Iterator[Played]]


class KeyVault(Protocol):
    """Where data subjects' keys are kept (outside the event log). The persistence adapter's mapper provides one."""

    def holds(self, complainant_id: str) -> bool: ...

    def destroy(self, complainant_id: str, subject_id: UUID) -> None: ...

    def destroy_with_next_save(self, complainant_id: str, subject_id: UUID) -> None: ...

    def discard_pending(self) -> None: ...


class ComplaintsLedger(Application[UUID]):
    """The system of record: every action on a complaint is an immutable event."""

    name = "ComplaintsLedger"
    # A year's reference sequence gains an event per complaint; without snapshots, issuing the 10,000th reference
    # would replay 9,999 events (quadratic for the year). Complaints stay short and are never snapshotted.
    snapshotting_intervals = {ReferenceSequence: 100}
    # How a subscription waits for new events; the persistence adapter gives PostgreSQL a LISTEN/NOTIFY one.
    waiter_factory: Callable[[], Waiter] = Polling
    # Which errors mean the database was lost for a while (a line saying so) rather than a failure: the adapters
    # know the drivers; a following subscription waits such errors out (stream.Reconnect).
    connection_lost: Callable[[BaseException], str | None] = staticmethod(lambda error: None)
    # Who the database authenticated for this connection (PostgreSQL's session_user); the persistence adapter sets
    # it. None (SQLite: a file has no users) means actors are typed, and decisions are recorded as unauthenticated.
    login_source: Callable[[], str | None] | None = None

    def __init__(self, env: dict[str, str] | None = None, *, policies: PolicySource | None = None,
                 today: Callable[[], date] = date.today) -> None:
        super().__init__(env)
        self._policies = policies
        self._today = today
        self._policy_cache: dict[str, Policy] = {}
        self._sealed_mapper: Any = None
        self._login: tuple[str | None] | None = None

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def today(self) -> date:
        """The business date now (a fixed one in tests and simulations)."""
        return self._today()

    def login(self) -> str | None:
        """The login the database authenticated (asked once); None where actors are typed."""
        if self._login is None:
            self._login = (self.login_source() if self.login_source is not None else None,)
        return self._login[0]

    def _decider(self, actor: str) -> tuple[str, bool]:
        """Who takes a decision that needs authority, and whether the database vouches for them: only when the
        actor is the login the database authenticated (the CLI on PostgreSQL, which refuses any other actor). A
        typed actor (SQLite; a program passing another name) is recorded as such, `authenticated` false, which
        `verify` counts and the bundle marks."""
        actor = _actor(actor)
        login = self.login()
        return actor, login is not None and actor == login

    # ------------------------------------------------------------------------------------------------ policies
    def policy(self, name: str) -> Policy:
        if self._policies is None:
            raise UnknownReference(f"no policy catalogue is configured to find {quoted(name)}")
        return self._policies(name)

    def policy_of(self, case: Complaint) -> Policy:
        """The profile the case was received under, by content hash: later edits to the file never apply."""
        return self.policy_by_hash(case.policy_hash)

    def policy_by_hash(self, content_hash: str) -> Policy:
        cached = self._policy_cache.get(content_hash)
        if cached is None:
            snapshot = self.repository.get(PolicySnapshot.create_id(content_hash))
            cached = self._policy_cache[content_hash] = Policy.from_dict(snapshot.data, stored=True)
        return cached

    def _pin(self, policy: Policy, pinning: set[str] | None = None) -> list[PolicySnapshot]:
        """The snapshot to save alongside a new case, if this profile version is not stored (or being stored)."""
        if policy.content_hash in self._policy_cache or (pinning is not None and policy.content_hash in pinning):
            return []
        if self._exists(PolicySnapshot.create_id(policy.content_hash)):
            self._policy_cache[policy.content_hash] = policy
            return []
        if pinning is not None:
            pinning.add(policy.content_hash)
        return [PolicySnapshot(content_hash=policy.content_hash, name=policy.name, version=policy.version,
                               data=policy.data)]

    # ------------------------------------------------------------------------------------------------ receipt
    def receive(self, *, complainant: str, channel: str, summary: str, actor: str,
                received_on: date | None = None, policy: Policy | None = None, ref: str | None = None,
                complainant_id: str | None = None, **details: Any) -> str:
        """Log a new complaint and return its reference (issued, or the one supplied for an imported case).

        `complainant_id` links the case to a person already on record (their earlier complaints share one key, so
        one erasure covers them all); without it the complainant is a new data subject."""
        actor = _actor(actor)
        policy = policy or self.policy("hoc-2024")
        received_on = received_on or self._today()
        if complainant_id is not None:
            subject = self.data_subject(complainant_id)
            subject.require_linkable()
            complainant_id = subject.complainant_id

        def build(reference: str) -> Complaint:
            return Complaint.receive(ref=reference, policy=policy, complainant=complainant, channel=channel,
                                     summary=summary, received_on=received_on, today=self._today(), actor=actor,
                                     complainant_id=complainant_id, **details)

        build("CHECK")  # validate everything before a reference is issued
        if ref is not None:
            ref = normalise_reference(ref)
            if self._exists(complaint_id(ref)):
                raise DuplicateReference(f"a complaint with reference {ref} already exists")
            for _ in range(3):
                try:
                    case = build(ref)
                    self._save(*self._pin(policy), self._linked_subject(case), case)
                    break
                except ConcurrentChange:
                    if self._exists(complaint_id(ref)):
                        raise DuplicateReference(f"a complaint with reference {ref} already exists") from None
                    # Another writer pinned the same new profile version first: it is stored now, so try again.
            else:
                raise ConcurrentChange("the ledger is too busy to record this case; re-run the command")
        else:
            ref = self._issue_and_save(COMPLAINT_PREFIX, received_on.year, complaint_id,
                                       lambda reference: [*self._pin(policy), *self._with_subject(build(reference))])
        self._policy_cache[policy.content_hash] = policy
        return ref

    def record_feedback(self, *, kind: str, summary: str, actor: str, received_on: date | None = None,
                        channel: str | None = None, subject: str | None = None,
                        complainant_id: str | None = None) -> str:
        """Log a compliment, comment or suggestion (not a complaint) and return its reference. Its summary is sealed
        with its data subject's key: the person given (`complainant_id`, already on record), else a new one."""
        actor = _actor(actor)
        received_on = received_on or self._today()
        if complainant_id is not None:  # someone on record, whose personal data is not erased
            person = self.data_subject(complainant_id)
            person.require_linkable()
            complainant_id = person.complainant_id

        def build(reference: str) -> Feedback:
            return Feedback.receive(ref=reference, kind=kind, summary=summary, received_on=received_on,
                                    today=self._today(), actor=actor, channel=channel, subject=subject,
                                    complainant_id=complainant_id)

        build("CHECK")
        return self._issue_and_save(FEEDBACK_PREFIX, received_on.year, Feedback.create_id,
                                    lambda reference: self._with_subject(build(reference)))

    def _issue_and_save(self, prefix: str, year: int, id_of: Callable[[str], UUID],
                        build: Callable[[str], list[Any]]) -> str:
        """Take the next free number and save it with the new aggregates in one transaction; retry on a race."""
        for attempt in range(30):
            sequence = self._sequence(prefix, year)
            ref = self._issue(sequence, id_of)
            try:
                self._save(sequence, *build(ref))
                return ref
            except ConcurrentChange:
                time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
        raise ConcurrentChange("could not issue a reference: the ledger is too busy, re-run the command")

    def _issue(self, sequence: ReferenceSequence, id_of: Callable[[str], UUID],
               held: Callable[[UUID], bool] | None = None) -> str:
        """The sequence's next number that no case holds yet (an imported case may hold one it would issue)."""
        return sequence.issue(self._skipped(sequence, id_of, held))

    def _skipped(self, sequence: ReferenceSequence, id_of: Callable[[str], UUID],
                 held: Callable[[UUID], bool] | None = None) -> int:
        """How many of the sequence's next numbers are held already: the `skip` its next issue takes."""
        held = held or self._exists
        skip = 0
        while held(id_of(sequence.format(sequence.last + 1 + skip))):
            skip += 1
        return skip

    def _held_ahead(self, sequence: ReferenceSequence, id_of: Callable[[str], UUID],
                    window: int = 500) -> Callable[[UUID], bool]:
        """`_issue`'s question for a bulk path, asked of the next `window` numbers at once: one query per few
        hundred cases, not one per case (references are issued in order, so each window is used up in turn)."""
        known: dict[UUID, bool] = {}

        def held(aggregate_id: UUID) -> bool:
            if aggregate_id not in known:
                known.clear()
                ahead = [id_of(sequence.format(sequence.last + 1 + k)) for k in range(window)]
                stored = self._existing(ahead)
                known.update((i, i in stored) for i in ahead)
                if aggregate_id not in known:  # asked past the window (a run of held numbers): ask directly
                    return self._exists(aggregate_id)
            return known[aggregate_id]

        return held

    def _exists(self, aggregate_id: UUID) -> bool:
        """Whether the aggregate has been stored: one key read (the repository's `in` replays it whole)."""
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def _existing(self, aggregate_ids: list[UUID]) -> set[UUID]:
        """Which of these aggregates have been stored: one query per few hundred where the recorder can."""
        find = getattr(self.recorder, "existing", None)
        return set(find(aggregate_ids)) if find is not None else {i for i in aggregate_ids if self._exists(i)}

    def _sequence(self, prefix: str, year: int) -> ReferenceSequence:
        try:
            return self.repository.get(ReferenceSequence.create_id(prefix, year))
        except AggregateNotFoundError:
            return ReferenceSequence(prefix=prefix, year=year)

    def import_cases(self, cases: Iterable[tuple[date, Policy, Callable[[str], Complaint]]],
                     batch_size: int = 200, *, ahead: PlayAhead | None = None) -> list[str]:
        """Save many new cases, about `batch_size` aggregates per transaction, issuing references as `receive` does.

        Bulk paths (the simulator, imports) would otherwise pay one transaction per event.

        `ahead`: runs the cases' building (each reference chosen, each case built with it: `played`) somewhere else
        while this process saves, e.g. in a worker process (adapters/play_ahead.py), and gives back what it yields,
        in order. The references are then issued here again from the numbers skipped there, so the sequences saved
        with each batch are this process's own and the ledger written is the same either way."""
        refs: list[str] = []
        sequences: dict[int, ReferenceSequence] = {}

        with PausedCollection(every=500) as collection:
            played = self._played(cases, collection)
            if ahead is not None:
                played = ahead(played)

            def issued() -> Iterator[tuple[Policy, Complaint]]:
                for year, skip, policy, case in played:
                    if ahead is not None:  # _played steps the worker's collector; this is this process's
                        collection.step_done()
                    sequence = sequences.get(year)
                    if sequence is None:
                        sequence = sequences[year] = self._sequence(COMPLAINT_PREFIX, year)
                    ref = sequence.issue(skip)
                    if ref != case.ref:  # the sequence changed under the player: nothing of this batch is saved
                        raise ConcurrentChange(f"reference {case.ref} was issued by someone else meanwhile; "
                                               "re-run the command")
                    refs.append(ref)
                    yield policy, case

            self._save_new_cases(issued(), batch_size, with_each_batch=lambda batch: list(sequences.values()))
        return refs

    def _played(self, cases: Iterable[tuple[date, Policy, Callable[[str], Complaint]]],
                collection: PausedCollection) -> Iterator[tuple[int, int, Policy, Complaint]]:
        """Each case built with the reference it is to have: (year, numbers skipped, profile, case). The numbers are
        taken on sequences of its own (import_cases issues them again on those it saves), and which are held is asked
        of the next few hundred at once."""
        sequences: dict[int, ReferenceSequence] = {}
        held: dict[int, Callable[[UUID], bool]] = {}
        for received_on, policy, build in cases:
            collection.step_done()
            year = received_on.year
            sequence = sequences.get(year)
            if sequence is None:
                sequence = sequences[year] = self._sequence(COMPLAINT_PREFIX, year)
                held[year] = self._held_ahead(sequence, complaint_id)
            skip = self._skipped(sequence, complaint_id, held[year])
            yield year, skip, policy, build(sequence.issue(skip))

    def import_legacy(self, cases: Iterable[legacy.LegacyCase], *, actor: str, dry_run: bool = False,
                      progress: Callable[[int, int], None] | None = None, batch_size: int = 200,
                      refused: Iterable[legacy.LineError] = (),
                      file: legacy.ImportFile | None = None) -> legacy.ImportResult:
        """Record cases from a landlord's old system, all or none: every case is built and checked first, and if
        any is refused, InvalidRows lists every one (line, column, reason) and nothing is written. A case whose
        reference is already in the ledger is skipped, so importing the same file again adds nothing.

        Each is a new data subject. Where the ledger has a staff directory, the importer must hold the roles the
        case's profile gives the decisions the file records (reviews, compensation), as for live entry.
        `refused`: lines the file's reader could not make cases of; reported with the rest, and nothing is written.

        With `file`, the import is recorded as an ImportRun (one per file content): started in the first batch's
        transaction, each batch counted in its own, completed in the last one's; a file whose run was left
        incomplete (the process killed between batches) is resumed, and the run completed, by importing it again.
        A file of up to about `batch_size` / 2 cases is one transaction: all of it, or none."""
        from . import legacy

        actor = _actor(actor)
        today = self._today()
        built: list[tuple[Policy, Complaint]] = []
        skipped: list[str] = []
        errors: list[legacy.LineError] = list(refused)
        lines: dict[str, int] = {}
        refusals: dict[tuple[str, str], str | None] = {}

        def refusal(decision: str, what: str, policy: Policy) -> str | None:
            key = (decision, policy.content_hash)
            if key not in refusals:
                try:
                    refusals[key] = None
                    self._authorise(decision, what, actor, policy)
                except NotAuthorised as e:
                    refusals[key] = str(e)
            return refusals[key]

        named: list[tuple[str, legacy.LegacyCase]] = []
        for case in cases:
            try:
                ref = normalise_reference(case.ref)
            except InvalidAction as e:
                errors.append(legacy.LineError(case.line, "ref", str(e)))
                continue
            if ref in lines:
                errors.append(legacy.LineError(case.line, "ref", f"{ref} is also on line {lines[ref]}"))
                continue
            lines[ref] = case.line
            named.append((ref, case))
        stored = self._existing([complaint_id(ref) for ref, _ in named])
        with PausedCollection(every=500) as collection:  # every built case is kept until all are saved
            for ref, case in named:
                collection.step_done()
                if complaint_id(ref) in stored:
                    skipped.append(ref)
                    continue
                try:
                    complaint = legacy.build(replace(case, ref=ref), actor=actor, today=today)
                    for column, decision, what in legacy.DECISIONS:
                        if getattr(case, column) is not None and (refused := refusal(decision, what, case.policy)):
                            raise legacy.ColumnError(column, refused)
                except legacy.ColumnError as e:
                    errors.append(legacy.LineError(case.line, e.column, e.reason))
                    continue
                built.append((case.policy, complaint))
            if errors:
                raise legacy.InvalidRows(errors)
            run = self._import_run(file.sha256) if file is not None else None
            result = legacy.ImportResult(imported=[c.ref for _, c in built], skipped=skipped,
                                         events=sum(len(c.pending_events) for _, c in built), dry_run=dry_run,
                                         resumed=None if run is None or run.completed else
                                         f"{run.described()}, which had stopped at {run.stopped_at()}")
            if dry_run:
                return result
            if not built:
                if result.resumed is not None:  # every case is in, yet the run was left open (by an older version)
                    run.complete(on=today, actor=actor)
                    self._save(run)
                return result
            bookkeeping: list[Any] = []
            if file is not None:
                if run is None:
                    run = legacy.ImportRun(file=file.name, sha256=file.sha256, cases=len(named),
                                           already=len(skipped), occurred_on=today, actor=actor)
                    register = self._import_register()
                    register.list_run(file.sha256)
                    bookkeeping.append(register)
                else:
                    run.resume(file=file.name, already=len(skipped), on=today, actor=actor)
                bookkeeping.append(run)

            saving = [0]

            def counted(batch: list[Any]) -> list[Any]:
                """The run's facts for this batch's transaction: its count, and with the last one, completion."""
                saved = sum(isinstance(a, Complaint) for a in batch)
                saving[0] += saved
                if run is not None and saved:
                    run.saved(saved)
                    if saving[0] == len(built):
                        run.complete(on=today, actor=actor)
                return bookkeeping

            def reporting() -> Iterator[tuple[Policy, Complaint]]:
                for done, item in enumerate(built):
                    collection.step_done()
                    if progress and done % 50 == 0:
                        progress(done, len(built))
                    yield item

            self._save_new_cases(reporting(), batch_size, with_each_batch=counted)
        if progress:
            progress(len(built), len(built))
        return result

    def _import_run(self, sha256: str) -> legacy.ImportRun | None:
        from . import legacy

        try:
            return self.repository.get(legacy.ImportRun.create_id(sha256))
        except AggregateNotFoundError:
            return None

    def _import_register(self) -> legacy.ImportRegister:
        from . import legacy

        try:
            return self.repository.get(legacy.ImportRegister.create_id())
        except AggregateNotFoundError:
            return legacy.ImportRegister()

    def incomplete_imports(self) -> list[legacy.ImportRun]:
        """Imports started and not completed (a process stopped between two of its batches), oldest first: the
        ledger then holds part of a file, which importing the same file again finishes."""
        from . import legacy

        try:
            register = self.repository.get(legacy.ImportRegister.create_id())
        except AggregateNotFoundError:
            return []
        runs = (self._import_run(sha256) for sha256 in register.runs)
        return [run for run in runs if run is not None and not run.completed]

    def _save_new_cases(self, cases: Iterable[tuple[Policy, Complaint]], batch_size: int, *,
                        with_each_batch: Callable[[list[Any]], list[Any]] = lambda batch: []) -> None:
        """Save new cases with their data subjects and any profile version not yet stored, about `batch_size`
        aggregates per transaction (`with_each_batch(batch)`: what else each transaction saves, e.g. the sequences
        or an import's run)."""
        pending: list[Any] = []
        pinning: set[str] = set()
        policies: dict[str, Policy] = {}
        subjects: dict[str, DataSubject] = {}  # this batch's: once saved, a later case finds its subject stored

        def flush() -> None:
            if pending:
                self._save(*with_each_batch(pending), *pending)
                pending.clear()
                subjects.clear()
                for content_hash in pinning:
                    self._policy_cache[content_hash] = policies[content_hash]
                pinning.clear()

        for policy, case in cases:
            policies[policy.content_hash] = policy
            pending.extend(self._pin(policy, pinning))
            in_batch = case.complainant_id in subjects
            subject = self._linked_subject(case, subjects)
            if not in_batch:
                pending.append(subject)  # before the case: a new subject's key is made as it is stored
            pending.append(case)
            if len(pending) >= batch_size:
                flush()
        flush()

    # ------------------------------------------------------------------------------------------------ commands
    def _act(self, ref: str, verb: str, *, needs_policy: bool = False, on: date | None = None,
             authority: tuple[str, str] | None = None, check: Callable[[Complaint], None] | None = None,
             **kwargs: Any) -> Any:
        """Load the case, run `check` on it (a rule needing more than the case), check authority, call the command,
        save; returns what the command returned."""
        kwargs["actor"] = _actor(kwargs["actor"])
        case = self.get_case(ref)
        if check is not None:
            check(case)
        if authority is not None:
            kwargs["actor"], kwargs["authenticated"] = self._decider(kwargs["actor"])
            self._authorise(*authority, kwargs["actor"], self.policy_of(case))
        if needs_policy:
            kwargs["policy"] = self.policy_of(case)
        result = getattr(case, verb)(on=on or self._today(), today=self._today(), **kwargs)
        self._save(case)
        return result

    def acknowledge(self, ref: str, *, actor: str, on: date | None = None) -> None:
        self._act(ref, "acknowledge", on=on, actor=actor)

    def contact(self, ref: str, *, actor: str, on: date | None = None, summary: str | None = None) -> None:
        self._act(ref, "contact", on=on, actor=actor, summary=summary)

    def extend(self, ref: str, *, working_days: int, reason: str, agreed: bool = False, actor: str,
               on: date | None = None, ombudsman_details_given: bool = False) -> None:
        self._act(ref, "extend", needs_policy=True, on=on, actor=actor, working_days=working_days,
                  reason=reason, agreed=agreed, ombudsman_details_given=ombudsman_details_given)

    def respond(self, ref: str, *, outcome: str, actor: str, on: date | None = None, summary: str | None = None,
                remedies: Iterable[str] = ()) -> None:
        self._act(ref, "respond", on=on, actor=actor, outcome=outcome, summary=summary, remedies=list(remedies))

    def escalate(self, ref: str, *, actor: str, on: date | None = None, reason: str | None = None,
                 late_reason: str | None = None) -> None:
        """Escalate to the next stage; a case closed after its stage's response is reopened there. After the
        profile's appeal window, only with `late_reason`, by someone the profile lets accept a late escalation."""
        authority = None if late_reason is None else ("escalate_late", "accept an escalation after the appeal window")
        self._act(ref, "escalate", needs_policy=True, on=on, actor=actor, reason=reason, late_reason=late_reason,
                  authority=authority, check=self._check_not_erased)

    def _check_not_erased(self, case: Complaint) -> None:
        """A closed case whose complainant's personal data was erased (their retention period ended) cannot be
        reopened: it could no longer be handled, nor anything personal recorded on it."""
        if case.status != CLOSED or case.complainant_id is None:
            return
        subject = self._stored_subject(case.complainant_id)
        if subject is not None and subject.erasure is not None:
            raise InvalidAction(f"cannot escalate: the personal data of {case.ref}'s complainant was erased on "
                                f"{subject.erasure['occurred_on']}; record a new complaint under a new complainant id")

    def hold_hearing(self, ref: str, *, panel: list[dict[str, str]], actor: str, on: date | None = None) -> None:
        """Record a panel hearing. Once there is a staff directory, a member sitting as a staff role (director,
        head of service, board member, resident representative) must hold it there; a chief executive or an
        independent member is taken as stated."""
        panel = [dict(m, name=plain_text(m.get("name"), "a panel member's name", "name")) if isinstance(m, dict)
                 else m for m in panel]
        directory = self._directory()
        if directory.members:
            for m in panel:
                role = str(m.get("role", ""))
                if role in STAFF_ROLES:
                    member = directory.find(str(m.get("name", "")))
                    if member is None or role not in member["roles"]:
                        held = f"holds {', '.join(member['roles']) or 'no role'}" if member else \
                            "is not in the staff directory"
                        raise NotAuthorised(f"{m.get('name')} cannot sit on the panel as {role}: {held}")
        self._act(ref, "hold_hearing", needs_policy=True, on=on, actor=actor, panel=panel)

    def review(self, ref: str, *, outcome: str, actor: str, on: date | None = None, summary: str | None = None,
               remedies: Iterable[str] = ()) -> None:
        self._act(ref, "review", needs_policy=True, on=on, actor=actor, outcome=outcome, summary=summary,
                  remedies=list(remedies), authority=("decide_review", "decide a review"))

    def resolve_early(self, ref: str, *, summary: str, actor: str, on: date | None = None) -> None:
        self._act(ref, "resolve_early", needs_policy=True, on=on, actor=actor, summary=summary)

    def refuse(self, ref: str, *, reason: str, explanation: str, actor: str, on: date | None = None,
               notice_sent_on: date | None = None) -> None:
        self._act(ref, "refuse", needs_policy=True, on=on, actor=actor, reason=reason, explanation=explanation,
                  notice_sent_on=notice_sent_on, authority=("refuse", "refuse a complaint"))

    def withdraw(self, ref: str, *, actor: str, on: date | None = None, reason: str | None = None) -> None:
        self._act(ref, "withdraw", on=on, actor=actor, reason=reason)

    def close_case(self, ref: str, *, actor: str, on: date | None = None) -> None:
        self._act(ref, "close", on=on, actor=actor)

    def request_compensation(self, ref: str, *, amount: Decimal, actor: str, on: date | None = None,
                             reason: str | None = None) -> None:
        self._act(ref, "request_compensation", needs_policy=True, on=on, actor=actor, amount=amount,
                  reason=reason)

    def approve_compensation(self, ref: str, *, amount: Decimal, actor: str, on: date | None = None) -> None:
        self._act(ref, "approve_compensation", on=on, actor=actor, amount=amount,
                  authority=("approve_compensation", "decide on compensation"))

    def decline_compensation(self, ref: str, *, actor: str, on: date | None = None,
                             reason: str | None = None) -> None:
        self._act(ref, "decline_compensation", on=on, actor=actor, reason=reason,
                  authority=("approve_compensation", "decide on compensation"))

    def pay_compensation(self, ref: str, *, amount: Decimal, offset: Decimal = Decimal("0"), actor: str,
                         on: date | None = None) -> None:
        self._act(ref, "pay_compensation", on=on, actor=actor, amount=amount, offset=offset)

    def refer(self, ref: str, *, actor: str, on: date | None = None) -> None:
        self._act(ref, "refer", needs_policy=True, on=on, actor=actor)

    def record_determination(self, ref: str, *, finding: str, orders: Iterable[str] = (),
                             compensation: Decimal = Decimal("0"), actor: str, on: date | None = None,
                             order_dues: Iterable[date] = ()) -> None:
        self._act(ref, "record_determination", on=on, actor=actor, finding=finding, orders=list(orders),
                  compensation=compensation, order_dues=list(order_dues))

    # The Ombudsman stage to compliance: evidence requests and orders, each with a due date (domain/ombudsman.py).
    def request_evidence(self, ref: str, *, due: date, actor: str, on: date | None = None) -> None:
        self._act(ref, "request_evidence", on=on, actor=actor, due=due)

    def send_evidence(self, ref: str, *, actor: str, on: date | None = None, request: int | None = None) -> int:
        """Returns the number of the request answered."""
        return self._act(ref, "send_evidence", on=on, actor=actor, request=request)

    def record_order(self, ref: str, text: str, *, due: date, actor: str, on: date | None = None) -> None:
        self._act(ref, "order", on=on, actor=actor, text=text, due=due)

    def comply_with_order(self, ref: str, *, actor: str, on: date | None = None, order: int | None = None,
                          evidence: str | None = None) -> int:
        """Returns the number of the order complied with."""
        return self._act(ref, "comply", on=on, actor=actor, order=order, evidence=evidence)

    def add_note(self, ref: str, text: str, *, actor: str, on: date | None = None) -> None:
        self._act(ref, "add_note", on=on, actor=actor, text=text)

    def record_learning(self, ref: str, text: str, *, actor: str, on: date | None = None) -> None:
        self._act(ref, "record_learning", on=on, actor=actor, text=text)

    def record_satisfaction(self, ref: str, *, score: int, actor: str, on: date | None = None) -> None:
        self._act(ref, "record_satisfaction", on=on, actor=actor, score=score)

    def authorise_representative(self, ref: str, *, name: str, actor: str, on: date | None = None,
                                 relationship: str | None = None) -> None:
        self._act(ref, "authorise_representative", on=on, actor=actor, name=name, relationship=relationship)

    def correct(self, ref: str, *, reason: str, actor: str, field: str | None = None, to: Any = None,
                event_version: int | None = None) -> None:
        """Put a wrongly recorded fact right with a Corrected event (dated today): a field keyed on receipt
        (`field`, `to` as typed) or the date of step `event_version` (`to` a date). Needs the authority the case's
        profile gives `correct` once a staff directory exists."""
        self._act(ref, "correct", actor=actor, field=field, to=to, event_version=event_version, reason=reason,
                  authority=("correct", "correct a case's recorded facts"))

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """The library's save, taking each aggregate's new events directly: its ProcessingEvent tells aggregates
        from events with typing's runtime protocol checks, about 40 µs per aggregate (more than storing an event)."""
        processing = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing.events.extend(obj.collect_events())
                processing.aggregates[obj.id] = obj
            elif obj is not None:
                processing.collect_events(obj)
        processing.saved_kwargs.update(kwargs)
        taken = self._snapshots_due(processing)
        if taken and getattr(self.recorder, "stores_snapshots_with_events", False):
            # In the events' own transaction: a bulk save that issues a hundred references per batch would
            # otherwise pay a second transaction (and, on SQLite, a second wait for the disk) for each batch.
            processing.saved_kwargs["snapshots"] = [self.snapshots.mapper.to_stored_event(s) for s in taken]
            taken = []
        recordings = self._record(processing)
        if taken:
            self.snapshots.put(taken)
        self._notify(recordings)
        return recordings

    def _snapshots_due(self, processing: ProcessingEvent) -> list[Any]:
        """Snapshot an aggregate whose new events passed a multiple of its interval, from the state about to be
        saved: the library reloads it from the store after the save (a reference sequence: its last snapshot and
        up to a hundred events, read and replayed), a fifth of a bulk save's time. The state is the same, as
        aggregates change only by their events; the snapshot is at the version saved rather than at the multiple.
        Stored with the events where the recorder can (they are then saved together or not at all)."""
        if self.snapshots is None or not self.snapshotting_intervals:
            return []
        due = set()
        for event in processing.events:
            aggregate = processing.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval is not None and event.originator_version % interval == 0:
                due.add(event.originator_id)
        taken = []
        for aggregate_id in due:
            aggregate = processing.aggregates[aggregate_id]
            snapshot_class = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
            taken.append(snapshot_class.take(aggregate))
        return taken

    def _save(self, *aggregates: Any) -> None:
        try:
            self.save(*aggregates)
        except RecordConflictError:
            refs = ", ".join(a.ref for a in aggregates if isinstance(a, Complaint))
            raise ConcurrentChange(
                f"case {refs or 'record'} was changed by someone else while you were working; re-run the command"
            ) from None

    # ------------------------------------------------------------------------------------------------ data subjects
    def data_subject(self, complainant_id: str) -> DataSubject:
        complainant_id = parse_complainant_id(complainant_id)
        subject = self._stored_subject(complainant_id)
        if subject is None:
            raise UnknownReference(f"no complainant with id {complainant_id}")
        return subject

    def _stored_subject(self, complainant_id: str) -> DataSubject | None:
        try:
            return self.repository.get(DataSubject.create_id(complainant_id))
        except AggregateNotFoundError:
            return None

    def _linked_subject(self, case: Complaint, known: dict[str, DataSubject] | None = None) -> DataSubject:
        """The case's data subject (loaded, or new), with the case linked to it, ready to save with the case."""
        cid = case.complainant_id
        subject = known.get(cid) if known is not None else None
        if subject is None:
            if not getattr(case, "new_complainant", False):
                subject = self._stored_subject(cid)
            if subject is None:
                subject = created(DataSubject, complainant_id=cid, first_ref=case.ref)  # as DataSubject(...)
            if known is not None:
                known[cid] = subject
        subject.link(case.ref)  # nothing new if it is the subject's first case
        return subject

    def _with_subject(self, case: Complaint) -> list[Any]:
        return [self._linked_subject(case), case]  # the subject first: a new one's key is made as it is stored

    def _vault(self) -> KeyVault:
        vault = getattr(self.mapper, "vault", None)
        if vault is None:
            raise InvalidAction("this ledger's storage keeps no personal-data keys, so there is nothing to erase")
        return vault

    def erase(self, complainant_id: str, *, reason: str, actor: str, on: date | None = None) -> dict[str, Any]:
        """Erase a person's personal data from every case of theirs by destroying their key (crypto-shredding).

        The events stay, with their hash chain: dates, stages, outcomes and amounts still count in every statistic.
        Only ended cases can be erased; an open one still needs the person's details to be handled."""
        actor = _actor(actor)
        subject = self.data_subject(complainant_id)
        vault = self._vault()
        if subject.erasure is not None and vault.holds(subject.complainant_id):
            vault.destroy(subject.complainant_id, subject.id)  # an erase of before keys went with their event
            return dict(subject.erasure, complainant_id=subject.complainant_id)
        cases = [self.get_case(ref) for ref in subject.refs if not ref.startswith(FEEDBACK_PREFIX)]
        live = [c.ref for c in cases if c.status not in ENDED]
        if live:
            raise InvalidAction(f"{', '.join(live)} of complainant {subject.complainant_id} "
                                f"{'is' if len(live) == 1 else 'are'} still being handled; erase personal data "
                                "only once every case of theirs has ended")
        if cases:
            self._authorise("erase", "erase personal data", actor, self.policy_of(cases[0]))
        subject.erase(reason=reason, on=on or self._today(), actor=actor)
        vault.destroy_with_next_save(subject.complainant_id, subject.id)  # in the transaction recording the erasure
        try:
            self._save(subject)
        except BaseException:
            vault.discard_pending()
            raise
        return dict(subject.erasure or {}, complainant_id=subject.complainant_id)

    # ------------------------------------------------------------------------------------------------ staff
    def _directory(self) -> StaffDirectory:
        try:
            return self.repository.get(StaffDirectory.create_id())
        except AggregateNotFoundError:
            return StaffDirectory()

    def add_staff(self, name: str, *, role: str, actor: str, login: str | None = None) -> None:
        directory = self._directory()
        actor, authenticated = self._decider(actor)
        if not directory.members and role not in STAFF_ADMIN_ROLES:
            raise InvalidAction("the first person in the staff directory must be a director or head of service, "
                                "who can then add everyone else")
        self._may_manage_staff(directory, actor)
        directory.add(name=name, role=role, login=login, on=self._today(), actor=actor, authenticated=authenticated)
        self._save(directory)

    def grant_role(self, name: str, *, role: str, actor: str) -> str:
        """Give `name` the role; returns their name as the directory has it."""
        return self._change_role("grant", name, role, actor)

    def revoke_role(self, name: str, *, role: str, actor: str) -> str:
        return self._change_role("revoke", name, role, actor)

    def _change_role(self, verb: str, name: str, role: str, actor: str) -> str:
        directory = self._directory()
        actor, authenticated = self._decider(actor)
        self._may_manage_staff(directory, actor)
        getattr(directory, verb)(name=name, role=role, on=self._today(), actor=actor, authenticated=authenticated)
        if not any(set(m["roles"]) & set(STAFF_ADMIN_ROLES) for m in directory.members.values()):
            raise InvalidAction("that would leave no director or head of service to manage the staff directory")
        self._save(directory)
        return directory.member(name)["name"]

    def _may_manage_staff(self, directory: StaffDirectory, actor: str) -> None:
        """Once the directory has anyone in it, only a director or head of service changes it."""
        if directory.members:
            member = directory.find(actor)
            if member is None or not set(member["roles"]) & set(STAFF_ADMIN_ROLES):
                who = f"{member['name']} ({', '.join(member['roles']) or 'no role'})" if member else \
                    f"{actor} (not in the staff directory)"
                raise NotAuthorised(f"{who} may not change the staff directory: a director or head of service may")

    def deviate(self, ref: str, *, reason: str, actor: str, approved_by: str | None = None,
                on: date | None = None) -> str:
        """Record a deviation from the procedure, approved by someone the case's policy allows to (by default the
        one recording it); returns the approver's name as recorded. From an authenticated login (the CLI on
        PostgreSQL) only the approver's own login may record their approval: naming anyone else is refused (rather
        than recorded as a request awaiting them, which would need a second step only they could take)."""
        actor = _actor(actor)
        if approved_by is not None and not str(approved_by).strip():
            approved_by = None
        approved_by = actor if approved_by is None else \
            plain_text(approved_by, "who approved the deviation", "name")  # type: ignore[assignment]
        case = self.get_case(ref)
        actor, authenticated = self._decider(actor)
        if authenticated:  # the login approves for itself alone, never for someone it names
            directory = self._directory()
            member = directory.find(actor)
            named = directory.find(approved_by)
            if named is not member or (member is None and approved_by.lower() != actor.lower()):
                raise NotAuthorised(_not_yours(actor, member, approved_by))
            approved_by = actor
        member = self._authorise("deviate", "approve a deviation from the procedure", approved_by,
                                 self.policy_of(case))
        approver = member["name"] if member else approved_by
        case.deviate(reason=reason, approved_by=approver, on=on or self._today(), today=self._today(), actor=actor,
                     authenticated=authenticated)
        self._save(case)
        return approver

    def roles_at(self, moments: list[tuple[str, datetime]]) -> list[list[str] | None]:
        """For each (actor, recorded time): the roles the actor held in the staff directory then (None if they were
        not in it), replaying the directory's own events once, in time order."""
        history = list(self.events.get(StaffDirectory.create_id()))
        out: list[list[str] | None] = [None] * len(moments)
        directory, applied = None, 0
        for i in sorted(range(len(moments)), key=lambda i: moments[i][1]):
            actor, moment = moments[i]
            while applied < len(history) and history[applied].timestamp <= moment:
                directory = history[applied].mutate(directory)
                applied += 1
            member = directory.find(actor) if directory is not None else None
            out[i] = list(member["roles"]) if member else None
        return out

    def _authorise(self, decision: str, what: str, who: str, policy: Policy) -> dict[str, Any] | None:
        """Check that `who` holds a role `policy` gives the decision to; returns their directory entry. A ledger
        with no staff directory yet (a single user's file) has nothing to check against, so nothing is checked."""
        directory = self._directory()
        if not directory.members:
            return None
        member = directory.find(who)
        if member is None:
            raise NotAuthorised(f"{who} is not in the staff directory, so may not {what} (complaints staff add)")
        allowed = policy.authority[decision]
        if not set(member["roles"]) & set(allowed):
            held = ", ".join(member["roles"]) or "no role"
            raise NotAuthorised(f"{member['name']} ({held}) may not {what}: {policy.name} gives that to "
                                f"{' or '.join(allowed)}")
        return member

    def plain_payloads(self) -> bool:
        """Whether stored payloads are the mapper's JSON as it is (neither compressed nor enciphered), so that verify's
        other checks may read the few fields they need from the bytes its own pass kept."""
        return not getattr(self.mapper, "compressor", None) and not getattr(self.mapper, "cipher", None)

    def unauthenticated_decisions(self, originator_id: UUID | None = None,
                                  kept: dict[str, list[tuple[bytes, bytes]]] | None = None) -> int:
        """How many decisions needing authority (of the whole ledger, or of one case) were recorded without the
        database vouching for who took them: each one on SQLite, where actors are typed, and those stored before
        decisions recorded it. Not tampering: a fact about how the ledger is kept, for `verify` to state.

        `kept`: the decisions' plain payloads by topic, as verify's own pass kept them (`plain_payloads`): a payload
        is decoded only if it could say `"authenticated": true`, instead of mapping every decision to its event."""
        topics = self.authority_topics()
        if kept is not None:
            return sum(1 for topic in topics for _, payload in kept.get(topic, ())
                       if not (b'"authenticated"' in payload and b"true" in payload
                               and json.loads(payload).get("authenticated") is True))
        mapper = self.sealed_mapper()  # the field is not personal data: no key is needed, so a reader may count
        if originator_id is not None:
            stored: Iterable[Any] = (e for e in self.recorder.select_events(originator_id) if e.topic in topics)
        else:
            stored = self._notifications(topics)
        return sum(1 for e in stored if mapper.to_domain_event(e).authenticated is not True)

    @staticmethod
    def authority_topics() -> list[str]:
        """The topics of the decisions needing authority, each recording whether its actor was `authenticated`."""
        from eventsourcing.utils import get_topic

        classes = [getattr(Complaint, n) for n in AUTHORITY_EVENTS] + [getattr(StaffDirectory, n) for n in STAFF_EVENTS]
        return [get_topic(cls) for cls in classes]

    def _notifications(self, topics: list[str], page: int = 1000) -> Iterator[Any]:
        start: int | None = None
        while True:
            found = self.recorder.select_notifications(start, page, topics=topics, inclusive_of_start=False)
            yield from found
            if len(found) < page:
                return
            start = found[-1].id

    def staff(self) -> list[dict[str, Any]]:
        """Every staff member with their current roles, by name."""
        return sorted((dict(m, roles=list(m["roles"])) for m in self._directory().members.values()),
                      key=lambda m: m["name"].lower())

    # ------------------------------------------------------------------------------------------------ queries
    def known_case(self, ref: str) -> UUID:
        """The case's aggregate id, or UnknownReference: without replaying (or unsealing) it, so that a login that
        may not read personal data can still name a case to `verify`."""
        ref = normalise_reference(ref)
        if not self._exists(complaint_id(ref)):
            raise UnknownReference(f"no complaint with reference {ref}")
        return complaint_id(ref)

    def get_case(self, ref: str, version: int | None = None) -> Complaint:
        ref = normalise_reference(ref)
        try:
            return self.repository.get(complaint_id(ref), version=version)
        except AggregateNotFoundError:
            raise UnknownReference(f"no complaint with reference {ref}") from None

    def case_events(self, ref: str, known_at: datetime | None = None) -> list[Any]:
        """The case's events; with `known_at`, only those recorded by then (entries back-dated later are left out)."""
        ref = normalise_reference(ref)
        events = list(self.events.get(complaint_id(ref)))
        if not events:
            raise UnknownReference(f"no complaint with reference {ref}")
        if known_at is not None:
            events = [e for e in events if e.timestamp <= known_at]
            if not events:
                raise UnknownReference(f"{ref} had not been recorded by {known_at:%Y-%m-%d %H:%M:%S} UTC")
        return events

    def show(self, ref: str, as_of: date | None = None, known_at: datetime | None = None) -> dict[str, Any]:
        """The case as it stood at the end of `as_of` (a business date; default today, or the day of `known_at`),
        from what the ledger had recorded by `known_at` (default: everything)."""
        events = self.case_events(ref, known_at)
        as_of = as_of or (known_at.astimezone(LOCAL).date() if known_at else self._today())
        received_on = business_dates(events).get(1, events[0].occurred_on)
        if as_of < received_on:
            raise InvalidDate(f"{normalise_reference(ref)} was received on {received_on}; "
                              f"there is nothing to show as of {as_of}")
        case = fold_as_of(events, as_of)
        view = case_view(case, self.policy_of(case), as_of)
        view["known_at"] = known_at
        view["erasure"] = self.erasure_of(case)
        return view

    def erasure_of(self, case: Complaint) -> dict[str, Any] | None:
        """When, by whom and why the complainant's personal data was erased (None if it was not)."""
        subject = self._stored_subject(case.complainant_id) if case.complainant_id else None
        return subject.erasure if subject else None

    def history(self, ref: str, known_at: datetime | None = None) -> list[dict[str, Any]]:
        """Every event on the case in the order it was recorded (up to `known_at`): the audit trail."""
        return [event_view(e) for e in self.case_events(ref, known_at)]

    def event_count(self) -> int:
        return self.recorder.max_notification_id() or 0

    # ------------------------------------------------------------------------------------------------ stream
    def subscribe(self, after: int | None = None, events: Iterable[str] | None = None, *, follow: bool = True,
                  limit: int | None = None, personal_data: bool = True, poll: float = 0.5,
                  on_caught_up: Callable[[int], None] | None = None,
                  reconnect: Reconnect | None = None) -> Subscription:
        """Every complaint event after position `after` (of the types in `events`, default all) as StreamEvents:
        first those already in the log, then, if `follow`, each new one as it is committed, until stop().

        `personal_data=False` streams a person's details as "[withheld]" (for warehouses, and for database roles
        that may not read the key table). A following subscription waits out a lost connection (a server restart,
        a dropped session) and carries on from its position, logging one warning when the connection is lost and
        one when it is back (logger `complaints_ledger.stream`); pass `reconnect` to choose how (e.g. a
        `give_up_after`), or `Reconnect.never()` to have every error end it."""
        names = event_names(list(events or ()))
        if after is not None and not 0 <= after <= MAX_POSITION:
            raise InvalidAction(f"position {quoted(after)} is not valid: positions start at 1 (0 means the beginning)")
        if limit is not None and not 1 <= limit <= MAX_POSITION:
            raise InvalidAction(f"a limit of {quoted(limit)} events is not valid: give 1 or more")
        poll = seconds(poll)
        mapper = self.mapper if personal_data else self.sealed_mapper()
        if reconnect is None:
            reconnect = Reconnect(lost=self.connection_lost, report=logging.getLogger("complaints_ledger.stream")
                                  .warning) if follow else Reconnect.never()
        return Subscription(self.recorder, mapper, self._first_key, after=after or 0, events=names, follow=follow,
                            waiter=self.waiter_factory(), poll=poll, limit=limit, on_caught_up=on_caught_up,
                            reconnect=reconnect)

    def _first_key(self, originator_id: UUID) -> str | None:
        """A case's or feedback's reference, or a data subject's id, from the aggregate's first event."""
        stored = self.recorder.select_events(originator_id, lte=1)
        if not stored:
            return None
        first = self.sealed_mapper().to_domain_event(stored[0])
        return getattr(first, "ref", None) or getattr(first, "complainant_id", None)

    def sealed_mapper(self) -> Any:
        """The mapper that leaves personal data sealed ("[withheld]"): for read models and key lookups."""
        if self._sealed_mapper is None:
            self._sealed_mapper = getattr(self.mapper, "without_personal_data", lambda: self.mapper)()
        return self._sealed_mapper


def _not_yours(login: str, member: dict[str, Any] | None, named: str) -> str:
    """The one line refusing to record someone else's approval from this login."""
    you = f"{login} ({member['name']})" if member is not None and member["name"] != login else login
    return (f"only {named}'s own database login may record their approval: you are logged in as {you}, and on "
            "PostgreSQL the one who approves is the login, never a typed name")


def _actor(actor: str) -> str:
    """Who records: a name like any other the ledger keeps (one line, at most NAME_MAX characters)."""
    return plain_text(actor, "the actor", "name")  # type: ignore[return-value]


def fold_as_of(events: list[Any], as_of: date) -> Complaint:
    """Replay only what had happened by the end of `as_of`.

    Steps are recorded in business-date order, but a note back-dated and recorded late sits after later steps in the
    stream, so this is a filter, not a prefix; the library's next-version check is satisfied event by event.
    A step happened on its date as corrected, and every correction among `events` applies whatever its own date:
    `as_of` is business time (the case on that day, as now known); what was believed before a correction is what
    the events recorded by then give (`known_at`). So the breach table's record as of a date agrees with this.
    """
    dated = business_dates(events)
    case: Any = None
    for e in events:
        if e.originator_version == 1 or type(e) is Complaint.Corrected or \
                dated.get(e.originator_version, e.occurred_on) <= as_of:
            if case is not None:
                case.version = e.originator_version - 1
            case = e.mutate(case)
    return case


def business_dates(events: list[Any]) -> dict[int, date]:
    """The corrected business date of each event that a correction among `events` re-dated (the receipt is 1)."""
    dated: dict[int, date] = {}
    for e in events:
        if type(e) is Complaint.Corrected:
            if e.event_version is not None:
                dated[e.event_version] = date.fromisoformat(e.new)
            elif e.field == "received-date":
                dated[1] = date.fromisoformat(e.new)
    return dated


def event_view(e: Any) -> dict[str, Any]:
    return {
        "version": e.originator_version,
        "event": type(e).__name__,
        "occurred_on": e.occurred_on,
        "recorded_at": e.timestamp,
        "actor": e.actor,
        "details": {k: v for k, v in e.__dict__.items() if k not in EVENT_META},
    }


def case_view(case: Complaint, policy: Policy, as_of: date) -> dict[str, Any]:
    """A plain, JSON-ready picture of one case."""
    deadlines = case.deadlines(policy, as_of)
    nxt = case.next_milestone(policy, as_of)
    limit_ends = case.time_limit_ends(policy)
    stage = policy.stage(case.stage)
    return {
        "ref": case.ref,
        "policy": case.policy_name,
        "policy_version": case.policy_version,
        "policy_hash": case.policy_hash,
        "status": case.status,
        "stage": case.stage,
        "stage_name": stage.name,
        "final_stage": case.stage == policy.last_stage,
        "received_on": case.received_on,
        "as_of": as_of,
        "version": case.version,
        "complainant_id": case.complainant_id,
        "source": case.source,
        "complainant": case.complainant,
        "channel": case.channel,
        "category": case.category,
        "summary": case.summary,
        "issue_date": case.issue_date,
        "property": case.property_ref,
        "uprn": getattr(case, "uprn", None),
        "tenure": getattr(case, "tenure", None),
        "contact": case.contact_details,
        "representative": case.representative,
        "time_limit": {
            "months": policy.time_limit_months,
            "ends_on": limit_ends,
            "outside": bool(limit_ends and case.received_on > limit_ends),
        },
        "next_milestone": nxt.as_dict() if nxt else None,
        "deadlines": [d.as_dict() for d in deadlines],
        "timescales": timescales(policy, case, as_of),  # each response against the landlord's and the Code's clock
        "stages": [
            {
                "stage": s.number,
                "name": policy.stage(s.number).name,
                "started_on": s.started_on,
                "escalation_reason": s.reason,
                "acknowledged_on": s.acknowledged_on,
                "contacted_on": s.contacted_on,
                "extensions": s.extensions,
                "hearings": s.hearings,
                "responded_on": s.responded_on,
                "outcome": s.outcome,
                "response_summary": s.response_summary,
                "remedies": s.remedies,
                "closed_on": s.closed_on,
            }
            for s in case.stages
        ],
        "appeal_closes_on": case.appeal_closes(policy) if case.status == "open" else None,
        "reopen_by": case.reopen_by(policy),
        "deemed_accepted_on": case.deemed_accepted_on(policy),
        "resolution": case.resolution,
        "refusal": case.refusal,
        "withdrawal": case.withdrawal,
        "compensation": {**case.compensation, "pending": case.pending_compensation},
        "referred_on": case.referred_on,
        "determination": case.determination,
        "ombudsman": ombudsman_view(case, policy.working_calendar, as_of),
        "closed_on": case.closed_on,
        "satisfaction": case.satisfaction,
        "notes": case.notes,
        "deviations": case.deviations,
        "reopenings": case.reopenings,
        "late_escalations": case.late_escalations,
        "learning": case.learning,
        "corrections": case.corrections,
    }
