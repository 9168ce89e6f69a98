"""An insider with an officer's login and a Python prompt: the CLI refuses to record a director's approval from
it, so they build the event by hand through the library, naming the director's login as actor and claiming
authentication. PostgreSQL stamps every appended decision with the session_user that appended it (a trigger
running as the tables' owner, into a table no writer can write), and `verify` names the forgery."""

from __future__ import annotations

import pytest

from tests.e2e._cli import Cli, login_url, staff_logins

STAFF = [("Dee Director", "director", "dee"), ("Jo Officer", "officer", "jo")]


@pytest.fixture
def logins(ledger_roles, pg_url) -> dict[str, Cli]:
    return staff_logins(ledger_roles, pg_url, STAFF)


def test_a_directors_approval_forged_from_an_officers_login_is_named_by_verify(logins):
    from complaints_ledger.adapters.persistence import open_ledger

    jo, dee = logins["jo"], logins["dee"]
    ref = jo.receive("2026-03-02", policy="ohg-2010")
    dee.ok("deviate", ref, "--reason", "Joint visit", "--on", "2026-03-03")  # a real one: vouched for
    assert jo.ok("verify").stdout.startswith("verified: ")
    assert "Error: only Dee Director's own database login" in jo.fails(
        "deviate", ref, "--reason", "Second visit", "--approved-by", "Dee Director", "--on", "2026-03-04")

    ledger = open_ledger(login_url(jo.url, "jo"))  # the insider: jo's login, the library, no checks
    try:
        case = ledger.get_case(ref)
        case.deviate(reason="Second visit", approved_by="Dee Director", on=case.received_on, today=ledger.today(),
                     actor="dee", authenticated=True)
        ledger.save(case)
    finally:
        ledger.close()
    [_, forged] = jo.show(ref)["deviations"]
    assert (forged["actor"], forged["authenticated"]) == ("dee", True)  # what the forger wrote

    result = jo("verify")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        f"BROKEN  {ref} version 3: DeviationApproved claims dee's authenticated login but was appended by jo")
    assert jo("verify", ref).exit_code == 1


def test_a_ledger_copied_to_a_new_database_verifies_though_the_copier_appended_every_decision(logins, tmp_path):
    """`copy` appends every event as the copying login: the copied decisions are not checked against it (the
    target checks from the move on), and a decision made after the move is vouched for as usual."""
    from tests.conftest import ScratchSchemas

    dee = logins["dee"]
    ref = dee.receive("2026-03-02", policy="ohg-2010")
    dee.ok("deviate", ref, "--reason", "Joint visit", "--on", "2026-03-03")
    schemas = ScratchSchemas()
    try:
        target = schemas.fresh()
        dee.ok("copy", "--to", target)  # run as dee; the target's tables are made and filled by the URL's owner
        moved = Cli(target, actor=None)
        assert moved.ok("verify").stdout.startswith("verified: ")
        Cli(target, actor="dee").ok("deviate", ref, "--reason", "Second visit", "--on", "2026-03-04")
        assert moved.ok("verify").stdout.startswith("verified: ")
        assert [d["authenticated"] for d in moved.show(ref)["deviations"]] == [True, True]
    finally:
        schemas.close()
