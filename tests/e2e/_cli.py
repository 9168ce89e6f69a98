"""The driver the e2e tests use to run the `complaints` command line in process (click's CliRunner).

`Cli` is bound to one database and runs `complaints --db URL --actor tester …` (on PostgreSQL: as the login `tester`,
acting as the role the URL names, see `login_url`), handing back what a user would see:
the exit code, stdout and stderr. Its helpers read the ledger only through the CLI (`show --format json`,
`history --format json`); only `event_count()` opens the ledger directly, to prove a refused command wrote nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from click.testing import CliRunner, Result

from complaints_ledger.cli import cli as complaints_cli

ACTOR = "tester"
# The CLI must see only what each test gives it, never the developer's own ledger or name.
# Nor the width of the terminal the tests run in: text wraps at 100 columns when the output is not a terminal.
CLEAN_ENV: dict[str, str | None] = {"COMPLAINTS_DB": None, "COMPLAINTS_ACTOR": None, "COLUMNS": None, "LINES": None,
                                   "COMPLAINTS_ANCHORS": None, "COMPLAINTS_SIGNING_KEY": None,
                                   "COMPLAINTS_PUBLIC_KEY": None}


_MEMBERSHIPS: set[tuple[str, str]] = set()  # (login, role) pairs this process has made sure of
LOGIN_LOCK = "SELECT pg_advisory_lock(hashtext('complaints_test_logins'))"
LOGIN_UNLOCK = "SELECT pg_advisory_unlock(hashtext('complaints_test_logins'))"


def url_role(url: str) -> str | None:
    """The role a test URL's logins act as (`-crole=…` in its options), if it names one."""
    options = unquote(url.split("options=", 1)[1].split("&", 1)[0]) if "options=" in url else ""
    return next((o[len("-crole="):] for o in options.split() if o.startswith("-crole=")), None)


def with_role(url: str, role: str) -> str:
    """`url` whose connections act as `role` (PostgreSQL's `role` setting, given at connection): how an officer's
    login acts as the writer group (docs/postgresql.md sets it with ALTER ROLE; a connection option needs no
    cluster-wide change, so concurrent test runs cannot disturb each other's logins)."""
    sep = "&" if "?" in url else "?"
    if "options=" in url:
        head, tail = url.split("options=", 1)
        value, _, rest = tail.partition("&")
        return f"{head}options={value}{quote(f' -crole={role}', safe='')}" + (f"&{rest}" if rest else "")
    return f"{url}{sep}options={quote(f'-crole={role}', safe='')}"


def staff_logins(ledger_roles: Any, pg_url: str, staff: list[tuple[str, str, str]]) -> dict[str, "Cli"]:
    """A ledger on PostgreSQL with writer logins, whose staff directory maps each (name, role, login) of `staff`
    to its login (added by the first, who must be able to add staff); a Cli per login."""
    url = ledger_roles.ledger(pg_url)
    by_login = {login: Cli(url, actor=login) for _, _, login in staff}
    first = by_login[staff[0][2]]
    for name, role, login in staff:
        first.ok("staff", "add", name, "--role", role, "--login", login)
    return by_login


def login_url(url: str, login: str) -> str:
    """`url` with `login` as the user, so session_user is the actor's name. The login acts as the role the URL
    names (`with_role`: the writer or reader group, least privilege), or else as the owner of the tables (the
    URL's own user: for the few tests that need what only the owner may do, e.g. set a database up)."""
    import sqlalchemy as sa

    owner = url.split("://", 1)[1].split("@", 1)[0]
    role = url_role(url)
    if role is None:
        role, url = owner, with_role(url, owner)
    if (login, role) not in _MEMBERSHIPS:
        admin = sa.create_engine(url.split("?", 1)[0], isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(LOGIN_LOCK))
            try:
                q = login.replace('"', '""')
                if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": login}).first() is None:
                    conn.exec_driver_sql(f'CREATE ROLE "{q}" LOGIN')
                if not conn.execute(sa.text("SELECT pg_has_role(:l, :r, 'MEMBER')"), {"l": login, "r": role}).scalar():
                    conn.exec_driver_sql(f'GRANT "{role}" TO "{q}"')
            finally:
                conn.execute(sa.text(LOGIN_UNLOCK))
        admin.dispose()
        _MEMBERSHIPS.add((login, role))
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{quote(login, safe='')}@{rest.split('@', 1)[1]}"


class LedgerRoles:
    """One writer and one reader group role for this test process (`init --roles --role-prefix`; roles are
    cluster-wide, so the prefix is unique to the process), granted on each test's fresh schema by its owner; the
    e2e tests' logins act as the writer. `close()` drops the groups (a test's schema, with whatever the writer
    owned in it, is dropped with the test)."""

    def __init__(self, owner_url: str) -> None:
        import uuid

        self.owner_url = owner_url.split("?", 1)[0]
        self.prefix = f"e2e_{uuid.uuid4().hex[:10]}"
        self.writer, self.reader = f"{self.prefix}_writer", f"{self.prefix}_reader"

    def ledger(self, url: str) -> str:
        """Set a ledger up on `url` (a fresh schema, as its owner) with the roles granted, as `init --roles` does
        but leaving the read models for the writer's first read to build (a third of a second less per test);
        returns the URL whose logins act as the writer (`with_role(url, roles.reader)` for a reader's)."""
        from complaints_ledger.adapters.persistence import init_ledger
        from complaints_ledger.adapters.roles import create_roles

        ledger, _ = init_ledger(url)
        try:
            create_roles(ledger, self.prefix)
        finally:
            ledger.close()
        return with_role(url, self.writer)

    def close(self) -> None:
        import sqlalchemy as sa

        admin = sa.create_engine(self.owner_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(LOGIN_LOCK))
            try:  # every group `init --roles` made under the prefix, however many a later version makes
                for (role,) in conn.execute(sa.text("SELECT rolname FROM pg_roles WHERE starts_with(rolname, :p)"),
                                            {"p": f"{self.prefix}_"}).all():
                    conn.exec_driver_sql(f'DROP OWNED BY "{role}" CASCADE')
                    conn.exec_driver_sql(f'DROP ROLE "{role}"')
            finally:
                conn.execute(sa.text(LOGIN_UNLOCK))
        admin.dispose()


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
        url, actor = self.url, self.actor
        if self.on_postgres and actor is not None:
            if "://postgres@" in url:  # the test database's owner: log in as the actor instead
                url = login_url(url, actor)
            else:
                actor = None  # already a named login (or an unreachable server): that is the actor
        head = (["--db", url] if url is not None else []) + (["--actor", actor] if actor else [])
        return self.runner.invoke(complaints_cli, [*head, *args], env={**CLEAN_ENV, **(env or {})},
                                  catch_exceptions=True)

    @property
    def on_postgres(self) -> bool:
        """On PostgreSQL the actor is the database login, never typed in: each actor gets a login of that name."""
        return bool(self.url and self.url.startswith("postgresql"))

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




def table(text: str) -> list[dict[str, str]]:
    """The rows of a table as printed (a header row, aligned columns), keyed by header. Columns are found as a
    person finds them: runs of two or more positions blank on every line (a cell's own words are one space
    apart); a line whose first cell is blank continues the row above (a wrapped cell)."""
    lines = [line for line in text.splitlines() if line.strip()]
    width = max(len(line) for line in lines) + 2
    padded = [line.ljust(width) for line in lines]
    blank = [all(line[i] == " " for line in padded) for i in range(width)]
    gap = [blank[i] and ((i > 0 and blank[i - 1]) or (i + 1 < width and blank[i + 1])) for i in range(width)]
    spans, start = [], None
    for i, in_gap in enumerate(gap):
        if not in_gap and start is None:
            start = i
        elif in_gap and start is not None:
            spans.append((start, i))
            start = None
    header = [padded[0][a:b].strip() for a, b in spans]
    rows: list[dict[str, str]] = []
    for line in padded[1:]:
        cells = [line[a:b].strip() for a, b in spans]
        if rows and not cells[0]:
            for key, cell in zip(header, cells):
                if cell:
                    rows[-1][key] = f"{rows[-1][key]} {cell}".strip()
        else:
            rows.append(dict(zip(header, cells)))
    return rows


def section(text: str, title: str) -> str:
    """The lines under a titled section of a screen (e.g. `Deadlines` in `show`), up to the next blank line."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(lines[start:end])


def deadline_rows(show_text: str) -> list[dict[str, str]]:
    """The `Deadlines` table of a case sheet (`complaints show`)."""
    return table(section(show_text, "Deadlines"))
