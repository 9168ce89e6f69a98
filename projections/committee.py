"""committee: the dated facts a complaints committee, the Code's annual report and TSM CH01/CH02 count.

One row per event that a report counts (received, acknowledged, responded, escalated, refused, resolved early,
withdrawn, referred, determined, compensation, learning, satisfaction, feedback), dated by its business date and
carrying what was known at that step (in time? within the Code's timescale? extended?). Rows are only ever added,
so any period, cut by month, quarter or half-year, is a sum over rows: figures for a period never depend on when
they were asked for. The one exception is a correction (`complaints correct`): it restates the facts it changes
(`restated`), so that a period counts what really happened in it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable

import sqlalchemy as sa

from ..adapters.projection_store import Write
from ..domain.deadlines import code_response_due
from ..domain.values import add_months

NAME = "committee"
VERSION = 4  # v2: on SQLite the position is the rowid (INTEGER PRIMARY KEY), with no separate index to fill
#               v3: the Ombudsman's evidence requests and orders (due_on, item)
#               v4: the case's tenure on every fact (lcra, lcho, other; None: not recorded), for CH01/CH02 per tenure
MONEY = sa.Numeric(12, 2)
OUTCOMES = ("upheld", "partly-upheld", "not-upheld")
FEEDBACK = ("compliment", "comment", "suggestion")
BUCKETS = ("month", "quarter", "half-year", "year")
CODE_STAGES = (1, 2)  # the Code's two stages: figured in every period, whether or not anything happened at them
# Quarters and half-years follow the financial year (April to March) that TSMs and board reports use.
_BUCKET_MONTHS = {"month": 1, "quarter": 3, "half-year": 6, "year": 12}

# Event name -> fact kind. Steps not listed (contact, hearing, notes, representative, closure) are not counted.
KINDS = {
    "Received": "received", "Acknowledged": "acknowledged", "Responded": "responded", "Reviewed": "responded",
    "Escalated": "escalated", "Refused": "refused", "ResolvedEarly": "resolved-early", "Withdrawn": "withdrawn",
    "ReferredToOmbudsman": "referred", "OmbudsmanDetermined": "determined",
    "CompensationRequested": "compensation-requested", "CompensationApproved": "compensation-approved",
    "CompensationDeclined": "compensation-declined", "CompensationPaid": "compensation-paid",
    "LearningRecorded": "learning", "SatisfactionRecorded": "satisfaction", "FeedbackReceived": "feedback",
    **{"OmbudsmanEvidenceRequested": "evidence-requested", "OmbudsmanEvidenceSent": "evidence-sent",
       "OmbudsmanOrdered": "ordered", "OmbudsmanOrderComplied": "order-complied"},  # the Ombudsman stage
}


class Committee:
    name = NAME
    version = VERSION

    def define(self, metadata: sa.MetaData, suffix: str) -> dict[str, sa.Table]:
        return {"facts": sa.Table(
            f"rm_committee_{suffix}", metadata,
            sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                      autoincrement=False),
            sa.Column("ref", sa.String(40), nullable=False),
            sa.Column("kind", sa.String(24), nullable=False),
            sa.Column("occurred_on", sa.Date, nullable=False, index=True),
            sa.Column("stage", sa.Integer, nullable=True),
            sa.Column("policy", sa.String(64), nullable=True),
            sa.Column("category", sa.String(120), nullable=True),
            sa.Column("channel", sa.String(20), nullable=True),
            sa.Column("detail", sa.String(40), nullable=True),
            sa.Column("in_time", sa.Boolean, nullable=True),
            sa.Column("within_code", sa.Boolean, nullable=True),
            sa.Column("extended", sa.Boolean, nullable=True),
            sa.Column("amount", MONEY, nullable=True),
            sa.Column("score", sa.Integer, nullable=True),
            sa.Column("text", sa.Text, nullable=True),
            sa.Column("due_on", sa.Date, nullable=True),  # an evidence request's or an order's due date
            sa.Column("item", sa.Integer, nullable=True),  # its number on the case
            sa.Column("tenure", sa.String(8), nullable=True),  # the case's tenure as corrected (block: tenure)
        )}

    def writes(self, page: Any) -> list[Write]:
        return [Write("facts", [f for change in page.changes
                                if (f := fact(change.position, change.event, change.case, page)) is not None],
                      updates=[u for change in page.changes if event_name(change.event) == "Corrected"
                               for u in restated(change.event, change.case, page)])]


def restated(event: Any, case: Any, page: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """What a correction changes in the facts already counted for its case: the corrected date of the receipt or
    step, the category and channel every fact carries, and whether each acknowledgement and response was in time
    (deadlines move with the dates they run from). Worked out from the case as corrected, so a rebuild, which
    counts the earlier facts first and then meets the correction, ends with the same rows."""
    ref = case.ref
    out: list[tuple[dict[str, Any], dict[str, Any]]] = [({"ref": ref},
                                                         {"category": case.category, "channel": case.channel,
                                                          "tenure": getattr(case, "tenure", None)})]
    if event.field == "received-date":
        out.append(({"ref": ref, "kind": "received"}, {"occurred_on": case.received_on}))
    elif event.event_version is not None and (kind := KINDS.get(event.step or "")) is not None:
        where = {"ref": ref, "kind": kind, "occurred_on": date.fromisoformat(event.old)}
        if kind != "determined":  # the one fact counted without its stage
            where["stage"] = case.step_dates[event.event_version][2]
        out.append((where, {"occurred_on": date.fromisoformat(event.new)}))
    records = page.milestones(case)
    calendar = page.policy_of(case).working_calendar

    def due(stage: int, milestone: str) -> date | None:
        return next((r.due_on for r in records if r.stage == stage and r.milestone == milestone), None)

    for p in case.stages:
        ack, respond = due(p.number, "acknowledge"), due(p.number, "respond")
        if p.acknowledged_on is not None and ack is not None:
            out.append(({"ref": ref, "kind": "acknowledged", "stage": p.number},
                        {"in_time": p.acknowledged_on <= ack}))
        if p.responded_on is not None and respond is not None:
            out.append(({"ref": ref, "kind": "responded", "stage": p.number},
                        {"in_time": p.responded_on <= respond,
                         "within_code": p.responded_on <= code_response_due(p, calendar)}))
    return out


def event_name(event: Any) -> str:
    return type(event).__qualname__.rsplit(".", 1)[-1]


_KIND_OF_TYPE: dict[type, str | None] = {}
_BLANK = {"position": None, "ref": None, "kind": None, "occurred_on": None, "stage": None, "policy": None,
          "category": None, "channel": None, "detail": None, "in_time": None, "within_code": None, "extended": None,
          "amount": None, "score": None, "text": None, "due_on": None, "item": None,
          "tenure": None}


def _kind(event: Any) -> str | None:
    kind_of = type(event)
    if kind_of not in _KIND_OF_TYPE:
        _KIND_OF_TYPE[kind_of] = KINDS.get(event_name(event))
    return _KIND_OF_TYPE[kind_of]


def fact(position: int, event: Any, case: Any, page: Any) -> dict[str, Any] | None:
    """The fact an event contributes, judged from the case as folded (stage progress is settled by the time a
    stage is decided, so later events in the same page cannot change what is read here)."""
    kind = _kind(event)
    if kind is None:
        return None
    row = _BLANK.copy()
    row["position"], row["kind"], row["occurred_on"] = position, kind, event.occurred_on
    if case is None:  # feedback: compliments, comments, suggestions
        row["ref"], row["detail"], row["channel"] = event.ref, event.kind, event.channel
        return row
    row["ref"], row["policy"], row["category"], row["channel"] = (case.ref, case.policy_name, case.category,
                                                                  case.channel)
    row["tenure"] = getattr(case, "tenure", None)
    if kind == "received":
        row["stage"] = 1
    elif kind == "escalated":
        row["stage"] = event.to_stage
    elif kind in ("acknowledged", "responded"):
        stage = event.stage
        progress = case.stages[stage - 1]
        milestone = "acknowledge" if kind == "acknowledged" else "respond"
        due = next(r.due_on for r in page.milestones(case) if r.stage == stage and r.milestone == milestone)
        row.update(stage=stage, in_time=event.occurred_on <= due)
        if kind == "responded":
            row.update(detail=event.outcome, extended=progress.extension_days > 0,
                       within_code=event.occurred_on <= code_response_due(progress,
                                                                           page.policy_of(case).working_calendar))
    elif kind == "refused":
        row.update(stage=event.stage, detail=event.reason)
    elif kind in ("resolved-early",):
        row["stage"] = case.stage
    elif kind in ("withdrawn", "referred"):
        row["stage"] = event.stage
    elif kind == "determined":
        row.update(detail=event.finding, amount=event.compensation)
    elif kind.startswith("compensation-"):
        row["amount"] = event.amount
    elif kind == "learning":
        row["text"] = event.text
    elif kind == "satisfaction":
        row["score"] = event.score
    elif kind in OMBUDSMAN_KINDS:
        row.update(_ombudsman_fact(kind, event, case))
    return row


# ---------------------------------------------------------------------------------------------------- ombudsman
OMBUDSMAN_KINDS = ("evidence-requested", "evidence-sent", "ordered", "order-complied")
# Figures that are stocks, not flows: counted as at the end of each period, so a year's is its last quarter's, not
# the sum of its quarters'.
STOCKS = ("orders_outstanding", "orders_overdue")


def _ombudsman_fact(kind: str, event: Any, case: Any) -> dict[str, Any]:
    """An evidence request or order made (with its due date), or answered (in time or not), by its number."""
    number = event.number
    if kind in ("evidence-requested", "ordered"):
        return {"item": number, "due_on": event.due_on}
    item = (case.evidence_requests if kind == "evidence-sent" else case.orders)[number - 1]
    return {"item": number, "due_on": item["due_on"], "in_time": event.occurred_on <= item["due_on"]}


def ombudsman_figures(facts: list[dict[str, Any]]) -> dict[str, Any]:
    """Flows in the period: orders made and complied with (on time or late), evidence requests and evidence sent
    (on time or late). The stock of orders outstanding at the end of the period is added by `stats`."""
    def count(kind: str, in_time: bool | None = None) -> int:
        return sum(1 for f in facts if f["kind"] == kind and (in_time is None or bool(f["in_time"]) == in_time))

    return {"orders_made": count("ordered"), "orders_complied_on_time": count("order-complied", True),
            "orders_complied_late": count("order-complied", False), "orders_outstanding": 0, "orders_overdue": 0,
            "evidence_requests": count("evidence-requested"), "evidence_sent_on_time": count("evidence-sent", True),
            "evidence_sent_late": count("evidence-sent", False)}


def outstanding_orders(facts: list[dict[str, Any]], end: date) -> tuple[int, int]:
    """Orders made by the end of a period and not complied with by then (whenever they were made: `facts` must
    hold every order fact up to `end`), and how many of those were past due that day."""
    made = {(f["ref"], f["item"]): f["due_on"] for f in facts if f["kind"] == "ordered" and f["occurred_on"] <= end}
    for f in facts:
        if f["kind"] == "order-complied" and f["occurred_on"] <= end:
            made.pop((f["ref"], f["item"]), None)
    return len(made), sum(1 for due in made.values() if due < end)


def read_earlier_orders(runner: Any, before: date) -> list[dict[str, Any]]:
    """The order facts dated before a period: orders made earlier may still be outstanding at its end."""
    table = runner.live_tables(NAME)["facts"]
    q = (sa.select(table).where(table.c.occurred_on < before, table.c.kind.in_(("ordered", "order-complied")))
         .order_by(table.c.occurred_on, table.c.position))
    with runner.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


# ---------------------------------------------------------------------------------------------------- periods
def financial_year(year: int) -> tuple[date, date]:
    """The financial year starting 1 April `year` (the TSM and annual-report year)."""
    return date(year, 4, 1), date(year + 1, 3, 31)


def periods(start: date, end: date, by: str | None) -> list[tuple[date, date]]:
    """[start, end] cut at month, quarter or half-year boundaries of the financial year (April to March)."""
    if by is None:
        return [(start, end)]
    months = _BUCKET_MONTHS[by]
    # The boundary at or before `start`: months counted from April.
    offset = (start.month - 4) % months
    boundary = add_months(date(start.year, start.month, 1), -offset)
    out = []
    while boundary <= end:
        try:
            following = add_months(boundary, months)
        except (ValueError, OverflowError):  # after December 9999: the calendar ends with the last period
            out.append((max(boundary, start), end))
            break
        out.append((max(boundary, start), min(following - timedelta(days=1), end)))
        boundary = following
    return out


def label(start: date, end: date, by: str | None) -> str:
    if by == "month":
        return f"{start:%b %Y}"
    return f"{start.isoformat()} to {end.isoformat()}"


# ---------------------------------------------------------------------------------------------------- figures
def _pct(part: int, whole: int) -> float | None:
    """One decimal place, halves rounded up (6.25 -> 6.3), as a reader working it out by hand would."""
    return _half_up(Decimal(100 * part) / Decimal(whole), "0.1") if whole else None


def _half_up(value: Decimal, places: str) -> float:
    return float(value.quantize(Decimal(places), rounding=ROUND_HALF_UP))


def _money(total: Decimal) -> Decimal:
    return Decimal(total).quantize(Decimal("0.01"))


def figures(facts: Iterable[dict[str, Any]], stages: Iterable[int] = CODE_STAGES) -> dict[str, Any]:
    """Every committee figure for one period's facts. Percentages are of the responses issued in the period, and
    None (not 0) when there were none. Every stage in `stages` is given, with zeros, even when nothing happened
    at it: a quiet period has the same figures as a busy one, so reports and spreadsheets never meet a gap."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for f in facts:
        by_kind.setdefault(f["kind"], []).append(f)

    def kind(k: str) -> list[dict[str, Any]]:
        return by_kind.get(k, [])

    received = kind("received")
    escalated = kind("escalated")
    entered = Counter(1 for _ in received) + Counter(f["stage"] for f in escalated)
    # Every stage with anything counted in the period, so figures cut by month add up to the period's.
    stages = sorted(set(stages) | set(entered) | {f["stage"] for k in ("responded", "acknowledged", "refused",
                                                                       "withdrawn") for f in kind(k)})
    per_stage = {}
    for stage in stages:
        responses = [f for f in kind("responded") if f["stage"] == stage]
        acks = [f for f in kind("acknowledged") if f["stage"] == stage]
        late = sum(1 for f in responses if not f["in_time"])
        extended = sum(1 for f in responses if f["extended"])
        within_code = sum(1 for f in responses if f["within_code"])
        per_stage[str(stage)] = {
            "entered": entered.get(stage, 0),
            "by_category": dict(sorted(Counter(f["category"] or "(none)" for f in
                                               (received if stage == 1 else
                                                [e for e in escalated if e["stage"] == stage])).items())),
            "acknowledged": len(acks),
            "acknowledged_in_time": sum(1 for f in acks if f["in_time"]),
            "responses": len(responses),
            "responded_in_time": len(responses) - late,
            "responded_late": late,
            "pct_not_in_time": _pct(late, len(responses)),
            "extended": extended,
            "pct_extended": _pct(extended, len(responses)),
            "within_code": within_code,
            "pct_within_code": _pct(within_code, len(responses)),
            "outcomes": {o: sum(1 for f in responses if f["detail"] == o) for o in OUTCOMES},
            "refused": sum(1 for f in kind("refused") if f["stage"] == stage),
            "withdrawn": sum(1 for f in kind("withdrawn") if f["stage"] == stage),
        }
    stage1_responses = per_stage.get("1", {}).get("responses", 0)
    escalations_to_2 = sum(1 for f in escalated if f["stage"] == 2)
    scores = [f["score"] for f in kind("satisfaction")]
    determined = kind("determined")
    return {
        "received": {
            "total": len(received),
            "by_category": dict(sorted(Counter(f["category"] or "(none)" for f in received).items())),
            "by_channel": dict(sorted(Counter(f["channel"] for f in received).items())),
            "by_policy": dict(sorted(Counter(f["policy"] for f in received).items())),
        },
        "escalated": {"total": len(escalated), "to_stage": {str(s): n for s, n in
                                                            sorted(Counter(f["stage"] for f in escalated).items())}},
        "escalation_rate_pct": _pct(escalations_to_2, stage1_responses),
        "stages": per_stage,
        "early_resolutions": len(kind("resolved-early")),
        "refusals": {"total": len(kind("refused")),
                     "by_reason": dict(sorted(Counter(f["detail"] for f in kind("refused")).items()))},
        "withdrawals": len(kind("withdrawn")),
        "ombudsman": {
            "referrals": len(kind("referred")),
            "determinations": len(determined),
            "findings": dict(sorted(Counter(f["detail"] for f in determined).items())),
            "compensation_ordered": _money(sum((f["amount"] or 0 for f in determined), Decimal(0))),
            **ombudsman_figures(kind("ordered") + kind("order-complied") + kind("evidence-requested")
                                + kind("evidence-sent")),
        },
        "compensation": {k: _money(sum((f["amount"] for f in kind(f"compensation-{k}")), Decimal(0)))
                         for k in ("requested", "approved", "declined", "paid")},
        "learning": {"entries": len(kind("learning")),
                     "items": [{"ref": f["ref"], "on": f["occurred_on"], "text": f["text"]}
                               for f in sorted(kind("learning"), key=lambda f: (f["occurred_on"], f["ref"]))]},
        "satisfaction": {
            "responses": len(scores),
            "average": _half_up(Decimal(sum(scores)) / len(scores), "0.01") if scores else None,
            "scores": {str(s): scores.count(s) for s in range(1, 6)},
        },
        "feedback": {k: sum(1 for f in kind("feedback") if f["detail"] == k) for k in FEEDBACK},
    }


def stats(facts: list[dict[str, Any]], start: date, end: date, by: str | None = None) -> dict[str, Any]:
    """Figures for [start, end] in total and, with `by`, for each month, quarter or half-year within it."""
    in_period = sorted((f for f in facts if start <= f["occurred_on"] <= end), key=lambda f: f["occurred_on"])
    orders = [f for f in facts if f["kind"] in ("ordered", "order-complied")]  # earlier ones too: a stock
    total = figures(in_period)
    _outstanding(total, orders, end)
    days = [f["occurred_on"] for f in in_period]
    buckets = []
    if by is not None:
        for lo, hi in periods(start, end, by):  # each bucket's facts by bisection: decades by month stay linear
            these = in_period[bisect_left(days, lo):bisect_right(days, hi)]
            bucket = like(figures(these), total)
            _outstanding(bucket, orders, hi)
            buckets.append({"label": label(lo, hi, by), "from": lo, "to": hi, "figures": bucket})
    return {"from": start, "to": end, "by": by, "total": total, "periods": buckets}


def _outstanding(figures_: dict[str, Any], orders: list[dict[str, Any]], end: date) -> None:
    figures_["ombudsman"]["orders_outstanding"], figures_["ombudsman"]["orders_overdue"] = \
        outstanding_orders(orders, end)


def like(part: dict[str, Any], whole: dict[str, Any]) -> dict[str, Any]:
    """A period's figures with every measure the whole period has, in the same order: a category, channel or
    reason that did not occur in this month counts 0 there, rather than being missing from its column."""
    out: dict[str, Any] = {}
    for key, value in whole.items():
        mine = part.get(key, _nothing(value))
        out[key] = like(mine, value) if isinstance(value, dict) and isinstance(mine, dict) else mine
    for key, value in part.items():  # never drop one of the period's own (it is always in the whole)
        out.setdefault(key, value)
    return out


def _nothing(value: Any) -> Any:
    """What a measure is when nothing was counted: 0 for a count, £0.00 for money, empty for a breakdown, None
    for a percentage or an average (a share of nothing is not a figure)."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return None
    if isinstance(value, int):
        return 0
    if isinstance(value, Decimal):
        return _money(Decimal(0))
    if isinstance(value, dict):
        return {}
    if isinstance(value, list):
        return []
    return None


def read_facts(runner: Any, start: date, end: date) -> list[dict[str, Any]]:
    table = runner.live_tables(NAME)["facts"]
    q = (sa.select(table).where(table.c.occurred_on >= start, table.c.occurred_on <= end)
         .order_by(table.c.occurred_on, table.c.position))
    with runner.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def query(runner: Any, start: date, end: date, by: str | None = None) -> dict[str, Any]:
    result = stats(read_earlier_orders(runner, start) + read_facts(runner, start, end), start, end, by)
    add_repeat_homes(runner, result)
    return result


# ---------------------------------------------------------------------------------------------------- repeat homes
def add_repeat_homes(runner: Any, result: dict[str, Any]) -> None:
    """`repeat_homes` in the total's and each period's figures: the homes with more than one complaint received in
    that period, their complaints, and the categories most complained of among them (projections/case_index.py:
    same UPRN, or the same address where there is none). Left out when the case_index read model has not been
    built (a reader login on a ledger no writer has read since this version)."""
    from ..domain.search import repeat_homes
    from .case_index import home_cases

    try:
        cases = home_cases(runner, result["from"], result["to"])
    except LookupError:
        return
    total = result["total"]["repeat_homes"] = repeat_homes(cases, result["from"], result["to"])
    for period in result["periods"]:
        period["figures"]["repeat_homes"] = like(repeat_homes(cases, period["from"], period["to"]), total)


# ---------------------------------------------------------------------------------------------------- tenure
# The Regulator's TSM return asks for CH01 and CH02 separately for low-cost rental accommodation (LCRA) and low-cost
# home ownership (LCHO). Every fact carries its case's tenure (corrections restate it), so a tenure's figures are
# the same `figures` over that tenure's facts: per tenure and all-tenure are counted by one rule.
NOT_RECORDED = "not-recorded"  # cases received before tenure was recorded (Received v5), until corrected


def tenure_of(fact_: dict[str, Any]) -> str | None:
    """The tenure a complaint's fact counts under; None for feedback, which is not a complaint."""
    if fact_["kind"] == "feedback":
        return None
    return fact_.get("tenure") or NOT_RECORDED


def figures_by_tenure(facts: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each tenure's figures (lcra, lcho, other, not-recorded), every one given even when nothing happened in it."""
    from ..domain.vocabulary import TENURES

    groups: dict[str, list[dict[str, Any]]] = {t: [] for t in (*TENURES, NOT_RECORDED)}
    for f in facts:
        tenure = tenure_of(f)
        if tenure is not None:
            groups.setdefault(tenure, []).append(f)
    return {t: figures(fs) for t, fs in groups.items()}


def tenure_query(runner: Any, start: date, end: date) -> dict[str, dict[str, Any]]:
    """Figures for [start, end] per tenure (`figures_by_tenure`), from the read model."""
    return figures_by_tenure(read_facts(runner, start, end))
