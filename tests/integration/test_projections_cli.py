"""The read models through the command line: `complaints list` and `complaints projections status|rebuild`.

Each command runs in process (click's CliRunner) as `complaints --db URL --actor tester …`, on SQLite and on
PostgreSQL (a rebuild killed by kill -9 is in tests/faults/test_rebuild_kill.py). Expected results come from the
direct fold in test_projections.py, never from the read model under test.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import time
from datetime import date, datetime, timezone
from typing import Any

import pytest
from click.testing import CliRunner, Result

from complaints_ledger.adapters import projection_store
from complaints_ledger.cli import cli as complaints_cli
from tests.e2e._cli import CLEAN_ENV, Cli, table

from .test_projections import (
    assert_same_rows,
    expected_rows,
    live_rows,
    log_head,
    runner_for,
    simulate,
    status_of,
)

SUMMARY = re.compile(r"rebuilt case_status, deadlines, committee, case_index: (\d+) events in (\d+\.\d)s \(([\d,]+) events/s\)")


def run(url: str, *args: str) -> Result:
    """`complaints --db URL --actor tester ARGS…` (on PostgreSQL: logged in as tester), which must succeed."""
    return Cli(url).ok(*args)


def listed(url: str, *filters: str) -> list[dict[str, Any]]:
    """`complaints list --format json` (JSON Lines): one object per line."""
    lines = run(url, "list", *filters, "--format", "json").stdout.splitlines()
    return [json.loads(line) for line in lines]


def received_through_the_cli(url: str, on: str, category: str | None = None) -> str:
    args = ["receive", "--complainant", "Sam Resident", "--channel", "phone", "--summary", "Heating not working",
            "--received-on", on]
    ref = run(url, *args, *(["--category", category] if category else [])).stdout.strip()
    assert ref.startswith("CMP-"), ref
    return ref


def overdue(row: dict[str, Any], today: date) -> bool:
    return row["status"] == "open" and row["next_due_on"] is not None and row["next_due_on"] < today


@pytest.fixture
def sample(db_url, ledger) -> dict[str, Any]:
    """A simulated year plus two complaints received through the CLI: one long overdue, one about damp."""
    simulate(ledger, cases=120, seed=31)
    refs = [received_through_the_cli(db_url, "2026-09-01", "Damp and Mould"),
            received_through_the_cli(db_url, "2026-11-20", "repairs")]
    return {"url": db_url, "ledger": ledger, "cli_refs": refs}


# ---------------------------------------------------------------------------------------------------- list
def test_list_shows_every_case_received_through_the_cli_without_an_explicit_catch_up(sample):
    url, ledger = sample["url"], sample["ledger"]
    assert not status_of(runner_for(ledger))["built"]  # receiving never touches the read model

    rows = listed(url)

    expected = expected_rows(ledger)
    assert [r["ref"] for r in rows] == [ref for ref, _ in sorted(expected.items(), key=lambda kv: (
        kv[1]["received_on"], kv[0]))]
    assert set(sample["cli_refs"]) <= {r["ref"] for r in rows}
    today = date.today()  # what `list` calls today
    for r in rows:
        fold = expected[r["ref"]]
        assert (r["status"], r["stage"], r["category"], r["next_due_on"]) == (
            fold["status"], fold["stage"], fold["category"],
            fold["next_due_on"].isoformat() if fold["next_due_on"] else None), r["ref"]
        assert r["overdue"] == overdue(fold, today), r["ref"]
        assert r["days_open"] == ((fold["ended_on"] or today) - fold["received_on"]).days, r["ref"]


def test_list_filters_select_the_same_cases_as_filtering_the_fold(sample):
    url, ledger = sample["url"], sample["ledger"]
    expected = expected_rows(ledger)
    today = date.today()
    filters = {
        ("--status", "open"): lambda r: r["status"] == "open",
        ("--status", "closed"): lambda r: r["status"] == "closed",
        ("--status", "resolved-early"): lambda r: r["status"] == "resolved-early",
        ("--stage", "2"): lambda r: r["stage"] == 2,
        ("--overdue",): lambda r: overdue(r, today),
        ("--category", "DAMP and mould"): lambda r: r["category"] == "damp and mould",
        ("--status", "open", "--stage", "1", "--category", "repairs"):
            lambda r: r["status"] == "open" and r["stage"] == 1 and r["category"] == "repairs",
        ("--overdue", "--category", "damp and mould"): lambda r: overdue(r, today) and r["category"] == "damp and mould",
    }
    for args, keep in filters.items():
        want = {ref for ref, r in expected.items() if keep(r)}
        assert 0 < len(want) < len(expected), f"{args} would not tell anything apart in this sample"

        got = [r["ref"] for r in listed(url, *args)]

        assert len(got) == len(set(got)), f"{args} listed a case twice"
        assert set(got) == want, f"list {' '.join(args)}: extra {sorted(set(got) - want)[:5]}, " \
                                 f"missing {sorted(want - set(got))[:5]}"


def test_list_as_csv_starts_with_a_header_and_has_one_line_per_case(sample):
    url, ledger = sample["url"], sample["ledger"]

    out = run(url, "list", "--format", "csv").stdout

    table = list(csv.reader(io.StringIO(out)))
    header, body = table[0], table[1:]
    assert header[:2] == ["ref", "policy"] and {"status", "stage", "next_due_on", "overdue", "days_open"} <= set(header)
    assert header == list(listed(url)[0])  # the same columns as the JSON form
    assert sorted(line[0] for line in body) == sorted(expected_rows(ledger))
    assert all(len(line) == len(header) for line in body)
    paid = header.index("compensation_paid")
    assert all(re.fullmatch(r"\d+\.\d\d", line[paid]) for line in body)


# ---------------------------------------------------------------------------------------------------- projections
def test_projections_status_shows_no_lag_after_a_read_command(sample):
    url, ledger = sample["url"], sample["ledger"]
    before = json.loads(run(url, "projections", "status", "--format", "json").stdout)
    assert {b["name"] for b in before} == {"case_status", "deadlines", "committee", "case_index"}
    assert all((b["built"], b["lag"]) == (False, log_head(ledger)) for b in before)

    run(url, "list")
    statuses = json.loads(run(url, "projections", "status", "--format", "json").stdout)

    for after in statuses:
        assert after["built"] and after["live_copy"] in ("a", "b") and not after["rebuild_in_progress"]
        assert after["lag"] == 0 and after["position"] == after["head"] == log_head(ledger)
        assert after["schema_version"] == after["code_version"]
    rows = table(run(url, "projections", "status").stdout)
    head = str(log_head(ledger))
    assert [(r["READ MODEL"], r["POSITION"], r["OF"], r["LAG"]) for r in rows] == [
        (name, head, head, "0") for name in ("case_status", "deadlines", "committee", "case_index")]


def test_projections_rebuild_prints_a_one_line_summary_with_events_per_second(sample):
    url, ledger = sample["url"], sample["ledger"]
    run(url, "list")
    live_before = status_of(runner_for(ledger))["live_copy"]

    out = run(url, "projections", "rebuild").stdout

    lines = out.splitlines()
    assert len(lines) == 1, lines
    match = SUMMARY.fullmatch(lines[0])
    assert match, lines[0]
    assert int(match[1]) == log_head(ledger)
    status = status_of(runner_for(ledger))
    assert status["live_copy"] != live_before and status["lag"] == 0
    assert_same_rows(live_rows(runner_for(ledger)), expected_rows(ledger))


def test_projections_rebuild_refuses_an_unknown_projection_name(db_url, ledger):
    result = CliRunner().invoke(complaints_cli, ["--db", db_url, "projections", "rebuild", "case_stats"],
                                env=CLEAN_ENV)

    assert result.exit_code != 0
    assert result.stderr.strip().splitlines() == [
        "Error: unknown projection 'case_stats' (known: case_status, deadlines, committee, case_index)"]


# ---------------------------------------------------------------------------------------------------- lease
def test_a_rebuild_waiting_on_a_stopped_runs_claim_says_so_with_the_time_left_then_takes_over(db_url, ledger):
    simulate(ledger, cases=20, seed=3)
    runner = runner_for(ledger)
    runner.catch_up()
    live = status_of(runner)["live_copy"]
    # A run that claimed the rebuild a moment ago and was then killed: its heartbeat is fresh, but it beats no more.
    with runner.engine.begin() as conn:
        conn.execute(runner.state.update().where(runner.state.c.name == "case_status").values(
            rebuild_owner="f" * 32, rebuild_heartbeat=datetime.now(timezone.utc), rebuild_suffix="b" if live == "a"
            else "a", rebuild_version=runner.projections["case_status"].version, rebuild_position=-1))
    lease = projection_store.LEASE_SECONDS

    started = time.monotonic()
    result = run(db_url, "projections", "rebuild")
    waited = time.monotonic() - started

    notices = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(notices) == 1, notices  # once: stderr is not a terminal here
    assert notices[0].startswith("waiting for another run's rebuild of case_status to finish")
    assert 0 < int(re.search(r"takes over in (\d+)s", notices[0])[1]) <= lease
    assert waited >= lease - 1
    assert SUMMARY.fullmatch(result.stdout.strip()), result.stdout
    status = status_of(runner_for(ledger))
    assert not status["rebuild_in_progress"] and status["lag"] == 0 and status["live_copy"] != live


def test_on_a_terminal_the_wait_notice_counts_down_on_one_line(monkeypatch, capsys):
    from complaints_ledger.cli import _lease_notice

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    notice = _lease_notice()
    notice(["case_status"], 2.6)
    notice(["case_status"], 2.5)  # within a second of the last: not rewritten
    time.sleep(1.05)
    notice(["case_status"], 1.4)
    notice(["case_status"], None)

    err = capsys.readouterr().err
    assert err.count("\r") == 2 and "takes over in 3s" in err and "takes over in 1s" in err
    assert err.endswith("\n") and err.count("\n") == 1
