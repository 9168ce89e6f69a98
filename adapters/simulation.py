"""A realistic sample ledger: a year of complaints across the shipped procedures, reproducible by seed.

Cases are played through the real aggregate (so every rule is honoured) and saved in batches through
ComplaintsLedger.import_cases: one transaction per batch, not per event. The same generator backs `demo` and
`simulate` (benchmarks use the latter at any size).
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterator

from ..domain.complaint import Complaint
from ..domain.errors import InvalidAction
from ..domain.ledger import ComplaintsLedger
from ..domain.policy import Policy
from . import play_ahead, policy_files

DEMO_CASES = 360  # a year at a landlord of ~10,000 homes (the sector's median is ~35 stage 1 complaints per 1,000)
POLICY_WEIGHTS = {"hoc-2024": 40, "connexus-2021": 15, "ohg-2010": 15, "broadland-2020": 15, "aspire-2017": 15}
CATEGORIES = {
    "repairs": 30, "damp and mould": 14, "heating and hot water": 10, "communication": 10, "staff conduct": 6,
    "anti-social behaviour": 6, "rent and service charges": 8, "estate services": 7, "allocations": 4,
    "adaptations": 3, "service request in progress": 2,
}
SUMMARIES = {
    "repairs": ["Leaking roof reported three times, still not fixed", "Kitchen repair left unfinished",
                "Operative did not attend the booked appointment"],
    "damp and mould": ["Black mould in bedroom keeps coming back", "Damp survey promised but never done"],
    "heating and hot water": ["No heating for a week", "Boiler breaks down every winter"],
    "communication": ["Nobody returned my calls", "Letters sent to the wrong address"],
    "staff conduct": ["Housing officer was rude on the phone"],
    "anti-social behaviour": ["Neighbour noise not dealt with"],
    "rent and service charges": ["Service charge increase not explained", "Rent account shows payments missing"],
    "estate services": ["Communal areas not cleaned for months", "Grass cutting missed all summer"],
    "allocations": ["Transfer application lost"],
    "adaptations": ["Stair lift installation delayed"],
    "service request in progress": ["Chasing an open repair job"],
}
FIRST = ["Aisha", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Harry", "Isla", "Jack", "Kiran", "Leah",
         "Mohammed", "Nia", "Oliver", "Priya", "Rhys", "Sophie", "Tom", "Zara"]
LAST = ["Ahmed", "Brown", "Clarke", "Davies", "Evans", "Green", "Hughes", "Iqbal", "Jones", "Khan", "Lewis",
        "Morgan", "Patel", "Roberts", "Smith", "Taylor", "Walker", "Williams", "Wilson", "Wright"]
CHANNELS = {"phone": 35, "email": 25, "web": 15, "portal": 10, "letter": 8, "in-person": 4, "social-media": 3}
PANEL_NAMES = ["Pat Quinn", "Sam Okafor", "Jo Marsh", "Lee Grant", "Ruth Dale", "Amir Shah"]


class _Past(Exception):
    """The next step would fall after the simulated 'today': the case stays as it is."""


TENURE_MIX = {"lcra": 85, "lcho": 9, "other": 6}


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class _CasePlayer:
    """Plays one complaint's life through the aggregate, one plausible step after another."""

    def __init__(self, rng: random.Random, policy: Policy, until: date, actor: str):
        self.rng, self.policy, self.until, self.actor = rng, policy, until, actor
        self.cal = policy.working_calendar
        self.tags: set[str] = set()

    def wd(self, start: date, days: int) -> date:
        return self.cal.add_working_days(start, days)

    def at(self, day: date) -> date:
        if day > self.until:
            raise _Past
        return max(day, self.case.last_step_on)

    def do(self, verb: str, day: date, **kwargs: Any) -> date:
        day = self.at(day)
        getattr(self.case, verb)(on=day, today=self.until, actor=self.actor, **kwargs)
        return day

    def play(self, ref: str, received_on: date) -> Complaint:
        rng, policy = self.rng, self.policy
        category = _pick(rng, CATEGORIES)
        months = policy.time_limit_months or 12
        stale = rng.random() < 0.03
        issue_date = received_on - timedelta(days=rng.randint(months * 31, months * 31 + 120) if stale
                                             else rng.randint(0, 60))
        representative = rng.random() < 0.08
        self.case = Complaint.receive(
            ref=ref, policy=policy, complainant=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            channel=_pick(rng, CHANNELS), summary=rng.choice(SUMMARIES[category]), received_on=received_on,
            today=self.until, actor=self.actor, issue_date=issue_date, category=category,
            property_ref=f"PROP-{rng.randint(1, 9999):04d}", contact=None,
            representative=f"{rng.choice(FIRST)} {rng.choice(LAST)}" if representative else None,
            representative_authorised=representative and rng.random() < 0.7,
            # The tenure takes its own draw, so every seed plays every case as it did before tenure was recorded:
            # mostly low-cost rental, some shared ownership (LCHO), some leaseholders and market rent (other).
            tenure=_pick(random.Random(f"{ref}:tenure:{rng.getstate()[1][0]}"), TENURE_MIX),
        )
        try:
            self._life(received_on, category, stale)
        except _Past:
            pass
        return self.case

    def _life(self, received_on: date, category: str, stale: bool) -> None:
        rng, policy, case = self.rng, self.policy, self.case
        if stale and "out-of-time" in policy.refusal_reasons:
            self.do("refuse", self.wd(received_on, rng.randint(1, 4)), policy=policy, reason="out-of-time",
                    explanation="The issue arose outside the time limit for complaints")
            self.tags.add("refused")
            return
        if category in policy.excluded_categories and rng.random() < 0.7:
            self.do("refuse", self.wd(received_on, rng.randint(1, 4)), policy=policy, reason="excluded-category",
                    explanation=f"{category.capitalize()} is handled under a separate procedure")
            self.tags.add("refused")
            return
        if rng.random() < 0.02 and "legal-action" in policy.refusal_reasons:
            self.do("refuse", self.wd(received_on, rng.randint(1, 5)), policy=policy, reason="legal-action",
                    explanation="Legal proceedings have started on the same issue")
            self.tags.add("refused")
            return
        if policy.early_resolution and rng.random() < 0.3:
            limit = policy.early_resolution_working_days or 2
            self.do("resolve_early", self.wd(received_on, rng.randint(0, limit)), policy=policy,
                    summary="Put right on first contact")
            self.tags.add("resolved-early")
            return
        if rng.random() < 0.03:
            self.do("withdraw", self.wd(received_on, rng.randint(1, 8)), reason="Resident no longer wishes to pursue")
            self.tags.add("withdrawn")
            return
        wants_compensation = rng.random() < 0.18
        requested = Decimal(rng.randrange(50, 1200, 25))
        stage = 1
        while True:
            start = case.current.started_on
            st = policy.stage(stage)
            if st.milestone("contact"):
                due = start + timedelta(days=st.milestone("contact").offset)
                self.do("contact", due + timedelta(days=rng.choice([-2, -1, 0, 0, 1, 3])),
                        summary="Called to understand what is still wrong")
            ack_wd = rng.choice([1, 1, 2, 2, 3, 3, 4, 5, 5, 7]) if rng.random() > 0.06 else rng.randint(6, 9)
            ack = self.do("acknowledge", self.wd(start, ack_wd))
            window = policy.compensation_request_window_days
            if stage == 1 and wants_compensation and (window is None or (ack - case.received_on).days <= window):
                self.do("request_compensation", ack, policy=policy, amount=requested, reason="Damage and distress")
            if rng.random() < 0.13 and st.extension_cap:
                days = min(st.extension_cap, rng.choice([5, 10, 10, 15, 20]))
                # Agreed before the response falls due (an extension cannot excuse a late response).
                when = min(self.wd(ack, rng.randint(1, 4)), case.respond_due(policy))
                if when >= ack:
                    self.do("extend", when, policy=policy, working_days=days,
                            reason="Waiting for a contractor's report", agreed=True,
                            ombudsman_details_given=int(case.ref[-2:]) % 8 != 0)  # about 1 in 8 forgotten
                    self.tags.add("extended")
            if st.has_panel:
                members = self._panel(st)
                hearing_due = next((due for name, due, *_ in _deadlines(policy, case) if name == "hearing"), None)
                when = (hearing_due - timedelta(days=rng.randint(0, 6))) if hearing_due else self.wd(ack, 8)
                self.do("hold_hearing", when, policy=policy, panel=members)
            due = case.respond_due(policy)
            late = rng.random() < 0.14
            when = self.wd(due, rng.randint(1, 8)) if late else due - timedelta(days=rng.randint(0, 6))
            outcome = rng.choices(["upheld", "partly-upheld", "not-upheld"], weights=[35, 30, 35])[0]
            remedies = ["apology", "repair completed"] if outcome != "not-upheld" else []
            if stage == 1:
                decided = self.do("respond", when, outcome=outcome, summary="Investigated and answered",
                                  remedies=remedies)
            else:
                decided = self.do("review", when, policy=policy, outcome=outcome, summary="Reviewed the stage "
                                  f"{stage - 1} response", remedies=remedies)
            if decided > due:
                self.tags.add("late")
            if case.pending_compensation is not None:
                if outcome != "not-upheld" and rng.random() < 0.8:
                    approved = min(requested, Decimal(rng.randrange(50, 800, 25)))
                    self.do("approve_compensation", decided, amount=approved)
                    offset = (approved * Decimal("0.4")).quantize(Decimal("0.01")) if rng.random() < 0.2 \
                        else Decimal("0")
                    self.do("pay_compensation", self.wd(decided, rng.randint(2, 10)), amount=approved, offset=offset)
                    self.tags.add("compensated")
                else:
                    self.do("decline_compensation", decided, reason="No loss attributable to the landlord")
            if outcome != "not-upheld" and rng.random() < 0.35:
                case.record_learning(on=self.at(decided), today=self.until, actor=self.actor,
                                     text=rng.choice(["Repairs triage now checks for repeat reports",
                                                      "Call-backs now logged with a due time",
                                                      "Damp cases get a surveyor visit within 10 days"]))
            escalate_p = 0.45 if outcome == "not-upheld" else 0.15
            if stage < policy.last_stage and rng.random() < escalate_p:
                limit = policy.appeal_window_days or 20
                try:
                    self.do("escalate", case.current.responded_on + timedelta(days=rng.randint(1, limit)),
                            policy=policy, reason="Still dissatisfied")
                except InvalidAction:  # e.g. a payment pushed the date past an appeal window: the outcome stands
                    break
                self.tags.add("escalated")
                stage += 1
                continue
            break
        # A case extended, escalated and compensated at every turn is the kind residents take to the Ombudsman.
        inquiry = {"extended", "escalated", "compensated"} <= self.tags
        if stage == policy.last_stage and (rng.random() < 0.12 or inquiry):
            self.do("refer", decided + timedelta(days=rng.randint(7, 60)), policy=policy)
            self.tags.add("referred")
            if inquiry:
                self.tags.add("inquiry")
            # The Ombudsman's evidence request, the orders' due dates and their compliance take their own draws, and
            # the simulation's own draws are taken in the order they always were: every seed plays every case (dates,
            # outcomes, closures, satisfaction) as it did before the Ombudsman stage was recorded.
            omb = random.Random(f"{case.ref}:{self.rng.getstate()[1][0]}")
            finding = rng.choices(
                ["no-maladministration", "service-failure", "maladministration", "severe-maladministration",
                 "reasonable-redress"], weights=[30, 25, 25, 5, 15])[0]
            ordered = Decimal(rng.randrange(100, 1500, 50)) if finding in ("maladministration",
                                                                          "severe-maladministration") else Decimal(0)
            determining = case.referred_on + timedelta(days=rng.randint(60, 200))
            asked = self.at(case.referred_on + timedelta(days=omb.randint(5, 30)))
            self.do("request_evidence", asked, due=asked + timedelta(days=14))
            self.do("send_evidence", asked + timedelta(days=omb.choice([5, 10, 13, 14, 16, 21])))
            determined = self.at(determining)
            orders = ["Apologise in writing"] + (["Pay compensation"] if ordered else [])
            self.do("record_determination", determined, finding=finding, orders=orders, compensation=ordered,
                    order_dues=[determined + timedelta(days=omb.choice([3, 7, 14, 28, 28]))] * len(orders))
            self.tags.add("determined")
            if ordered:
                paid = self.do("pay_compensation", self.wd(case.last_step_on, rng.randint(5, 20)), amount=ordered,
                               offset=Decimal("0"))
                self.do("comply", paid, order=2, evidence="Paid by BACS")
            closing = self.wd(case.last_step_on, rng.randint(0, 5))  # complied with by then, whenever due
            self.do("comply", min(closing, determined + timedelta(days=omb.randint(1, 10))), order=1,
                    evidence="Letter of apology sent")
            closed = self.do("close", closing)
        else:
            closed = self.do("close", self.wd(case.last_step_on, rng.randint(0, 5)))
        if rng.random() < 0.4:
            self.do("record_satisfaction", closed + timedelta(days=rng.randint(1, 25)),
                    score=rng.choices([1, 2, 3, 4, 5], weights=[15, 15, 20, 30, 20])[0])

    def _panel(self, stage: Any) -> list[dict[str, str]]:
        members, names = [], iter(self.rng.sample(PANEL_NAMES, len(PANEL_NAMES)))
        for rule in stage.panel:
            members += [{"name": next(names), "role": rule.role} for _ in range(rule.at_least)]
        if self.rng.random() < 0.5:
            members.append({"name": next(names), "role": "independent"})
        return members


def _deadlines(policy: Policy, case: Complaint) -> list[tuple]:
    from ..domain.deadlines import stage_deadlines

    return stage_deadlines(policy, case.current)


def complaints(rng: random.Random, *, cases: int, until: date, actor: str, policies: list[Policy] | None = None,
               on_case: Callable[[str, Complaint, set[str]], None] | None = None,
               progress: Callable[[int, int], None] | None = None
               ) -> Iterator[tuple[date, Policy, Callable[[str], Complaint]]]:
    """`cases` complaints received over the year up to `until`, as ComplaintsLedger.import_cases takes them: each
    is played through the aggregate once import_cases gives it its reference; `on_case(ref, case, tags)` hears it."""
    if policies is None:
        catalogue = {name: policy_files.load_shipped(name) for name in POLICY_WEIGHTS}
        weights = POLICY_WEIGHTS
    else:
        catalogue = {p.name: p for p in policies}
        weights = {p.name: 1 for p in policies}
    start = until - timedelta(days=364)
    days = sorted(start + timedelta(days=rng.randint(0, 364)) for _ in range(cases))
    for done, received_on in enumerate(days, start=1):
        policy = catalogue[_pick(rng, weights)]
        player = _CasePlayer(rng, policy, until, actor)

        def build_case(ref: str, player=player, received_on=received_on) -> Complaint:
            case = player.play(ref, received_on)
            if on_case:
                on_case(ref, case, player.tags)
            return case

        yield received_on, policy, build_case
        if progress and (done % 100 == 0 or done == cases):
            progress(done, cases)


def build(ledger: ComplaintsLedger, *, cases: int, seed: int, actor: str, policies: list[Policy] | None = None,
          until: date | None = None, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Generate `cases` complaints received over the year up to `until` and save them; return a summary."""
    rng = random.Random(seed)
    until = until or date.today()
    start = until - timedelta(days=364)
    tags: Counter[str] = Counter()
    examples: dict[str, str] = {}
    statuses: Counter[str] = Counter()

    def heard(ref: str, case: Complaint, case_tags: set[str]) -> None:
        statuses[case.status] += 1
        for tag in case_tags:
            tags[tag] += 1
            examples.setdefault(tag, ref)
        if "escalated" in case_tags and "as_of" not in examples:
            examples["as_of"] = (ref, case.stages[1].started_on - timedelta(days=1))

    def adopt(worker: tuple[Any, Counter[str], Counter[str], dict[str, Any]]) -> None:
        """What the cases' building left in the worker process: the generator's state (the feedback below takes
        the draws after the cases', as in one process) and the tallies `heard` kept there."""
        state, worker_statuses, worker_tags, worker_examples = worker
        rng.setstate(state)
        statuses.update(worker_statuses)
        tags.update(worker_tags)
        examples.update(worker_examples)

    ahead = play_ahead.in_worker(ledger, finish=lambda: (rng.getstate(), statuses, tags, examples), finished=adopt)
    refs = ledger.import_cases(complaints(rng, cases=cases, until=until, actor=actor, policies=policies,
                                          on_case=heard, progress=progress), ahead=ahead)
    feedback = 0
    for _ in range(max(1, cases // 8)):
        kind = rng.choices(["compliment", "comment", "suggestion"], weights=[60, 20, 20])[0]
        ledger.record_feedback(kind=kind, actor=actor, received_on=start + timedelta(days=rng.randint(0, 364)),
                               summary={"compliment": "Thank you to the repairs team",
                                        "comment": "The new portal is confusing",
                                        "suggestion": "Text reminders before appointments"}[kind])
        feedback += 1
    return {
        "cases": len(refs),
        "feedback": feedback,
        "from": start.isoformat(),
        "until": until.isoformat(),
        "seed": seed,
        "events": ledger.event_count(),
        "statuses": dict(sorted(statuses.items())),
        "tags": dict(sorted(tags.items())),
        "examples": examples,
        "first_ref": refs[0] if refs else None,
    }


def describe(summary: dict[str, Any], url: str) -> str:
    """What a newcomer should look at next."""
    ex = summary["examples"]
    c = f"complaints --db {url}"
    lines = [
        f"Built a sample ledger at {url}: {summary['cases']} complaints received {summary['from']} to "
        f"{summary['until']} under five policy profiles, {summary['feedback']} compliments/comments/suggestions, "
        f"{summary['events']} events.",
        "  " + " · ".join(f"{k} {v}" for k, v in summary["statuses"].items()),
        "",
        "Look next:",
    ]
    picks = [
        ("late", "show", "a response sent after its deadline (LATE, working days late)"),
        ("extended", "show", "an extended deadline"),
        ("escalated", "history", "an escalated case's full audit trail"),
        ("compensated", "show", "compensation requested, approved and paid"),
        ("determined", "history", "a Housing Ombudsman referral and determination"),
        ("resolved-early", "show", "an early (informal) resolution"),
    ]
    for tag, verb, why in picks:
        if tag in ex:
            lines.append(f"  {c} {verb} {ex[tag]}    # {why}")
    if "inquiry" in ex:
        lines.append(f"  {c} bundle {ex['inquiry']} --output inquiry-{ex['inquiry']}    # an Ombudsman inquiry "
                     "bundle: extension, escalation, compensation, referral")
    if "as_of" in ex:
        ref, day = ex["as_of"]
        lines.append(f"  {c} show {ref} --as-of {day} --format json    # the case as it stood the day before escalation")
    lines.append("  complaints policy check ohg-2010    # a seed procedure against the Complaint Handling Code 2024")
    lines.append(f"  {c} stats --by quarter    # committee statistics for the last 12 months")
    lines.append(f"  {c} breaches    # deadlines missed, with working days late")
    lines.append(f"  {c} report committee --output committee.html    # the committee report (open in a browser)")
    return "\n".join(lines)
