"""Bad input of any kind gets one `Error: …` line on stderr, a non-zero exit, and writes nothing (docs/commands.md).

Usage errors (a malformed option, a missing one) exit 2; user errors (a step the procedure does not allow, an unknown
reference, an unreachable database) exit 1. "Writes nothing" is checked by counting the ledger's events before and
after, and by the next issued reference: a refused `receive` uses up no number.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import Cli, error_line

REF = "CMP-2026-000001"  # the first complaint received in 2026 on a fresh ledger
RECEIVED_ON = "2026-03-02"  # a Monday: stage 1 acknowledgement due 2026-03-09, response 10 working days after that

ACK = ["acknowledge", REF, "--on", "2026-03-03"]
RESPOND = ["respond", REF, "--outcome", "upheld", "--on", "2026-03-10"]
ESCALATE = ["escalate", REF, "--on", "2026-03-16"]
ACK_2 = ["acknowledge", REF, "--on", "2026-03-17"]
REVIEW = ["review", REF, "--outcome", "not-upheld", "--on", "2026-04-01"]
REQUEST = ["compensation", "request", REF, "--amount", "150", "--on", "2026-03-10"]
APPROVE = ["compensation", "approve", REF, "--amount", "100", "--on", "2026-03-11"]

USER_ERROR, USAGE_ERROR = 1, 2

# (steps that succeed first, the bad command, its exit code, what the error line must say)
BAD_STEPS = {
    "unknown-reference": (
        [], ["acknowledge", "CMP-2026-000999", "--on", "2026-03-03"], USER_ERROR,
        "no complaint with reference CMP-2026-000999"),
    "unknown-reference-lower-case": (
        [], ["respond", "cmp-2025-000001", "--outcome", "upheld"], USER_ERROR,
        "no complaint with reference CMP-2025-000001"),
    "malformed-reference": (
        [], ["acknowledge", "not a ref!"], USER_ERROR, "reference 'not a ref!' is not valid"),
    "acknowledge-twice": (
        [ACK], ["acknowledge", REF, "--on", "2026-03-04"], USER_ERROR,
        f"stage 1 of {REF} was already acknowledged on 2026-03-03"),
    "escalate-beyond-the-last-stage": (
        [ACK, RESPOND, ESCALATE, ACK_2, REVIEW], ["escalate", REF, "--on", "2026-04-02"], USER_ERROR,
        f"{REF} is at stage 2, the final stage of hoc-2024"),
    "escalate-before-a-response-is-due": (
        [ACK], ["escalate", REF, "--on", "2026-03-05"], USER_ERROR,
        "has not been responded to yet and its response is not overdue (due 2026-03-17)"),
    "close-before-the-response": (
        [ACK], ["close", REF, "--on", "2026-03-05"], USER_ERROR,
        f"cannot close {REF}: stage 1 has not been responded to"),
    "respond-twice": (
        [ACK, RESPOND], ["respond", REF, "--outcome", "not-upheld", "--on", "2026-03-11"], USER_ERROR,
        f"stage 1 of {REF} was already decided on 2026-03-10 (upheld)"),
    "review-at-stage-1": (
        [ACK], ["review", REF, "--outcome", "upheld", "--on", "2026-03-04"], USER_ERROR,
        f"{REF} is at stage 1: record its response"),
    "act-on-a-closed-case": (
        [ACK, RESPOND, ["close", REF, "--on", "2026-03-11"]], ["withdraw", REF, "--on", "2026-03-12"], USER_ERROR,
        f"cannot withdraw: {REF} is closed (on 2026-03-11)"),
    "extension-over-the-cap": (
        [ACK], ["extend", REF, "--working-days", "11", "--reason", "surveyor", "--on", "2026-03-04"], USER_ERROR,
        "would exceed hoc-2024's cap of 10 working days"),
    "date-with-slashes": (
        [], ["acknowledge", REF, "--on", "03/03/2026"], USAGE_ERROR,
        "Invalid value for '--on': '03/03/2026' is not a date in the form YYYY-MM-DD"),
    "date-that-does-not-exist": (
        [], ["acknowledge", REF, "--on", "2026-02-30"], USAGE_ERROR,
        "'2026-02-30' is not a date in the form YYYY-MM-DD"),
    "date-in-words": (
        [], ["acknowledge", REF, "--on", "yesterday"], USAGE_ERROR, "'yesterday' is not a date"),
    "future-date": (
        [], ["acknowledge", REF, "--on", "2030-01-02"], USER_ERROR, "2030-01-02 is in the future"),
    "future-date-on-a-note": (
        [], ["note", REF, "Will call back", "--on", "2030-01-02"], USER_ERROR, "2030-01-02 is in the future"),
    "date-before-receipt": (
        [], ["acknowledge", REF, "--on", "2026-03-01"], USER_ERROR,
        f"2026-03-01 is before {REF} was received (2026-03-02)"),
    "note-dated-before-receipt": (
        [], ["note", REF, "Called", "--on", "2026-02-27"], USER_ERROR, f"is before {REF} was received"),
    "step-out-of-order": (
        [["acknowledge", REF, "--on", "2026-03-05"]], ["respond", REF, "--outcome", "upheld", "--on", "2026-03-04"],
        USER_ERROR, "steps must be recorded in the order they happened"),
    "amount-with-fractions-of-a-penny": (
        [], ["compensation", "request", REF, "--amount", "1.234"], USAGE_ERROR,
        "amount '1.234' has fractions of a penny"),
    "negative-amount": (
        [], ["compensation", "request", REF, "--amount", "-5"], USAGE_ERROR,
        "amount must be more than £0.00, not '-5'"),
    "amount-that-is-not-money": (
        [], ["compensation", "request", REF, "--amount", "abc"], USAGE_ERROR, "amount 'abc' is not a sum of money"),
    "zero-amount": (
        [], ["compensation", "request", REF, "--amount", "0"], USAGE_ERROR, "must be more than £0.00"),
    "approve-without-a-request": (
        [ACK], ["compensation", "approve", REF, "--amount", "50", "--on", "2026-03-04"], USER_ERROR,
        f"no compensation request on {REF} is awaiting a decision"),
    "second-request-while-one-is-pending": (
        [REQUEST], ["compensation", "request", REF, "--amount", "20", "--on", "2026-03-10"], USER_ERROR,
        "a compensation request for £150.00 on CMP-2026-000001 is still awaiting a decision"),
    "pay-more-than-approved": (
        [REQUEST, APPROVE], ["compensation", "pay", REF, "--amount", "150", "--on", "2026-03-12"], USER_ERROR,
        f"paying £150.00 on {REF} would exceed the £100.00 approved or ordered"),
    "offset-more-than-the-payment": (
        [REQUEST, APPROVE], ["compensation", "pay", REF, "--amount", "50", "--offset", "60", "--on", "2026-03-12"],
        USER_ERROR, "the offset against arrears (£60.00) cannot exceed the amount paid (£50.00)"),
    "panel-member-without-a-role": (
        [], ["hearing", REF, "--panel", "Pat Quinn"], USAGE_ERROR, "'Pat Quinn' should be NAME:ROLE"),
    "panel-member-with-an-unknown-role": (
        [], ["hearing", REF, "--panel", "Pat Quinn:janitor"], USAGE_ERROR,
        "role 'janitor' for Pat Quinn is not one of: chief-executive"),
    "hearing-at-a-stage-without-a-panel": (
        [ACK], ["hearing", REF, "--panel", "Pat Quinn:chief-executive", "--on", "2026-03-04"], USER_ERROR,
        "stage 1 of hoc-2024 (Stage 1) has no panel hearing"),
    "satisfaction-score-out-of-range": (
        [], ["satisfaction", REF, "--score", "6"], USAGE_ERROR, "Invalid value for '--score'"),
    "missing-required-option": (
        [], ["extend", REF, "--working-days", "5"], USAGE_ERROR, "Missing option '--reason'"),
    "missing-reference": (
        [], ["acknowledge"], USAGE_ERROR, "Missing argument 'REF'"),
    "show-as-of-before-receipt": (
        [], ["show", REF, "--as-of", "2026-03-01"], USER_ERROR,
        f"{REF} was received on 2026-03-02; there is nothing to show as of 2026-03-01"),
    "show-an-unknown-reference": (
        [], ["show", "CMP-2026-000002"], USER_ERROR, "no complaint with reference CMP-2026-000002"),
    "history-of-an-unknown-reference": (
        [], ["history", "CMP-2026-000002"], USER_ERROR, "no complaint with reference CMP-2026-000002"),
    "unknown-command": (
        [], ["frobnicate", REF], USAGE_ERROR, "No such command 'frobnicate'"),
}

RECEIVE = ["receive", "--complainant", "Sam Resident", "--channel", "phone", "--summary", "Heating not working"]
BAD_RECEIPTS = {
    "bad-channel": (["--channel", "fax"], USAGE_ERROR, "Invalid value for '--channel': 'fax' is not one of"),
    "unknown-policy": (["--policy", "nope-2099"], USER_ERROR,
                       "no policy profile named 'nope-2099' (shipped: aspire-2017, broadland-2020, connexus-2021, "
                       "hoc-2024, ohg-2010)"),
    "policy-and-policy-file": (["--policy", "hoc-2024", "--policy-file", "mine.toml"], USAGE_ERROR,
                               "give --policy or --policy-file, not both"),
    "missing-policy-file": (["--policy-file", "/nonexistent/mine.toml"], USER_ERROR,
                            "cannot read policy file /nonexistent/mine.toml"),
    "future-receipt": (["--received-on", "2030-01-02"], USER_ERROR, "received date 2030-01-02 is in the future"),
    "badly-written-receipt-date": (["--received-on", "2 March 2026"], USAGE_ERROR,
                                   "'2 March 2026' is not a date in the form YYYY-MM-DD"),
    "issue-after-receipt": (["--received-on", "2026-03-02", "--issue-date", "2026-03-05"], USER_ERROR,
                            "issue date 2026-03-05 is after the complaint was received (2026-03-02)"),
    "blank-complainant": (["--complainant", "  "], USER_ERROR, "complainant must not be empty"),
    "authorised-without-a-representative": (["--authorised"], USER_ERROR, "needs the representative's name"),
    "reference-already-taken": (["--ref", REF.lower()], USER_ERROR,
                                f"a complaint with reference {REF} already exists"),
}


@pytest.fixture
def case(cli) -> str:
    """A complaint received on Monday 2 March 2026 under the default Code 2024 profile."""
    ref = cli.receive(RECEIVED_ON)
    assert ref == REF
    return ref


@pytest.mark.parametrize("steps, bad, exit_code, says", BAD_STEPS.values(), ids=BAD_STEPS.keys())
def test_a_refused_step_is_one_error_line_a_non_zero_exit_and_writes_nothing(cli, case, steps, bad, exit_code,
                                                                             says):
    for step in steps:
        cli.ok(*step)
    events_before, version_before = cli.event_count(), cli.show(case)["version"]

    result = cli(*bad)

    message = error_line(result)
    assert says in message
    assert result.exit_code == exit_code
    assert result.stdout == ""
    assert cli.event_count() == events_before
    assert cli.show(case)["version"] == version_before


@pytest.mark.parametrize("change, exit_code, says", BAD_RECEIPTS.values(), ids=BAD_RECEIPTS.keys())
def test_a_refused_receipt_is_one_error_line_and_uses_up_no_reference_number(cli, case, change, exit_code, says):
    events_before = cli.event_count()

    result = cli(*RECEIVE, "--received-on", "2026-03-03", *change)

    assert says in error_line(result)
    assert result.exit_code == exit_code
    assert result.stdout == ""
    assert cli.event_count() == events_before
    assert cli.receive("2026-03-04") == "CMP-2026-000002"


@pytest.mark.parametrize("bad, option", [
    pytest.param(["respond", REF], "--outcome", id="respond-without-outcome"),
    pytest.param(RECEIVE[:3] + RECEIVE[5:], "--channel", id="receive-without-channel"),
    pytest.param(["feedback", "--summary", "Thanks"], "--kind", id="feedback-without-kind"),
    pytest.param(["refuse", REF, "--explanation", "Court claim issued"], "--reason", id="refuse-without-reason"),
])
def test_a_missing_required_choice_option_is_still_one_error_line(sqlite_cli, bad, option):
    sqlite_cli.receive(RECEIVED_ON)
    events_before = sqlite_cli.event_count()

    result = sqlite_cli(*bad)

    assert result.exit_code == USAGE_ERROR
    assert sqlite_cli.event_count() == events_before
    assert f"Missing option '{option}'" in error_line(result)


def test_a_missing_required_option_with_free_text_is_one_error_line(sqlite_cli):
    result = sqlite_cli("receive", "--complainant", "Sam Resident", "--channel", "phone")

    assert error_line(result) == "Error: Missing option '--summary'."
    assert result.exit_code == USAGE_ERROR
    assert sqlite_cli.event_count() == 0


def test_an_empty_actor_is_refused(sqlite_cli):
    sqlite_cli.actor = "   "

    result = sqlite_cli("receive", *RECEIVE[1:])

    assert error_line(result) == "Error: --actor must not be empty"
    assert result.exit_code == USAGE_ERROR
    assert sqlite_cli.event_count() == 0


# ------------------------------------------------------------------------------------------------ the database


UNREACHABLE = "postgresql://u:secret@127.0.0.1:1/x"


@pytest.mark.parametrize("command", [
    pytest.param(["init"], id="init"),
    pytest.param(["show", REF], id="show"),
    pytest.param(["history", REF], id="history"),
    pytest.param(RECEIVE, id="receive"),
    pytest.param(["acknowledge", REF, "--on", "2026-03-03"], id="acknowledge"),
])
def test_an_unreachable_database_is_one_error_line_without_the_password(command):
    result = Cli(UNREACHABLE)(*command)

    message = error_line(result)
    assert result.exit_code == USER_ERROR
    assert message.startswith("Error: cannot open the ledger at postgresql+psycopg2://u@127.0.0.1:1/x: ")
    assert "secret" not in result.stderr + result.stdout


def test_an_unreachable_database_named_in_COMPLAINTS_DB_is_one_error_line_without_the_password():
    result = Cli(url=None)("show", REF, env={"COMPLAINTS_DB": UNREACHABLE})

    assert "cannot open the ledger at postgresql+psycopg2://u@127.0.0.1:1/x" in error_line(result)
    assert "secret" not in result.stderr


@pytest.mark.parametrize("command", [["show", REF], ["history", REF, "--format", "json"]])
def test_reading_a_missing_sqlite_ledger_says_to_run_complaints_init_and_creates_no_file(tmp_path, command):
    path = tmp_path / "never-created.db"

    result = Cli(f"sqlite:///{path}")(*command)

    message = error_line(result)
    assert result.exit_code == USER_ERROR
    assert "complaints init" in message
    assert str(path) in message
    assert not path.exists()


def test_a_ledger_in_a_folder_that_does_not_exist_is_one_error_line(tmp_path):
    missing = tmp_path / "no-such-folder" / "ledger.db"

    result = Cli(str(missing))(*RECEIVE)

    assert error_line(result) == (f"Error: cannot create a ledger at {missing}: "
                                  f"folder {missing.parent} does not exist")
    assert not missing.parent.exists()


def test_a_bare_path_is_an_sqlite_file(tmp_path):
    path: Path = tmp_path / "plain.db"

    assert Cli(str(path)).receive(RECEIVED_ON) == REF
    assert Cli(f"sqlite:///{path}").show(REF)["ref"] == REF
