"""Nothing a user types breaks the command line: hypothesis builds argument vectors for every command in the click
tree (tests/e2e/_fuzz.py) and runs them, in process, through the console script's own entry point, against a small
SQLite ledger (a fresh copy for each example).

Each run must end with exit 0, or a non-zero exit with at most three lines on stderr (none longer than 1,000
characters), and never with a traceback; take under 20 s; leave the stored events, chain and keys byte for byte as
they were when it failed, and never change an event already stored even when it succeeded.

The seed is printed, and is in every failure's message; `COMPLAINTS_FUZZ_SEED=N` replays that run (with the same
code and the same date), and `COMPLAINTS_FUZZ_SHRINK=1` also shrinks a failure to a smaller example.
`COMPLAINTS_FUZZ_EXAMPLES=N` runs N examples per family instead of the defaults below.
"""

from __future__ import annotations

import os
import random
import zlib

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from . import _fuzz


def _seed() -> int:
    """COMPLAINTS_FUZZ_SEED, else one per pytest run (the same on every xdist worker), else a random one."""
    if os.environ.get("COMPLAINTS_FUZZ_SEED"):
        return int(os.environ["COMPLAINTS_FUZZ_SEED"])
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id:
        return zlib.crc32(run_id.encode())
    return random.SystemRandom().randrange(2**32)


SEED = _seed()

# Examples per family per run (at least 500 in all; about 1,000), sized so that the fuzz tests take well under a
# minute on 2 workers: most commands take 10-40 ms, a report renders its HTML (tens of ms), and a command that runs
# until stopped waits for its Ctrl-C (0.3 s).
EXAMPLES = {"record": 400, "read": 250, "admin": 250, "stream": 90, "report": 60}
assert sum(EXAMPLES.values()) >= 500


def _examples(family: str) -> int:
    return int(os.environ.get("COMPLAINTS_FUZZ_EXAMPLES") or EXAMPLES.get(family, 50))


PHASES = (Phase.explicit, Phase.generate) + ((Phase.shrink,) if os.environ.get("COMPLAINTS_FUZZ_SHRINK") else ())


@pytest.fixture(scope="session")
def fuzz_world(tmp_path_factory):
    """The fixture ledger and input files, built once per worker."""
    return _fuzz.World(tmp_path_factory.mktemp("cli-fuzz"))


def test_every_command_belongs_to_a_fuzzed_family():
    """A command added later is fuzzed too: each one falls into a family, and every family has examples."""
    families = {_fuzz.family_of(c) for c in _fuzz.commands()}
    assert families <= set(EXAMPLES), families - set(EXAMPLES)
    names = {c.name for c in _fuzz.commands()}
    assert {"receive", "show", "events", "events deliver", "projections follow", "report annual"} <= names


@pytest.mark.parametrize("family", list(EXAMPLES))
def test_no_input_breaks_the_cli(family, fuzz_world):
    """Every command of the family, with valid-looking and garbage arguments: a clear refusal or a result."""
    commands = [c for c in _fuzz.commands() if _fuzz.family_of(c) == family]
    assert commands, f"no command in family {family}"
    print(f"complaints CLI fuzz: seed {SEED} (replay: COMPLAINTS_FUZZ_SEED={SEED}), family {family}, "
          f"{_examples(family)} examples over {len(commands)} commands")

    @seed(SEED)
    @settings(max_examples=_examples(family), deadline=None, database=None, phases=PHASES, derandomize=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example, HealthCheck.filter_too_much])
    @given(data=st.data())
    def one_example(data):
        command = data.draw(st.sampled_from(commands), label="command")
        argv = data.draw(_fuzz.argv_for(command, fuzz_world.corpus), label="argv")
        outcome = fuzz_world.run(command, argv)
        if outcome.problems:
            pytest.fail(f"{outcome.describe()}\n\nreplay: COMPLAINTS_FUZZ_SEED={SEED} python -m pytest -p no:xdist "
                        f"'tests/e2e/test_cli_fuzz.py::test_no_input_breaks_the_cli[{family}]'", pytrace=False)

    one_example()


def test_the_fuzz_checks_see_what_a_user_would(fuzz_world, monkeypatch):
    """The fuzz test is only as strong as its checks. A command added to the tree is found and fuzzed; a traceback,
    a write to the log before a failure, and a run that never ends are each caught; and a command that runs until
    stopped ends cleanly on its Ctrl-C."""
    import sqlite3
    import time

    import click

    from complaints_ledger.cli import cli

    def misbehave(how: str) -> None:
        if how == "crash":
            raise RuntimeError("boom")
        if how == "write-then-fail":
            with sqlite3.connect(_fuzz.LEDGER) as db:
                db.execute(f"INSERT INTO {_fuzz.EVENTS_TABLE} (originator_id, originator_version, topic, state) "
                           "VALUES (?, 1, 'fuzz:SelfTest', x'00')", (b"\x01" * 16,))
            raise click.ClickException("refused after writing")
        time.sleep(30)

    added = click.Command("fuzz-self-test", callback=misbehave, params=[click.Argument(["how"])])
    monkeypatch.setitem(cli.commands, "fuzz-self-test", added)
    command = {c.name: c for c in _fuzz.commands()}
    assert _fuzz.family_of(command["fuzz-self-test"]) in EXAMPLES

    crashed = fuzz_world.run(command["fuzz-self-test"], ["fuzz-self-test", "crash"])
    assert any(p.startswith("uncaught RuntimeError") for p in crashed.problems), crashed.describe()
    wrote = fuzz_world.run(command["fuzz-self-test"], ["--db", _fuzz.LEDGER, "fuzz-self-test", "write-then-fail"])
    assert wrote.exit_code == 1, wrote.describe()
    assert any(f"{_fuzz.EVENTS_TABLE} changed" in p for p in wrote.problems), wrote.describe()
    monkeypatch.setattr(_fuzz, "TIME_LIMIT", 1.0)
    hung = fuzz_world.run(command["fuzz-self-test"], ["fuzz-self-test", "hang"])
    assert any(p.startswith("still running") for p in hung.problems) and hung.seconds < 5, hung.describe()

    follow = fuzz_world.run(command["projections follow"], ["--db", _fuzz.LEDGER, "projections", "follow",
                                                            "--poll", "0.05"])
    assert follow.stopped_by_us and follow.exit_code == 0 and not follow.problems, follow.describe()
