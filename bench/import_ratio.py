"""The bulk-import row of bench/run.py alone, at one size, on SQLite and/or PostgreSQL (issue 20's 1.5x target).

    python bench/import_ratio.py [--events 100000] [--rounds 3] [--db sqlite|postgres|both] [--pg URL]

The same three figures as run.py's bulk-import row, measured the same way (run.py is used, not edited): "import",
ComplaintsLedger.import_cases fed by the simulator as `complaints simulate` calls it, timed around the whole call
(the cases generated and played through the aggregate included); "library", eventsourcing-sqlalchemy's
`app.save(*batch)` of exactly the same aggregates, batch for batch, only its saves timed; "saves", the ledger's own
save path on those batches. Adds "serial": the import without its worker process (the cases played in this process,
as on one core; "import"'s CPU figure is only its saving half, the worker's CPU is shown beside it); "play": the
same simulation with every save a no-op (what the import spends before storing anything), and "facts": import_cases
of the same cases from their facts (each case's receipt and verbs recorded from the simulator beforehand, untimed;
each case built by the same verbs, then linked, sealed, chained and stored): the import from having the cases' facts
to having them stored, without generating them. Each figure is given in wall seconds and in this process's CPU
seconds: on a machine shared with other work, the CPU figure is the steadier (on SQLite it is nearly all the work;
on PostgreSQL the server's share is missing from it, so there the wall figure is the one). Each is the median of
--rounds runs, alternated, each on a new database. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import run  # noqa: E402 - bench/run.py, used as is
from _scratch import PostgresSchemas, SQLiteFiles  # noqa: E402


class _Nowhere:
    """A save target that stores nothing."""

    def save(self, *objs: Any) -> None:
        for obj in objs:
            collect = getattr(obj, "collect_events", None)
            if collect is not None:
                collect()


class Clocks:
    """Wall and CPU seconds (this process's: on SQLite nearly all of the work, so on a shared machine the CPU figure
    says what an idle one would show; on PostgreSQL the server's share is not in it)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> "Clocks":
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


class Forwarding(run.Forwarding):
    """run.Forwarding, also keeping the CPU seconds of the target's saves."""

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        self.clocks = Clocks()

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        with self.clocks:
            self.target.save(*objs)
        return []


def replayed(target: Any, cases: int) -> tuple[int, float, float]:
    forwarding = Forwarding(target)
    forwarding.import_cases(run.simulation.complaints(random.Random(run.SEED), cases=cases, until=run.UNTIL,
                                                      actor=run.ACTOR))
    recorder = target.recorder
    events = run.import_bench.count_events(recorder.datastore.engine, recorder.events_table_name)
    recorder.datastore.engine.dispose()
    return events, forwarding.clocks.wall, forwarding.clocks.cpu


def library(url: str, cases: int) -> tuple[int, float, float]:
    app = run.import_bench.LibraryBaseline({"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url,
                                            "CREATE_TABLE": "y"})
    app.recorder.max_notification_id()
    return replayed(app, cases)


def saves(url: str, cases: int) -> tuple[int, float, float]:
    ledger = run.open_ledger(url, today=lambda: run.UNTIL)
    ledger.recorder.max_notification_id()
    return replayed(ledger, cases)


def imported(url: str, cases: int, *, one_process: bool = False) -> tuple[int, float, float]:
    """run.simulate's timed part: ComplaintsLedger.import_cases fed by the simulator, as `complaints simulate`
    (simulation.build) calls it (the cases played in a worker process while this one saves, where it can:
    adapters/play_ahead.py), timed around the whole call. The CPU figure is this process's (the saving half);
    the worker's is kept in WORKER_CPU. `one_process`: without the worker (the "serial" path)."""
    import resource

    ledger = run.open_ledger(url, today=lambda: run.UNTIL)
    ledger.recorder.max_notification_id()
    ahead = None if one_process else run.simulation.play_ahead.in_worker(ledger)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with Clocks() as clocks:
        ledger.import_cases(run.simulation.complaints(random.Random(run.SEED), cases=cases, until=run.UNTIL,
                                                      actor=run.ACTOR, on_case=lambda ref, case, tags: None),
                            ahead=ahead)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not one_process:
        WORKER_CPU.append(after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime)
    events = ledger.event_count()
    ledger.recorder.datastore.engine.dispose()
    return events, clocks.wall, clocks.cpu


WORKER_CPU: list[float] = []


def play_only(cases: int) -> tuple[int, float, float]:
    """The same cases generated and played through the aggregate, every save a no-op: what the import spends
    before storing anything."""
    forwarding = run.Forwarding(_Nowhere())
    with Clocks() as clocks:
        forwarding.import_cases(run.simulation.complaints(random.Random(run.SEED), cases=cases, until=run.UNTIL,
                                                          actor=run.ACTOR))
    return 0, clocks.wall, clocks.cpu


class Facts:
    """The simulated cases as facts: each case's receipt and the verbs played on it, with their arguments, recorded
    once (untimed) from the simulator. `cases()` gives them to import_cases as the simulator does, each case built by
    calling the same verbs on a new aggregate: the import from facts to stored, without generating them (as
    `complaints import FILE` starts from the file's rows)."""

    VERBS = ("acknowledge", "contact", "extend", "respond", "escalate", "hold_hearing", "review", "resolve_early",
             "refuse", "withdraw", "close", "refer", "record_determination", "request_evidence", "send_evidence",
             "comply", "request_compensation", "approve_compensation", "decline_compensation", "pay_compensation",
             "record_learning", "record_satisfaction")

    def __init__(self, cases: int) -> None:
        from complaints_ledger.domain.complaint import Complaint

        self.recorded: list[tuple[Any, Any, dict[str, Any], list[tuple[str, dict[str, Any]]]]] = []
        steps: list[tuple[str, dict[str, Any]]] = []
        receipt: dict[str, Any] = {}
        issued: dict[int, int] = {}
        originals = {verb: getattr(Complaint, verb) for verb in self.VERBS}
        receive = Complaint.__dict__["receive"].__func__

        def recording(verb: str) -> Any:
            def call(case: Any, **kwargs: Any) -> Any:
                steps.append((verb, kwargs))
                return originals[verb](case, **kwargs)
            return call

        def received(cls: Any, **kwargs: Any) -> Any:
            steps.clear()
            receipt.clear()
            receipt.update(kwargs)
            return receive(cls, **kwargs)

        try:
            for verb in self.VERBS:
                setattr(Complaint, verb, recording(verb))
            Complaint.receive = classmethod(received)  # type: ignore[method-assign,assignment]
            for received_on, policy, build in run.simulation.complaints(random.Random(run.SEED), cases=cases,
                                                                        until=run.UNTIL, actor=run.ACTOR):
                issued[received_on.year] = issued.get(received_on.year, 0) + 1  # as a new ledger issues them
                build(f"CMP-{received_on.year}-{issued[received_on.year]:06d}")
                details = {k: v for k, v in receipt.items() if k != "ref"}
                self.recorded.append((received_on, policy, details, list(steps)))
        finally:
            for verb, original in originals.items():
                setattr(Complaint, verb, original)
            Complaint.receive = classmethod(receive)  # type: ignore[method-assign,assignment]

    def cases(self) -> Any:
        from complaints_ledger.domain.complaint import Complaint

        for received_on, policy, details, steps in self.recorded:
            def build(ref: str, details: dict[str, Any] = details, steps: list = steps) -> Any:
                case = Complaint.receive(ref=ref, **details)
                for verb, kwargs in steps:
                    getattr(case, verb)(**kwargs)
                return case

            yield received_on, policy, build


def from_facts(url: str, facts: Facts) -> tuple[int, float, float]:
    """import_cases from recorded facts (each case built by its verbs, linked, sealed, chained, stored)."""
    ledger = run.open_ledger(url, today=lambda: run.UNTIL)
    ledger.recorder.max_notification_id()
    with Clocks() as clocks:
        ledger.import_cases(facts.cases())
    events = ledger.event_count()
    ledger.recorder.datastore.engine.dispose()
    return events, clocks.wall, clocks.cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--pg", default=os.environ.get("COMPLAINTS_BENCH_PG_URL",
                                                       "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--skip", default="",
                        help="comma-separated paths not to run: import,serial,facts,library,saves,play")
    args = parser.parse_args()
    cases = max(20, round(args.events / run.EVENTS_PER_CASE))
    skip = set(filter(None, args.skip.split(",")))
    makers = []
    if args.db in ("sqlite", "both"):
        makers.append(SQLiteFiles)
    if args.db in ("postgres", "both"):
        makers.append(lambda: PostgresSchemas(args.pg, prefix="bench_import_ratio"))
    for make in makers:
        database = make()
        runs: dict[str, list[tuple[int, float, float]]] = {"import": [], "serial": [], "facts": [], "library": [],
                                                           "saves": [], "play": []}
        facts = Facts(cases) if "facts" not in skip else None
        paths = {"import": imported, "serial": lambda url, cases: imported(url, cases, one_process=True),
                 "facts": lambda url, cases: from_facts(url, facts), "library": library,
                 "saves": saves}
        WORKER_CPU.clear()
        try:
            for _ in range(args.rounds):
                for path, measure in paths.items():
                    if path not in skip:
                        gc.collect()
                        runs[path].append(measure(database.fresh(), cases))
                if "play" not in skip:
                    gc.collect()
                    runs["play"].append(play_only(cases))
        finally:
            database.close()
        print(f"{database.label}: {cases} cases, median of {args.rounds}; ratio = events/s over the library's "
              "(wall | CPU of this process)")
        lib = runs["library"]
        lib_wall = statistics.median(e / w for e, w, _ in lib) if lib else None
        lib_cpu = statistics.median(e / c for e, _, c in lib) if lib else None
        for path, timings in runs.items():
            if not timings:
                continue
            wall = statistics.median(w for _, w, _ in timings)
            cpu = statistics.median(c for _, _, c in timings)
            line = f"  {path:<8} {timings[0][0]:>8} ev  wall {wall:7.2f} s  cpu {cpu:7.2f} s"
            if path != "play":
                rw = statistics.median(e / w for e, w, _ in timings)
                rc = statistics.median(e / c for e, _, c in timings)
                line += f"  {rw:>9,.0f} ev/s wall {rw / lib_wall if lib_wall else 0:5.2f}x | " \
                        f"{rc:>9,.0f} ev/s cpu {rc / lib_cpu if lib_cpu else 0:5.2f}x"
            if path == "import" and WORKER_CPU:
                line += f"  worker cpu {statistics.median(WORKER_CPU):.2f} s"
            print(line + f"   (wall {', '.join(f'{w:.1f}' for _, w, _ in timings)})")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
