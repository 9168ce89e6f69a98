"""The benchmark: each of our figures next to its anchor measured in the same run, at two sizes of log.

    python bench/run.py [--events 1000000] [--db sqlite|postgres|both] [--pg URL] [--smoke] [--results PATH]

For each database and each size (--events / 10 and --events; --sizes to choose), on a new database:

- bulk import: the bulk path of `complaints simulate` (ComplaintsLedger.import_cases: every case played through
  the aggregate, sealed, chained, appended), timed while it builds the ledger; next to eventsourcing-sqlalchemy's
  own `app.save(*aggregates)` of exactly the same aggregates, batch for batch (the simulation replayed, only the
  library's saves timed), our save path alone on those same batches, and a raw batched INSERT of the ledger's
  own stored rows (SQLite executemany, PostgreSQL execute_values) into a bare table: the floor;
- projection rebuild of all read models (as shipped) next to the rebuild's own Core pages decoded by the
  library's mapper with nothing applied; and the peak memory of a rebuild run as its own process;
- case replay (`show`, `history`) p50/p99 for cases of 10 and 50 events;
- `list --overdue`, the first 100 `breaches` and the whole breaches report over a log holding --events/10 open
  cases (100,000 at 1M), read models current;
- the whole command a person waits for, as a fresh process, read models current (what issue 20 asks at 1M):
  `verify` in events/s beside reading the log raw through the driver (its floor); `show`, `history`,
  `list --overdue`, `breaches --limit 100`, `stats` and `find` with their output on a pseudo-terminal (a person at a
  screen), on SQLite `show` also with --db a bare path; `note` and `receive` beside the same write on a ledger of one
  case; `acknowledge`; `report committee` and `report annual` after the day's writes (so they check what was
  written since the nightly `verify`); each beside `python -c pass` and importing the dependencies alone (click,
  SQLAlchemy, eventsourcing-sqlalchemy, cryptography);
- live subscription lag: writer processes append while `complaints events --follow` runs (bench/stream.py).

Each database gets a table: the figure at each size, its growth, its anchor, the ratio and the target. Without
--smoke the tables are written into --results (default bench/RESULTS.md, one section per database, the other kept)
with the machine, date and command. --smoke runs tiny sizes in seconds (the test suite runs it so this never
rots) and writes nothing. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa

from complaints_ledger.adapters import policy_files, projection_store, simulation
from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.adapters.projection_store import ProjectionRunner
from complaints_ledger.domain.complaint import Complaint
from complaints_ledger.domain.ledger import ComplaintsLedger
from complaints_ledger.projections import all_projections
from complaints_ledger.projections.case_status import query as list_cases
from complaints_ledger.projections.deadlines import breaches

sys.path.insert(0, str(Path(__file__).parent))
import projections as projection_bench  # noqa: E402 - bench/'s own modules
import stream as stream_bench  # noqa: E402
from _scratch import PostgresSchemas, SQLiteFiles  # noqa: E402

import_bench = importlib.import_module("import")  # bench/import.py: the library's baseline application
UNTIL = date(2026, 11, 20)
ACTOR = "bench"
EVENTS_PER_CASE = 6.3  # what the simulator averages (feedback included)
SEED = 11
DEPENDENCIES = "import click, sqlalchemy, sqlalchemy.orm, eventsourcing.application, eventsourcing_sqlalchemy, " \
               "cryptography.hazmat.primitives.ciphers.aead"


@dataclass
class Scale:
    """How much of each measurement to do: a real run, or a smoke run in seconds."""

    replays: int = 200
    replay_cases: int = 10
    query_runs: int = 5
    cli_runs: int = 7
    writers: int = 4
    lag_seconds: float = 10.0
    warm_up: bool = True  # run each command once first (bytecode compiled, files cached)


SMOKE = Scale(replays=20, replay_cases=2, query_runs=1, cli_runs=1, writers=1, lag_seconds=1.0, warm_up=False)


UNITS = {"ev/s": "{:,.0f} ev/s", "MB": "{:,.0f} MB", "s": "{:.2f} s", "ms": "{:.1f} ms"}


@dataclass
class Figure:
    name: str
    unit: str  # "ev/s" (higher is better) or "ms", "s", "MB" (lower is better)
    target: str = ""
    at: dict[int, float] = field(default_factory=dict)  # size -> our figure
    anchor_name: str = ""
    anchor: dict[int, float] = field(default_factory=dict)
    holds: Callable[[float, float | None], bool] | None = None
    holds_from: int = 0  # a target stated at a size (e.g. a 1M-event rebuild) is judged only from that size
    rows: dict[int, int] = field(default_factory=dict)  # size -> rows a query returned, shown in place of {rows}


# ------------------------------------------------------------------------------------------------ measurements
class Forwarding(ComplaintsLedger):
    """Plays the simulation in memory and hands each batch to `target` instead of storing it: the same
    aggregates, batch for batch, timed only in the target's save."""

    def __init__(self, target: Any) -> None:
        super().__init__({"PERSISTENCE_MODULE": "eventsourcing.popo"}, policies=policy_files.load_shipped,
                         today=lambda: UNTIL)
        self.target, self.seconds = target, 0.0

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        self.target.save(*objs)
        self.seconds += time.perf_counter() - started
        return []


def simulate(url: str, cases: int) -> tuple[ComplaintsLedger, int, float]:
    """`complaints simulate` in process, its bulk path (import_cases) timed."""
    ledger = open_ledger(url, today=lambda: UNTIL)
    ledger.recorder.max_notification_id()
    bulk = ledger.import_cases
    timed = {"seconds": 0.0, "events": 0}

    def import_cases(*args: Any, **kwargs: Any) -> Any:
        before = ledger.event_count()
        started = time.perf_counter()
        try:
            return bulk(*args, **kwargs)
        finally:
            timed["seconds"] += time.perf_counter() - started
            timed["events"] += ledger.event_count() - before

    ledger.import_cases = import_cases  # type: ignore[method-assign]
    simulation.build(ledger, cases=cases, seed=SEED, actor=ACTOR, until=UNTIL)  # then feedback, one by one
    ledger.import_cases = bulk  # type: ignore[method-assign]
    return ledger, int(timed["events"]), timed["seconds"]


def replayed_saves(target: Any, cases: int) -> tuple[int, float]:
    forwarding = Forwarding(target)
    forwarding.import_cases(simulation.complaints(random.Random(SEED), cases=cases, until=UNTIL, actor=ACTOR))
    recorder = target.recorder
    events = import_bench.count_events(recorder.datastore.engine, recorder.events_table_name)
    recorder.datastore.engine.dispose()
    return events, forwarding.seconds


def library_saves(url: str, cases: int) -> tuple[int, float]:
    app = import_bench.LibraryBaseline({"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url,
                                        "CREATE_TABLE": "y"})
    app.recorder.max_notification_id()
    return replayed_saves(app, cases)


def our_saves(url: str, cases: int) -> tuple[int, float]:
    ledger = open_ledger(url, today=lambda: UNTIL)
    ledger.recorder.max_notification_id()
    return replayed_saves(ledger, cases)


def raw_inserts(ledger: ComplaintsLedger, batch: int = 1250) -> tuple[int, float]:
    """The ledger's own stored rows inserted again, `batch` per transaction, into a bare copy of the events table
    (no triggers, no chain) by the driver's batched insert: what the database itself can take."""
    engine: sa.Engine = ledger.recorder.datastore.engine
    events = ledger.recorder.events_table_name
    bare = f"{events}_bench_raw"
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {bare}")
        conn.exec_driver_sql(f"CREATE TABLE {bare} (id {'BIGSERIAL' if postgres else 'INTEGER'} PRIMARY KEY, "
                             f"originator_id {'uuid' if postgres else 'BLOB'} NOT NULL, originator_version BIGINT "
                             f"NOT NULL, topic TEXT NOT NULL, state {'bytea' if postgres else 'BLOB'} NOT NULL)")
        conn.exec_driver_sql(f"CREATE UNIQUE INDEX {bare}_aggregate ON {bare} (originator_id, originator_version)")
    seconds, count, last = 0.0, 0, 0
    with engine.connect() as reader, engine.connect() as writer:
        while True:
            rows = reader.exec_driver_sql(f"SELECT id, originator_id, originator_version, topic, state FROM {events} "
                                          f"WHERE id > {last} ORDER BY id LIMIT {batch}").fetchall()
            if not rows:
                break
            last = rows[-1][0]
            values = [tuple(r[1:]) for r in rows]
            driver = writer.connection.driver_connection
            started = time.perf_counter()
            cursor = driver.cursor()
            if postgres:
                from psycopg2.extras import execute_values
                execute_values(cursor, f"INSERT INTO {bare} (originator_id, originator_version, topic, state) "
                                       "VALUES %s", values, page_size=1000)
            else:
                cursor.executemany(f"INSERT INTO {bare} (originator_id, originator_version, topic, state) "
                                   "VALUES (?, ?, ?, ?)", values)
            cursor.close()
            driver.commit()
            seconds += time.perf_counter() - started
            count += len(values)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {bare}")
    return count, seconds


REBUILD_IN_OWN_PROCESS = """\
import json, os, sys, threading, time
from complaints_ledger.adapters.persistence import open_ledger
from complaints_ledger.adapters.projection_store import ProjectionRunner
from complaints_ledger.projections import all_projections

def high_water(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return 0.0

peaks, done = {}, threading.Event()

def watch_workers():  # each worker's own high-water mark, read until it exits
    me = os.getpid()
    while not done.wait(0.05):
        for task in os.listdir(f"/proc/{me}/task"):
            try:
                with open(f"/proc/{me}/task/{task}/children") as children:
                    pids = children.read().split()
            except OSError:
                continue
            for pid in pids:
                peaks[pid] = max(peaks.get(pid, 0.0), high_water(pid))

threading.Thread(target=watch_workers, daemon=True).start()
runner = ProjectionRunner(open_ledger(sys.argv[1]), all_projections())
started = time.monotonic(); applied = runner.rebuild(); seconds = time.monotonic() - started
done.set()
own = high_water("self")
print(json.dumps({"events": applied, "seconds": seconds, "own_mb": own,
                  "worker_mb": max(peaks.values(), default=0.0), "total_mb": own + sum(peaks.values())}))
"""


def rebuild_memory(url: str) -> dict[str, float]:
    """A full rebuild in a process of its own: the peak resident memory of it and of each of its workers.

    Read from /proc's VmHWM, not getrusage: Linux carries ru_maxrss over fork and exec, so a process started by
    this (large) benchmark would report the benchmark's own peak."""
    out = subprocess.run([sys.executable, "-c", REBUILD_IN_OWN_PROCESS, url], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.splitlines()[-1])


def add_case(ledger: ComplaintsLedger, events: int, n: int) -> str:
    """A case of exactly `events` events: received, acknowledged, then notes."""
    received = UNTIL - timedelta(days=40)
    ref = ledger.receive(complainant=f"Replay Resident {n}", channel="phone", summary="Damp in the bathroom",
                         actor=ACTOR, received_on=received)
    ledger.acknowledge(ref, actor=ACTOR, on=received + timedelta(days=1))
    for i in range(events - 2):
        ledger.add_note(ref, f"Called the resident ({i + 1})", actor=ACTOR, on=received + timedelta(days=2))
    return ref


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def replay(ledger: ComplaintsLedger, refs: list[str], runs: int) -> dict[str, tuple[float, float]]:
    timings: dict[str, list[float]] = {"show": [], "history": []}
    fresh = open_ledger(ledger.env["SQLALCHEMY_URL"], today=lambda: UNTIL)  # nothing cached by the writes
    for i in range(runs):
        ref = refs[i % len(refs)]
        for what in timings:
            started = time.perf_counter()
            getattr(fresh, what)(ref)
            timings[what].append(1000 * (time.perf_counter() - started))
    fresh.close()
    return {what: percentiles(samples) for what, samples in timings.items()}


def open_cases(ledger: ComplaintsLedger, count: int) -> list[str]:
    """`count` open cases received over the last 60 days before UNTIL, half acknowledged: many overdue."""
    rng = random.Random(SEED + 1)
    policy = ledger.policy("hoc-2024")

    def cases():
        for n in range(count):
            received = UNTIL - timedelta(days=rng.randint(0, 60))

            def build(ref: str, received=received, n=n) -> Complaint:
                case = Complaint.receive(ref=ref, policy=policy, complainant=f"Open Resident {n}", channel="web",
                                         summary="Repairs not done", received_on=received, today=UNTIL, actor=ACTOR,
                                         category="repairs")
                if n % 2:
                    case.acknowledge(on=min(UNTIL, received + timedelta(days=rng.randint(0, 8))), today=UNTIL,
                                     actor=ACTOR)
                return case

            yield received, policy, build

    return ledger.import_cases(cases())


def queries(runner: ProjectionRunner, runs: int) -> dict[str, tuple[float, int]]:
    timings: dict[str, tuple[float, int]] = {}
    for name, run in (("list --overdue", lambda: list_cases(runner, overdue=True, today=UNTIL)),
                      ("breaches --limit 100", lambda: breaches(runner, as_of=UNTIL, limit=100)),
                      ("breaches, the whole report", lambda: breaches(runner, as_of=UNTIL))):
        samples, rows = [], 0
        for _ in range(runs):
            started = time.perf_counter()
            rows = len(run())
            samples.append(1000 * (time.perf_counter() - started))
        timings[name] = (statistics.median(samples), rows)
    return timings


def on_terminal(command: list[str], env: dict[str, str]) -> None:
    """Run a command with its output on a pseudo-terminal, 160 columns wide, as a person at a screen sees it (a
    command may lay a table out, or cut a long list to a screenful, only there); what it prints is read and dropped."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    process = subprocess.Popen(command, stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    try:
        while True:
            try:
                if not os.read(master, 65536):
                    break
            except OSError:  # EIO: the command ended and closed its side
                break
    finally:
        os.close(master)
    err = process.stderr.read() if process.stderr else b""
    if process.wait() != 0:
        raise subprocess.CalledProcessError(process.returncode, command, stderr=err)


def wall(argv: Callable[[], list[str]], runs: int, env: dict[str, str], warm_up: bool, terminal: bool = False
         ) -> float:
    """Median wall seconds of a fresh process (`argv()` gives each run's command), after one warm-up run (which
    also leaves bytecode compiled and the database's pages in the OS cache, as on a machine in daily use)."""
    samples = []
    for _ in range(runs + warm_up):
        command = argv()
        started = time.perf_counter()
        if terminal:
            on_terminal(command, env)
        else:
            subprocess.run(command, capture_output=True, env=env, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples[warm_up:])


def raw_log_read(url: str, table: str) -> tuple[int, float]:
    """The floor under `verify`: every stored event read raw through the driver, in position order, nothing done
    with it (sqlite3 directly; psycopg2 through a server-side cursor), in a process already started."""
    started = time.perf_counter()
    count = 0
    sql = f"SELECT id, originator_id, originator_version, topic, state FROM {table} ORDER BY id"
    if url.startswith("sqlite"):
        import sqlite3
        from complaints_ledger.adapters.persistence import sqlite_path

        conn = sqlite3.connect(f"file:{sqlite_path(url)}?mode=ro", uri=True)
        for _ in conn.execute(sql):
            count += 1
        conn.close()
    else:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor(name="bench_raw_read")
            cursor.itersize = 10000
            cursor.execute(sql)
            for _ in cursor:
                count += 1
            cursor.close()
        engine.dispose()
    return count, time.perf_counter() - started


def installed_command() -> str:
    # The script installed beside this interpreter, as `python -c pass` runs it: a version manager's shim found
    # first on PATH (pyenv's is a shell script) would add its own start-up to ours.
    beside = Path(sys.executable).parent / "complaints"
    exe = str(beside) if beside.exists() else shutil.which("complaints")
    if exe is None:
        sys.exit("the complaints command is not installed")
    return exe


def whole_commands(database: Any, url: str, one_case_url: str, show_ref: str, open_refs: list[str], scale: Scale,
                   out_dir: Path) -> dict[str, float]:
    """Wall time of each command a person waits for, as a fresh process, at the size of this ledger; in the order
    of a working day: the nightly `verify` first, then the day's reads, the day's writes, and the reports (which
    check the events written since the last verify). The floors in the same run: `python -c pass`, importing the
    dependencies alone, and each write on a ledger of one case."""
    exe = installed_command()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: bytecode kept
    env["COLUMNS"] = "160"
    runs, warm = scale.cli_runs, scale.warm_up
    db = ["--db", url]
    counter = iter(range(1_000_000))
    to_acknowledge = iter(open_refs)  # a case not yet acknowledged for each run
    one_case = subprocess.run([exe, "--db", one_case_url, "receive", "--complainant", "One Case", "--channel",
                               "phone", "--summary", "The only case"], capture_output=True, text=True, env=env,
                              check=True).stdout.split()[-1]

    def receive(target: str) -> list[str]:
        return [exe, "--db", target, "receive", "--complainant", f"Bench Resident {next(counter)}", "--channel",
                "web", "--summary", "Repairs not done", "--category", "repairs"]

    def note(target: str, ref: str) -> list[str]:
        return [exe, "--db", target, "note", ref, f"Called the resident ({next(counter)})"]

    out: dict[str, float] = {}

    def time_it(name: str, argv: Callable[[], list[str]], terminal: bool = False, times: int = runs) -> None:
        out[name] = wall(argv, times, env, warm, terminal)

    time_it("python -c pass", lambda: [sys.executable, "-c", "pass"])
    time_it("dependencies alone", lambda: [sys.executable, "-c", DEPENDENCIES])
    time_it("complaints --help", lambda: [exe, "--help"])
    time_it("verify", lambda: [exe, *db, "verify"], times=max(1, runs // 2))
    reads = {"show": ["show", show_ref], "history": ["history", show_ref], "list --overdue": ["list", "--overdue"],
             "breaches --limit 100": ["breaches", "--limit", "100"], "stats": ["stats"], "find": ["find", "Smith"]}
    for name, args in reads.items():
        time_it(name, lambda args=args: [exe, *db, *args], terminal=True)
    if database.label == "SQLite":
        from complaints_ledger.adapters.persistence import sqlite_path

        time_it("show (--db a bare path)", lambda: [exe, "--db", str(sqlite_path(url)), "show", show_ref],
                terminal=True)
    time_it("note", lambda: note(url, show_ref))
    time_it("note, one-case ledger", lambda: note(one_case_url, one_case))
    time_it("receive", lambda: receive(url))
    time_it("receive, one-case ledger", lambda: receive(one_case_url))
    time_it("acknowledge", lambda: [exe, *db, "acknowledge", next(to_acknowledge), "--on", UNTIL.isoformat()])
    time_it("report committee", lambda: [exe, *db, "report", "committee", "--output", str(out_dir / "c.html")],
            times=max(1, runs // 2))
    time_it("report annual", lambda: [exe, *db, "report", "annual", "--year", str(UNTIL.year - 1), "--homes",
                                      "50000", "--output", str(out_dir / "a.html")], times=max(1, runs // 2))
    return out


# ------------------------------------------------------------------------------------------------ one database
def measure_size(database: Any, size: int, scale: Scale, figures: dict[str, Figure], log: Callable[[str], None]
                 ) -> None:
    cases = max(20, round(size / EVENTS_PER_CASE))

    def fig(key: str, name: str, unit: str, target: str = "", anchor_name: str = "",
            holds: Callable[[float, float | None], bool] | None = None, holds_from: int = 0) -> Figure:
        if key not in figures:
            figures[key] = Figure(name, unit, target, anchor_name=anchor_name, holds=holds, holds_from=holds_from)
        return figures[key]

    url = database.fresh()
    ledger, imported, seconds = simulate(url, cases)
    events = ledger.event_count()
    log(f"  {size:,}: simulated {cases:,} cases = {events:,} events; import {imported / seconds:,.0f} ev/s")
    library = library_saves(database.fresh(), cases)
    ours = our_saves(database.fresh(), cases)
    raw = raw_inserts(ledger)
    import_fig = fig("import", "bulk import (simulate's import_cases)", "ev/s", ">= 1.5x library save",
                     "eventsourcing-sqlalchemy save(*aggregates)", lambda v, a: a is not None and v >= 1.5 * a)
    import_fig.at[size], import_fig.anchor[size] = imported / seconds, library[0] / library[1]
    saves = fig("saves", "our save path, same batches", "ev/s", ">= 1.5x library save",
                "eventsourcing-sqlalchemy save(*aggregates)", lambda v, a: a is not None and v >= 1.5 * a)
    saves.at[size], saves.anchor[size] = ours[0] / ours[1], library[0] / library[1]
    floor = fig("raw", "our save path vs the database", "ev/s", "", "raw batched INSERT of the same rows")
    floor.at[size], floor.anchor[size] = ours[0] / ours[1], raw[0] / raw[1]
    log(f"  library save {library[0] / library[1]:,.0f} ev/s; our save path {ours[0] / ours[1]:,.0f} ev/s; raw "
        f"{raw[0] / raw[1]:,.0f} ev/s")

    runner = ProjectionRunner(ledger, all_projections())
    read = projection_bench.raw_rate(runner)
    rebuilt = projection_bench.rebuild_rate(runner, projection_store.REBUILD_WORKERS)
    rebuild = fig("rebuild", "projection rebuild, all read models", "ev/s", ">= 50% of read+decode",
                  "Core read + library decode", lambda v, a: a is not None and v >= 0.5 * a)
    rebuild.at[size], rebuild.anchor[size] = rebuilt[1], read[1]
    memory = rebuild_memory(url)
    peak = fig("memory", "rebuild peak memory, largest process", "MB", "< 500 MB at 1M", "",
               lambda v, a: v < 500, holds_from=1_000_000)
    peak.at[size] = max(memory["own_mb"], memory["worker_mb"])
    together = fig("memory_total", "rebuild peak memory, all its processes", "MB")
    together.at[size] = memory["total_mb"]
    whole = fig("rebuild_s", "rebuild wall time (own process)", "s",
                "< 30 s at 1M" if database.label == "SQLite" else "", "",
                (lambda v, a: v < 30) if database.label == "SQLite" else None, holds_from=1_000_000)
    whole.at[size] = memory["seconds"]
    log(f"  rebuild {rebuilt[1]:,.0f} ev/s vs read+decode {read[1]:,.0f}; own process {memory['seconds']:.1f}s, "
        f"peak {peak.at[size]:.0f} MB")

    refs = {n: [add_case(ledger, n, i) for i in range(scale.replay_cases)] for n in (10, 50)}
    for n, these in refs.items():
        for what, (p50, p99) in replay(ledger, these, scale.replays).items():
            f = fig(f"{what}{n}", f"{what} of a {n}-event case, p50 / p99", "ms",
                    "p99 < 20 ms" if n == 50 else "", "", (lambda v, a: v < 20) if n == 50 else None)
            f.at[size] = p99
            f.anchor[size] = p50  # shown as p50 alongside
    log("  replay measured")

    opened = max(50, size // 10)
    open_refs = open_cases(ledger, opened)
    runner.catch_up()
    for name, (ms, rows) in queries(runner, scale.query_runs).items():
        screen = name == "breaches --limit 100"  # what an officer's screen shows; the whole report is O(rows)
        f = fig(name, f"{name} at {{open}} open cases ({{rows}} rows)", "ms", "< 300 ms" if screen else "", "",
                (lambda v, a: v < 300) if screen else None)
        f.at[size], f.anchor[size], f.rows[size] = ms, opened, rows
    log(f"  queries over {opened:,} open cases measured")

    events_now = ledger.event_count()
    one_case_url = database.fresh()
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as reports:  # the even open cases are unacknowledged
        walls = whole_commands(database, url, one_case_url, refs[10][0], open_refs[0::2], scale, Path(reports))
    raw_events, raw_seconds = raw_log_read(url, ledger.recorder.events_table_name)
    pg = database.label == "PostgreSQL"
    deps = figures.setdefault("_deps", Figure("dependencies alone", "s"))
    deps.at[size] = walls["dependencies alone"]
    started_from = "python -c pass / dependencies alone"

    def command(key: str, name: str, target: str = "", limit: float | None = None, judged_from: int = 0) -> None:
        f = fig(f"wall {key}", f"{name}, whole command", "s", target, started_from,
                (lambda v, a, limit=limit: v < limit) if limit is not None else None, holds_from=judged_from)
        f.at[size], f.anchor[size] = walls[key], walls["python -c pass"]

    command("complaints --help", "complaints --help", "< 0.15 s", 0.15)
    daily, limit = ("< 0.5 s at 1M", 0.5) if pg else ("< 0.3 s at 1M", 0.3)
    for key in ("show", "show (--db a bare path)", "history", "list --overdue", "breaches --limit 100", "stats",
                "find"):
        if key in walls:
            command(key, f"{key}" if key != "find" else "find Smith", daily, limit, 1_000_000)
    for key in ("report committee", "report annual"):
        command(key, key, "< 5 s at 1M", 5.0, 1_000_000)
    rate = events_now / walls["verify"]
    floor = raw_events / raw_seconds
    goal = 100_000 if pg else 200_000
    f = fig("wall verify", "verify, whole command", "ev/s", f">= {goal:,} ev/s at 1M", "reading the log raw",
            lambda v, a, goal=goal: v >= goal, holds_from=1_000_000)
    f.at[size], f.anchor[size] = rate, floor
    for key in ("note", "receive"):
        f = fig(f"write {key}", f"{key}, whole command", "s", "within 0.1 s of one case", "on a one-case ledger",
                lambda v, a: a is not None and v - a <= 0.1, holds_from=1_000_000)
        f.at[size], f.anchor[size] = walls[key], walls[f"{key}, one-case ledger"]
    command("acknowledge", "acknowledge")
    log(f"  whole commands: {', '.join(f'{k} {v:.2f}s' for k, v in walls.items())}; verify {rate:,.0f} ev/s, "
        f"raw read {floor:,.0f} ev/s")

    lag = stream_bench.run(url, scale.writers, scale.lag_seconds, settle=1.0 if scale is SMOKE else 2.0)
    limit = 100 if database.label == "PostgreSQL" else 1000
    f = fig("lag", "subscription lag p50 / p99", "ms", f"p99 < {limit} ms", "",
            lambda v, a, limit=limit: v < limit)
    f.at[size], f.anchor[size] = lag["lag p99 ms"], lag["lag p50 ms"]
    log(f"  lag p50 {lag['lag p50 ms']} ms p99 {lag['lag p99 ms']} ms over {lag['events printed']} events "
        f"({lag['missing']} missing)")
    ledger.close()


def report(label: str, sizes: list[int], figures: dict[str, Figure]) -> str:
    small, large = sizes[0], sizes[-1]
    deps = figures.pop("_deps", None)
    lines = [f"| {label} | at {small:,} events | at {large:,} events | growth | anchor (at {large:,}) | ratio | "
             "target | holds |", "|---|---|---|---|---|---|---|---|"]

    def show(f: Figure, size: int) -> str:
        value = f.at.get(size)
        if value is None:
            return "—"
        if f.name.endswith("p50 / p99"):  # the p50 rides in the anchor's place
            return f"{f.anchor[size]:.1f} / {value:.1f} ms"
        return UNITS[f.unit].format(value)

    for f in figures.values():
        name = f.name.replace("{open}", f"{int(f.anchor.get(large, 0)):,}").replace(
            "{rows}", f"{f.rows.get(large, 0):,}")
        a, b = f.at.get(small), f.at.get(large)
        growth = f"{b / a:.2f}x" if a and b and small != large else "—"
        anchor = ratio = ""
        anchor_value = f.anchor.get(large) if f.anchor_name else None
        if f.anchor_name.startswith("python"):
            anchor = f"{anchor_value:.2f} s / {deps.at[large]:.2f} s" if deps else f"{anchor_value:.2f} s"
            ratio = f"{b - anchor_value:+.2f} s / {b - deps.at[large]:+.2f} s" if deps else ""
        elif f.anchor_name and anchor_value and f.unit == "s":
            anchor = f"{f.anchor_name}: {anchor_value:.2f} s"
            ratio = f"{b - anchor_value:+.2f} s" if b is not None else ""
        elif f.anchor_name and anchor_value:
            anchor = f"{f.anchor_name}: {anchor_value:,.0f} ev/s"
            ratio = f"{b / anchor_value:.2f}x" if b is not None else ""
        judged = f.holds is not None and b is not None and large >= f.holds_from
        holds = ("yes" if f.holds(b, anchor_value) else "**no**") if judged else ""
        lines.append(f"| {name} | {show(f, small)} | {show(f, large)} | {growth} | {anchor} | {ratio} | {f.target} "
                     f"| {holds} |")
    return "\n".join(lines)


def machine(pg_url: str | None) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0") if Path("/proc/meminfo").exists() else "0"
    import sqlite3
    parts = [f"{platform.system()} {platform.release()}", f"{os.cpu_count()} CPU ({cpu})",
             f"{int(memory) / 1024 / 1024:.1f} GB RAM", f"Python {platform.python_version()}",
             f"SQLite {sqlite3.sqlite_version}"]
    if pg_url:
        try:
            engine = sa.create_engine(pg_url)
            with engine.connect() as conn:
                parts.append("PostgreSQL " + conn.execute(sa.text("SHOW server_version")).scalar().split()[0])
            engine.dispose()
        except sa.exc.SQLAlchemyError:
            pass
    return ", ".join(parts)


def write_results(path: Path, label: str, body: str, header: str) -> None:
    """Replace this database's section of the results file, keeping the other's."""
    text = path.read_text() if path.exists() else ""
    start, end = f"<!-- {label} -->", f"<!-- /{label} -->"
    section = f"{start}\n{body}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S)
    else:
        text = (text or "# Benchmark results\n\nRegenerated by `python bench/run.py`; each database's section by its "
                "own run.\n") + f"\n{section}\n"
    text = re.sub(r"<!-- header -->.*?<!-- /header -->", "", text, flags=re.S)
    first = text.index("\n<!-- ")
    path.write_text(text[:first].rstrip("\n") + f"\n\n<!-- header -->\n{header}\n<!-- /header -->\n\n"
                    + text[first:].lstrip("\n"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="the larger size; the smaller is a tenth")
    parser.add_argument("--sizes", default=None, help="comma-separated sizes instead (e.g. 100000,1000000)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--pg", default=os.environ.get("COMPLAINTS_BENCH_PG_URL",
                                                       "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds; writes no results")
    parser.add_argument("--results", default=str(Path(__file__).parent / "RESULTS.md"))
    args = parser.parse_args()
    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes else
             [200, 400] if args.smoke else [args.events // 10, args.events])
    scale = SMOKE if args.smoke else Scale()
    databases: list[Callable[[], Any]] = []
    if args.db in ("sqlite", "both"):
        databases.append(SQLiteFiles)
    if args.db in ("postgres", "both"):
        databases.append(lambda: PostgresSchemas(args.pg, prefix="bench_run"))
    command = "python bench/run.py " + " ".join(sys.argv[1:])
    started = datetime.now(timezone.utc)
    for make in databases:
        database = make()
        figures: dict[str, Figure] = {}
        print(f"{database.label}: sizes {', '.join(f'{s:,}' for s in sizes)}", file=sys.stderr)
        try:
            for size in sorted(sizes):
                measure_size(database, size, scale, figures, lambda line: print(line, file=sys.stderr))
        finally:
            database.close()
        body = report(database.label, sorted(sizes), figures)
        print(body)
        if not args.smoke:
            header = (f"Machine: {machine(args.pg if args.db != 'sqlite' else None)}.  \n"
                      f"Last run: {started:%Y-%m-%d %H:%M} UTC, `{command}`.")
            write_results(Path(args.results), database.label,
                          f"## {database.label}\n\n`{command}`, {started:%Y-%m-%d}\n\n{body}", header)


if __name__ == "__main__":
    main()
