"""Benchmark: the ledger's import path next to eventsourcing-sqlalchemy's own batched save of the same events.

    python bench/import.py [--cases 3000] [--rounds 3] [--batch 200] [--source legacy|simulator] [--pg URL] [--no-pg]
    python bench/import.py --whole [--cases 20000] [--no-pg]

--whole answers "why not one transaction for the whole file?": `complaints import` of the same generated file in
batches of --batch aggregates and in one transaction, each in a process of its own, with its wall time, its longest
transaction (what every other writer waits for: SQLite's write lock; PostgreSQL's LOCK TABLE … IN EXCLUSIVE MODE on
the event log) and its peak memory (docs/importing.md, "Whole, or said to be incomplete").

"Ours: import" is the real import path, timed from its input to the last commit: `complaints import FILE` done in
process on a generated legacy CSV of --cases rows (read and checked, every case built through the aggregate, linked
to a new data subject, encoded, its personal data sealed, chained, and appended through the recorder's Core path,
about --batch aggregates per transaction). With --source simulator it is ComplaintsLedger.import_cases fed by the
simulator (`complaints simulate`). "Library" is a plain eventsourcing Application on eventsourcing-sqlalchemy's own
ORM recorder (no chain, no sealing, no snapshots) saving exactly the same aggregates' events, batch for batch, with
`app.save(*batch)`; only its saves are timed. "Ours: same batches saved" saves those same batches through the ledger
(`ledger.save(*batch)`): the save path alone, like for like. Every run starts from an empty database (SQLite: a new
file; PostgreSQL: a new schema, dropped after). Each figure is the best of --rounds runs, alternated, because a
shared machine's speed drifts. Target: ours >= 3x the library's events/s. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import copy
import csv
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa
from eventsourcing.application import Application

from complaints_ledger.adapters import legacy_import, policy_files, simulation
from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.domain import legacy
from complaints_ledger.domain.vocabulary import OUTCOMES
from complaints_ledger.domain.ledger import ComplaintsLedger, DateAsISO

from _scratch import PostgresSchemas, SQLiteFiles  # noqa: E402 - bench/ is the script's own folder

UNTIL = date(2026, 11, 20)
ACTOR = "bench"


@dataclass
class LegacyFile:
    """The workload: a legacy complaints file of `cases` rows, imported as `complaints import FILE` does it (read,
    every case built through the aggregate and checked, then saved)."""

    path: Path
    cases: int
    batch: int = 200
    seed: int = 11

    def write(self) -> None:
        rng = random.Random(self.seed)
        with self.path.open("w", newline="", encoding="utf-8") as f:
            out = csv.DictWriter(f, fieldnames=legacy.COLUMNS)
            out.writeheader()
            for n in range(self.cases):
                out.writerow(legacy_row(rng, n))

    def run(self, ledger: ComplaintsLedger, dry_run: bool = False) -> None:
        reading = self.read()
        ledger.import_legacy(reading.cases, actor=ACTOR, refused=reading.errors, batch_size=self.batch,
                             dry_run=dry_run)

    def read(self) -> legacy_import.Reading:
        return legacy_import.read(self.path, default_policy=policy_files.load_shipped("hoc-2024"),
                                  policies=policy_files.load_shipped)

    def phases(self, url: str) -> tuple[float, float]:
        """Seconds to read the file, and to read it and build and check every case (a dry run: nothing saved)."""
        ledger = open_ledger(url, today=lambda: UNTIL)
        ledger.recorder.max_notification_id()
        gc.collect()
        started = time.perf_counter()
        self.read()
        read = time.perf_counter() - started
        started = time.perf_counter()
        self.run(ledger, dry_run=True)
        checked = time.perf_counter() - started
        ledger.recorder.datastore.engine.dispose()
        return read, checked


def legacy_row(rng: random.Random, n: int) -> dict[str, str]:
    """A plausible legacy case: acknowledged, answered, sometimes escalated and reviewed, compensated, referred;
    the latest ones still open at UNTIL."""
    category = simulation._pick(rng, simulation.CATEGORIES)
    received = UNTIL - timedelta(days=rng.randint(0, 364))
    row = {"ref": f"LEG/{received.year}/{n:06d}", "complainant": f"{rng.choice(simulation.FIRST)} "
           f"{rng.choice(simulation.LAST)}", "contact": f"07700 {rng.randint(900000, 999999)}",
           "channel": simulation._pick(rng, simulation.CHANNELS), "category": category,
           "summary": rng.choice(simulation.SUMMARIES[category]), "received_on": received.isoformat()}
    steps = [("acknowledged_on", rng.randint(0, 4)), ("responded_on", rng.randint(3, 14))]
    if rng.random() < 0.2:
        steps += [("escalated_on", rng.randint(1, 15)), ("stage2_acknowledged_on", rng.randint(0, 4)),
                  ("reviewed_on", rng.randint(5, 25))]
    steps.append(("closed_on", rng.randint(0, 5)))
    day = received
    for column, days in steps:
        day += timedelta(days=days)
        if day > UNTIL:
            break
        row[column] = day.isoformat()
        if column in ("responded_on", "reviewed_on"):
            row["outcome" if column == "responded_on" else "review_outcome"] = rng.choice(OUTCOMES)
    if "closed_on" in row and rng.random() < 0.15:
        row["compensation_approved"] = row["compensation_paid"] = f"{rng.randrange(50, 600, 25)}.00"
    if "reviewed_on" in row and "closed_on" in row and rng.random() < 0.25:
        row["referred_on"] = row["closed_on"]
    return row


@dataclass
class SimulatedCases:
    """The other bulk path: the simulator's complaints, saved through ComplaintsLedger.import_cases
    (`complaints simulate`)."""

    cases: int
    batch: int = 200
    seed: int = 11

    def write(self) -> None:
        pass

    def run(self, ledger: ComplaintsLedger) -> None:
        ledger.import_cases(simulation.complaints(random.Random(self.seed), cases=self.cases, until=UNTIL,
                                                  actor=ACTOR), batch_size=self.batch)


Workload = LegacyFile | SimulatedCases


class Capturing(ComplaintsLedger):
    """The ledger in memory, keeping a copy of each save's aggregates with their new events: the library's batches
    are exactly ours."""

    def __init__(self) -> None:
        super().__init__({"PERSISTENCE_MODULE": "eventsourcing.popo"}, policies=policy_files.load_shipped,
                         today=lambda: UNTIL)
        self.batches: list[list[Any]] = []

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        self.batches.append(copy.deepcopy([obj for obj in objs if obj is not None]))
        return super().save(*objs, **kwargs)


class LibraryBaseline(Application):
    """eventsourcing-sqlalchemy as shipped; it only needs to know how the ledger writes a date."""

    name = "LibraryBaseline"

    def register_transcodings(self, transcoder: Any) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())


def count_events(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


def time_library(url: str, batches: list[list[Any]]) -> tuple[int, float]:
    return time_saves(LibraryBaseline({"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url,
                                       "CREATE_TABLE": "y"}), batches)


def time_our_saves(url: str, batches: list[list[Any]]) -> tuple[int, float]:
    """The same batches through the ledger's own save: sealed, chained, Core inserts."""
    return time_saves(open_ledger(url, today=lambda: UNTIL), batches)


def time_ours(url: str, workload: Workload) -> tuple[int, float]:
    ledger = open_ledger(url, today=lambda: UNTIL)
    gc.collect()
    started = time.perf_counter()
    workload.run(ledger)
    seconds = time.perf_counter() - started
    recorder = ledger.recorder
    events = count_events(recorder.datastore.engine, recorder.events_table_name)
    recorder.datastore.engine.dispose()
    return events, seconds


def time_saves(app: Application, batches: list[list[Any]]) -> tuple[int, float]:
    """Save copies of the captured aggregates (saving collects their new events), one transaction per batch."""
    batches = copy.deepcopy(batches)
    app.recorder.max_notification_id()  # connect (and switch SQLite to WAL) before the clock starts
    gc.collect()
    started = time.perf_counter()
    for batch in batches:
        app.save(*batch)
    seconds = time.perf_counter() - started
    recorder = app.recorder
    events = count_events(recorder.datastore.engine, recorder.events_table_name)
    recorder.datastore.engine.dispose()
    return events, seconds


def best(runs: list[tuple[int, float]]) -> tuple[int, float]:
    return min(runs, key=lambda r: r[1])


def measure(database: Any, workload: Workload, batches: list[list[Any]], rounds: int
            ) -> tuple[dict[str, Any], tuple[float, float] | None]:
    """The best of `rounds` for each path, and (a legacy file) the best read and dry-run times."""
    runs: dict[str, list[tuple[int, float]]] = {"library": [], "saves": [], "ours": []}
    phases = []
    try:
        for _ in range(rounds):
            runs["library"].append(time_library(database.fresh(), batches))
            runs["saves"].append(time_our_saves(database.fresh(), batches))
            runs["ours"].append(time_ours(database.fresh(), workload))
            if isinstance(workload, LegacyFile):
                phases.append(workload.phases(database.fresh()))
    finally:
        database.close()
    best_phases = (min(p[0] for p in phases), min(p[1] for p in phases)) if phases else None
    return {path: best(timings) for path, timings in runs.items()}, best_phases


def where_the_time_goes(rows: list[tuple[str, dict[str, Any], tuple[float, float] | None]]) -> str:
    """The import's time by phase next to what the 3x target would allow for all of it, per event."""
    lines = ["", "where the import's time goes, per event (best of the rounds):",
             f"{'database':<11} {'read file':>10} {'build+check':>12} {'save':>8} {'import':>8} {'3x budget':>10}"]
    for label, result, phases in rows:
        if phases is None:
            continue
        events, total = result["ours"]
        read, checked = phases
        lib_events, lib_s = result["library"]
        per = 1e6 / events
        lines.append(f"{label:<11} {read * per:>8.0f}us {(checked - read) * per:>10.0f}us "
                     f"{(total - checked) * per:>6.0f}us {total * per:>6.0f}us {lib_s / lib_events * 1e6 / 3:>8.0f}us")
    return "\n".join(lines)


PATHS = {"library": "library batched save", "saves": "ours: same batches saved", "ours": "ours: import"}


def table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    lines = [f"{'database':<11} {'path':<26} {'events':>8} {'seconds':>8} {'events/s':>9} {'ratio':>6}",
             "-" * 73]
    for label, result in rows:
        lib_events, lib_s = result["library"]
        for path, (events, seconds) in result.items():
            rate = events / seconds
            lines.append(f"{label if path == 'library' else '':<11} {PATHS[path]:<26} {events:>8} {seconds:>8.2f} "
                         f"{rate:>9,.0f} {rate / (lib_events / lib_s):>5.2f}x")
    return "\n".join(lines)


def whole_or_batched(path: Path, cases: int, batch: int, urls: list[tuple[str, Callable[[], Any]]]) -> str:
    """The import in batches and in one transaction, each in a process of its own (for its peak memory)."""
    lines = [f"{cases} legacy cases, each import in a process of its own:",
             f"{'database':<11} {'transactions':<22} {'seconds':>8} {'longest transaction':>20} {'peak memory':>12}"]
    for label, make in urls:
        for size, name in ((batch, f"batches of {batch}"), (10 ** 9, "one for the whole file")):
            database = make()
            try:
                out = subprocess.run([sys.executable, __file__, "--worker", database.fresh(), str(path), str(size)],
                                     check=True, capture_output=True, text=True).stdout
            finally:
                database.close()
            r = json.loads(out)
            lines.append(f"{label:<11} {name:<22} {r['seconds']:>8.1f} {r['longest']:>19.2f}s "
                         f"{r['peak_mb']:>9,} MB")
    return "\n".join(lines)


def worker(url: str, path: str, batch: int) -> None:
    """One `complaints import` as the command does it, timing each transaction."""
    ledger = open_ledger(url, today=lambda: UNTIL)
    longest = 0.0
    save = ledger._save

    def timed(*aggregates: Any) -> None:
        nonlocal longest
        started = time.perf_counter()
        save(*aggregates)
        longest = max(longest, time.perf_counter() - started)

    ledger._save = timed  # type: ignore[method-assign]
    started = time.perf_counter()
    reading = legacy_import.read(path, default_policy=policy_files.load_shipped("hoc-2024"),
                                 policies=policy_files.load_shipped)
    ledger.import_legacy(reading.cases, actor=ACTOR, refused=reading.errors, batch_size=batch, file=reading.file)
    print(json.dumps({"seconds": time.perf_counter() - started, "longest": longest,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=3000, help="legacy rows (about 5 events each)")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs of each figure")
    parser.add_argument("--batch", type=int, default=200, help="aggregates per transaction, both sides")
    parser.add_argument("--pg", default=os.environ.get("COMPLAINTS_BENCH_PG_URL",
                                                       "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--source", choices=("legacy", "simulator"), default="legacy")
    parser.add_argument("--whole", action="store_true", help="batches against one transaction for the whole file")
    args = parser.parse_args()
    if args.whole:
        with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
            workload = LegacyFile(Path(folder) / "legacy-cases.csv", args.cases, args.batch)
            workload.write()
            urls: list[tuple[str, Callable[[], Any]]] = [("SQLite", SQLiteFiles)]
            if not args.no_pg:
                urls.append(("PostgreSQL", lambda: PostgresSchemas(args.pg, prefix="bench_import")))
            print(whole_or_batched(workload.path, args.cases, args.batch, urls))
        return
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        workload: Workload = (LegacyFile(Path(folder) / "legacy-cases.csv", args.cases, args.batch)
                              if args.source == "legacy" else SimulatedCases(args.cases, args.batch))
        workload.write()
        capture = Capturing()
        workload.run(capture)
        batches = [b for b in capture.batches if b]
        events = sum(len(a.pending_events) for batch in batches for a in batch)
        gc.freeze()  # the bench's own inputs are no work for the collector during the timed runs, either side's
        print(f"{args.source}: {args.cases} cases = {events} events in {len(batches)} batches of about "
              f"{args.batch} aggregates; best of {args.rounds} round(s)")
        databases: list[Callable[[], Any]] = [SQLiteFiles]
        if not args.no_pg:
            databases.append(lambda: PostgresSchemas(args.pg, prefix="bench_import"))
        rows = []
        for make in databases:
            database = make()
            rows.append((database.label, *measure(database, workload, batches, max(1, args.rounds))))
    print(table([(label, result) for label, result, _ in rows]))
    if args.source == "legacy":
        print(where_the_time_goes(rows))


if __name__ == "__main__":
    main()
