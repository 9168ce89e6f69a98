"""Followers outlive the database: `events --follow`, `projections follow` and `events deliver`, run as real
processes, wait out a PostgreSQL server stopped (or killed) and started again, and sessions terminated with
`pg_terminate_backend`, while a writer appends before, during (retrying until the server is back) and after the
outage. Every position of the log is accounted for afterwards, each follower says once that the connection was lost
and once that it is back, and each is still running until SIGTERM, which ends it cleanly. `--give-up-after` bounds
the wait. Reconnects are capped at 1 s here (COMPLAINTS_RECONNECT_MAX_SECONDS) to keep the tests quick.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.adapters.projection_store import STATE_TABLE

from .._webhook_receiver import SECRET, Receiver
from ..conftest import complaints_command

LOST = "connection to the ledger lost: "
BACK = "connection to the ledger is back; resuming after position "




def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COMPLAINTS_DB", "COMPLAINTS_ACTOR", "PGAPPNAME")}
    return {**env, "PYTHONIOENCODING": "utf-8", "COMPLAINTS_RECONNECT_MAX_SECONDS": "1", "HOOK_SECRET": SECRET,
            **extra}


class Process:
    """A real `complaints` process whose stdout and stderr lines are collected as they come, with the time."""

    def __init__(self, url: str, *args: str, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen([*complaints_command(), "--db", url, *args], env=env or environment(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[tuple[float, str]] = []
        self.err: list[tuple[float, str]] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, into), daemon=True)
                         for stream, into in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, into) -> None:
        for line in stream:
            into.append((time.monotonic(), line.rstrip("\n")))

    def positions(self) -> list[int]:
        return [json.loads(line)["position"] for _, line in self.out]

    def errors(self) -> list[str]:
        return [line for _, line in self.err]

    def said(self, start: str) -> list[tuple[float, str]]:
        return [(t, line) for t, line in self.err if line.startswith(start)]

    def running(self) -> bool:
        return self.proc.poll() is None

    def terminate(self) -> int:
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        return code


def wait_until(condition, seconds: float, what: str, state=lambda: "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what} {state()}"
        time.sleep(0.1)


class Writer:
    """Appends a complaint every `every` seconds from a thread of the test process (another user of the ledger),
    retrying each one until the database takes it: during an outage it keeps knocking."""

    def __init__(self, url: str, every: float = 0.2):
        self.url, self.every = url, every
        self.ledger = open_ledger(url)
        self.refs: list[str] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def append(self) -> str:
        while True:
            try:
                ref = self.ledger.receive(complainant=f"Resident {len(self.refs)}", channel="phone",
                                          summary="Damp in the bedroom", actor="tester")
                self.refs.append(ref)
                return ref
            except Exception:  # noqa: BLE001 - the server is down: knock again
                self.failures += 1
                time.sleep(0.1)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.append()
            self._stop.wait(self.every)

    def start(self) -> "Writer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive()

    def positions(self) -> list[int]:
        """Every position in the log, read afresh."""
        with open_ledger(self.url).subscribe(follow=False) as stream:
            return [e.position for e in stream]


def projection_positions(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            table = sa.Table(STATE_TABLE, sa.MetaData(), autoload_with=conn)
            return {r.name: r.position for r in conn.execute(sa.select(table.c.name, table.c.position))}
    except sa.exc.NoSuchTableError:
        return {}
    finally:
        engine.dispose()


def exactly_one_outage(process: Process, label: str) -> tuple[float, float]:
    """The times of its one 'lost' and one 'back' line, checked."""
    lost, back = process.said(LOST), process.said(BACK)
    assert len(lost) == 1 and len(back) == 1, f"{label} said: {process.errors()}"
    assert lost[0][0] < back[0][0] and lost[0][1].endswith("; retrying"), lost
    assert back[0][1].removeprefix(BACK).isdigit(), back
    return lost[0][0], back[0][0]


@pytest.mark.parametrize("outage", ["stopped", "killed"])
def test_followers_wait_out_a_server_stopped_and_started_and_miss_nothing(private_pg, outage):
    url = private_pg.url
    if outage == "killed":  # the fixture's server acknowledges commits before writing them: a crash would lose some
        private_pg.psql("ALTER SYSTEM SET synchronous_commit = on")
        private_pg.psql("SELECT pg_reload_conf()")
    writer = Writer(url)
    for _ in range(5):
        writer.append()
    with Receiver() as receiver:
        follower = Process(url, "events", "--follow", "--poll", "0.2", "--format", "json")
        projections = Process(url, "projections", "follow", "--poll", "0.2")
        deliverer = Process(url, "events", "deliver", "--url", receiver.url, "--secret-env", "HOOK_SECRET",
                            "--poll", "0.2", "--backoff", "0.01", "--timeout", "5")
        try:
            before = writer.positions()
            wait_until(lambda: follower.positions() == before and set(receiver.positions()) == set(before)
                       and set(projection_positions(url).values()) == {before[-1]}, 30, "the followers to catch up")
            writer.start()
            time.sleep(0.5)
            private_pg.stop() if outage == "stopped" else private_pg.kill()
            time.sleep(2.0)  # down: the writer and the followers knock
            private_pg.start()
            up = time.monotonic()
            wait_until(lambda: writer.failures > 0 and len(writer.refs) > len(before) + 10, 30,
                       "the writer to append across the outage")
            writer.stop()
            everything = writer.positions()
            wait_until(lambda: follower.positions()[-1:] == everything[-1:]
                       and set(receiver.positions()) >= set(everything)
                       and set(projection_positions(url).values()) == {everything[-1]}, 30,
                       "the followers to reach the head after the outage",
                       lambda: (everything[-1], follower.positions()[-1:], sorted(receiver.positions())[-1:],
                                projection_positions(url), follower.errors(), projections.errors(),
                                deliverer.errors()[-5:], [p.running() for p in (follower, projections, deliverer)]))
            alive = {p: p.running() for p in (follower, projections, deliverer)}
        finally:
            codes = {name: p.terminate() for name, p in
                     (("events", follower), ("projections", projections), ("deliver", deliverer))}

    assert all(alive.values()), "a follower ended by itself"
    assert codes == {"events": 0, "projections": 0, "deliver": 0}, [p.errors() for p in (follower, deliverer)]
    # Nothing missed; within one process, nothing repeated either (only a restart from a cursor repeats).
    assert follower.positions() == everything
    assert sorted(receiver.positions()) == everything
    assert len(everything) >= len(before) + 10 and writer.failures > 0
    for label, process in (("events", follower), ("projections", projections), ("deliver", deliverer)):
        lost_at, back_at = exactly_one_outage(process, label)
        assert back_at >= up - 0.5, f"{label} said it was back before the server was"
        print(f"{label} resumed {back_at - up:.2f}s after the server was back")  # measured, for the notes
    assert [line for line in follower.errors() if not line.startswith((LOST, BACK))] == []
    assert deliverer.errors()[-1].startswith(f"{len(everything)} delivered, 0 parked; cursor")


def test_terminated_sessions_on_the_shared_server_are_reconnected_and_nothing_is_missed(pg_url):
    writer = Writer(pg_url)
    writer.append()
    app = f"follower-{uuid.uuid4().hex[:10]}"  # only these sessions are terminated, never another test's
    with Receiver() as receiver:
        follower = Process(pg_url, "events", "--follow", "--poll", "0.2", env=environment(PGAPPNAME=app))
        deliverer = Process(pg_url, "events", "deliver", "--url", receiver.url, "--secret-env", "HOOK_SECRET",
                            "--poll", "0.2", "--backoff", "0.01", env=environment(PGAPPNAME=app))
        admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        try:
            first = writer.positions()
            wait_until(lambda: follower.positions() == first and receiver.positions() == first, 30, "catching up")
            time.sleep(0.5)  # both idle, LISTENing
            with admin.connect() as conn:
                killed = conn.execute(sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = :app AND pid <> pg_backend_pid()"),
                    {"app": app}).scalar()
            for _ in range(5):
                writer.append()
            everything = writer.positions()
            wait_until(lambda: follower.positions() == everything and receiver.positions() == everything, 20,
                       "the followers to resume after their sessions were terminated")
            alive = follower.running() and deliverer.running()
        finally:
            admin.dispose()
            codes = (follower.terminate(), deliverer.terminate())

    assert killed >= 4, "the followers' sessions (a LISTEN and a query connection each) were not found"
    assert alive and codes == (0, 0), (follower.errors(), deliverer.errors())
    exactly_one_outage(follower, "events")
    exactly_one_outage(deliverer, "deliver")
    assert len(receiver.requests) == len(everything), "an event was posted twice"


def test_give_up_after_ends_each_follower_once_the_server_has_been_down_that_long(private_pg):
    url = private_pg.url
    writer = Writer(url)
    writer.append()
    head = writer.positions()[-1]
    followers = {
        "events": Process(url, "events", "--follow", "--poll", "0.2", "--give-up-after", "3s"),
        "projections": Process(url, "projections", "follow", "--poll", "0.2", "--give-up-after", "3"),
        "deliver": Process(url, "events", "deliver", "--url", "http://127.0.0.1:9/", "--secret-env", "HOOK_SECRET",
                           "--poll", "0.2", "--give-up-after", "3s", "--max-attempts", "1"),
    }
    try:
        wait_until(lambda: followers["events"].out and set(projection_positions(url).values()) == {head}
                   and followers["deliver"].said("parked"), 30, "the followers to catch up")
        time.sleep(0.5)
        private_pg.stop()
        stopped = time.monotonic()
        wait_until(lambda: not any(p.running() for p in followers.values()), 15, "the followers to give up")
        ended = {name: next(t for t, _ in reversed(p.err)) - stopped for name, p in followers.items()}
    finally:
        codes = {name: p.terminate() for name, p in followers.items()}

    assert codes == {"events": 1, "projections": 1, "deliver": 1}
    for name, process in followers.items():
        last = process.errors()[-1]
        assert last.startswith("Error: the ledger was unreachable for 3.") and "so this follower gave up" in last, \
            (name, process.errors())
        assert len(process.said(LOST)) == 1 and process.said(BACK) == [], process.errors()
        assert 2.5 <= ended[name] <= 8, f"{name} gave up {ended[name]:.1f}s after the server stopped"


def test_a_bad_give_up_after_is_one_line_and_nothing_runs(tmp_path):
    from click.testing import CliRunner

    from complaints_ledger.cli import cli

    for bad in ("1h30m", "0s", "1.5h", "8d", "soon"):
        result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'none.db'}", "events", "--follow",
                                          "--give-up-after", bad], env={"COMPLAINTS_DB": None})
        assert result.exit_code != 0 and result.stdout == "", bad
        assert result.stderr.splitlines() == [
            f"Error: Invalid value for '--give-up-after': {bad!r} is not a duration: give a whole number of "
            "seconds, minutes, hours or days such as 30s, 5m, 1h or 2d (at most 7 days)"]
    assert not (tmp_path / "none.db").exists()


def test_the_python_api_subscription_waits_out_a_restart_and_logs_it_once_each_way(private_pg, caplog):
    import logging

    url = private_pg.url
    writer = Writer(url)
    writer.append()
    got: list[int] = []
    stream = open_ledger(url).subscribe(poll=0.2)
    stream.reconnect.max_delay = 1.0
    reader = threading.Thread(target=lambda: got.extend(e.position for e in stream), daemon=True)
    with caplog.at_level(logging.WARNING, logger="complaints_ledger.stream"):
        reader.start()
        try:
            first = writer.positions()
            wait_until(lambda: got == first, 20, "the subscription to catch up")
            private_pg.stop()
            time.sleep(1.0)
            private_pg.start()
            for _ in range(3):
                writer.append()
            everything = writer.positions()
            wait_until(lambda: got == everything, 20, "the subscription to resume", lambda: (got, everything))
        finally:
            stream.stop()
            reader.join(timeout=10)

    assert not reader.is_alive()
    messages = [r.getMessage() for r in caplog.records if r.name == "complaints_ledger.stream"]
    assert len(messages) == 2 and messages[0].startswith(LOST) and messages[1].startswith(BACK), messages


def test_an_sqlite_ledger_locked_by_another_writer_is_waited_out_too(sqlite_url, tmp_path):
    import sqlite3

    from complaints_ledger.adapters.cursors import cursor_store
    from complaints_ledger.adapters.persistence import sqlite_path

    url = f"{sqlite_url}?timeout=0.3"  # give up on the lock quickly, so that the follower meets it
    writer = Writer(sqlite_url)
    writer.append()
    follower = Process(url, "events", "--follow", "--cursor", "crm", "--poll", "0.2")
    try:
        wait_until(lambda: follower.positions() == writer.positions(), 30, "the follower to catch up")
        time.sleep(1.2)  # idle, its cursor saved
        writer.append()
        locker = sqlite3.connect(sqlite_path(sqlite_url), isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # an insider's long write: the follower cannot save its cursor
        wait_until(lambda: follower.said(LOST), 10, "the follower to meet the lock", follower.errors)
        time.sleep(1.0)
        locker.execute("ROLLBACK")
        locker.close()
        wait_until(lambda: follower.said(BACK), 10, "the follower to carry on", follower.errors)
        writer.append()
        everything = writer.positions()
        wait_until(lambda: follower.positions() == everything, 10, "the next append")
        alive = follower.running()
    finally:
        code = follower.terminate()

    assert alive and code == 0, follower.errors()
    assert [line for _, line in follower.said(LOST)] == [f"{LOST}database is locked; retrying"]
    assert len(follower.said(BACK)) == 1 and len(follower.errors()) == 2
    assert cursor_store(open_ledger(sqlite_url)).position("crm") == everything[-1]  # saved once it could be
