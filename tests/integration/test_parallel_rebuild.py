"""A large rebuild fills its copies with one worker process per partition of the cases. What it builds must be
exactly what the one-process rebuild builds, on SQLite and PostgreSQL; killing it while the workers run must leave
the old copy answering, stop the workers, and let a re-run start again and finish."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters import projection_store, simulation
from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.adapters.projection_store import ProjectionRunner
from complaints_ledger.projections import all_projections

from .test_follow_kill import table_rows
from ..conftest import complaints_command

UNTIL = date(2026, 11, 20)


@pytest.fixture
def parallel(monkeypatch):
    """Rebuilds of any size use two workers; returns the list of (start, upto) each parallel fill covered."""
    monkeypatch.setattr(projection_store, "REBUILD_WORKERS", 2)
    monkeypatch.setattr(projection_store, "PARALLEL_REBUILD_MIN_EVENTS", 1)
    fills: list[tuple[int, int]] = []
    real = ProjectionRunner._fill_in_parallel

    def spy(self, claims, mine, start, upto, workers, progress):
        fills.append((start, upto))
        return real(self, claims, mine, start, upto, workers, progress)

    monkeypatch.setattr(ProjectionRunner, "_fill_in_parallel", spy)
    return fills


def test_a_parallel_rebuild_builds_exactly_what_a_serial_one_builds(ledger, ledger_factory, parallel, monkeypatch):
    simulation.build(ledger, cases=400, seed=41, actor="simulator", until=UNTIL)
    runner = ProjectionRunner(ledger_factory(), all_projections())
    seen: list[tuple[int, int]] = []

    applied = runner.rebuild(progress=lambda position, head: seen.append((position, head)))

    with runner.engine.connect() as conn:
        head = runner.head(conn)
    assert parallel == [(0, head)], "the rebuild did not run in parallel"
    assert applied == ledger.event_count()
    assert seen and seen[-1][0] == head and [p for p, _ in seen] == sorted(p for p, _ in seen)
    assert all(s["position"] == head and not s["rebuild_in_progress"] for s in runner.status())
    in_parallel = table_rows(runner)
    assert sum(len(rows) for rows in in_parallel.values()) > ledger.event_count()  # not trivially empty

    monkeypatch.setattr(projection_store, "REBUILD_WORKERS", 1)
    ProjectionRunner(ledger_factory(), all_projections()).rebuild()
    assert len(parallel) == 1
    assert table_rows(runner) == in_parallel

    # Afterwards the read models follow the log as usual.
    ref = ledger.receive(complainant="Ada Tenant", channel="phone", summary="Lift broken", actor="officer",
                         received_on=UNTIL)
    assert runner.catch_up() > 0
    assert ref in {r[0] for r in table_rows(runner)["case_status.cases"]}


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _rebuild_state(runner: ProjectionRunner) -> dict[str, tuple]:
    with runner.engine.connect() as conn:
        table = sa.Table(projection_store.STATE_TABLE, sa.MetaData(), autoload_with=conn)
        return {r.name: (r.rebuild_position, r.rebuild_suffix) for r in conn.execute(sa.select(table))}


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds worker processes through /proc")
def test_a_parallel_rebuild_killed_while_workers_run_stops_them_and_a_re_run_starts_again(sqlite_url, today):
    ledger = open_ledger(sqlite_url, today=lambda: today)
    simulation.build(ledger, cases=1500, seed=42, actor="simulator", until=UNTIL)
    watcher = ProjectionRunner(open_ledger(sqlite_url, today=lambda: today), all_projections())
    watcher.catch_up()
    before = table_rows(watcher)
    env = {k: v for k, v in os.environ.items() if k not in ("COMPLAINTS_DB", "COMPLAINTS_ACTOR")}
    env.update(COMPLAINTS_REBUILD_WORKERS="2", COMPLAINTS_PARALLEL_REBUILD_MIN_EVENTS="1")

    rebuild = subprocess.Popen([*complaints_command(), "--db", sqlite_url, "projections", "rebuild"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while True:  # until the workers have committed pages into the new copies
            if len(workers) < 2:  # they start one after the other
                workers = _children(rebuild.pid)
            state = _rebuild_state(watcher)
            target = state["committee"][1]
            if len(workers) == 2 and target and all(pos == -1 for pos, _ in state.values()):
                with watcher.engine.connect() as conn:
                    filled = conn.exec_driver_sql(f"SELECT count(*) FROM rm_committee_{target}").scalar()
                if filled:
                    break
            assert rebuild.poll() is None, "the rebuild ended before it was killed"
            assert time.monotonic() < deadline, "the workers never got going"
            time.sleep(0.005)
        rebuild.send_signal(signal.SIGKILL)
        rebuild.wait(timeout=30)
        # Orphaned workers notice their parent is gone and stop.
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, "rebuild workers outlived the killed rebuild"
            time.sleep(0.05)
    finally:
        for pid in [rebuild.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        rebuild.wait()
    assert len(workers) == 2

    assert table_rows(watcher) == before  # the old copies still answer, unchanged
    assert all(s["rebuild_in_progress"] for s in watcher.status())

    rerun = ProjectionRunner(open_ledger(sqlite_url, today=lambda: today), all_projections())
    applied = rerun.rebuild()  # the lapsed claim is taken over; a partly filled copy is not resumed
    assert applied == ledger.event_count()
    assert not any(s["rebuild_in_progress"] for s in watcher.status())
    assert table_rows(watcher) == before
