"""The Ombudsman stage to compliance through the CLI, on SQLite and PostgreSQL: the Ombudsman's evidence requests and
the determination's orders, each with a due date; late ones in `breaches`, every one in `show`, the bundle and the
reports; a referred case closes only once every order is complied with."""

from __future__ import annotations

import json

import pytest

from ._cli import Cli


def _referred(cli: Cli) -> str:
    """A case through both stages of hoc-2024 and referred to the Ombudsman on Fri 1 May 2026."""
    ref = cli.receive("2026-03-02")
    cli.ok("acknowledge", ref, "--on", "2026-03-04")
    cli.ok("respond", ref, "--outcome", "not-upheld", "--on", "2026-03-16")
    cli.ok("escalate", ref, "--on", "2026-03-23")
    cli.ok("acknowledge", ref, "--on", "2026-03-25")
    cli.ok("review", ref, "--outcome", "not-upheld", "--on", "2026-04-22")
    cli.ok("refer", ref, "--on", "2026-05-01")
    return ref


def _breaches(cli: Cli, as_of: str, ref: str) -> dict[str, tuple[str, str | None, int]]:
    rows = [json.loads(line) for line in cli.ok("breaches", "--as-of", as_of, "--format", "json").stdout.splitlines()]
    return {r["milestone"]: (r["status"], r["done_on"], r["working_days_late"]) for r in rows if r["ref"] == ref
            and r["milestone"].startswith(("evidence", "order"))}


def test_evidence_requests_show_in_breaches_when_late_and_not_when_answered_in_time(cli: Cli):
    ref = _referred(cli)
    assert cli.ok("ombudsman", "request", ref, "--due", "2026-05-15", "--on", "2026-05-05").stdout.strip() == \
        f"{ref}: evidence request 1 due Fri 15 May 2026"
    cli.ok("ombudsman", "request", ref, "--due", "2026-06-01", "--on", "2026-05-06")
    # Past due and not sent: overdue (Mon 18 and Tue 19 May are the working days after Fri 15 May).
    assert _breaches(cli, "2026-05-19", ref) == {"evidence-1": ("overdue", None, 2)}
    # Request 2 answered first, in time: it never shows; request 1 then answered late.
    assert cli.ok("ombudsman", "evidence-sent", ref, "--request", "2", "--on", "2026-05-20").stdout.strip() == \
        f"{ref}: evidence request 2 evidence sent Wed 20 May 2026, on time"
    assert cli.ok("ombudsman", "evidence-sent", ref, "--on", "2026-05-21").stdout.strip() == \
        f"{ref}: evidence request 1 evidence sent Thu 21 May 2026, 4 working days late"
    assert _breaches(cli, "2026-06-30", ref) == {"evidence-1": ("late", "2026-05-21", 4)}
    # As of a day before it was sent, it was overdue then.
    assert _breaches(cli, "2026-05-19", ref) == {"evidence-1": ("overdue", None, 2)}
    shown = cli.show(ref, as_of="2026-06-30")["ombudsman"]["evidence_requests"]
    assert [(r["number"], r["due_on"], r["sent_on"], r["status"], r["late"]) for r in shown] == [
        (1, "2026-05-15", "2026-05-21", "late", True), (2, "2026-06-01", "2026-05-20", "met", False)]
    assert cli.fails("ombudsman", "evidence-sent", ref, "--on", "2026-05-22") == \
        f"Error: every evidence request on {ref} has been answered"


def test_a_late_order_shows_in_breaches_and_the_case_closes_only_once_every_order_is_complied_with(cli: Cli,
                                                                                                   tmp_path):
    ref = _referred(cli)
    cli.ok("determination", ref, "--finding", "maladministration", "--compensation", "300",
           "--order", "Pay £300 compensation", "--order-due", "2026-08-31",
           "--order", "Inspect the roof", "--order-due", "2026-09-14", "--on", "2026-08-03")
    before = cli.event_count()
    error = cli.fails("close", ref, "--on", "2026-08-04")
    assert error == (f"Error: cannot close {ref}: the Housing Ombudsman's orders are not all complied with "
                     "(outstanding: order 1 'Pay £300 compensation' due 2026-08-31; order 2 'Inspect the roof' due "
                     "2026-09-14); record compliance with complaints ombudsman complied")
    assert cli.event_count() == before
    complied = cli.ok("ombudsman", "complied", ref, "--order", "1", "--on", "2026-08-28", "--evidence", "BACS ref 991")
    assert complied.stdout.strip() == f"{ref}: order 1 complied with Fri 28 Aug 2026, on time"
    # Order 2 past due and outstanding: in breaches; order 1, complied with on time, is not.
    assert _breaches(cli, "2026-09-16", ref) == {"order-2": ("overdue", None, 2)}
    assert "order 2 'Inspect the roof'" in cli.fails("close", ref, "--on", "2026-09-16")
    [listed] = [json.loads(line) for line in cli.ok("list", "--overdue", "--format", "json").stdout.splitlines()]
    assert (listed["ref"], listed["next_milestone"], listed["next_due_on"]) == (ref, "order-2", "2026-09-14")
    cli.ok("ombudsman", "complied", ref, "--on", "2026-09-17")  # the only one outstanding
    assert _breaches(cli, "2026-10-01", ref) == {"order-2": ("late", "2026-09-17", 3)}
    cli.ok("close", ref, "--on", "2026-09-18")
    assert cli.show(ref)["status"] == "closed"

    text = cli.ok("show", ref, "--as-of", "2026-10-01").stdout
    assert "Housing Ombudsman: evidence requests and orders" in text
    assert "Inspect the roof" in text and "late by 3 working days" in text and "(evidence: BACS ref 991)" in text
    out = tmp_path / "bundle"
    cli.ok("bundle", ref, "--output", str(out), "--as-of", "2026-10-01")
    data = json.loads((out / "case.json").read_text())
    assert [(o["number"], o["due_on"], o["complied_on"], o["status"]) for o in data["ombudsman"]["orders"]] == [
        (1, "2026-08-31", "2026-08-28", "met"), (2, "2026-09-14", "2026-09-17", "late")]
    html = (out / "case.html").read_text()
    assert "evidence requests and orders" in html and "Inspect the roof" in html
    assert "Complied with the Ombudsman&#39;s order 1: BACS ref 991" in html


def test_the_committee_report_counts_orders_and_evidence_requests(cli: Cli):
    ref = _referred(cli)
    cli.ok("ombudsman", "request", ref, "--due", "2026-05-15", "--on", "2026-05-05")
    cli.ok("ombudsman", "evidence-sent", ref, "--on", "2026-05-14")
    cli.ok("determination", ref, "--finding", "service-failure", "--order", "Apologise", "--order-due",
           "2026-08-17", "--order", "Pay £100", "--order-due", "2026-08-31", "--on", "2026-08-03")
    cli.ok("ombudsman", "order", ref, "Review the damp policy", "--due", "2026-10-30", "--on", "2026-08-04")
    cli.ok("ombudsman", "complied", ref, "--order", "1", "--on", "2026-08-14")
    cli.ok("ombudsman", "complied", ref, "--order", "2", "--on", "2026-09-07")
    figures = json.loads(cli.ok("report", "committee", "--from", "2026-04-01", "--to", "2026-09-30",
                                "--format", "json").stdout)["total"]["ombudsman"]
    assert figures["findings"] == {"service-failure": 1}
    assert (figures["orders_made"], figures["orders_complied_on_time"], figures["orders_complied_late"],
            figures["orders_outstanding"], figures["orders_overdue"]) == (3, 1, 1, 1, 0)
    assert (figures["evidence_requests"], figures["evidence_sent_on_time"], figures["evidence_sent_late"]) == \
        (1, 1, 0)
    # The next period: order 3, made in August, is still outstanding at its end and past due (30 Oct).
    later = json.loads(cli.ok("report", "committee", "--from", "2026-10-01", "--to", "2026-11-30",
                              "--format", "json").stdout)["total"]["ombudsman"]
    assert (later["orders_made"], later["orders_complied_on_time"], later["orders_complied_late"],
            later["orders_outstanding"], later["orders_overdue"]) == (0, 0, 0, 1, 1)
    html = cli.ok("report", "committee", "--from", "2026-04-01", "--to", "2026-09-30").stdout
    assert "<tr><td>Orders complied with on time</td><td>1</td></tr>" in html
    annual = cli.ok("report", "annual", "--year", "2026", "--homes", "100").stdout
    assert "<tr><td>Orders outstanding at the end of the period</td><td>1</td></tr>" in annual
    stats = cli.ok("stats", "--from", "2026-04-01", "--to", "2026-09-30").stdout
    assert "Orders complied with late" in stats


@pytest.mark.parametrize("args, error", [
    (["--order", "Pay", "--order", "Fix", "--order-due", "2026-08-31"],
     "Error: 2 order(s) and 1 due date(s) given: give one --order-due for each --order, in the same order"),
    (["--order", "Pay", "--order-due", "2026-08-01"],
     "Error: the due date for an order (2026-08-01) is before it was made (2026-08-03)"),
])
def test_a_determination_with_unpaired_or_past_order_dates_is_refused_and_writes_nothing(cli: Cli, args, error):
    ref = _referred(cli)
    before = cli.event_count()
    assert cli.fails("determination", ref, "--finding", "maladministration", "--on", "2026-08-03", *args) == error
    assert cli.event_count() == before


def test_the_old_determination_usage_still_works_and_says_its_orders_are_not_tracked(cli: Cli):
    ref = _referred(cli)
    done = cli.ok("determination", ref, "--finding", "maladministration", "--order", "Apologise", "--on",
                  "2026-08-03")
    assert "not tracked to compliance" in done.stderr
    assert cli.show(ref)["determination"]["orders"] == ["Apologise"]
    cli.ok("close", ref, "--on", "2026-08-04")
