"""Each seed procedure's distinctive rule, enforced through the command line (docs/policy-profiles.md).

Every case is received on Monday 2 March 2026. Easter 2026: Good Friday 3 April and Easter Monday 6 April are bank
holidays in England and Wales.
"""

from __future__ import annotations

from datetime import date

import pytest

from ._cli import Cli, deadline, deadline_rows, error_line

RECEIVED_ON = "2026-03-02"


def receive(cli: Cli, policy: str, *extra: str) -> str:
    return cli.receive(RECEIVED_ON, *extra, policy=policy)


def responded(cli: Cli, policy: str, respond_on: str = "2026-03-06") -> str:
    """A case acknowledged on 3 March and responded to at stage 1."""
    ref = receive(cli, policy)
    cli.ok("acknowledge", ref, "--on", "2026-03-03")
    cli.ok("respond", ref, "--outcome", "not-upheld", "--on", respond_on)
    return ref


def refused_without_writing(cli: Cli, *args: str) -> str:
    before = cli.event_count()
    message = error_line(cli(*args))
    assert cli.event_count() == before
    return message


# ------------------------------------------------------------------------------------------------ Aspire 2017


def test_aspire_escalation_more_than_14_days_after_the_response_is_refused_as_deemed_accepted(sqlite_cli):
    ref = responded(sqlite_cli, "aspire-2017", respond_on="2026-03-06")

    message = refused_without_writing(sqlite_cli, "escalate", ref, "--on", "2026-03-21")

    assert "the 14-day appeal window of aspire-2017 closed on 2026-03-20 (response sent 2026-03-06)" in message
    assert "deemed accepted" in message
    assert sqlite_cli.show(ref)["stage"] == 1


def test_aspire_escalation_on_the_last_day_of_the_appeal_window_opens_stage_2(sqlite_cli):
    ref = responded(sqlite_cli, "aspire-2017", respond_on="2026-03-06")
    before = sqlite_cli.ok("show", ref, "--as-of", "2026-03-06").stdout

    out = sqlite_cli.ok("escalate", ref, "--on", "2026-03-20").stdout

    assert "The window to escalate closes Fri 20 Mar 2026." in before
    assert "Without a reply the outcome will be deemed accepted on Fri 20 Mar 2026." in before
    assert f"{ref}: stage 2 — next: acknowledge by Fri 27 Mar 2026" in out
    view = sqlite_cli.show(ref, as_of="2026-03-20")
    assert (view["stage"], view["stage_name"]) == (2, "Stage 2: Appeal")


def test_the_code_2024_sets_no_appeal_window(sqlite_cli):
    ref = responded(sqlite_cli, "hoc-2024", respond_on="2026-03-06")

    sqlite_cli.ok("escalate", ref, "--on", "2026-05-01")

    assert sqlite_cli.show(ref)["stage"] == 2


@pytest.mark.parametrize("requested_on, accepted", [
    pytest.param("2026-03-09", True, id="7-days-after-receipt"),
    pytest.param("2026-03-10", False, id="8-days-after-receipt"),
])
def test_aspire_accepts_compensation_requests_only_within_7_days_of_the_complaint(sqlite_cli, requested_on,
                                                                                  accepted):
    ref = receive(sqlite_cli, "aspire-2017")
    request = ["compensation", "request", ref, "--amount", "75", "--on", requested_on]

    if accepted:
        assert "requested £75.00" in sqlite_cli.ok(*request).stdout
        assert sqlite_cli.show(ref)["compensation"]["pending"] == "75.00"
    else:
        message = refused_without_writing(sqlite_cli, *request)
        assert ("aspire-2017 accepts compensation requests only within 7 days of the initial complaint "
                "(received 2026-03-02); this request is 8 days after") in message
        assert sqlite_cli.show(ref)["compensation"]["requested"] == "0.00"


def test_the_code_2024_accepts_a_compensation_request_at_any_time(sqlite_cli):
    ref = responded(sqlite_cli, "hoc-2024")

    sqlite_cli.ok("compensation", "request", ref, "--amount", "75", "--on", "2026-06-01")

    assert sqlite_cli.show(ref)["compensation"]["requested"] == "75.00"


def test_aspire_extends_a_deadline_only_with_a_date_agreed_with_the_complainant(sqlite_cli):
    ref = receive(sqlite_cli, "aspire-2017")
    extend = ["extend", ref, "--working-days", "3", "--reason", "Surveyor visit", "--on", "2026-03-04"]

    message = refused_without_writing(sqlite_cli, *extend)
    sqlite_cli.ok(*extend, "--agreed")

    assert "aspire-2017 requires a new response date to be agreed with the complainant" in message
    respond = deadline(sqlite_cli.show(ref, as_of="2026-03-04"), 1, "respond")
    assert (respond["due_on"], respond["extended_by"]) == ("2026-03-12", 3)  # 9 March + 3 working days


# ------------------------------------------------------------------------------------------------ OHG 2010


def at_ohg_stage_3(cli: Cli) -> str:
    """An OHG case decided at stages 1 and 2, escalated to the Area Board panel and acknowledged."""
    ref = responded(cli, "ohg-2010", respond_on="2026-03-10")
    cli.ok("escalate", ref, "--on", "2026-03-11")
    cli.ok("acknowledge", ref, "--on", "2026-03-12")
    cli.ok("review", ref, "--outcome", "not-upheld", "--on", "2026-03-20")
    out = cli.ok("escalate", ref, "--on", "2026-03-23").stdout
    assert "stage 3" in out
    cli.ok("acknowledge", ref, "--on", "2026-03-24")
    return ref


def test_ohg_stage_3_panel_without_a_resident_representative_is_refused(sqlite_cli):
    ref = at_ohg_stage_3(sqlite_cli)

    message = refused_without_writing(sqlite_cli, "hearing", ref, "--panel", "Pat Quinn:board-member",
                                      "--panel", "Sam Okafor:director", "--on", "2026-03-30")

    assert "the Stage 3 (appeal) panel of ohg-2010 must include at least 1 resident representative (has 0)" in message
    assert sqlite_cli.show(ref)["stages"][2]["hearings"] == []


def test_ohg_stage_3_decides_only_after_a_hearing_with_a_resident_representative(sqlite_cli):
    ref = at_ohg_stage_3(sqlite_cli)

    too_soon = refused_without_writing(sqlite_cli, "review", ref, "--outcome", "upheld", "--on", "2026-03-30")
    sqlite_cli.ok("hearing", ref, "--panel", "Ruth Dale:resident-representative", "--panel",
                  "Pat Quinn:board-member", "--on", "2026-03-30")
    sqlite_cli.ok("review", ref, "--outcome", "upheld", "--on", "2026-03-31")

    assert "decides at a panel hearing: record the hearing first" in too_soon
    view = sqlite_cli.show(ref)
    assert (view["stage"], view["final_stage"]) == (3, True)
    assert view["stages"][2]["hearings"][0]["panel"] == [
        {"name": "Ruth Dale", "role": "resident-representative"}, {"name": "Pat Quinn", "role": "board-member"},
    ]
    assert view["stages"][2]["outcome"] == "upheld"


# ------------------------------------------------------------------------------------------------ Broadland 2020


def at_broadland_panel(cli: Cli) -> str:
    """A Broadland case escalated to its Complaint Panel on Wednesday 11 March 2026 and acknowledged."""
    ref = responded(cli, "broadland-2020", respond_on="2026-03-10")
    cli.ok("escalate", ref, "--on", "2026-03-11")
    cli.ok("acknowledge", ref, "--on", "2026-03-12")
    return ref


BROADLAND_PANEL = ["--panel", "Alex Chief:chief-executive", "--panel", "Bea Board:board-member",
                   "--panel", "Cal Board:board-member"]


def test_broadland_stage_2_response_is_provisionally_due_5_working_days_after_the_hearing_is_due(sqlite_cli):
    ref = at_broadland_panel(sqlite_cli)

    view = sqlite_cli.show(ref, as_of="2026-03-12")

    assert deadline(view, 2, "hearing")["due_on"] == "2026-04-01"  # 15 working days after the request
    respond = deadline(view, 2, "respond")
    assert (respond["due_on"], respond["provisional"]) == ("2026-04-10", True)  # over Easter


@pytest.mark.parametrize("hearing_on, respond_due", [
    pytest.param("2026-03-25", "2026-04-01", id="hearing-on-25-march"),
    pytest.param("2026-04-02", "2026-04-13", id="hearing-before-easter"),
])
def test_broadland_stage_2_response_is_due_5_working_days_after_the_hearing(sqlite_cli, hearing_on, respond_due):
    ref = at_broadland_panel(sqlite_cli)

    out = sqlite_cli.ok("hearing", ref, *BROADLAND_PANEL, "--on", hearing_on).stdout

    due = date.fromisoformat(respond_due).strftime("%a %d %b %Y")
    assert f"{ref}: stage 2 — next: respond by {due}" in out
    respond = deadline(sqlite_cli.show(ref, as_of=hearing_on), 2, "respond")
    assert (respond["due_on"], respond["provisional"], respond["status"]) == (respond_due, False, "pending")
    assert {"STAGE": "2", "STEP": "respond", "DUE": due, "EXTENDED BY": "", "STATE": "pending", "DONE": ""} in \
        deadline_rows(sqlite_cli.ok("show", ref, "--as-of", hearing_on).stdout)


def test_broadland_panel_needs_the_chief_executive_and_two_board_members(sqlite_cli):
    ref = at_broadland_panel(sqlite_cli)

    message = refused_without_writing(sqlite_cli, "hearing", ref, "--panel", "Alex Chief:chief-executive",
                                      "--panel", "Bea Board:board-member", "--on", "2026-03-25")

    assert "must include at least 2 board members (has 1)" in message


# ------------------------------------------------------------------------------------------------ Connexus 2021


def at_connexus_review(cli: Cli, escalated_on: str = "2026-03-13") -> str:
    """A Connexus case whose review (stage 2) was requested on Friday 13 March 2026."""
    ref = responded(cli, "connexus-2021", respond_on="2026-03-10")
    out = cli.ok("escalate", ref, "--on", escalated_on).stdout
    assert f"{ref}: stage 2 — next: contact by Mon 16 Mar 2026" in out
    return ref


def test_connexus_review_first_contact_is_due_3_calendar_days_after_the_request(sqlite_cli):
    ref = at_connexus_review(sqlite_cli)

    view = sqlite_cli.show(ref, as_of="2026-03-13")

    assert view["stage_name"] == "Review"
    assert deadline(view, 2, "contact")["due_on"] == "2026-03-16"  # Monday: calendar days, not working days
    assert deadline(view, 2, "acknowledge")["due_on"] == "2026-03-20"  # 5 working days


def test_connexus_review_contact_made_after_3_days_is_late_and_missing_is_overdue(sqlite_cli):
    ref = at_connexus_review(sqlite_cli)

    overdue = deadline(sqlite_cli.show(ref, as_of="2026-03-17"), 2, "contact")
    sqlite_cli.ok("contact", ref, "--summary", "Phoned the resident", "--on", "2026-03-17")
    late = deadline(sqlite_cli.show(ref, as_of="2026-03-17"), 2, "contact")

    assert (overdue["status"], overdue["done_on"]) == ("overdue", None)
    assert (late["status"], late["done_on"], late["working_days_late"]) == ("late", "2026-03-17", 1)


def test_connexus_review_contact_within_3_days_is_met(sqlite_cli):
    ref = at_connexus_review(sqlite_cli)

    sqlite_cli.ok("contact", ref, "--on", "2026-03-16")

    contact = deadline(sqlite_cli.show(ref, as_of="2026-03-16"), 2, "contact")
    assert (contact["status"], contact["done_on"]) == ("met", "2026-03-16")


def test_connexus_may_refuse_an_issue_from_over_3_months_ago_as_out_of_time(sqlite_cli):
    ref = receive(sqlite_cli, "connexus-2021", "--issue-date", "2025-11-20")  # limit ended 20 February 2026

    view = sqlite_cli.show(ref, as_of=RECEIVED_ON)
    sqlite_cli.ok("refuse", ref, "--reason", "out-of-time", "--explanation", "Over three months old", "--on",
                  "2026-03-04")

    assert view["time_limit"] == {"months": 3, "ends_on": "2026-02-20", "outside": True}
    assert sqlite_cli.show(ref)["status"] == "refused"


def test_connexus_may_not_refuse_an_issue_from_within_3_months_as_out_of_time(sqlite_cli):
    ref = receive(sqlite_cli, "connexus-2021", "--issue-date", "2026-01-05")

    message = refused_without_writing(sqlite_cli, "refuse", ref, "--reason", "out-of-time", "--explanation", "Old",
                                      "--on", "2026-03-04")

    assert "within connexus-2021's 3-month time limit" in message
    assert sqlite_cli.show(ref)["time_limit"]["outside"] is False
