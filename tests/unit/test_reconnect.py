"""How a follower waits out a lost connection (domain/stream.Reconnect), which errors count as one
(adapters/outages.connection_lost), and a subscription that loses its connection mid-page: nothing skipped,
nothing repeated."""

from __future__ import annotations

import random
import re
import sqlite3

import pytest
import sqlalchemy.exc
from eventsourcing.persistence import OperationalError as PersistenceOperationalError

from complaints_ledger.adapters.outages import connection_lost
from complaints_ledger.domain.errors import LedgerUnavailable
from complaints_ledger.domain.stream import Reconnect, StopWaiting


class Down(Exception):
    pass


def lost(error: BaseException) -> str | None:
    return "server closed the connection" if isinstance(error, Down) else None


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def flaky(failures: int, clock: Clock | None = None, step: float = 1.0):
    """Work that fails `failures` times (advancing the clock), then answers 'done'."""
    calls = {"n": 0}

    def work():
        calls["n"] += 1
        if calls["n"] <= failures:
            if clock is not None:
                clock.now += step
            raise Down()
        return "done"

    return work, calls


def test_an_outage_is_one_lost_line_and_one_back_line_then_the_work_is_done(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    lines: list[str] = []
    reconnect = Reconnect(lost=lost, report=lines.append, position=lambda: 42, first_delay=0.001, max_delay=0.002)
    work, calls = flaky(6)

    assert reconnect.run(work) == "done" and calls["n"] == 7
    assert reconnect.run(work) == "done"  # a later success says nothing
    assert lines == ["connection to the ledger lost: server closed the connection; retrying",
                     "connection to the ledger is back; resuming after position 42"]


def test_other_errors_are_not_waited_out():
    reconnect = Reconnect(lost=lost)

    def broken():
        raise ValueError("no such table")

    with pytest.raises(ValueError):
        reconnect.run(broken)


def test_the_delay_doubles_from_the_first_to_the_cap_with_jitter_between_half_and_all():
    reconnect = Reconnect(lost=lost, first_delay=0.2, max_delay=5.0, rng=random.Random(7))
    for failures, base in ((1, 0.2), (2, 0.4), (3, 0.8), (4, 1.6), (5, 3.2), (6, 5.0), (60, 5.0), (10_000, 5.0)):
        delays = [reconnect.delay(failures) for _ in range(200)]
        assert base / 2 <= min(delays) and max(delays) <= base
        assert max(delays) - min(delays) > base / 4  # jittered, not in step


def test_give_up_after_ends_the_wait_with_how_long_the_ledger_was_unreachable(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("time.sleep", lambda s: setattr(clock, "now", clock.now + s))
    lines: list[str] = []
    reconnect = Reconnect(lost=lost, report=lines.append, give_up_after=30, clock=clock, first_delay=0.001)
    work, calls = flaky(1_000, clock, step=4.0)

    with pytest.raises(LedgerUnavailable) as raised:
        reconnect.run(work)

    assert re.fullmatch(r"the ledger was unreachable for 3[0-4]s, so this follower gave up \(the last error: "
                        r"server closed the connection\)", str(raised.value)), raised.value
    assert 7 <= calls["n"] <= 9 and lines == ["connection to the ledger lost: server closed the connection; retrying"]


def test_a_stop_during_an_outage_ends_the_wait_at_once():
    reconnect = Reconnect(lost=lost, first_delay=60, max_delay=60)
    work, _ = flaky(1_000)
    with pytest.raises(StopWaiting):
        reconnect.run(work, stopped=lambda: True)


def test_never_retries_nothing():
    work, calls = flaky(1)
    with pytest.raises(Down):
        Reconnect.never().run(work)
    assert calls["n"] == 1


def wrapped(driver_error: BaseException, invalidated: bool = False) -> BaseException:
    """As the layers above hand a driver's error on: SQLAlchemy's, then eventsourcing's, each `from` the last."""
    try:
        try:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, driver_error,
                                                  connection_invalidated=invalidated) from driver_error
        except sqlalchemy.exc.OperationalError as e:
            raise PersistenceOperationalError(str(e)) from e
    except PersistenceOperationalError as e:
        return e


def test_lost_connections_and_a_locked_sqlite_database_are_outages_and_nothing_else_is():
    import psycopg2

    assert connection_lost(wrapped(psycopg2.OperationalError("server closed the connection unexpectedly\n\t"
                                                             "This probably means…"))) \
        == "server closed the connection unexpectedly"
    assert connection_lost(wrapped(psycopg2.InterfaceError("connection already closed"))) \
        == "connection already closed"
    assert connection_lost(wrapped(Exception("terminating connection"), invalidated=True)) == "terminating connection"
    assert connection_lost(wrapped(sqlite3.OperationalError("database is locked"))) == "database is locked"
    assert connection_lost(wrapped(sqlite3.OperationalError("no such table: complaintsledger_events"))) is None
    assert connection_lost(wrapped(psycopg2.ProgrammingError("permission denied for table x"))) is None
    assert connection_lost(ValueError("bad data")) is None


def test_a_subscription_that_loses_its_connection_mid_page_reads_it_again_whole(sqlite_url, monkeypatch):
    from complaints_ledger.adapters.persistence import open_ledger

    monkeypatch.setattr("time.sleep", lambda s: None)
    ledger = open_ledger(sqlite_url)
    for n in range(3):
        ledger.receive(complainant=f"Resident {n}", channel="phone", summary="Damp", actor="tester")
    everything = [e.position for e in ledger.subscribe(follow=False)]
    lines: list[str] = []
    stream = ledger.subscribe(follow=False, reconnect=Reconnect(lost=lost, report=lines.append, first_delay=0.001))
    real, calls = stream._ref_of, {"n": 0}

    def ref_of(originator_id):  # the second case's reference lookup finds the connection gone, once
        calls["n"] += 1
        if calls["n"] == 2:
            raise Down()
        return real(originator_id)

    stream._ref_of = ref_of
    stream._keys.clear()
    monkeypatch.setattr(stream, "_key_of", lambda originator_id, known=None: stream.__class__._key_of(
        stream, originator_id, None))

    got = [e.position for e in stream]

    assert got == everything and len(everything) == 3
    assert lines == ["connection to the ledger lost: server closed the connection; retrying",
                     "connection to the ledger is back; resuming after position 0"]


def test_give_up_after_reads_a_whole_number_with_an_optional_unit():
    from complaints_ledger.domain.errors import InvalidAction
    from complaints_ledger.domain.values import duration

    assert [duration(v) for v in ("30s", "5m", "1h", "2d", "90", " 10 S ", "7d")] == \
        [30, 300, 3_600, 172_800, 90, 10, 604_800]
    for bad in ("0", "1h30m", "1.5h", "8d", "604801", "-5", "", "soon", "1e3", None, 30):
        with pytest.raises(InvalidAction):
            duration(bad)
