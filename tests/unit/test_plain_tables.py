"""Long or piped tables are written directly (screens._plain_table) rather than laid out by rich: the text must be
what rich draws, wide characters, escaped control characters, right-aligned numbers and empty cells included."""

from __future__ import annotations

import re
import sys
from datetime import date
from decimal import Decimal

from complaints_ledger.adapters import screens

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _rows(n: int) -> list[dict]:
    names = ["repairs", "日本語カテゴリ", "a\nb\tc", "", None, "damp and mould", "é" * 3]
    return [{"ref": f"CMP-2026-{i:06d}", "status": "open" if i % 3 else "resolved-early", "stage": 1 + i % 3,
             "policy": "p", "category": names[i % len(names)], "received_on": date(2026, 1, 1 + i % 28),
             "next_milestone": "respond" if i % 2 else None, "next_due_on": date(2026, 2, 1 + i % 28),
             "overdue": bool(i % 2), "days_open": i * 7, "repeat": i % 5 == 0,
             "compensation_paid": Decimal("12.50")} for i in range(n)]


def test_a_long_table_is_written_as_rich_draws_it(monkeypatch):
    columns = screens.LAYOUTS["case_list"]
    rows = _rows(screens.PLAIN_FROM + 5)
    plain = screens.records_table(columns, rows)
    monkeypatch.setattr(screens, "PLAIN_FROM", 10 ** 9)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # rich's own layout, as on a terminal
    monkeypatch.setenv("COLUMNS", "400")
    drawn = screens.records_table(columns, rows)
    assert ANSI.sub("", drawn) == plain
    assert "日本語カテゴリ" in plain and "a\\nb\\tc" in plain  # wide text counted by cells; controls escaped
    lines = plain.splitlines()
    assert len(lines) == len(rows) + 1 and all(line == line.rstrip() for line in lines)
