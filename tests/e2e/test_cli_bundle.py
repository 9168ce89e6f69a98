"""`complaints bundle` through the CLI, on SQLite and PostgreSQL: the four files, agreeing with `show` and `verify`;
bad input is one clear line and writes nothing."""

from __future__ import annotations

import json

from ._cli import Cli


def _extended_case(cli: Cli) -> str:
    ref = cli.receive("2026-03-02")
    cli.ok("acknowledge", ref, "--on", "2026-03-03")
    cli.ok("extend", ref, "--working-days", "5", "--reason", "Surveyor visit booked", "--agreed",
           "--ombudsman-details-given", "--on", "2026-03-10")
    cli.ok("respond", ref, "--outcome", "upheld", "--on", "2026-03-25")
    return ref


def test_bundle_writes_four_files_that_agree_with_show_and_verify(cli: Cli, tmp_path):
    ref = _extended_case(cli)
    out = tmp_path / "inquiry"
    cli.ok("bundle", ref, "--output", str(out), "--as-of", "2026-04-01")

    data = json.loads((out / "case.json").read_text())
    assert data["deadlines"] == cli.show(ref, as_of="2026-04-01")["deadlines"]
    assert data["extensions"] == [{"stage": 1, "working_days": 5, "reason": "Surveyor visit booked", "agreed": True,
                                   "recorded_on": "2026-03-10", "ombudsman_details_given": True}]
    assert [e["event"] for e in data["chronology"]] == ["Received", "Acknowledged", "Extended", "Responded"]
    integrity = json.loads((out / "integrity.json").read_text())
    assert integrity["verified"] and integrity["head"]["version"] == 4
    assert [e["link"] for e in integrity["events"][1:]] == [e["hash"] for e in integrity["events"][:-1]]
    html = (out / "case.html").read_text()
    assert "Surveyor visit booked" in html and "@media print" in html and "<script" not in html
    typed = tmp_path / "typed-in-lower-case"
    cli.ok("bundle", ref.lower(), "--output", str(typed), "--as-of", "2026-04-01")
    assert json.loads((typed / "integrity.json").read_text()) == integrity
    assert (typed / "policy.toml").read_text() == (out / "policy.toml").read_text()


def test_an_extension_without_the_ombudsmans_details_is_recorded_as_such_with_a_note(cli: Cli):
    ref = cli.receive("2026-03-02")
    cli.ok("acknowledge", ref, "--on", "2026-03-03")
    result = cli.ok("extend", ref, "--working-days", "5", "--reason", "Waiting for parts", "--on", "2026-03-10")
    assert "Code (6.5)" in result.stderr
    assert cli.history(ref)[-1]["details"]["ombudsman_details_given"] is False


def test_bundle_refuses_an_unknown_case_or_a_file_for_a_folder_and_writes_nothing(cli: Cli, tmp_path):
    ref = cli.receive("2026-03-02")
    assert cli.fails("bundle", "CMP-2026-999999", "--output", str(tmp_path / "x")) == \
        "Error: no complaint with reference CMP-2026-999999"
    assert not (tmp_path / "x").exists()
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    assert cli.fails("bundle", ref, "--output", str(blocker)).startswith("Error: ")
    assert blocker.read_text() == "not a folder"
