"""The installed `complaints` script, run for real: what a user at a terminal sees, exit codes included.

Every run has its own working folder (tmp_path) and an environment without COMPLAINTS_DB or COMPLAINTS_ACTOR.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from ._cli import Cli

# shared/ sits beside the repository (developers and CI alike); it is not part of the project.
WORKED_EXAMPLE = Path(__file__).resolve().parents[3] / "shared" / "checks" / "worked-example.sh"
TIMEOUT = 60


@pytest.fixture
def run(complaints_exe, subprocess_env, tmp_path):
    """Run `complaints ARGS…` in tmp_path; returns the CompletedProcess (text)."""

    def complaints(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([complaints_exe, *args], cwd=tmp_path, env=subprocess_env, capture_output=True,
                              text=True, encoding="utf-8", timeout=TIMEOUT)

    return complaints


def single_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_version_names_the_program_and_its_version(run):
    done = run("--version")

    assert done.returncode == 0
    assert re.fullmatch(r"complaints, version \d+\.\d+\.\d+\S*", done.stdout.strip())


def test_init_receive_and_show_on_a_new_sqlite_file(run, tmp_path):
    db = f"sqlite:///{tmp_path / 'ledger.db'}"

    init = run("--db", db, "init")
    received = run("--db", db, "--actor", "Jo Officer", "receive", "--complainant", "Sam Resident", "--channel",
                   "phone", "--summary", "Heating not working", "--received-on", "2025-12-19")
    shown = run("--db", db, "show", "CMP-2025-000001", "--as-of", "2025-12-19", "--format", "json")

    assert init.returncode == 0 and init.stdout.startswith(f"ledger ready at {db} (0 events)")
    assert (tmp_path / "ledger.db").exists()
    assert received.returncode == 0
    assert re.fullmatch(r"CMP-\d{4}-\d{6}", received.stdout.strip())
    assert received.stdout.strip() == "CMP-2025-000001"
    assert "next: acknowledge by Tue 30 Dec 2025" in received.stderr
    assert json.loads(shown.stdout)["deadlines"][0]["due_on"] == "2025-12-30"


def test_an_error_exits_non_zero_with_one_stderr_line_and_no_traceback(run, tmp_path):
    db = str(tmp_path / "ledger.db")
    run("--db", db, "init")

    unknown = run("--db", db, "acknowledge", "CMP-2026-000404", "--on", "2026-03-03")
    bad_amount = run("--db", db, "compensation", "request", "CMP-2026-000404", "--amount", "1.234")
    unreachable = run("--db", "postgresql://u:secret@127.0.0.1:1/x", "show", "CMP-2026-000001")

    assert single_error_line(unknown) == "Error: no complaint with reference CMP-2026-000404"
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "fractions of a penny" in single_error_line(bad_amount)
    assert bad_amount.returncode == 2
    assert "cannot open the ledger" in single_error_line(unreachable)
    assert "secret" not in unreachable.stderr


def test_show_on_a_missing_sqlite_file_says_to_run_init(run, tmp_path):
    done = run("--db", str(tmp_path / "missing.db"), "show", "CMP-2026-000001")

    assert "complaints init" in single_error_line(done)
    assert not (tmp_path / "missing.db").exists()


def test_demo_builds_a_sample_ledger_and_suggests_what_to_look_at_next(run, tmp_path):
    db = tmp_path / "demo.db"

    done = run("demo", "--db", str(db))

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Built a sample ledger at sqlite:///{db}: ")
    assert "Look next:" in done.stdout
    suggestions = [line.split("#")[0].strip() for line in done.stdout.splitlines()
                   if line.strip().startswith("complaints ")]
    assert len(suggestions) >= 3
    assert Cli(f"sqlite:///{db}").event_count() > 0
    for suggestion in suggestions:  # each suggested command works on the ledger just built
        args = shlex.split(suggestion)[1:]
        output = None
        if "--output" in args:  # a report: written where the test can look, not into the working folder
            at = args.index("--output") + 1
            output = args[at] = str(tmp_path / args[at])
        result = Cli(url=None)(*args)
        assert result.exit_code in (0, 1) and "Traceback" not in result.stderr, suggestion
        if args[0] != "policy":  # `policy check` of a seed procedure exits 1 by design
            assert result.exit_code == 0, (suggestion, result.stderr)
            if output and "bundle" in args:  # a folder of four files
                assert "Chronology" in open(f"{output}/case.html", encoding="utf-8").read()
            elif output:
                assert "<svg" in open(output, encoding="utf-8").read()
            else:
                assert result.stdout.strip()


def test_demo_refuses_to_build_over_an_existing_ledger_and_leaves_it_unchanged(run, tmp_path):
    db = tmp_path / "demo.db"
    assert run("demo", "--db", str(db)).returncode == 0
    events = Cli(str(db)).event_count()

    again = run("demo", "--db", str(db))

    message = single_error_line(again)
    assert again.returncode == 1
    assert f"already holds {events} events" in message
    assert Cli(str(db)).event_count() == events


def test_simulate_with_the_same_seed_and_until_gives_identical_summaries(run, tmp_path):
    args = ["simulate", "--cases", "50", "--seed", "3", "--until", "2026-06-30"]

    first = run("--db", str(tmp_path / "one.db"), *args)
    second = run("--db", str(tmp_path / "two.db"), *args)

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    summary = json.loads(first.stdout)
    assert json.loads(second.stdout) == summary
    assert (summary["cases"], summary["seed"], summary["until"]) == (50, 3, "2026-06-30")
    assert sum(summary["statuses"].values()) == 50
    assert Cli(str(tmp_path / "one.db")).event_count() == Cli(str(tmp_path / "two.db")).event_count()


def test_the_shared_worked_example_check_passes(complaints_exe, subprocess_env, tmp_path):
    if not WORKED_EXAMPLE.exists():
        pytest.skip(f"no shared checks beside the repository ({WORKED_EXAMPLE})")
    done = subprocess.run(["bash", str(WORKED_EXAMPLE)], cwd=tmp_path, env=subprocess_env, capture_output=True,
                          text=True, timeout=TIMEOUT)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "worked example holds" in done.stdout
    assert "acknowledge by 2025-12-30, respond by 2026-01-14" in done.stdout
