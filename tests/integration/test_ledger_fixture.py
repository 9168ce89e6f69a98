"""Ledgers written by earlier code (tests/fixtures/ledger-2026-11*.db, made by make_ledger_fixture.py) must open, replay every case to the same view, give the same statistics and verify with
every later version of the code: stored events are never rewritten, so a changed event shape needs an upcaster.
Later versions may show more (a new field) but never less or different."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from complaints_ledger.adapters import audit
from complaints_ledger.adapters.persistence import open_ledger
import pytest

from tests.fixtures.make_ledger_fixture import FIXTURES, UNTIL, paths, views


@pytest.fixture(params=FIXTURES)
def fixture_ledger(request, tmp_path: Path):
    db, expected = paths(request.param)
    copy = tmp_path / db.name
    shutil.copy(db, copy)  # the committed file is never written to
    ledger = open_ledger(f"sqlite:///{copy}", today=lambda: UNTIL)
    yield request.param, ledger, json.loads(expected.read_text(encoding="utf-8"))
    ledger.close()


def test_each_earlier_ledger_still_opens_replays_to_the_same_views_and_verifies(fixture_ledger):
    name, ledger, expected = fixture_ledger
    events = expected.get("events", 387)
    assert ledger.event_count() == events
    found = audit.verify(ledger.recorder)
    assert found.breaks == [] and found.events == events

    now = views(ledger)
    assert sorted(now["cases"]) == sorted(expected["cases"])
    for ref, view in expected["cases"].items():
        assert_still_shows(now["cases"][ref], view, ref)
    assert_still_shows(now["stats"], expected["stats"], "stats")

    if name != "ledger-2026-11":
        return
    # Upcasting: extensions stored before v2 of Extended did not say whether the Ombudsman's details were given.
    extended = [e for view in now["cases"].values() for e in view["history"] if e["event"] == "Extended"]
    assert extended and all(e["details"]["ombudsman_details_given"] is None for e in extended)
    # ...nor when a refusal's written notice was sent.
    refused = [e for view in now["cases"].values() for e in view["history"] if e["event"] == "Refused"]
    assert refused and all(e["details"]["notice_sent_on"] is None for e in refused)
    # ...nor who the complainant was as a data subject: their personal data was stored before encryption.
    assert all(view["show"]["complainant_id"] is None for view in now["cases"].values())


def test_the_sealed_ledger_still_opens_each_persons_data_with_their_key_and_keeps_the_erased_one_erased():
    db, expected_file = paths("ledger-2026-11-23")
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    shown = {ref: view["show"] for ref, view in expected["cases"].items()}
    erased = [ref for ref, view in shown.items() if view["complainant"] == "[erased]"]
    assert erased == ["CMP-2025-000001"] and shown["CMP-2025-000001"]["erasure"]["actor"] == "fixture"
    assert shown["CMP-2026-000057"]["complainant"] == "Linked Again"
    assert shown["CMP-2026-000057"]["complainant_id"] == shown["CMP-2025-000002"]["complainant_id"]
    assert all(view["complainant_id"] for view in shown.values())
    # The file holds no name in plain text (the views above were read through the keys).
    stored = db.read_bytes()
    assert b"Linked Again" not in stored and shown["CMP-2025-000002"]["complainant"].encode() not in stored


def assert_still_shows(now, then, where: str) -> None:
    """Everything shown then is still shown, with the same value; later versions may show more fields."""
    if isinstance(then, dict):
        assert isinstance(now, dict), where
        for key, value in then.items():
            assert key in now, f"{where}: {key} is no longer shown"
            assert_still_shows(now[key], value, f"{where}.{key}")
    elif isinstance(then, list):
        assert isinstance(now, list) and len(now) == len(then), where
        for i, (a, b) in enumerate(zip(now, then)):
            assert_still_shows(a, b, f"{where}[{i}]")
    else:
        assert now == then, f"{where}: {then!r} is now {now!r}"


def test_decisions_stored_before_authentication_was_recorded_read_back_as_not_recorded_and_count_as_typed(
        fixture_ledger):
    """Refusals, reviews and compensation decisions of the old ledgers have no `authenticated`: they upcast to None
    (not recorded), never to an assumed True, so `verify`'s typed-decisions note counts every one of them."""
    _, ledger, _ = fixture_ledger
    decisions = [n for n in ledger.recorder.select_notifications(None, 10_000)
                 if n.topic.rsplit(".", 1)[-1] in ("Refused", "Reviewed", "CompensationApproved",
                                                   "CompensationDeclined")]
    assert len(decisions) == 26
    assert {ledger.mapper.to_domain_event(n).authenticated for n in decisions} == {None}
    assert ledger.unauthenticated_decisions() == 26


def test_cases_received_before_tenure_was_recorded_count_in_all_tenures_only_until_corrected(fixture_ledger,
                                                                                              tmp_path: Path):
    """Received events stored before v5 carry no tenure: they read back as None (not recorded, never a guessed
    default), the annual report still gives the same all-tenure figures as with --homes alone, and the split puts
    every one of them under "not recorded" until `correct --field tenure` says which it was."""
    from tests.e2e._cli import Cli

    name, ledger, _ = fixture_ledger
    assert {view["show"]["tenure"] for view in views(ledger)["cases"].values()} == {None}
    cli = Cli(f"sqlite:///{tmp_path / paths(name)[0].name}")  # the fixture's copy
    annual = ["report", "annual", "--year", "2025", "--format", "json"]
    alone = json.loads(cli.ok(*annual, "--homes", "1000").stdout)["tsm"]
    split = json.loads(cli.ok(*annual, "--homes-lcra", "900", "--homes-lcho", "100").stdout)["tsm"]
    assert alone["CH01"]["stage 1"]["received"] > 0
    assert {k: split[k] for k in alone} == alone
    not_recorded = split["by_tenure"]["not-recorded"]
    assert (not_recorded["CH01"], not_recorded["CH02"]) == (
        {s: {"received": m["received"], "per_1000_homes": None} for s, m in alone["CH01"].items()}, alone["CH02"])
    for tenure in ("lcra", "lcho", "other"):
        assert all(m["received"] == 0 for m in split["by_tenure"][tenure]["CH01"].values())
    # One case's tenure put right: it moves from "not recorded" to LCHO.
    lines = [json.loads(line) for line in cli.ok("events", "--event", "Received").stdout.splitlines()]
    first = next(e for e in lines if "2025-04-01" <= e["occurred_on"] <= "2026-03-31"
                 and e["details"]["complainant"] != "[erased]")  # an erased case takes no new (sealed) reason
    cli.ok("correct", first["ref"], "--field", "tenure", "--to", "lcho", "--reason", "tenure from the housing file")
    again = json.loads(cli.ok(*annual, "--homes-lcra", "900", "--homes-lcho", "100").stdout)["tsm"]
    assert again["by_tenure"]["lcho"]["CH01"]["stage 1"]["received"] == 1
    assert again["by_tenure"]["not-recorded"]["CH01"]["stage 1"]["received"] == \
        not_recorded["CH01"]["stage 1"]["received"] - 1
    assert again["CH01"] == alone["CH01"]  # 900 + 100 homes: the same all-tenure figures as --homes 1000
