"""`complaints simulate` with its cases played in a worker process while the ledger saves (adapters/play_ahead.py):
the ledger written is the one a single process writes, and whatever goes wrong in the worker fails the import with
the error, nothing after the last saved batch written."""

from __future__ import annotations

import json
import os
import random
import signal
from datetime import date
from uuid import UUID

import pytest

from complaints_ledger.adapters import audit, play_ahead, simulation
from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.domain.complaint import complaint_id
from complaints_ledger.domain.errors import InvalidAction
from tests.conftest import ScratchSchemas

UNTIL = date(2026, 11, 20)


@pytest.fixture
def other_url(db_url, tmp_path):
    """A second empty database of the same kind."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    schemas = ScratchSchemas()
    yield schemas.fresh()
    schemas.close()


def worker_used(ledger) -> None:
    if play_ahead._cores() < 2:
        pytest.skip("one core: simulate plays its cases in its own process")
    assert play_ahead.in_worker(ledger) is not None


def contents(ledger) -> list[list]:
    """Every event in log order as the ledger reads it (personal data opened), less what is drawn afresh on every
    run (the moment recorded; complainant ids and the ids made from them, numbered as they first appear)."""
    labels: dict[str, str] = {}

    def label(value):
        return labels.setdefault(str(value), f"#{len(labels)}")

    def plain(value):
        if isinstance(value, UUID) or (isinstance(value, str) and value in labels):
            return label(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return repr(value)

    rows, start = [], 1
    while notes := ledger.recorder.select_notifications(start, 1000):
        for note in notes:
            state = dict(vars(ledger.mapper.to_domain_event(note)))
            if state.get("complainant_id"):
                label(state["complainant_id"])
            rows.append([note.id, label(note.originator_id), note.originator_version, note.topic,
                         list(json.loads(note.state)),
                         [(k, plain(v)) for k, v in state.items() if k not in ("timestamp", "originator_id")]])
        start = notes[-1].id + 1
    return rows


def test_a_simulation_played_in_a_worker_writes_the_ledger_one_process_writes(db_url, other_url, receive,
                                                                               monkeypatch):
    """Same seed, same ledger, event for event and in the same order (so the same batches), with references that
    skip numbers already held, as one process writes it; and the same summary (the tallies kept in the worker, and
    the feedback after the cases drawn from where the cases' draws left the generator)."""
    ledgers, summaries = [], []
    for url, ahead in ((db_url, "1"), (other_url, "0")):
        monkeypatch.setenv("COMPLAINTS_PLAY_AHEAD", ahead)
        ledger = open_ledger(url, today=lambda: UNTIL)
        ledgers.append(ledger)
        if ahead == "1":
            worker_used(ledger)
        else:
            assert play_ahead.in_worker(ledger) is None
        for n in (2, 5):  # held: the bulk path skips them
            receive(ledger, ref=f"CMP-2026-{n:06d}", received_on=date(2026, 2, 2))
        summaries.append(simulation.build(ledger, cases=260, seed=11, actor="sim", until=UNTIL))
    try:
        assert summaries[0] == summaries[1]
        assert summaries[0]["cases"] == 260 and summaries[0]["feedback"] == 32
        written = contents(ledgers[0])
        assert len(written) == summaries[0]["events"] > 1500
        assert written == contents(ledgers[1])
        refs = {dict(row[5])["ref"] for row in written if row[3].endswith("Complaint.Received")}
        assert "'CMP-2026-000003'" in refs and "'CMP-2026-000002'" in refs  # 2 received by hand, 3 issued
        for ledger in ledgers:
            assert not audit.verify(ledger.recorder).breaks
    finally:
        for ledger in ledgers:
            ledger.close()


def failing_at(case_number: int, fail):
    """The simulator's cases, the `case_number`th failing as it is built (in the worker)."""
    cases = simulation.complaints(random.Random(3), cases=400, until=UNTIL, actor="sim")
    for n, (received_on, policy, build) in enumerate(cases, start=1):
        if n == case_number:
            def build(ref, build=build):  # noqa: F811 - this case's own build
                fail()
                return build(ref)
        yield received_on, policy, build


def refused():
    raise InvalidAction("the 250th case is refused")


def bug():
    return 1 / 0


def killed():
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("fail, raised, message", [
    pytest.param(refused, InvalidAction, "the 250th case is refused", id="a ledger error, as itself"),
    pytest.param(bug, play_ahead.WorkerFailed,
                 "building the cases failed in the worker process: ZeroDivisionError: division by zero", id="a bug"),
    pytest.param(killed, play_ahead.WorkerFailed,
                 "the worker process building the cases was killed by signal 9 before the last case", id="killed"),
])
def test_a_failure_in_the_worker_fails_the_import_with_one_line_and_leaves_whole_batches(ledger, fail, raised,
                                                                                          message):
    worker_used(ledger)
    with pytest.raises(raised) as failed:
        ledger.import_cases(failing_at(250, fail), ahead=play_ahead.in_worker(ledger))
    assert str(failed.value) == message
    numbers = {complaint_id(ref): ref for ref in (f"CMP-{y}-{n:06d}" for y in (2025, 2026) for n in range(1, 400))}
    saved = [numbers[i] for i in ledger._existing(list(numbers))]
    assert 0 < len(saved) < 250  # whole batches before the failing case; nothing of its own
    assert not audit.verify(ledger.recorder).breaks
    # The ledger carries on: the next import issues the numbers after those saved.
    refs = ledger.import_cases(simulation.complaints(random.Random(4), cases=30, until=UNTIL, actor="sim"),
                               ahead=play_ahead.in_worker(ledger))
    assert len(refs) == 30 and not set(refs) & set(saved)
