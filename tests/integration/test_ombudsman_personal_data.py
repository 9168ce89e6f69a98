"""The Ombudsman's orders and the evidence of compliance are a person's data, on SQLite and PostgreSQL: sealed with the
complainant's key when stored, and "[erased]" everywhere once they are erased; the due and done dates stay."""

from __future__ import annotations

import json

import pytest

from tests.e2e._cli import Cli
from tests.integration.test_personal_data import _stored_bytes

ORDER = "Replace Mrs Quenby-Marlowe's bathroom ceiling"
EVIDENCE = "Invoice 7731 for Flat 3, 14 Larkspur Row"


@pytest.fixture
def cli(db_url) -> Cli:
    return Cli(db_url)


def test_order_text_and_compliance_evidence_are_sealed_and_erased(cli, db_url):
    ref = cli.receive("2026-03-02", complainant="Ada Quenby-Marlowe")
    for step in (["acknowledge", ref, "--on", "2026-03-04"], ["respond", ref, "--outcome", "upheld", "--on",
                 "2026-03-16"], ["escalate", ref, "--on", "2026-03-23"], ["acknowledge", ref, "--on", "2026-03-25"],
                 ["review", ref, "--outcome", "upheld", "--on", "2026-04-22"], ["refer", ref, "--on", "2026-05-01"],
                 ["determination", ref, "--finding", "maladministration", "--order", ORDER, "--order-due",
                  "2026-09-01", "--on", "2026-08-03"],
                 ["ombudsman", "complied", ref, "--evidence", EVIDENCE, "--on", "2026-08-20"],
                 ["close", ref, "--on", "2026-08-21"]):
        cli.ok(*step)
    assert cli.show(ref)["ombudsman"]["orders"][0]["text"] == ORDER
    stored = _stored_bytes(db_url)
    assert ORDER.encode() not in stored and EVIDENCE.encode() not in stored

    cli.ok("erase", "--complainant", cli.show(ref)["complainant_id"], "--reason", "erasure request")
    [order] = cli.show(ref)["ombudsman"]["orders"]
    assert (order["text"], order["evidence"]) == ("[erased]", "[erased]")
    assert (order["due_on"], order["complied_on"], order["status"]) == ("2026-09-01", "2026-08-20", "met")
    history = json.dumps(cli.history(ref))
    assert ORDER not in history and EVIDENCE not in history
