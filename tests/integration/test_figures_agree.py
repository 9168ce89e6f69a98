"""The committee's figures, the breach table and the report agree with each other on the same ledger."""

from __future__ import annotations

import json
from datetime import date

from click.testing import CliRunner

from complaints_ledger.adapters import simulation
from complaints_ledger.cli import cli

START, END = date(2026, 4, 1), date(2026, 9, 30)


def run(url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", url, *args], env={"COMPLAINTS_DB": None})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_late_responses_in_stats_are_the_late_responses_in_the_breach_table_and_the_report(db_url, ledger):
    simulation.build(ledger, cases=500, seed=5, actor="simulator", until=date(2026, 11, 20))
    period = ["--from", START.isoformat(), "--to", END.isoformat()]

    stats = json.loads(run(db_url, "stats", *period, "--format", "json"))["total"]
    breaches = [json.loads(line) for line in run(db_url, "breaches", "--format", "json").splitlines()]
    report = json.loads(run(db_url, "report", "committee", *period, "--format", "json"))["total"]

    for stage in ("1", "2"):
        late_in_table = [b for b in breaches if b["milestone"] == "respond" and b["stage"] == int(stage)
                         and b["status"] == "late" and START.isoformat() <= b["done_on"] <= END.isoformat()]
        assert stats["stages"][stage]["responded_late"] == len(late_in_table) > 0
    assert report == stats
