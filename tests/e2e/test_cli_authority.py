"""Authority from the seeds, enforced through the CLI once a staff directory exists, on SQLite and PostgreSQL:
OHG's refusals and deviations need a Director, Aspire's compensation a Head of Service, and a stage 2 decision a
manager or above. An unauthorised attempt is one clear line and changes nothing."""

from __future__ import annotations

import pytest

from ._cli import Cli, staff_logins, table


@pytest.fixture
def staffed(cli: Cli) -> Cli:
    return staff(cli)


def staff(cli: Cli) -> Cli:
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


def test_on_sqlite_a_deviation_names_who_approved_it_only_if_they_may_and_is_marked_typed(sqlite_cli: Cli):
    staffed = staff(sqlite_cli)
    ref = staffed.receive("2026-03-02", policy="ohg-2010")
    deviate = ["deviate", ref, "--reason", "Joint visit with the council's environmental health team"]
    assert staffed.fails(*deviate, "--approved-by", "Hana Head") == \
        ("Error: Hana Head (head-of-service) may not approve a deviation from the procedure: ohg-2010 gives that "
         "to director")
    staffed.ok(*deviate, "--approved-by", "dee director", "--on", "2026-03-04")
    [deviation] = staffed.show(ref)["deviations"]
    assert (deviation["approved_by"], deviation["occurred_on"], deviation["actor"], deviation["authenticated"]) == \
        ("Dee Director", "2026-03-04", "tester", False)
    assert staffed.history(ref)[-1]["event"] == "DeviationApproved"


def test_on_sqlite_verify_and_the_bundle_say_which_decisions_were_typed_not_authenticated(sqlite_cli: Cli,
                                                                                          tmp_path):
    import json

    staffed = staff(sqlite_cli)  # four staff changes, each typed
    ref = staffed.receive("2026-03-02", policy="ohg-2010")
    as_(staffed, "Dee Director").ok("refuse", ref, "--reason", "legal-action", "--explanation", "Court claim",
                                    "--on", "2026-03-03")
    staffed.ok("deviate", ref, "--reason", "Joint visit", "--approved-by", "Dee Director", "--on", "2026-03-03")
    result = staffed.ok("verify")
    assert result.stdout.startswith("verified: ")  # exit 0: how the ledger is kept, not tampering
    assert result.stderr == ("note: 6 decisions needing authority (refusals, compensation, deviations, reviews, "
                             "late escalations, staff changes) typed, not authenticated: the decider is a name as "
                             "typed, not a database login (not a break)\n")
    assert "note: 2 decisions" in staffed.ok("verify", ref).stderr  # one case: its own decisions

    staffed.ok("bundle", ref, "--output", str(tmp_path / "b"))
    chronology = json.loads((tmp_path / "b" / "case.json").read_text())["chronology"]
    assert [(e["event"], e["authenticated"]) for e in chronology] == [
        ("Received", None), ("Refused", False), ("DeviationApproved", False)]
    html = (tmp_path / "b" / "case.html").read_text()
    assert html.count("(typed, not authenticated)") == 3  # the refusal and the deviation, in the chronology
    # and the deviation in its own section


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


# ---------------------------------------------------------------------------------------------------- PostgreSQL
# Real logins (members of the ledger's writer role, mapped to people by `staff add --login`): the one who decides is
# the authenticated login, whatever is typed.
STAFF = [("Dee Director", "director", "dee"), ("Jo Officer", "officer", "jo"), ("Mo Manager", "manager", "mo"),
         ("Hana Head", "head-of-service", "hana")]


@pytest.fixture
def logins(ledger_roles, pg_url) -> dict[str, Cli]:
    """A ledger on PostgreSQL whose staff directory maps a login to each person; a Cli per login."""
    return staff_logins(ledger_roles, pg_url, STAFF)


def at_stage_2(cli: Cli) -> str:
    ref = cli.receive("2026-03-02")
    cli.ok("acknowledge", ref, "--on", "2026-03-03")
    cli.ok("respond", ref, "--outcome", "not-upheld", "--on", "2026-03-05")
    cli.ok("escalate", ref, "--on", "2026-03-06")
    return ref


def test_an_officers_login_cannot_record_a_directors_approval_or_any_decision_above_its_role(logins):
    jo, dee = logins["jo"], logins["dee"]
    ohg = jo.receive("2026-03-02", policy="ohg-2010")
    code = at_stage_2(jo)
    jo.ok("compensation", "request", code, "--amount", "150", "--on", "2026-03-06")
    deviate = ["deviate", ohg, "--reason", "Joint visit with the council's environmental health team",
               "--on", "2026-03-04"]
    before = jo.event_count()
    # The probe of issue 17: the approver was a typed name, so an officer could record a director's approval.
    assert jo.fails(*deviate, "--approved-by", "Dee Director") == (
        "Error: only Dee Director's own database login may record their approval: you are logged in as jo "
        "(Jo Officer), and on PostgreSQL the one who approves is the login, never a typed name")
    assert jo.fails(*deviate, "--approved-by", "dee").startswith("Error: only dee's own database login")
    assert jo.fails(*deviate) == ("Error: Jo Officer (officer) may not approve a deviation from the procedure: "
                                  "ohg-2010 gives that to director")
    decisions = [
        ["refuse", ohg, "--reason", "legal-action", "--explanation", "Court claim", "--on", "2026-03-04"],
        ["compensation", "approve", code, "--amount", "100", "--on", "2026-03-07"],
        ["compensation", "decline", code, "--on", "2026-03-07"],
        ["review", code, "--outcome", "upheld", "--on", "2026-03-09"],
        ["staff", "grant", "Jo Officer", "--role", "director"],
        ["staff", "add", "Al Ally", "--role", "director", "--login", "al"],
    ]
    for command in decisions:
        assert "Jo Officer (officer) may not" in jo.fails(*command), command
    assert jo.event_count() == before  # nothing written

    # The approver's own login records it, with or without naming themselves; the decision is authenticated.
    assert dee.ok(*deviate, "--approved-by", "Dee Director").stdout == \
        f"recorded a deviation on {ohg}, approved by Dee Director\n"
    dee.ok(*deviate)
    assert [(d["approved_by"], d["actor"], d["authenticated"]) for d in dee.show(ohg)["deviations"]] == \
        [("Dee Director", "dee", True)] * 2
    logins["hana"].ok("compensation", "approve", code, "--amount", "100", "--on", "2026-03-07")
    logins["mo"].ok("review", code, "--outcome", "upheld", "--on", "2026-03-09")
    last = {e["event"]: e for e in jo.history(code)}
    assert [(last[n]["actor"], last[n]["details"]["authenticated"]) for n in ("Reviewed", "CompensationApproved")] \
        == [("mo", True), ("hana", True)]
    result = jo.ok("verify")
    assert result.stderr == ""  # every decision was taken by an authenticated login: no 'typed' notice


def test_a_program_on_an_officers_login_records_a_named_decider_as_typed_never_as_authenticated(logins, pg_url,
                                                                                               ledger_roles):
    """The Python API takes a typed actor (a program may act for a person), but only the login itself is ever
    recorded as authenticated, and an authenticated login still cannot approve for someone else."""
    from complaints_ledger.adapters.persistence import open_ledger
    from complaints_ledger.domain.errors import NotAuthorised

    from ._cli import login_url, with_role

    jo, dee = logins["jo"], logins["dee"]
    ref = jo.receive("2026-03-02", policy="ohg-2010")
    ledger = open_ledger(login_url(jo.url, "jo"))
    try:
        assert ledger.login() == "jo"
        with pytest.raises(NotAuthorised, match="only Dee Director's own database login"):
            ledger.deviate(ref, reason="Joint visit", approved_by="Dee Director", actor="jo")
        ledger.deviate(ref, reason="Joint visit", approved_by="Dee Director", actor="Dee Director")
    finally:
        ledger.close()
    [deviation] = jo.show(ref)["deviations"]
    assert (deviation["approved_by"], deviation["authenticated"]) == ("Dee Director", False)
    assert "note: 1 decision needing authority" in dee.ok("verify").stderr
    reader = Cli(with_role(pg_url, ledger_roles.reader), actor="ana")  # counted without the personal-data keys
    assert "note: 1 decision needing authority" in reader.ok("verify").stderr


def test_the_e2e_logins_act_as_the_writer_role_not_as_an_owner_or_superuser(cli: Cli):
    """The e2e suite's PostgreSQL runs use least-privilege logins: what an officer's login can do, no more."""
    import sqlalchemy as sa

    from ._cli import login_url, url_role

    if not cli.on_postgres:
        pytest.skip("roles and logins are PostgreSQL's")
    engine = sa.create_engine(login_url(cli.url, "tester"))
    try:
        with engine.connect() as conn:
            who, superuser = conn.execute(sa.text(
                "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")).one()
            assert (who, superuser) == (url_role(cli.url), False) and who.endswith("_writer")
            assert conn.execute(sa.text("SELECT session_user")).scalar() == "tester"
            with pytest.raises(sa.exc.DBAPIError, match="must be owner|permission denied"):
                conn.exec_driver_sql("DROP TABLE complaintsledger_events")
    finally:
        engine.dispose()
