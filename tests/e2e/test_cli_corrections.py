"""`complaints correct`: a mistyped received date (or channel, category, property, contact, a step's date) is put
right by recording a correction, on SQLite and PostgreSQL. Every figure then follows the corrected value, what was
believed before stays readable (`show --known-at`), the trail shows both values with who and why, and a refusal is
one line with nothing written.

The case: received Monday 5 October 2026 (keyed wrongly; the letter came Monday 28 September), acknowledged Monday
12 October. Under the Code 2024 the acknowledgement is due 5 working days after receipt: 12 October as keyed (met),
5 October as corrected (answered 5 working days late).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ._cli import Cli, deadline

KEYED, TRUE = "2026-10-05", "2026-09-28"
WHY = "Keyed from the date of the covering email, not the letter"


@pytest.fixture
def case(cli: Cli) -> str:
    ref = cli.receive(KEYED, "--category", "repairs", "--property", "12 Elm Road")
    cli.ok("acknowledge", ref, "--on", "2026-10-12")
    return ref


def listed(cli: Cli, ref: str) -> dict:
    rows = [json.loads(line) for line in cli.ok("list", "--format", "json").stdout.splitlines()]
    return next(r for r in rows if r["ref"] == ref)


def breaches(cli: Cli, ref: str) -> list[tuple[int, str, str]]:
    lines = cli.ok("breaches", "--as-of", "2026-12-01", "--format", "json").stdout.splitlines()
    return sorted((r["stage"], r["milestone"], r["status"]) for r in map(json.loads, lines) if r["ref"] == ref)


def stats(cli: Cli, start: str, end: str) -> dict:
    figures = json.loads(cli.ok("stats", "--from", start, "--to", end, "--format", "json").stdout)["total"]
    return {"received": figures["received"]["total"], "acknowledged": figures["stages"]["1"]["acknowledged"],
            "in_time": figures["stages"]["1"]["acknowledged_in_time"]}


def _now_z() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_corrected_received_date_moves_every_deadline_breach_list_row_and_statistic(cli: Cli, case: str):
    before = cli.show(case)
    assert deadline(before, 1, "acknowledge")["due_on"] == "2026-10-12"
    assert deadline(before, 1, "acknowledge")["status"] == "met"
    assert listed(cli, case)["received_on"] == KEYED
    assert (1, "acknowledge", "late") not in breaches(cli, case)
    assert stats(cli, "2026-10-01", "2026-10-31") == {"received": 1, "acknowledged": 1, "in_time": 1}
    assert stats(cli, "2026-09-01", "2026-09-30")["received"] == 0
    days_open = listed(cli, case)["days_open"]
    time.sleep(0.02)
    cut = _now_z()
    time.sleep(0.02)

    out = cli.ok("correct", case, "--field", "received-date", "--to", TRUE, "--reason", WHY).stdout
    assert out.strip() == f"corrected the received date of {case}"

    after = cli.show(case)
    assert after["received_on"] == TRUE and after["stages"][0]["started_on"] == TRUE
    assert deadline(after, 1, "acknowledge")["due_on"] == "2026-10-05"
    assert deadline(after, 1, "acknowledge")["status"] == "late"
    row = listed(cli, case)
    assert row["received_on"] == TRUE and row["days_open"] == days_open + 7
    assert (1, "acknowledge", "late") in breaches(cli, case)
    # The receipt now counts in September; the October acknowledgement stays in October, no longer in time.
    assert stats(cli, "2026-10-01", "2026-10-31") == {"received": 0, "acknowledged": 1, "in_time": 0}
    assert stats(cli, "2026-09-01", "2026-09-30")["received"] == 1

    # As of a day in October the case reads as now known, as the breach table judges it that day...
    on_10_october = cli.show(case, as_of="2026-10-10")
    assert on_10_october["received_on"] == TRUE
    assert deadline(on_10_october, 1, "acknowledge")["status"] == "overdue"
    lines = cli.ok("breaches", "--as-of", "2026-10-10", "--format", "json").stdout.splitlines()
    assert [(r["milestone"], r["status"]) for r in map(json.loads, lines) if r["ref"] == case] == \
        [("acknowledge", "overdue")]
    # ...while what was believed before the correction was recorded is still what the ledger showed then.
    then = json.loads(cli.ok("show", case, "--known-at", cut, "--format", "json").stdout)
    assert then["received_on"] == KEYED and deadline(then, 1, "acknowledge")["status"] == "met"
    then = json.loads(cli.ok("show", case, "--as-of", "2026-10-10", "--known-at", cut, "--format", "json").stdout)
    assert then["received_on"] == KEYED and deadline(then, 1, "acknowledge")["status"] == "pending"
    # The read models agree with a rebuild from the log.
    cli.ok("projections", "verify")
    assert "On file: 1 correction" in cli.ok("show", case).stdout


def test_history_and_the_bundle_show_both_values_who_corrected_and_why(cli: Cli, case: str, tmp_path: Path):
    cli.ok("correct", case, "--field", "received-date", "--to", TRUE, "--reason", WHY)
    cli.ok("correct", case, "--event", "2", "--on", "2026-10-09", "--reason", "Letter was sent on the 9th")

    fixed = cli.history(case)[-2:]
    assert [e["event"] for e in fixed] == ["Corrected", "Corrected"]
    assert fixed[0]["details"] | {"authenticated": None} == {
        "field": "received-date", "event_version": None, "step": None, "old": KEYED, "new": TRUE,
        "old_personal": None, "new_personal": None, "reason": WHY, "authenticated": None}
    assert fixed[1]["details"]["step"] == "Acknowledged" and fixed[1]["details"]["event_version"] == 2
    assert fixed[1]["actor"] == "tester"
    text = cli.ok("history", case).stdout
    assert f"old: {KEYED}" in text and f"new: {TRUE}" in text and "Keyed from the date" in text

    cli.ok("bundle", case, "--output", str(tmp_path))
    data = json.loads((tmp_path / "case.json").read_text())
    described = [c["description"] for c in data["corrections"]]
    assert described == [f"Corrected the received date from 5 October 2026 to 28 September 2026: {WHY}",
                         "Corrected the date of event 2 (acknowledged) from 12 October 2026 to 9 October 2026: "
                         "Letter was sent on the 9th"]
    html = (tmp_path / "case.html").read_text()
    assert "Corrections to the record" in html and "28 September 2026" in html and "by tester" in html
    assert data["case"]["stages"][0]["acknowledged_on"] == "2026-10-09"


@pytest.mark.parametrize("args, message", [
    (["--field", "received-date", "--to", "2026-10-13"],
     "the received date 2026-10-13 would be after event 2 (acknowledged, 2026-10-12)"),
    (["--field", "received-date", "--to", KEYED], f"already recorded as {KEYED}: nothing to correct"),
    (["--field", "received-date", "--to", "2099-01-01"], "in the future"),
    (["--field", "issue-date", "--to", "2026-10-06"], "would be after the complaint was received"),
    (["--field", "complainant", "--to", "Bea"], "'complainant' cannot be corrected; the fields that can: "
                                                "received-date, issue-date, channel, category, property, contact"),
    (["--event", "2", "--on", "2026-10-04"], "is before"),
    (["--event", "1", "--on", "2026-10-04"], "--field received-date"),
    (["--event", "2"], "--on DATE"),
    (["--field", "channel"], "--to VALUE"),
])
def test_a_correction_that_cannot_be_made_is_one_line_and_writes_nothing(cli: Cli, case: str, args, message):
    before = cli.event_count()
    error = cli.fails("correct", case, *args, "--reason", WHY)
    assert message in error and "\n" not in error
    assert cli.event_count() == before


def test_once_there_is_a_staff_directory_an_officer_may_not_correct_and_a_manager_may(cli: Cli, case: str):
    cli.ok("staff", "add", "Dee Director", "--role", "director")
    director = Cli(cli.url, actor="Dee Director")
    for name, role in [("Jo Officer", "officer"), ("Mo Manager", "manager")]:
        director.ok("staff", "add", name, "--role", role)
    fix = ["correct", case, "--field", "channel", "--to", "letter", "--reason", "It came by post"]
    before = cli.event_count()
    assert Cli(cli.url, actor="Jo Officer").fails(*fix) == \
        "Error: Jo Officer (officer) may not correct a case's recorded facts: hoc-2024 gives that to manager or " \
        "head-of-service or director"
    assert cli.event_count() == before
    Cli(cli.url, actor="Mo Manager").ok(*fix)
    assert cli.show(case)["channel"] == "letter"
    corrected = cli.history(case)[-1]
    assert corrected["actor"] == "Mo Manager"
    assert corrected["details"]["authenticated"] is cli.on_postgres  # the login vouches only on PostgreSQL


def test_erasing_the_complainant_erases_a_corrected_property_both_old_and_new(cli: Cli, case: str):
    cli.ok("correct", case, "--field", "property", "--to", "14 Elm Road", "--reason", "Wrong house number")
    shown = cli.show(case)
    assert shown["property"] == "14 Elm Road"
    cli.ok("respond", case, "--outcome", "upheld", "--on", "2026-10-20")
    cli.ok("close", case, "--on", "2026-10-21")
    cli.ok("erase", "--complainant", shown["complainant_id"], "--reason", "erasure request")

    details = cli.history(case)[-3]["details"]
    assert (details["old_personal"], details["new_personal"], details["reason"]) == ("[erased]",) * 3
    assert cli.show(case)["property"] == "[erased]"
    # Once erased, nothing more is corrected: a correction's reason is the person's, and their key is gone.
    assert "has been erased" in cli.fails("correct", case, "--field", "channel", "--to", "letter", "--reason", "Post")


def test_a_re_dated_response_counts_in_the_month_it_was_really_sent(cli: Cli):
    ref = cli.receive("2026-09-21")
    cli.ok("acknowledge", ref, "--on", "2026-09-23")
    cli.ok("respond", ref, "--outcome", "upheld", "--on", "2026-10-01")
    responses = lambda start, end: json.loads(cli.ok(  # noqa: E731
        "stats", "--from", start, "--to", end, "--format", "json").stdout)["total"]["stages"]["1"]["responses"]
    assert (responses("2026-09-01", "2026-09-30"), responses("2026-10-01", "2026-10-31")) == (0, 1)

    cli.ok("correct", ref, "--event", "3", "--on", "2026-09-30", "--reason", "The letter went out on the 30th")

    assert (responses("2026-09-01", "2026-09-30"), responses("2026-10-01", "2026-10-31")) == (1, 0)
    assert cli.show(ref)["stages"][0]["responded_on"] == "2026-09-30"
    cli.ok("projections", "verify")


def test_a_corrected_category_and_channel_move_the_case_between_list_filters_and_statistics(cli: Cli, case: str):
    def by(kind: str) -> dict:
        return json.loads(cli.ok("stats", "--from", "2026-10-01", "--to", "2026-10-31", "--format", "json")
                          .stdout)["total"]["received"][kind]

    assert (by("by_category"), by("by_channel")) == ({"repairs": 1}, {"phone": 1})
    cli.ok("correct", case, "--field", "category", "--to", "Damp", "--reason", "Damp, not a repair")
    cli.ok("correct", case, "--field", "channel", "--to", "letter", "--reason", "It came by post")

    assert (by("by_category"), by("by_channel")) == ({"damp": 1}, {"letter": 1})
    assert cli.ok("list", "--category", "repairs", "--format", "json").stdout.strip() == ""
    assert json.loads(cli.ok("list", "--category", "damp", "--format", "json").stdout)["ref"] == case
    cli.ok("projections", "verify")
