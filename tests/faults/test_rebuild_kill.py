"""kill -9 of a real `complaints projections rebuild` at a seeded random page, on SQLite and PostgreSQL: the old copy
still answers, unchanged; `projections status` says a rebuild is under way and where the live copy stands; a re-run
resumes from the last committed page and the read models then equal the log folded afresh. (Moved here from
tests/integration/test_projections_cli.py, where it ran on SQLite at one fixed page.)"""

from __future__ import annotations

import json
import re
import time

from complaints_ledger.adapters import projection_store
from complaints_ledger.adapters.persistence import open_ledger
from tests.e2e._cli import Cli
from tests.integration.test_projections import (PAGE_SIZE, assert_same_rows, expected_rows, live_rows, log_head,
                                                runner_for, simulate, state_row, status_of)

from ._kill import complaints, killed, seeded

SUMMARY = re.compile(r"rebuilt case_status, deadlines, committee, case_index: (\d+) events in (\d+\.\d)s \(([\d,]+) events/s\)")


def test_a_rebuild_killed_at_a_random_page_leaves_the_old_copy_answering_and_a_re_run_completes_it(
        db_url, today, monkeypatch):
    rng = seeded("rebuild kill")
    opened = []

    def opened_ledger():
        opened.append(open_ledger(db_url, today=lambda: today))
        return opened[-1]

    ledger = opened_ledger()
    try:
        simulate(ledger, cases=1500, seed=41)
        runner = runner_for(ledger)
        runner.catch_up()
        rows_before = live_rows(runner)
        status_before = status_of(runner)
        head = log_head(ledger)
        pages = rng.randint(1, max(1, head // PAGE_SIZE - 6))

        def committed_pages() -> bool:
            return (state_row(ledger).rebuild_position or 0) >= pages * PAGE_SIZE

        # The rebuild commits every PAGE_SIZE events (not its default 2,000), so that six pages' margin is several
        # commits: otherwise its last two commits can come and go between two looks at its position.
        monkeypatch.setenv("COMPLAINTS_REBUILD_PAGE_SIZE", str(PAGE_SIZE))
        landed, err = killed(complaints(db_url, "projections", "rebuild"), ready=committed_pages, delay=0)
        assert landed and "Traceback" not in err, err
        stopped_at = state_row(ledger).rebuild_position
        assert pages * PAGE_SIZE <= stopped_at < head, "the kill did not land mid-rebuild"

        # The old copy still answers, unchanged, and `projections status` says a rebuild is pending.
        reader = runner_for(opened_ledger())
        cli = Cli(db_url)
        status = {row["name"]: row for row in json.loads(cli.ok("projections", "status", "--format", "json").stdout)}
        assert status["case_status"]["rebuild_in_progress"]
        assert status["case_status"]["live_copy"] == status_before["live_copy"]
        assert status["case_status"]["lag"] == 0
        assert live_rows(reader) == rows_before

        # Re-run: it resumes from the last committed page (once the killed process's lease has lapsed).
        monkeypatch.setattr(projection_store, "LEASE_SECONDS", 1, raising=False)
        time.sleep(1.1)
        out = cli.ok("projections", "rebuild").stdout
        match = SUMMARY.fullmatch(out.strip())
        assert match, out
        assert int(match[1]) == head - stopped_at

        status = status_of(reader)
        assert not status["rebuild_in_progress"] and status["lag"] == 0
        assert status["live_copy"] != status_before["live_copy"]
        assert_same_rows(live_rows(reader), expected_rows(ledger))
    finally:
        for each in opened:
            each.close()
