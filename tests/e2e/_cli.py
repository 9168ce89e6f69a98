"""The driver the e2e tests use to run the `complaints` command line in process (click's CliRunner).

`Cli` is bound to one database and runs `complaints --db URL --actor tester …`, handing back what a user would see:
the exit code, stdout and stderr. Its helpers read the ledger only through the CLI (`show --format json`,
`history --format json`); only `event_count()` opens the ledger directly, to prove a refused command wrote nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from click.testing import CliRunner, Result

from complaints_ledger.cli import cli as complaints_cli

ACTOR = "tester"
# The CLI must see only what each test gives it, never the developer's own ledger or name.
CLEAN_ENV: dict[str, str | None] = {"COMPLAINTS_DB": None, "COMPLAINTS_ACTOR": None}


def error_line(result: Result) -> str:
    """The single 'Error: …' line a failed command prints; fails the test if the failure looks any different."""
    assert result.exit_code != 0, f"expected a failure, got exit 0 with stdout {result.stdout!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"unexpected exception {result.exception!r}"
    )
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {lines!r}"
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


@dataclass
class Cli:
    """Runs `complaints --db URL --actor ACTOR …` in process."""

    url: str | None  # None: no --db option (the ledger comes from COMPLAINTS_DB, or the default)
    actor: str | None = ACTOR
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        """Run one command; `env` adds environment variables (e.g. COMPLAINTS_ACTOR when `actor` is None)."""
        head = (["--db", self.url] if self.url is not None else []) + (
            ["--actor", self.actor] if self.actor is not None else [])
        return self.runner.invoke(complaints_cli, [*head, *args], env={**CLEAN_ENV, **(env or {})},
                                  catch_exceptions=True)

    def ok(self, *args: str, **kwargs: Any) -> Result:
        """Run a command that must succeed."""
        result = self(*args, **kwargs)
        assert result.exit_code == 0, (
            f"`complaints {' '.join(args)}` failed ({result.exit_code}): {result.stderr or result.exception!r}"
        )
        assert "Traceback" not in result.stderr
        return result

    def fails(self, *args: str, **kwargs: Any) -> str:
        """Run a command that must be refused; returns its one 'Error: …' line."""
        return error_line(self(*args, **kwargs))

    # ---------------------------------------------------------------------------------------------- conveniences
    def receive(self, received_on: str = "2026-03-02", *extra: str, policy: str | None = None,
                complainant: str = "Sam Resident", summary: str = "Heating not working") -> str:
        """Log a complaint; returns the reference printed on stdout."""
        args = ["receive", "--complainant", complainant, "--channel", "phone", "--summary", summary,
                "--received-on", received_on, *extra]
        if policy:
            args += ["--policy", policy]
        out = self.ok(*args).stdout.strip()
        assert out.startswith("CMP-"), out
        return out

    def show(self, ref: str, as_of: str | None = None) -> dict[str, Any]:
        args = ["show", ref, "--format", "json"] + (["--as-of", as_of] if as_of else [])
        return json.loads(self.ok(*args).stdout)

    def history(self, ref: str) -> list[dict[str, Any]]:
        lines = self.ok("history", ref, "--format", "json").stdout.splitlines()
        return [json.loads(line) for line in lines]

    def event_count(self) -> int:
        from complaints_ledger.adapters.persistence import open_ledger

        ledger = open_ledger(self.url)
        try:
            return ledger.event_count()
        finally:
            ledger.close()


def deadline(view: dict[str, Any], stage: int, milestone: str) -> dict[str, Any]:
    """One row of `show --format json`'s deadlines."""
    rows = [d for d in view["deadlines"] if d["stage"] == stage and d["milestone"] == milestone]
    assert rows, f"no stage {stage} {milestone} deadline in {view['deadlines']!r}"
    return rows[-1]


