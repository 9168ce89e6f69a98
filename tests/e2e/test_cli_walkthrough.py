"""The README's "one complaint's life in five minutes", through the command line, on SQLite and on PostgreSQL.

The case is the Code 2024's worked example: a complaint received by phone on Friday 19 December 2025. Its stage 1
acknowledgement is due on Tuesday 30 December (25 and 26 December are bank holidays) and, acknowledged that day, its
response on Wednesday 14 January 2026 (1 January is a bank holiday).
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date, datetime

from ._cli import ACTOR, Cli, deadline, deadline_rows, error_line, section

REF = "CMP-2025-000001"

# The README's commands after `receive`, each with a fragment of what it prints on stdout.
WALKTHROUGH_STEPS: list[tuple[list[str], str]] = [
    (["acknowledge", REF, "--on", "2025-12-30"], f"{REF}: stage 1 — next: respond by Wed 14 Jan 2026"),
    (["extend", REF, "--working-days", "5", "--reason", "Waiting for the heating engineer's report",
      "--on", "2026-01-09"], "next: respond by Wed 21 Jan 2026"),
    (["respond", REF, "--outcome", "upheld", "--remedy", "apology", "--remedy", "boiler replaced",
      "--on", "2026-01-20"], f"{REF}: open, stage 1"),
    (["compensation", "request", REF, "--amount", "150", "--on", "2026-01-20"], "requested £150.00"),
    (["compensation", "approve", REF, "--amount", "120", "--on", "2026-01-22"], "approved £120.00"),
    (["compensation", "pay", REF, "--amount", "120", "--offset", "40", "--on", "2026-01-27"],
     "paid £120.00 (offset £40.00)"),
    (["escalate", REF, "--on", "2026-02-02"], f"{REF}: stage 2 — next: acknowledge by Mon 09 Feb 2026"),
    (["acknowledge", REF, "--on", "2026-02-04"], f"{REF}: stage 2 — next: respond by Wed 04 Mar 2026"),
    (["review", REF, "--outcome", "partly-upheld", "--on", "2026-02-27"], f"{REF}: open, stage 2"),
    (["close", REF, "--on", "2026-03-02"], f"{REF}: closed, stage 2"),
    (["learning", REF, "Heating faults in winter now get a same-day engineer"], f"{REF}: learning recorded"),
    (["satisfaction", REF, "--score", "4", "--on", "2026-03-10"], f"{REF}: closed, stage 2"),
]
EVENTS_IN_ORDER = [
    "Received", "Acknowledged", "Extended", "Responded", "CompensationRequested", "CompensationApproved",
    "CompensationPaid", "Escalated", "Acknowledged", "Reviewed", "Closed", "LearningRecorded",
    "SatisfactionRecorded",
]


def receive_worked_example(cli: Cli) -> str:
    result = cli.ok("receive", "--complainant", "Sam Resident", "--channel", "phone",
                    "--summary", "Heating not working", "--category", "heating and hot water",
                    "--received-on", "2025-12-19", "--issue-date", "2025-12-15")
    return result.stdout.strip()


def walk_through(cli: Cli) -> str:
    """Every command of the README walkthrough; returns the case's reference."""
    assert cli.ok("init").stdout.startswith("ledger ready at ")
    ref = receive_worked_example(cli)
    for args, says in WALKTHROUGH_STEPS:
        result = cli.ok(*args)
        assert says in result.stdout, f"`complaints {' '.join(args)}` said {result.stdout!r}"
    return ref


# ------------------------------------------------------------------------------------------------ the walkthrough


def test_the_readme_walkthrough_takes_a_complaint_from_receipt_to_closure_at_stage_2(cli):
    ref = walk_through(cli)

    view = cli.show(ref)
    assert ref == REF
    assert (view["status"], view["stage"], view["closed_on"]) == ("closed", 2, "2026-03-02")
    assert [(d["stage"], d["milestone"], d["due_on"], d["done_on"], d["status"]) for d in view["deadlines"]] == [
        (1, "acknowledge", "2025-12-30", "2025-12-30", "met"),
        (1, "respond", "2026-01-21", "2026-01-20", "met"),
        (2, "acknowledge", "2026-02-09", "2026-02-04", "met"),
        (2, "respond", "2026-03-04", "2026-02-27", "met"),
    ]
    assert deadline(view, 1, "respond")["extended_by"] == 5
    assert [(s["stage"], s["outcome"]) for s in view["stages"]] == [(1, "upheld"), (2, "partly-upheld")]
    assert view["stages"][0]["remedies"] == ["apology", "boiler replaced"]
    assert view["compensation"] == {"requested": "150.00", "approved": "120.00", "declined": "0.00",
                                    "ordered": "0.00", "paid": "120.00", "offset": "40.00", "pending": None}
    assert view["satisfaction"]["score"] == 4
    assert [entry["text"] for entry in view["learning"]] == ["Heating faults in winter now get a same-day engineer"]


def test_the_text_view_of_a_closed_case_lists_every_deadline_as_met_and_both_decisions(cli):
    walk_through(cli)

    out = cli.ok("show", REF).stdout

    assert out.splitlines()[0] == f"{REF}  CLOSED  at stage 2, the last"
    assert deadline_rows(out) == [
        {"STAGE": "1", "STEP": "acknowledge", "DUE": "Tue 30 Dec 2025", "EXTENDED BY": "", "STATE": "met",
         "DONE": "Tue 30 Dec 2025"},
        {"STAGE": "1", "STEP": "respond", "DUE": "Wed 21 Jan 2026", "EXTENDED BY": "5 working days", "STATE": "met",
         "DONE": "Tue 20 Jan 2026"},
        {"STAGE": "2", "STEP": "acknowledge", "DUE": "Mon 09 Feb 2026", "EXTENDED BY": "", "STATE": "met",
         "DONE": "Wed 04 Feb 2026"},
        {"STAGE": "2", "STEP": "respond", "DUE": "Wed 04 Mar 2026", "EXTENDED BY": "", "STATE": "met",
         "DONE": "Fri 27 Feb 2026"},
    ]
    happened = section(out, "What happened").splitlines()
    assert all(len(line) <= 100 for line in happened)
    assert happened == [
        "  09 Jan 2026  stage 1 extended by 5 working days: Waiting for the heating engineer's report",
        "               (Ombudsman's details not recorded as given)",
        "  20 Jan 2026  stage 1 decision: upheld (remedies: apology, boiler replaced)",
        "  02 Feb 2026  escalated to stage 2",
        "  27 Feb 2026  stage 2 decision: partly upheld",
        "  02 Mar 2026  closed",
    ]
    assert "Compensation requested £150.00, approved £120.00, paid £120.00 (£40.00 of it set against arrears)" in out


def test_init_is_safe_to_run_again_and_reports_the_events_already_held(cli):
    walk_through(cli)
    held = cli.event_count()

    out = cli.ok("init").stdout

    assert held > len(EVENTS_IN_ORDER)  # the case's events, plus its pinned policy and the year's reference sequence
    assert out.rstrip().endswith(f"({held} events)")
    assert cli.event_count() == held
    assert len(cli.history(REF)) == len(EVENTS_IN_ORDER)


# ------------------------------------------------------------------------------------------------ show --format json


def test_show_json_gives_the_reference_policy_status_stage_receipt_version_and_deadlines(cli):
    ref = receive_worked_example(cli)

    view = cli.show(ref, as_of="2025-12-19")

    assert {"ref", "policy", "status", "stage", "received_on", "version", "deadlines"} <= view.keys()
    assert (view["ref"], view["policy"], view["status"], view["stage"]) == (REF, "hoc-2024", "open", 1)
    assert (view["received_on"], view["version"]) == ("2025-12-19", 1)
    for row in view["deadlines"]:
        assert {"stage", "milestone", "due_on", "done_on", "status", "extended_by"} <= row.keys()
    assert [(d["milestone"], d["due_on"], d["done_on"], d["status"], d["extended_by"])
            for d in view["deadlines"]] == [
        ("acknowledge", "2025-12-30", None, "pending", 0),
        ("respond", "2026-01-14", None, "pending", 0),
    ]


def test_receive_prints_only_the_reference_on_stdout_and_what_is_due_next_on_stderr(cli):
    result = cli.ok("receive", "--complainant", "Sam Resident", "--channel", "phone",
                    "--summary", "Heating not working", "--received-on", "2025-12-19")

    assert result.stdout == f"{REF}\n"
    assert result.stderr.strip() == f"{REF}: stage 1 — next: acknowledge by Tue 30 Dec 2025"


def test_the_codes_worked_example_acknowledge_by_30_december_then_respond_by_14_january(cli):
    ref = receive_worked_example(cli)

    received = cli.show(ref, as_of="2025-12-19")
    assert deadline(received, 1, "acknowledge")["due_on"] == "2025-12-30"  # 25 and 26 Dec are bank holidays
    assert deadline(received, 1, "respond")["due_on"] == "2026-01-14"
    assert deadline(received, 1, "respond")["provisional"] is True

    cli.ok("acknowledge", ref, "--on", "2025-12-30")
    acknowledged = cli.show(ref, as_of="2025-12-30")

    acknowledge = deadline(acknowledged, 1, "acknowledge")
    assert (acknowledge["due_on"], acknowledge["done_on"], acknowledge["status"]) == ("2025-12-30", "2025-12-30", "met")
    respond = deadline(acknowledged, 1, "respond")
    assert (respond["due_on"], respond["status"], respond["provisional"]) == ("2026-01-14", "pending", False)
    text = cli.ok("show", ref, "--as-of", "2025-12-30").stdout
    assert {"STAGE": "1", "STEP": "respond", "DUE": "Wed 14 Jan 2026", "EXTENDED BY": "", "STATE": "pending",
            "DONE": ""} in deadline_rows(text)


def test_a_missed_deadline_shows_as_overdue_and_then_late_with_the_working_days_late(cli):
    ref = receive_worked_example(cli)
    cli.ok("acknowledge", ref, "--on", "2025-12-30")

    overdue = deadline(cli.show(ref, as_of="2026-01-16"), 1, "respond")
    cli.ok("respond", ref, "--outcome", "not-upheld", "--on", "2026-01-19")
    late = deadline(cli.show(ref), 1, "respond")

    assert (overdue["status"], overdue["done_on"]) == ("overdue", None)
    assert (late["status"], late["done_on"], late["working_days_late"]) == ("late", "2026-01-19", 3)
    respond_row = {"STAGE": "1", "STEP": "respond", "DUE": "Wed 14 Jan 2026", "EXTENDED BY": ""}
    assert {**respond_row, "STATE": "OVERDUE by 2 working days", "DONE": ""} in \
        deadline_rows(cli.ok("show", ref, "--as-of", "2026-01-16").stdout)
    assert {**respond_row, "STATE": "late by 3 working days", "DONE": "Mon 19 Jan 2026"} in \
        deadline_rows(cli.ok("show", ref).stdout)


# ------------------------------------------------------------------------------------------------ show --as-of


def test_show_as_of_a_past_date_shows_the_case_exactly_as_it_stood_that_day(cli):
    walk_through(cli)

    before_response = cli.show(REF, as_of="2026-01-10")
    before_stage_2_ack = cli.show(REF, as_of="2026-02-03")
    now = cli.show(REF)

    assert (before_response["status"], before_response["stage"], before_response["version"]) == ("open", 1, 3)
    assert before_response["as_of"] == "2026-01-10"
    assert [(d["milestone"], d["status"]) for d in before_response["deadlines"]] == [
        ("acknowledge", "met"), ("respond", "pending"),
    ]
    assert deadline(before_response, 1, "respond")["due_on"] == "2026-01-21"
    assert before_response["compensation"]["requested"] == "0.00"

    assert (before_stage_2_ack["status"], before_stage_2_ack["stage"]) == ("open", 2)
    stage_2_ack = deadline(before_stage_2_ack, 2, "acknowledge")
    assert (stage_2_ack["due_on"], stage_2_ack["status"], stage_2_ack["done_on"]) == ("2026-02-09", "pending", None)
    assert before_stage_2_ack["compensation"]["paid"] == "120.00"

    assert (now["status"], now["stage"]) == ("closed", 2)
    assert now["version"] == len(EVENTS_IN_ORDER)


def test_show_as_of_a_past_date_in_text_says_which_day_and_version_it_shows(cli):
    walk_through(cli)

    out = cli.ok("show", REF, "--as-of", "2026-01-10").stdout

    assert out.splitlines()[0] == f"{REF}  OPEN  at stage 1"
    assert "As of        Sat 10 Jan 2026 (version 3)" in out
    assert "stage 2" not in out


# ------------------------------------------------------------------------------------------------ history


def test_history_json_is_one_event_per_line_in_version_order(cli):
    walk_through(cli)

    lines = cli.ok("history", REF, "--format", "json").stdout.splitlines()
    events = [json.loads(line) for line in lines]

    assert len(lines) == len(EVENTS_IN_ORDER)
    assert [e["event"] for e in events] == EVENTS_IN_ORDER
    assert [e["version"] for e in events] == list(range(1, len(EVENTS_IN_ORDER) + 1))
    for e in events:
        assert {"version", "event", "occurred_on", "recorded_at", "actor", "details"} <= e.keys()
        date.fromisoformat(e["occurred_on"])
    recorded = [datetime.fromisoformat(e["recorded_at"]) for e in events]
    assert recorded == sorted(recorded)
    assert [e["occurred_on"] for e in events[:11]] == [
        "2025-12-19", "2025-12-30", "2026-01-09", "2026-01-20", "2026-01-20", "2026-01-22", "2026-01-27",
        "2026-02-02", "2026-02-04", "2026-02-27", "2026-03-02",
    ]
    assert events[0]["details"]["complainant"] == "Sam Resident"
    assert events[0]["details"]["policy_name"] == "hoc-2024"
    assert events[2]["details"]["working_days"] == 5
    assert events[6]["details"]["amount"] == "120.00" and events[6]["details"]["offset"] == "40.00"


def test_history_text_lists_every_event_with_its_business_date_and_actor(cli):
    walk_through(cli)

    lines = cli.ok("history", REF).stdout.splitlines()

    events = [line for line in lines if not line.startswith("     ")]  # details are indented under their event
    assert len(events) == len(EVENTS_IN_ORDER)
    assert re.match(r"  1  19 Dec 2025  Received  by tester, recorded \d\d \w{3} 20\d\d \d\d:\d\d UTC$", events[0])
    assert re.match(r" 11  02 Mar 2026  Closed  by tester, recorded ", events[10])
    assert all(len(line) <= 100 for line in lines)
    received_details = " ".join(" ".join(lines[1:lines.index(events[1])]).split())
    assert "complainant: Sam Resident" in received_details and "policy hash: e29cb1a7095b ·" in received_details


def test_history_records_the_actor_given_by_the_actor_option(cli):
    ref = receive_worked_example(cli)
    cli.ok("acknowledge", ref, "--on", "2025-12-30")

    assert {e["actor"] for e in cli.history(ref)} == {ACTOR}


def test_history_records_the_actor_from_COMPLAINTS_ACTOR_when_no_option_is_given(sqlite_cli):
    cli = sqlite_cli  # a single user's file; on PostgreSQL the login is the actor (below)
    jo = dataclasses.replace(cli, actor=None)
    ref = receive_worked_example(dataclasses.replace(cli, actor="Ann Intake"))
    jo.ok("acknowledge", ref, "--on", "2025-12-30", env={"COMPLAINTS_ACTOR": "Jo Officer"})
    jo.ok("note", ref, "Called the resident", "--on", "2025-12-30", env={"COMPLAINTS_ACTOR": "Jo Officer"})
    cli.ok("respond", ref, "--outcome", "upheld", "--on", "2026-01-05", env={"COMPLAINTS_ACTOR": "Jo Officer"})

    actors = [(e["event"], e["actor"]) for e in cli.history(ref)]

    assert actors == [("Received", "Ann Intake"), ("Acknowledged", "Jo Officer"), ("NoteAdded", "Jo Officer"),
                      ("Responded", ACTOR)]  # --actor wins over the environment


def test_on_postgresql_the_actor_is_the_login_and_cannot_be_typed_in(pg_url, ledger_roles):
    jo = Cli(ledger_roles.ledger(pg_url), actor="Jo Officer")  # logs in as "Jo Officer", a member of the writer role
    ref = receive_worked_example(jo)
    before = jo.event_count()
    as_postgres = Cli(pg_url, actor=None)
    for typed in (["--actor", "Dee Director"], []):
        result = as_postgres(*typed, "acknowledge", ref, "--on", "2025-12-30",
                             env={"COMPLAINTS_ACTOR": "Dee Director"})
        assert "the actor is your database login (postgres)" in error_line(result)
    assert jo.event_count() == before
    as_postgres.ok("acknowledge", ref, "--on", "2025-12-30")  # no name typed: the login is recorded
    jo.ok("note", ref, "Called the resident", "--on", "2025-12-30")
    assert [(e["event"], e["actor"]) for e in jo.history(ref)] == [
        ("Received", "Jo Officer"), ("Acknowledged", "postgres"), ("NoteAdded", "Jo Officer")]


# ------------------------------------------------------------------------------------------------ feedback


def test_feedback_prints_an_FBK_reference_and_does_not_use_up_complaint_numbers(cli):
    first = cli.ok("feedback", "--kind", "compliment", "--summary", "Thanks to the repairs team",
                   "--on", "2026-03-02").stdout.strip()
    second = cli.ok("feedback", "--kind", "suggestion", "--summary", "Text reminders for appointments",
                    "--channel", "web", "--on", "2026-03-03").stdout.strip()
    complaint = cli.receive("2026-03-03")

    assert (first, second) == ("FBK-2026-000001", "FBK-2026-000002")
    assert complaint == "CMP-2026-000001"
