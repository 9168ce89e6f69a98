"""The event stream integrations subscribe to (`ComplaintsLedger.subscribe`), on SQLite and PostgreSQL: every
complaint event in log order exactly once, resumable from any position, live as soon as another writer commits,
never skipping a committed event when the log's ids have gaps or writers run concurrently."""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
import sqlalchemy as sa

from complaints_ledger.adapters import simulation
from complaints_ledger.domain.complaint import ERASED

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "event-stream.schema.json").read_text())


def log_positions(ledger) -> list[int]:
    """Positions of every complaint, feedback and erasure event in the log, read straight from the table."""
    from complaints_ledger.domain.stream import TOPICS

    engine = ledger.recorder.datastore.engine
    table = sa.table(ledger.recorder.events_table_name, sa.column("id"), sa.column("topic"))
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table.c.id).where(table.c.topic.in_(list(TOPICS.values())))
                                 .order_by(table.c.id)).scalars())


def case_with_history(ledger, receive, today) -> str:
    ref = receive(ledger, received_on=date(2026, 10, 1), contact="07700 900123")
    ledger.acknowledge(ref, actor="Jo Officer", on=date(2026, 10, 2))
    ledger.respond(ref, outcome="upheld", actor="Jo Officer", on=date(2026, 10, 9), remedies=["apology"])
    ledger.request_compensation(ref, amount=Decimal("150"), actor="Jo Officer", on=date(2026, 10, 9))
    ledger.approve_compensation(ref, amount=Decimal("120.5"), actor="Jo Officer", on=date(2026, 10, 12))
    ledger.close_case(ref, actor="Jo Officer", on=date(2026, 10, 13))
    return ref


def test_catch_up_streams_every_complaint_event_in_order_with_its_case_and_nothing_internal(ledger, receive, today):
    first = case_with_history(ledger, receive, today)
    second = receive(ledger, received_on=date(2026, 11, 2))
    ledger.record_feedback(kind="compliment", summary="Quick repair", actor="Jo Officer")

    items = list(ledger.subscribe(follow=False))

    assert [i.position for i in items] == log_positions(ledger)
    assert len(items) == 8  # 6 on the first case, 1 on the second, the feedback; no sequences, profiles, subjects
    assert [(i.ref, i.event) for i in items][:6] == [(first, e) for e in (
        "Received", "Acknowledged", "Responded", "CompensationRequested", "CompensationApproved", "Closed")]
    assert (items[6].ref, items[6].event) == (second, "Received")
    assert items[7].event == "FeedbackReceived" and items[7].ref.startswith("FBK-")
    line = json.loads(items[4].as_json())
    assert line["details"] == {"amount": "120.50", "requested": "150.00",  # money exact, never a float
                               "authenticated": False}  # a typed actor, not a database login
    assert line["occurred_on"] == "2026-10-12" and line["version"] == 5 and line["actor"] == "Jo Officer"
    assert json.loads(items[0].as_json())["details"]["contact"] == "07700 900123"


def test_after_resumes_exactly_and_filters_and_limits_apply(ledger, receive, today):
    case_with_history(ledger, receive, today)
    everything = list(ledger.subscribe(follow=False))
    middle = everything[2].position

    resumed = list(ledger.subscribe(after=middle, follow=False))
    closed_only = list(ledger.subscribe(events=["closed", "Received"], follow=False))
    two = list(ledger.subscribe(after=middle, follow=False, limit=2))

    assert [i.position for i in resumed] == [i.position for i in everything[3:]]
    assert [i.event for i in closed_only] == ["Received", "Closed"]
    assert [i.position for i in two] == [i.position for i in everything[3:5]]


def test_streamed_events_match_the_published_schema(ledger, today):
    simulation.build(ledger, cases=40, seed=7, actor="sim", until=today)
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())

    items = list(ledger.subscribe(follow=False))

    assert len({i.event for i in items}) >= 8
    for item in items:
        errors = [e.message for e in validator.iter_errors(json.loads(item.as_json()))]
        assert not errors, (item.event, errors[:3])


def test_erased_personal_data_streams_as_erased_and_the_erasure_itself_is_streamed(ledger, receive, today):
    ref = case_with_history(ledger, receive, today)
    person = ledger.show(ref)["complainant_id"]
    ledger.erase(person, reason="erasure request 2026-41", actor="Jo Officer")

    items = list(ledger.subscribe(follow=False))
    withheld = list(ledger.subscribe(follow=False, personal_data=False))

    received = json.loads(items[0].as_json())["details"]
    assert received["complainant"] == ERASED and received["contact"] == ERASED
    assert json.loads(items[2].as_json())["details"]["remedies"] == [ERASED]
    erasure = items[-1]
    assert (erasure.event, erasure.ref) == ("PersonalDataErased", None)
    assert erasure.details["complainant_id"] == person and erasure.details["refs"] == [ref]
    assert json.loads(withheld[0].as_json())["details"]["complainant"] == "[withheld]"


def test_a_follower_sees_another_writers_commit_within_a_second_and_stops_when_told(ledger_factory, receive):
    writer, reader = ledger_factory(), ledger_factory()
    receive(writer)
    seen: list = []
    subscription = reader.subscribe(after=reader.event_count(), events=["Received"])
    thread = threading.Thread(target=lambda: seen.extend((time.monotonic(), i) for i in subscription))
    thread.start()
    time.sleep(0.3)

    committed = time.monotonic()
    ref = receive(writer)
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.02)
    subscription.stop()
    thread.join(timeout=5)

    assert not thread.is_alive(), "stop() did not end the subscription"
    assert [i.ref for _, i in seen] == [ref]
    assert seen[0][0] - committed < 1.0


def test_gaps_in_positions_are_never_mistaken_for_the_end(pg_url, receive, today):
    """PostgreSQL: a rolled-back insert uses up ids, so the next committed event jumps ahead (SQLite has no gaps:
    its ids are the table's max + 1)."""
    from complaints_ledger.adapters.persistence import open_ledger

    ledger = open_ledger(pg_url, today=lambda: today)
    receive(ledger)
    before = list(ledger.subscribe(follow=False))
    engine = ledger.recorder.datastore.engine
    with engine.begin() as conn:
        seq = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"),
                           {"t": ledger.recorder.events_table_name}).scalar()
        conn.execute(sa.text(f"SELECT nextval('{seq}') FROM generate_series(1, 50)"))
    later = receive(ledger)

    after = list(ledger.subscribe(after=before[-1].position, follow=False))
    ledger.close()

    assert [i.ref for i in after] == [later]
    assert after[0].position > before[-1].position + 50


def test_concurrent_writers_with_a_live_follower_lose_and_repeat_nothing(ledger_factory, receive):
    reader = ledger_factory()
    writers = [ledger_factory() for _ in range(6)]
    subscription = reader.subscribe(after=0, poll=0.1)
    seen: list[int] = []
    follower = threading.Thread(target=lambda: seen.extend(i.position for i in subscription))
    follower.start()
    stop_at = time.monotonic() + 3
    errors: list[BaseException] = []

    def write(ledger) -> None:
        try:
            while time.monotonic() < stop_at:
                ref = receive(ledger)
                ledger.acknowledge(ref, actor="Jo Officer")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = log_positions(reader)
    deadline = time.monotonic() + 10
    while len(seen) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.05)
    subscription.stop()
    follower.join(timeout=5)

    assert not errors, errors[:1]
    assert len(expected) > 30
    assert seen == expected


def test_an_unknown_event_type_is_refused_by_name(ledger):
    from complaints_ledger.domain.errors import InvalidAction

    with pytest.raises(InvalidAction, match="unknown event type 'Recieved'"):
        ledger.subscribe(events=["Recieved"])
