"""Live mode on PostgreSQL: LISTEN/NOTIFY wakes the follower at once; a lost notification or a killed LISTEN
connection only falls back to polling, never stalls it."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters import notify
from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.adapters.projection_store import ProjectionRunner
from complaints_ledger.projections import all_projections, case_status


def receive(ledger, n: int) -> list[str]:
    return [ledger.receive(complainant=f"Resident {i}", channel="phone", summary="Leaking roof", actor="officer")
            for i in range(n)]


def projected_refs(runner: ProjectionRunner) -> set[str]:
    table = runner.live_tables(case_status.NAME)["cases"]
    with runner.engine.connect() as conn:
        return set(conn.execute(sa.select(table.c.ref)).scalars())


def wait_until(predicate, seconds: float) -> float | None:
    """Seconds it took for `predicate` to hold, or None if it did not within `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


@pytest.fixture
def follower(pg_url, today):
    """A runner following the log in a thread, and a ledger to write with; stopped cleanly afterwards."""
    writer = open_ledger(pg_url, today=lambda: today)
    runner = ProjectionRunner(open_ledger(pg_url, today=lambda: today), all_projections())
    runner.catch_up()
    stop = threading.Event()
    listeners: list = []
    make_waiter = runner.ledger.waiter_factory

    def recording_waiter():  # lets the test find the LISTEN connection to kill it
        waiter = make_waiter()
        listeners.append(waiter)
        return waiter

    runner.ledger.waiter_factory = recording_waiter
    poll = {"seconds": 30.0}
    thread = threading.Thread(target=lambda: runner.follow(poll_seconds=poll["seconds"], stop=stop.is_set))
    yield {"writer": writer, "runner": runner, "thread": thread, "stop": stop, "listeners": listeners, "poll": poll}
    stop.set()
    thread.join(timeout=40)
    assert not thread.is_alive(), "follow did not stop when told to"


def started(f) -> None:
    f["thread"].start()
    assert wait_until(lambda: f["listeners"] and f["listeners"][0].backend_pid(), 10) is not None, \
        "the follower never opened its LISTEN connection"


def test_a_commit_wakes_the_follower_long_before_its_poll_interval(follower):
    started(follower)  # polls only every 30 s: anything quicker is the notification
    refs = receive(follower["writer"], 3)

    took = wait_until(lambda: set(refs) <= projected_refs(follower["runner"]), 10)

    assert took is not None and took < 5, f"new complaints reached the read model after {took}s"


def test_a_killed_listen_connection_falls_back_to_polling_and_loses_nothing(follower, pg_url):
    follower["poll"]["seconds"] = 1.0
    started(follower)
    pid = follower["listeners"][0].backend_pid()
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    admin.dispose()
    refs = receive(follower["writer"], 4)  # its notification goes to a dead connection

    took = wait_until(lambda: set(refs) <= projected_refs(follower["runner"]), 15)

    assert took is not None, "the follower stalled after its LISTEN connection was killed"
    # ...and once it has reconnected, notifications wake it again
    more = receive(follower["writer"], 2)
    assert wait_until(lambda: set(more) <= projected_refs(follower["runner"]), 15) is not None


def test_the_notify_trigger_is_installed_once_even_when_followers_start_together(pg_url, today):
    ledger = open_ledger(pg_url, today=lambda: today)
    runner = ProjectionRunner(ledger, all_projections())
    errors: list[BaseException] = []

    def install():
        try:
            notify.install_notify_trigger(runner.engine, runner.events.name)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=install) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors, errors
    with runner.engine.connect() as conn:
        count = conn.execute(sa.text(
            "SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = to_regclass(:r) AND NOT t.tgisinternal "
            "AND t.tgname LIKE '%notify%'"), {"r": runner.events.name}).scalar()
    assert count == 1
