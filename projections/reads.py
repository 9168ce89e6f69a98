"""The daily read models' names, schema versions, tables and queries, as SQL text: the one form of them that both
read paths run.

`list`, `breaches` and `find` are what officers run all day. When the read models they read are already at the head
of the log, the quick path (adapters/quick_reads.py) answers them on a plain DB-API connection (sqlite3 or psycopg2),
without importing SQLAlchemy and eventsourcing-sqlalchemy, which took most of such a command's time (issue 20); the
full path (adapters/projection_store.py's ProjectionRunner, after catching up) runs exactly the same SQL through its
engine's connection. So this module imports neither SQLAlchemy nor the domain's event classes at import time; the
projection modules take their names and versions from here.

A `runner` here is anything with:
- `live_suffix(name)`: the read model's live copy ("a" or "b"); LookupError if it has not been built;
- `fetch(sql, params)`: the rows (tuples) of `sql`, written with `?` placeholders and date parameters, each runner
  adapting both to its driver (adapters/quick_reads.adapt);
- `ledger`: the ledger, for the profiles pinned by hash (working calendars).

Values come back as each driver gives them: psycopg2 gives dates, Decimals and booleans; on SQLite the columns hold
what SQLAlchemy's types stored (dates as ISO text, amounts as numbers, booleans as 0/1), so every row is converted
here, the same way on both paths (`_typed`), into what SQLAlchemy's types would have returned.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Iterable

from ..domain import search

# ---------------------------------------------------------------------------------------------------- names, versions
CASE_STATUS, CASE_STATUS_VERSION = "case_status", 3  # v2: policy_hash, so working-day filters use the exact pinned
#                                                      calendar; v3: complainant_id, closed_on
DEADLINES, DEADLINES_VERSION = "deadlines", 2  # v2: the dated record per case, for as-of judgements
COMMITTEE, COMMITTEE_VERSION = "committee", 6
# committee v2: on SQLite the position is the rowid (INTEGER PRIMARY KEY), with no separate index to fill;
#   v3: the Ombudsman's evidence requests and orders (due_on, item);
#   v4: the case's tenure on every fact (lcra, lcho, other; None: not recorded), for CH01/CH02 per tenure;
#   v5: the inclusion rules of TSM CH02 (see "inclusion rules" in committee.py): early resolutions judged on the
#   Code's clock, stages left unanswered past it, and each response also judged from the actual acknowledgement
#   (within_code_from_ack), the alternative clock a footnote shows
CASE_INDEX, CASE_INDEX_VERSION = "case_index", 1

VERSIONS = {CASE_STATUS: CASE_STATUS_VERSION, DEADLINES: DEADLINES_VERSION, COMMITTEE: COMMITTEE_VERSION,
            CASE_INDEX: CASE_INDEX_VERSION}


def table_name(kind: str, suffix: str) -> str:
    """A read model's table in copy `suffix`: kind is cases (case_status), milestones and deadline_cases
    (deadlines), terms and homes (case_index)."""
    return {"cases": "rm_case_status_", "milestones": "rm_deadlines_", "deadline_cases": "rm_deadlines_cases_",
            "terms": "rm_case_index_", "homes": "rm_case_homes_"}[kind] + suffix


# ---------------------------------------------------------------------------------------------------- values
def _date(value: Any) -> date | None:
    return value if value is None or isinstance(value, date) else date.fromisoformat(str(value))


def _money(value: Any) -> Decimal | None:
    """As SQLAlchemy's Numeric(12, 2) returns it on either database."""
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal("%.2f" % value)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _typed(columns: tuple[str, ...], conversions: dict[str, Callable[[Any], Any]]) -> Callable[[tuple], tuple]:
    convert = [(i, conversions[c]) for i, c in enumerate(columns) if c in conversions]

    def row(values: tuple) -> tuple:
        values = list(values)
        for i, f in convert:
            values[i] = f(values[i])
        return tuple(values)

    return row


def _in(column: str, values: Iterable[Any]) -> tuple[str, list[Any]]:
    values = list(values)
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join('?' for _ in values)})", values


# ---------------------------------------------------------------------------------------------------- case_status
CASE_COLUMNS = ("ref", "policy", "policy_version", "policy_hash", "status", "stage", "stage_name", "category",
                "channel", "received_on", "ended_on", "closed_on", "complainant_id", "next_milestone", "next_due_on",
                "next_provisional", "compensation_requested", "compensation_approved", "compensation_ordered",
                "compensation_paid", "version", "last_position")
_case_row = _typed(CASE_COLUMNS, {
    **dict.fromkeys(("received_on", "ended_on", "closed_on", "next_due_on"), _date), "next_provisional": _bool,
    **dict.fromkeys(("compensation_requested", "compensation_approved", "compensation_ordered",
                     "compensation_paid"), _money)})
AWAITED = ("open", "referred")  # a referred case awaits the Ombudsman's evidence and orders


def days_open(received_on: date, ended_on: date | None, today: date) -> int:
    return ((ended_on or today) - received_on).days


def _case_where(*, status: str | None, stage: int | None, overdue: bool, due_within: int | None,
                category: str | None, today: date, refs: set[str] | None) -> tuple[str, list[Any]]:
    """The conditions of a `list` (what `query` and `count` select by)."""
    where: list[str] = []
    params: list[Any] = []
    if refs is not None:
        sql, values = _in("ref", sorted(refs))
        where.append(sql)
        params += values
    if status:
        where.append("status = ?")
        params.append(status)
    if stage:
        where.append("stage = ?")
        params.append(stage)
    if category:
        where.append("lower(category) = ?")
        params.append(category.strip().lower())
    awaited = f"status IN ({', '.join('?' for _ in AWAITED)})"
    if overdue:
        where += [awaited, "next_due_on < ?"]
        params += [*AWAITED, today]
    if due_within is not None:
        where += [awaited, "next_due_on IS NOT NULL"]
        params += list(AWAITED)
    return (" WHERE " + " AND ".join(where)) if where else "", params


def query(runner: Any, *, status: str | None = None, stage: int | None = None, overdue: bool = False,
          due_within: int | None = None, category: str | None = None, today: date,
          refs: set[str] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows for `complaints list`, oldest first, with the calendar-dependent columns worked out for `today`; with
    `refs`, only those cases (what `find` found); with `limit`, the first so many (not with `due_within`, whose
    working days are each case's own calendar's, counted here)."""
    where, params = _case_where(status=status, stage=stage, overdue=overdue, due_within=due_within,
                                category=category, today=today, refs=refs)
    sql = (f"SELECT {', '.join(CASE_COLUMNS)} FROM {table_name('cases', runner.live_suffix(CASE_STATUS))}{where} "
           "ORDER BY received_on, ref")
    if limit is not None and due_within is None:
        sql += " LIMIT ?"
        params.append(limit)
    rows = [dict(zip(CASE_COLUMNS, _case_row(r))) for r in runner.fetch(sql, params)]
    if due_within is not None:
        # Working days depend on each case's pinned profile (nation, closure days).
        horizon = {}
        for h in {r["policy_hash"] for r in rows}:
            horizon[h] = runner.ledger.policy_by_hash(h).working_calendar.add_working_days(today, due_within)
        rows = [r for r in rows if r["next_due_on"] <= horizon[r["policy_hash"]]]
    for r in rows:
        r["overdue"] = bool(r["status"] in AWAITED and r["next_due_on"] and r["next_due_on"] < today)
        r["days_open"] = days_open(r["received_on"], r["ended_on"], today)
    return rows


def count(runner: Any, *, status: str | None = None, stage: int | None = None, overdue: bool = False,
          category: str | None = None, today: date) -> int:
    """How many cases `query` would list (without `due_within`): what a screenful of them is out of."""
    where, params = _case_where(status=status, stage=stage, overdue=overdue, due_within=None, category=category,
                                today=today, refs=None)
    rows = runner.fetch(f"SELECT count(*) FROM {table_name('cases', runner.live_suffix(CASE_STATUS))}{where}",
                        params)
    return rows[0][0] or 0


def latest(runner: Any, refs: set[str], n: int) -> tuple[int, set[str]]:
    """How many of `refs` have a case, and the `n` of them received most recently (as `query` orders them), for a
    `find` that shows a screenful of thousands: reading only their references, not every row."""
    where, params = _in("ref", sorted(refs))
    found = [r[0] for r in runner.fetch(
        f"SELECT ref FROM {table_name('cases', runner.live_suffix(CASE_STATUS))} WHERE {where} "
        "ORDER BY received_on DESC, ref DESC", params)]
    return len(found), set(found[:n])


# ---------------------------------------------------------------------------------------------------- deadlines
BREACHES = ("late", "overdue")
SETTLED_COLUMNS = ("ref", "policy", "policy_hash", "category", "stage", "milestone", "stage_started_on", "due_on",
                   "done_on", "extended_by", "provisional", "cutoff_on")
_settled_row = _typed(SETTLED_COLUMNS, {**dict.fromkeys(("stage_started_on", "due_on", "done_on", "cutoff_on"), _date),
                                        "provisional": _bool})


def breaches(runner: Any, *, as_of: date, due_from: date | None = None, due_to: date | None = None,
             category: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Milestones late or overdue as of `as_of` (falling due between `due_from` and `due_to`, if given), judged
    with each case's pinned calendar on the record as it stood that day: a milestone done after `as_of` counts as
    overdue on it, and steps taken after it (a late acknowledgement, an extension) do not move its due dates.
    In order of due date (then case, stage, milestone); `limit` gives only the first so many, which the database
    finds by walking the due-date index, so a screenful costs the same however many cases are open."""
    from ..domain.deadlines import MilestoneRecord, judge, milestone_records, record_as_of

    suffix = runner.live_suffix(DEADLINES)
    milestones, cases = table_name("milestones", suffix), table_name("deadline_cases", suffix)
    # The cases whose record has not moved on since as_of are judged by the database: their rows hold the record
    # as it stood then. Rows are read as plain tuples, the head first and then the MilestoneRecord's fields in
    # order (a report may judge a hundred thousand).
    where = ["m.stage_started_on <= ?", "m.due_on < ?",
             # done late (and by as_of, since the record had settled by then), or undone and not cut off
             # (superseded, ended) before falling due
             "(m.done_on > m.due_on OR (m.done_on IS NULL AND (m.cutoff_on IS NULL OR m.cutoff_on > ? "
             "OR m.due_on < m.cutoff_on)))"]
    params: list[Any] = [as_of, as_of, as_of]
    moved_where, moved_params = ["last_step_on > ?", "received_on <= ?"], [as_of, as_of]
    _within("m.due_on", due_from, due_to, where, params)
    if category:
        where.append("lower(m.category) = ?")
        params.append(category.strip().lower())
        moved_where.append("lower(category) = ?")
        moved_params.append(category.strip().lower())
    policies = runner.ledger.policy_by_hash
    found = []
    latest_step = _date(runner.fetch(f"SELECT max(last_step_on) FROM {cases}", ())[0][0])
    joined = ""
    if latest_step is not None and latest_step > as_of:  # as of a past date: some cases have moved on since
        joined = f" JOIN {cases} c ON c.ref = m.ref"
        where.append("c.last_step_on <= ?")
        params.append(as_of)
        for ref, policy_hash, category_name, record_json in runner.fetch(
                f"SELECT ref, policy_hash, category, record FROM {cases} WHERE {' AND '.join(moved_where)}",
                moved_params):
            from ..domain.ombudsman import record_from_row

            policy = policies(policy_hash)
            record = json.loads(record_json)
            ombudsman = [record_from_row(row) for row in record.get("ombudsman", ())]  # judged as of by `judge`
            for r in [*milestone_records(record_as_of(from_record(record), as_of), policy), *ombudsman]:
                if (due_from is None or r.due_on >= due_from) and (due_to is None or r.due_on <= due_to):
                    found.append((ref, policy.name, policy_hash, category_name, r))
    sql = (f"SELECT {', '.join('m.' + c for c in SETTLED_COLUMNS)} FROM {milestones} m{joined} "
           f"WHERE {' AND '.join(where)} ORDER BY m.due_on, m.ref, m.stage, m.milestone")
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    found.extend((r[0], r[1], r[2], r[3], MilestoneRecord(*r[4:]))
                 for r in map(_settled_row, runner.fetch(sql, params)))
    calendars = {h: policies(h).working_calendar for h in {f[2] for f in found}}
    out = []
    for ref, policy_name, policy_hash, category_name, milestone in found:
        judged = judge(milestone, calendars[policy_hash], as_of)
        if judged is None or judged.status not in BREACHES:
            continue
        out.append({
            "ref": ref, "stage": milestone.stage, "milestone": milestone.milestone, "due_on": judged.due_on,
            "done_on": judged.done_on, "extended_by": milestone.extended_by, "status": judged.status,
            "working_days_late": judged.working_days_late, "policy": policy_name, "category": category_name,
        })
    out.sort(key=lambda r: (r["due_on"], r["ref"], r["stage"], r["milestone"]))
    return out if limit is None else out[:limit]


def from_record(data: dict[str, Any]) -> Any:
    """A deadlines case row's stored record (its JSON already parsed) as the domain's RecordAsOf."""
    from ..domain.complaint import StageProgress
    from ..domain.deadlines import RecordAsOf

    def d(day: str | None) -> date | None:
        return date.fromisoformat(day) if day else None

    stages = [StageProgress(
        number=s["number"], started_on=d(s["started_on"]), acknowledged_on=d(s["acknowledged_on"]),
        contacted_on=d(s["contacted_on"]), hearings=[{"occurred_on": d(h)} for h in s["hearings"]],
        extensions=[{"working_days": n, "occurred_on": d(on)} for n, on in s["extensions"]],
        responded_on=d(s["responded_on"]), closed_on=d(s.get("closed_on")),
    ) for s in data["stages"]]
    return RecordAsOf(stages, d(data["ended_on"]))


def _within(column: str, lo: Any, hi: Any, where: list[str], params: list[Any]) -> None:
    """Conditions (and their parameters) for `column` between `lo` and `hi` inclusive, either bound optional."""
    for bound, op in ((lo, ">="), (hi, "<=")):
        if bound is not None:
            where.append(f"{column} {op} ?")
            params.append(bound)


# ---------------------------------------------------------------------------------------------------- case_index
HOME_COLUMNS = search.HomeCase._fields  # in HomeCase's order: rows become HomeCases as they are
_home_row = _typed(HOME_COLUMNS, {"received_on": _date})


def home_cases(runner: Any, start: date | None = None, end: date | None = None) -> list[search.HomeCase]:
    where: list[str] = []
    params: list[Any] = []
    _within("received_on", start, end, where, params)
    sql = f"SELECT {', '.join(HOME_COLUMNS)} FROM {table_name('homes', runner.live_suffix(CASE_INDEX))}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [search.HomeCase(*_home_row(r)) for r in runner.fetch(sql, params)]  # a year is 150,000 rows


def homes_where(runner: Any) -> Callable[[str, list[str]], list[search.HomeCase]]:
    """search.cases_near's `rows_where`: the homes whose ref, uprn or address is one of some values, in chunks."""
    homes = table_name("homes", runner.live_suffix(CASE_INDEX))

    def rows_where(column: str, values: list[str]) -> list[search.HomeCase]:
        if column not in HOME_COLUMNS:
            raise ValueError(column)
        found = []
        for i in range(0, len(values), 500):
            where, params = _in(column, values[i:i + 500])
            found += [search.HomeCase(*_home_row(r))
                      for r in runner.fetch(f"SELECT {', '.join(HOME_COLUMNS)} FROM {homes} WHERE {where}", params)]
        return found

    return rows_where


def repeats_of(runner: Any, ref: str) -> list[str]:
    """The other complaints about the same home as `ref` within 12 months (search.repeats_of), reading only the
    homes near it."""
    return search.repeats_of(search.cases_near([ref], homes_where(runner)), ref)


# Above this many cases asked about, one pass over every home is quicker than asking about each one's neighbours.
AMONG_MOST = 20000


def repeat_refs(runner: Any, among: Iterable[str] | None = None) -> set[str]:
    """The cases about a home complaining again within 12 months (search.repeats). Needs no key: the tokens are
    compared as they are, so a reader login sees the flags too.

    With `among` (what `list` or `find` shows), only those of them, reading only the homes near them
    (search.cases_near: their own, their addresses', their UPRNs'), not every home: at 1M events reading every home
    took 3-6 s for a screenful of cases."""
    if among is None:
        return search.repeats(home_cases(runner))
    wanted = set(among)
    if not wanted:
        return set()
    if len(wanted) > AMONG_MOST:
        return search.repeats(home_cases(runner)) & wanted
    return search.repeats(search.cases_near(wanted, homes_where(runner))) & wanted


def matching_refs(runner: Any, text: str, fields: tuple[str, ...] = search.FIELDS) -> set[str]:
    """The references of the cases whose `fields` match `text` (search.query_alternatives: any one reading of the
    text, with all its terms). Needs the index key: a login that may not read the key table is refused by the
    database. No key yet (a reader that may not make one): nothing can have been indexed, so nothing matches."""
    from ..adapters.blind_index import index_key, token

    alternatives = search.query_alternatives(text)
    if not alternatives:
        return set()
    key = index_key(runner.ledger)
    if key is None:
        return set()
    terms = table_name("terms", runner.live_suffix(CASE_INDEX))
    found: set[str] = set()
    for alternative in alternatives:
        wanted = sorted({token(key, t) for t in alternative})
        tokens, params = _in("token", wanted)
        kinds, kind_params = _in("field", fields)
        found |= {r[0] for r in runner.fetch(
            f"SELECT ref FROM {terms} WHERE {tokens} AND {kinds} GROUP BY ref HAVING count(DISTINCT token) = ?",
            [*params, *kind_params, len(wanted)])}
    return found


def received_cases(ledger: Any, ids: Iterable[Any], subjects: Iterable[str] = ()) -> list[Any]:
    """The cases as received (their first events, read in batches), through the mapper that opens personal data,
    the keys of their data subjects (`subjects`) read in one query first."""
    from ..adapters.blind_index import preload_keys

    ids = list(ids)
    recorder, mapper = ledger.recorder, ledger.mapper
    if getattr(recorder, "vault", None) is not None:
        preload_keys(ledger, subjects)
    return [mapper.to_domain_event(stored).mutate(None) for stored in (recorder.select_first_events(ids) if ids else [])]


def complainants(ledger: Any, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Each case's complainant's name as received (its first event's), for `find`: the keys of `rows`'
    complainant_id read in one query and their first events in another (per 500), not a key read and a replay per
    case (7,700 cases of a common surname took 26 s one by one)."""
    from ..domain.complaint import complaint_id

    rows = list(rows)
    cases = received_cases(ledger, [complaint_id(r["ref"]) for r in rows],
                           {r["complainant_id"] for r in rows if r.get("complainant_id")})
    return {case.ref: case.complainant for case in cases}
