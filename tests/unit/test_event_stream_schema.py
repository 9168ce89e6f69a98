"""The published stream schema (docs/event-stream.schema.json) is exactly what the event classes generate, so the
documentation cannot drift from what `complaints events` prints; and it names every streamed event type."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from complaints_ledger.domain.stream import STREAMED, stream_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "event-stream.schema.json"


def test_the_committed_schema_is_the_generated_one():
    committed = json.loads(SCHEMA_FILE.read_text())

    assert committed == stream_schema(), "regenerate it: complaints events schema > docs/event-stream.schema.json"


def test_the_schema_is_valid_and_covers_every_streamed_event_at_its_current_version():
    schema = stream_schema()
    jsonschema.Draft202012Validator.check_schema(schema)

    names = {key.rsplit(".v", 1)[0] for key in schema["$defs"]}
    assert names == set(STREAMED)
    assert "Received.v5" in schema["$defs"] and "Extended.v2" in schema["$defs"]
    received = schema["$defs"]["Received.v5"]["properties"]["details"]["properties"]
    assert "personal data" in received["complainant"]["description"]
    assert received["source"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    # v5: the tenure, not personal data (a category of home the TSM return counts), null when not recorded
    assert received["tenure"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
