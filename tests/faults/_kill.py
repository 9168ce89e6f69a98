"""Shared by the kill -9 tests: a real `complaints` process killed at a random moment, seeded and printed for replay.

`FAULT_SEED=N python -m pytest tests/faults -k kill` replays a run's kill points (each test prints its seed; pytest
shows it when the test fails).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from typing import Callable

import sqlalchemy as sa

from complaints_ledger.adapters.persistence import normalise_url
from tests.conftest import complaints_command
from tests.e2e._cli import ACTOR, CLEAN_ENV, login_url


def seeded(name: str) -> random.Random:
    seed = int(os.environ.get("FAULT_SEED") or random.randrange(1_000_000))
    print(f"{name}: FAULT_SEED={seed}")
    return random.Random(seed)


def command_url(url: str) -> str:
    """The URL a real process uses: on PostgreSQL logged in as the test's actor, as the in-process Cli does."""
    return login_url(url, ACTOR) if url.startswith("postgresql") and "://postgres@" in url else url


def complaints(url: str, *args: str) -> list[str]:
    head = complaints_command()
    on_pg = url.startswith("postgresql")
    return [*head, "--db", command_url(url), *([] if on_pg else ["--actor", ACTOR]), *args]


def env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in CLEAN_ENV}, "PYTHONIOENCODING": "utf-8"}


def killed(argv: list[str], *, ready: Callable[[], bool], delay: float, timeout: float = 120) -> tuple[bool, str]:
    """Run argv; once `ready()` holds (polled), wait `delay` seconds more and SIGKILL it. Returns whether the kill
    landed (False: the process had already finished) and its stderr."""
    process = subprocess.Popen(argv, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while not ready() and process.poll() is None:
            assert time.monotonic() < deadline, "the command never got under way"
            time.sleep(0.01)
        time.sleep(delay)
        landed = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        return landed, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


class Peek:
    """Raw reads of the ledger's tables while a command runs (never through the ledger being tested)."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(normalise_url(url))

    def scalar(self, sql: str) -> int:
        try:
            with self.engine.connect() as conn:
                return conn.execute(sa.text(sql)).scalar() or 0
        except sa.exc.DBAPIError:  # the tables are not made yet, or SQLite is busy
            return 0

    def cases(self) -> int:
        return self.scalar("SELECT count(*) FROM complaintsledger_events WHERE originator_version = 1 "
                           "AND topic LIKE '%Complaint.Received'")

    def events(self) -> int:
        return self.scalar("SELECT count(*) FROM complaintsledger_events")

    def close(self) -> None:
        self.engine.dispose()
