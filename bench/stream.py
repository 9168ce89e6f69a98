"""Concurrent writers with a live follower: does `complaints events --follow` see every committed event, once?

    python bench/stream.py [--writers 10] [--seconds 30] [--db postgresql://postgres@127.0.0.1:5432/test | sqlite]

Each writer is a process of its own, receiving, acknowledging and noting complaints as fast as the database lets
it; the follower is the real `complaints events --follow` process. When the writers stop, the follower is given
until it has printed the log's last position, and the set of positions it printed is compared with the log's.
Prints the counts, anything missing or repeated, and how long after being recorded each event reached the
follower (p50, p99, max). On PostgreSQL the run uses a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime

from _scratch import PostgresSchemas, SQLiteFiles


DEFAULT_PG = os.environ.get("COMPLAINTS_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def write_for(url: str, seconds: float, n: int, counts) -> None:
    from complaints_ledger.adapters.persistence import open_ledger
    from complaints_ledger.domain.errors import ConcurrentChange

    ledger = open_ledger(url)
    stop_at = time.monotonic() + seconds
    done = 0
    while time.monotonic() < stop_at:
        try:
            ref = ledger.receive(complainant=f"Resident {n}-{done}", channel="phone", summary="Damp",
                                 actor="bench")
            ledger.acknowledge(ref, actor="bench")
            ledger.add_note(ref, "called back", actor="bench")
            done += 1
        except ConcurrentChange:
            continue  # the reference sequence was taken by another writer: the ledger asks for a re-run
    counts[n] = done
    ledger.close()


def run(url: str, writers: int, seconds: float, settle: float = 2.0) -> dict:
    """The follower starts at the log's end (a ledger already holding events is not streamed again)."""
    from complaints_ledger.adapters.persistence import open_ledger

    ledger = open_ledger(url)  # creates the tables before anyone races to
    after = ledger.recorder.max_notification_id() or 0
    exe = shutil.which("complaints") or sys.exit("the complaints command is not installed")
    follower = subprocess.Popen([exe, "--db", url, "events", "--follow", "--after", str(after)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    arrivals: list[tuple[int, float]] = []

    def read() -> None:
        for line in follower.stdout:
            event = json.loads(line)
            recorded = datetime.fromisoformat(event["recorded_at"]).timestamp()
            arrivals.append((event["position"], time.time() - recorded))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(settle)  # the follower is up and idle
    counts = multiprocessing.Manager().dict()
    procs = [multiprocessing.Process(target=write_for, args=(url, seconds, n, counts)) for n in range(writers)]
    started = time.monotonic()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    wrote_for = time.monotonic() - started
    log = [e.position for e in ledger.subscribe(after=after, follow=False)]
    deadline = time.monotonic() + 30
    while (not arrivals or arrivals[-1][0] != log[-1]) and time.monotonic() < deadline:
        time.sleep(0.05)
    follower.terminate()
    follower.wait(timeout=10)
    reader.join(timeout=5)
    ledger.close()
    seen = [p for p, _ in arrivals]
    lags = sorted(lag for _, lag in arrivals)
    return {
        "writers": writers, "seconds": round(wrote_for, 1), "cases": sum(counts.values()),
        "events in the log": len(log), "events printed": len(seen),
        "missing": len(set(log) - set(seen)), "repeated": len(seen) - len(set(seen)),
        "out of order": sum(1 for a, b in zip(seen, seen[1:]) if b <= a),
        "lag p50 ms": round(1000 * statistics.median(lags)), "lag p99 ms": round(1000 * lags[int(0.99 * len(lags))]),
        "lag max ms": round(1000 * lags[-1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--db", default=DEFAULT_PG, help="a PostgreSQL URL, or 'sqlite' for a temporary file")
    args = parser.parse_args()
    databases = SQLiteFiles() if args.db == "sqlite" else PostgresSchemas(args.db, prefix="bench_stream")
    try:
        result = run(databases.fresh(), args.writers, args.seconds)
    finally:
        databases.close()
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    sys.exit(1 if result["missing"] or result["repeated"] or result["out of order"] else 0)


if __name__ == "__main__":
    main()
