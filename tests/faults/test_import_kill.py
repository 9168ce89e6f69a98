"""kill -9 of a real `complaints import FILE` at random moments, on SQLite and PostgreSQL: afterwards the ledger holds
either none of the file's cases, or a recorded import run that `projections status`, `verify` and the next `import`
report as incomplete with the true count; the next import finishes it, and the ledger then verifies with every case
of the file in it once (docs/importing.md, "Whole, or said to be incomplete")."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from complaints_ledger.domain.legacy import COLUMNS
from tests.e2e._cli import Cli

from ._kill import Peek, complaints, killed, seeded

CASES = 2000
INCOMPLETE = re.compile(r"^Notice: import of (\S+) \(sha256 [0-9a-f]{12}…\) started \d{4}-\d\d-\d\d \d\d:\d\d UTC "
                        r"by \S+ is incomplete: ([\d,]+) of ([\d,]+) cases; run the same import again to finish it$")


def legacy_file(path: Path, cases: int) -> Path:
    """Closed stage 1 cases of 2025, every fifth one escalated and reviewed."""
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.DictWriter(f, fieldnames=COLUMNS)
        out.writeheader()
        for n in range(cases):
            day = 1 + n % 28
            month = 1 + n % 6
            row = {"ref": f"OLD/{n:05d}", "complainant": f"Resident {n}", "channel": "phone",
                   "summary": "Heating not working", "received_on": f"2025-{month:02d}-{day:02d}",
                   "acknowledged_on": f"2025-{month + 1:02d}-{day:02d}",
                   "responded_on": f"2025-{month + 2:02d}-{day:02d}", "outcome": "upheld"}
            if n % 5 == 0:
                row |= {"escalated_on": f"2025-{month + 3:02d}-{day:02d}", "reviewed_on":
                        f"2025-{month + 4:02d}-{day:02d}", "review_outcome": "not-upheld"}
            row["closed_on"] = f"2025-{month + 5:02d}-{day:02d}"
            out.writerow(row)
    return path


def reported(lines: str) -> list[tuple[str, int, int]]:
    found = []
    for line in lines.splitlines():
        match = INCOMPLETE.match(line)
        if match:
            found.append((match[1], int(match[2].replace(",", "")), int(match[3].replace(",", ""))))
    return found


def assert_whole_or_reported(cli: Cli, peek: Peek, file: Path) -> int:
    """None of the file, all of it, or an incomplete run that every reader reports with the true count."""
    in_ledger = peek.cases()
    status = cli.ok("projections", "status")
    verified = cli.ok("verify")  # a partial import is not tampering: exit 0, with the notice
    dry_run = cli.ok("import", str(file), "--dry-run")
    if in_ledger in (0, CASES):
        for result in (status, verified, dry_run):
            assert reported(result.stderr) == [], result.stderr
        assert "this would finish" not in dry_run.stderr
    else:
        for result in (status, verified, dry_run):
            assert reported(result.stderr) == [(file.name, in_ledger, CASES)], result.stderr
        assert f"this would finish the import of {file.name}" in dry_run.stderr
        assert f"which had stopped at {in_ledger:,} of {CASES:,} cases" in dry_run.stderr
    assert f"would import {CASES - in_ledger} cases" in dry_run.stdout
    return in_ledger


def test_an_import_killed_at_random_moments_is_whole_or_reported_and_the_next_import_finishes_it(db_url, tmp_path):
    rng = seeded("import kill")
    file = legacy_file(tmp_path / "old-system.csv", CASES)
    cli = Cli(db_url)
    cli.ok("init")
    peek = Peek(db_url)
    try:
        # 1: a random moment of its first half second or so (the whole import takes over a second): starting,
        # reading and checking, or the first batches.
        landed, err = killed(complaints(db_url, "import", str(file)), ready=lambda: True,
                             delay=rng.uniform(0.0, 0.6))
        assert "Traceback" not in err
        first = assert_whole_or_reported(cli, peek, file)
        assert first < CASES, "the import finished within a second: make the file bigger"

        # 2: while cases are being written, at a random count with at least one batch (100 cases) still to come.
        if first < CASES - 100:
            target = rng.randint(first + 1, CASES - 100)
            landed, err = killed(complaints(db_url, "import", str(file)), ready=lambda: peek.cases() >= target,
                                 delay=0)
            assert "Traceback" not in err
            second = assert_whole_or_reported(cli, peek, file)
            assert first < second < CASES, "the kill did not land mid-import"

        # The next import finishes it: every case once, the run completed, nothing reported any more.
        before = peek.cases()
        finished = cli.ok("import", str(file))
        assert f"imported {CASES - before} cases" in finished.stdout
        assert f"; {before} already in the ledger" in finished.stdout
        assert ("this finishes the import" in finished.stderr) == (0 < before < CASES)
        assert peek.cases() == CASES
        verified = cli.ok("verify")
        assert "verified:" in verified.stdout
        for result in (cli.ok("projections", "status"), verified):
            assert reported(result.stderr) == [], result.stderr
    finally:
        peek.close()
