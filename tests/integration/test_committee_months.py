"""The committee's months table (projections/committee.py, "summary") on SQLite and PostgreSQL: kept by triggers
in step with the facts it summarises, so that every figure read from it is the figure counting the facts one by one
gives, after incremental catch-up across pages, corrections (which restate facts in place), a rebuild, and raw SQL.

The oracle is the facts themselves: `read_facts` (every fact, one row each) through the same `stats`, and the
database's own GROUP BY over the facts (`_count_days`, what `counted_facts` ran for every period before the table).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters import simulation
from complaints_ledger.adapters.projection_store import PAGE_SIZE, ProjectionRunner, verify_read_models
from complaints_ledger.cli import to_json
from complaints_ledger.domain.errors import ComplaintsError
from complaints_ledger.projections import all_projections, committee

UNTIL = date(2026, 11, 20)
MANAGER = "Mo Manager"


def months_rows(runner: ProjectionRunner) -> Counter:
    """The months table as a multiset of (month, what it counts, n, amount), key left out."""
    months = runner.live_tables(committee.NAME)["months"]
    names = [n for n, _ in committee._SUMMARY_COLUMNS]
    with runner.engine.connect() as conn:
        rows = conn.execute(sa.select(months.c.month, *(months.c[n] for n in names), months.c.n,
                                      months.c.amount)).tuples().all()
    return Counter((r[0], *(_same(v) for v in r[1:-1]), Decimal(r[-1]).normalize()) for r in rows)


def counted_from_facts(runner: ProjectionRunner) -> Counter:
    """The facts counted by month by the database, as `counted_facts` counts the days of a partial month."""
    facts = runner.live_tables(committee.NAME)["facts"]
    rows = committee._count_days(runner, facts, [(date(2000, 1, 1), date(2100, 1, 1))], whole=True)
    names = [n for n, _ in committee._SUMMARY_COLUMNS]
    out: Counter = Counter()
    for f in rows:
        month = f["occurred_on"].replace(day=1)
        if f["position"] is None:  # a counted row's date is its month's; the table keeps dates of single facts only
            f["occurred_on"] = None
        out[(month, *(_same(f[n]) for n in names), f["n"], Decimal(f["amount"] or 0).normalize())] += 1
    return out


def _same(value):
    return bool(value) if isinstance(value, bool) else value


def figures_both_ways(runner: ProjectionRunner, start: date, end: date, by: str | None) -> tuple[str, str]:
    """`stats` over every fact one by one, and over `counted_facts` (whole months from the months table)."""
    earlier = committee.read_earlier_orders(runner, start)
    one_by_one = committee.stats(earlier + committee.read_facts(runner, start, end), start, end, by)
    counted = committee.stats(earlier + committee.counted_facts(runner, start, end), start, end, by)
    return to_json(one_by_one), to_json(counted)


PERIODS = [(date(2025, 11, 21), UNTIL, "month"), (date(2026, 1, 1), date(2026, 6, 30), "quarter"),
           (date(2026, 2, 9), date(2026, 8, 17), "month"), (date(2026, 3, 1), date(2026, 3, 31), None),
           (date(2026, 4, 1), date(2027, 3, 31), "half-year")]


def assert_months_are_the_facts_counted(runner: ProjectionRunner) -> None:
    assert months_rows(runner) == counted_from_facts(runner)
    for start, end, by in PERIODS:
        one_by_one, counted = figures_both_ways(runner, start, end, by)
        assert counted == one_by_one, (start, end, by)


def correct_some(ledger, refs: list[str]) -> Counter:
    """Corrections of each kind that restates facts: category, channel, tenure, received date, a step's date."""
    done: Counter = Counter()
    for i, ref in enumerate(refs):
        case = ledger.get_case(ref)
        tries = [("category", dict(field="category", to=["damp and mould", "repairs", "antisocial behaviour"][i % 3])),
                 ("channel", dict(field="channel", to="email" if case.channel != "email" else "letter")),
                 ("tenure", dict(field="tenure", to="lcho" if getattr(case, "tenure", None) != "lcho" else "lcra"))]
        steps = [(v, d) for v, (step, d, _) in case.step_dates.items() if step in ("Acknowledged", "Responded")]
        for version, on in steps[:1]:
            tries.append(("step date", dict(event_version=version, to=on - timedelta(days=1))))
        tries.append(("received date", dict(field="received-date", to=(case.received_on - timedelta(days=1)).isoformat())))
        for what, change in tries:
            try:
                ledger.correct(ref, reason="Recorded wrongly", actor=MANAGER, **change)
            except ComplaintsError:
                continue
            done[what] += 1
    return done


def test_the_months_stay_the_facts_counted_through_catch_up_corrections_and_a_rebuild(ledger):
    runner = ProjectionRunner(ledger, all_projections())
    runner.catch_up()  # built on the empty ledger: everything after comes through the triggers
    summary = simulation.build(ledger, cases=150, seed=11, actor="simulator", until=UNTIL)
    assert summary["events"] > 2 * PAGE_SIZE  # catch-up crosses pages
    runner.catch_up()
    assert_months_are_the_facts_counted(runner)
    facts = runner.live_tables(committee.NAME)["facts"]
    with runner.engine.connect() as conn:
        refs = list(conn.execute(sa.select(facts.c.ref).where(facts.c.kind == "received")
                                 .order_by(facts.c.position).limit(40)).scalars())
    done = correct_some(ledger, refs)
    assert set(done) == {"category", "channel", "tenure", "step date", "received date"}, done
    before = months_rows(runner)
    runner.catch_up()
    after = months_rows(runner)
    assert after != before  # the corrections moved counts from one row to another
    assert_months_are_the_facts_counted(runner)
    runner.rebuild([committee.NAME])
    assert months_rows(runner) == after  # a rebuild counts what the triggers kept
    assert_months_are_the_facts_counted(runner)
    positions, problems = verify_read_models(runner, [committee.NAME])
    assert problems == []
    ledger.receive(complainant="Ada Tenant", channel="phone", summary="Heating", actor="Jo Officer",
                   received_on=date(2026, 11, 21), category="heating")
    runner.catch_up()  # the rebuilt copy's triggers keep counting
    assert_months_are_the_facts_counted(runner)


def test_verify_reports_a_raw_sql_edit_of_the_months_or_of_the_facts_they_count(ledger):
    runner = ProjectionRunner(ledger, all_projections())
    simulation.build(ledger, cases=30, seed=5, actor="simulator", until=UNTIL)
    runner.catch_up()
    tables = runner.live_tables(committee.NAME)
    months, facts = tables["months"], tables["facts"]
    assert verify_read_models(runner, [committee.NAME])[1] == []
    with runner.engine.begin() as conn:  # an insider adds one to a month's received complaints
        month = conn.execute(sa.select(sa.func.min(months.c.month)).where(months.c.kind == "received")).scalar()
        key = conn.execute(sa.select(sa.func.min(months.c.key)).where(months.c.kind == "received",
                                                                      months.c.month == month)).scalar()
        conn.execute(months.update().where(months.c.month == month, months.c.key == key)
                     .values(n=months.c.n + 1))
    problems = verify_read_models(runner, [committee.NAME])[1]
    # the row as it stands, and the row the log gives, each named by its month and what it counts
    assert sorted(p.rsplit(" is ", 1)[1] for p in problems) == ["in the read model but not in the log",
                                                                "missing from the read model"], problems
    named = f"committee.months: row (month {month.isoformat()}, kind received, "
    assert all(p.startswith(named) for p in problems), problems
    counted = sorted(int(p.split(", n ")[1].split(",")[0]) for p in problems)  # the log's n, and one more
    assert counted[1] == counted[0] + 1, problems
    with runner.engine.begin() as conn:  # put back; then edit a fact instead: its months row moves with it
        conn.execute(months.update().where(months.c.month == month, months.c.key == key)
                     .values(n=months.c.n - 1))
    assert verify_read_models(runner, [committee.NAME])[1] == []
    with runner.engine.begin() as conn:
        position = conn.execute(sa.select(sa.func.min(facts.c.position)).where(facts.c.kind == "received")).scalar()
        conn.execute(facts.update().where(facts.c.position == position).values(category="made up"))
    assert months_rows(runner) == counted_from_facts(runner)  # the triggers followed the edit ...
    problems = verify_read_models(runner, [committee.NAME])[1]
    assert any(p.startswith("committee.facts:") for p in problems)  # ... which verify reports, in both tables
    assert any(p.startswith("committee.months:") for p in problems)
