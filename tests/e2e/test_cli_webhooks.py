"""`complaints events deliver` and `complaints events dead-letters` against a loopback receiver: what an operator
sees on stderr, what the receiver gets, the one-line refusals, and a real process stopped with SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from .._webhook_receiver import SECRET, Receiver
from ._cli import table

ENV = {"HOOK_SECRET": SECRET}
FAST = ("--backoff", "0.01", "--timeout", "2")


def a_case(cli) -> list[str]:
    """Four events; returns the stream's lines, as `complaints events` prints them."""
    ref = cli.receive("2026-10-01")
    cli.ok("acknowledge", ref, "--on", "2026-10-02")
    cli.ok("respond", ref, "--outcome", "upheld", "--on", "2026-10-09")
    cli.ok("close", ref, "--on", "2026-10-12")
    return cli.ok("events").stdout.splitlines()


def deliver(cli, url: str, *args: str):
    return cli.ok("events", "deliver", "--url", url, "--secret-env", "HOOK_SECRET", "--once", *FAST, *args, env=ENV)


def test_deliver_once_posts_each_event_signed_in_order_then_has_nothing_more_to_send(cli):
    lines = a_case(cli)
    positions = [json.loads(line)["position"] for line in lines]
    with Receiver(script=[500]) as receiver:
        first = deliver(cli, receiver.url)
        again = deliver(cli, receiver.url, "--format", "json")
        received_only = deliver(cli, receiver.url, "--cursor", "intake", "--event", "received")

    assert first.stdout == ""
    status = first.stderr.splitlines()
    assert status[0].startswith(f"retrying position {positions[0]} Received CMP-2026-000001: HTTP 500 (attempt 1 of 5")
    assert status[1:5] == [f"delivered position {p} {e} CMP-2026-000001 (HTTP 200{', attempt 2' if i == 0 else ''})"
                           for i, (p, e) in enumerate(zip(positions, ("Received", "Acknowledged", "Responded",
                                                                     "Closed")))]
    assert status[5].startswith(f"4 delivered, 0 parked; cursor 'deliver:{receiver.url}' at position ")
    assert len(status) == 6
    assert [r.body.decode() for r in receiver.accepted[:4]] == lines  # exactly the stream's lines
    assert all(r.signature_ok() for r in receiver.accepted)
    summary = json.loads(again.stdout)  # the cursor was kept: nothing is sent twice
    assert (summary["delivered"], summary["parked"], summary["cursor"]) == (0, 0, f"deliver:{receiver.url}")
    assert received_only.stderr.splitlines()[-1].startswith("1 delivered, 0 parked; cursor 'intake' at position")
    assert [r.headers["X-Complaints-Event"] for r in receiver.accepted[4:]] == ["Received"]  # its own cursor
    assert len(receiver.requests) == 6


def test_deliver_refuses_a_missing_secret_a_bad_url_or_an_unknown_event_and_sends_nothing(sqlite_cli):
    a_case(sqlite_cli)
    with Receiver() as receiver:
        base = ("events", "deliver", "--once", "--secret-env", "HOOK_SECRET")
        missing = sqlite_cli.fails(*base, "--url", receiver.url)
        empty = sqlite_cli.fails(*base, "--url", receiver.url, env={"HOOK_SECRET": ""})
        bad_url = sqlite_cli.fails(*base, "--url", "ftp://example.org/hook", env=ENV)
        unknown = sqlite_cli.fails(*base, "--url", receiver.url, "--event", "Shouted", env=ENV)

    assert missing == empty == ("Error: environment variable HOOK_SECRET is not set or empty: put the webhook's "
                                "shared secret in it (--secret-env names the variable, not the secret)")
    assert bad_url == "Error: --url must be an http:// or https:// address, not 'ftp://example.org/hook'"
    assert unknown.startswith("Error: unknown event type 'Shouted'")
    assert receiver.requests == []


def test_dead_letters_are_listed_requeued_and_delivered_by_the_next_run(cli):
    lines = a_case(cli)
    positions = [json.loads(line)["position"] for line in lines]
    with Receiver(failing=set(positions)) as receiver:
        parked = deliver(cli, receiver.url, "--max-attempts", "2")
        listed = cli.ok("events", "dead-letters")
        as_json = [json.loads(x) for x in cli.ok("events", "dead-letters", "--format", "json").stdout.splitlines()]
        ids = [row["id"] for row in as_json]

        errors = [cli.fails("events", "dead-letters", "--requeue"),
                  cli.fails("events", "dead-letters", str(ids[0])),
                  cli.fails("events", "dead-letters", "--requeue", str(ids[0]), "--all"),
                  cli.fails("events", "dead-letters", "--requeue", str(ids[0]), "999")]
        one = cli.ok("events", "dead-letters", "--requeue", str(ids[0]))
        after_one = [json.loads(x) for x in cli.ok("events", "dead-letters", "--format", "json").stdout.splitlines()]
        receiver.failing.clear()
        redelivered = deliver(cli, receiver.url)
        rest = cli.ok("events", "dead-letters", "--requeue", "--all", "--cursor", f"deliver:{receiver.url}")
        deliver(cli, receiver.url)
        none_left = cli.ok("events", "dead-letters")
        audit = [json.loads(x) for x in
                 cli.ok("events", "dead-letters", "--delivered", "--format", "json").stdout.splitlines()]

    assert [line for line in parked.stderr.splitlines() if line.startswith("parked")][0] == (
        f"parked position {positions[0]} Received CMP-2026-000001: HTTP 500 after 2 attempts as dead letter "
        f"{ids[0]} (`complaints events dead-letters --requeue {ids[0]}` sends it again)")
    assert parked.stderr.splitlines()[-1].startswith("0 delivered, 4 parked;")
    rows = table(listed.stdout)
    assert len(rows) == 4 and listed.stderr == "4 dead letters\n"
    assert {k: rows[0][k] for k in ("ID", "STATUS", "POSITION", "EVENT", "REF", "ATTEMPTS", "CURSOR", "LAST ERROR")} \
        == {"ID": str(ids[0]), "STATUS": "parked", "POSITION": str(positions[0]), "EVENT": "Received",
            "REF": "CMP-2026-000001", "ATTEMPTS": "2", "CURSOR": f"deliver:{receiver.url}", "LAST ERROR": "HTTP 500"}
    assert [row["position"] for row in as_json] == positions and {row["status"] for row in as_json} == {"parked"}
    assert errors[:3] == ["Error: --requeue needs the dead letters' ids, or --all",
                          "Error: dead letter ids and --all go with --requeue",
                          "Error: give either dead letter ids or --all, not both"]
    assert errors[3] == "Error: no dead letter 999: `complaints events dead-letters` lists them"
    assert one.stdout == f"requeued {ids[0]}: position {positions[0]} Received CMP-2026-000001 for " \
                         f"deliver:{receiver.url}\n"
    assert [row["status"] for row in after_one] == ["queued", "parked", "parked", "parked"]
    assert redelivered.stderr.splitlines() == [
        f"delivered dead letter {ids[0]}, position {positions[0]} Received CMP-2026-000001 (HTTP 200)",
        f"0 delivered, 0 parked, 1 dead letters delivered, 0 parked again; cursor 'deliver:{receiver.url}' at "
        f"position {redelivered.stderr.rsplit(' ', 1)[1].strip()}"]
    assert len(rest.stdout.splitlines()) == 3
    assert none_left.stdout == "" and none_left.stderr == "0 dead letters\n"
    assert [(row["id"], row["status"]) for row in audit] == [(i, "delivered") for i in ids]
    assert [r.body.decode() for r in receiver.accepted] == lines  # each once, in the end


def test_sigterm_stops_a_following_deliverer_which_saves_its_cursor(sqlite_cli, sqlite_url, complaints_exe,
                                                                    subprocess_env):
    a_case(sqlite_cli)
    with Receiver() as receiver:
        proc = subprocess.Popen(
            [complaints_exe, "--db", sqlite_url, "events", "deliver", "--url", receiver.url, "--secret-env",
             "HOOK_SECRET", "--poll", "0.1"], env={**subprocess_env, **ENV},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            receiver.wait_for(lambda: len(receiver.accepted) == 4, seconds=20)
            time.sleep(0.3)  # idle, following
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        later = deliver(sqlite_cli, receiver.url)

    assert proc.returncode == 0 and out == ""
    assert err.splitlines()[-1].startswith("4 delivered, 0 parked; cursor")
    assert later.stderr.startswith("0 delivered")
    assert len(receiver.requests) == 4


def test_a_deliverer_killed_mid_delivery_repeats_at_most_the_last_seconds_events_and_misses_none(
        cli, db_url, complaints_exe, subprocess_env):
    """docs/event-stream.md: "a kill repeats at most the last second's events" (the cursor is saved every second),
    and a restart misses nothing."""
    from datetime import date

    from complaints_ledger.adapters import simulation
    from complaints_ledger.adapters.persistence import open_ledger

    ledger = open_ledger(db_url)
    simulation.build(ledger, cases=60, seed=5, actor="simulator", until=date(2026, 11, 20))
    ledger.close()
    everything = [json.loads(line)["position"] for line in cli.ok("events").stdout.splitlines()]
    with Receiver(pace=0.01) as receiver:  # about 60 events a second: the backlog takes several seconds
        proc = subprocess.Popen(
            [complaints_exe, "--db", db_url, "events", "deliver", "--url", receiver.url, "--secret-env",
             "HOOK_SECRET", "--poll", "0.2"], env={**subprocess_env, **ENV},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            receiver.wait_for(lambda: len(receiver.accepted) >= 180, seconds=30)  # a few seconds in
            proc.send_signal(signal.SIGKILL)  # mid-delivery, with no chance to save its cursor on the way out
            killed_at = time.time()
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        settled = -1
        while settled != len(receiver.accepted):  # a request already read when the kill landed is still answered
            settled = len(receiver.accepted)
            time.sleep(0.3)
        before_kill = list(receiver.accepted)
        deliver(cli, receiver.url)  # restarted (once): carries on from the cursor

    assert len(everything) > 250 and len(before_kill) < len(everything), "the kill did not land mid-delivery"
    assert sorted(set(receiver.positions())) == everything  # nothing missed
    first_seen: dict[int, float] = {}
    for request in before_kill:
        first_seen.setdefault(request.position, request.at)
    repeated = [r.position for r in receiver.accepted[len(before_kill):] if r.position in first_seen]
    assert len(receiver.positions()) == len(everything) + len(repeated)  # only the killed run's events repeat
    # ...and only those it delivered in its last second (plus a little slack for the answer in flight).
    early = [p for p in repeated if first_seen[p] < killed_at - 1.3]
    assert early == [], f"{len(repeated)} repeated, {len(early)} first delivered over a second before the kill"
