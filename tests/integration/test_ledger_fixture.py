"""A ledger written by the code of November 2026 (tests/fixtures/ledger-2026-11.db, made by
make_ledger_fixture.py) must open, replay every case to the same view, give the same statistics and verify with
every later version of the code: stored events are never rewritten, so a changed event shape needs an upcaster.
Later versions may show more (a new field) but never less or different."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from complaints_ledger.adapters import audit
from complaints_ledger.adapters.persistence import open_ledger
from tests.fixtures.make_ledger_fixture import DB, EXPECTED, UNTIL, views


def test_the_november_2026_ledger_still_opens_replays_to_the_same_views_and_verifies(tmp_path: Path):
    copy = tmp_path / DB.name
    shutil.copy(DB, copy)  # the committed file is never written to
    ledger = open_ledger(f"sqlite:///{copy}", today=lambda: UNTIL)

    assert ledger.event_count() == 387
    found = audit.verify(ledger.recorder)
    assert found.breaks == [] and found.events == 387

    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    now = views(ledger)
    assert sorted(now["cases"]) == sorted(expected["cases"])
    for ref, view in expected["cases"].items():
        assert_still_shows(now["cases"][ref], view, ref)
    assert_still_shows(now["stats"], expected["stats"], "stats")

    # Upcasting: extensions stored before v2 of Extended did not say whether the Ombudsman's details were given.
    extended = [e for view in now["cases"].values() for e in view["history"] if e["event"] == "Extended"]
    assert extended and all(e["details"]["ombudsman_details_given"] is None for e in extended)
    # ...nor when a refusal's written notice was sent.
    refused = [e for view in now["cases"].values() for e in view["history"] if e["event"] == "Refused"]
    assert refused and all(e["details"]["notice_sent_on"] is None for e in refused)


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
