"""Benchmark: projection rebuild rate next to the raw Core read+decode rate of the same database.

    python bench/projections.py [--cases 32000] [--sqlite PATH] [--pg URL] [--reuse] [--rounds 2]

Builds (or with --reuse, reuses) a simulated ledger of about 6 events per case on each database, then prints, for
each: events in the log, raw read+decode events/s (the rebuild's own Core pages + the ledger's mapper, nothing
applied), rebuild events/s of all projections as shipped (worker processes for a large log) and in one process, and
the ratios. Each figure is the best of --rounds runs, alternated, because a shared machine's speed drifts. Target:
rebuild >= 50% of raw. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from datetime import date

from complaints_ledger.adapters import projection_store, simulation
from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.adapters.projection_store import REBUILD_PAGE_SIZE, CaseFolder, ProjectionRunner
from complaints_ledger.projections import all_projections

UNTIL = date(2026, 11, 20)


def prepare(url: str, cases: int, reuse: bool) -> ProjectionRunner:
    ledger = open_ledger(url)
    if ledger.event_count() == 0 or not reuse:
        if ledger.event_count():
            raise SystemExit(f"{url} already has events: pass --reuse, or an empty database")
        started = time.monotonic()
        simulation.build(ledger, cases=cases, seed=11, actor="bench", until=UNTIL)
        print(f"  simulated {cases} cases ({ledger.event_count()} events) in {time.monotonic() - started:.0f}s")
    return ProjectionRunner(ledger, all_projections())


def _fresh(runner: ProjectionRunner) -> None:
    """Start each measurement from the same heap: no cases left folded by the last run for the collector to scan."""
    runner.cases = CaseFolder(runner.ledger)
    gc.collect()


def raw_rate(runner: ProjectionRunner) -> tuple[int, float]:
    _fresh(runner)
    started, position, count = time.monotonic(), 0, 0
    with runner.engine.connect() as conn:
        while True:
            page = runner.read_page(conn, position, REBUILD_PAGE_SIZE)  # the pages a rebuild reads
            if not page:
                break
            position, count = page[-1].position, count + len(page)
    return count, count / (time.monotonic() - started)


def rebuild_rate(runner: ProjectionRunner, workers: int) -> tuple[int, float]:
    _fresh(runner)
    shipped = projection_store.REBUILD_WORKERS
    projection_store.REBUILD_WORKERS = workers
    try:
        started = time.monotonic()
        applied = runner.rebuild()
        return applied, applied / (time.monotonic() - started)
    finally:
        projection_store.REBUILD_WORKERS = shipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=32_000, help="about 6.3 events per case")
    parser.add_argument("--sqlite", default="bench-ledger.db")
    parser.add_argument("--pg", default=os.environ.get("COMPLAINTS_BENCH_PG_URL",
                                                       "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--reuse", action="store_true", help="use the ledgers already there")
    parser.add_argument("--rounds", type=int, default=2, help="best of this many runs of each figure")
    args = parser.parse_args()
    workers = projection_store.REBUILD_WORKERS
    for label, url in (("SQLite", f"sqlite:///{args.sqlite}"), ("PostgreSQL", args.pg)):
        print(f"{label}: {url}")
        runner = prepare(url, args.cases, args.reuse)
        raws, shipped, serial = [], [], []
        for _ in range(max(1, args.rounds)):
            events, rate = raw_rate(runner)
            raws.append(rate)
            shipped.append(rebuild_rate(runner, workers)[1])
            serial.append(rebuild_rate(runner, 1)[1])
        raw, rebuild, one = max(raws), max(shipped), max(serial)
        used = runner._workers_for({name: 0 for name in runner.projections}, events)  # the runner's own rule
        print(f"  {events} events | raw Core read+decode {raw:,.0f} events/s | rebuild {rebuild:,.0f} events/s "
              f"({used} process{'es' if used > 1 else ''}) = {100 * rebuild / raw:.0f}% of raw (target >= 50%) "
              f"| in one process {one:,.0f} events/s = {100 * one / raw:.0f}%")


if __name__ == "__main__":
    main()
