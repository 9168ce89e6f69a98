"""The case_index read model on the ledgers written by earlier code (tests/fixtures): catching up builds it from
their cases, unsealed with each person's key (or in clear, for the ledger from before encryption), and an erased
person's case leaves nothing in it."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa

from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.adapters.projection_store import ProjectionRunner, verify_read_models
from complaints_ledger.projections import all_projections
from complaints_ledger.projections.case_index import NAME, matching_refs
from tests.fixtures.make_ledger_fixture import UNTIL, paths


def opened(name: str, tmp_path: Path):
    db, _ = paths(name)
    copy = tmp_path / db.name
    shutil.copy(db, copy)  # the committed file is never written to
    ledger = open_ledger(f"sqlite:///{copy}", today=lambda: UNTIL)
    runner = ProjectionRunner(ledger, all_projections())
    runner.catch_up()
    return ledger, runner


def test_the_sealed_fixture_is_indexed_with_each_persons_key_and_the_erased_case_is_not(tmp_path):
    ledger, runner = opened("ledger-2026-11-23", tmp_path)
    try:
        assert matching_refs(runner, "linked again") == {"CMP-2026-000057"}
        assert "CMP-2025-000002" in matching_refs(runner, "roberts")
        assert matching_refs(runner, "prop-0152") >= {"CMP-2025-000002"}
        terms = runner.live_tables(NAME)["terms"]
        with runner.engine.connect() as conn:
            erased = conn.execute(sa.select(sa.func.count()).where(terms.c.ref == "CMP-2025-000001")).scalar()
            indexed = conn.execute(sa.select(sa.func.count(sa.distinct(terms.c.ref)))).scalar()
        assert erased == 0 and indexed > 50
        assert verify_read_models(runner, [NAME])[1] == []
    finally:
        ledger.close()


def test_the_ledger_from_before_encryption_is_indexed_from_its_clear_fields(tmp_path):
    ledger, runner = opened("ledger-2026-11", tmp_path)
    try:
        assert "CMP-2025-000001" in matching_refs(runner, "Priya Patel")
        assert "CMP-2025-000001" in matching_refs(runner, "PROP-6881", ("property",))
        assert matching_refs(runner, "PROP-6881", ("name", "contact")) == set()
    finally:
        ledger.close()
