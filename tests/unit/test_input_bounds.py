"""The aggregates, policy profiles and the legacy reader hold every value to its bound (docs/limits.md), so an import
or a program calling the ledger directly gets the same refusals as the command line: no database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from complaints_ledger.adapters import legacy_import, policy_files
from complaints_ledger.domain.complaint import Feedback
from complaints_ledger.domain.data_subject import DataSubject
from complaints_ledger.domain.errors import InvalidAction, InvalidDate, PolicyError
from complaints_ledger.domain.policy import Policy
from complaints_ledger.domain.staff import StaffDirectory

TODAY = date(2026, 11, 22)
BY = {"today": TODAY, "actor": "officer"}
RECEIVED = date(2026, 3, 2)


@pytest.fixture
def case(receive):
    return receive(RECEIVED)


@pytest.fixture
def hoc(policy):
    return policy("hoc-2024")


# ------------------------------------------------------------------------------------------------ receipt
@pytest.mark.parametrize("field, value, says", [
    ("complainant", "A" * 201, "complainant is 201 characters long; the ledger keeps at most 200"),
    ("summary", "s" * 2_001, "summary is 2,001 characters long; the ledger keeps at most 2,000"),
    ("category", "c" * 201, "category is 201 characters long"),
    ("property_ref", "p" * 201, "property is 201 characters long"),
    ("contact", "0" * 501, "contact is 501 characters long; the ledger keeps at most 500"),
    ("representative", "R" * 201, "the representative's name is 201 characters long"),
    ("complainant", "Ann\x00Smith", "complainant contains a control character \\(U\\+0000"),
    ("complainant", "Ann\nSmith", "complainant contains a control character \\(U\\+000A"),
    ("category", "repairs\u202e", "category contains a control character \\(U\\+202E"),
])
def test_a_complaint_with_text_beyond_its_bound_is_not_received(receive, field, value, says):
    with pytest.raises(InvalidAction, match=says):
        receive(RECEIVED, **{field: value})


def test_text_at_its_bound_is_received_as_typed_less_surrounding_spaces(receive):
    case = receive(RECEIVED, complainant=" " + "A" * 200 + " ", summary="Leak\r\nstill dripping",
                   contact="12 High St\nFlat 3")
    assert (len(case.complainant), case.summary, case.contact_details) == (200, "Leak\r\nstill dripping",
                                                                           "12 High St\nFlat 3")


@pytest.mark.parametrize("received_on, says", [
    (date(1900, 1, 1), "received date 1900-01-01 is before 1990-01-01, the earliest date the ledger records"),
    (date(1989, 12, 31), "received date 1989-12-31 is before 1990-01-01"),
])
def test_a_complaint_received_before_1990_is_refused(receive, received_on, says):
    with pytest.raises(InvalidDate, match=says):
        receive(received_on)


def test_an_issue_date_before_1990_is_refused(receive):
    with pytest.raises(InvalidDate, match="issue date 1985-06-01 is before 1990-01-01"):
        receive(RECEIVED, issue_date=date(1985, 6, 1))
    assert receive(RECEIVED, issue_date=date(1990, 1, 1)).issue_date == date(1990, 1, 1)


def test_feedback_is_held_to_the_same_rules():
    with pytest.raises(InvalidDate, match="before 1990-01-01"):
        Feedback.receive(ref="FBK-1", kind="compliment", summary="Thanks", received_on=date(1980, 1, 1), **BY)
    with pytest.raises(InvalidAction, match="subject is 201 characters long"):
        Feedback.receive(ref="FBK-1", kind="compliment", summary="Thanks", received_on=RECEIVED, subject="x" * 201,
                         **BY)


# ------------------------------------------------------------------------------------------------ steps
def test_notes_and_learning_keep_up_to_ten_thousand_characters_in_paragraphs(case):
    case.add_note(text="Line one\n\tindented\n" + "x" * 9_980, on=RECEIVED, **BY)
    with pytest.raises(InvalidAction, match="the note is 10,001 characters long; the ledger keeps at most 10,000"):
        case.add_note(text="x" * 10_001, on=RECEIVED, **BY)
    with pytest.raises(InvalidAction, match="the learning contains a control character \\(U\\+001B"):
        case.record_learning(text="\x1b[31mred", on=RECEIVED, **BY)


@pytest.mark.parametrize("act, says", [
    (lambda c, h: c.respond(outcome="upheld", summary="s" * 2_001, on=date(2026, 3, 10), **BY),
     "the summary of the decision is 2,001 characters long"),
    (lambda c, h: c.respond(outcome="upheld", remedies=["r" * 2_001], on=date(2026, 3, 10), **BY),
     "a remedy is 2,001 characters long"),
    (lambda c, h: c.respond(outcome="upheld", remedies=["apology"] * 51, on=date(2026, 3, 10), **BY),
     "51 remedies given; at most 50 go with one decision"),
    (lambda c, h: c.extend(policy=h, working_days=5, reason="r" * 2_001, agreed=True, on=date(2026, 3, 3), **BY),
     "the reason for the extension is 2,001 characters long"),
    (lambda c, h: c.extend(policy=h, working_days=10 ** 30, reason="surveyor", agreed=True, on=date(2026, 3, 3),
                           **BY), "more than a working year \\(250\\)"),
    (lambda c, h: c.withdraw(reason="w" * 2_001, on=date(2026, 3, 3), **BY),
     "the reason for withdrawing is 2,001 characters long"),
    (lambda c, h: c.request_compensation(policy=h, amount="50", reason="\x00", on=date(2026, 3, 3), **BY),
     "the reason for the request contains a control character"),
    (lambda c, h: c.deviate(reason="joint visit", approved_by="D" * 201, on=date(2026, 3, 3), **BY),
     "who approved the deviation is 201 characters long"),
    (lambda c, h: c.authorise_representative(name="Ann", relationship="r" * 201, on=date(2026, 3, 3), **BY),
     "the relationship is 201 characters long"),
])
def test_a_step_with_text_beyond_its_bound_is_refused_and_records_nothing(case, hoc, act, says):
    before = len(case.pending_events)
    with pytest.raises(InvalidAction, match=says):
        act(case, hoc)
    assert len(case.pending_events) == before


def test_a_panel_of_more_than_fifty_is_refused(receive, policy):
    ohg = policy("ohg-2010")
    case = receive(RECEIVED, "ohg-2010")
    case.acknowledge(on=date(2026, 3, 3), **BY)
    case.respond(outcome="upheld", on=date(2026, 3, 4), **BY)
    case.escalate(policy=ohg, on=date(2026, 3, 5), **BY)
    case.acknowledge(on=date(2026, 3, 5), **BY)
    case.review(policy=ohg, outcome="upheld", on=date(2026, 3, 6), **BY)
    case.escalate(policy=ohg, on=date(2026, 3, 9), **BY)
    panel = [{"name": f"Member {i}", "role": "board-member"} for i in range(51)]
    with pytest.raises(InvalidAction, match="51 panel members given; a panel has at most 50"):
        case.hold_hearing(policy=ohg, panel=panel, on=date(2026, 3, 10), **BY)


def test_a_staff_name_and_an_erasure_reason_have_their_bounds():
    directory = StaffDirectory()
    with pytest.raises(InvalidAction, match="a staff member's name is 201 characters long"):
        directory.add(name="N" * 201, role="director", login=None, on=TODAY, actor="a")
    with pytest.raises(InvalidAction, match="login 'x y' is not a database user name"):
        directory.add(name="Sam", role="director", login="x y", on=TODAY, actor="a")
    with pytest.raises(InvalidAction, match=r"role 'k{40}…' is not one of"):
        directory.add(name="Sam", role="k" * 1000, login=None, on=TODAY, actor="a")
    subject = DataSubject("P-000000000001", first_ref="CMP-2026-000001")
    with pytest.raises(InvalidAction, match="the reason for the erasure is 2,001 characters long"):
        subject.erase(reason="r" * 2_001, on=TODAY, actor="a")


# ------------------------------------------------------------------------------------------------ policy files
@pytest.fixture
def hoc_data():
    import copy

    return copy.deepcopy(policy_files.load_shipped("hoc-2024").data)


@pytest.mark.parametrize("change, says", [
    (lambda d: d["stages"][0]["milestones"][0].update(offset=10 ** 30), "offset must be at most 365"),
    (lambda d: d["stages"][0].update(extension_cap=10 ** 9), "extension_cap must be at most 250"),
    (lambda d: d.update(time_limit={"months": 10 ** 6}), "time_limit.months must be at most 120"),
    (lambda d: d.update(appeal={"window_days": 10 ** 9}), "appeal.window_days must be at most 3,650"),
    (lambda d: d.update(retention={"years_after_closure": 10 ** 5}), "years_after_closure must be at most 100"),
    (lambda d: d.update(stages=d["stages"] * 5), "10 stages is more than the 9 a profile may have"),
    (lambda d: d.update(name="n" * 10_000), "must be one line of text, at most 200 characters"),
    (lambda d: d.update(stages=["not a table"]), "is malformed"),
    (lambda d: d.update(appeal=7), "is malformed"),
])
def test_a_profile_with_numbers_beyond_any_procedure_is_refused_in_one_short_line(hoc_data, change, says):
    change(hoc_data)
    with pytest.raises(PolicyError, match=says) as caught:
        Policy.from_dict(hoc_data)
    assert len(str(caught.value)) < 300


def test_a_profile_already_recorded_is_read_back_without_the_later_bounds(hoc_data):
    hoc_data["stages"][0]["extension_cap"] = 300
    assert Policy.from_dict(hoc_data, stored=True).stage(1).extension_cap == 300


@pytest.mark.parametrize("content, says", [
    (bytes(range(256)), "is not a TOML profile: line 2 is not UTF-8 text"),
    (("a = " + "[" * 100_000 + "]" * 100_000).encode(), "is not a policy profile: its arrays or tables are nested"),
])
def test_a_policy_file_that_is_not_a_profile_is_refused_by_name(tmp_path, content, says):
    path = tmp_path / "mine.toml"
    path.write_bytes(content)
    with pytest.raises(PolicyError, match=f"policy file {path} {says}"):
        policy_files.load_file(path)


@pytest.mark.parametrize("name", ["../policies/hoc-2024", "hoc-2024/../hoc-2024", "a\x00b", "x" * 1000])
def test_a_shipped_profile_is_named_never_reached_by_a_path(name):
    with pytest.raises(PolicyError, match="no policy profile named") as caught:
        policy_files.load_shipped(name)
    assert len(str(caught.value)) < 200


# ------------------------------------------------------------------------------------------------ legacy files
HEADER = "ref,complainant,channel,summary,received_on,responded_on,outcome,compensation_approved\n"


def read(tmp_path, text: str | bytes, name: str = "legacy.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return legacy_import.read(path, default_policy=policy_files.load_shipped("hoc-2024"),
                              policies=policy_files.load_shipped)


def reasons(reading) -> list[tuple[int, str, str]]:
    return [(e.line, e.column, e.reason) for e in reading.errors]


@pytest.mark.parametrize("amount", ['"1,2,3"', "1e3", '"£1,2,3"', "0x10", "NaN", '"١٢"', "+5"])
def test_a_legacy_amount_is_never_guessed_at(tmp_path, amount):
    reading = read(tmp_path, HEADER + f"A-1,Ada,phone,Leak,02/03/2026,10/03/2026,upheld,{amount}\n")
    [(line, column, reason)] = reasons(reading)
    assert (line, column) == (2, "compensation_approved") and "is not a sum of money" in reason


def test_a_legacy_amount_as_a_spreadsheet_exports_it_is_read(tmp_path):
    reading = read(tmp_path, HEADER + 'A-1,Ada,phone,Leak,02/03/2026,10/03/2026,upheld,"£1,234.50"\n')
    assert reading.errors == [] and reading.cases[0].compensation_approved == Decimal("1234.50")


@pytest.mark.parametrize("received, says", [
    ("01/01/1900", "1900-01-01 is before 1990-01-01"),
    ("1900-01-01", "1900-01-01 is before 1990-01-01"),
    ("٠٢/٠٣/٢٠٢٦", "is not a date: use YYYY-MM-DD"),
    ("31/12/9999", "9999-12-31 is after 2100-12-31"),
])
def test_a_legacy_date_outside_the_ledger_s_range_or_in_other_digits_is_refused(tmp_path, received, says):
    reading = read(tmp_path, HEADER + f"A-1,Ada,phone,Leak,{received},,,\n")
    [(line, column, reason)] = reasons(reading)
    assert (line, column) == (2, "received_on") and says in reason


def test_legacy_text_beyond_its_bound_is_refused_naming_the_column(tmp_path):
    reading = read(tmp_path, HEADER + f"A-1,{'A' * 201},phone,{'s' * 2_001},02/03/2026,,,\n")
    assert reasons(reading) == [
        (2, "complainant", "the text is 201 characters long; the ledger keeps at most 200"),
        (2, "summary", "the text is 2,001 characters long; the ledger keeps at most 2,000")]


def test_json_lines_nested_deeper_than_a_row_is_one_error_on_its_line(tmp_path):
    row = '{"ref": "A-1", "complainant": "Ada", "channel": "phone", "summary": "Leak", "received_on": "2026-03-02"}'
    reading = read(tmp_path, row + "\n" + "[" * 100_000 + "]" * 100_000 + "\n", name="legacy.jsonl")
    assert reasons(reading) == [(2, "row", "not a row of a legacy file: nested more than 32 levels deep")]
    assert [c.ref for c in reading.cases] == ["A-1"]


def test_json_lines_numbers_are_read_as_written(tmp_path):
    rows = ('{"ref": %s, "complainant": "Ada", "channel": "phone", "summary": "Leak", "received_on": "2026-03-02", '
            '"responded_on": "2026-03-10", "outcome": "upheld", "compensation_approved": %s}\n')
    reading = read(tmp_path, rows % ("1" * 5000, "12.5") + rows % ("42", "1e3") + rows % ("43", "1250.50"),
                   name="legacy.jsonl")
    assert [(line, column) for line, column, _ in reasons(reading)] == [(1, "ref"), (2, "compensation_approved")]
    assert [(c.ref, c.compensation_approved) for c in reading.cases] == [("43", Decimal("1250.50"))]


def test_a_legacy_file_that_is_not_utf8_is_refused_by_name_and_line(tmp_path):
    with pytest.raises(legacy_import.FileUnreadable, match="legacy.jsonl line 2 is not UTF-8 text"):
        read(tmp_path, b'{"ref": "A"}\n{"ref": "\xff"}\n', name="legacy.jsonl")
