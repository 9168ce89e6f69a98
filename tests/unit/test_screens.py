"""adapters/screens.py: user text shown safely, CSV cells a spreadsheet will not run, tables that hide nothing."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from complaints_ledger.adapters.screens import (
    Column,
    csv_safe,
    day,
    printable,
    render_table,
    working_days,
    write_csv,
)


def test_a_newline_in_user_text_is_shown_escaped_so_it_cannot_start_a_line_of_its_own():
    assert printable("Called back\n  2  01 Jan 2026  Closed  by Director") == \
        "Called back\\n  2  01 Jan 2026  Closed  by Director"


def test_control_characters_and_bidi_overrides_are_shown_as_escapes():
    assert printable("bell\x07 nul\x00 esc\x1b[31m rlo\u202e cr\r tab\t") == \
        "bell\\u0007 nul\\u0000 esc\\u001b[31m rlo\\u202e cr\\r tab\\t"


def test_ordinary_text_including_accents_and_other_scripts_is_left_alone():
    text = "Zoë O'Brien – £150 — 日本語 עברית"
    assert printable(text) == text


@given(st.text())
def test_printable_text_is_always_one_line_without_control_characters(text):
    shown = printable(text)
    assert len(shown.splitlines()) <= 1
    assert not any(ord(ch) < 32 or 0x7f <= ord(ch) <= 0x9f for ch in shown)


def test_csv_cells_starting_with_a_formula_character_are_neutralised_as_owasp_says():
    for dangerous in ("=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"):
        assert csv_safe(dangerous) == "'" + dangerous
    assert csv_safe("damp and mould") == "damp and mould"
    assert csv_safe(-5) == -5  # a number stays a number
    assert csv_safe(Decimal("-12.50")) == "-12.50"
    assert csv_safe(None) == ""
    assert csv_safe(date(2026, 1, 2)) == date(2026, 1, 2)


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_no_csv_cell_the_ledger_writes_can_start_a_formula(cells):
    out = io.StringIO()
    write_csv(out, ["a"] * len(cells), [cells])
    header, row = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert len(row) == len(cells)
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


def test_dates_and_working_days_read_as_words():
    assert day(date(2025, 12, 30)) == "30 Dec 2025"
    assert day("2025-12-30", weekday=True) == "Tue 30 Dec 2025"
    assert working_days(1) == "1 working day"
    assert working_days(3, "late") == "3 working days late"


def test_a_table_has_a_header_row_and_aligned_columns_without_trailing_spaces():
    text = render_table([Column("REF"), Column("DAYS", right=True)], [["CMP-1", 3], ["CMP-22", 120]])
    assert text.splitlines() == ["REF     DAYS", "CMP-1      3", "CMP-22   120"]


def test_a_table_too_wide_for_the_width_drops_no_column_and_cuts_no_value():
    columns = [Column("REF"), Column("CURSOR"), Column("ERROR", wrap=True)]
    long_ref = "CMP-2026-000001" * 8
    text = render_table(columns, [[long_ref, "deliver:http://x", "HTTP 500 " * 20]], width=60)
    assert text.splitlines()[0].split() == ["REF", "CURSOR", "ERROR"]
    assert long_ref in text and "deliver:http://x" in text
    assert " ".join(text.split()).count("HTTP 500") == 20


def test_a_wrapped_cell_continues_under_its_own_column():
    text = render_table([Column("N"), Column("NOTE", wrap=True)], [["1", "word " * 40]], width=40)
    lines = text.splitlines()
    assert all(len(line) <= 40 for line in lines)
    assert all(line.startswith("   ") for line in lines[2:])
