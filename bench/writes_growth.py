"""Does a write command's whole-process time grow with the ledger? (issue 20: at 1M events within 0.1 s of the same
command on a one-case ledger.)

Runs `note`, `acknowledge` and `receive` as a person would (a new process each time) against a one-case ledger and a
big one, and prints the median wall and CPU (user + system) seconds of each. CPU time is the steadier figure on a
shared machine; wall time includes waiting for the disk (fsync) and the server.

    python bench/writes_growth.py --big /tmp/l1m.db --runs 7
    python bench/writes_growth.py --big postgresql://postgres@127.0.0.1/writes1m \
        --one postgresql://postgres@127.0.0.1/writes1 --runs 7

The big ledger is written to (copy it first). `acknowledge` needs a case received and not yet acknowledged for each
run: on the big ledger they are taken from its case_status read model (open, stage 1, next step acknowledge); on the
one-case ledger a fresh case is received before each run (outside the timing). The two ledgers take turns, so that
a change in the machine's load falls on both.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def timed(args: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def complaints(db: str, *args: str) -> list[str]:
    return ["complaints", "--db", db, *args]


RECEIVE = ("receive", "--complainant", "Sam Resident", "--channel", "phone", "--summary", "Heating not working",
           "--received-on", "2026-11-20", "--category", "repairs")


def unacknowledged(db: str, count: int, skip: int = 0) -> list[str]:
    """Cases at stage 1 still to be acknowledged, from the read model (read without the ledger's code; writes do not
    bring it up to date, so a second run on the same ledger skips the cases the first acknowledged)."""
    query = ("SELECT ref FROM rm_case_status_{s} WHERE status = 'open' AND stage = 1 AND next_milestone = "
             "'acknowledge' ORDER BY ref DESC LIMIT {n} OFFSET " + str(int(skip)))
    if db.startswith("postgresql"):
        import sqlalchemy as sa

        engine = sa.create_engine(db)
        with engine.connect() as conn:
            suffix = conn.execute(sa.text("SELECT active_suffix FROM projection_state WHERE name = 'case_status'"))\
                .scalar()
            refs = list(conn.execute(sa.text(query.format(s=suffix, n=count))).scalars())
        engine.dispose()
        return refs
    import sqlite3

    conn = sqlite3.connect(db.removeprefix("sqlite:///"))
    suffix = conn.execute("SELECT active_suffix FROM projection_state WHERE name = 'case_status'").fetchone()[0]
    refs = [r[0] for r in conn.execute(query.format(s=suffix, n=count))]
    conn.close()
    return refs


def run(one: str, big: str, runs: int, skip: int = 0) -> dict[str, dict[str, tuple[float, float]]]:
    """Each command on the one-case ledger and then on the big one, in turn, `runs` times: a change in the machine's
    load meanwhile then falls on both alike."""
    results: dict[str, dict[str, list[tuple[float, float]]]] = {
        db: {"note": [], "acknowledge": [], "receive": []} for db in (one, big)}
    refs = unacknowledged(big, runs, skip)
    if len(refs) < runs:
        sys.exit(f"only {len(refs)} unacknowledged cases in {big}")

    def received(db: str) -> str:
        return subprocess.run(complaints(db, *RECEIVE), capture_output=True, text=True, check=True).stdout.strip()

    noted = {one: received(one), big: refs[-1]}
    for i in range(runs):
        fresh = {one: received(one), big: refs[i]}  # the one-case ledger gains a case per run, outside the timing
        for name, args in (("note", lambda db: ("note", noted[db], f"Called the resident ({i})", "--on", "2026-11-25")),
                           ("acknowledge", lambda db: ("acknowledge", fresh[db], "--on", "2026-11-25")),
                           ("receive", lambda db: RECEIVE)):
            for db in (one, big):
                results[db][name].append(timed(complaints(db, *args(db))))
    return {db: {name: (statistics.median(w for w, _ in xs), statistics.median(c for _, c in xs))
                 for name, xs in by_name.items()} for db, by_name in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", required=True, help="the big ledger's URL or path (it is written to)")
    parser.add_argument("--one", default=None, help="a ledger to make with one case (default: a new SQLite file)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--skip", type=int, default=0, help="cases to leave out (acknowledged by an earlier run)")
    args = parser.parse_args()
    one = args.one or "/tmp/writes-growth-one.db"
    if args.one is None and os.path.exists(one):
        os.remove(one)
    if not args.big.startswith("postgresql"):  # on PostgreSQL the actor is the login, and may not be typed
        os.environ.setdefault("COMPLAINTS_ACTOR", "bench")
    medians = run(one, args.big, args.runs, args.skip)
    small, large = medians[one], medians[args.big]
    print(f"{'command':<12} {'one wall':>9} {'big wall':>9} {'Δ wall':>8} {'one cpu':>8} {'big cpu':>8} {'Δ cpu':>7}")
    for name in small:
        (ow, oc), (bw, bc) = small[name], large[name]
        print(f"{name:<12} {ow:9.3f} {bw:9.3f} {bw - ow:+8.3f} {oc:8.3f} {bc:8.3f} {bc - oc:+7.3f}")


if __name__ == "__main__":
    main()
