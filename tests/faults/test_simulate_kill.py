"""kill -9 of a real `complaints simulate` at a random moment, on SQLite and PostgreSQL: whatever was saved is whole
cases (each case's events numbered 1..n with none missing, every case replays), the ledger verifies, references
carry on from the last one issued, and the next command (a `receive`, another `simulate`) works."""

from __future__ import annotations

import re

import sqlalchemy as sa

from complaints_ledger.adapters.persistence import open_ledger
from tests.e2e._cli import Cli

from ._kill import Peek, complaints, killed, seeded


def test_a_simulation_killed_at_a_random_moment_leaves_whole_cases_and_a_ledger_that_verifies(db_url):
    rng = seeded("simulate kill")
    cli = Cli(db_url)
    cli.ok("init")
    peek = Peek(db_url)
    try:
        landed, err = killed(complaints(db_url, "simulate", "--cases", "6000", "--seed", "5", "--until",
                                        "2026-06-30"), ready=lambda: peek.cases() > 0, delay=rng.uniform(0.0, 0.8))
        assert "Traceback" not in err
        saved = peek.cases()
        assert landed and 0 < saved < 6000, "the kill did not land mid-simulation"

        # Every case saved is whole: versions 1..n with none missing, and it replays.
        with peek.engine.connect() as conn:
            versions = conn.execute(sa.text(
                "SELECT originator_id, count(*), max(originator_version) FROM complaintsledger_events "
                "GROUP BY originator_id")).all()
        assert all(n == top for _, n, top in versions)
        ledger = open_ledger(db_url)
        try:
            cases = [ledger.repository.get(oid) for oid, _, _ in versions]
            complaints_saved = [c for c in cases if type(c).__name__ == "Complaint"]
            assert len(complaints_saved) == saved
            numbers = sorted(int(c.ref.rsplit("-", 1)[1]) for c in complaints_saved if c.ref.startswith("CMP-2025"))
        finally:
            ledger.close()
        assert "verified:" in cli.ok("verify").stdout

        # The next reference is the one after the last issued; another simulation carries on.
        ref = cli.receive("2025-12-01")
        year_2025 = numbers[-1] if numbers else 0
        assert ref == f"CMP-2025-{year_2025 + 1:06d}"
        out = cli.ok("simulate", "--cases", "20", "--seed", "6", "--until", "2026-06-30").stdout
        assert re.search(r'"cases": 20\b', out)
        assert peek.cases() == saved + 21
        assert "verified:" in cli.ok("verify").stdout
    finally:
        peek.close()
