"""Whole-process timings of the daily read commands (`show`, `history`, `find`) as a person waits for them: the
median wall time of several runs, and the median CPU time (user + system) of the process, which a machine shared
with other work disturbs less than the wall time.

    python bench/reads_timing.py --db /path/l1m.db [--runs 7] [--ref CMP-2025-000001] [--text smith]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time


def timed(argv: list[str], runs: int) -> tuple[float, float, int]:
    walls, cpus, lines = [], [], 0
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        lines = out.count(b"\n")
    return statistics.median(walls), statistics.median(cpus), lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", action="append", required=True, help="a --db value (repeat for several)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--ref", default="CMP-2025-000001")
    parser.add_argument("--text", default="smith")
    parser.add_argument("--only", default=None, help="comma-separated labels to run")
    args = parser.parse_args()
    exe = shutil.which("complaints") or sys.exit("no complaints on PATH")
    commands = {"show": ["show", args.ref], "show json": ["show", args.ref, "--format", "json"],
                "history": ["history", args.ref], f"find {args.text}": ["find", args.text],
                f"find {args.text} json": ["find", args.text, "--format", "json"]}
    print(f"load average {os.getloadavg()[0]:.1f}; median of {args.runs} runs", flush=True)
    for db in args.db:
        for label, argv in commands.items():
            if args.only and label.split()[0] not in args.only.split(","):
                continue
            wall, cpu, lines = timed([exe, "--db", db, *argv], args.runs)
            print(f"{label:<22} {wall:6.2f} s wall {cpu:6.2f} s cpu {lines:6d} lines  --db {db}", flush=True)


if __name__ == "__main__":
    main()
