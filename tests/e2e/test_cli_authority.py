"""Authority from the seeds, enforced through the CLI once a staff directory exists, on SQLite and PostgreSQL:
OHG's refusals and deviations need a Director, Aspire's compensation a Head of Service, and a stage 2 decision a
manager or above. An unauthorised attempt is one clear line and changes nothing."""

from __future__ import annotations

import pytest

from ._cli import Cli, table


@pytest.fixture
def staffed(cli: Cli) -> Cli:
    cli.ok("staff", "add", "Dee Director", "--role", "director")  # the first keeps the directory from then on
    for name, role in [("Jo Officer", "officer"), ("Mo Manager", "manager"), ("Hana Head", "head-of-service")]:
        as_(cli, "Dee Director").ok("staff", "add", name, "--role", role)
    return cli


def as_(cli: Cli, actor: str) -> Cli:
    return Cli(cli.url, actor=actor)


def test_without_a_staff_directory_nothing_is_checked(cli: Cli):
    ref = cli.receive("2026-03-02", policy="ohg-2010")
    cli.ok("refuse", ref, "--reason", "legal-action", "--explanation", "A court claim is under way", "--on",
           "2026-03-03")  # the single user of an embedded ledger decides everything


def test_an_ohg_refusal_needs_a_director(staffed: Cli):
    ref = staffed.receive("2026-03-02", policy="ohg-2010")
    refuse = ["refuse", ref, "--reason", "legal-action", "--explanation", "A court claim is under way",
              "--on", "2026-03-03"]
    before = staffed.event_count()
    assert as_(staffed, "Mo Manager").fails(*refuse) == \
        "Error: Mo Manager (manager) may not refuse a complaint: ohg-2010 gives that to director"
    assert as_(staffed, "tester").fails(*refuse) == \
        "Error: tester is not in the staff directory, so may not refuse a complaint (complaints staff add)"
    assert staffed.event_count() == before
    as_(staffed, "Dee Director").ok(*refuse)
    assert staffed.show(ref)["status"] == "refused"
    assert staffed.history(ref)[-1]["actor"] == "Dee Director"


def test_a_code_refusal_may_be_made_by_a_manager(staffed: Cli):
    ref = staffed.receive("2026-03-02")
    as_(staffed, "Mo Manager").ok("refuse", ref, "--reason", "legal-action", "--explanation", "Court claim",
                                  "--on", "2026-03-03")


def test_aspire_compensation_is_approved_by_a_head_of_service_only(staffed: Cli):
    ref = staffed.receive("2026-03-02", policy="aspire-2017")
    staffed.ok("compensation", "request", ref, "--amount", "150", "--on", "2026-03-03")
    approve = ["compensation", "approve", ref, "--amount", "100", "--on", "2026-03-04"]
    assert as_(staffed, "Dee Director").fails(*approve) == \
        "Error: Dee Director (director) may not decide on compensation: aspire-2017 gives that to head-of-service"
    as_(staffed, "Hana Head").ok(*approve)
    assert staffed.show(ref)["compensation"]["approved"] == "100.00"


def test_a_role_granted_later_counts_from_then_and_a_revoked_one_no_longer_does(staffed: Cli):
    ref = staffed.receive("2026-03-02", policy="ohg-2010")
    refuse = ["refuse", ref, "--reason", "legal-action", "--explanation", "Court claim", "--on", "2026-03-03"]
    as_(staffed, "Dee Director").ok("staff", "grant", "Mo Manager", "--role", "director")
    as_(staffed, "Dee Director").ok("staff", "revoke", "Mo Manager", "--role", "director")
    assert "may not refuse" in as_(staffed, "Mo Manager").fails(*refuse)


def test_a_deviation_is_recorded_with_who_approved_it_only_if_they_may(staffed: Cli):
    ref = staffed.receive("2026-03-02", policy="ohg-2010")
    deviate = ["deviate", ref, "--reason", "Joint visit with the council's environmental health team"]
    assert staffed.fails(*deviate, "--approved-by", "Hana Head") == \
        ("Error: Hana Head (head-of-service) may not approve a deviation from the procedure: ohg-2010 gives that "
         "to director")
    staffed.ok(*deviate, "--approved-by", "dee director", "--on", "2026-03-04")
    [deviation] = staffed.show(ref)["deviations"]
    assert (deviation["approved_by"], deviation["occurred_on"], deviation["actor"]) == \
        ("Dee Director", "2026-03-04", "tester")
    assert staffed.history(ref)[-1]["event"] == "DeviationApproved"


def test_the_bundle_shows_each_actor_with_the_roles_they_held_when_it_was_recorded(staffed: Cli, tmp_path):
    import json

    ref = staffed.receive("2026-03-02", policy="ohg-2010")
    as_(staffed, "Dee Director").ok("refuse", ref, "--reason", "legal-action", "--explanation", "Court claim",
                                    "--on", "2026-03-03")
    as_(staffed, "Dee Director").ok("staff", "grant", "Dee Director", "--role", "board-member")  # held later
    staffed.ok("bundle", ref, "--output", str(tmp_path / "b"))

    chronology = json.loads((tmp_path / "b" / "case.json").read_text())["chronology"]
    assert [(e["event"], e["actor"], e["actor_roles"]) for e in chronology] == [
        ("Received", "tester", None), ("Refused", "Dee Director", ["director"])]
    assert "Dee Director (director)" in (tmp_path / "b" / "case.html").read_text()


def test_only_a_director_or_head_of_service_keeps_the_staff_directory(cli: Cli):
    assert cli.fails("staff", "add", "Jo Officer", "--role", "officer") == (
        "Error: the first person in the staff directory must be a director or head of service, who can then add "
        "everyone else")
    cli.ok("staff", "add", "Dee Director", "--role", "director")
    assert cli.fails("staff", "add", "Jo Officer", "--role", "officer") == \
        "Error: tester (not in the staff directory) may not change the staff directory: a director or head of " \
        "service may"
    dee = as_(cli, "Dee Director")
    dee.ok("staff", "add", "Jo Officer", "--role", "officer")
    assert "Jo Officer (officer) may not change" in as_(cli, "Jo Officer").fails(
        "staff", "grant", "Jo Officer", "--role", "director")
    assert dee.fails("staff", "revoke", "Dee Director", "--role", "director") == \
        "Error: that would leave no director or head of service to manage the staff directory"
    assert [m["NAME"] for m in table(cli.ok("staff", "list").stdout)] == ["Dee Director", "Jo Officer"]


def test_a_panel_member_sitting_as_a_staff_role_must_hold_it_in_the_directory(staffed: Cli):
    from .test_cli_seed_rules import at_ohg_stage_3

    ref = at_ohg_stage_3(as_(staffed, "Dee Director"))
    hearing = ["hearing", ref, "--panel", "Ruth Dale:resident-representative", "--panel",
               "Pat Quinn:board-member", "--on", "2026-03-30"]
    before = staffed.event_count()
    assert staffed.fails(*hearing) == \
        "Error: Ruth Dale cannot sit on the panel as resident-representative: is not in the staff directory"
    as_(staffed, "Dee Director").ok("staff", "add", "Ruth Dale", "--role", "resident-representative")
    as_(staffed, "Dee Director").ok("staff", "add", "Pat Quinn", "--role", "officer")
    assert staffed.fails(*hearing) == "Error: Pat Quinn cannot sit on the panel as board-member: holds officer"
    assert staffed.event_count() == before + 2  # only the two directory entries
    as_(staffed, "Dee Director").ok("staff", "grant", "Pat Quinn", "--role", "board-member")
    staffed.ok(*hearing)
    assert staffed.show(ref)["stages"][2]["hearings"][0]["panel"][1] == {"name": "Pat Quinn", "role": "board-member"}
