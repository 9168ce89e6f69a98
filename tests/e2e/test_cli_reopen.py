"""Escalating a closed case reopens it at the next stage, through the CLI on SQLite and PostgreSQL (issue 18).

Aspire's 14-day appeal window runs from the written response. Both cases are received Monday 1 June 2026, answered
Friday 5 June (the window closes Friday 19 June) and closed Monday 8 June. Case A comes back on Wednesday 17 June:
its stage 2 acknowledgement is due 5 working days later, Wednesday 24 June, and its response (provisionally, until
acknowledged) 20 working days after that, Wednesday 22 July (no bank holidays in between). Case B comes back on
Saturday 20 June, a day after the window closed. Everything is in the financial year 2026/27.
"""

from __future__ import annotations

import json

import pytest

from ._cli import Cli, deadline

WINDOW_CLOSED = "Error: the 14-day appeal window of aspire-2017 closed on 2026-06-19 (response sent 2026-06-05)"


def rows(cli: Cli, *args: str) -> list[dict]:
    """A read command's `--format json` output: one JSON object a line."""
    return [json.loads(line) for line in cli.ok(*args, "--format", "json").stdout.splitlines()]


def closed_stage_1(cli: Cli) -> str:
    ref = cli.receive("2026-06-01", policy="aspire-2017")
    cli.ok("respond", ref, "--outcome", "not-upheld", "--on", "2026-06-05")
    cli.ok("close", ref, "--on", "2026-06-08")
    return ref


@pytest.fixture
def cases(cli: Cli) -> tuple[str, str]:
    a, b = closed_stage_1(cli), closed_stage_1(cli)
    cli.ok("escalate", a, "--on", "2026-06-17", "--reason", "Still no heating")
    return a, b


def test_a_closed_case_escalated_within_the_window_is_open_at_stage_2_with_deadlines_from_the_escalation(cli, cases):
    a, _ = cases
    view = cli.show(a, as_of="2026-06-17")
    assert (view["status"], view["stage"], view["closed_on"]) == ("open", 2, None)
    assert view["reopenings"] == [{"stage": 1, "closed_on": "2026-06-08", "occurred_on": "2026-06-17"}]
    assert deadline(view, 2, "acknowledge")["due_on"] == "2026-06-24"
    respond = deadline(view, 2, "respond")
    assert (respond["due_on"], respond["provisional"]) == ("2026-07-22", True)
    assert view["next_milestone"]["milestone"] == "acknowledge" and view["next_milestone"]["due_on"] == "2026-06-24"
    # stage 1 is as it was: answered in time, nothing outstanding
    assert [(d["milestone"], d["status"]) for d in view["deadlines"] if d["stage"] == 1] == [
        ("acknowledge", "met"), ("respond", "met")]
    # as it stood before the resident came back, it was closed
    before = cli.show(a, as_of="2026-06-16")
    assert (before["status"], before["stage"], before["closed_on"]) == ("closed", 1, "2026-06-08")

    assert [e["event"] for e in cli.history(a)][-3:] == ["Closed", "Reopened", "Escalated"]
    text = cli.ok("show", a, "--as-of", "2026-06-17").stdout
    happened = text.split("What happened", 1)[1]
    assert happened.index("closed") < happened.index("reopened: the resident escalated it") < \
        happened.index("escalated to")
    assert text.splitlines()[0].startswith(f"{a}  OPEN  at stage 2")


def test_a_reopened_case_is_listed_as_open_and_its_new_stage_breaches(cli, cases):
    a, b = cases
    listed = {r["ref"]: r for r in rows(cli, "list")}
    assert (listed[a]["status"], listed[a]["stage"], listed[a]["next_milestone"], listed[a]["next_due_on"]) == (
        "open", 2, "acknowledge", "2026-06-24")
    assert listed[b]["status"] == "closed"
    assert cli.show(b)["reopen_by"] == "2026-06-19"
    assert "Escalating it by Fri 19 Jun 2026 reopens it" in cli.ok("show", b, "--as-of", "2026-06-10").stdout
    assert [r["ref"] for r in rows(cli, "list", "--status", "open")] == [a]

    found = rows(cli, "breaches", "--as-of", "2026-06-26")
    assert [(r["ref"], r["stage"], r["milestone"], r["due_on"], r["status"]) for r in found] == [
        (a, 2, "acknowledge", "2026-06-24", "overdue")]
    # the day it fell due it was not yet a breach
    assert rows(cli, "breaches", "--as-of", "2026-06-24") == []


def test_after_the_window_escalation_is_refused_in_one_line_and_nothing_is_written(cli, cases):
    _, b = cases
    before = cli.event_count()
    assert cli.fails("escalate", b, "--on", "2026-06-20").startswith(WINDOW_CLOSED)
    assert cli.event_count() == before
    assert cli.show(b)["status"] == "closed"


def test_statistics_count_a_reopened_case_once_at_each_stage_it_reached(cli, cases):
    a, b = cases
    cli.ok("acknowledge", a, "--on", "2026-06-25")
    cli.ok("review", a, "--outcome", "partly-upheld", "--on", "2026-07-01")
    cli.ok("close", a, "--on", "2026-07-02")
    # at its final stage now: closed again, and escalating it is refused as before
    assert "the final stage of aspire-2017" in cli.fails("escalate", a, "--on", "2026-07-03")

    stats = json.loads(cli.ok("stats", "--from", "2026-06-01", "--to", "2026-07-31", "--format", "json").stdout)
    total = stats["total"]
    assert total["received"]["total"] == 2  # A once, B once: reopening is not a new complaint
    assert total["escalated"]["to_stage"] == {"2": 1}
    assert total["stages"]["1"]["entered"] == 2 and total["stages"]["1"]["responses"] == 2
    assert total["stages"]["2"]["entered"] == 1 and total["stages"]["2"]["responses"] == 1
    # acknowledged a day late (due 24 June); responded in time, within the Code's 20 working days
    assert total["stages"]["2"]["acknowledged_in_time"] == 0
    assert total["stages"]["2"]["responded_in_time"] == 1 and total["stages"]["2"]["within_code"] == 1

    annual = json.loads(cli.ok("report", "annual", "--year", "2026", "--homes", "1000", "--format", "json").stdout)
    assert annual["tsm"]["CH01"] == {"stage 1": {"received": 2, "per_1000_homes": 2.0},
                                     "stage 2": {"received": 1, "per_1000_homes": 1.0}}
    # the reopened case's stage 1 response counts once, when issued; its stage 2 response in stage 2
    stage2 = annual["tsm"]["CH02"]["stage 2"]
    assert (stage2["responses"], stage2["within_code"], stage2["pct_within_code"]) == (1, 1, 100.0)
    assert annual["tsm"]["CH02"]["stage 1"]["responses"] == 2

    listed = {r["ref"]: r for r in rows(cli, "list")}
    assert (listed[a]["status"], listed[a]["closed_on"]) == ("closed", "2026-07-02")
    # as of 26 June, judged on the record as it stood then (the case has moved on since): acknowledged a day late
    found = rows(cli, "breaches", "--as-of", "2026-06-26")
    assert [(r["ref"], r["stage"], r["milestone"], r["status"], r["working_days_late"]) for r in found] == [
        (a, 2, "acknowledge", "late", 1)]
    # the read models, kept up step by step, hold what a rebuild from the whole log gives
    cli.ok("projections", "verify")


def test_the_bundle_tells_the_reopening_in_its_chronology(cli, cases, tmp_path):
    a, _ = cases
    cli.ok("bundle", a, "--output", str(tmp_path / "b"), "--as-of", "2026-06-30")
    data = json.loads((tmp_path / "b" / "case.json").read_text())
    described = [e["description"] for e in data["chronology"]]
    assert "Case reopened (stage 1, closed on 2026-06-08)" in described
    assert "Escalated to stage 2: Still no heating" in described
    assert data["deadlines"] == cli.show(a, as_of="2026-06-30")["deadlines"]


# ------------------------------------------------------------------------------------------------ late, with authority


def staff(cli: Cli) -> None:
    cli.ok("staff", "add", "Dee Director", "--role", "director")
    for name, role in [("Jo Officer", "officer"), ("Mo Manager", "manager")]:
        Cli(cli.url, actor="Dee Director").ok("staff", "add", name, "--role", role)


def test_a_late_escalation_needs_a_manager_and_is_recorded_with_its_reason(cli):
    staff(cli)
    officer, manager = Cli(cli.url, actor="Jo Officer"), Cli(cli.url, actor="Mo Manager")
    ref = closed_stage_1(officer)
    late = ["escalate", ref, "--on", "2026-06-22", "--late-reason", "Resident was in hospital"]
    before = cli.event_count()
    assert officer.fails(*late) == ("Error: Jo Officer (officer) may not accept an escalation after the appeal "
                                    "window: aspire-2017 gives that to manager or head-of-service or director")
    assert cli.event_count() == before
    manager.ok(*late)

    history = cli.history(ref)
    assert [e["event"] for e in history][-3:] == ["LateEscalationAccepted", "Reopened", "Escalated"]
    accepted = history[-3]
    assert accepted["actor"] == "Mo Manager"
    assert accepted["details"]["window_closed_on"] == "2026-06-19"
    assert accepted["details"]["reason"] == "Resident was in hospital"
    assert accepted["details"]["authenticated"] is cli.on_postgres  # a login on PostgreSQL, a typed name on SQLite
    view = cli.show(ref)
    assert (view["status"], view["stage"]) == ("open", 2)
    assert deadline(view, 2, "acknowledge")["due_on"] == "2026-06-29"  # 5 working days after Monday 22 June
    assert view["late_escalations"][0]["reason"] == "Resident was in hospital"
    if not cli.on_postgres:  # typed names: the three staff additions and the late acceptance
        assert cli.ok("verify").stderr.startswith("note: 4 decisions needing authority")


def test_a_late_reason_within_the_window_is_refused(cli):
    ref = closed_stage_1(cli)
    assert cli.fails("escalate", ref, "--on", "2026-06-18", "--late-reason", "x") == (
        f"Error: {ref} can be escalated on 2026-06-18 without a late reason: it is within the appeal window of "
        "aspire-2017 (it closes 2026-06-19)")


def test_refused_and_withdrawn_cases_stay_ended(cli):
    refused = cli.receive("2026-06-01", policy="aspire-2017")
    cli.ok("refuse", refused, "--reason", "legal-action", "--explanation", "Court claim issued", "--on", "2026-06-02")
    withdrawn = cli.receive("2026-06-01", policy="aspire-2017")
    cli.ok("withdraw", withdrawn, "--on", "2026-06-02")
    assert cli.fails("escalate", refused, "--on", "2026-06-03") == \
        f"Error: cannot escalate: {refused} is refused (on 2026-06-02)"
    assert cli.fails("escalate", withdrawn, "--on", "2026-06-03") == \
        f"Error: cannot escalate: {withdrawn} is withdrawn (on 2026-06-02)"


def test_a_closed_case_whose_complainant_was_erased_is_not_reopened(cli):
    ref = cli.receive("2026-03-02")  # the Code's profile: no appeal window, so only the erasure stands in the way
    cli.ok("respond", ref, "--outcome", "not-upheld", "--on", "2026-03-10")
    cli.ok("close", ref, "--on", "2026-03-11")
    cli.ok("erase", "--complainant", cli.show(ref)["complainant_id"], "--reason", "Asked to be forgotten")
    before = cli.event_count()
    error = cli.fails("escalate", ref, "--on", "2026-09-14")
    assert error.startswith(f"Error: cannot escalate: the personal data of {ref}'s complainant was erased on ")
    assert cli.event_count() == before and cli.show(ref)["status"] == "closed"
