"""Progress on a terminal, for a person waiting: a bar with done/total, the rate and the time to go on stderr, the
cursor given back at the end; never on a pipe (a log or a script sees only the result)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal: (exit code, stdout, what the terminal showed without colour codes)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave, env=env, cwd=cwd)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        shown += chunk
    stdout = process.stdout.read().decode()
    process.wait(timeout=60)
    os.close(master)
    return process.returncode, stdout, shown.decode("utf-8", "replace")


def test_a_simulation_shows_a_progress_bar_on_a_terminal_and_gives_the_cursor_back(
        complaints_exe, subprocess_env, tmp_path):
    code, stdout, shown = on_a_terminal(
        [complaints_exe, "--db", "s.db", "--actor", "t", "simulate", "--cases", "250"], subprocess_env, tmp_path)

    assert code == 0 and '"cases": 250' in stdout
    frames = [f for f in ANSI.sub("", shown).replace("\r", "\n").splitlines() if f.strip()]
    assert any(re.search(r"\b100/250\b", f) for f in frames), frames
    assert re.search(r"\b250/250 [\d,]+ cases/s 0:00:00", frames[-1]), frames[-1]
    assert shown.endswith("\x1b[?25h")  # the cursor, hidden while the bar is drawn, is shown again


def test_a_rebuild_shows_positions_in_the_log_and_events_per_second(complaints_exe, subprocess_env, tmp_path):
    subprocess.run([complaints_exe, "--db", "s.db", "--actor", "t", "simulate", "--cases", "300"], env=subprocess_env,
                   cwd=tmp_path, check=True, capture_output=True)

    code, stdout, shown = on_a_terminal([complaints_exe, "--db", "s.db", "projections", "rebuild"], subprocess_env,
                                        tmp_path)

    assert code == 0 and stdout.startswith("rebuilt ")
    last = [f for f in ANSI.sub("", shown).replace("\r", "\n").splitlines() if f.strip()][-1]
    head = re.search(r"(\d+)/(\d+) [\d,]+ events/s", last)
    assert head and head[1] == head[2], last


def test_piped_there_is_no_progress_at_all(complaints_exe, subprocess_env, tmp_path):
    done = subprocess.run([complaints_exe, "--db", "s.db", "--actor", "t", "simulate", "--cases", "250"],
                          env=subprocess_env, cwd=tmp_path, capture_output=True, text=True)

    assert done.returncode == 0 and done.stderr == ""
