"""The fault suite: real outages, kill -9 and insiders. Everything under tests/faults is marked `faults`
(`python -m pytest -m "not faults"` runs the rest on its own); CI runs it with everything else, never skipped.

`private_pg` gives a test its own PostgreSQL server (initdb as the `postgres` user in a temporary folder, on a spare
port) which the test may stop, kill and start as it likes: the shared server at COMPLAINTS_TEST_PG_URL is never
stopped. The server and its folder are removed afterwards.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from ..conftest import REQUIRE_PG


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


def _pg_bin() -> Path | None:
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*/bin") if (p / "initdb").exists()), key=lambda p: int(p.parent.name))
    if versions:
        return versions[-1]
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateServer:
    """A PostgreSQL server of the test's own: `url`, `stop()` (fast shutdown), `kill()` (SIGKILL the postmaster),
    `start()`, `psql(sql)` as the superuser."""

    def __init__(self, bin_dir: Path, base: Path):
        self.bin = bin_dir
        self.base = base
        self.data = base / "data"
        self.port = _spare_port()
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres(["initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                           "-E", "UTF8", "--locale=C"])
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{base}'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 16MB\n"
                       "max_connections = 40\n")
        self.start()

    def _as_postgres(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
        argv = [str(self.bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self._as_postgres(["pg_ctl", "-D", str(self.data), "-l", str(self.base / "log"), "-w", "-t", "60", "start"])

    def stop(self) -> None:
        self._as_postgres(["pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"])

    def kill(self) -> None:
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 9)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def psql(self, sql: str) -> str:
        return self._as_postgres(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d",
                                  "postgres", "-v", "ON_ERROR_STOP=1", "-Atc", sql]).stdout

    def remove(self) -> None:
        self._as_postgres(["pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"], check=False)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def private_pg():
    bin_dir = _pg_bin()
    if bin_dir is None:
        if REQUIRE_PG:
            pytest.fail("the fault suite needs PostgreSQL's server binaries (initdb, pg_ctl)")
        pytest.skip("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    base = Path(tempfile.mkdtemp(prefix="complaints-pg-"))
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(base, postgres.pw_uid, postgres.pw_gid)
    server = PrivateServer(bin_dir, base)
    try:
        yield server
    finally:
        server.remove()
