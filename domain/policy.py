"""Policy profiles: a landlord's complaints procedure as data, so every procedure runs on the same code.

A profile is parsed from a plain dict (the adapters read it from TOML) and validated here. Its content hash is taken
over the canonical JSON of that dict, so a case can pin exactly the rules it was received under.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .errors import PolicyError
from .limits import (MAX_EXTENSION_WORKING_DAYS, MAX_OFFSET_DAYS, MAX_PANEL_AT_LEAST, MAX_RETENTION_YEARS, MAX_STAGES,
                     MAX_TIME_LIMIT_MONTHS, MAX_WINDOW_DAYS)
from .values import quoted
from .working_days import CALENDARS, WorkingCalendar, calendar_for
from .vocabulary import DEFAULT_TENURE, PANEL_ROLES, REFUSAL_REASONS, STAFF_ROLES, TENURES

MILESTONES = ("acknowledge", "contact", "hearing", "respond")
# The event that completes each milestone, usable as another milestone's anchor.
COMPLETION_ANCHOR = {
    "acknowledge": "acknowledged",
    "contact": "contacted",
    "hearing": "hearing-held",
    "respond": "responded",
}
STAGE_START = {True: "received", False: "escalated"}  # stage 1 starts at receipt, later stages at escalation
UNITS = ("working", "calendar")
# Who may take each decision when a profile does not say (the Code asks for a more senior officer at stage 2 and
# says nothing of refusals, compensation or deviations: these follow the usual scheme of delegation).
DEFAULT_AUTHORITY = {
    "refuse": ("manager", "head-of-service", "director"),
    "approve_compensation": ("manager", "head-of-service", "director"),
    "deviate": ("head-of-service", "director"),
    "decide_review": ("manager", "head-of-service", "director"),
    # Correcting a recorded fact moves deadlines and statistics: above the officer who keyed it (assumed: the seeds
    # are silent; a manager signs off a correction to the record).
    "correct": ("manager", "head-of-service", "director"),
    # Accepting an escalation after the profile's appeal window (the Code: escalation must not be unreasonably
    # refused; the seeds are silent on who may make the exception): as for refusals, a manager or above.
    "escalate_late": ("manager", "head-of-service", "director"),
    # Destroying a person's key cannot be undone; a data-protection decision above case-handling level (assumed:
    # the seeds are silent, UK GDPR art. 17 erasures are normally signed off by a senior manager).
    "erase": ("head-of-service", "director"),
}
# Years a closed case's personal data is kept ([retention] years_after_closure): the Limitation Act's 6 years.
DEFAULT_RETENTION_YEARS = 6


@dataclass(frozen=True)
class Milestone:
    """A deadline: `offset` days (working or calendar) after the `anchor` event of the same stage."""

    name: str
    anchor: str
    offset: int
    unit: str = "working"
    assumed: bool = False

    def describe(self) -> str:
        unit = "working days" if self.unit == "working" else "calendar days"
        return f"{self.name} within {self.offset} {unit} of {self.anchor.replace('-', ' ')}"


@dataclass(frozen=True)
class PanelRule:
    role: str
    at_least: int


@dataclass(frozen=True)
class Stage:
    number: int
    name: str
    handler: str
    milestones: tuple[Milestone, ...]
    extension_cap: int
    extension_requires_agreement: bool = False
    panel: tuple[PanelRule, ...] = ()
    assumed: bool = False

    @property
    def start_anchor(self) -> str:
        return STAGE_START[self.number == 1]

    @property
    def has_panel(self) -> bool:
        return bool(self.panel)

    def milestone(self, name: str) -> Milestone | None:
        return next((m for m in self.milestones if m.name == name), None)

    def span_after(self, anchor: str, milestone: str) -> int | None:
        """Longest possible wait, in days, from `anchor` to the milestone's due date.

        Follows the chain of anchors back; if it reaches the stage start without passing `anchor`, the anchor event
        can only be later, so the total is still an upper bound. Calendar days never span more than the same number
        of working days, so they count one for one. None if the stage has no such milestone.
        """
        m = self.milestone(milestone)
        total = 0
        while m is not None:
            total += m.offset
            if m.anchor == anchor or m.anchor == self.start_anchor:
                return total
            m = self.milestone(_milestone_completed_by(m.anchor))
        return None


def _milestone_completed_by(anchor: str) -> str:
    return next(name for name, done in COMPLETION_ANCHOR.items() if done == anchor)


@dataclass(frozen=True)
class Policy:
    """One landlord's procedure. Immutable; a case keeps the version it was received under."""

    name: str
    version: str
    title: str
    source: str
    calendar: str
    closure_days: frozenset[date]
    stages: tuple[Stage, ...]
    time_limit_months: int | None
    time_limit_from: str
    early_resolution: bool
    early_resolution_working_days: int | None
    appeal_window_days: int | None
    deemed_acceptance_days: int | None
    compensation_request_window_days: int | None
    refusal_reasons: tuple[str, ...]
    excluded_categories: tuple[str, ...]
    representative_needs_authorisation: bool
    ombudsman: str
    content_hash: str
    data: dict[str, Any] = field(repr=False, compare=False, hash=False)
    # Which staff roles may take each decision: [authority] in the profile, over DEFAULT_AUTHORITY.
    authority: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_AUTHORITY), compare=False,
                                                  hash=False)
    retention_years: int = DEFAULT_RETENTION_YEARS
    # The tenure a case is recorded with when `receive`/`import` give none (`default_tenure` in the profile).
    default_tenure: str = DEFAULT_TENURE

    @property
    def last_stage(self) -> int:
        return len(self.stages)

    def stage(self, number: int) -> Stage:
        return self.stages[number - 1]

    @property
    def working_calendar(self) -> WorkingCalendar:
        cached = self.__dict__.get("_calendar")
        if cached is None:
            cached = calendar_for(self.calendar, self.closure_days)
            object.__setattr__(self, "_calendar", cached)  # frozen dataclass: a memo, not state
        return cached

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, stored: bool = False) -> "Policy":
        """A profile from its data, checked. `stored`: one a case was received under, read back from the ledger;
        the bounds on its numbers (limits.py) were added later and are not applied again to what is recorded."""
        data = canonical(raw)
        try:
            if not isinstance(data, dict):
                raise TypeError("a profile is a table of settings")
            return _parse(data, bounded=not stored)
        except PolicyError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            name = data.get("name", "?") if isinstance(data, dict) else "?"
            detail = f"missing {quoted(str(e).strip(chr(39)))}" if isinstance(e, KeyError) else str(e)
            if isinstance(e, AttributeError):
                detail = "a setting that should be a table or a list is not one"
            raise PolicyError(f"policy profile {quoted(name)} is malformed: {detail}") from None


def canonical(raw: Any) -> Any:
    """Dates become ISO strings so the profile round-trips through JSON and hashes the same everywhere."""
    if isinstance(raw, dict):
        return {str(k): canonical(v) for k, v in raw.items()}
    if isinstance(raw, (list, tuple)):
        return [canonical(v) for v in raw]
    if isinstance(raw, date):
        return raw.isoformat()
    return raw


def content_hash(data: dict[str, Any]) -> str:
    encoded = json.dumps(canonical(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _choice(value: str, allowed: tuple[str, ...] | dict, what: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise PolicyError(f"{what} {quoted(value)} is not one of: {', '.join(allowed)}")
    return value


def _int(value: Any, what: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number, not {quoted(value)}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{what} must be at most {maximum:,}, not {quoted(value)}")
    return value


def _parse(data: dict[str, Any], bounded: bool = True) -> Policy:
    name = data["name"]
    if bounded and (not isinstance(name, str) or not name.strip() or len(name) > 200 or not name.isprintable()):
        raise ValueError(f"name {quoted(name)} must be one line of text, at most 200 characters")

    def most(limit: int) -> int | None:
        return limit if bounded else None

    if bounded and len(data["stages"]) > MAX_STAGES:
        raise ValueError(f"{len(data['stages'])} stages is more than the {MAX_STAGES} a profile may have")
    stages: list[Stage] = []
    for number, s in enumerate(data["stages"], start=1):
        milestones = tuple(
            Milestone(
                name=_choice(m["milestone"], MILESTONES, "milestone"),
                anchor=m["anchor"],
                offset=_int(m["offset"], f"stage {number} {quoted(m['milestone'])} offset", most(MAX_OFFSET_DAYS)),
                unit=_choice(m.get("unit", "working"), UNITS, "unit"),
                assumed=bool(m.get("assumed", False)),
            )
            for m in s.get("milestones", [])
        )
        panel = tuple(
            PanelRule(role=_choice(role, PANEL_ROLES, "panel role"),
                      at_least=_int(n, f"panel {role}", most(MAX_PANEL_AT_LEAST)))
            for role, n in (s.get("panel") or {}).items()
        )
        stage = Stage(
            number=number,
            name=s["name"],
            handler=s.get("handler", ""),
            milestones=milestones,
            extension_cap=_int(s.get("extension_cap", 0), f"stage {number} extension_cap",
                               most(MAX_EXTENSION_WORKING_DAYS)),
            extension_requires_agreement=bool(s.get("extension_requires_agreement", False)),
            panel=panel,
            assumed=bool(s.get("assumed", False)),
        )
        _validate_stage(name, stage)
        stages.append(stage)
    if not stages:
        raise PolicyError(f"policy profile {quoted(name)} has no stages")
    early = data.get("early_resolution") or {}
    time_limit = data.get("time_limit") or {}
    appeal = data.get("appeal") or {}
    compensation = data.get("compensation") or {}
    retention = data.get("retention") or {}
    calendar = data.get("calendar", "england-and-wales")
    _choice(calendar, tuple(CALENDARS), "calendar")
    refusal = tuple(_choice(r, REFUSAL_REASONS, "refusal reason") for r in data.get("refusal_reasons", []))
    _whole_numbers(name, {
        "time_limit.months": (time_limit.get("months"), MAX_TIME_LIMIT_MONTHS),
        "early_resolution.within_working_days": (early.get("within_working_days"), MAX_WINDOW_DAYS),
        "appeal.window_days": (appeal.get("window_days"), MAX_WINDOW_DAYS),
        "appeal.deemed_acceptance_days": (appeal.get("deemed_acceptance_days"), MAX_WINDOW_DAYS),
        "compensation.request_within_days": (compensation.get("request_within_days"), MAX_WINDOW_DAYS),
        "retention.years_after_closure": (retention.get("years_after_closure"), MAX_RETENTION_YEARS),
    }, bounded)
    return Policy(
        name=name,
        version=str(data["version"]),
        title=data.get("title", name),
        source=data.get("source", ""),
        calendar=calendar,
        closure_days=frozenset(date.fromisoformat(d) for d in data.get("closure_days", [])),
        stages=tuple(stages),
        time_limit_months=time_limit.get("months"),
        time_limit_from=time_limit.get("from", "issue-or-awareness"),
        early_resolution=bool(early.get("allowed", False)),
        early_resolution_working_days=early.get("within_working_days"),
        appeal_window_days=appeal.get("window_days"),
        deemed_acceptance_days=appeal.get("deemed_acceptance_days"),
        compensation_request_window_days=compensation.get("request_within_days"),
        refusal_reasons=refusal,
        excluded_categories=tuple(c.lower() for c in data.get("excluded_categories", [])),
        representative_needs_authorisation=bool(data.get("representative_needs_authorisation", False)),
        ombudsman=data.get("ombudsman", "Housing Ombudsman"),
        content_hash=content_hash(data),
        data=data,
        authority=_authority(name, data.get("authority") or {}),
        retention_years=retention.get("years_after_closure", DEFAULT_RETENTION_YEARS),
        default_tenure=_choice(data.get("default_tenure", DEFAULT_TENURE), TENURES, "default_tenure"),
    )


def _authority(policy: str, given: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    authority = dict(DEFAULT_AUTHORITY)
    for decision, roles in given.items():
        if decision not in DEFAULT_AUTHORITY:
            raise PolicyError(f"policy profile {quoted(policy)}: [authority] {quoted(decision)} is not one of "
                              f"{', '.join(DEFAULT_AUTHORITY)}")
        if not isinstance(roles, list) or not roles:
            raise PolicyError(f"policy profile {quoted(policy)}: [authority] {decision} must list at least one role")
        authority[decision] = tuple(_choice(r, STAFF_ROLES, f"[authority] {decision} role") for r in roles)
    return authority


def _whole_numbers(policy: str, values: dict[str, tuple[Any, int]], bounded: bool = True) -> None:
    for key, (value, maximum) in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{key} must be a whole number (of days, months or years), not {quoted(value)}")
        if bounded and value is not None and value > maximum:
            raise ValueError(f"{key} must be at most {maximum:,}, not {quoted(value)}")


def _validate_stage(policy: str, stage: Stage) -> None:
    where = f"policy profile {quoted(policy)}, stage {stage.number}"
    seen: set[str] = set()
    allowed_anchors = {stage.start_anchor}
    for m in stage.milestones:
        if m.name in seen:
            raise PolicyError(f"{where}: milestone {quoted(m.name)} appears twice")
        if m.anchor not in allowed_anchors:
            raise PolicyError(
                f"{where}: milestone {quoted(m.name)} is anchored on {quoted(m.anchor)}, which must be "
                f"{' or '.join(sorted(allowed_anchors))} (a milestone listed before it)"
            )
        if m.offset < 0:
            raise PolicyError(f"{where}: milestone {quoted(m.name)} has a negative offset")
        if m.name == "hearing" and not stage.has_panel:
            raise PolicyError(f"{where}: a hearing milestone needs a panel")
        seen.add(m.name)
        allowed_anchors.add(COMPLETION_ANCHOR[m.name])
    if "respond" not in seen:
        raise PolicyError(f"{where}: every stage needs a 'respond' milestone")
    if stage.extension_cap < 0:
        raise PolicyError(f"{where}: extension_cap must not be negative")


# ---------------------------------------------------------------------------------------------------------------
# Comparison with the Housing Ombudsman Complaint Handling Code 2024


@dataclass(frozen=True)
class RuleResult:
    rule: str
    paragraph: str
    passed: bool
    detail: str


def check_against_code(policy: Policy) -> list[RuleResult]:
    """Each Code 2024 rule a profile can be judged on from its data, with the paragraph it comes from."""
    results: list[RuleResult] = []

    def rule(text: str, paragraph: str, passed: bool, detail: str) -> None:
        results.append(RuleResult(text, paragraph, passed, detail))

    n = len(policy.stages)
    rule("At most two complaint stages", "§5.2–5.3", n <= 2, f"{n} stage{'s' if n != 1 else ''}")
    if policy.early_resolution:
        days = policy.early_resolution_working_days
        within = f" (within {days} working days)" if days is not None else ""
        rule("No informal 'stage 0' before stage 1", "§5.2–5.3", False,
             f"allows early/informal resolution outside the formal stages{within}")
    else:
        rule("No informal 'stage 0' before stage 1", "§5.2–5.3", True, "no informal stage")

    def timescale(stage_no: int, text: str, paragraph: str, anchor: str, milestone: str, limit: int) -> None:
        if stage_no > n:
            rule(text, paragraph, False, f"the procedure has no stage {stage_no}")
            return
        span = policy.stage(stage_no).span_after(anchor, milestone)
        if span is None:
            rule(text, paragraph, False, f"stage {stage_no} sets no '{milestone}' deadline")
        else:
            rule(text, paragraph, span <= limit, f"at most {span} days (Code: {limit} working days)")

    def extension(stage_no: int, paragraph: str, limit: int) -> None:
        text = f"Stage {stage_no} extension no more than {limit} working days"
        if stage_no > n:
            rule(text, paragraph, False, f"the procedure has no stage {stage_no}")
            return
        cap = policy.stage(stage_no).extension_cap
        rule(text, paragraph, cap <= limit, f"cap {cap} working days")

    timescale(1, "Stage 1 acknowledged within 5 working days of receipt", "§6.2", "received", "acknowledge", 5)
    timescale(1, "Stage 1 response within 10 working days of acknowledgement", "§6.3", "acknowledged", "respond", 10)
    extension(1, "§6.4", 10)
    timescale(2, "Stage 2 acknowledged within 5 working days of the escalation request", "§6.11", "escalated",
              "acknowledge", 5)
    timescale(2, "Stage 2 response within 20 working days of acknowledgement", "§6.15", "acknowledged", "respond",
              20)
    extension(2, "§6.16", 20)
    months = policy.time_limit_months
    rule("Complaints accepted up to 12 months after the issue", "§2.3",
         months is None or months >= 12,
         "no time limit" if months is None else f"time limit {months} months")
    return results
