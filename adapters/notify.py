"""Waking readers of the log when events are committed: on PostgreSQL a statement-level trigger NOTIFYs and a
dedicated connection LISTENs. Anything going wrong with that only degrades to polling, never stalls a reader; the
LISTEN is made again (0.2 s after a failure, doubling to 5 s) and the reader told to look at the log each time, as
a notification sent while nobody listened is lost.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

NOTIFY_CHANNEL = "complaints_events"
RELISTEN_FIRST, RELISTEN_MAX = 0.2, 5.0  # after the LISTEN connection fails: poll, and listen again after this long


class Listener:
    """LISTEN for commits to the events table on a dedicated connection. Any failure only degrades to polling:
    the connection is dropped and re-made on a later wait. A wait that loses the connection, or that makes it
    (again), returns True: commits since the last look may have notified nobody, so the reader looks now (and
    finds out at once if the database itself has gone)."""

    def __init__(self, engine: sa.Engine, events_table: str):
        self.engine = engine
        self.events_table = events_table
        self.connection: Any = None
        self.retry_at = 0.0
        self.failures = 0

    def _connect(self) -> None:
        install_notify_trigger(self.engine, self.events_table)
        raw = self.engine.raw_connection()
        try:
            driver = raw.driver_connection
            driver.autocommit = True
            with driver.cursor() as cursor:
                cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except BaseException:
            raw.invalidate()
            raise
        self.connection = raw

    def backend_pid(self) -> int | None:
        return self.connection.driver_connection.info.backend_pid if self.connection is not None else None

    def wait(self, timeout: float) -> bool:
        """Block until a notification or `timeout`; True if woken by a notification."""
        import select

        if self.connection is None and time.monotonic() < self.retry_at:
            time.sleep(timeout)  # LISTEN is down: poll, and try again later rather than on every wait
            return False
        try:
            if self.connection is None:
                self._connect()
                self.failures = 0
                return True
            driver = self.connection.driver_connection
            if driver.notifies:
                driver.notifies.clear()
                return True
            if select.select([driver], [], [], timeout) == ([], [], []):
                return False
            driver.poll()  # raises if the connection was dropped
            woken = bool(driver.notifies)
            driver.notifies.clear()
            return woken
        except Exception:  # noqa: BLE001 - a dead LISTEN connection must never stall the follower
            self.close()
            self.failures += 1
            self.retry_at = time.monotonic() + min(RELISTEN_MAX, RELISTEN_FIRST * 2 ** min(self.failures - 1, 30))
            return True

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.invalidate()
            except Exception:  # noqa: BLE001
                pass
            self.connection = None


def install_notify_trigger(engine: sa.Engine, events: str) -> None:
    """A statement-level trigger on the events table that NOTIFYs followers, whichever process appended. The
    notification is delivered at commit, so a follower woken by it always finds the new events."""
    trigger = f"{events}_notify_followers"
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": trigger})
        exists = conn.execute(sa.text(
            "SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = :t AND c.oid = to_regclass(:r)"), {"t": trigger, "r": events}).first()
        if exists:
            return
        conn.execute(sa.text(
            "CREATE OR REPLACE FUNCTION complaints_notify_followers() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_notify('{NOTIFY_CHANNEL}', TG_TABLE_NAME); RETURN NULL; END $$"))
        conn.execute(sa.text(f"CREATE TRIGGER {trigger} AFTER INSERT ON {events} "
                             "FOR EACH STATEMENT EXECUTE FUNCTION complaints_notify_followers()"))
