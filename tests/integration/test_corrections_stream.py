"""A correction in the event stream, on SQLite and PostgreSQL: it matches the published schema, a corrected date is
plain for a warehouse, and a person's old and new details (and the reason) are sealed like the rest of their data:
withheld from a stream without personal data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "event-stream.schema.json").read_text())


def test_corrections_stream_by_the_schema_with_personal_values_sealed(ledger, receive):
    ref = receive(ledger, received_on=date(2026, 10, 5), property_ref="12 Elm Road")
    ledger.acknowledge(ref, actor="Jo Officer", on=date(2026, 10, 12))
    ledger.correct(ref, field="received-date", to="2026-09-28", reason="Letter date", actor="Mo Manager")
    ledger.correct(ref, field="property", to="14 Elm Road", reason="Wrong number", actor="Mo Manager")
    ledger.correct(ref, event_version=2, to=date(2026, 10, 9), reason="Sent on the 9th", actor="Mo Manager")
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())

    full = [json.loads(i.as_json()) for i in ledger.subscribe(follow=False, events=["Corrected"])]
    bare = [json.loads(i.as_json()) for i in ledger.subscribe(follow=False, events=["Corrected"],
                                                              personal_data=False)]

    for line in full + bare:
        assert not [e.message for e in validator.iter_errors(line)]
    assert [(d["details"]["old"], d["details"]["new"]) for d in bare] == [
        ("2026-10-05", "2026-09-28"), (None, None), ("2026-10-12", "2026-10-09")]
    assert (full[1]["details"]["old_personal"], full[1]["details"]["new_personal"]) == ("12 Elm Road", "14 Elm Road")
    assert {bare[1]["details"][k] for k in ("old_personal", "new_personal", "reason")} == {"[withheld]"}
    assert bare[2]["details"]["step"] == "Acknowledged" and bare[2]["details"]["event_version"] == 2
    shown = ledger.show(ref)
    assert (shown["received_on"], shown["property"], shown["stages"][0]["acknowledged_on"]) == (
        date(2026, 9, 28), "14 Elm Road", date(2026, 10, 9))
