"""kill -9 of a real `complaints simulate` while its worker process plays the cases (adapters/play_ahead.py): the
worker dies with it, leaving no process behind to hold the database or burn a core; the ledger verifies and
its read models rebuild."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.e2e._cli import Cli

from ._kill import Peek, complaints, env, seeded


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_worker_dies_with_a_simulation_killed_mid_import(db_url):
    rng = seeded("play ahead kill")
    cli = Cli(db_url)
    cli.ok("init")
    peek = Peek(db_url)
    process = subprocess.Popen(complaints(db_url, "simulate", "--cases", "6000", "--seed", "5", "--until",
                                          "2026-06-30"), env=env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (workers := children(process.pid)) or peek.cases() == 0:
            assert process.poll() is None and time.monotonic() < deadline, "no worker while the import ran"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        assert process.poll() is None, "the import finished before the kill"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(running(w) for w in workers):
            assert time.monotonic() < deadline, f"the worker {workers} outlived its parent"
            time.sleep(0.05)
        assert 0 < peek.cases() < 6000
        assert "verified:" in cli.ok("verify").stdout
        assert "rebuilt" in cli.ok("projections", "rebuild").stdout
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        peek.close()
