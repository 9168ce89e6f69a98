"""The projection engine (adapters/projection_store.py) against the event log it reads, on SQLite and PostgreSQL.

The oracle throughout is a direct fold: for every complaint in the log, `ledger.get_case(ref)` replayed by the
repository and turned into a row by `case_status.row()`, with `last_position` the notification id of the case's last
event. Complaints are found from their `Complaint.Received` records in the events table, independently of the
runner's own event filtering, so feedback and registry aggregates can never leak into the expected set.
"""

from __future__ import annotations

import threading
import time
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from eventsourcing.persistence import StoredEvent

from complaints_ledger.adapters.audit_chain import split_state  # the stored format: chain link, then payload
from complaints_ledger.adapters import projection_store, simulation
from complaints_ledger.adapters.projection_store import PAGE_SIZE, STATE_TABLE, ProjectionRunner, Write
from complaints_ledger.domain.complaint import complaint_id
from complaints_ledger.projections import all_projections, case_status, committee, deadlines
from complaints_ledger.projections.case_status import CaseStatus

UNTIL = date(2026, 11, 20)
ACTOR = "Jo Officer"
NAME = case_status.NAME


# ---------------------------------------------------------------------------------------------------- helpers
def simulate(ledger, cases: int, seed: int) -> dict[str, Any]:
    return simulation.build(ledger, cases=cases, seed=seed, actor="simulator", until=UNTIL)


def runner_for(ledger, *projections) -> ProjectionRunner:
    return ProjectionRunner(ledger, list(projections) or all_projections())


def engine_of(ledger) -> sa.Engine:
    return ledger.recorder.datastore.engine


def events_table(ledger) -> sa.Table:
    return ledger.recorder.events_record_cls.__table__


def log_head(ledger) -> int:
    with engine_of(ledger).connect() as conn:
        return conn.execute(sa.select(sa.func.max(events_table(ledger).c.id))).scalar() or 0


def complaint_refs(ledger) -> set[str]:
    """Every complaint in the log, read from its `Received` record (not through the runner)."""
    e = events_table(ledger)
    with engine_of(ledger).connect() as conn:
        records = conn.execute(
            sa.select(e.c.originator_id, e.c.originator_version, e.c.topic, e.c.state)
            .where(e.c.topic.like("%:Complaint.Received"))
        ).all()
    refs = set()
    for r in records:
        event = ledger.mapper.to_domain_event(StoredEvent(originator_id=r.originator_id,
                                                          originator_version=r.originator_version,
                                                          topic=r.topic, state=split_state(bytes(r.state))[1]))
        refs.add(event.ref)
    return refs


def last_positions(ledger) -> dict[Any, int]:
    """Notification id of each aggregate's last event."""
    e = events_table(ledger)
    with engine_of(ledger).connect() as conn:
        return {str(k): v for k, v in conn.execute(sa.select(e.c.originator_id, sa.func.max(e.c.id))
                                                   .group_by(e.c.originator_id))}


def expected_rows(ledger) -> dict[str, dict[str, Any]]:
    """The case_status table computed straight from the log: one row per complaint, folded by the repository."""
    positions = last_positions(ledger)
    rows = {}
    for ref in complaint_refs(ledger):
        case = ledger.get_case(ref)
        rows[ref] = case_status.row(case, positions[str(complaint_id(ref))], ledger.policy_of(case))
    return rows


def live_rows(runner: ProjectionRunner) -> dict[str, dict[str, Any]]:
    table = runner.live_tables(NAME)["cases"]
    with runner.engine.connect() as conn:
        return {r.ref: dict(r._mapping) for r in conn.execute(sa.select(table))}


def assert_same_rows(actual: dict[str, dict], expected: dict[str, dict]) -> None:
    """Equal tables, with a readable account of the first differences when they are not."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    assert not missing and not extra, f"missing rows {missing[:10]} ({len(missing)}), extra rows {extra[:10]} " \
                                      f"({len(extra)})"
    wrong = []
    for ref in sorted(expected):
        diff = {k: (actual[ref].get(k), v) for k, v in expected[ref].items() if actual[ref].get(k) != v}
        if diff or set(actual[ref]) != set(expected[ref]):
            wrong.append((ref, diff or f"columns {sorted(actual[ref])} vs {sorted(expected[ref])}"))
    assert not wrong, f"{len(wrong)} rows differ (column: (table, fold)), e.g. {wrong[:5]}"


def status_of(runner: ProjectionRunner) -> dict[str, Any]:
    (status,) = [s for s in runner.status() if s["name"] == NAME]
    return status


def state_row(ledger) -> Any:
    state = sa.Table(STATE_TABLE, sa.MetaData(), autoload_with=engine_of(ledger))
    with engine_of(ledger).connect() as conn:
        return conn.execute(sa.select(state).where(state.c.name == NAME)).first()


def nth_position(ledger, n: int) -> int:
    """The notification id of the log's nth event."""
    e = events_table(ledger)
    with engine_of(ledger).connect() as conn:
        return conn.execute(sa.select(e.c.id).order_by(e.c.id).offset(n - 1).limit(1)).scalar_one()


class Interrupted(Exception):
    """Stands for a crash part-way through a rebuild."""


class _DiesWhenWritten(list):
    """Rows whose writing dies part-way: the rows written before them are in the transaction, uncommitted."""

    def __iter__(self):
        raise Interrupted("killed while writing")


class CaseStatusDyingOnPage(CaseStatus):
    """The real projection, except that on the Nth page it is given it writes its rows and then dies before
    commit."""

    def __init__(self, page: int):
        self.page = page
        self.pages = 0

    def writes(self, page):
        self.pages += 1
        writes = super().writes(page)
        if self.pages == self.page:
            writes.append(Write("cases", _DiesWhenWritten([{"ref": "never"}])))
        return writes


class CaseStatusV2(CaseStatus):
    version = CaseStatus.version + 1


def meet_after_reading_the_first_page(runner: ProjectionRunner, barrier: threading.Barrier) -> ProjectionRunner:
    """Each runner waits for the other once it has read its first page, before claiming it.

    Both runners have then read the same position and the same page: exactly the race the compare-and-set of the
    position is there to settle.
    """
    real_read_page, met = runner.read_page, []

    def read_page(conn, after, *args, **kwargs):
        page = real_read_page(conn, after, *args, **kwargs)
        if not met:
            met.append(True)
            try:
                barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
        return page

    runner.read_page = read_page
    return runner


def run_in_threads(*jobs) -> list[Any]:
    """Start the jobs together; each result is its return value or the exception it raised."""
    results: list[Any] = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def run(i: int) -> None:
        start.wait(timeout=30)
        try:
            results[i] = jobs[i]()
        except BaseException as e:  # noqa: BLE001 - the test reports it
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a runner never finished"
    return results


# ---------------------------------------------------------------------------------------------------- from scratch
def test_a_projection_built_from_scratch_equals_the_direct_fold_of_every_complaint_and_nothing_else(ledger):
    summary = simulate(ledger, cases=2000, seed=20261120)
    assert summary["feedback"] > 0 and summary["events"] > 5 * summary["cases"]

    runner = runner_for(ledger)
    applied = runner.catch_up()

    assert applied == log_head(ledger)
    rows = live_rows(runner)
    expected = expected_rows(ledger)
    assert len(expected) == summary["cases"] == 2000
    assert set(rows) == set(expected) == complaint_refs(ledger)
    assert not [ref for ref in rows if not ref.startswith("CMP-")], "feedback must not appear in case_status"
    # Every status the simulator produces is represented, so the comparison covers each kind of row.
    assert {r["status"] for r in rows.values()} == set(summary["statuses"])
    assert any(r["compensation_paid"] > 0 for r in rows.values())
    assert any(r["stage"] > 1 for r in rows.values())
    assert_same_rows(rows, expected)

    # The other read models, on the same few thousand cases: each row as the direct fold gives it.
    positions = last_positions(ledger)
    ids = event_positions(ledger)
    expected_milestones, expected_records, expected_facts = {}, {}, {}
    for ref in complaint_refs(ledger):
        case = None
        for event in ledger.case_events(ref):  # one event at a time: each fact as of its own step
            case = event.mutate(case)
            position = ids[(str(event.originator_id), event.originator_version)]
            f = committee.fact(position, event, case, FoldedPage(ledger))
            if f is not None:
                expected_facts[position] = f
        for r in deadlines.rows(case, positions[str(complaint_id(ref))], ledger.policy_of(case)):
            expected_milestones[(r["ref"], r["stage"], r["milestone"])] = r
        expected_records[ref] = deadlines.case_row(case)
    for event in feedback_events(ledger):
        position = ids[(str(event.originator_id), event.originator_version)]
        expected_facts[position] = committee.fact(position, event, None, FoldedPage(ledger))
    tables = runner.live_tables(deadlines.NAME)
    assert keyed(runner, tables["milestones"], ("ref", "stage", "milestone")) == expected_milestones
    assert keyed(runner, tables["cases"], ("ref",)) == {(k,): v for k, v in expected_records.items()}
    facts = keyed(runner, runner.live_tables(committee.NAME)["facts"], ("position",))
    assert facts == {(k,): v for k, v in expected_facts.items()}
    assert {f["kind"] for f in facts.values()} >= {"received", "responded", "escalated", "feedback", "learning"}


class FoldedPage:
    """What `committee.fact` needs from a page, for the direct fold: no runner involved."""

    def __init__(self, ledger):
        self.ledger = ledger

    def policy_of(self, case):
        return self.ledger.policy_of(case)

    def milestones(self, case):
        from complaints_ledger.domain.deadlines import milestone_records

        return milestone_records(case, self.ledger.policy_of(case))


def event_positions(ledger) -> dict[tuple[str, int], int]:
    e = events_table(ledger)
    with engine_of(ledger).connect() as conn:
        return {(str(r.originator_id), r.originator_version): r.id
                for r in conn.execute(sa.select(e.c.id, e.c.originator_id, e.c.originator_version))}


def feedback_events(ledger) -> list[Any]:
    e = events_table(ledger)
    with engine_of(ledger).connect() as conn:
        records = conn.execute(sa.select(e.c.originator_id, e.c.originator_version, e.c.topic, e.c.state)
                               .where(e.c.topic.like("%:Feedback.FeedbackReceived"))).all()
    return [ledger.mapper.to_domain_event(StoredEvent(originator_id=r.originator_id,
                                                      originator_version=r.originator_version,
                                                      topic=r.topic, state=split_state(bytes(r.state))[1])) for r in records]


def keyed(runner: ProjectionRunner, table: sa.Table, key: tuple[str, ...]) -> dict[tuple, dict[str, Any]]:
    with runner.engine.connect() as conn:
        return {tuple(r._mapping[k] for k in key): dict(r._mapping) for r in conn.execute(sa.select(table))}


def test_the_next_milestone_in_the_read_model_is_the_one_show_reports_for_each_open_case(ledger):
    """A check of `case_status.row()` itself, against the case view (`complaints show`), not against `row()`."""
    simulate(ledger, cases=400, seed=17)
    runner = runner_for(ledger)
    runner.catch_up()
    rows = live_rows(runner)
    open_refs = [ref for ref, r in rows.items() if r["status"] == "open"]
    assert len(open_refs) > 20

    for ref in open_refs:
        view = ledger.show(ref)
        nxt = view["next_milestone"]  # a JSON-ready dict: the due date as ISO text
        assert (rows[ref]["next_milestone"], rows[ref]["next_due_on"], rows[ref]["next_provisional"]) == (
            (nxt["milestone"], date.fromisoformat(str(nxt["due_on"])), nxt["provisional"]) if nxt
            else (None, None, False)), ref
        assert (rows[ref]["stage"], rows[ref]["stage_name"]) == (view["stage"], view["stage_name"]), ref
    assert all(r["next_milestone"] is None and r["next_due_on"] is None
               for r in rows.values() if r["status"] != "open")


# ---------------------------------------------------------------------------------------------------- rebuild
def test_a_rebuild_reproduces_exactly_the_table_that_incremental_catch_ups_built(ledger, ledger_factory):
    simulate(ledger, cases=250, seed=7)
    runner = runner_for(ledger)
    runner.catch_up()
    hoc = ledger.policy("hoc-2024")
    connexus = ledger.policy("connexus-2021")
    note_on = sorted(live_rows(runner))[:3]  # simulated cases, most of them long closed

    def received(on: date, category: str, policy=hoc) -> str:
        return ledger.receive(complainant="Ada Tenant", channel="email", summary="Damp in the bathroom",
                              actor=ACTOR, received_on=on, policy=policy, category=category)

    def catch_up(with_runner: ProjectionRunner) -> None:
        before = status_of(with_runner)["position"]
        applied = with_runner.catch_up()
        assert applied == log_head(ledger) - before
        assert status_of(with_runner)["lag"] == 0

    # Step 1: new cases arrive.
    a, b, c = received(date(2026, 11, 2), "repairs"), received(date(2026, 11, 2), "damp and mould"), \
        received(date(2026, 11, 2), "communication")
    d = received(date(2026, 11, 2), "repairs", policy=connexus)
    catch_up(runner)
    # Step 2: they are acknowledged, one is withdrawn, another arrives, feedback is recorded.
    for ref in (a, b, c):
        ledger.acknowledge(ref, actor=ACTOR, on=date(2026, 11, 3))
    ledger.withdraw(d, actor=ACTOR, on=date(2026, 11, 4), reason="Sorted out by the repairs team")
    e = received(date(2026, 11, 4), "estate services")
    ledger.record_feedback(kind="compliment", summary="Thanks", actor=ACTOR, received_on=date(2026, 11, 4))
    catch_up(runner)
    # Step 3: responses, an extension, a compensation request; caught up by another process (a new runner,
    # whose case folder has never seen these cases and must load them from the repository).
    ledger.respond(a, outcome="not-upheld", actor=ACTOR, on=date(2026, 11, 9))
    ledger.respond(b, outcome="upheld", actor=ACTOR, on=date(2026, 11, 9), remedies=["apology"])
    ledger.extend(c, working_days=5, reason="Waiting for a surveyor", agreed=True, actor=ACTOR,
                  on=date(2026, 11, 9))
    ledger.request_compensation(b, amount=Decimal("250"), actor=ACTOR, on=date(2026, 11, 9))
    catch_up(runner_for(ledger_factory()))
    # Step 4: escalation, closure, compensation decided and paid, notes on old cases.
    ledger.escalate(a, actor=ACTOR, on=date(2026, 11, 12), reason="Still dissatisfied")
    ledger.approve_compensation(b, amount=Decimal("200"), actor=ACTOR, on=date(2026, 11, 12))
    ledger.pay_compensation(b, amount=Decimal("200"), actor=ACTOR, on=date(2026, 11, 13))
    ledger.close_case(b, actor=ACTOR, on=date(2026, 11, 13))
    ledger.acknowledge(e, actor=ACTOR, on=date(2026, 11, 12))
    for ref in note_on:
        ledger.add_note(ref, "Resident called back", actor=ACTOR, on=date(2026, 11, 12))
    catch_up(runner)
    # Step 5: stage 2 under way, the extended case answered and closed.
    ledger.acknowledge(a, actor=ACTOR, on=date(2026, 11, 16))
    ledger.respond(c, outcome="partly-upheld", actor=ACTOR, on=date(2026, 11, 17))
    ledger.close_case(c, actor=ACTOR, on=date(2026, 11, 19))
    catch_up(runner)

    incremental = live_rows(runner)
    assert_same_rows(incremental, expected_rows(ledger))
    assert (incremental[a]["stage"], incremental[b]["status"], incremental[d]["status"]) == (2, "closed", "withdrawn")
    assert incremental[b]["compensation_paid"] == Decimal("200")
    old = status_of(runner)

    applied = runner.rebuild()

    rebuilt = live_rows(runner)
    assert applied == log_head(ledger)
    assert rebuilt == incremental  # every column, last_position included
    now = status_of(runner)
    assert now["live_copy"] != old["live_copy"] and now["live_copy"] in ("a", "b")
    assert now["built"] and not now["rebuild_in_progress"]
    assert now["lag"] == 0 and now["position"] == now["head"] == log_head(ledger)
    assert now["schema_version"] == now["code_version"] == CaseStatus.version
    assert now["last_rebuild"] is not None and now["last_rebuild"] != old["last_rebuild"]


def every_live_table(runner: ProjectionRunner) -> dict[str, list[dict[str, Any]]]:
    out = {}
    with runner.engine.connect() as conn:
        for projection in runner.projections:
            for label, table in runner.live_tables(projection).items():
                out[f"{projection}.{label}"] = sorted((dict(r._mapping) for r in conn.execute(sa.select(table))),
                                                      key=repr)
    return out


def test_a_rebuild_that_keeps_only_three_cases_in_memory_builds_the_same_read_models(ledger, monkeypatch):
    """Memory stays bounded on a long log: cases beyond the folder's few are replayed from the store when they next
    change, and every read model comes out as if all had been kept."""
    simulate(ledger, cases=60, seed=31)
    refs = sorted(complaint_refs(ledger))
    for i, ref in enumerate(refs * 2):  # each case's later events far apart in the log, interleaved with others
        ledger.add_note(ref, f"Resident called back ({i})", actor=ACTOR, on=UNTIL)
    runner = runner_for(ledger)
    runner.rebuild()
    everything_kept = every_live_table(runner)
    assert sum(len(rows) for rows in everything_kept.values()) > 3 * len(refs)

    monkeypatch.setattr(projection_store, "FOLDED_CASES", 3)
    replayed = []
    original_get = projection_store.EventStore.get
    monkeypatch.setattr(projection_store.EventStore, "get",
                        lambda store, *a, **k: replayed.append(a[0]) or original_get(store, *a, **k))
    runner.rebuild()

    assert len(runner.cases._cases) == 3
    assert len(replayed) >= 2 * len(refs)  # each note found its case evicted, and replayed it
    assert every_live_table(runner) == everything_kept


# ---------------------------------------------------------------------------------------------------- exactly once
def test_after_catch_up_the_position_is_the_head_of_the_log_and_another_catch_up_applies_nothing(
        ledger, ledger_factory):
    simulate(ledger, cases=200, seed=3)
    runner = runner_for(ledger)
    before = status_of(runner)
    assert (before["built"], before["lag"], before["position"]) == (False, log_head(ledger), 0)

    assert runner.catch_up() == log_head(ledger)
    status = status_of(runner)
    assert status["position"] == status["head"] == log_head(ledger)
    assert status["lag"] == 0
    assert runner.catch_up() == 0
    assert runner_for(ledger_factory()).catch_up() == 0  # nor does another process

    head = log_head(ledger)
    ref = ledger.receive(complainant="Ada Tenant", channel="phone", summary="Lift broken", actor=ACTOR,
                         received_on=date(2026, 11, 20))
    assert runner.catch_up() == log_head(ledger) - head > 0
    assert runner.catch_up() == 0
    assert live_rows(runner)[ref]["last_position"] == log_head(ledger) == status_of(runner)["position"]
    assert_same_rows(live_rows(runner), expected_rows(ledger))


def test_two_runners_catching_up_at_once_apply_every_event_exactly_once_and_agree(ledger, ledger_factory):
    simulate(ledger, cases=150, seed=5)
    runner_for(ledger).catch_up()
    simulate(ledger, cases=150, seed=6)  # more than a page of new events for both runners to race over
    start = status_of(runner_for(ledger))["position"]
    assert log_head(ledger) - start > PAGE_SIZE
    barrier = threading.Barrier(2)
    runners = [meet_after_reading_the_first_page(runner_for(ledger_factory()), barrier) for _ in range(2)]

    results = run_in_threads(*(r.catch_up for r in runners))

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"a runner failed instead of giving way: {errors[0]!r}"
    assert sum(results) == log_head(ledger) - start, f"events applied per runner: {results}"
    first, second = live_rows(runners[0]), live_rows(runners[1])
    assert first == second
    assert_same_rows(first, expected_rows(ledger))
    assert status_of(runners[0])["position"] == log_head(ledger)


def test_two_runners_building_a_projection_for_the_first_time_at_once_both_succeed_and_agree(
        ledger, ledger_factory, monkeypatch):
    """Two read commands on a ledger whose read model was never built (e.g. the first `complaints list` of two
    officers at once): each finds no state row and starts the build."""
    simulate(ledger, cases=120, seed=9)
    runners = [runner_for(ledger_factory()) for _ in range(2)]
    both_looked = threading.Barrier(2)
    real_state = ProjectionRunner._state
    calls: dict[int, int] = {}

    def state_looked_up_by_both(self, conn, name):
        row = real_state(self, conn, name)
        calls[id(self)] = calls.get(id(self), 0) + 1
        if calls[id(self)] == 2:  # inside the rebuild's first transaction, before it inserts the state row
            try:
                both_looked.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
        return row

    monkeypatch.setattr(ProjectionRunner, "_state", state_looked_up_by_both)

    results = run_in_threads(*(r.catch_up for r in runners))
    monkeypatch.undo()

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"a runner crashed instead of waiting for or joining the other's build: {errors[0]!r}"
    assert_same_rows(live_rows(runners[0]), expected_rows(ledger))
    assert live_rows(runners[1]) == live_rows(runners[0])


def test_two_runners_opened_at_once_on_a_ledger_without_read_models_both_start(ledger, ledger_factory):
    """E.g. the first two `complaints list` after an upgrade that introduced read models."""
    simulate(ledger, cases=20, seed=10)
    ledgers = [ledger_factory() for _ in range(2)]
    both_checked = threading.Barrier(2)

    def create_state_table_together(conn, cursor, statement, parameters, context, executemany):
        if "CREATE TABLE projection_state" in statement:  # each has already found the table missing
            try:
                both_checked.wait(timeout=5)
            except threading.BrokenBarrierError:
                pass

    for each in ledgers:
        sa.event.listen(engine_of(each), "before_cursor_execute", create_state_table_together)

    results = run_in_threads(*(lambda each=each: runner_for(each) for each in ledgers))

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"opening the read models failed: {errors[0]!r}"
    assert all(r.catch_up() >= 0 for r in results)
    assert_same_rows(live_rows(results[0]), expected_rows(ledger))


def test_follow_keeps_the_read_model_live_until_told_to_stop(ledger, ledger_factory):
    simulate(ledger, cases=60, seed=13)
    follower, reader = runner_for(ledger_factory()), runner_for(ledger_factory())
    stop = threading.Event()
    following = threading.Thread(target=follower.follow, kwargs={"poll_seconds": 0.01, "stop": stop.is_set})
    following.start()
    try:
        ref = ledger.receive(complainant="Ada Tenant", channel="phone", summary="Lift broken", actor=ACTOR,
                             received_on=date(2026, 11, 20))
        deadline = time.monotonic() + 30
        while not (status_of(reader)["built"] and status_of(reader)["lag"] == 0):
            assert following.is_alive() and time.monotonic() < deadline, "follow never caught up"
            time.sleep(0.01)
    finally:
        stop.set()
        following.join(timeout=30)

    assert not following.is_alive(), "follow did not stop when told to"
    assert ref in live_rows(reader)
    assert_same_rows(live_rows(reader), expected_rows(ledger))


# ---------------------------------------------------------------------------------------------------- schema version
def test_a_changed_schema_version_makes_catch_up_rebuild_the_other_copy_and_switch_to_it(ledger, ledger_factory):
    simulate(ledger, cases=150, seed=4)
    v1 = runner_for(ledger)
    v1.catch_up()
    old = status_of(v1)
    rows_v1 = live_rows(v1)
    assert old["schema_version"] == CaseStatus.version

    v2 = runner_for(ledger_factory(), CaseStatusV2())
    assert status_of(v2)["code_version"] == CaseStatusV2.version != status_of(v2)["schema_version"]
    applied = v2.catch_up()

    status = status_of(v2)
    assert applied == log_head(ledger)  # a full rebuild, not an increment
    assert status["schema_version"] == status["code_version"] == CaseStatusV2.version
    assert status["live_copy"] != old["live_copy"]
    assert status["lag"] == 0 and not status["rebuild_in_progress"]
    assert live_rows(v2) == rows_v1
    assert v2.catch_up() == 0  # rebuilt once, not on every catch-up


# ---------------------------------------------------------------------------------------------------- interrupted
@pytest.fixture
def short_lease(monkeypatch) -> float:
    """A rebuild whose owner stopped is taken over once its lease lapses (a minute in production): one second here.

    Set without `raising`, so the tests also hold for a runner that has no leases and resumes at once.
    """
    monkeypatch.setattr(projection_store, "LEASE_SECONDS", 1, raising=False)
    return 1.0


def interrupted_rebuild(ledger, ledger_factory, cases: int, seed: int) -> dict[str, Any]:
    """A built projection, then a rebuild that dies part-way (on its third page); what stood before it."""
    simulate(ledger, cases=cases, seed=seed)
    runner = runner_for(ledger)
    runner.catch_up()
    assert log_head(ledger) > 4 * PAGE_SIZE
    before = {"table": runner.live_tables(NAME)["cases"].name, "rows": live_rows(runner),
              "status": status_of(runner)}
    with pytest.raises(Interrupted):
        runner_for(ledger_factory(), CaseStatusDyingOnPage(page=3)).rebuild()
    before["stopped_at"] = state_row(ledger).rebuild_position
    return before


def test_an_interrupted_rebuild_leaves_the_live_copy_answering_and_a_re_run_resumes_it_to_the_fold(
        ledger, ledger_factory, today, short_lease):
    before = interrupted_rebuild(ledger, ledger_factory, cases=400, seed=8)

    reader = runner_for(ledger_factory())
    assert reader.live_tables(NAME)["cases"].name == before["table"]
    assert live_rows(reader) == before["rows"]
    assert len(case_status.query(reader, today=today)) == len(before["rows"])  # `complaints list` still answers
    status = status_of(reader)
    assert status["rebuild_in_progress"]
    assert (status["live_copy"], status["position"], status["lag"]) == (before["status"]["live_copy"],
                                                                       before["status"]["position"], 0)
    # The two pages before the one that died were committed; the dying page left nothing.
    assert before["stopped_at"] == nth_position(ledger, 2 * PAGE_SIZE)

    # The live copy keeps following the log while the rebuild waits to be resumed.
    ref = ledger.receive(complainant="Ada Tenant", channel="phone", summary="Lift broken", actor=ACTOR,
                         received_on=date(2026, 11, 20))
    assert reader.catch_up() > 0
    assert ref in live_rows(reader) and status_of(reader)["rebuild_in_progress"]

    resumed = runner_for(ledger_factory(), CaseStatus())  # the other read models would start from the beginning
    applied = resumed.rebuild()

    assert applied == log_head(ledger) - before["stopped_at"]  # resumed where it stopped, not from the start
    status = status_of(resumed)
    assert not status["rebuild_in_progress"] and status["lag"] == 0
    assert status["live_copy"] != before["status"]["live_copy"]
    assert_same_rows(live_rows(resumed), expected_rows(ledger))


def test_a_rebuild_that_failed_with_an_error_can_be_resumed_at_once_without_waiting_for_its_lease(
        ledger, ledger_factory, monkeypatch):
    """The runner knows its rebuild failed, so it lets go of it: a re-run resumes straight away instead of sitting
    silent until the lease a killed process would leave behind has lapsed."""
    monkeypatch.setattr(projection_store, "LEASE_SECONDS", 3, raising=False)
    before = interrupted_rebuild(ledger, ledger_factory, cases=360, seed=12)

    started = time.monotonic()
    applied = runner_for(ledger_factory(), CaseStatus()).rebuild()
    took = time.monotonic() - started

    assert applied == log_head(ledger) - before["stopped_at"]
    assert took < 1.5, f"the re-run waited {took:.1f}s before resuming"


# ---------------------------------------------------------------------------------------------------- PostgreSQL
@pytest.mark.postgres
def test_on_postgres_catch_up_racing_concurrent_receipts_never_loses_an_event(pg_url, today):
    from complaints_ledger.adapters.persistence import open_ledger

    ledgers = [open_ledger(pg_url, today=lambda: today) for _ in range(3)]
    try:
        main, writers = ledgers[0], ledgers[1:]
        simulate(main, cases=100, seed=2)
        runner = runner_for(main)
        runner.catch_up()
        received: list[str] = []
        failures: list[BaseException] = []
        writing, overlapped = threading.Event(), threading.Event()

        def keep_receiving(ledger, n: int) -> None:
            """At least n receipts, and on (up to ten times as many) until catch-up has applied some twice while
            they were being written: on a loaded machine one catch-up round can outlast n receipts."""
            writing.set()
            try:
                for i in range(10 * n):
                    if i >= n and overlapped.is_set():
                        break
                    received.append(ledger.receive(complainant=f"Resident {i}", channel="web", actor="writer",
                                                   summary="Concurrent receipt", received_on=date(2026, 11, 20),
                                                   category="repairs"))
            except BaseException as e:  # noqa: BLE001
                failures.append(e)

        threads = [threading.Thread(target=keep_receiving, args=(w, 40)) for w in writers]
        for t in threads:
            t.start()
        writing.wait(timeout=10)
        rounds_with_events = 0
        while any(t.is_alive() for t in threads):
            rounds_with_events += bool(runner.catch_up())
            if rounds_with_events >= 2:
                overlapped.set()
        for t in threads:
            t.join()
        runner.catch_up()

        assert not failures, failures
        assert len(received) == len(set(received)) >= 80
        assert rounds_with_events >= 2, "catch-up never overlapped the receipts"
        rows = live_rows(runner)
        assert set(received) <= set(rows)
        assert_same_rows(rows, expected_rows(main))
        status = status_of(runner)
        assert status["position"] == status["head"] == log_head(main) and status["lag"] == 0
    finally:
        for ledger in ledgers:
            ledger.close()
