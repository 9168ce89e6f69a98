"""The README's promises, run as a newcomer would run them: the five-minute life of a complaint, command by command,
with the output its comments show, and the committee's commands on the demo ledger.

A comment line under a command is what that command prints (a line with `…`, or one in brackets, is commentary);
complainant ids are random, so any id matches one.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from complaints_ledger.cli import cli as complaints_cli

from ._cli import CLEAN_ENV

README = Path(__file__).resolve().parents[2] / "README.md"


def shell_blocks(heading: str) -> list[str]:
    """The ```sh blocks under a `## heading` of the README."""
    text = README.read_text(encoding="utf-8")
    part = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", part, re.S)


def commands(block: str) -> list[tuple[list[str], list[str]]]:
    """Each `complaints …` command of a block (continuation lines joined, trailing comment dropped) with the
    output lines its following comments promise."""
    steps: list[tuple[list[str], list[str]]] = []
    pending = ""
    for line in block.splitlines():
        if pending:
            line, pending = pending + " " + line.strip(), ""
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1]
            continue
        if line.startswith("complaints "):
            steps.append((shlex.split(line, comments=True)[1:], []))
        elif line.startswith("# ") and steps and "…" not in line and not line[2:].lstrip().startswith("("):
            steps[-1][1].append(line[2:])
    return steps


def promised(line: str) -> re.Pattern[str]:
    """The line as a pattern: any run of spaces matches any, any complainant id matches any."""
    words = (re.escape(word) for word in re.sub(r"P-[0-9A-F]{12}", "\0", line).split())
    return re.compile(r"\s+".join(words).replace("\0", "P-[0-9A-F]{12}"))


def run(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(complaints_cli, args, env={**CLEAN_ENV, **env})
    return result.exit_code, result.stdout + result.stderr


def test_the_five_minute_life_runs_as_written_and_prints_what_it_says(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (block,) = shell_blocks("One complaint's life in five minutes")
    exported = re.search(r"^export (.*)$", block, re.M).group(1)
    env = dict(pair.split("=", 1) for pair in shlex.split(exported))
    steps = commands(block)
    assert len(steps) >= 15 and steps[0][0] == ["init"]

    for args, lines in steps:
        code, out = run(args, env)
        assert code == 0, f"`complaints {shlex.join(args)}` failed: {out}"
        for line in lines:
            assert promised(line).search(out), f"`complaints {shlex.join(args)}` did not print {line!r}:\n{out}"
    assert Path(env["COMPLAINTS_DB"].removeprefix("sqlite:///")).exists()


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("readme-demo")
    result = CliRunner().invoke(complaints_cli, ["--actor", "newcomer", "demo", "--db",
                                                 f"sqlite:///{folder / 'complaints-demo.db'}"], env=CLEAN_ENV)
    assert result.exit_code == 0, result.stdout + result.stderr
    return folder


def test_the_committee_commands_run_on_the_demo_ledger(demo_folder: Path, monkeypatch):
    monkeypatch.chdir(demo_folder)
    (block,) = shell_blocks("For the committee")
    steps = commands(block)
    assert {args[2] for args, _ in steps} >= {"stats", "breaches", "report"}

    for args, _ in steps:
        args = [a for a in args if a != ">"]  # `… > breaches.csv`: the file name stays as an argument to drop
        if "breaches.csv" in args:
            args.remove("breaches.csv")
        code, out = run(args, {"COMPLAINTS_ACTOR": "newcomer"})
        assert code == 0, f"`complaints {shlex.join(args)}` failed: {out}"
    assert (demo_folder / "committee.html").stat().st_size > 10_000
    assert (demo_folder / "annual.html").stat().st_size > 10_000
