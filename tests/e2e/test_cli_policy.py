"""Policy profiles through the command line: list, show, check against the Code 2024, and a landlord's own file.

A landlord's own profile is the shipped hoc-2024.toml copied with different figures (docs/policy-profiles.md,
"Writing one").
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest

from ._cli import Cli, deadline, deadline_rows, error_line, table

SHIPPED = ["aspire-2017", "broadland-2020", "connexus-2021", "hoc-2024", "ohg-2010"]
# docs/policy-profiles.md: the Code 2024 paragraphs each seed procedure fails.
FAILS = {
    "connexus-2021": {"§2.3"},
    "ohg-2010": {"§5.2–5.3"},
    "broadland-2020": {"§5.2–5.3"},
    "aspire-2017": {"§5.2–5.3", "§2.3"},
}
FAIL_LINE = re.compile(r"^\s*FAIL\s+(§\d+\.\d+(?:–\d+\.\d+)?)\s+\S")


def hoc_2024_text() -> str:
    return (resources.files("complaints_ledger.domain.policies") / "hoc-2024.toml").read_text(encoding="utf-8")


def own_profile(path: Path, *, acknowledge: int = 3, respond: int = 15, version: str = "2025.1",
                closure_days: str = "[]") -> Path:
    """hoc-2024 copied as 'my-landlord-2025' with other stage 1 offsets (and closure days)."""
    text = hoc_2024_text()
    text = text.replace('name = "hoc-2024"', 'name = "my-landlord-2025"', 1)
    text = text.replace('version = "2024.1"', f'version = "{version}"', 1)
    text = text.replace("closure_days = []", f"closure_days = {closure_days}", 1)
    text = re.sub(r'(milestone = "acknowledge", anchor = "received",\s+offset = )5', rf"\g<1>{acknowledge}", text)
    text = re.sub(r'(milestone = "respond",\s+anchor = "acknowledged", offset = )10', rf"\g<1>{respond}", text)
    assert f"offset = {acknowledge}," in text and f"offset = {respond}," in text
    path.write_text(text, encoding="utf-8")
    return path


def receive_under(cli: Cli, policy_file: Path, received_on: str = "2026-03-02") -> str:
    return cli.ok("receive", "--complainant", "Sam Resident", "--channel", "email", "--summary", "Damp in bedroom",
                  "--received-on", received_on, "--policy-file", str(policy_file)).stdout.strip()


# ------------------------------------------------------------------------------------------------ list and show


def test_policy_list_lists_the_five_shipped_profiles_and_marks_the_default(sqlite_cli):
    out = sqlite_cli.ok("policy", "list").stdout

    rows = table(out)
    assert [r["NAME"] for r in rows] == SHIPPED
    default = next(r for r in rows if r["NAME"] == "hoc-2024")
    assert "Complaint Handling Code 2024" in default["TITLE"] and "(default)" in default["TITLE"]
    ohg = next(r for r in rows if r["NAME"] == "ohg-2010")
    assert (ohg["VERSION"], ohg["STAGES"]) == ("2010.3", "3")


def test_policy_list_as_json_gives_name_version_and_stages(sqlite_cli):
    rows = json.loads(sqlite_cli.ok("policy", "list", "--format", "json").stdout)

    assert [r["name"] for r in rows] == SHIPPED
    assert {r["name"]: r["stages"] for r in rows} == {
        "aspire-2017": 2, "broadland-2020": 2, "connexus-2021": 2, "hoc-2024": 2, "ohg-2010": 3,
    }


def test_policy_show_aspire_2017_mentions_its_14_day_appeal_window(sqlite_cli):
    out = sqlite_cli.ok("policy", "show", "aspire-2017").stdout

    assert out.startswith("aspire-2017 v2017.1 — Aspire Customer Feedback Policy 2017")
    assert "appeal window: 14 days from the response" in out
    assert "compensation requests: within 7 days of the complaint" in out
    assert "extensions: up to 10 working days, must be agreed" in out


def test_policy_show_an_unknown_profile_is_one_error_line(sqlite_cli):
    result = sqlite_cli("policy", "show", "nope-2099")

    assert "no policy profile named 'nope-2099'" in error_line(result)
    assert result.exit_code == 1


# ------------------------------------------------------------------------------------------------ check


def test_policy_check_hoc_2024_passes_every_rule_and_exits_0(sqlite_cli):
    result = sqlite_cli.ok("policy", "check", "hoc-2024")

    lines = result.stdout.splitlines()
    assert lines[0] == "hoc-2024 v2024.1 against the Complaint Handling Code 2024:"
    assert not any(FAIL_LINE.match(line) for line in lines)
    assert all(line.strip().startswith("PASS") for line in lines[1:-1])
    assert re.fullmatch(r"\d+ passed, 0 failed", lines[-1])


@pytest.mark.parametrize("name", FAILS)
def test_policy_check_of_a_seed_procedure_exits_1_with_a_FAIL_line_citing_the_codes_paragraph(sqlite_cli, name):
    result = sqlite_cli("policy", "check", name)

    assert result.exit_code == 1
    failed = {m.group(1) for m in map(FAIL_LINE.match, result.stdout.splitlines()) if m}
    assert failed == FAILS[name]
    assert re.search(r"\d+ passed, [1-9]\d* failed$", result.stdout.strip())
    assert result.stderr == ""


@pytest.mark.parametrize("name", SHIPPED)
def test_policy_check_as_json_gives_the_policy_whether_it_passed_and_every_rule(sqlite_cli, name):
    result = sqlite_cli("policy", "check", name, "--format", "json")
    report = json.loads(result.stdout)

    assert report["policy"] == name
    assert report["passed"] is (name == "hoc-2024")
    assert result.exit_code == (0 if report["passed"] else 1)
    assert report["rules"]
    for rule in report["rules"]:
        assert {"rule", "paragraph", "passed", "detail"} <= rule.keys()
        assert rule["paragraph"].startswith("§")
    assert {r["paragraph"] for r in report["rules"] if not r["passed"]} == FAILS.get(name, set())
    assert report["passed"] == all(r["passed"] for r in report["rules"])


def test_policy_check_with_a_name_and_a_policy_file_is_a_usage_error(sqlite_cli, tmp_path):
    result = sqlite_cli("policy", "check", "hoc-2024", "--policy-file", str(own_profile(tmp_path / "p.toml")))

    assert error_line(result) == "Error: give a profile NAME or --policy-file, not both"
    assert result.exit_code == 2


# ------------------------------------------------------------------------------------------------ a landlord's own file


def test_policy_show_and_check_read_a_landlords_own_file(sqlite_cli, tmp_path):
    path = own_profile(tmp_path / "my-landlord.toml", acknowledge=3, respond=15)

    shown = sqlite_cli.ok("policy", "show", "--policy-file", str(path)).stdout
    checked = sqlite_cli("policy", "check", "--policy-file", str(path), "--format", "json")

    assert shown.startswith("my-landlord-2025 v2025.1")
    assert "acknowledge within 3 working days of received" in shown
    assert "respond within 15 working days of acknowledged" in shown
    report = json.loads(checked.stdout)
    assert (report["policy"], report["passed"], checked.exit_code) == ("my-landlord-2025", False, 1)
    assert [r["paragraph"] for r in report["rules"] if not r["passed"]] == ["§6.3"]  # 15 > the Code's 10


def test_a_case_received_with_a_policy_file_gets_that_files_deadlines(cli, tmp_path):
    path = own_profile(tmp_path / "my-landlord.toml", acknowledge=3, respond=15)

    ref = receive_under(cli, path)  # Monday 2 March 2026
    view = cli.show(ref, as_of="2026-03-02")

    assert (view["policy"], view["policy_version"]) == ("my-landlord-2025", "2025.1")
    assert deadline(view, 1, "acknowledge")["due_on"] == "2026-03-05"  # 3 working days, not the Code's 5
    assert deadline(view, 1, "respond")["due_on"] == "2026-03-26"  # 15 working days after that
    text = cli.ok("show", ref, "--as-of", "2026-03-02").stdout
    assert "Policy       my-landlord-2025 v2025.1" in text
    assert {"STAGE": "1", "STEP": "acknowledge", "DUE": "Thu 05 Mar 2026", "EXTENDED BY": "", "STATE": "pending",
            "DONE": ""} in deadline_rows(text)

    cli.ok("acknowledge", ref, "--on", "2026-03-04")
    assert deadline(cli.show(ref, as_of="2026-03-04"), 1, "respond")["due_on"] == "2026-03-25"


def test_closure_days_in_a_landlords_own_file_are_not_working_days(sqlite_cli, tmp_path):
    path = own_profile(tmp_path / "closed.toml", acknowledge=3, closure_days="[2026-03-03, 2026-03-04]")

    view = sqlite_cli.show(receive_under(sqlite_cli, path), as_of="2026-03-02")

    assert deadline(view, 1, "acknowledge")["due_on"] == "2026-03-09"  # Thu 5, Fri 6, Mon 9


def test_editing_or_deleting_the_policy_file_later_never_changes_an_existing_cases_deadlines(sqlite_cli, tmp_path):
    path = own_profile(tmp_path / "my-landlord.toml", acknowledge=3, respond=15)
    first = receive_under(sqlite_cli, path)
    pinned = sqlite_cli.show(first, as_of="2026-03-02")

    own_profile(path, acknowledge=1, respond=2, version="2025.2")
    second = receive_under(sqlite_cli, path)
    after_edit = sqlite_cli.show(first, as_of="2026-03-02")
    path.unlink()
    after_delete = sqlite_cli.show(first, as_of="2026-03-02")
    revised = sqlite_cli.show(second, as_of="2026-03-02")

    assert after_edit["deadlines"] == pinned["deadlines"] == after_delete["deadlines"]
    assert after_delete["policy_hash"] == pinned["policy_hash"]
    assert deadline(after_delete, 1, "acknowledge")["due_on"] == "2026-03-05"
    assert revised["policy_version"] == "2025.2" and revised["policy_hash"] != pinned["policy_hash"]
    assert deadline(revised, 1, "acknowledge")["due_on"] == "2026-03-03"


MALFORMED = {
    "not-toml": ('name = "broken"\nversion = \n', "is not valid TOML"),
    "no-stages": ('name = "empty"\nversion = "1"\n', "policy profile 'empty' is malformed: missing 'stages'"),
    "stage-without-respond": (
        'name = "half"\nversion = "1"\n[[stages]]\nname = "Stage 1"\n'
        'milestones = [{ milestone = "acknowledge", anchor = "received", offset = 5 }]\n',
        "every stage needs a 'respond' milestone"),
    "unknown-calendar": (hoc_2024_text().replace('calendar = "england-and-wales"', 'calendar = "atlantis"'),
                         "calendar 'atlantis' is not one of"),
    "offset-in-words": (hoc_2024_text().replace("offset = 5,", 'offset = "five",', 1),
                        "policy profile 'hoc-2024' is malformed"),
    "anchor-not-yet-defined": (
        hoc_2024_text().replace('anchor = "received",     offset = 5', 'anchor = "acknowledged", offset = 5', 1),
        "is anchored on 'acknowledged'"),
}


@pytest.mark.parametrize("command", [["receive", "--complainant", "Sam Resident", "--channel", "phone",
                                      "--summary", "Heating", "--received-on", "2026-03-02"],
                                     ["policy", "show"], ["policy", "check"]], ids=["receive", "show", "check"])
@pytest.mark.parametrize("text, says", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_policy_file_is_one_error_line_and_nothing_is_received(sqlite_cli, tmp_path, command, text,
                                                                          says):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")

    result = sqlite_cli(*command, "--policy-file", str(path))

    assert says in error_line(result)
    assert result.exit_code == 1
    assert sqlite_cli.event_count() == 0


# A number written as text where the profile needs a number of days or months: accepted at receipt, pinned into the
# ledger, and the case then fails with a traceback when its deadlines or time limit are worked out.
WRONGLY_TYPED = {
    "time-limit-months": ("months = 12 ", 'months = "twelve" '),
    "appeal-window-days": ("[appeal] ", '[appeal]\nwindow_days = "fourteen"\n'),
    "compensation-window-days": ("[compensation] ", '[compensation]\nrequest_within_days = "seven"\n'),
}


@pytest.mark.parametrize("old, new", WRONGLY_TYPED.values(), ids=WRONGLY_TYPED.keys())
def test_a_policy_file_with_text_where_a_number_belongs_is_refused_at_receipt(sqlite_cli, tmp_path, old, new):
    text = hoc_2024_text()
    assert old in text
    path = tmp_path / "typo.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")

    result = sqlite_cli("receive", "--complainant", "Sam Resident", "--channel", "phone", "--summary", "Heating",
                        "--received-on", "2026-03-02", "--issue-date", "2026-02-02", "--policy-file", str(path))

    assert "malformed" in error_line(result)
    assert sqlite_cli.event_count() == 0


def test_policy_check_of_a_file_with_a_time_limit_in_words_is_one_error_line(sqlite_cli, tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text(hoc_2024_text().replace("months = 12 ", 'months = "twelve" ', 1), encoding="utf-8")

    result = sqlite_cli("policy", "check", "--policy-file", str(path))

    assert "malformed" in error_line(result)
    assert result.exit_code == 1
