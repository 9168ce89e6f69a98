"""`complaints import FILE`: legacy cases from a landlord's old system, all or nothing, once (docs/importing.md,
"All or nothing"). One bad line is one `Error: FILE line N: COLUMN: reason` line; several are listed on stdout (line,
column, problem) under one `Error:` line on stderr; either way nothing is written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ._cli import Cli, error_line

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = "docs/legacy-cases.csv"  # as docs/importing.md types it, from the repository's folder
SUMMARY = "imported 12 cases (75 events) from docs/legacy-cases.csv; 0 already in the ledger"
BAD_ROW = ("CR/2026/0099,Iris Bell,,phone,Lift out of order,repairs,,,2026-03-02,2026-03-04,2026-03-13,upheld,"
           ",,,,,,,{closed_on}\n")


@pytest.fixture(autouse=True)
def in_the_repository(monkeypatch):
    monkeypatch.chdir(ROOT)


def problems(result) -> tuple[list[list[str]], str]:
    """After a failure that wrote nothing: the table of problems on stdout as [line, column, problem] rows (a
    problem's text wrapped onto continuation lines is joined back), and the one `Error: …` line on stderr."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["LINE", "COLUMN", "PROBLEM"], lines[0]
    start = lines[0].index("PROBLEM")
    rows: list[list[str]] = []
    for line in lines[1:]:
        if line[:start].strip():
            number, column = line[:start].split()
            rows.append([number, column, line[start:]])
        else:
            rows[-1][2] += " " + line[start:]
    (error,) = result.stderr.splitlines()
    assert error.startswith("Error: "), error
    return rows, error


def with_rows(tmp_path: Path, *rows: str, name: str = "legacy.csv") -> str:
    path = tmp_path / name
    path.write_text((ROOT / SAMPLE).read_text(encoding="utf-8") + "".join(rows), encoding="utf-8")
    return str(path)


def test_the_sample_imports_with_one_summary_line_and_a_second_run_adds_nothing(cli: Cli):
    first = cli.ok("import", SAMPLE)
    assert first.stdout == SUMMARY + "\n"
    assert first.stderr == ""  # no progress when stderr is not a terminal
    count = cli.event_count()

    again = cli.ok("import", SAMPLE)
    assert again.stdout == "imported 0 cases (0 events) from docs/legacy-cases.csv; 12 already in the ledger\n"
    assert cli.event_count() == count

    referred = cli.show("CR/2025/0171")
    assert (referred["status"], referred["referred_on"], referred["source"]) == (
        "referred", "2025-12-03", "legacy-cases.csv line 5")
    history = cli.history("cr/2025/0171")
    assert {e["actor"] for e in history} == {"tester"}
    assert history[-1]["event"] == "ReferredToOmbudsman" and history[-2]["occurred_on"] == "2025-10-22"
    assert "Imported     from legacy-cases.csv line 5" in cli.ok("show", "CR/2025/0171").stdout


def test_a_dry_run_says_what_it_would_import_and_writes_nothing(sqlite_cli: Cli):
    out = sqlite_cli.ok("import", SAMPLE, "--dry-run").stdout
    assert out == ("would import 12 cases (75 events) from docs/legacy-cases.csv; 0 already in the ledger; "
                   "nothing written (dry run)\n")
    assert sqlite_cli.event_count() == 0


def test_each_bad_line_is_its_own_error_line_and_nothing_is_written(sqlite_cli: Cli, tmp_path):
    sqlite_cli.ok("import", SAMPLE)
    count = sqlite_cli.event_count()
    path = with_rows(tmp_path, BAD_ROW.format(closed_on="2026-03-01"),  # before the response: line 14
                     "CR/2026/0100,Jo,,pigeon,Lift,,,,2026-02-30,,,,,,,,,,,\n",  # line 15: two problems
                     "CR/2026/0101,Kim,,phone,Lift\n")  # line 16: cells missing

    rows, error = problems(sqlite_cli("import", path))

    assert rows[0][:2] == ["14", "closed_on"] and rows[0][2].startswith("cannot close CR/2026/0099")
    assert rows[1:] == [
        ["15", "channel", "'pigeon' is not one of: phone, email, letter, web, portal, social-media, in-person"],
        ["15", "received_on", "'2026-02-30' is not a real date"],
        ["16", "row", "has 5 cells where the header has 20 (a comma inside an unquoted value?)"],
    ]
    assert error == f"Error: {path}: 3 lines with errors (4 problems, listed above); nothing imported"
    assert sqlite_cli.event_count() == count


def test_every_problem_is_listed_however_many_and_stderr_keeps_one_line(sqlite_cli: Cli, tmp_path):
    path = with_rows(tmp_path, *(BAD_ROW.replace("0099", f"{n:04d}").format(closed_on="2026-03-01")
                                 for n in range(100, 125)))

    rows, error = problems(sqlite_cli("import", path))

    assert [r[0] for r in rows] == [str(n) for n in range(14, 39)]
    assert all(r[1] == "closed_on" for r in rows)
    assert error == f"Error: {path}: 25 lines with errors (25 problems, listed above); nothing imported"
    assert sqlite_cli.event_count() == 0


def test_json_lists_each_problem_as_a_line_of_json(sqlite_cli: Cli, tmp_path):
    path = with_rows(tmp_path, "CR/2026/0100,Jo,,pigeon,Lift,,,,2026-02-30,,,,,,,,,,,\n")

    result = sqlite_cli("import", path, "--format", "json")

    assert result.exit_code == 1
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"line": 14, "column": "channel",
         "problem": "'pigeon' is not one of: phone, email, letter, web, portal, social-media, in-person"},
        {"line": 14, "column": "received_on", "problem": "'2026-02-30' is not a real date"}]
    assert result.stderr.count("\n") == 1
    assert sqlite_cli.event_count() == 0


def test_json_lines_with_the_summary_as_json(sqlite_cli: Cli, tmp_path):
    path = tmp_path / "legacy.jsonl"
    with (ROOT / SAMPLE).open(encoding="utf-8", newline="") as f:
        rows = [{k: v for k, v in row.items() if v} for row in csv.DictReader(f)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    summary = json.loads(sqlite_cli.ok("import", str(path), "--format", "json").stdout)

    assert {k: summary[k] for k in ("imported", "events", "skipped", "dry_run")} == {
        "imported": 12, "events": 75, "skipped": 0, "dry_run": False}
    assert summary["refs"][0] == "CR/2025/0142"
    assert sqlite_cli.show("CR/2025/0142")["source"] == "legacy.jsonl line 1"


def test_an_unknown_column_is_named_with_the_one_it_was_probably_meant_to_be(sqlite_cli: Cli, tmp_path):
    path = tmp_path / "typo.csv"
    path.write_text("ref,complainant,channel,summary,received_on,acknowleged_on\nA,B,phone,S,2026-03-02,\n",
                    encoding="utf-8")
    assert error_line(sqlite_cli("import", str(path))) == (
        f"Error: {path} line 1: acknowleged_on: unknown column (did you mean acknowledged_on?)")


def test_a_missing_file_is_one_error_line_and_no_ledger_is_created(tmp_path):
    db = tmp_path / "never.db"
    line = error_line(Cli(f"sqlite:///{db}")("import", str(tmp_path / "nope.csv")))
    assert line == f"Error: cannot read {tmp_path / 'nope.csv'}: No such file or directory"
    assert not db.exists()


def test_an_unknown_default_policy_is_one_error_line(sqlite_cli: Cli):
    assert "no policy profile named 'hoc-2099'" in sqlite_cli.fails("import", SAMPLE, "--policy", "hoc-2099")


def test_an_inquiry_bundle_says_the_case_was_imported_and_from_where(sqlite_cli: Cli, tmp_path):
    sqlite_cli.ok("import", SAMPLE)
    sqlite_cli.ok("bundle", "CR/2025/0171", "--output", str(tmp_path / "bundle"))
    html = (tmp_path / "bundle" / "case.html").read_text(encoding="utf-8")
    assert "(imported from the landlord&#39;s earlier system: legacy-cases.csv line 5)" in html


def test_an_import_stopped_part_way_is_a_notice_on_every_reader_and_in_json_until_the_same_file_finishes_it(
        sqlite_cli: Cli, tmp_path, monkeypatch):
    from complaints_ledger.domain.ledger import ComplaintsLedger

    path = tmp_path / "old.jsonl"
    path.write_text("".join(
        f'{{"ref": "OLD/{n:03d}", "complainant": "Person {n}", "channel": "phone", "summary": "Leak",'
        f' "received_on": "2026-03-02"}}\n' for n in range(250)), encoding="utf-8")
    saves = []
    real_save = ComplaintsLedger._save

    def stopping(self, *aggregates):  # the machine goes down after the first batch is committed
        if saves:
            raise SystemExit(137)
        saves.append(1)
        real_save(self, *aggregates)

    monkeypatch.setattr(ComplaintsLedger, "_save", stopping)
    assert sqlite_cli("import", str(path)).exit_code == 137
    monkeypatch.undo()
    notice = ("Notice: import of old.jsonl (sha256 ", " by tester is incomplete: 100 of 250 cases; run the same "
              "import again to finish it")

    for args in (["verify"], ["verify", "--format", "json"], ["projections", "status"],
                 ["import", SAMPLE, "--dry-run"]):
        result = sqlite_cli.ok(*args)  # a partial import is not a broken chain: exit 0, with one line on stderr
        [line] = result.stderr.splitlines()
        assert line.startswith(notice[0]) and line.endswith(notice[1]), (args, line)
    dry = json.loads(sqlite_cli.ok("import", str(path), "--dry-run", "--format", "json").stdout)
    assert dry["finishes"].endswith("by tester, which had stopped at 100 of 250 cases")
    assert dry["imported"] == 150 and dry["skipped"] == 100 and len(dry["incomplete_imports"]) == 1

    done = sqlite_cli.ok("import", str(path), "--format", "json")
    summary = json.loads(done.stdout)
    assert (summary["imported"], summary["skipped"], summary["incomplete_imports"]) == (150, 100, [])
    assert done.stderr.startswith("this finishes the import of old.jsonl (sha256 ")
    assert sqlite_cli.ok("verify").stderr == "" and sqlite_cli.ok("projections", "status").stderr == ""
