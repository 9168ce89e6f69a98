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
from . import reads
from ..domain.deadlines import code_response_clock, code_response_due
from ..domain.values import add_months

NAME, VERSION = reads.COMMITTEE, reads.COMMITTEE_VERSION
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
            sa.Column("due_on", sa.Date, nullable=True),  # an evidence request's or order's due date; the Code's
            #                                               date for a response, early resolution or stage left late
            sa.Column("item", sa.Integer, nullable=True),  # its number on the case
            sa.Column("tenure", sa.String(8), nullable=True),  # the case's tenure as corrected (block: tenure)
            sa.Column("within_code_from_ack", sa.Boolean, nullable=True),  # inclusion rules: the alternative clock
        ), "months": sa.Table(
            f"rm_committee_months_{suffix}", metadata,
            sa.Column("month", sa.Date, primary_key=True),  # the first day of the facts' month
            sa.Column("key", sa.Text, primary_key=True),  # the counted columns below, spelt out (_key_sql)
            *(sa.Column(name, type_, nullable=True) for name, type_ in _SUMMARY_COLUMNS),
            sa.Column("n", sa.BigInteger, nullable=False),
            sa.Column("amount", MONEY, nullable=False),
        )}

    def complete(self, conn: sa.Connection, tables: dict[str, sa.Table]) -> None:
        """A copy just filled (a rebuild about to switch live, or `projections verify`'s fresh one): its months
        counted once from its facts, and the triggers that keep them in step with every later write made."""
        fill_months(conn, tables)

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
                        {"in_time": p.responded_on <= respond, **response_clocks(p, p.responded_on, calendar)}))
    out.extend(restated_inclusions(case, page))
    return out


def event_name(event: Any) -> str:
    return type(event).__qualname__.rsplit(".", 1)[-1]


_KIND_OF_TYPE: dict[type, str | None] = {}
_BLANK = {"position": None, "ref": None, "kind": None, "occurred_on": None, "stage": None, "policy": None,
          "category": None, "channel": None, "detail": None, "in_time": None, "within_code": None, "extended": None,
          "amount": None, "score": None, "text": None, "due_on": None, "item": None,
          "tenure": None, "within_code_from_ack": None}


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
        row.update(left_unanswered(case.stages[event.to_stage - 2], event.occurred_on, _calendar(page, case)))
    elif kind in ("acknowledged", "responded"):
        stage = event.stage
        progress = case.stages[stage - 1]
        milestone = "acknowledge" if kind == "acknowledged" else "respond"
        due = next(r.due_on for r in page.milestones(case) if r.stage == stage and r.milestone == milestone)
        row.update(stage=stage, in_time=event.occurred_on <= due)
        if kind == "responded":
            row.update(detail=event.outcome, extended=progress.extension_days > 0,
                       **response_clocks(progress, event.occurred_on, _calendar(page, case)))
    elif kind == "refused":
        row.update(stage=event.stage, detail=event.reason)
        row.update(left_unanswered(case.stages[event.stage - 1], event.occurred_on, _calendar(page, case)))
    elif kind in ("resolved-early",):
        row["stage"] = case.stage
        row.update(response_clocks(case.current, event.occurred_on, _calendar(page, case)))
    elif kind in ("withdrawn", "referred"):
        row["stage"] = event.stage
        if kind == "withdrawn":
            row.update(left_unanswered(case.stages[event.stage - 1], event.occurred_on, _calendar(page, case)))
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
        return _n(f for f in facts if f["kind"] == kind and (in_time is None or bool(f["in_time"]) == in_time))

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
        return _dicts(conn.execute(q))


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


def _n(facts: Iterable[dict[str, Any]]) -> int:
    """How many facts: a row of `counted_facts` stands for `n` of them (the same in every counted column)."""
    return sum(f.get("n", 1) for f in facts)


def _tally(pairs: Iterable[tuple[Any, dict[str, Any]]]) -> Counter:
    """Counter of keys, each (key, fact) counted as many times as the fact stands for."""
    out: Counter = Counter()
    for key, f in pairs:
        out[key] += f.get("n", 1)
    return out


def _sorted_tally(pairs: Iterable[tuple[Any, dict[str, Any]]]) -> dict[Any, int]:
    return dict(sorted(_tally(pairs).items()))


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
    entered = _tally((1, f) for f in received) + _tally((f["stage"], f) for f in escalated)
    # Every stage with anything counted in the period, so figures cut by month add up to the period's.
    stages = sorted(set(stages) | set(entered) | {f["stage"] for k in ("responded", "acknowledged", "refused",
                                                                       "withdrawn") for f in kind(k)})
    per_stage = {}
    for stage in stages:
        responses = [f for f in kind("responded") if f["stage"] == stage]
        acks = [f for f in kind("acknowledged") if f["stage"] == stage]
        answered = _n(responses)
        late = _n(f for f in responses if not f["in_time"])
        extended = _n(f for f in responses if f["extended"])
        within_code = _n(f for f in responses if f["within_code"])
        per_stage[str(stage)] = {
            "entered": entered.get(stage, 0),
            "by_category": _sorted_tally((f["category"] or "(none)", f) for f in
                                         (received if stage == 1 else [e for e in escalated if e["stage"] == stage])),
            "acknowledged": _n(acks),
            "acknowledged_in_time": _n(f for f in acks if f["in_time"]),
            "responses": answered,
            "responded_in_time": answered - late,
            "responded_late": late,
            "pct_not_in_time": _pct(late, answered),
            "extended": extended,
            "pct_extended": _pct(extended, answered),
            "within_code": within_code,
            "pct_within_code": _pct(within_code, answered),
            "outcomes": {o: _n(f for f in responses if f["detail"] == o) for o in OUTCOMES},
            "refused": _n(f for f in kind("refused") if f["stage"] == stage),
            "withdrawn": _n(f for f in kind("withdrawn") if f["stage"] == stage),
        }
    stage1_responses = per_stage.get("1", {}).get("responses", 0)
    escalations_to_2 = _n(f for f in escalated if f["stage"] == 2)
    scores = _tally((f["score"], f) for f in kind("satisfaction"))
    answers = sum(scores.values())
    determined = kind("determined")
    return {
        "received": {
            "total": _n(received),
            "by_category": _sorted_tally((f["category"] or "(none)", f) for f in received),
            "by_channel": _sorted_tally((f["channel"], f) for f in received),
            "by_policy": _sorted_tally((f["policy"], f) for f in received),
        },
        "escalated": {"total": _n(escalated), "to_stage": {str(s): n for s, n in
                                                           _sorted_tally((f["stage"], f) for f in escalated).items()}},
        "escalation_rate_pct": _pct(escalations_to_2, stage1_responses),
        "stages": per_stage,
        "early_resolutions": _n(kind("resolved-early")),
        "refusals": {"total": _n(kind("refused")),
                     "by_reason": _sorted_tally((f["detail"], f) for f in kind("refused"))},
        "withdrawals": _n(kind("withdrawn")),
        "ombudsman": {
            "referrals": _n(kind("referred")),
            "determinations": _n(determined),
            "findings": _sorted_tally((f["detail"], f) for f in determined),
            "compensation_ordered": _money(sum((f["amount"] or 0 for f in determined), Decimal(0))),
            **ombudsman_figures(kind("ordered") + kind("order-complied") + kind("evidence-requested")
                                + kind("evidence-sent")),
        },
        "compensation": {k: _money(sum((f["amount"] for f in kind(f"compensation-{k}")), Decimal(0)))
                         for k in ("requested", "approved", "declined", "paid")},
        "learning": {"entries": _n(kind("learning")),
                     "items": [{"ref": f["ref"], "on": f["occurred_on"], "text": f["text"]}
                               for f in sorted(kind("learning"), key=lambda f: (f["occurred_on"], f["ref"]))]},
        "satisfaction": {
            "responses": answers,
            "average": (_half_up(Decimal(sum(s * n for s, n in scores.items())) / answers, "0.01") if answers
                        else None),
            "scores": {str(s): scores.get(s, 0) for s in range(1, 6)},
        },
        "feedback": {k: _n(f for f in kind("feedback") if f["detail"] == k) for k in FEEDBACK},
        # TSM CH01/CH02 by the inclusion rules (below): the committee's timeliness and the annual return agree.
        "tsm": tsm_counts(f for k in ("received", "responded", "resolved-early", "escalated", "withdrawn", "refused")
                          for f in kind(k)),
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
        return _dicts(conn.execute(q))


def _dicts(result: Any) -> list[dict[str, Any]]:
    """Rows as dicts, zipped from plain tuples: a year at 1M events is ~670,000 facts, and building each through
    Row._mapping cost more than reading it."""
    keys = list(result.keys())
    return [dict(zip(keys, row)) for row in result.tuples().all()]


# What each kind's figures read besides kind, stage and tenure: any other column is left out of `counted_facts`'
# grouping for that kind, so a year's hundreds of thousands of facts come back as a few thousand counted rows.
_COUNTED_BY = {
    "category": ("received", "escalated"),
    "channel": ("received",),
    "policy": ("received",),
    "detail": ("responded", "refused", "determined", "feedback"),
    "in_time": ("acknowledged", "responded", "evidence-sent", "order-complied"),
    "within_code": ("responded", "resolved-early", "escalated", "withdrawn", "refused"),
    "within_code_from_ack": ("responded", "resolved-early", "escalated", "withdrawn", "refused"),
    "extended": ("responded",),
    "score": ("satisfaction",),
}
# Kinds read fact by fact: learning is listed item by item, orders are a stock followed by reference and number.
_ONE_BY_ONE = ("learning", "ordered", "order-complied")


def _day_column(runner: Any, table: sa.Table, start: date, end: date) -> Any:
    """occurred_on, to filter a period's facts by. On SQLite, when the period holds a third or more of all facts,
    written `+occurred_on` so that SQLite reads the table straight through rather than visiting most of its rows
    one by one through the date index (a year of a one-year ledger: about twice as fast). PostgreSQL chooses for
    itself."""
    if runner.engine.dialect.name != "sqlite":
        return table.c.occurred_on
    with runner.engine.connect() as conn:  # both counts come from an index alone: milliseconds
        everything = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0
        within = conn.execute(sa.select(sa.func.count()).select_from(table).where(
            table.c.occurred_on >= start, table.c.occurred_on <= end)).scalar() or 0
    if 3 * within < everything:
        return table.c.occurred_on
    return sa.literal_column(f"+{table.c.occurred_on.name}", type_=sa.Date)


def counted_facts(runner: Any, start: date, end: date) -> list[dict[str, Any]]:
    """The facts of [start, end] as `figures` and `stats` count them: one row per month and distinct combination of
    what the figures read (`_COUNTED_BY`), standing for `n` facts (`amount` their sum), dated the first day of its
    month within the period; learning and orders one row per fact. Any cut of the period at month boundaries
    (months, quarters, half-years, years) counts exactly what `read_facts` would.

    The months wholly inside the period are read from the months table (see "summary" below): a year at 1M events
    is a few tens of thousands of rows read, not 670,000 facts counted. The days of a month the period only partly
    covers (its first and last) are counted from the facts by the database, as every month once was."""
    live = runner.live_copy(NAME)  # its tables, and whether it was built with the months table, in one read
    tables = runner.tables(NAME, live.active_suffix)
    summarised = (live.schema_version or 0) >= MONTHS_VERSION
    full = _whole_months(start, end) if summarised else None
    if full is None:
        return _from_facts(runner, tables["facts"], [(start, end)], start)
    first, last = full
    following = None if (last.year, last.month) == (9999, 12) else add_months(last, 1)
    days = [(lo, hi) for lo, hi in ((start, first - timedelta(days=1)), (following, end)) if lo and lo <= hi]
    counted, one_by_one = _split(_from_months(runner, tables["months"], first, last), start)
    more, more_single = _split(_count_days(runner, tables["facts"], days, whole=False), start)
    one_by_one += more_single
    one_by_one.sort(key=lambda f: (f["occurred_on"], f["position"]))  # as `read_facts` gives them
    return counted + more + one_by_one


def _whole_months(start: date, end: date) -> tuple[date, date] | None:
    """The first days of the first and last months wholly within [start, end]; None if there is none."""
    if start.day == 1:
        first = start
    elif (start.year, start.month) == (9999, 12):
        return None
    else:
        first = add_months(date(start.year, start.month, 1), 1)
    if end == date.max:
        last = date(9999, 12, 1)
    else:
        after = end + timedelta(days=1)
        last = add_months(date(after.year, after.month, 1), -1)
    return (first, last) if first <= last else None


def _split(rows: list[dict[str, Any]], start: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Counted rows (dated the first day of their month within the period) and one-by-one facts, apart."""
    counted: list[dict[str, Any]] = []
    one_by_one: list[dict[str, Any]] = []
    for f in rows:
        if f["position"] is None:
            f["occurred_on"] = max(f["occurred_on"], start)
            counted.append(f)
        else:
            one_by_one.append(f)
    return counted, one_by_one


def _from_facts(runner: Any, facts: sa.Table, days: list[tuple[date, date]], start: date) -> list[dict[str, Any]]:
    counted, one_by_one = _split(_count_days(runner, facts, days, whole=True), start)
    one_by_one.sort(key=lambda f: (f["occurred_on"], f["position"]))  # as `read_facts` gives them
    return counted + one_by_one


def _from_months(runner: Any, months: sa.Table, first: date, last: date) -> list[dict[str, Any]]:
    """The months table's rows for the months first..last, as `_count_days` gives them."""
    names = [name for name, _ in _SUMMARY_COLUMNS]
    q = sa.select(months.c.month, *(months.c[name] for name in names), months.c.n, months.c.amount).where(
        months.c.month >= first, months.c.month <= last)
    out = []
    with runner.engine.connect() as conn:
        for row in conn.execute(q).tuples():
            f = _BLANK.copy()
            f.update(zip(names, row[1:-2]))
            f["n"], f["amount"] = row[-2], row[-1]
            if f["position"] is None:
                f["occurred_on"] = row[0]
            out.append(f)
    return out


def _count_days(runner: Any, table: sa.Table, days: list[tuple[date, date]], whole: bool) -> list[dict[str, Any]]:
    """The facts of each range of days counted by the database, by month and combination of what the figures read
    (dated the first day of the month; one-by-one facts with their own date and position)."""
    c = table.c
    year, month = sa.extract("year", c.occurred_on), sa.extract("month", c.occurred_on)
    keys = [c.kind.label("kind"), c.stage.label("stage"), c.tenure.label("tenure")]
    keys += [sa.case((c.kind.in_(kinds), c[name]), else_=sa.null()).label(name) for name, kinds in _COUNTED_BY.items()]
    # Learning and orders one fact to a row, in the same pass over the table: grouped by their position too.
    single = c.kind.in_(_ONE_BY_ONE)
    keys.append(sa.case((single, c.position), else_=sa.null()).label("position"))
    own = [sa.func.max(sa.case((single, c[name]), else_=sa.null())).label(name)
           for name in ("ref", "occurred_on", "text", "due_on", "item")]
    out: list[dict[str, Any]] = []
    for start, end in days:
        day = _day_column(runner, table, start, end) if whole else c.occurred_on
        grouped = (sa.select(year.label("y"), month.label("m"), *keys, *own, sa.func.count().label("n"),
                             sa.func.sum(c.amount).label("amount"))
                   .where(day >= start, day <= end)
                   .group_by(year, month, *keys))
        with runner.engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # a year's groups fit in memory (about 35 MB at 1M events)
                conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")  # rather than spilling to disk; this transaction
            for row in conn.execute(grouped).mappings():
                f = _BLANK.copy()
                f.update(row)
                y, m = f.pop("y"), f.pop("m")
                if f["position"] is None:
                    f["occurred_on"] = date(int(y), int(m), 1)
                out.append(f)
    return out


# ---------------------------------------------------------------------------------------------------- summary
# The months table: `counted_facts`' rows for every whole month, kept as the facts change. Each row is one month and
# one combination of what the figures read (its `key`: those values spelt out, so that one unique index finds it
# on both databases, NULLs included), with how many facts it stands for and their amounts' sum; learning and
# orders are a row each (keyed by position too), as `counted_facts` gives them.
#
# Kept by triggers on the facts table, not by the projection's writes. A correction restates facts with UPDATEs
# chosen by column values (`restated`), so only the database knows which rows it changed and what they held: a
# trigger sees OLD and NEW and moves the count from one row to the other, whatever wrote (catch-up, a correction,
# an insider's raw SQL, which `projections verify` then reports in both tables). The triggers are created only when
# a rebuilt copy switches live, after its facts are counted once (`complete`, one GROUP BY), so the fill, serial or
# in parallel workers, writes exactly what it wrote before. A per-month cache invalidated by what changed since
# would need to know which months a correction touched: the same OLD values, kept elsewhere.
MONTHS_VERSION = 6  # the committee VERSION that added the months table
_SUMMARY_COLUMNS = (
    ("kind", sa.String(24)), ("stage", sa.Integer), ("tenure", sa.String(8)), ("category", sa.String(120)),
    ("channel", sa.String(20)), ("policy", sa.String(64)), ("detail", sa.String(40)), ("in_time", sa.Boolean()),
    ("within_code", sa.Boolean()), ("within_code_from_ack", sa.Boolean()), ("extended", sa.Boolean()),
    ("score", sa.Integer()), ("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
    ("ref", sa.String(40)), ("occurred_on", sa.Date()), ("text", sa.Text()), ("due_on", sa.Date()),
    ("item", sa.Integer()),
)
_OWN = ("ref", "occurred_on", "text", "due_on", "item")  # a one-by-one fact's own values (its position decides them)


def _kinds_sql(kinds: Iterable[str]) -> str:
    return ", ".join(f"'{k}'" for k in kinds)  # the closed vocabulary above: no quotes inside


def _value_sql(name: str, row: str, q: Any) -> str:
    """What a fact (`row`: "NEW.", "OLD." or "" for the table itself) gives the months row's column `name`."""
    column = f"{row}{q(name)}"
    if name in _COUNTED_BY:
        return f"CASE WHEN {row}kind IN ({_kinds_sql(_COUNTED_BY[name])}) THEN {column} END"
    if name == "position" or name in _OWN:
        return f"CASE WHEN {row}kind IN ({_kinds_sql(_ONE_BY_ONE)}) THEN {column} END"
    return column


def _key_sql(row: str, q: Any) -> str:
    """The months row's key: each counted value spelt out the same way on SQLite and PostgreSQL (text with its
    length before it, so no value can pass for two; numbers as digits; booleans t/f; ~ for NULL)."""
    parts = []
    for name, type_ in _SUMMARY_COLUMNS:
        if name in _OWN:
            continue
        value = _value_sql(name, row, q)
        if isinstance(type_, sa.Boolean):
            spelt = f"CASE WHEN ({value}) THEN 't' ELSE 'f' END"  # PostgreSQL would spell true, SQLite 1
        elif isinstance(type_, sa.String):
            spelt = f"CAST(length({value}) AS TEXT) || ':' || {value}"
        else:
            spelt = f"CAST({value} AS TEXT)"
        parts.append(f"CASE WHEN ({value}) IS NULL THEN '~' ELSE {spelt} END")
    return " || ',' || ".join(parts)


def _month_sql(dialect: str, row: str) -> str:
    if dialect == "postgresql":
        return f"CAST(date_trunc('month', {row}occurred_on) AS DATE)"
    return f"substr({row}occurred_on, 1, 8) || '01'"  # SQLite keeps dates as YYYY-MM-DD text


def _months_sql(dialect: str, q: Any, months: str, row: str) -> tuple[str, str]:
    """The statements a trigger runs: add the fact in `row` to its months row, and take it away."""
    month, key = _month_sql(dialect, row), _key_sql(row, q)
    names = [q(name) for name, _ in _SUMMARY_COLUMNS]
    values = [_value_sql(name, row, q) for name, _ in _SUMMARY_COLUMNS]
    mine = "s." if dialect == "postgresql" else ""  # PostgreSQL needs the row named; SQLite's triggers allow no alias
    add = (f"INSERT INTO {months}{' AS s' if mine else ''} ({q('month')}, {q('key')}, {', '.join(names)}, n, amount) "
           f"VALUES ({month}, {key}, {', '.join(values)}, 1, coalesce({row}amount, 0)) "
           f"ON CONFLICT ({q('month')}, {q('key')}) DO UPDATE SET n = {mine}n + 1, "
           f"amount = {mine}amount + excluded.amount")
    where = f"WHERE {q('month')} = {month} AND {q('key')} = {key}"
    take = (f"UPDATE {months} SET n = n - 1, amount = amount - coalesce({row}amount, 0) {where}; "
            f"DELETE FROM {months} {where} AND n <= 0")
    return add, take


def fill_months(conn: sa.Connection, tables: dict[str, sa.Table]) -> None:
    """Count a filled copy's facts into its (empty) months table, and create the triggers that keep it counted."""
    dialect = conn.dialect.name
    preparer = conn.dialect.identifier_preparer
    q = preparer.quote
    facts, months = preparer.format_table(tables["facts"]), preparer.format_table(tables["months"])
    names = [q(name) for name, _ in _SUMMARY_COLUMNS]
    values = [f"{_month_sql(dialect, '')} AS {q('month')}",
              *(f"{_value_sql(name, '', q)} AS {q(name)}" for name, _ in _SUMMARY_COLUMNS)]
    if dialect == "postgresql":  # the whole log's groups in memory rather than spilled to disk
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
    # Grouped first, keyed after: the key is spelt once per months row, not once per fact.
    conn.exec_driver_sql(
        f"INSERT INTO {months} ({q('month')}, {q('key')}, {', '.join(names)}, n, amount) "
        f"SELECT g.{q('month')}, {_key_sql('g.', q)}, {', '.join(f'g.{n}' for n in names)}, g.n, g.amount "
        f"FROM (SELECT {', '.join(values)}, count(*) AS n, coalesce(sum(amount), 0) AS amount FROM {facts} "
        f"GROUP BY {', '.join(str(i + 1) for i in range(len(values)))}) AS g")
    trigger = q(f"{tables['facts'].name}_months")
    if dialect == "postgresql":
        add, take = _months_sql(dialect, q, months, "NEW.")
        _, take = _months_sql(dialect, q, months, "OLD.")
        conn.exec_driver_sql(
            f"CREATE OR REPLACE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN "
            f"IF TG_OP <> 'INSERT' THEN {take}; END IF; "
            f"IF TG_OP <> 'DELETE' THEN {add}; END IF; "
            f"RETURN NULL; END $body$")
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger} ON {facts}")
        conn.exec_driver_sql(f"CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {facts} "
                             f"FOR EACH ROW EXECUTE FUNCTION {trigger}()")
        return
    add, _ = _months_sql(dialect, q, months, "NEW.")
    _, take = _months_sql(dialect, q, months, "OLD.")
    for when, body in (("INSERT", add), ("DELETE", take), ("UPDATE", f"{take}; {add}")):
        name = q(f"{tables['facts'].name}_months_{when.lower()}")
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE TRIGGER {name} AFTER {when} ON {facts} BEGIN {body}; END")


def query(runner: Any, start: date, end: date, by: str | None = None,
          facts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Figures for [start, end] (`stats`), with repeat homes. `facts`: the period's `counted_facts`, when the
    caller has them already."""
    if facts is None:
        facts = counted_facts(runner, start, end)
    result = stats(read_earlier_orders(runner, start) + facts, start, end, by)
    add_repeat_homes(runner, result)
    return result


# ---------------------------------------------------------------------------------------------------- repeat homes
def add_repeat_homes(runner: Any, result: dict[str, Any]) -> None:
    """`repeat_homes` in the total's and each period's figures: the homes with more than one complaint received in
    that period, their complaints, and the categories most complained of among them (projections/case_index.py:
    same UPRN, or the same address where there is none). Left out when the case_index read model has not been
    built (a reader login on a ledger no writer has read since this version)."""
    from ..domain.search import repeat_homes
    from .reads import home_cases

    try:
        cases = home_cases(runner, result["from"], result["to"])
    except LookupError:
        return
    cases.sort(key=lambda c: c.received_on)  # each period's cases by bisection, not by a pass over all of them
    days = [c.received_on for c in cases]

    def within(lo: date, hi: date) -> list[Any]:
        return cases[bisect_left(days, lo):bisect_right(days, hi)]

    total = result["total"]["repeat_homes"] = repeat_homes(within(result["from"], result["to"]), result["from"],
                                                           result["to"])
    for period in result["periods"]:
        period["figures"]["repeat_homes"] = like(repeat_homes(within(period["from"], period["to"]), period["from"],
                                                              period["to"]), total)


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


# ---------------------------------------------------------------------------------------------------- inclusion rules
# What TSM CH01 and CH02 count, rule by rule (issue 19). Each rule is written in the reports' "How these figures are
# counted" box (adapters/templates/base.html.j2 and annual.html.j2) and in docs/read-models.md; where the Code and
# the TSM technical requirements leave it to the landlord, `tsm_counts` also gives the figure the other choice would
# give (`alternatives`), which the annual report prints as a footnote when it differs.
#
#   clock           a response is within the Code's timescales if issued by `code_response_clock`'s date: from
#                   acknowledgement, or from when acknowledgement was due if it came later (Code §6.2-6.3, §6.11,
#                   §6.15, §6.4 for extensions). Alternative: from the actual acknowledgement however late.
#   year            CH01 counts complaints received (and escalations to stage 2) in the year; CH02 counts responses
#                   issued in the year, whenever the complaint arrived. What is unanswered at the year end is listed
#                   by `still_open`, never lost.
#   early           an early resolution (older profiles) is the complaint's stage 1 response (Code §5.2-5.3: no
#                   informal stage), judged on the same clock. Alternative: left out of CH02.
#   stage 3         a legacy third stage is part of the Code's stage 2 (§5.2-5.3: at most two stages): its responses
#                   count in CH02 stage 2, held to stage 2 timescales; CH01 stage 2 counts a complaint once, when it
#                   enters stage 2. Alternatives: stage 3 responses left out; stage 3 escalations counted in CH01.
#   refused         a refused complaint was received (Code §1.2; §2.1 asks the landlord to evidence the refusal): it
#                   counts in CH01, and in CH02 only under `unanswered`. Alternative: CH01 stage 1 less the
#                   refusals at stage 1 made in the period (so that months still add up to the year).
#   withdrawn       counts in CH01; in CH02 only under `unanswered`.
#   unanswered      a stage left without a response after its Code date had passed (escalated, withdrawn or refused
#                   while overdue) counts in CH02 as a response outside the Code, on the day it was left: a late case
#                   cannot escape CH02 by moving on. Alternative: left out.
#   reopened        a closed case escalated again counts once more in CH01 stage 2 (a new stage 2 complaint); its
#                   stage 1 response was counted when issued and is not counted again.

def _calendar(page: Any, case: Any) -> Any:
    return page.policy_of(case).working_calendar


def response_clocks(progress: Any, on: date, calendar: Any) -> dict[str, Any]:
    """A response (or early resolution) given `on`, judged on the Code's clock and on the alternative clock that
    counts from the actual acknowledgement, however late."""
    _anchor, _why, due = code_response_clock(progress, calendar)
    return {"within_code": on <= due, "within_code_from_ack": on <= _due_from_actual_ack(progress, calendar),
            "due_on": due}


def _due_from_actual_ack(progress: Any, calendar: Any) -> date:
    """The alternative reading's date: counted from the acknowledgement, however late (or from when it was due)."""
    from ..domain.deadlines import CODE_ACKNOWLEDGE_DAYS, code_due_from

    anchor = progress.acknowledged_on or calendar.add_working_days(progress.started_on, CODE_ACKNOWLEDGE_DAYS)
    return code_due_from(anchor, progress, calendar)


def left_unanswered(progress: Any, on: date, calendar: Any) -> dict[str, Any]:
    """For a stage left `on` (escalated, withdrawn, refused): within_code False when it had no response and the
    Code's date for one had passed (rule `unanswered`), with that date; nothing otherwise."""
    if progress.responded_on is not None and progress.responded_on <= on:
        return {}
    due = code_response_due(progress, calendar)
    if on <= due:
        return {}
    return {"within_code": False, "due_on": due,
            "within_code_from_ack": False if on > _due_from_actual_ack(progress, calendar) else None}


def restated_inclusions(case: Any, page: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """After a correction, the inclusion flags of the case's early resolution and of each stage it left, worked out
    again from the case as corrected (deadlines move with the dates they run from)."""
    calendar = _calendar(page, case)
    blank = {"within_code": None, "within_code_from_ack": None, "due_on": None}
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for i, p in enumerate(case.stages):
        if i + 1 < len(case.stages):
            nxt = case.stages[i + 1]
            out.append(({"ref": case.ref, "kind": "escalated", "stage": nxt.number},
                        {**blank, **left_unanswered(p, nxt.started_on, calendar)}))
    ending = {"withdrawn": case.withdrawal, "refused": case.refusal}
    for kind, record in ending.items():
        if record:
            p = case.stages[record.get("stage", case.stage) - 1]
            out.append(({"ref": case.ref, "kind": kind},
                        {**blank, **left_unanswered(p, record["occurred_on"], calendar)}))
    if case.resolution:
        out.append(({"ref": case.ref, "kind": "resolved-early"},
                    response_clocks(case.current, case.resolution["occurred_on"], calendar)))
    return out


def tsm_counts(facts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """TSM CH01 and CH02 over one period's facts, by the inclusion rules above, with the figure each rule's
    alternative would give. CH02's `responses` is what it counts: responses issued (a legacy stage 3's in stage 2),
    early resolutions (stage 1) and stages left unanswered past the Code's date; `within_code` those in time."""
    facts = list(facts)

    def code_stage(stage: int | None) -> int:
        return min(stage or 1, 2)

    issued = [f for f in facts if f["kind"] == "responded"]
    early = [f for f in facts if f["kind"] == "resolved-early"]
    left_late = [f for f in facts if f["kind"] in ("escalated", "withdrawn", "refused") and f["within_code"] is False]

    def left_stage(f: dict[str, Any]) -> int:
        return code_stage(f["stage"] - 1 if f["kind"] == "escalated" else f["stage"])

    ch02: dict[str, Any] = {}
    alternatives: dict[str, Any] = {}
    for s in CODE_STAGES:
        mine = [f for f in issued if code_stage(f["stage"]) == s]
        beyond = [f for f in mine if (f["stage"] or 1) > 2]
        resolved = [f for f in early if code_stage(f["stage"]) == s]
        left = [f for f in left_late if left_stage(f) == s]
        counted = mine + resolved + left
        within = _n(f for f in counted if f["within_code"])
        ch02[f"stage {s}"] = {
            "responses": _n(counted), "within_code": within, "pct_within_code": _pct(within, _n(counted)),
            "responses_issued": _n(mine) - _n(beyond), "stage_3_responses": _n(beyond),
            "early_resolutions": _n(resolved), "left_unanswered_late": _n(left),
        }
        # The other choice for each rule left to the landlord: (name, counted, within) when it would differ.
        options = {
            "clock_from_actual_acknowledgement": (
                mine + resolved + [f for f in left if f["within_code_from_ack"] is False],
                "within_code_from_ack"),
            "without_early_resolutions": (mine + left, "within_code"),
            "without_stages_left_unanswered": (mine + resolved, "within_code"),
            "without_stage_3_responses": ([f for f in mine if (f["stage"] or 1) <= 2] + resolved + left,
                                          "within_code"),
        }
        for name, (these, flag) in options.items():
            n, ok = _n(these), _n(f for f in these if f[flag])
            alternatives.setdefault(f"CH02 stage {s}", {})[name] = {
                "responses": n, "within_code": ok, "pct_within_code": _pct(ok, n)}
    received = [f for f in facts if f["kind"] == "received"]
    refusals = _n(f for f in facts if f["kind"] == "refused" and (f["stage"] or 1) == 1)
    escalated = [f for f in facts if f["kind"] == "escalated"]
    ch01 = {"stage 1": _n(received), "stage 2": _n(f for f in escalated if f["stage"] == 2)}
    alternatives["CH01"] = {
        "stage 1 without refusals": _n(received) - refusals,  # less the refusals made in the period: additive
        "stage 2 with stage 3 escalations": _n(f for f in escalated if (f["stage"] or 0) >= 2),
    }
    return {"CH01": ch01, "CH02": ch02, "alternatives": alternatives}


def _stored_records(runner: Any, refs: list[str]) -> dict[str, tuple[str, date, Any]]:
    """Each case's procedural record as the deadlines read model stores it (its profile's hash, when it was
    received, its stages and end as `record_as_of` reads them): what replaying the case gives for its deadlines,
    without replaying thousands of cases (and unsealing their personal data) for a report."""
    import json

    from . import deadlines as deadlines_model

    try:
        cases = runner.live_tables(deadlines_model.NAME)["cases"]
    except LookupError:
        return {}
    out: dict[str, tuple[str, date, Any]] = {}
    with runner.engine.connect() as conn:
        for i in range(0, len(refs), 500):
            q = sa.select(cases.c.ref, cases.c.policy_hash, cases.c.received_on, cases.c.record).where(
                cases.c.ref.in_(refs[i:i + 500]))
            for ref, policy_hash, received_on, record in conn.execute(q):
                out[ref] = (policy_hash, received_on, reads.from_record(json.loads(record)))
    return out


def still_open(runner: Any, end: date) -> list[dict[str, Any]]:
    """Complaints past the Code's response date with no response at `end` (the year end), by stage: reference,
    stage, the Code's due date, the landlord's own, and working days overdue at `end`. A stage counts as still open
    when it was entered by `end` and by then had neither a response nor an ending (escalation, withdrawal, refusal,
    early resolution). The candidates come from the facts; each due date from the case as it stood at `end`, cut
    back from the record the deadlines read model keeps."""
    from ..domain.deadlines import deadlines, record_as_of

    table = runner.live_tables(NAME)["facts"]
    kinds = ("received", "escalated", "responded", "withdrawn", "refused", "resolved-early")
    q = (sa.select(table.c.ref, table.c.kind, table.c.stage)
         .where(table.c.occurred_on <= end, table.c.kind.in_(kinds)).order_by(table.c.position))
    open_stages: dict[str, set[int]] = {}  # by case: the stages entered and not yet answered or ended
    with runner.engine.connect() as conn:
        rows = conn.execute(q).all()
    for ref, kind, stage in rows:
        if kind == "received":
            open_stages.setdefault(ref, set()).add(1)
        elif kind == "escalated":
            mine = open_stages.setdefault(ref, set())
            mine.discard(stage - 1)
            mine.add(stage)
        elif kind == "responded":
            open_stages.get(ref, set()).discard(stage)
        else:
            open_stages.pop(ref, None)
    entered = [(ref, stage) for ref, stages in open_stages.items() for stage in sorted(stages)]
    out = []
    ledger = runner.ledger
    stored = _stored_records(runner, sorted({ref for ref, _ in entered}))
    for ref, stage in entered:
        if ref in stored:
            policy_hash, received_on, whole = stored[ref]
            policy = ledger.policy_by_hash(policy_hash)
        else:  # no stored record (not expected once the read models are current): replay the case
            case = ledger.get_case(ref)
            policy, received_on, whole = ledger.policy_of(case), case.received_on, case
        calendar = policy.working_calendar
        record = record_as_of(whole, end)
        progress = next((p for p in reversed(record.stages) if p.number == stage), None)
        if progress is None or progress.responded_on is not None:
            continue
        code_due = code_response_due(progress, calendar)
        if code_due >= end:
            continue
        mine = next((d for d in deadlines(record, policy, end) if d.stage == stage and d.milestone == "respond"),
                    None)
        out.append({"ref": ref, "stage": stage, "received_on": received_on, "stage_started_on":
                    progress.started_on, "due_on": code_due, "landlord_due_on": mine.due_on if mine else None,
                    "working_days_overdue": calendar.working_days_between(code_due, end)})
    return sorted(out, key=lambda r: (r["stage"], r["due_on"], r["ref"]))
