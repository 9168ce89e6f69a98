"""Nothing a user types breaks the command line: every value beyond its bound (docs/limits.md) is one short `Error: …`
line on stderr, a non-zero exit, nothing on stdout, and the events table as it was.

Each case here was, before these bounds, an accepted absurdity (a case dated 1900, £123 from "1,2,3"), a traceback
(OverflowError, RecursionError, UnicodeDecodeError), a command spinning at 100 % CPU (--poll 0), or a 100 KB "one
line" error echoing what was pasted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from complaints_ledger.domain import limits

from ._cli import Cli, error_line

REF = "CMP-2026-000001"
RECEIVED_ON = "2026-03-02"
RECEIVE = ["receive", "--complainant", "Sam Resident", "--channel", "phone", "--summary", "Heating not working",
           "--received-on", "2026-03-03"]
HUGE = "9" * 23  # 99999999999999999999999: past every 64-bit integer
SHORT = 400  # an error line's most characters: its own words and at most a 40-character prefix of what was typed
DELIVER = ["events", "deliver", "--url", "http://127.0.0.1:9/", "--secret-env", "HOOK_SECRET", "--once"]


@pytest.fixture
def case(cli) -> str:
    assert cli.receive(RECEIVED_ON) == REF
    return REF


@pytest.fixture
def sqlite_case(sqlite_cli) -> str:
    assert sqlite_cli.receive(RECEIVED_ON) == REF
    return REF


def refused(cli: Cli, *args: str, env: dict[str, str] | None = None) -> str:
    """Run a command that must be refused with one short line and write nothing; returns the line."""
    before = cli.event_count()
    result = cli(*args, env=env)
    line = error_line(result)
    assert len(line) < SHORT, f"{len(line)} characters: {line[:200]}…"
    assert result.stdout == ""
    assert cli.event_count() == before
    return line


# ------------------------------------------------------------------------------------------------ dates
def test_a_complaint_received_in_1900_is_refused_and_uses_up_no_reference(cli, case):
    line = refused(cli, *RECEIVE[:-1], "1900-01-01")

    assert "1900-01-01 is before 1990-01-01, the earliest date the ledger records" in line
    assert "CMP-1900" not in cli("list", "--format", "json").stdout
    assert cli.receive("2026-03-04") == "CMP-2026-000002"


@pytest.mark.parametrize("args, says", [
    pytest.param(["acknowledge", REF, "--on", "1989-12-31"], "is before 1990-01-01", id="step-before-1990"),
    pytest.param(["acknowledge", REF, "--on", "٢٠٢٦-٠٣-٠٣"], "is not a date in the form YYYY-MM-DD",
                 id="arabic-indic-digits"),
    pytest.param(["acknowledge", REF, "--on", "２０２６-03-03"], "is not a date in the form YYYY-MM-DD",
                 id="full-width-digits"),
    pytest.param(["acknowledge", REF, "--on", "9999-12-31"], "is after 2100-12-31", id="step-in-9999"),
    pytest.param([*RECEIVE, "--issue-date", "1950-01-01"], "is before 1990-01-01", id="issue-date-1950"),
    pytest.param(["show", REF, "--as-of", "9999-12-31"], "9999-12-31 is after 2100-12-31", id="show-as-of-9999"),
    pytest.param(["breaches", "--to", "9999-12-31"], "is after 2100-12-31", id="breaches-to-9999"),
    pytest.param(["stats", "--from", "0001-01-01"], "is before 1990-01-01", id="stats-from-year-1"),
    pytest.param(["retention", "--closed-before", "0001-01-01"], "is before 1990-01-01", id="retention-year-1"),
    pytest.param(["show", REF, "--known-at", "9999-12-31T23:00-05:00"], "is after 2100-12-31",
                 id="known-at-past-utc's-last-day"),
    pytest.param(["simulate", "--cases", "1", "--until", "9999-12-31"], "is after 2100-12-31", id="simulate-9999"),
    pytest.param(["report", "annual", "--year", "1900", "--homes", "100"], "1990<=x<=2099", id="annual-1900"),
    pytest.param(["report", "committee", "--from", "1990-01-01", "--to", "2100-12-31"],
                 "--from 1990-01-01 to --to 2100-12-31 is more than 10 years", id="committee-110-years"),
])
def test_a_date_outside_1990_to_2100_or_in_other_digits_is_one_line(sqlite_cli, sqlite_case, args, says):
    assert says in refused(sqlite_cli, *args)


# ------------------------------------------------------------------------------------------------ money
NOT_MONEY, TOO_MUCH = "is not a sum of money", "is implausibly large (over £100,000.00)"


@pytest.mark.parametrize("amount, says", [(a, NOT_MONEY) for a in ("1,2,3", "1e3", "0x10", "+5", "NaN", "Infinity",
                                                                   "1_000", "٣", "£150", "1,200.00")]
                         + [("100000.01", TOO_MUCH), ("9" * 5000, TOO_MUCH)])
def test_an_amount_that_is_not_pounds_and_pence_in_figures_is_refused(sqlite_cli, sqlite_case, amount, says):
    line = refused(sqlite_cli, "compensation", "request", REF, "--amount", amount, "--on", "2026-03-04")

    assert "Invalid value for '--amount'" in line and says in line


def test_a_negative_amount_says_it_must_be_more_than_nothing(sqlite_cli, sqlite_case):
    assert "amount must be more than £0.00, not '-5'" in refused(sqlite_cli, "compensation", "request", REF,
                                                                 "--amount", "-5")


def test_an_amount_in_figures_is_recorded_exactly(cli, case):
    out = cli.ok("compensation", "request", REF, "--amount", " 1250.5 ", "--on", "2026-03-04").stdout
    assert "requested £1,250.50" in out


# ------------------------------------------------------------------------------------------------ numbers
@pytest.mark.parametrize("args", [
    pytest.param(["list", "--stage", HUGE], id="list-stage-huge"),
    pytest.param(["list", "--stage", "10"], id="list-stage-10"),
    pytest.param(["list", "--due-within", HUGE], id="list-due-within-huge"),
    pytest.param(["list", "--due-within", "3651"], id="list-due-within-3651"),
    pytest.param(["breaches", "--limit", HUGE], id="breaches-limit-huge"),
    pytest.param(["extend", REF, "--working-days", HUGE, "--reason", "surveyor"], id="extend-huge"),
    pytest.param(["satisfaction", REF, "--score", HUGE], id="score-huge"),
    pytest.param(["events", "--after", HUGE], id="events-after-huge"),
    pytest.param(["events", "--limit", HUGE], id="events-limit-huge"),
    pytest.param(["events", "dead-letters", "--requeue", HUGE], id="dead-letter-id-huge"),
    pytest.param(["simulate", "--cases", HUGE], id="simulate-cases-huge"),
    pytest.param(["simulate", "--cases", "1", "--seed", "-1"], id="simulate-seed-negative"),
    pytest.param(["simulate", "--cases", "1", "--seed", HUGE], id="simulate-seed-huge"),
    pytest.param(["demo", "--seed", HUGE], id="demo-seed-huge"),
    pytest.param(["report", "annual", "--year", "2025", "--homes", HUGE], id="annual-homes-huge"),
    pytest.param(["report", "annual", "--year", HUGE, "--homes", "100"], id="annual-year-huge"),
    pytest.param([*DELIVER, "--max-attempts", HUGE], id="deliver-attempts-huge"),
    pytest.param([*DELIVER, "--timeout", "inf"], id="deliver-timeout-inf"),
    pytest.param([*DELIVER, "--timeout", "0"], id="deliver-timeout-0"),
    pytest.param([*DELIVER, "--backoff", "nan"], id="deliver-backoff-nan"),
    pytest.param([*DELIVER, "--backoff", "61"], id="deliver-backoff-61"),
    pytest.param(["list", "--stage", "9" * 100_000], id="list-stage-100000-digits"),
])
def test_a_number_beyond_its_bound_is_one_usage_line_not_an_overflow(sqlite_cli, sqlite_case, args):
    line = refused(sqlite_cli, *args, env={"HOOK_SECRET": "s3cret"})

    assert line.startswith("Error: Invalid value for ")


@pytest.mark.parametrize("poll", ["0", "-1", "nan", "inf", "1e3", "3601"])
@pytest.mark.parametrize("command", [
    pytest.param(["events", "--follow"], id="events"),
    pytest.param(DELIVER[:-1], id="events-deliver"),
    pytest.param(["projections", "follow"], id="projections-follow"),
])
def test_a_poll_interval_that_would_spin_or_never_wake_is_refused(sqlite_cli, sqlite_case, command, poll):
    line = refused(sqlite_cli, *command, "--poll", poll, env={"HOOK_SECRET": "s3cret"})

    assert f"Invalid value for '--poll': '{poll}' is not a number of seconds above 0 and at most 3,600" in line


def test_the_largest_position_is_still_a_question_the_database_answers(cli, case):
    top = str(limits.MAX_POSITION)

    assert cli.ok("events", "--after", top).stdout == ""
    assert "no dead letter" in refused(cli, "events", "dead-letters", "--requeue", top)


def test_the_largest_horizon_and_limit_are_answered(sqlite_cli, sqlite_case):
    assert sqlite_cli.ok("list", "--due-within", str(limits.MAX_DUE_WITHIN), "--format", "json").stdout
    sqlite_cli.ok("breaches", "--limit", str(limits.MAX_LIMIT))


# ------------------------------------------------------------------------------------------------ text
def test_a_100000_character_reference_is_quoted_by_its_first_40_characters(sqlite_cli, sqlite_case):
    line = refused(sqlite_cli, "acknowledge", "X" * 100_000)

    assert line.startswith("Error: reference '" + "X" * 40 + "…' is not valid")


@pytest.mark.parametrize("args, says", [
    pytest.param([*RECEIVE[:6], "s" * 2_001, *RECEIVE[7:]], "summary is 2,001 characters long; the ledger keeps at most 2,000",
                 id="summary-2001"),
    pytest.param([*RECEIVE[:2], "Sam\x00Resident", *RECEIVE[3:]], "complainant contains a control character (U+0000",
                 id="nul-in-a-name"),
    pytest.param([*RECEIVE[:2], "Sam\nResident", *RECEIVE[3:]], "complainant contains a control character (U+000A",
                 id="newline-in-a-name"),
    pytest.param([*RECEIVE, "--contact", "0" * 501], "contact is 501 characters long", id="contact-501"),
    pytest.param([*RECEIVE, "--category", "c" * 201], "category is 201 characters long", id="category-201"),
    pytest.param(["note", REF, "n" * 10_001, "--on", "2026-03-03"], "the note is 10,001 characters long",
                 id="note-10001"),
    pytest.param(["learning", REF, "l" * 10_001, "--on", "2026-03-03"], "the learning is 10,001 characters long",
                 id="learning-10001"),
    pytest.param(["respond", REF, "--outcome", "upheld", "--remedy", "r" * 2_001, "--on", "2026-03-03"],
                 "a remedy is 2,001 characters long", id="remedy-2001"),
    pytest.param(["deviate", REF, "--reason", "visit", "--approved-by", "D" * 201, "--on", "2026-03-03"],
                 "who approved the deviation is 201 characters long", id="approved-by-201"),
    pytest.param(["staff", "add", "N" * 201, "--role", "director"], "a staff member's name is 201 characters long",
                 id="staff-name-201"),
    pytest.param(["feedback", "--kind", "compliment", "--summary", "Thanks", "--subject", "x" * 201],
                 "subject is 201 characters long", id="feedback-subject-201"),
])
def test_over_long_or_control_character_text_is_refused_and_nothing_written(cli, case, args, says):
    assert says in refused(cli, *args)


def test_text_at_its_bound_is_kept(cli, case):
    cli.ok("note", REF, "n" * 10_000, "--on", "2026-03-03")

    assert cli.history(REF)[-1]["details"]["text"] == "n" * 10_000


def test_an_over_long_actor_is_refused(sqlite_cli, sqlite_case):
    sqlite_cli.actor = "a" * 201

    assert "--actor must be one line of at most 200 characters" in refused(sqlite_cli, "note", REF, "Called")


# ------------------------------------------------------------------------------------------------ files
def test_a_json_lines_file_nested_100000_deep_is_one_line_naming_the_file_and_line(cli, case, tmp_path):
    path = tmp_path / "legacy.jsonl"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")

    line = refused(cli, "import", str(path))

    assert line == f"Error: {path} line 1: row: not a row of a legacy file: nested more than 32 levels deep"


@pytest.mark.parametrize("content, says", [
    pytest.param(("[" * 100_000 + "]" * 100_000).encode(), "nested more than 32 levels deep", id="nested"),
    pytest.param(bytes(range(256)), "line 2 is not UTF-8 text", id="binary"),
    pytest.param(json.dumps({"format": "complaints-ledger digest 1", "position": 10 ** 30, "root": "",
                             "heads": {}}).encode(), "is not a position in a ledger", id="position-huge"),
    pytest.param(json.dumps({"format": "complaints-ledger digest 1", "position": 1, "root": "0" * 64,
                             "heads": {"x": [1]}}).encode(), "its head for 'x' is not [version, hash]",
                 id="heads-malformed"),
])
def test_a_digest_file_that_is_not_one_is_one_line_naming_it(sqlite_cli, sqlite_case, tmp_path, content, says):
    path = tmp_path / "digest.json"
    path.write_bytes(content)

    line = refused(sqlite_cli, "verify", "--against", str(path))

    assert line.startswith(f"Error: cannot read the digest {path}: ") and says in line


@pytest.mark.parametrize("name, command", [
    pytest.param("mine.toml", [*RECEIVE, "--policy-file"], id="policy-file"),
    pytest.param("mine.toml", ["policy", "check", "--policy-file"], id="policy-check"),
    pytest.param("legacy.csv", ["import"], id="import-csv"),
    pytest.param("legacy.jsonl", ["import"], id="import-jsonl"),
])
def test_a_binary_file_is_refused_by_name(sqlite_cli, sqlite_case, tmp_path, name, command):
    path: Path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))

    line = refused(sqlite_cli, *command, str(path))

    assert str(path) in line and "not UTF-8 text" in line


def test_a_file_name_with_a_nul_is_one_line(sqlite_cli, sqlite_case):
    line = refused(sqlite_cli, "import", "legacy\x00.csv")

    assert "cannot be a file name: it contains a NUL character" in line
