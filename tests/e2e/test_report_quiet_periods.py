"""The board's reports and `stats` on the ledgers and periods of a team's first weeks (issue 16).

Each test is a reproduction that used to end in a Jinja2 `UndefinedError` traceback with nothing written: a new
ledger, a period with no stage 1 or stage 2 response, no satisfaction score, a financial year with nothing in it, the
first week of December on the demo ledger. Each must now exit 0, write the file, and say in words what has no data.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from ._cli import Cli

NO_COMPLAINTS = "No complaints received in this period."
NO_STAGE_1 = "No stage 1 responses in this period."
NO_STAGE_2 = "No stage 2 responses in this period."
NO_SATISFACTION = "No satisfaction scores recorded in this period."
DASH = "–"  # a percentage of nothing: not "0.0%", which would read as a figure


def text_of(html: str) -> str:
    """The page's words with tags removed and white space collapsed, as a reader sees them."""
    import re

    return " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"<svg.*?</svg>", " ", html, flags=re.S)).split())


def write_report(cli: Cli, tmp_path: Path, *args: str) -> tuple[str, dict]:
    """`report …` as HTML into a file and as JSON; both must succeed and the file must be written."""
    out = tmp_path / "report.html"
    done = cli.ok("report", *args, "--output", str(out))
    assert done.stdout == "" and done.stderr.strip() == f"wrote {out}"
    assert out.exists()
    html = out.read_text(encoding="utf-8")
    assert html.rstrip().endswith("</html>")
    as_json = json.loads(cli.ok("report", *args, "--format", "json").stdout)
    return html, as_json


def test_committee_report_on_a_new_ledger_is_written_and_says_there_is_nothing_to_count(cli, tmp_path):
    cli.ok("init")

    html, got = write_report(cli, tmp_path, "committee", "--from", "2025-01-01", "--to", "2025-12-31")

    words = text_of(html)
    assert "Complaints report to the committee: 1 January 2025 to 31 December 2025" in words
    for said in (NO_COMPLAINTS, NO_STAGE_1, NO_STAGE_2, NO_SATISFACTION):
        assert said in words
    assert "<svg" not in html  # no chart drawn from nothing
    assert f'<b id="stage1-not-in-time">{DASH}</b>' in html and f'<b id="stage2-not-in-time">{DASH}</b>' in html
    assert "0.0%" not in words
    assert got["total"]["received"]["total"] == 0
    assert got["total"]["stages"]["1"]["pct_not_in_time"] is None
    assert got["total"]["stages"]["2"]["responses"] == 0
    assert len(got["periods"]) == 12


def test_committee_report_with_the_default_period_on_a_new_ledger_is_written(cli, tmp_path):
    cli.ok("init")

    html, _ = write_report(cli, tmp_path, "committee")

    assert NO_COMPLAINTS in text_of(html)


def test_committee_report_with_one_unanswered_case_says_no_response_was_issued(cli, tmp_path):
    cli.receive("2025-10-01")

    html, got = write_report(cli, tmp_path, "committee", "--from", "2025-09-01", "--to", "2025-11-30")

    words = text_of(html)
    assert NO_COMPLAINTS not in words and "Complaints received by category" in html  # the nature chart
    assert NO_STAGE_1 in words and NO_STAGE_2 in words and NO_SATISFACTION in words
    assert got["total"]["received"]["total"] == 1
    assert got["total"]["stages"]["1"]["responses"] == 0 and got["total"]["escalation_rate_pct"] is None
    assert ("Escalation rate (escalations to stage 2 per stage 1 response): – (no stage 1 responses in this "
            "period).") in words


def test_committee_report_with_stage_1_responses_and_no_stage_2_response(cli, tmp_path):
    ref = cli.receive("2026-03-02")
    cli.ok("acknowledge", ref, "--on", "2026-03-03")
    cli.ok("respond", ref, "--outcome", "upheld", "--on", "2026-03-10")

    html, got = write_report(cli, tmp_path, "committee", "--from", "2026-03-01", "--to", "2026-03-31")

    words = text_of(html)
    assert "Stage 1 responses issued, in time and late" in html  # its chart is drawn
    assert NO_STAGE_1 not in words and NO_STAGE_2 in words and NO_SATISFACTION in words
    assert '<b id="stage1-not-in-time">0.0%</b>' in html  # a real figure: none of one response was late
    assert f'<b id="stage2-not-in-time">{DASH}</b>' in html
    assert got["total"]["stages"]["1"]["responses"] == 1 and got["total"]["stages"]["2"]["responses"] == 0
    assert got["total"]["stages"]["2"]["pct_not_in_time"] is None


def test_annual_report_for_a_year_with_no_complaints_is_written(cli, tmp_path):
    unanswered = cli.receive("2026-03-02")

    html, got = write_report(cli, tmp_path, "annual", "--year", "2027", "--homes", "100")

    words = text_of(html)
    assert "Annual complaints performance and service improvement report 2027/28" in words
    assert "Period 1 April 2027 to 31 March 2028" in words
    assert NO_COMPLAINTS in words and NO_STAGE_1 in words and NO_STAGE_2 in words and NO_SATISFACTION in words
    assert f'<td id="ch02-stage1">{DASH}</td>' in html and f'<td id="ch02-stage2">{DASH}</td>' in html
    assert '<td id="ch01-stage1">0.00</td>' in html
    assert got["tsm"]["CH02"]["stage 1"] == {"responses": 0, "within_code": 0, "pct_within_code": None,
                                             "responses_issued": 0, "stage_3_responses": 0, "early_resolutions": 0,
                                             "left_unanswered_late": 0}
    # No complaints in the year, but one still unanswered from an earlier year is listed: received Mon 2 Mar 2026,
    # acknowledgement due 9 Mar (3-6 | 9), the Code's response date 10 wd later = Mon 23 Mar 2026 (10-13 | 16-20 | 23).
    # By 31 Mar 2028 that is about 105 weeks of weekdays (~528) less some 16 bank holidays.
    [late] = got["still_open"]
    assert (late["ref"], late["stage"], late["due_on"]) == (unanswered, 1, "2026-03-23")
    assert 500 < late["working_days_overdue"] < 520
    assert unanswered in html and 'id="still-open"' in html
    assert [p["figures"]["received"]["total"] for p in got["periods"]] == [0, 0, 0, 0]


def test_committee_report_for_the_first_week_of_december_on_the_demo_ledger(sqlite_cli, tmp_path):
    # `complaints demo` run on 7 December 2026: the same ledger, with its date fixed.
    sqlite_cli.ok("simulate", "--cases", "360", "--seed", "2026", "--until", "2026-12-07")

    html, got = write_report(sqlite_cli, tmp_path, "committee", "--from", "2026-12-01", "--to", "2026-12-07")

    words = text_of(html)
    assert "1 December 2026 to 7 December 2026" in words
    assert got["total"]["received"]["total"] > 0 and NO_COMPLAINTS not in words
    assert got["total"]["satisfaction"]["responses"] == 0 and NO_SATISFACTION in words
    assert [p["label"] for p in got["periods"]] == ["Dec 2026"]


@pytest.mark.parametrize("fmt", ["text", "json", "csv"])
def test_stats_on_a_new_ledger_give_every_figure_with_no_percentage_of_nothing(cli, fmt):
    cli.ok("init")

    out = cli.ok("stats", "--from", "2026-01-01", "--to", "2026-06-30", "--by", "quarter", "--format", fmt).stdout

    if fmt == "json":
        got = json.loads(out)
        for figures in [got["total"]] + [p["figures"] for p in got["periods"]]:
            assert set(figures["stages"]) == {"1", "2"}
            assert figures["stages"]["1"]["pct_not_in_time"] is None and figures["escalation_rate_pct"] is None
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(out)))
        value = {(r[0], r[3]): r[4] for r in rows[1:]}
        # Every period lists the same measures as the total.
        by_period: dict[str, set[str]] = {}
        for period, measure in value:
            by_period.setdefault(period, set()).add(measure)
        assert len(by_period) == 3 and len({frozenset(m) for m in by_period.values()}) == 1
        assert value[("Total", "stages.2.pct_not_in_time")] == ""  # no figure: an empty cell, not text
        assert value[("Total", "received.total")] == "0"
    else:
        assert out.splitlines()[0] == "Complaints statistics, 01 Jan 2026 to 30 Jun 2026"
        assert "No complaints were received or answered in this period." in out
        not_in_time = next(line for line in out.splitlines() if line.startswith("Not in time"))
        assert not_in_time.split()[3:] == ["–", "–", "–"]  # the total and two quarters: a share of nothing
