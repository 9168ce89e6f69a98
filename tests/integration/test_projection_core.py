"""The projection engine's core promises, on SQLite and PostgreSQL: figures equal a from-scratch fold, a rebuild
equals incremental catch-up, and an interrupted rebuild leaves the live copy answering."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters import simulation
from complaints_ledger.adapters.projection_store import ProjectionRunner
from complaints_ledger.projections import all_projections, case_status

UNTIL = date(2026, 11, 20)


def live_rows(runner: ProjectionRunner) -> dict[str, dict]:
    table = runner.live_tables("case_status")["cases"]
    with runner.engine.connect() as conn:
        return {r.ref: {k: v for k, v in r._mapping.items() if k != "last_position"}
                for r in conn.execute(sa.select(table))}


def folded_rows(ledger, refs) -> dict[str, dict]:
    rows = {}
    for ref in refs:
        case = ledger.get_case(ref)
        row = case_status.row(case, 0, ledger.policy_of(case))
        row.pop("last_position")
        rows[ref] = row
    return rows


@pytest.fixture
def simulated(ledger):
    summary = simulation.build(ledger, cases=400, seed=5, actor="test", until=UNTIL)
    refs = [f"CMP-{y}-{n:06d}" for y in (2025, 2026) for n in range(1, 401)]
    refs = [r for r in refs if _exists(ledger, r)]
    assert len(refs) == summary["cases"]
    return ledger, refs


def _exists(ledger, ref) -> bool:
    from complaints_ledger.domain.complaint import complaint_id

    return complaint_id(ref) in ledger.repository


def test_case_status_equals_a_fold_over_every_complaints_events(simulated):
    ledger, refs = simulated
    runner = ProjectionRunner(ledger, all_projections())

    runner.catch_up()

    assert live_rows(runner) == folded_rows(ledger, refs)
    status = runner.status()[0]
    assert (status["lag"], status["position"]) == (0, ledger.event_count())


def test_a_rebuild_gives_the_same_table_as_incremental_catch_up_and_switches_copy(simulated):
    ledger, refs = simulated
    runner = ProjectionRunner(ledger, all_projections())
    runner.catch_up()
    ref = ledger.receive(complainant="Late Arrival", channel="email", summary="Lift broken", actor="t",
                         received_on=date(2026, 11, 18))
    ledger.acknowledge(ref, actor="t", on=date(2026, 11, 19))
    assert runner.catch_up() == 4  # sequence issue + new data subject + receipt + acknowledgement
    before, copy = live_rows(runner), runner.status()[0]["live_copy"]

    runner.rebuild()

    assert live_rows(runner) == before == folded_rows(ledger, refs + [ref])
    assert runner.status()[0]["live_copy"] != copy
    assert runner.catch_up() == 0


def test_an_interrupted_rebuild_leaves_the_live_copy_answering_and_a_rerun_completes(simulated, monkeypatch):
    ledger, refs = simulated
    runner = ProjectionRunner(ledger, all_projections())
    runner.catch_up()
    before = live_rows(runner)
    projection = runner.projections["case_status"]
    real_writes, pages = projection.writes, []

    def crash_on_third_page(*args, **kwargs):
        pages.append(1)
        if len(pages) == 3:
            raise RuntimeError("power cut")
        return real_writes(*args, **kwargs)

    monkeypatch.setattr(projection, "writes", crash_on_third_page)
    with pytest.raises(RuntimeError):
        runner.rebuild()
    monkeypatch.undo()

    assert live_rows(runner) == before
    assert runner.status()[0]["rebuild_in_progress"] is True
    runner.rebuild()
    assert runner.status()[0]["rebuild_in_progress"] is False
    assert live_rows(runner) == folded_rows(ledger, refs)


def test_a_new_schema_version_is_rebuilt_on_the_next_catch_up(simulated):
    ledger, _ = simulated
    runner = ProjectionRunner(ledger, all_projections())
    runner.catch_up()
    copy = runner.status()[0]["live_copy"]

    class CaseStatusV2(case_status.CaseStatus):
        version = case_status.VERSION + 1

    upgraded = ProjectionRunner(ledger, [CaseStatusV2()])
    upgraded.catch_up()

    status = upgraded.status()[0]
    assert (status["schema_version"], status["live_copy"] != copy, status["lag"]) == (case_status.VERSION + 1,
                                                                                       True, 0)
