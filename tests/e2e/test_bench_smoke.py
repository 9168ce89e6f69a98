"""The benchmark in smoke mode, on both databases, so that bench/run.py never rots: every row of the issue's table
is measured and printed with its anchor and target (tiny sizes: the figures themselves mean nothing here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL, require_pg

BENCH = Path(__file__).resolve().parents[2] / "bench" / "run.py"
ROWS = ["bulk import", "our save path, same batches", "our save path vs the database", "projection rebuild",
        "rebuild peak memory", "rebuild wall time", "show of a 10-event case", "history of a 10-event case",
        "show of a 50-event case", "history of a 50-event case", "list --overdue at", "breaches --limit 100 at",
        "breaches, the whole report at",
        "complaints --help, whole command", "verify, whole command", "show, whole command",
        "history, whole command", "list --overdue, whole command", "breaches --limit 100, whole command",
        "stats, whole command", "find Smith, whole command", "report committee, whole command",
        "report annual, whole command", "note, whole command", "receive, whole command",
        "acknowledge, whole command", "subscription lag"]


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_the_benchmark_prints_every_figure_with_its_anchor(db, tmp_path):
    if db == "postgres":
        require_pg()
    results = tmp_path / "RESULTS.md"
    run = subprocess.run([sys.executable, str(BENCH), "--smoke", "--db", db, "--pg", PG_URL, "--results",
                          str(results)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    table = [line for line in run.stdout.splitlines() if line.startswith("| ")]
    assert table[0].startswith(f"| {'SQLite' if db == 'sqlite' else 'PostgreSQL'} | at 200 events | at 400 events")
    for row in ROWS:
        line = next((t for t in table if t.startswith(f"| {row}")), None)
        assert line is not None, f"no row for {row!r}"
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[1] != "—" and cells[2] != "—", line  # measured at both sizes
    for row in ("bulk import", "our save path, same batches", "projection rebuild", "verify, whole command"):
        line = next(t for t in table if t.startswith(f"| {row}"))
        assert "ev/s" in line.split("|")[5] and line.split("|")[6].strip().endswith("x"), line  # anchor and ratio
    for row in ("note, whole command", "receive, whole command"):  # beside the same write on a one-case ledger
        line = next(t for t in table if t.startswith(f"| {row}"))
        assert "one-case ledger" in line.split("|")[5] and line.split("|")[6].strip().endswith(" s"), line
    assert "0 missing" in run.stderr  # the live follower saw every event the writers committed
    assert not results.exists()  # a smoke run writes no results
