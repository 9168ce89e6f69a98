"""A refusal records when its written notice went to the complainant (OHG: refusals are explained in writing), and
the inquiry bundle states it; left out, it is 'not recorded', never assumed."""

from __future__ import annotations

from ._cli import Cli


def test_the_date_the_written_notice_was_sent_is_recorded_and_shown_in_the_bundle(cli: Cli, tmp_path):
    ref = cli.receive("2026-03-02", policy="ohg-2010")
    cli.ok("refuse", ref, "--reason", "legal-action", "--explanation", "A court claim is under way", "--on",
           "2026-03-03", "--notice-sent-on", "2026-03-04")
    assert cli.show(ref)["refusal"]["notice_sent_on"] == "2026-03-04"
    cli.ok("bundle", ref, "--output", str(tmp_path / "b"))
    assert "Written notice sent: 4 March 2026" in (tmp_path / "b" / "case.html").read_text()


def test_without_a_date_the_notice_is_not_recorded_and_the_officer_is_told(cli: Cli, tmp_path):
    ref = cli.receive("2026-03-02", policy="ohg-2010")
    done = cli.ok("refuse", ref, "--reason", "legal-action", "--explanation", "Court claim", "--on", "2026-03-03")
    assert "--notice-sent-on" in done.stderr
    assert cli.show(ref)["refusal"]["notice_sent_on"] is None
    cli.ok("bundle", ref, "--output", str(tmp_path / "b"))
    assert "Written notice sent: not recorded" in (tmp_path / "b" / "case.html").read_text()


def test_a_notice_dated_before_the_refusal_is_one_clear_error_and_nothing_is_written(cli: Cli):
    ref = cli.receive("2026-03-02", policy="ohg-2010")
    before = cli.event_count()
    assert "must be on or after the refusal (2026-03-03)" in cli.fails(
        "refuse", ref, "--reason", "legal-action", "--explanation", "Court claim", "--on", "2026-03-03",
        "--notice-sent-on", "2026-03-01")
    assert cli.event_count() == before
