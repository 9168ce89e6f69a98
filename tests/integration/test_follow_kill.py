"""`complaints projections follow` killed with SIGKILL part-way through a backlog: every read model is exactly at
some position (no row from beyond it, none missing before it), and a re-run finishes with the same tables a
from-scratch rebuild gives."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import date

import sqlalchemy as sa

from complaints_ledger.adapters import simulation
from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.adapters.projection_store import PAGE_SIZE, STATE_TABLE, ProjectionRunner
from complaints_ledger.projections import all_projections, committee

from ..conftest import complaints_command

UNTIL = date(2026, 11, 20)


def positions(runner: ProjectionRunner) -> dict[str, int]:
    with runner.engine.connect() as conn:
        table = sa.Table(STATE_TABLE, sa.MetaData(), autoload_with=conn)
        return {r.name: r.position for r in conn.execute(sa.select(table.c.name, table.c.position))}


def table_rows(runner: ProjectionRunner) -> dict[str, list[tuple]]:
    out = {}
    with runner.engine.connect() as conn:
        for name in runner.projections:
            for key, table in runner.live_tables(name).items():
                out[f"{name}.{key}"] = sorted(tuple(r) for r in conn.execute(sa.select(table)))
    return out


def counted_events_up_to(runner: ProjectionRunner, position: int) -> int:
    """Independently of the projection: how many events at or before `position` the committee counts."""
    e = runner.events.c
    with runner.engine.connect() as conn:
        topics = conn.execute(sa.select(e.topic).where(e.id <= position)).scalars().all()
    return sum(1 for t in topics if t.rsplit(".", 1)[-1] in committee.KINDS)


def test_follow_killed_mid_backlog_leaves_each_read_model_at_a_position_and_a_re_run_finishes(sqlite_url, today):
    ledger = open_ledger(sqlite_url, today=lambda: today)
    simulation.build(ledger, cases=300, seed=23, actor="simulator", until=UNTIL)
    watcher = ProjectionRunner(open_ledger(sqlite_url, today=lambda: today), all_projections())
    watcher.catch_up()  # built; then a backlog arrives while nobody follows
    start = min(positions(watcher).values())
    simulation.build(ledger, cases=1500, seed=24, actor="simulator", until=UNTIL)
    with watcher.engine.connect() as conn:
        head = watcher.head(conn)
    env = {k: v for k, v in os.environ.items() if k not in ("COMPLAINTS_DB", "COMPLAINTS_ACTOR")}

    follower = subprocess.Popen([*complaints_command(), "--db", sqlite_url, "projections", "follow"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:  # until it has built the read models and committed a few pages past that
            try:
                reached = positions(watcher)
            except sa.exc.NoSuchTableError:
                reached = {}
            if reached and min(reached.values()) >= start + 3 * PAGE_SIZE:
                break
            assert follower.poll() is None, "follow ended by itself"
            assert time.monotonic() < deadline, "follow never got going"
            time.sleep(0.002)
        follower.send_signal(signal.SIGKILL)
        follower.wait(timeout=30)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == -signal.SIGKILL

    state = positions(watcher)
    assert start < state[committee.NAME] < head, "the kill did not land mid-way through the backlog"
    # Each live read model holds exactly the events up to its position: none beyond, none missing.
    facts = watcher.live_tables(committee.NAME)["facts"]
    with watcher.engine.connect() as conn:
        fact_positions = conn.execute(sa.select(facts.c.position)).scalars().all()
        last_case_change = conn.execute(sa.select(sa.func.max(
            watcher.live_tables("case_status")["cases"].c.last_position))).scalar()
    at = state[committee.NAME]
    assert max(fact_positions) <= at
    assert len(fact_positions) == counted_events_up_to(watcher, at)
    assert last_case_change <= state["case_status"]

    # Re-run: a read command catches up; the result equals a from-scratch rebuild.
    subprocess.run([*complaints_command(), "--db", sqlite_url, "list", "--format", "json"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert all(pos == head for pos in positions(watcher).values())
    caught_up = table_rows(watcher)
    ProjectionRunner(open_ledger(sqlite_url, today=lambda: today), all_projections()).rebuild()
    assert table_rows(watcher) == caught_up
