"""Replaying what the ledger knew at a moment (`--known-at`), as an ombudsman inquiry asks: an acknowledgement
entered later but back-dated is left out of the history and of the case as shown then, while `--as-of` alone
(business dates) would include it."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from ._cli import deadline


def _now_z() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_known_at_leaves_out_a_back_dated_entry_recorded_later(cli):
    ref = cli.receive("2026-03-02")
    time.sleep(0.02)
    cut = _now_z()
    time.sleep(0.02)
    cli.ok("acknowledge", ref, "--on", "2026-03-04")  # entered after the cut, dated before it

    assert [e["event"] for e in cli.history(ref)] == ["Received", "Acknowledged"]
    lines = cli.ok("history", ref, "--known-at", cut, "--format", "json").stdout.splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["Received"]

    # On 16 March (business date) the acknowledgement was met, by today's record...
    assert deadline(cli.show(ref, as_of="2026-03-16"), 1, "acknowledge")["status"] == "met"
    # ...but at the cut the ledger did not know of it: overdue then.
    shown = json.loads(cli.ok("show", ref, "--as-of", "2026-03-16", "--known-at", cut, "--format", "json").stdout)
    assert deadline(shown, 1, "acknowledge")["status"] == "overdue"
    assert shown["version"] == 1 and shown["known_at"].startswith(cut[:16])


def test_known_at_before_the_case_was_recorded_and_a_bad_timestamp_are_one_clear_error(cli):
    ref = cli.receive("2026-03-02")
    assert "had not been recorded by 2020-01-01" in cli.fails("history", ref, "--known-at", "2020-01-01")
    assert "is not a date and time" in cli.fails("show", ref, "--known-at", "yesterday-ish")
