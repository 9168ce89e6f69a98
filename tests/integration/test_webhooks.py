"""Webhook delivery (adapters/webhooks.py) against a real HTTP receiver on loopback that fails, times out, drops
connections and recovers, on SQLite and PostgreSQL: every event arrives, signed, in log order; what keeps failing is
parked and the rest still arrive; requeued dead letters are delivered; a stop and a restart lose nothing."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import date

import pytest

from complaints_ledger.adapters.cursors import cursor_store
from complaints_ledger.adapters.webhooks import Deliverer, DeliveryOptions, dead_letter_store

from .._webhook_receiver import SECRET, Receiver, refused_url

FAST = DeliveryOptions(max_attempts=5, timeout=0.3, backoff=0.01, follow=False, poll=0.05)


def some_events(ledger, receive) -> None:
    for day in (2, 3, 4):
        ref = receive(ledger, received_on=date(2026, 11, day))
        ledger.acknowledge(ref, actor="Jo Officer", on=date(2026, 11, day + 1))


def streamed(ledger) -> dict[int, bytes]:
    """What the stream holds now: each event's exact line by position."""
    return {i.position: i.as_json().encode() for i in ledger.subscribe(follow=False)}


def deliverer(ledger, url, options=FAST, **kwargs) -> Deliverer:
    return Deliverer(ledger, url, SECRET.encode(), options=options, **kwargs)


def test_every_event_arrives_signed_and_in_order_through_errors_timeouts_and_dropped_connections(ledger, receive):
    some_events(ledger, receive)
    lines = streamed(ledger)
    status: list[str] = []
    with Receiver(script=[500, "slow", "drop", "redirect", 503], slow_seconds=1.0) as receiver:
        summary = deliverer(ledger, receiver.url, options=replace(FAST, max_attempts=6), report=status.append).run()

    assert receiver.positions() == sorted(lines)  # each once, in log order
    first = min(lines)
    assert [r.position for r in receiver.requests[:6]] == [first] * 6  # five failures, then the sixth attempt
    for request in receiver.accepted:
        assert request.body == lines[request.position]  # byte for byte the stream's line
        assert request.signature_ok()
        assert abs(int(request.headers["X-Complaints-Timestamp"]) - time.time()) < 60
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-Complaints-Event"] == json.loads(request.body)["event"]
        assert request.headers["User-Agent"].startswith("complaints-ledger/")
    assert not any(r.signature_ok("another secret") for r in receiver.accepted)
    retries = [s for s in status if s.startswith("retrying")]
    assert [s.split(": ", 1)[1].split(" (")[0] for s in retries] == [
        "HTTP 500", "timed out after 0.3s", "connection closed without a response", "HTTP 302", "HTTP 503"]
    assert (summary.delivered, summary.parked) == (len(lines), 0)
    assert cursor_store(ledger).position(f"deliver:{receiver.url}") == ledger.event_count()  # at the head
    assert dead_letter_store(ledger).letters() == []


def test_an_event_that_keeps_failing_is_parked_the_rest_arrive_and_a_requeue_delivers_it(ledger, receive):
    some_events(ledger, receive)
    lines = streamed(ledger)
    bad = sorted(lines)[1]
    with Receiver(failing={bad}) as receiver:
        cursors, cursor_seen = cursor_store(ledger), {}
        receiver.on_request = lambda r: cursor_seen.setdefault(r.position, cursors.position("crm"))
        summary = deliverer(ledger, receiver.url, options=replace(FAST, max_attempts=3),
                            cursor="crm").run()
        receiver.on_request = None
        assert receiver.positions() == [p for p in sorted(lines) if p != bad]
        assert cursor_seen[sorted(lines)[2]] >= bad  # saved past the parked event before the next is sent
        assert [r.position for r in receiver.requests].count(bad) == 3
        assert (summary.delivered, summary.parked) == (len(lines) - 1, 1)
        assert cursor_store(ledger).position("crm") == ledger.event_count()  # moved past it: the letter holds it

        store = dead_letter_store(ledger)
        [letter] = store.letters()
        event = json.loads(lines[bad])
        assert (letter["cursor_name"], letter["position"], letter["event"], letter["ref"]) == (
            "crm", bad, event["event"], event["ref"])
        assert "body" not in letter  # no copy of anyone's details that an erasure would miss
        assert (letter["attempts"], letter["last_error"], letter["status"]) == (3, "HTTP 500", "parked")
        assert letter["url"] == receiver.url and letter["parked_at"] is not None

        store.requeue([letter["id"]])  # still failing: parked again, attempts added
        again = deliverer(ledger, receiver.url, options=replace(FAST, max_attempts=2),
                          cursor="crm").run()
        assert (again.parked_again, again.delivered) == (1, 0)
        [letter] = store.letters()
        assert (letter["status"], letter["attempts"]) == ("parked", 5)

        receiver.failing.clear()
        store.requeue(None, cursor="crm")
        later = time.time() + 3600
        fixed = deliverer(ledger, receiver.url, cursor="crm", clock=lambda: later).run()

    assert (fixed.redelivered, fixed.delivered) == (1, 0)  # only the dead letter: the stream was already sent
    last = receiver.accepted[-1]
    assert (last.position, last.body) == (bad, lines[bad])  # made again from the log: the same bytes
    assert last.headers["X-Complaints-Timestamp"] == str(int(later)) and last.signature_ok()  # freshly signed
    assert store.letters() == []
    [done] = store.letters(statuses=("delivered",))
    assert done["delivered_at"] is not None and done["attempts"] == 5


def test_a_dead_letter_redelivered_after_an_erasure_carries_no_personal_data(ledger, receive):
    ref = receive(ledger, received_on=date(2026, 10, 1), contact="07700 900123")
    ledger.withdraw(ref, actor="Jo Officer", on=date(2026, 10, 2))
    first = min(streamed(ledger))
    with Receiver(failing={first}) as receiver:
        deliverer(ledger, receiver.url, options=replace(FAST, max_attempts=1), cursor="crm").run()
        ledger.erase(ledger.show(ref)["complainant_id"], reason="erasure request", actor="Jo Officer")
        receiver.failing.clear()
        dead_letter_store(ledger).requeue(None)
        deliverer(ledger, receiver.url, cursor="crm").run()

    [again] = [r for r in receiver.accepted if r.position == first]
    details = json.loads(again.body)["details"]
    assert details["complainant"] == "[erased]" and details["contact"] == "[erased]"
    assert again.signature_ok()


def test_a_receiver_that_refuses_connections_gets_everything_parked_and_the_cursor_still_moves(ledger, receive):
    some_events(ledger, receive)
    lines = streamed(ledger)
    waits: list[float] = []
    url = refused_url()
    summary = deliverer(ledger, url, options=replace(FAST, max_attempts=2),
                        sleep=waits.append).run()

    letters = dead_letter_store(ledger).letters()
    assert [(l["position"], l["last_error"], l["attempts"]) for l in letters] == [
        (p, "connection refused", 2) for p in sorted(lines)]
    assert summary.parked == len(lines) and len(waits) == len(lines)
    assert cursor_store(ledger).position(f"deliver:{url}") == ledger.event_count()


def test_retries_back_off_exponentially_with_jitter_up_to_the_cap(ledger, receive):
    receive(ledger, received_on=date(2026, 11, 2))
    waits: list[float] = []
    options = DeliveryOptions(max_attempts=7, timeout=0.3, backoff=1.0, backoff_cap=8.0, follow=False)
    deliverer(ledger, refused_url(), options=options, sleep=waits.append).run()

    assert len(waits) == 6  # between seven attempts; none after the last
    for delay, full in zip(waits, (1, 2, 4, 8, 8, 8)):
        assert full / 2 <= delay <= full
    assert len(set(waits)) == 6  # jittered


def test_a_stop_mid_retry_and_a_restart_miss_nothing(ledger_factory, receive):
    ledger = ledger_factory()
    some_events(ledger, receive)
    before = sorted(streamed(ledger))
    with Receiver(script=[200, 200, 500]) as receiver:
        first = deliverer(ledger_factory(), receiver.url,
                          options=DeliveryOptions(timeout=2, backoff=30, poll=0.05))  # following
        receiver.on_request = lambda r: first.stop() if len(receiver.requests) == 3 else None
        thread = threading.Thread(target=first.run)
        started = time.monotonic()
        thread.start()
        thread.join(10)
        assert not thread.is_alive() and time.monotonic() - started < 5  # the 30 s backoff was cut short
        assert receiver.positions() == before[:2]
        assert cursor_store(ledger).position(first.cursor) == before[1]  # not past the unacknowledged third

        receive(ledger, received_on=date(2026, 11, 9))  # written while the deliverer was down
        receiver.on_request = None
        deliverer(ledger_factory(), receiver.url).run()

    lines = streamed(ledger)
    assert set(receiver.positions()) >= set(lines)
    assert receiver.positions() == sorted(lines)  # a clean stop repeats nothing
    assert dead_letter_store(ledger).letters() == []


def test_a_following_deliverer_sends_new_events_live_and_requeued_dead_letters_without_a_restart(
        ledger_factory, receive):
    ledger = ledger_factory()
    receive(ledger, received_on=date(2026, 11, 2))
    [first] = streamed(ledger)
    options = DeliveryOptions(max_attempts=2, timeout=1, backoff=0.01, poll=0.05, requeue_check=0.05)
    with Receiver(failing={first}) as receiver:
        running = deliverer(ledger_factory(), receiver.url, options=options)
        thread = threading.Thread(target=running.run)
        thread.start()
        try:
            store = dead_letter_store(ledger)
            receiver.wait_for(lambda: bool(store.letters()))
            ref = receive(ledger, received_on=date(2026, 11, 3))
            receiver.wait_for(lambda: len(receiver.accepted) == 1)
            assert json.loads(receiver.accepted[0].body)["ref"] == ref

            receiver.failing.clear()
            store.requeue(None)
            receiver.wait_for(lambda: len(receiver.accepted) == 2)
            assert receiver.accepted[1].position == first
        finally:
            running.stop()
            thread.join(10)
    assert not thread.is_alive()
    assert [l["status"] for l in store.letters(statuses=("parked", "queued", "delivered"))] == ["delivered"]


def test_requeue_refuses_unknown_or_delivered_ids_and_changes_nothing(ledger, receive):
    receive(ledger, received_on=date(2026, 11, 2))
    url = refused_url()
    deliverer(ledger, url, options=replace(FAST, max_attempts=1)).run()
    store = dead_letter_store(ledger)
    [letter] = store.letters()
    from complaints_ledger.domain.errors import InvalidAction

    with pytest.raises(InvalidAction, match="no dead letter 999"):
        store.requeue([letter["id"], 999])
    with pytest.raises(InvalidAction, match="belongs to cursor"):
        store.requeue([letter["id"]], cursor="another")
    assert store.letters()[0]["status"] == "parked"
