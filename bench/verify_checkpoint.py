"""Time the reports' source check (checkpoints.source_digest) with a checkpoint BEHIND events before the head, and
compare its root with the full pass. Writes a checkpoint: run it on a copy of a ledger.

    python bench/verify_checkpoint.py /work/scratch-verify/l1m.db --behind 300 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import time

from complaints_ledger.adapters import audit, checkpoints
from complaints_ledger.adapters.persistence import open_ledger


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("--behind", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="also time the full pass and compare roots")
    args = parser.parse_args()
    ledger = open_ledger(args.db, create=False)
    recorder = ledger.recorder
    import sqlalchemy as sa

    with recorder.datastore.engine.connect() as conn:
        head = conn.execute(sa.select(sa.func.max(recorder.events.c.id))).scalar()
        below = conn.execute(sa.select(sa.func.count()).where(recorder.events.c.id <= head - args.behind)).scalar()
    at = head - args.behind
    found = audit.verify(recorder, position=at, log_positions=[at])
    found.log_head = (at, found.log_hashes[at])
    found.breaks, found.events = [], below
    assert checkpoints.record(recorder, found, made_by="bench") is not None
    table = checkpoints.checkpoint_table(recorder.events_table_name)
    with recorder.datastore.engine.begin() as conn:  # only the one just made may be taken over from
        conn.execute(table.delete().where(table.c.position != at))
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        source = checkpoints.source_digest(recorder, head)
        times.append(time.perf_counter() - t)
    print(f"source_digest, checkpoint {args.behind} events behind the head ({head}): median "
          f"{statistics.median(times):.2f} s of {times}; checked {source.events_checked} events, "
          f"{source.broken} breaks, root {source.root}")
    if args.full:
        t = time.perf_counter()
        full = audit.verify(recorder)
        print(f"full pass {time.perf_counter() - t:.2f} s, root {full.root}, same: {full.root == source.root}")


if __name__ == "__main__":
    main()
