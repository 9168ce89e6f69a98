"""The eventsourcing library's own recorder test cases, run against the recorders exactly as the ledger configures
them (`open_ledger`), on SQLite and on PostgreSQL with the NOTIFY trigger that `projections follow` adds to the
events table. The read models rely on what these check: notification ids never interleave between concurrent
writers, and `select_notifications` returns every committed event in order.

The ledger subclasses the library's recorders (adapters/chained_recorder.py): the application recorder appends
through SQLAlchemy Core in one statement per save, chains each event to its predecessor and strips that link again
when it reads, and reads the log (`select_notifications`, `max_notification_id`) through Core, as both it and the
snapshot recorder read `select_events`. These cases show that none
of that changes a guarantee of the library's; tests/integration/test_core_append.py checks what they do not.
"""

from __future__ import annotations

import tempfile

import pytest
from eventsourcing.tests.persistence import (AggregateRecorderTestCase, ApplicationRecorderTestCase,
                                             NonInterleavingNotificationIDsBaseCase)

from complaints_ledger.adapters.notify import install_notify_trigger
from complaints_ledger.adapters.persistence import open_ledger
from tests.conftest import ScratchSchemas, require_pg


class SQLiteLedgerRecorder:
    store = "events"  # or "snapshots"

    def setUp(self) -> None:
        self._folder = tempfile.TemporaryDirectory()
        self._count = 0

    def tearDown(self) -> None:
        self._folder.cleanup()

    def create_recorder(self):
        self._count += 1
        return getattr(open_ledger(f"sqlite:///{self._folder.name}/ledger{self._count}.db"), self.store).recorder


class PostgresLedgerRecorder:
    """Each recorder in a fresh schema, with the follower's NOTIFY trigger on its events table."""

    store = "events"  # or "snapshots"

    def setUp(self) -> None:
        require_pg()
        self._schemas = ScratchSchemas()

    def tearDown(self) -> None:
        self._schemas.close()

    def create_recorder(self):
        ledger = open_ledger(self._schemas.fresh())
        install_notify_trigger(ledger.recorder.datastore.engine, ledger.recorder.events_record_cls.__table__.name)
        return getattr(ledger, self.store).recorder


SLOW = "the library's throughput benchmark, not a correctness check"


class TestApplicationRecorderOnSQLite(SQLiteLedgerRecorder, ApplicationRecorderTestCase):
    def test_performance(self) -> None:
        pytest.skip(SLOW)

    def test_concurrent_throughput(self) -> None:
        pytest.skip(SLOW)


@pytest.mark.postgres
class TestApplicationRecorderOnPostgres(PostgresLedgerRecorder, ApplicationRecorderTestCase):
    # Rolled-back inserts leave gaps in PostgreSQL sequences; the read models never assume contiguous ids.
    EXPECT_CONTIGUOUS_NOTIFICATION_IDS = False

    def test_performance(self) -> None:
        pytest.skip(SLOW)

    def test_concurrent_throughput(self) -> None:
        pytest.skip(SLOW)


class TestNonInterleavingNotificationIDsOnSQLite(SQLiteLedgerRecorder, NonInterleavingNotificationIDsBaseCase):
    insert_num = 300


@pytest.mark.postgres
class TestNonInterleavingNotificationIDsOnPostgres(PostgresLedgerRecorder, NonInterleavingNotificationIDsBaseCase):
    insert_num = 300


class TestSnapshotRecorderOnSQLite(SQLiteLedgerRecorder, AggregateRecorderTestCase):
    store = "snapshots"

    def test_performance(self) -> None:
        pytest.skip(SLOW)


@pytest.mark.postgres
class TestSnapshotRecorderOnPostgres(PostgresLedgerRecorder, AggregateRecorderTestCase):
    store = "snapshots"

    def test_performance(self) -> None:
        pytest.skip(SLOW)
