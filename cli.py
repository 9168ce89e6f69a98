"""`complaints`: the command line over the ComplaintsLedger. Thin: parse, call one application method, print.

Every user error (unknown reference, illegal step, bad date or amount, unreachable database) becomes one line on
stderr and a non-zero exit, and nothing is written.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from .adapters import policy_files
from .domain import limits
from .domain.errors import ComplaintsError
from .domain.vocabulary import (CHANNELS, FEEDBACK_KINDS, FINDINGS, OUTCOMES, PANEL_ROLES, REFUSAL_REASONS,
                                STAFF_ROLES, TENURES)


# ---------------------------------------------------------------------------------------------------- plumbing
class LedgerCLI(click.Group):
    """Turns domain and database errors into one 'Error: …' line, and usage errors too (no usage dump); lists each
    command with its whole first sentence, wrapped, where click would cut it off with '…'."""

    group_class = type  # the command groups (policy, staff, events, …) list their commands the same way

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ComplaintsError as e:
            raise click.ClickException(str(e)) from None
        except click.exceptions.Exit:
            raise
        except Exception as e:  # noqa: BLE001 - database failures mid-command must not print a traceback
            from .adapters.persistence import database_errors, first_line

            if isinstance(e, database_errors()):
                raise click.ClickException(f"database error: {first_line(e)}") from None
            raise

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:  # type: ignore[override]
        extra.pop("standalone_mode", None)
        try:
            result = super().main(args=args, prog_name=prog_name or "complaints", standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as e:
            click.echo(e.ctx.get_help() if e.ctx else "", err=False)
            sys.exit(0)
        except click.ClickException as e:  # usage errors too: one line, always, never a usage dump
            click.echo(f"Error: {error_line(e.format_message())}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except (KeyboardInterrupt, EOFError):
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)


ERROR_LENGTH = 500  # an error is a sentence or two; what was typed is quoted in part, never pasted back
_QUOTED = re.compile(r"'([^']{81,})'|\"([^\"]{81,})\"")
_LONG_WORD = re.compile(r"\S{201,}")


def printable(text: Any) -> str:
    """User text as one line of screen text (domain.values.printable, imported when first needed)."""
    from .domain.values import printable as one_line

    return one_line(text)


def error_line(message: str) -> str:
    """An error as one readable line: whitespace runs made single spaces, control characters escaped, long quoted
    values (click's own messages repeat what was typed: 'x…' is not a valid integer) or unbroken runs (a path) cut
    to a short prefix, so nothing typed or pasted can make an error run to pages."""
    text = printable(" ".join(message.split()))
    cut = limits.QUOTE_MAX
    text = _QUOTED.sub(lambda m: repr((m.group(1) or m.group(2))[:cut] + "…"), text)
    text = _LONG_WORD.sub(lambda m: m.group()[:cut] + "…", text)
    return text if len(text) <= ERROR_LENGTH else text[:ERROR_LENGTH - 1] + "…"


class DateType(click.ParamType):
    """A date typed as YYYY-MM-DD, from 1990-01-01 to 2100-12-31 (domain/values.py: business_date); whether it may
    be in the future is the command's rule (a step's --on may not, a report's --to may)."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: Any, ctx: Any) -> date:
        if isinstance(value, date):
            return value
        from .domain.values import business_date  # the domain's values only once a command parses one

        try:
            return business_date(value, "")
        except ComplaintsError as e:
            self.fail(str(e), param, ctx)


class SecondsType(click.ParamType):
    """A wait in seconds: finite, above 0 (or from 0), at most `maximum` (domain/values.py: seconds)."""

    name = "SECONDS"

    def __init__(self, maximum: float = limits.MAX_POLL_SECONDS, zero_allowed: bool = False):
        self.maximum, self.zero_allowed = maximum, zero_allowed

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        from .domain.values import seconds

        try:
            return seconds(value, "", maximum=self.maximum, zero_allowed=self.zero_allowed)
        except ComplaintsError as e:
            self.fail(str(e), param, ctx)


class FilePath(click.Path):
    """click.Path, refusing with one line a name no file can have (a NUL character), on which the file system's
    own calls raise ValueError rather than OSError."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            from .domain.values import quoted

            self.fail(f"{quoted(value)} cannot be a file name: it contains a NUL character", param, ctx)
        return super().convert(value, param, ctx)


SQLITE_MAGIC = b"SQLite format 3\x00"


class OutputPath(FilePath):
    """A file (or bundle folder) a command will write: never the ledger's own database or its journal, never another
    SQLite database (writing a report over one destroys it: no one means to), and in a folder that exists. Checked
    as the option is read, before the command opens anything, so a refusal writes nothing; every --output uses it."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from .adapters.persistence import normalise_url, sqlite_path

        output = super().convert(value, param, ctx)
        session = ctx.find_object(Session) if ctx is not None else None
        target = Path(output)
        try:
            resolved = target.resolve()
            db = sqlite_path(normalise_url(session.db)) if session is not None else None
            journal = {Path(f"{db}{end}").resolve() for end in ("", "-wal", "-shm", "-journal")} if db else set()
            if resolved in journal:
                raise click.ClickException(f"{printable(output)} is the ledger's own database: write to another file")
            if resolved.is_file():
                with resolved.open("rb") as handle:
                    if handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
                        raise click.ClickException(f"{printable(output)} is an SQLite database, which this would "
                                                   "overwrite: write to another file")
            if not resolved.parent.is_dir():
                raise click.ClickException(f"cannot write {printable(output)}: folder {printable(target.parent)} "
                                           "does not exist")
        except OSError as e:
            raise click.ClickException(f"cannot write {printable(output)}: {e.strerror or e}") from None
        return output


class ShortTextType(click.ParamType):
    """A short text to look for (a category): one line of at most 200 characters (domain/values.py: plain_text)."""

    name = "TEXT"

    def convert(self, value: Any, param: Any, ctx: Any) -> str | None:
        from .domain.values import plain_text

        try:
            return plain_text(value, "it", "short", required=False)
        except ComplaintsError as e:
            self.fail(str(e), param, ctx)


class DurationType(click.ParamType):
    """How long: 30s, 5m, 1h, 2d (domain/values.py: duration)."""

    name = "DURATION"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, float):
            return value
        from .domain.values import duration

        try:
            return duration(value, "")
        except ComplaintsError as e:
            self.fail(str(e), param, ctx)


POLL = SecondsType()
GIVE_UP_AFTER = click.option(
    "--give-up-after", type=DurationType(), default=None, metavar="DURATION",
    help="End (exit 1) once the database has been unreachable this long, e.g. 30s, 5m, 1h [default: wait for "
         "ever].")
SEED = click.IntRange(0, limits.MAX_SEED)
SHORT_TEXT = ShortTextType()


class MoneyType(click.ParamType):
    name = "GBP"

    def __init__(self, allow_zero: bool = False):
        self.allow_zero = allow_zero

    def convert(self, value: Any, param: Any, ctx: Any) -> Decimal:
        if isinstance(value, Decimal):
            return value
        from .domain.values import pounds

        try:
            return pounds(value, allow_zero=self.allow_zero)
        except ComplaintsError as e:
            self.fail(str(e), param, ctx)


class PanelMemberType(click.ParamType):
    name = "NAME:ROLE"

    def convert(self, value: Any, param: Any, ctx: Any) -> dict[str, str]:
        if isinstance(value, dict):
            return value
        from .domain.values import brief, quoted

        name, sep, role = str(value).rpartition(":")
        if not sep or not name.strip():
            self.fail(f"{quoted(value)} should be NAME:ROLE (roles: {', '.join(PANEL_ROLES)})", param, ctx)
        role = role.strip().lower()
        if role not in PANEL_ROLES:
            self.fail(f"role {quoted(role)} for {brief(name.strip(), limits.QUOTE_MAX)} is not one of: "
                      f"{', '.join(PANEL_ROLES)}", param, ctx)
        return {"name": name.strip(), "role": role}


DATE = DateType()


class RecordedTimeType(click.ParamType):
    name = "TIMESTAMP"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        from .domain.values import recorded_time

        try:
            return recorded_time(value, "")
        except ComplaintsError as e:
            self.fail(str(e), param, ctx)


KNOWN_AT = click.option("--known-at", type=RecordedTimeType(), default=None,
                        help="Only what the ledger had recorded by then: 2026-03-05T14:30 (UK clock time), "
                             "...T14:30Z, or a date (the end of that day).")
MONEY = MoneyType()


class Session:
    """What the global options select; the ledger is opened only when a command needs it."""

    def __init__(self, db: str | None, actor: str, actor_typed: bool = False):
        self.db = db
        self._typed_actor = actor
        self._actor_typed = actor_typed  # given with --actor or COMPLAINTS_ACTOR, not the OS user
        self._actor: str | None = None
        self._ledger = None

    @property
    def actor(self) -> str:
        """Who is recording: on PostgreSQL the authenticated login (session_user), which no option can change, so
        the audit identity cannot be typed in; on SQLite, a single user's file, --actor or the OS user."""
        if self._actor is None:
            from .adapters.persistence import authenticated_user

            login = authenticated_user(self.ledger())
            if login is not None and self._actor_typed and self._typed_actor != login:
                raise click.ClickException(
                    f"on PostgreSQL the actor is your database login ({login}); --actor/COMPLAINTS_ACTOR "
                    f"cannot record {self._typed_actor!r} instead (connect as their login)")
            self._actor = login or self._typed_actor
        return self._actor

    def ledger(self, create: bool = True):
        """The ledger; `create` only for the commands that can start one (receive, feedback, import, staff add,
        simulate): a step on a case needs a ledger that holds it, so a mistyped --db never leaves an empty one."""
        if self._ledger is None:
            from .adapters.persistence import open_ledger

            self._ledger = open_ledger(self.db, create=create)
        return self._ledger

    def adopt(self, ledger: Any) -> None:
        """The ledger this command opened itself (`init`, `demo`): the actor is its login, and no other is opened."""
        self._ledger = ledger

    def reader(self):
        """For a command that only reads a case: through a plain connection, without SQLAlchemy (half the start-up)."""
        if self._ledger is None:
            from .adapters.plain_reads import open_reader

            self._ledger = open_reader(self.db)
        return self._ledger


def default_actor() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"


def to_json(value: Any) -> str:
    from .domain.values import json_default

    return json.dumps(value, default=json_default, ensure_ascii=False)


def output_format(*choices: str) -> Callable:
    return click.option("--format", "fmt", type=click.Choice(choices or ("text", "json")), default="text",
                        show_default=True, help="Output format.")


on_option = click.option("--on", type=DATE, default=None, help="Business date it happened (default today).")
pass_session = click.make_pass_decorator(Session)


# ---------------------------------------------------------------------------------------------------- root
@click.group(cls=LedgerCLI, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="complaints-ledger", prog_name="complaints")
@click.option("--db", envvar="COMPLAINTS_DB", default=None, metavar="URL",
              help="Database URL (env COMPLAINTS_DB). Default: sqlite:///complaints.db in this folder. "
                   "PostgreSQL: postgresql://user@host/dbname.")
@click.option("--actor", envvar="COMPLAINTS_ACTOR", default=default_actor, show_default="OS user",
              help="Who is recording the action (env COMPLAINTS_ACTOR), on SQLite. On PostgreSQL the actor is "
                   "always the database login.")
@click.pass_context
def cli(ctx: click.Context, db: str | None, actor: str) -> None:
    """The complaints ledger: an immutable record of every action on every complaint.

    \b
    Example:
      complaints init
      complaints receive --complainant "J Smith" --channel phone --summary "Boiler broken"
      complaints show CMP-2026-000001
    """
    if not actor or not actor.strip():
        raise click.UsageError("--actor must not be empty")
    from .domain.values import plain_text  # the ledger's rule for a name, checked before any command runs

    try:
        plain_text(actor, "--actor", "name")
    except ComplaintsError:
        raise click.UsageError(f"--actor must be one line of at most {limits.NAME_MAX} characters") from None
    typed = ctx.get_parameter_source("actor") in (click.core.ParameterSource.COMMANDLINE,
                                                  click.core.ParameterSource.ENVIRONMENT)
    ctx.obj = Session(db, actor.strip(), actor_typed=typed)


@cli.command()
@click.option("--roles", is_flag=True, help="PostgreSQL: also create the least-privilege writer and reader roles.")
@click.option("--role-prefix", default="complaints", show_default=True, help="Names the roles PREFIX_writer, "
              "PREFIX_reader.")
@pass_session
def init(s: Session, roles: bool, role_prefix: str) -> None:
    """Create the ledger's tables, triggers and read models (safe to re-run).

    With --roles, also its PostgreSQL roles. The first write into a new or empty database does this too; a database
    that already holds another application's tables gets the ledger only from init, which lists what it adds.

    \b
    Examples:
      complaints init
      complaints --db postgresql://postgres@localhost/complaints init --roles
      (then, as an administrator, for each officer:
       CREATE ROLE jo LOGIN IN ROLE complaints_writer; ALTER ROLE jo SET role = complaints_writer;)
    """
    from .adapters.persistence import PLACE, holdings, init_ledger, normalise_url, redact
    from .domain.values import brief

    ledger, before = init_ledger(s.db)
    s.adopt(ledger)
    # The read models too, so that a login that may only read finds them ready (it cannot make them).
    runner = _runner(s)
    runner.catch_up(progress=_progress())
    after = holdings(ledger)
    click.echo(f"ledger ready at {brief(redact(normalise_url(s.db)), PLACE)} ({ledger.event_count()} events)")
    tables, triggers = sorted(after.tables - before.tables), sorted(after.triggers - before.triggers)
    place = f"schema {after.schema}" if after.schema else after.where
    if tables:
        click.echo(f"created {len(tables)} table{'s' if len(tables) != 1 else ''} in {place}: {', '.join(tables)}")
    if triggers:
        click.echo(f"created {len(triggers)} trigger{'s' if len(triggers) != 1 else ''}: {', '.join(triggers)}")
    if (tables or triggers) and before.foreign:
        click.echo(f"beside the {len(before.foreign)} other table{'s' if len(before.foreign) != 1 else ''} already "
                   "there, which the ledger never touches", err=True)
    if roles:
        from .adapters.roles import create_roles

        made = create_roles(ledger, role_prefix)
        click.echo(f"roles ready in schema {made['schema']}: {made['writer']} (record and keep read models "
                   f"up to date; cannot change or delete events, nor keys but through erase), {made['reader']} "
                   "(read only)")
        click.echo(f"logins: CREATE ROLE name LOGIN IN ROLE {made['writer']}; ALTER ROLE name SET role = "
                   f"{made['writer']};  (or IN ROLE {made['reader']})", err=True)


# ---------------------------------------------------------------------------------------------------- policy
@cli.group()
def policy() -> None:
    """List, show and check policy profiles (procedures as data)."""


policy_file_option = click.option("--policy-file", type=FilePath(dir_okay=False), default=None,
                                  help="A landlord's own profile (TOML) instead of a shipped one.")


@policy.command("list")
@output_format()
def policy_list(fmt: str) -> None:
    """List the shipped profiles.

    \b
    Example:
      complaints policy list
    """
    rows = []
    for name in policy_files.shipped_names():
        p = policy_files.load_shipped(name)
        rows.append({"name": p.name, "version": p.version, "title": p.title, "stages": len(p.stages),
                     "hash": p.short_hash})
    if fmt == "json":
        click.echo(to_json(rows))
        return
    from .adapters import screens

    for r in rows:
        r["title"] += " (default)" if r["name"] == policy_files.DEFAULT_POLICY else ""
    click.echo(screens.records_table(screens.LAYOUTS["policies"], rows))


def policy_target(command: Callable) -> Callable:
    """NAME of a shipped profile, or --policy-file, plus --format."""
    return click.argument("name", required=False)(policy_file_option(output_format()(command)))


@policy.command("show")
@policy_target
def policy_show(name: str | None, policy_file: str | None, fmt: str) -> None:
    """Show a profile's stages, deadlines and rules.

    \b
    Example:
      complaints policy show aspire-2017
    """
    p = _load_policy(name, policy_file)
    if fmt == "json":
        click.echo(to_json({**p.data, "content_hash": p.content_hash}))
        return
    say = lambda text: click.echo(printable(text))  # noqa: E731 - a landlord's own file is user text
    say(f"{p.name} v{p.version} — {p.title}")
    say(f"source: {p.source}")
    say(f"hash: {p.content_hash}")
    say(f"calendar: {p.calendar}" + (f" (+{len(p.closure_days)} closure days)" if p.closure_days else ""))
    limit = f"{p.time_limit_months} months from {p.time_limit_from}" if p.time_limit_months else "none"
    say(f"time limit for complaining: {limit}")
    if p.early_resolution:
        within = p.early_resolution_working_days
        say("early resolution: allowed" + (f" within {within} working days" if within else ""))
    if p.appeal_window_days:
        say(f"appeal window: {p.appeal_window_days} days from the response "
                   f"(deemed accepted after {p.deemed_acceptance_days} days)")
    if p.compensation_request_window_days:
        say(f"compensation requests: within {p.compensation_request_window_days} days of the complaint")
    say(f"refusal reasons: {', '.join(p.refusal_reasons) or 'none'}")
    if p.excluded_categories:
        say(f"excluded categories: {', '.join(p.excluded_categories)}")
    for st in p.stages:
        say(f"stage {st.number}: {st.name} — {st.handler}" + (" [assumed]" if st.assumed else ""))
        for m in st.milestones:
            say(f"  {m.describe()}" + (" [assumed]" if m.assumed else ""))
        agree = ", must be agreed" if st.extension_requires_agreement else ""
        say(f"  extensions: up to {st.extension_cap} working days{agree}")
        if st.panel:
            say("  panel: " + ", ".join(f"at least {r.at_least} {r.role}" for r in st.panel))


@policy.command("check")
@policy_target
def policy_check(name: str | None, policy_file: str | None, fmt: str) -> None:
    """Compare a profile with the Complaint Handling Code 2024.

    Exit 1 if any rule fails.

    \b
    Example:
      complaints policy check connexus-2021
    """
    from .domain.policy import check_against_code

    p = _load_policy(name, policy_file)
    results = check_against_code(p)
    if fmt == "json":
        click.echo(to_json({"policy": p.name, "version": p.version,
                            "passed": all(r.passed for r in results),
                            "rules": [r.__dict__ for r in results]}))
    else:
        click.echo(f"{p.name} v{p.version} against the Complaint Handling Code 2024:")
        for r in results:
            click.echo(f"  {'PASS' if r.passed else 'FAIL'}  {r.paragraph:<9} {r.rule} — {r.detail}")
        failed = sum(not r.passed for r in results)
        click.echo(f"{len(results) - failed} passed, {failed} failed")
    if not all(r.passed for r in results):
        sys.exit(1)


def _load_policy(name: str | None, policy_file: str | None):
    if name and policy_file:
        raise click.UsageError("give a profile NAME or --policy-file, not both")
    return policy_files.load(name, policy_file)


# ---------------------------------------------------------------------------------------------------- receive
@cli.command()
@click.option("--complainant", required=True, help="The resident complaining.")
@click.option("--channel", required=True, type=click.Choice(CHANNELS), help="How the complaint arrived.")
@click.option("--summary", required=True, help="What the complaint is about, in a sentence.")
@click.option("--received-on", type=DATE, default=None, help="Date received (default today).")
@click.option("--issue-date", type=DATE, default=None, help="When the issue arose or the resident became aware.")
@click.option("--category", default=None, help="Nature of the complaint, e.g. repairs, damp and mould.")
@click.option("--property", "property_ref", default=None, help="Property reference or address.")
@click.option("--uprn", default=None, metavar="DIGITS", help="The home's Unique Property Reference Number (up to 12 "
              "digits): how repeat complaints about one home are known.")
@click.option("--tenure", default=None, type=click.Choice(TENURES, case_sensitive=False),
              help="The home's tenure: lcra (low-cost rental), lcho (low-cost home ownership) or other "
                   "(leaseholders, market rent, …). Default: the profile's default_tenure (lcra).")
@click.option("--contact", default=None, help="Contact details.")
@click.option("--representative", default=None, metavar="NAME", help="Someone complaining on the resident's behalf.")
@click.option("--authorised", is_flag=True, help="The resident has authorised the representative.")
@click.option("--policy", "policy_name", default=None, metavar="NAME", help="Policy profile (default hoc-2024).")
@policy_file_option
@click.option("--ref", default=None, help="Use this reference (importing an existing case).")
@click.option("--complainant-id", default=None, metavar="ID",
              help="The same person as an earlier case (its 'complainant_id' in show): one erasure covers both.")
@pass_session
def receive(s: Session, policy_name: str | None, policy_file: str | None, **fields: Any) -> None:
    """Log a complaint received by any channel.

    Prints its reference (CMP-YYYY-NNNNNN).

    \b
    Example:
      complaints receive --complainant "J Smith" --channel phone \\
        --summary "Heating not working" --received-on 2025-12-19
    """
    if policy_name and policy_file:
        raise click.UsageError("give --policy or --policy-file, not both")
    p = policy_files.load(policy_name, policy_file)
    fields["representative_authorised"] = fields.pop("authorised")
    ledger = s.ledger()
    ref = ledger.receive(policy=p, actor=s.actor, **fields)
    click.echo(ref)
    _say_next(ledger, ref, to_stderr=True)


# ---------------------------------------------------------------------------------------------------- steps
def _say_next(ledger: Any, ref: str, to_stderr: bool = False) -> None:
    from .adapters.screens import day

    view = ledger.show(ref)
    nxt = view["next_milestone"]
    if nxt:
        click.echo(f"{ref}: stage {view['stage']} — next: {nxt['milestone']} by {day(nxt['due_on'], True)}"
                   + (" (provisional)" if nxt["provisional"] else ""), err=to_stderr)
    else:
        click.echo(f"{ref}: {view['status'].replace('-', ' ')}, stage {view['stage']}", err=to_stderr)


Note = Callable[[dict[str, Any]], "str | None"]


def _step(verb: str, note: Note | None = None, **static: Any) -> Callable:
    """Run one ledger command on REF, say on stderr what the record lacks (`note`), then what is due next."""

    def run(s: Session, ref: str, on: date | None, **kwargs: Any) -> None:
        ledger = s.ledger(create=False)
        getattr(ledger, verb)(ref, actor=s.actor, on=on, **static, **kwargs)
        said = note(kwargs) if note else None
        if said:
            click.echo(f"note: {said}", err=True)
        _say_next(ledger, ref.strip().upper())

    return run


def step_command(name: str, verb: str, help_text: str, *options: Callable, note: Note | None = None,
                 **static: Any) -> None:
    run = _step(verb, note, **static)

    def command(s: Session, ref: str, on: date | None, **kwargs: Any) -> None:
        run(s, ref, on, **kwargs)

    command.__doc__ = help_text
    for option in reversed(options):
        command = option(command)
    command = on_option(command)
    command = click.argument("ref")(command)
    command = pass_session(command)
    cli.command(name)(command)


outcome_option = click.option("--outcome", required=True, type=click.Choice(OUTCOMES), help="The decision.")
response_summary_option = click.option("--summary", default=None, help="The decision in a sentence.")
remedy_option = click.option("--remedy", "remedies", multiple=True, metavar="TEXT",
                             help="A remedy offered (repeatable): apology, specific action, …")
reason_option = click.option("--reason", default=None, help="Why.")

step_command("acknowledge", "acknowledge",
             "Acknowledge the complaint at its current stage.\n\nDefine and log it, as the Code asks.\n\n\b\nExample:\n"
             "  complaints acknowledge CMP-2026-000001 --on 2026-01-05")
step_command("contact", "contact",
             "Record the first contact with the resident at this stage.\n\nE.g. a review's first call.\n\n\b\n"
             "Example:\n  complaints contact CMP-2026-000001",
             click.option("--summary", default=None, help="What was discussed."))
step_command("extend", "extend",
             "Extend the stage's response deadline by working days.\n\n"
             "The reason given to the resident is recorded.\n\n\b\n"
             "Example:\n  complaints extend CMP-2026-000001 --working-days 10 --reason \"awaiting surveyor\"",
             click.option("--working-days", required=True, type=click.IntRange(1, limits.MAX_EXTENSION_WORKING_DAYS),
                          help="Working days."),
             click.option("--reason", required=True, help="The reason given to the resident."),
             click.option("--agreed", is_flag=True, help="The new date was agreed with the complainant."),
             click.option("--ombudsman-details-given", is_flag=True,
                          help="The Housing Ombudsman's contact details were given with it (Code 6.5)."),
             note=lambda given: None if given["ombudsman_details_given"] else (
                 "recorded without the Housing Ombudsman's contact details, which the Code (6.5) says to give with "
                 "every extension (--ombudsman-details-given)"))
step_command("respond", "respond",
             "Record the stage 1 response and its outcome.\n\n\b\nExample:\n"
             "  complaints respond CMP-2026-000001 --outcome upheld --remedy apology",
             outcome_option, response_summary_option, remedy_option)
step_command("escalate", "escalate",
             "Escalate to the next stage at the resident's request.\n\n"
             "No reason is needed (Code 6.12). A case closed after its response is reopened at the next stage. "
             "After the profile's appeal window, only with --late-reason.\n\n\b\nExample:\n"
             "  complaints escalate CMP-2026-000001 --on 2026-02-01",
             reason_option,
             click.option("--late-reason", default=None,
                          help="Why an escalation after the appeal window is accepted (needs authority)."))
step_command("hearing", "hold_hearing",
             "Record a panel hearing and who sat on it.\n\n\b\nExample:\n"
             "  complaints hearing CMP-2026-000001 --panel \"A Jones:chief-executive\" --panel \"B Roe:board-member\"",
             click.option("--panel", "panel", multiple=True, required=True, type=PanelMemberType(),
                          help=f"NAME:ROLE (repeatable); roles: {', '.join(PANEL_ROLES)}."))
step_command("review", "review",
             "Record the decision of stage 2 or a later stage.\n\n\b\nExample:\n"
             "  complaints review CMP-2026-000001 --outcome partly-upheld",
             outcome_option, response_summary_option, remedy_option)
step_command("resolve-early", "resolve_early",
             "Record an early resolution where the policy allows one.\n\n\b\nExample:\n"
             "  complaints resolve-early CMP-2026-000001 --summary \"Repair booked same day\"",
             click.option("--summary", required=True, help="How it was resolved."))
step_command("refuse", "refuse",
             "Refuse the complaint for a reason the policy allows.\n\n"
             "The explanation given in writing is recorded.\n\n\b\nExample:\n"
             "  complaints refuse CMP-2026-000001 --reason legal-action --explanation \"Court claim issued\"",
             click.option("--reason", required=True, type=click.Choice(REFUSAL_REASONS)),
             click.option("--explanation", required=True, help="The explanation given in writing."),
             click.option("--notice-sent-on", type=DATE, default=None,
                          help="When the written notice went to the complainant."),
             note=lambda given: None if given["notice_sent_on"] else
             "no date recorded for the written notice of the refusal (--notice-sent-on)")
step_command("withdraw", "withdraw",
             "Record that the resident withdrew the complaint.\n\n\b\nExample:\n"
             "  complaints withdraw CMP-2026-000001", reason_option)
step_command("refer", "refer",
             "Record a referral to the Housing Ombudsman.\n\n\b\nExample:\n  complaints refer CMP-2026-000001")
step_command("determination", "record_determination",
             "Record the Housing Ombudsman's determination.\n\n"
             "With its orders and the compensation ordered.\n\n\b\nExample:\n"
             "  complaints determination CMP-2026-000001 --finding maladministration --compensation 300",
             click.option("--finding", required=True, type=click.Choice(FINDINGS)),
             click.option("--order", "orders", multiple=True, metavar="TEXT", help="An order (repeatable)."),
             click.option("--order-due", "order_dues", multiple=True, type=DATE, metavar="DATE",
                          help="When each order is due, one per --order in the same order: tracked to compliance "
                               "(complaints ombudsman complied) and the case closes only once all are complied with."),
             click.option("--compensation", type=MoneyType(allow_zero=True), default=Decimal("0"),
                          help="Compensation ordered (GBP)."),
             note=lambda given: None if not given["orders"] or given["order_dues"] else (
                 "orders recorded without due dates are kept as text and not tracked to compliance (give "
                 "--order-due DATE for each --order)"))
step_command("close", "close_case",
             "Close the case after its response.\n\nOr after the Ombudsman's determination.\n\n\b\nExample:\n"
             "  complaints close CMP-2026-000001")
step_command("satisfaction", "record_satisfaction",
             "Record the resident's satisfaction with handling (1-5).\n\n\b\nExample:\n"
             "  complaints satisfaction CMP-2026-000001 --score 4",
             click.option("--score", required=True, type=click.IntRange(1, 5)))
step_command("authorise", "authorise_representative",
             "Record the resident's authorisation of a representative.\n\n\b\nExample:\n"
             "  complaints authorise CMP-2026-000001 --representative \"Ann Smith\"",
             click.option("--representative", "name", required=True, metavar="NAME"),
             click.option("--relationship", default=None, help="e.g. daughter, advocate, councillor."))


# ---------------------------------------------------------------------------------------------------- ombudsman stage
@cli.group()
def ombudsman() -> None:
    """The Housing Ombudsman stage: evidence requests and orders to compliance.

    Each with its due date: late ones show in `breaches`, `show`, the bundle and the reports."""


def _ombudsman_said(ledger: Any, ref: str, kind: str, number: int | None = None) -> None:
    """One line on what was recorded: the request or order, when due, and whether done in time."""
    from .adapters.screens import day

    view = ledger.show(ref)
    items = view["ombudsman"][kind]
    item = items[-1] if number is None else next(i for i in items if i["number"] == number)
    what, done_as = ("evidence request", "evidence sent") if kind == "evidence_requests" else ("order", "complied with")
    done = item.get("sent_on") or item.get("complied_on")
    if done is None:
        click.echo(f"{view['ref']}: {what} {item['number']} due {day(item['due_on'], True)}")
    else:
        late = (f"{item['working_days_late']} working day{'s' if item['working_days_late'] != 1 else ''} late"
                if item["status"] == "late" else "on time")
        click.echo(f"{view['ref']}: {what} {item['number']} {done_as} {day(done, True)}, {late}")


@ombudsman.command("request")
@click.argument("ref")
@click.option("--due", required=True, type=DATE, help="When the Ombudsman wants the evidence by.")
@on_option
@pass_session
def ombudsman_request(s: Session, ref: str, due: date, on: date | None) -> None:
    """Record the Ombudsman's request for the landlord's evidence.

    Numbered 1, 2, … per case. Late evidence is what leads to a Complaint Handling Failure Order.

    \b
    Example:
      complaints ombudsman request CMP-2026-000001 --due 2026-06-01 --on 2026-05-18
    """
    ledger = s.ledger(create=False)
    ledger.request_evidence(ref, due=due, actor=s.actor, on=on)
    _ombudsman_said(ledger, ref, "evidence_requests")


@ombudsman.command("evidence-sent")
@click.argument("ref")
@click.option("--request", "request", type=click.IntRange(1, limits.MAX_ITEMS), default=None, metavar="N",
              help="Which request (default: the oldest still unanswered).")
@on_option
@pass_session
def ombudsman_evidence_sent(s: Session, ref: str, request: int | None, on: date | None) -> None:
    """Record that the landlord sent the evidence the Ombudsman asked for.

    \b
    Example:
      complaints ombudsman evidence-sent CMP-2026-000001 --on 2026-05-29
    """
    ledger = s.ledger(create=False)
    number = ledger.send_evidence(ref, request=request, actor=s.actor, on=on)
    _ombudsman_said(ledger, ref, "evidence_requests", number)


@ombudsman.command("order")
@click.argument("ref")
@click.argument("text")
@click.option("--due", required=True, type=DATE, help="When the order is to be complied with.")
@on_option
@pass_session
def ombudsman_order(s: Session, ref: str, text: str, due: date, on: date | None) -> None:
    """Record an order of the determination, with its due date.

    For an order not given with `determination --order … --order-due …`.

    \b
    Example:
      complaints ombudsman order CMP-2026-000001 "Inspect the roof" --due 2026-09-14
    """
    ledger = s.ledger(create=False)
    ledger.record_order(ref, text, due=due, actor=s.actor, on=on)
    _ombudsman_said(ledger, ref, "orders")


@ombudsman.command("complied")
@click.argument("ref")
@click.option("--order", "order", type=click.IntRange(1, limits.MAX_ITEMS), default=None, metavar="N",
              help="Which order (may be left out when only one is outstanding).")
@click.option("--evidence", default=None, metavar="TEXT", help="What shows it was done (personal data).")
@on_option
@pass_session
def ombudsman_complied(s: Session, ref: str, order: int | None, evidence: str | None, on: date | None) -> None:
    """Record compliance with an order of the determination.

    \b
    Example:
      complaints ombudsman complied CMP-2026-000001 --order 1 --on 2026-08-28 --evidence "BACS ref 991"
    """
    ledger = s.ledger(create=False)
    number = ledger.comply_with_order(ref, order=order, evidence=evidence, actor=s.actor, on=on)
    _ombudsman_said(ledger, ref, "orders", number)


def commentary_command(name: str, verb: str, done: str, doc: str) -> None:
    """Notes and learning: free text on the case file, datable anywhere in the case's life."""

    def command(s: Session, ref: str, text: str, on: date | None) -> None:
        getattr(s.ledger(create=False), verb)(ref, text, actor=s.actor, on=on)
        click.echo(f"{ref.strip().upper()}: {done}")

    command.__doc__ = doc
    cli.command(name)(pass_session(on_option(click.argument("ref")(click.argument("text")(command)))))


commentary_command("note", "add_note", "note added",
                   "Add a note to the case file.\n\n\b\nExample:\n"
                   "  complaints note CMP-2026-000001 \"Called resident, left voicemail\"")
commentary_command("learning", "record_learning", "learning recorded",
                   "Record what the landlord learned or changed.\n\n\b\nExample:\n"
                   "  complaints learning CMP-2026-000001 \"Out-of-hours heating calls now triaged within 4 hours\"")


@cli.group()
def compensation() -> None:
    """Compensation: request, approve, decline, pay."""


def compensation_command(name: str, verb: str, amount_required: bool, doc: str, *extra: Callable) -> None:
    def command(s: Session, ref: str, on: date | None, **kwargs: Any) -> None:
        if kwargs.get("amount") is None:
            kwargs.pop("amount", None)
        from .domain.values import fmt_pounds

        getattr(s.ledger(create=False), verb)(ref, actor=s.actor, on=on, **kwargs)
        view = s.ledger().show(ref)
        c = view["compensation"]
        click.echo(f"{view['ref']}: compensation requested {fmt_pounds(c['requested'])}, approved "
                   f"{fmt_pounds(c['approved'])}, ordered {fmt_pounds(c['ordered'])}, paid {fmt_pounds(c['paid'])}"
                   + (f" (offset {fmt_pounds(c['offset'])})" if c["offset"] else ""))

    command.__doc__ = doc
    for option in reversed(extra):
        command = option(command)
    if amount_required:
        command = click.option("--amount", required=True, type=MONEY, help="Amount in pounds, e.g. 125.50.")(command)
    command = on_option(command)
    command = click.argument("ref")(command)
    command = pass_session(command)
    compensation.command(name)(command)


compensation_command("request", "request_compensation", True,
                     "Record a request for compensation.\n\n\b\nExample:\n"
                     "  complaints compensation request CMP-2026-000001 --amount 150", reason_option)
compensation_command("approve", "approve_compensation", True,
                     "Approve the pending request (any amount).\n\n\b\nExample:\n"
                     "  complaints compensation approve CMP-2026-000001 --amount 100")
compensation_command("decline", "decline_compensation", False,
                     "Decline the pending request.\n\n\b\nExample:\n"
                     "  complaints compensation decline CMP-2026-000001 --reason \"not at fault\"", reason_option)
compensation_command("pay", "pay_compensation", True,
                     "Record a payment, with any part offset against arrears.\n\n\b\nExample:\n"
                     "  complaints compensation pay CMP-2026-000001 --amount 100 --offset 40",
                     click.option("--offset", type=MoneyType(allow_zero=True), default=Decimal("0"),
                                  help="Part of the amount set against rent arrears or other debts."))


@cli.command()
@click.option("--kind", required=True, type=click.Choice(FEEDBACK_KINDS))
@click.option("--summary", required=True)
@click.option("--channel", type=click.Choice(CHANNELS), default=None)
@click.option("--subject", default=None, help="Service, team or member of staff it concerns.")
@click.option("--complainant-id", default=None, metavar="ID",
              help="The person giving it, if on record (P-…): erasing them erases this too. Default: a new one.")
@on_option
@pass_session
def feedback(s: Session, kind: str, summary: str, channel: str | None, subject: str | None,
             complainant_id: str | None, on: date | None) -> None:
    """Record a compliment, comment or suggestion.

    Not a complaint; prints its reference (FBK-…). The summary is personal data, sealed with its giver's key like a
    complaint's: `erase --complainant ID` makes it "[erased]".

    \b
    Example:
      complaints feedback --kind compliment --summary "Thanks to the repairs team"
    """
    from .domain.complaint import Feedback

    ledger = s.ledger()
    ref = ledger.record_feedback(kind=kind, summary=summary, channel=channel, subject=subject, received_on=on,
                                 actor=s.actor, complainant_id=complainant_id)
    click.echo(ref)
    giver = ledger.repository.get(Feedback.create_id(ref)).complainant_id
    click.echo(f"from complainant {giver} (erase --complainant {giver} erases its summary)", err=True)


# ---------------------------------------------------------------------------------------------------- reads
@cli.command()
@click.argument("ref")
@click.option("--as-of", type=DATE, default=None, help="Show the case as it stood at the end of this date.")
@KNOWN_AT
@output_format()
@pass_session
def show(s: Session, ref: str, as_of: date | None, known_at: datetime | None, fmt: str) -> None:
    """Show a case: status, deadlines and what happened.

    --as-of is the business date deadlines are judged on; --known-at leaves out what was recorded later (what the
    ledger showed at that moment, back-dated entries made since included).

    \b
    Examples:
      complaints show CMP-2026-000001 --as-of 2026-01-10 --format json
      complaints show CMP-2026-000001 --known-at 2026-01-10T17:00
    """
    view = s.reader().show(ref, as_of=as_of, known_at=known_at)
    view["repeat"] = _repeats_of(s, view["ref"])
    if fmt == "json":
        click.echo(to_json(view))
        return
    from .adapters.screens import case_sheet

    click.echo(case_sheet(view))


@cli.command()
@click.argument("ref")
@KNOWN_AT
@output_format()
@pass_session
def history(s: Session, ref: str, known_at: datetime | None, fmt: str) -> None:
    """Every event on the case, in order: the audit trail.

    JSON Lines with --format json.

    \b
    Examples:
      complaints history CMP-2026-000001 --format json
      complaints history CMP-2026-000001 --known-at 2026-02-01
    """
    trail = s.reader().history(ref, known_at=known_at)
    if fmt == "json":
        for e in trail:
            click.echo(to_json(e))
        return
    from .adapters.screens import history_screen

    click.echo(history_screen(trail))


@cli.command()
@click.argument("ref")
@click.option("--reason", required=True, help="Why the procedure is not followed here, as explained.")
@click.option("--approved-by", default=None, metavar="NAME",
              help="Who agreed it: a staff member the case's policy allows to (OHG: a Director). Default: you. "
                   "On PostgreSQL only the approver's own login may record it.")
@on_option
@pass_session
def deviate(s: Session, ref: str, reason: str, approved_by: str | None, on: date | None) -> None:
    """Record a deviation from the procedure and who approved it.

    \b
    Example:
      complaints deviate CMP-2026-000001 --reason "Joint visit with the council" --approved-by "Dee Director"
    """
    approver = s.ledger(create=False).deviate(ref, reason=reason, approved_by=approved_by, actor=s.actor, on=on)
    click.echo(f"recorded a deviation on {ref.strip().upper()}, approved by {printable(approver)}")


@cli.command()
@click.argument("ref")
@click.option("--field", default=None, metavar="FIELD",
              help="A fact keyed on receipt, e.g. received-date, issue-date, channel, category, property, contact, "
                   "uprn, tenure (any other is refused with the list of those that can be corrected).")
@click.option("--to", "to", default=None, metavar="VALUE", help="The corrected value of --field.")
@click.option("--event", "event_version", type=int, default=None, metavar="N",
              help="Correct the date of the step recorded as event N (complaints history numbers them).")
@click.option("--on", "on", type=DATE, default=None, help="The corrected date of --event N's step.")
@click.option("--reason", required=True, help="Why the record was wrong, e.g. 'date keyed from the wrong letter'.")
@pass_session
def correct(s: Session, ref: str, field: str | None, to: str | None, event_version: int | None, on: date | None,
            reason: str) -> None:
    """Correct a fact recorded wrongly, by recording a correction.

    Nothing is edited: a Corrected event keeps the old and the new value, who corrected it and why, and deadlines,
    breaches and statistics follow the corrected value (show --as-of reads any day as now known; show --known-at
    still shows what was believed before). Once there is a staff directory, only those the case's profile allows
    (a manager or above) may correct.

    \b
    Examples:
      complaints correct CMP-2026-000001 --field received-date --to 2026-03-02 --reason "Keyed from the wrong letter"
      complaints correct CMP-2026-000001 --event 3 --on 2026-03-05 --reason "Acknowledgement letter was dated 5th"
    """
    if event_version is None and on is not None:
        raise click.UsageError("--on is the corrected date of a step: give the step with --event N")
    if event_version is not None and (field is not None or to is not None):
        raise click.UsageError("correct either a field (--field FIELD --to VALUE) or a step's date (--event N --on "
                               "DATE), not both")
    if field is not None and to is None:
        raise click.UsageError("--field needs the corrected value: --to VALUE")
    if event_version is not None and on is None:
        raise click.UsageError("--event N needs the step's corrected date: --on DATE")
    if field is None and event_version is None:
        raise click.UsageError("say what to correct: --field FIELD --to VALUE, or --event N --on DATE")
    s.ledger(create=False).correct(ref, field=field, to=to if field is not None else on,
                                   event_version=event_version, reason=reason, actor=s.actor)
    from .domain.complaint import correctable

    what = f"the {correctable(field)[0].replace('-', ' ')}" if field is not None else \
        f"the date of event {event_version}"
    click.echo(f"corrected {what} of {ref.strip().upper()}")


# ---------------------------------------------------------------------------------------------------- personal data
@cli.command()
@click.option("--complainant", "complainant_id", required=True, metavar="ID",
              help="The person's complainant id (show REF gives it).")
@click.option("--reason", required=True, help="Why, e.g. 'retention period ended' or 'erasure request 2026-41'.")
@pass_session
def erase(s: Session, complainant_id: str, reason: str) -> None:
    """Erase a person's personal data from all their cases.

    Their key is destroyed.

    Names, contacts and free text then read "[erased]" in show, history, bundles and streams; dates, stages,
    outcomes and amounts stay, so statistics and the hash chain are unchanged. Every case of theirs must have ended.
    Cannot be undone.

    \b
    Example:
      complaints erase --complainant P-1A2B3C4D5E6F --reason "retention period ended"
    """
    ledger = s.ledger(create=False)
    done = ledger.erase(complainant_id, reason=reason, actor=s.actor)
    refs = done.get("refs") or []
    click.echo(f"erased the personal data of {done['complainant_id']} from {len(refs)} case"
               f"{'s' if len(refs) != 1 else ''}: {', '.join(refs) or 'none'}")
    _purge_note(ledger)


def _purge_note(ledger: Any) -> None:
    """PostgreSQL, a login that may not VACUUM the key table: say what stays on disk, and until when."""
    note = getattr(getattr(ledger.recorder, "vault", None), "purge_note", None)
    if note:
        click.echo(f"note: {note}", err=True)


@cli.command()
@click.option("--closed-before", type=DATE, default=None,
              help="Only cases that ended before this date (default: every case past its retention period).")
@click.option("--as-of", type=DATE, default=None, help="Judge retention periods as of this date (default today).")
@click.option("--apply", "apply_", is_flag=True, help="Erase them (default: only list them).")
@click.option("--reason", default="retention period ended", show_default=True, help="Recorded with each erasure.")
@output_format()
@pass_session
def retention(s: Session, closed_before: date | None, as_of: date | None, apply_: bool, reason: str,
              fmt: str) -> None:
    """List the people past their retention period.

    Everyone whose cases are all past it; with --apply, erase them.

    A case is past retention once its policy's years_after_closure (default 6) have run since it ended. A person
    with any case still open, or within its period, is held back, with the reason.

    \b
    Examples:
      complaints retention
      complaints retention --closed-before 2020-04-01 --apply
    """
    from .projections import case_status

    runner = _caught_up(s)
    review = case_status.retention_review(runner, as_of=as_of or runner.ledger.today(), closed_before=closed_before)
    ledger = runner.ledger
    for person in review:
        if apply_ and person["due"]:
            ledger.erase(person["complainant_id"], reason=reason, actor=s.actor)
            person["erased"] = True
    if apply_:
        _purge_note(ledger)
    if fmt == "json":
        for person in review:
            click.echo(to_json(person))
        return
    due = [p for p in review if p["due"]]
    if review:
        from .adapters import screens

        for p in review:
            p["state"] = ("erased" if p.get("erased") else "due for erasure") if p["due"] else "held"
            p["why"] = p["held_because"] or f"ended {screens.day(p['ended_on'])}, retain until " \
                                            f"{screens.day(p['retain_until'])}"
        click.echo(screens.records_table(screens.LAYOUTS["retention"], review))
    verb = "erased" if apply_ else "due for erasure (run with --apply to erase)"
    click.echo(f"{len(due)} complainant{'s' if len(due) != 1 else ''} {verb}; "
               f"{len(review) - len(due)} held back", err=True)


# ---------------------------------------------------------------------------------------------------- staff
@cli.group()
def staff() -> None:
    """The staff directory: who handles complaints, in which roles.

    Every change is recorded."""


STAFF_ROLE = click.Choice(STAFF_ROLES)


@staff.command("add")
@click.argument("name")
@click.option("--role", required=True, type=STAFF_ROLE, help="Their first role (grant more later).")
@click.option("--login", default=None, help="Their PostgreSQL login, if it differs from the name.")
@pass_session
def staff_add(s: Session, name: str, role: str, login: str | None) -> None:
    """Add a person to the staff directory.

    \b
    Example:
      complaints staff add "Jo Officer" --role officer --login jo
    """
    s.ledger().add_staff(name, role=role, login=login, actor=s.actor)
    click.echo(f"added {printable(name.strip())} as {role}")


def _role_command(verb: str, done: str, doc: str, example: str) -> None:
    """`staff grant` and `staff revoke`: the same shape, one verb of the directory each."""

    @staff.command(verb, help=f"{doc}\n\n\b\nExample:\n  complaints staff {verb} {example}")
    @click.argument("name")
    @click.option("--role", required=True, type=STAFF_ROLE)
    @pass_session
    def change(s: Session, name: str, role: str) -> None:
        holder = getattr(s.ledger(create=False), f"{verb}_role")(name, role=role, actor=s.actor)
        click.echo(f"{done.format(role=role)} {printable(holder)}")


_role_command("grant", "granted {role} to", "Give a staff member another role.",
              '"Sam Lead" --role head-of-service')
_role_command("revoke", "revoked {role} from",
              "Take a role away from a staff member.\n\nTheir earlier decisions keep the role they had then.",
              '"Sam Lead" --role head-of-service')


@staff.command("list")
@output_format()
@pass_session
def staff_list(s: Session, fmt: str) -> None:
    """Everyone in the staff directory with their current roles."""
    members = s.ledger(create=False).staff()
    if fmt == "json":
        for m in members:
            click.echo(to_json(m))
        return
    from .adapters import screens

    if members:
        click.echo(screens.records_table(screens.LAYOUTS["staff"], members))
    click.echo(screens.plural(len(members), "member of staff", "members of staff"), err=True)


@cli.command()
@click.argument("ref")
@click.option("--output", required=True, type=OutputPath(file_okay=False), help="Folder to write the bundle into.")
@click.option("--as-of", type=DATE, default=None, help="Judge deadlines as of this date (default today).")
@pass_session
def bundle(s: Session, ref: str, output: str, as_of: date | None) -> None:
    """Write an inquiry bundle for the Housing Ombudsman.

    case.html (chronology, deadlines, extensions, decisions, compensation, learning), case.json, policy.toml (the
    profile in force) and integrity.json (the hash chain and how to check it).

    \b
    Example:
      complaints bundle CMP-2026-000001 --output inquiry-CMP-2026-000001
    """
    from .adapters import bundle as bundles

    ledger = s.ledger(create=False)
    try:  # an unknown reference is one clear error: every file is made before any is written
        paths = bundles.write(ledger, ref, as_of or ledger.today(), Path(output))
    except OSError as e:
        raise click.ClickException(f"cannot write the bundle to {output}: {e.strerror or e}") from None
    click.echo(f"wrote {', '.join(p.name for p in paths)} to {output}")


@cli.command()
@click.argument("ref", required=False)
@click.option("--digest", "make_digest", is_flag=True,
              help="Print a digest of the whole ledger (JSON) to record outside the database.")
@click.option("--output", type=OutputPath(dir_okay=False, writable=True), default=None,
              help="With --digest: write it to this file instead.")
@click.option("--against", type=FilePath(exists=True, dir_okay=False), default=None,
              help="Check that the ledger recorded in this digest is contained, unchanged, in the ledger now.")
@click.option("--anchors", "anchors_dir", envvar="COMPLAINTS_ANCHORS", type=FilePath(file_okay=False),
              default=None, metavar="DIR",
              help="Check the log against every signed anchor in this folder; with --digest --signing-key, also add "
                   "a new anchor to it. [env COMPLAINTS_ANCHORS]")
@click.option("--signing-key", envvar="COMPLAINTS_SIGNING_KEY", type=FilePath(dir_okay=False), default=None,
              metavar="FILE", help="With --digest and --anchors: sign the anchor with this Ed25519 key, kept outside "
                                   "the database. [env COMPLAINTS_SIGNING_KEY]")
@click.option("--public-key", envvar="COMPLAINTS_PUBLIC_KEY", type=FilePath(dir_okay=False), default=None,
              metavar="FILE", help="Check the anchors' signatures with this public key (default: the signing "
                                   "key's). [env COMPLAINTS_PUBLIC_KEY]")
@click.option("--anchor", "add_anchor", is_flag=True,
              help="If nothing is broken, add a signed anchor of the ledger as it is now to the --anchors folder "
                   "(with --signing-key); run it from cron.")
@click.option("--new-signing-key", type=OutputPath(dir_okay=False), default=None, metavar="FILE",
              help="Make a new Ed25519 key pair for anchors (FILE, private, and FILE.pub) and do nothing else.")
@output_format()
@pass_session
def verify(s: Session, ref: str | None, make_digest: bool, output: str | None, against: str | None,
           anchors_dir: str | None, signing_key: str | None, public_key: str | None, add_anchor: bool,
           new_signing_key: str | None, fmt: str) -> None:
    """Recompute every hash chain and report each broken link.

    Each case's chain, the ledger-wide log chain over positions (a removed, moved or changed event, named by case
    and position), the append-only triggers, and any signed anchors given; exit 1 on any break.

    \b
    Examples:
      complaints verify
      complaints verify CMP-2026-000001
      complaints verify --digest --output digest-2026-11.json
      complaints verify --against digest-2026-11.json
      complaints verify --new-signing-key /etc/complaints/anchor.key
      complaints verify --anchor --signing-key /etc/complaints/anchor.key --anchors /mnt/anchors
      complaints verify --anchors /mnt/anchors --public-key anchor.key.pub
    """
    from .adapters import anchors as anchoring
    from .adapters import audit, checkpoints, login_stamps
    from .adapters.key_store import missing_key_problems, subject_topics

    if new_signing_key:
        private, public = anchoring.new_key_pair(new_signing_key)
        click.echo(f"wrote the signing key {private} (keep it away from the database and its administrators) and "
                   f"its public key {public} (give it to whoever checks the anchors)")
        return
    if ref and (make_digest or against or anchors_dir or add_anchor):
        raise click.UsageError("a digest or anchor covers the whole ledger: leave out REF with --digest, --against, "
                               "--anchor or --anchors")
    if add_anchor and not (signing_key and anchors_dir):
        raise click.UsageError("--anchor needs the key to sign it with (--signing-key FILE) and the folder to keep "
                               "it in (--anchors DIR)")
    if output and not make_digest:
        raise click.UsageError("--output goes with --digest")
    signer = None
    if (make_digest or add_anchor) and signing_key:
        if not anchors_dir:
            raise click.UsageError("--signing-key signs an anchor: give the folder to keep it in with --anchors DIR")
        signer = anchoring.load_private_key(signing_key)
    checker = None
    if anchors_dir:
        if public_key:
            checker = anchoring.load_public_key(public_key)
        elif signer is not None:
            checker = signer.public_key()
        elif signing_key:
            checker = anchoring.load_private_key(signing_key).public_key()
        else:
            raise click.UsageError("checking anchors needs the public key: --public-key FILE (or "
                                   "COMPLAINTS_PUBLIC_KEY)")
    found_anchors, unreadable = anchoring.read_anchors(anchors_dir, checker) if anchors_dir else ([], [])
    recorded = audit.read_digest_file(against) if against else None
    ledger = s.ledger(create=False)
    target = ledger.known_case(ref) if ref else None  # an unknown reference is one clear error
    keep = [] if target or not ledger.plain_payloads() else list(subject_topics()) + ledger.authority_topics()
    found = audit.verify(ledger.recorder, target, position=recorded["position"] if recorded else None,
                         log_positions=[a.position for a in found_anchors], keep_topics=keep)
    breaks = list(found.breaks) + (audit.compare(recorded, found) if recorded else [])
    if not target:
        missing_keys = missing_key_problems(ledger.recorder, found.kept if keep else None)
        if missing_keys is None:
            click.echo("note: this login may not read the key table, so keys destroyed outside `erase` are not "
                       "checked: verify as a writer login for that", err=True)
        breaks += [audit.Break("personal data", 0, p) for p in missing_keys or []]
    breaks += audit.trigger_breaks(ledger.recorder.append_only_problems)
    log_end = found.log_head[0] if found.log_head else 0
    for name, problem in anchoring.check(found_anchors, found.log_hashes, log_end):
        breaks.append(audit.Break(f"anchor {name}", None, problem))
    breaks += [audit.Break(line.split(": ", 1)[0], None, line.split(": ", 1)[1]) for line in unreadable]
    if found.log_start is None and found.events and not target:
        click.echo("note: the ledger-wide log chain has no rows yet: its events are checked by their cases' chains "
                   "only (a writer's open of the ledger adds it)", err=True)
    elif found.log_start and found.log_start > 1 and not target:
        click.echo(f"note: the ledger-wide log chain starts at position {found.log_start}: the events before it are "
                   "checked by their cases' chains only", err=True)
    breaks += login_stamps.forged(ledger, target)  # a decision claiming a login that did not append it
    if not ref:
        breaks += checkpoints.checkpoint_breaks(ledger.recorder)  # a checkpoint row edited outside verify
        _notice_incomplete_imports(ledger)  # a partial import is not tampering: a notice; the exit status stands
        if not breaks and not recorded:  # the reports then check only what comes after this position
            try:
                who = s.actor
            except click.ClickException:
                who = "unknown"
            checkpoints.record(ledger.recorder, found, made_by=who)
    if make_digest and not breaks:
        text = json.dumps(audit.digest(found), indent=1)
        if output:
            try:
                Path(output).write_text(text + "\n", encoding="utf-8")
            except OSError as e:
                raise click.ClickException(f"cannot write {printable(output)}: {e.strerror or e}") from None
            click.echo(f"digest of {found.aggregates} aggregates up to position {found.position}: root "
                       f"{found.root}, written to {output}", err=True)
        else:
            click.echo(text)
    if signer is not None and not breaks:
        if found.log_head is None or found.log_head[0] != found.position:
            raise click.ClickException(f"cannot anchor position {found.position}: the log chain has no row there"
                                       " (open the ledger as a writer once to add it)")
        anchor = anchoring.make_anchor(found.position, found.log_head[1], found.root, found.aggregates,
                                       found.events, signer)
        path = anchoring.write_anchor(anchors_dir, anchor)
        click.echo(f"anchored position {found.position} (log chain {found.log_head[1].hex()}) in {path}", err=True)
    if make_digest and not breaks:
        return
    if fmt == "json":
        click.echo(to_json({"ok": not breaks, "position": found.position, "aggregates": found.aggregates,
                            "events": found.events, "root": found.root, "log_start": found.log_start,
                            "anchors": len(found_anchors),
                            "breaks": [{"name": b.name, "version": b.version, "problem": b.problem}
                                       for b in breaks]}))
    else:
        for b in breaks:
            click.echo(f"BROKEN  {printable(b.line())}")
        if not breaks:
            what = f"{found.events} events of {found.aggregates} aggregate{'' if found.aggregates == 1 else 's'}"
            if recorded:
                what += f"; the ledger of the digest (position {recorded['position']}) is contained unchanged"
            if found_anchors:
                hold = "signed anchor holds" if len(found_anchors) == 1 else "signed anchors hold"
                what += f"; {len(found_anchors)} {hold}, the last at position {found_anchors[-1].position}"
            click.echo(f"verified: {what}; root {found.root}")
    _unauthenticated_notice(ledger, target, found.kept if keep else None)
    if breaks:
        raise click.ClickException(f"the audit trail is broken in {len(breaks)} place(s)"
                                   + ("; no digest written" if make_digest else ""))


def _unauthenticated_notice(ledger: Any, target: Any, kept: dict[str, list[tuple[bytes, bytes]]] | None = None
                            ) -> None:
    """One stderr line counting the decisions needing authority whose decider the database did not authenticate
    (typed names, on SQLite). Not a break: verify still exits 0; the bundle marks each one.

    `kept`: those decisions' payloads from verify's own pass (ledger.unauthenticated_decisions reads them)."""
    from .adapters.screens import plural

    count = ledger.unauthenticated_decisions(target, kept)
    if count:
        click.echo(f"note: {plural(count, 'decision')} needing authority (refusals, compensation, deviations, "
                   "reviews, late escalations, staff changes) typed, not authenticated: the decider is a name as "
                   "typed, not a database login (not a break)", err=True)


# ---------------------------------------------------------------------------------------------------- read models
def _runner(s: Session, create: bool = False):
    from .adapters.projection_store import ProjectionRunner
    from .projections import all_projections

    runner = ProjectionRunner(s.ledger(create=create), all_projections())
    runner.on_wait = _lease_notice()
    return runner


def _lease_notice() -> Callable[[list[str], "float | None"], None]:
    """Say on stderr, once, that a rebuild is waiting on another run's claim and for how long at most; on a terminal,
    keep the seconds left up to date. Without it, a rebuild after a killed one sat silent for a minute."""
    import time

    said: list[float] = []  # when the line was last written
    tty = sys.stderr.isatty()

    def notice(names: list[str], seconds_left: float | None) -> None:
        if seconds_left is None:  # the wait is over
            if said and tty:
                click.echo("", err=True)
            return
        if said and (not tty or time.monotonic() - said[0] < 1):
            return
        which = ", ".join(names)
        line = (f"waiting for another run's rebuild of {which} to finish; if that run has stopped, this one takes "
                f"over in {seconds_left:.0f}s")
        click.echo(f"\r{line}   " if tty else line, err=True, nl=not tty)
        said[:] = [time.monotonic()]

    return notice


def _read_models(s: Session, *names: str):
    """What a daily read command reads from: if the read models `names` are already at the head of the log, a
    plain DB-API connection to them (adapters/quick_reads.py: no SQLAlchemy, for speed); otherwise, as every other
    read command, the full path, which catches them up first (`_caught_up`). The queries are the same SQL text
    either way (projections/reads.py)."""
    from .adapters.quick_reads import current

    runner = current(s.db, names, s.reader)
    if runner is None:
        return _caught_up(s)
    # Its snapshot ends with the command: an SQLite read transaction left open (in a process that goes on, e.g. the
    # tests' in-process runs) would keep later writes in the WAL, out of the database file.
    click.get_current_context().call_on_close(runner.close)
    return runner


def _caught_up(s: Session):
    """Read commands first bring the read models up to the log, so figures are never silently stale. A login that
    may only read (PostgreSQL's reader role) cannot move them on: it reads them as they stand, and is told how far
    behind they are."""
    from .adapters.persistence import lacks_rights

    not_built = ("the read models have not been built and this login may only read: a writer must run "
                 "`complaints init` (or any read command) first")
    try:
        runner = _runner(s)
    except Exception as e:  # noqa: BLE001 - only a refusal for want of rights is handled here
        if lacks_rights(e):
            raise click.ClickException(not_built) from None
        raise
    try:
        applied = runner.catch_up(progress=_progress())
    except Exception as e:  # noqa: BLE001 - as above
        if not lacks_rights(e):
            raise
        status = runner.status()
        if not all(r["built"] for r in status):
            raise click.ClickException(not_built) from None
        lag = max(r["lag"] for r in status)
        click.echo(f"note: the read models are {lag} event{'s' if lag != 1 else ''} behind the log and this login "
                   "may only read, so they stand as a writer last brought them up (a writer's `complaints "
                   "projections follow` keeps them live)", err=True)
        return runner
    if applied and sys.stderr.isatty():
        click.echo(f"(caught up {applied} new events)", err=True)
    return runner


@cli.command("list")
@click.option("--status", type=click.Choice(["open", "resolved-early", "refused", "withdrawn", "closed", "referred"]))
@click.option("--stage", type=click.IntRange(1, limits.MAX_STAGES))
@click.option("--overdue", is_flag=True,
              help="Open cases whose next milestone is past due (and referred ones whose Ombudsman evidence or "
                   "order is).")
@click.option("--due-within", type=click.IntRange(0, limits.MAX_DUE_WITHIN), metavar="N",
              help="Open cases whose next milestone falls due within N working days.")
@click.option("--category", type=SHORT_TEXT, default=None)
@click.option("--complainant", "complainant_text", type=SHORT_TEXT, default=None, metavar="TEXT",
              help="Cases whose complainant's name or contact matches (as `find`).")
@click.option("--property", "property_text", type=SHORT_TEXT, default=None, metavar="TEXT",
              help="Cases whose address or UPRN matches (as `find`).")
@click.option("--repeat", is_flag=True, help="Cases about a home with another complaint within 12 months.")
@click.option("--limit", type=click.IntRange(1, limits.MAX_LIMIT), default=None, metavar="N",
              help=f"Only the first N (oldest first). A table shows the first {limits.LIST_SHOWN} unless --all.")
@click.option("--all", "show_all", is_flag=True, help="Every case in the table, however many.")
@output_format("text", "json", "csv")
@pass_session
def list_cases(s: Session, status: str | None, stage: int | None, overdue: bool, due_within: int | None,
               category: str | None, fmt: str, complainant_text: str | None = None, property_text: str | None = None,
               repeat: bool = False, limit: int | None = None, show_all: bool = False) -> None:
    """List cases, with what is due next.

    From the case_status read model, brought up to date first, oldest first. A table shows a few screens' worth
    (a line on stderr says how many more); --all every one; json and csv every one unless --limit.

    \b
    Example:
      complaints list --overdue --format csv
    """
    from .projections.reads import CASE_INDEX, CASE_STATUS, count, query

    limit = _screenful(limit, show_all, fmt, limits.LIST_SHOWN)
    runner = _read_models(s, CASE_STATUS, CASE_INDEX)
    today = date.today()
    selected = dict(status=status, stage=stage, overdue=overdue, category=category, today=today)
    # Only the rows shown are read when the database alone can say which they are and how many there are.
    first_only = limit is not None and due_within is None and not (complainant_text or property_text or repeat)
    rows = query(runner, due_within=due_within, limit=limit if first_only else None, **selected)
    total = count(runner, **selected) if first_only and len(rows) == limit else None
    rows = _found_in_index(runner, rows, complainant_text, property_text, repeat, limit)
    total = len(rows) if total is None else total
    _emit_rows(rows[:limit] if limit is not None else rows, fmt, "case_list")
    if limit is not None and total > limit:
        click.echo(f"{total:,} cases: these are the {limit:,} received first ({total - limit:,} more: see them all "
                   f"with {'--all' if fmt == 'text' else 'no --limit'}, or narrow the list)", err=True)


def _screenful(limit: int | None, show_all: bool, fmt: str, shown: int) -> int | None:
    """The rows a read command prints: --limit N, or a few screens' worth in a table, or (json, csv, --all) every
    one. A person reads a screen; a program reads the whole answer."""
    if limit is not None and show_all:
        raise click.UsageError("--limit and --all cannot be given together")
    if limit is None and fmt == "text" and not show_all:
        return shown
    return limit


# ---------------------------------------------------------------------------------------------------- finding cases
_NO_INDEX_KEY = ("this database login may not read the key table, which holds the blind index's key: finding a case "
                 "by a person's name, contact or home needs the writer role")


def _found_in_index(runner: Any, rows: list[dict[str, Any]], complainant_text: str | None,
                    property_text: str | None, repeat: bool, shown: int | None = None) -> list[dict[str, Any]]:
    """`list`'s rows narrowed to those matching --complainant / --property / --repeat through the case_index read
    model (projections/case_index.py), and flagged as repeats: with `shown`, only the first `shown` of them are
    flagged (unless --repeat needs every flag), since finding a case's repeats reads the homes near it."""
    from .domain import search
    from .projections.reads import repeat_refs

    wanted = [(complainant_text, (search.NAME, search.CONTACT)), (property_text, (search.PROPERTY,))]
    for text, fields in wanted:
        if text is not None:
            refs = _index_lookup(runner, text, fields)
            rows = [r for r in rows if r["ref"] in refs]
    flagged = rows if repeat or shown is None else rows[:shown]
    try:
        repeats = repeat_refs(runner, among=[r["ref"] for r in flagged])
    except LookupError:  # not built yet (a reader on a ledger no writer has read since this version)
        repeats = set()
    for r in rows:
        r["repeat"] = r["ref"] in repeats
    if repeat:
        rows = [r for r in rows if r["repeat"]]
    return rows


def _index_lookup(runner: Any, text: str, fields: tuple[str, ...]) -> set[str]:
    from .adapters.persistence import lacks_rights
    from .projections.reads import matching_refs

    try:
        return matching_refs(runner, text, fields)
    except LookupError:
        raise click.ClickException("the case index has not been built and this login may only read: a writer "
                                   "must run `complaints projections rebuild case_index` first") from None
    except Exception as e:  # noqa: BLE001 - only a refusal for want of rights is handled here
        if lacks_rights(e):
            raise click.ClickException(_NO_INDEX_KEY) from None
        raise


def _verifiable(runner: Any, names: tuple[str, ...]) -> tuple[str, ...]:
    """The read models `projections verify` can check: case_index is rebuilt from personal data, which a login that
    may not read the key table cannot open, so such a login checks the others and is told so."""
    from .adapters.blind_index import index_key
    from .adapters.persistence import lacks_rights
    from .projections.case_index import NAME

    if names and NAME not in names:
        return names
    try:
        index_key(runner.ledger)
        return names
    except Exception as e:  # noqa: BLE001 - only a refusal for want of rights is handled here
        if not lacks_rights(e):
            raise
    if names:
        raise click.ClickException(_NO_INDEX_KEY)
    click.echo(f"note: {NAME} not checked: this login may not read the key table it is rebuilt with", err=True)
    return tuple(n for n in runner.projections if n != NAME)


def _repeats_of(s: Session, ref: str) -> list[str]:
    """For `show`: the other complaints about the same home within 12 months, from the case_index read model, read
    near the case only (search.cases_near). Where `show` reads through a plain connection (no SQLAlchemy, for
    speed: adapters/plain_reads.py), the read model is read as the last read command left it; elsewhere it is
    brought up to date first."""
    from eventsourcing.persistence import OperationalError

    from .adapters.plain_reads import read_model_runner
    from .projections.reads import CASE_INDEX, repeats_of

    try:
        runner = read_model_runner(s.reader(), CASE_INDEX)
        if runner is None:
            runner = _caught_up(s)
        return repeats_of(runner, ref)
    except (LookupError, OperationalError):  # not built yet, or not readable by this login
        return []


@cli.command()
@click.argument("text", type=SHORT_TEXT)
@click.option("--limit", type=click.IntRange(1, limits.MAX_LIMIT), default=None, metavar="N",
              help=f"Only the N cases received most recently. A table shows {limits.FIND_SHOWN} unless --all; "
                   "json and csv show every case found unless limited.")
@click.option("--all", "show_all", is_flag=True, help="Show every case found in the table, however many.")
@output_format("text", "json", "csv")
@pass_session
def find(s: Session, text: str | None, limit: int | None, show_all: bool, fmt: str) -> None:
    """Find cases by a person's name, contact or home.

    TEXT is any word of the complainant's name (case and accents ignored), an email address, a phone number
    (spaces, +44 or 0 alike), a postcode (spaces and case ignored), words of the address, or a UPRN. Several words
    must all match. Prints each case's reference, the person's name, status, stage and what is due next, oldest
    first.

    Looks the text up in a blind index (keyed hashes, never the text itself), so it decrypts only the cases found.
    Needs a login that may read the key table (the writer role); a person whose data was erased is never found.
    A common surname can match thousands of cases: a table shows the ones received most recently (a line on
    stderr says how many more), --all every one.

    \b
    Examples:
      complaints find "o'brien"
      complaints find "07700 900123"
      complaints find "ls1 4ab" --format json
      complaints find smith --all
    """
    from .domain.search import query_alternatives
    from .projections.reads import CASE_INDEX, CASE_STATUS, complainants, latest, query

    if not text or not query_alternatives(text):
        raise click.BadParameter("give a name, contact, postcode, address or UPRN to find", param_hint="TEXT")
    limit = _screenful(limit, show_all, fmt, limits.FIND_SHOWN)
    runner = _read_models(s, CASE_STATUS, CASE_INDEX)
    refs = _index_lookup(runner, text, ("name", "contact", "property"))
    total = None
    if limit is not None and len(refs) > limit:  # only the latest are shown: only their rows are read
        total, refs = latest(runner, refs, limit)
    rows = query(runner, today=date.today(), refs=refs) if refs else []
    total = len(rows) if total is None else total
    rows = _found_in_index(runner, rows, None, None, False)  # each row flagged as a repeat or not
    names = complainants(runner.ledger, rows)  # decrypted in one go: keys and first events in batches
    found = [{"ref": r["ref"], "complainant": names.get(r["ref"]), "complainant_id": r["complainant_id"],
              "status": r["status"], "stage": r["stage"], "next_milestone": r["next_milestone"],
              "next_due_on": r["next_due_on"], "received_on": r["received_on"], "category": r["category"],
              "repeat": r["repeat"]} for r in rows]
    _emit_rows(found, fmt, "found")
    if total > len(found):
        more = total - len(found)
        click.echo(f"{total:,} cases match {printable(text)!r}: these are the {len(found):,} received most recently "
                   f"({more:,} more: narrow the search, e.g. with a first name or a postcode, or see them all with "
                   f"{'--all' if fmt == 'text' else 'no --limit'})", err=True)


@cli.command()
@click.option("--as-of", type=DATE, default=None, help="Judge milestones as of this date (default today).")
@click.option("--from", "due_from", type=DATE, default=None, help="Only milestones falling due on or after this.")
@click.option("--to", "due_to", type=DATE, default=None, help="Only milestones falling due on or before this.")
@click.option("--category", type=SHORT_TEXT, default=None)
@click.option("--limit", type=click.IntRange(1, limits.MAX_LIMIT), default=None,
              help="Only the first N, by due date (quick however many cases are open).")
@output_format("text", "json", "csv")
@pass_session
def breaches(s: Session, as_of: date | None, due_from: date | None, due_to: date | None, category: str | None,
             limit: int | None, fmt: str) -> None:
    """Deadlines missed, with working days late.

    Milestones answered late, or still undone past their due date, as of a date; the Housing Ombudsman's evidence
    requests (evidence-N) and orders (order-N) among them.

    A milestone done after --as-of counts as overdue on that date; lateness is in working days of each case's
    own calendar, and stops growing when the stage was superseded or the case ended.

    \b
    Examples:
      complaints breaches --from 2026-04-01 --to 2026-09-30 --format csv
      complaints breaches --limit 20
    """
    from .projections.reads import DEADLINES, breaches as find_breaches

    as_of = as_of or date.today()
    _check_period(due_from, due_to)
    rows = find_breaches(_read_models(s, DEADLINES), as_of=as_of, due_from=due_from, due_to=due_to, category=category,
                         limit=limit)
    _emit_rows(rows, fmt, "breaches", noun=("breach", "breaches"))
    if fmt == "text":
        counts = Counter(r["status"] for r in rows)
        shown = f" (the first {len(rows)} by due date)" if limit is not None and len(rows) == limit else ""
        click.echo(f"as of {as_of}: {counts['overdue']} overdue, {counts['late']} answered late{shown}", err=True)


def _check_period(start: date | None, end: date | None) -> None:
    if start and end and start > end:
        raise click.BadParameter(f"--from {start} is after --to {end}")


def _period(start: date | None, end: date | None, most_years: int | None = None) -> tuple[date, date]:
    """Default: the twelve months to today. `most_years`: the longest period the command reports on."""
    from .domain.values import add_months

    end = end or date.today()
    start = start or add_months(end, -12) + timedelta(days=1)
    _check_period(start, end)
    if most_years is not None and end >= add_months(start, 12 * most_years):
        raise click.BadParameter(f"--from {start} to --to {end} is more than {most_years} years: report on a shorter "
                                 "period")
    return start, end


@cli.command()
@click.option("--from", "start", type=DATE, default=None, help="First day of the period (default: 12 months ago).")
@click.option("--to", "end", type=DATE, default=None, help="Last day of the period (default today).")
@click.option("--by", type=click.Choice(["month", "quarter", "half-year", "year"]), default=None,
              help="Also cut the period (quarters and half-years of the April-March financial year).")
@output_format("text", "json", "csv")
@pass_session
def stats(s: Session, start: date | None, end: date | None, by: str | None, fmt: str) -> None:
    """Committee statistics for a period.

    Volumes, timeliness, extensions, outcomes, compensation, satisfaction.

    Counts are of what happened in the period: complaints received, responses issued (in time or not, against the
    case's own profile and against the Code's timescales), escalations, payments and so on, each by its date.

    \b
    Example:
      complaints stats --from 2026-04-01 --to 2027-03-31 --by half-year
    """
    from .projections.committee import query

    start, end = _period(start, end)
    result = query(_caught_up(s), start, end, by)
    if fmt == "json":
        click.echo(to_json(result))
        return
    from .adapters import screens

    if fmt == "csv":
        from .adapters.reports import flat_figures

        bounds = [("Total", start, end, result["total"])] + [(p["label"], p["from"], p["to"], p["figures"])
                                                             for p in result["periods"]]
        screens.write_csv(sys.stdout, ["period", "from", "to", "measure", "value"],
                          ([name, lo, hi, measure, value] for name, lo, hi, figures in bounds
                           for measure, value in flat_figures(figures).items()))
        return
    click.echo(screens.stats_screen(result))


@cli.group()
def report() -> None:
    """Reports for the committee, the board and the Regulator.

    Self-contained HTML (or JSON)."""


def _write_text(text: str, output: str | None) -> None:
    """A report's text as it is, on stdout or in `output` (an OutputPath, checked before the report was built)."""
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as e:
        raise click.ClickException(f"cannot write {printable(output)}: {e.strerror}") from None
    click.echo(f"wrote {printable(output)}", err=True)


def _write_report(built: dict[str, Any], fmt: str, output: str | None) -> None:
    """The report on stdout, or in `output` (an OutputPath, checked before the report was built)."""
    from .adapters.reports import render_html

    text = to_json(built) if fmt == "json" else render_html(built)
    _write_text(text if output else text + "\n", output)


report_output = click.option("--output", "-o", type=OutputPath(dir_okay=False), default=None, metavar="FILE",
                             help="Write the report here (default: standard output).")
report_format = click.option("--format", "fmt", type=click.Choice(["html", "json"]), default="html",
                             show_default=True, help="Output format.")


@report.command("committee")
@click.option("--from", "start", type=DATE, default=None, help="First day of the period (default: 12 months ago).")
@click.option("--to", "end", type=DATE, default=None, help="Last day of the period (default today).")
@report_output
@report_format
@pass_session
def report_committee(s: Session, start: date | None, end: date | None, output: str | None, fmt: str) -> None:
    """The committee report, month by month.

    Number and nature of complaints, % not in time, % extended, themes and outcomes at each stage, learning
    and what changed, satisfaction.

    \b
    Example:
      complaints report committee --from 2026-04-01 --to 2026-09-30 --output committee.html
    """
    from .adapters.reports import committee_report

    start, end = _period(start, end, most_years=limits.MAX_REPORT_YEARS)
    _write_report(committee_report(_caught_up(s), start, end, date.today()), fmt, output)


@report.command("annual")
@click.option("--year", required=True, type=click.IntRange(limits.EARLIEST_DATE.year, limits.LATEST_DATE.year - 1),
              help="Financial year starting 1 April YEAR (2025 = 2025/26).")
@click.option("--homes", default=None, type=click.IntRange(1, limits.MAX_HOMES),
              help="Homes owned (every tenure), for TSM CH01 per 1,000 homes. Default with --homes-lcra and "
                   "--homes-lcho: the two together.")
@click.option("--homes-lcra", default=None, type=click.IntRange(0, limits.MAX_HOMES), metavar="N",
              help="Low-cost rental homes: CH01 and CH02 for LCRA, per 1,000 of them (with --homes-lcho).")
@click.option("--homes-lcho", default=None, type=click.IntRange(0, limits.MAX_HOMES), metavar="N",
              help="Low-cost home ownership homes: CH01 and CH02 for LCHO (with --homes-lcra).")
@report_output
@click.option("--format", "fmt", type=click.Choice(["html", "json", "text", "csv"]), default="html",
              show_default=True, help="Output format; csv is the TSM return file, one row per measure, stage and "
                                      "tenure (docs/tsm-return.md).")
@pass_session
def report_annual(s: Session, year: int, homes: int | None, homes_lcra: int | None, homes_lcho: int | None,
                  output: str | None, fmt: str) -> None:
    """The Code §8 annual report, with TSM CH01 and CH02.

    The annual complaints performance and service improvement report. With --homes-lcra and --homes-lcho, CH01
    and CH02 for low-cost rental and low-cost home ownership, beside the all-tenure figures.

    \b
    Example:
      complaints report annual --year 2025 --homes 12500 --output annual-2025-26.html
      complaints report annual --year 2025 --homes-lcra 11800 --homes-lcho 700 --format csv -o tsm-2025-26.csv
    """
    from .adapters.reports import InconsistentHomes, annual_report, annual_text, return_csv, tsm_homes

    split = homes_lcra is not None or homes_lcho is not None
    if not split and homes is None:
        raise click.ClickException("give --homes N, or --homes-lcra N and --homes-lcho N")
    if split:
        try:
            tsm_homes(homes, homes_lcra, homes_lcho)
        except InconsistentHomes as e:
            raise click.ClickException(str(e)) from None
    built = annual_report(_caught_up(s), year, homes, date.today(), homes_lcra=homes_lcra, homes_lcho=homes_lcho)
    if fmt in ("text", "csv"):
        _write_text(annual_text(built) if fmt == "text" else return_csv(built), output)
        return
    _write_report(built, fmt, output)




def _emit_rows(rows: list[dict[str, Any]], fmt: str, layout: str,
               noun: tuple[str, str] = ("case", "cases")) -> None:
    """Rows as JSON Lines, CSV (every field, each cell safe for a spreadsheet) or a table laid out for reading."""
    if fmt == "json":
        for r in rows:
            click.echo(to_json(r))
        return
    from .adapters import screens

    columns = screens.LAYOUTS[layout]
    if fmt == "csv":
        header = list(rows[0]) if rows else [c.key or c.header.lower() for c in columns]
        screens.write_csv(sys.stdout, header, ([r.get(k) for k in header] for r in rows))
        return
    if rows:
        click.echo(screens.records_table(columns, rows))
    click.echo(f"{len(rows)} {noun[0] if len(rows) == 1 else noun[1]}", err=True)


@cli.group()
def projections() -> None:
    """Read models: where they stand, rebuild them, keep them live."""


@projections.command("status")
@output_format()
@pass_session
def projections_status(s: Session, fmt: str) -> None:
    """Each read model's position, lag and last rebuild.

    With its schema version against the code's.

    \b
    Example:
      complaints projections status
    """
    rows = _runner(s).status()
    _notice_incomplete_imports(s.ledger(create=False))  # the read models show part of that file
    if fmt == "json":
        click.echo(to_json(rows))
        return
    from .adapters import screens

    click.echo(screens.records_table(screens.LAYOUTS["projections"], rows))


@projections.command("rebuild")
@click.argument("names", nargs=-1)
@pass_session
def projections_rebuild(s: Session, names: tuple[str, ...]) -> None:
    """Rebuild read models from the whole log.

    Into fresh tables, then switch over atomically.

    \b
    Example:
      complaints projections rebuild case_status
    """
    import time

    runner = _runner(s)
    unknown = [n for n in names if n not in runner.projections]
    if unknown:
        from .domain.values import quoted

        raise click.UsageError(f"unknown projection {quoted(unknown[0])} (known: {', '.join(runner.projections)})")
    started = time.monotonic()
    applied = runner.rebuild(names or None, progress=_progress())
    elapsed = max(time.monotonic() - started, 1e-9)
    click.echo(f"rebuilt {', '.join(names or runner.projections)}: {applied} events in {elapsed:.1f}s "
               f"({applied / elapsed:,.0f} events/s)")


@projections.command("verify")
@click.argument("names", nargs=-1)
@pass_session
def projections_verify(s: Session, names: tuple[str, ...]) -> None:
    """Check the read models against a fresh rebuild from the log.

    Names every row that differs (e.g. one edited with raw SQL); exit 1 if any does. Read-only: the rebuild is made
    in memory, so a reader login can run it.

    \b
    Example:
      complaints projections verify
    """
    from .adapters.projection_store import verify_read_models

    runner = _caught_up(s)
    unknown = [n for n in names if n not in runner.projections]
    if unknown:
        from .domain.values import quoted

        raise click.UsageError(f"unknown projection {quoted(unknown[0])} (known: {', '.join(runner.projections)})")
    names = _verifiable(runner, names)
    positions, problems = verify_read_models(runner, names or None)
    for line in problems:
        click.echo(f"DIFFERS  {printable(line)}")
    if problems:
        raise click.ClickException(f"the read models differ from the log in {len(problems)} place(s); "
                                   "`complaints projections rebuild` remakes them from the log")
    at = ", ".join(f"{n} at {p}" for n, p in positions.items())
    click.echo(f"read models match a fresh rebuild from the log: {at}")


@projections.command("follow")
@click.option("--poll", type=POLL, default=1.0, show_default=True, help="Seconds between polls when idle.")
@GIVE_UP_AFTER
@pass_session
def projections_follow(s: Session, poll: float, give_up_after: float | None) -> None:
    """Keep read models live until interrupted.

    Ctrl-C stops between transactions. A lost database connection is waited out (docs/event-stream.md#outages).

    \b
    Example:
      complaints projections follow
    """
    import signal

    runner = _runner(s)
    stopping = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    click.echo("following the log; Ctrl-C to stop", err=True)
    runner.follow(poll_seconds=poll, stop=lambda: bool(stopping), reconnect=_reconnect(runner.ledger, give_up_after))
    click.echo("stopped at a transaction boundary", err=True)


def _reconnect(ledger: Any, give_up_after: float | None) -> Any:
    """How a follower waits out a lost connection: retrying 0.2 s after, doubling to 5 s (or
    COMPLAINTS_RECONNECT_MAX_SECONDS), with one stderr line when it is lost and one when it is back."""
    from .domain.stream import Reconnect
    from .domain.values import seconds

    try:
        cap = seconds(os.environ.get("COMPLAINTS_RECONNECT_MAX_SECONDS", "5"), "COMPLAINTS_RECONNECT_MAX_SECONDS",
                      maximum=60.0)
    except ComplaintsError as e:
        raise click.ClickException(str(e)) from None
    return Reconnect(lost=ledger.connection_lost, report=lambda line: click.echo(printable(line), err=True),
                     first_delay=min(0.2, cap), max_delay=cap, give_up_after=give_up_after)


# ---------------------------------------------------------------------------------------------------- the stream
EVENT_TYPE = click.option("--event", "event_types", multiple=True, metavar="TYPE",
                          help="Only this event type (repeatable), e.g. Received, Responded, PersonalDataErased.")


@cli.group(invoke_without_command=True)
@click.option("--after", type=click.IntRange(0, limits.MAX_POSITION), default=None, metavar="N",
              help="Start after this position (default: the cursor's, or the beginning).")
@click.option("--follow", is_flag=True, help="Keep going: print each new event as it is committed.")
@EVENT_TYPE
@click.option("--limit", type=click.IntRange(1, limits.MAX_POSITION), default=None, metavar="N",
              help="Stop after N events.")
@click.option("--cursor", default=None, metavar="NAME",
              help="Resume from, and keep, a named position in the database (moved only once lines are written).")
@click.option("--without-personal-data", is_flag=True, help="Show a person's details as [withheld].")
@click.option("--poll", type=POLL, default=0.5, show_default=True, help="Seconds between checks of the log when idle.")
@GIVE_UP_AFTER
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True,
              help="json: JSON Lines (the stream's documented shape); text: one readable line per event.")
@click.pass_context
def events(ctx: click.Context, after: int | None, follow: bool, event_types: tuple[str, ...], limit: int | None,
           cursor: str | None, without_personal_data: bool, poll: float, give_up_after: float | None,
           fmt: str) -> None:
    """The event stream as JSON Lines, in log order.

    One event per line on stdout (docs/event-stream.md).

    \b
    Examples:
      complaints events --after 1200 --event Received --event Closed | jq .ref
      complaints events --follow --cursor crm          # resumable: restart it and nothing is missed

    Following (or with --give-up-after), a lost database connection is waited out: one stderr line when it is
    lost, one when it is back (docs/event-stream.md#outages).
    """
    if ctx.invoked_subcommand is not None:
        return
    import signal

    from .adapters.cursors import CursorKeeper, CursorStore, cursor_store

    from .domain.stream import event_names

    event_names(event_types)  # a misspelt type is refused before the database is opened
    s: Session = ctx.obj
    ledger = s.ledger(create=False)
    store = cursor_store(ledger) if cursor else None
    keeper = CursorKeeper(store, CursorStore.check_name(cursor) if cursor else None)
    start = after if after is not None else (keeper.saved or 0)
    from .domain.stream import Reconnect, StopWaiting

    waits = follow or give_up_after is not None
    reconnect = _reconnect(ledger, give_up_after) if waits else Reconnect.never()
    subscription = ledger.subscribe(after=start, events=event_types, follow=follow, limit=limit,
                                    personal_data=not without_personal_data, poll=poll,
                                    on_caught_up=keeper.save, reconnect=reconnect)
    signal.signal(signal.SIGTERM, lambda *_: subscription.stop())
    if follow and sys.stderr.isatty():
        click.echo(f"following from position {start}; Ctrl-C to stop", err=True)
    out = sys.stdout
    try:
        with _until_the_reader_leaves(), subscription:  # what a reader that left did not take stays unacknowledged
            for item in subscription:
                out.write((item.as_json() if fmt == "json" else _event_line(item)) + "\n")
                out.flush()
                at = item.position
                reconnect.run(lambda: keeper.handed_on(at), subscription.stopped)
    except (KeyboardInterrupt, StopWaiting):
        pass
    _save_cursor_on_the_way_out(keeper, ledger)


def _save_cursor_on_the_way_out(keeper: Any, ledger: Any) -> None:
    """The cursor's last save; if the database is unreachable just then, one line on what a restart repeats
    (nothing is lost: the cursor only lags) and exit 1."""
    try:
        keeper.save()
    except Exception as e:  # noqa: BLE001 - only an outage is reported this way
        reason = ledger.connection_lost(e)
        if reason is None:
            raise
        raise click.ClickException(f"cursor {keeper.name!r} not saved ({reason}): a restart repeats the events "
                                   f"after position {keeper.saved or 0}") from None


@contextmanager
def _until_the_reader_leaves() -> Iterator[None]:
    """Stop quietly when whoever reads stdout goes away (`| head`)."""
    try:
        yield
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more may be written to the closed pipe


def _event_line(item: Any) -> str:
    """One line per event, as it arrives (a stream cannot wait to size a table); the actor is user text."""
    return (f"{item.position:>8}  {item.ref or '-':<16} {item.event:<24} {str(item.occurred_on or ''):<10}  "
            f"{printable(item.actor or '')}")


@events.command("schema")
def events_schema() -> None:
    """Print the stream's JSON Schema.

    Also in the repository as docs/event-stream.schema.json."""
    from .domain.stream import stream_schema

    click.echo(json.dumps(stream_schema(), indent=2, ensure_ascii=False))


@events.command("deliver")
@click.option("--url", required=True, metavar="URL", help="The receiver (http:// or https://).")
@click.option("--secret-env", required=True, metavar="VAR",
              help="The environment variable holding the shared secret (never the secret itself: others can see "
                   "a command line).")
@click.option("--cursor", default=None, metavar="NAME", help="The position kept in the database [default: "
              "deliver:URL].")
@EVENT_TYPE
@click.option("--once", is_flag=True, help="Deliver what the log holds now, then exit (cron); default: keep going.")
@click.option("--max-attempts", type=click.IntRange(1, limits.MAX_ATTEMPTS), default=5, show_default=True,
              help="Attempts before an event is parked as a dead letter.")
@click.option("--timeout", type=SecondsType(limits.MAX_TIMEOUT_SECONDS), default=10.0, show_default=True,
              metavar="SECONDS", help="How long to wait for the receiver.")
@click.option("--backoff", type=SecondsType(limits.MAX_BACKOFF_SECONDS, zero_allowed=True), default=1.0,
              show_default=True, metavar="SECONDS",
              help="The first retry's delay; it doubles on each retry, up to 60 s, with jitter.")
@click.option("--without-personal-data", is_flag=True, help="Send a person's details as [withheld].")
@click.option("--poll", type=POLL, default=0.5, show_default=True, help="Seconds between checks of the log when idle.")
@GIVE_UP_AFTER
@output_format()
@pass_session
def events_deliver(s: Session, url: str, secret_env: str, cursor: str | None, event_types: tuple[str, ...],
                   once: bool, max_attempts: int, timeout: float, backoff: float, without_personal_data: bool,
                   poll: float, give_up_after: float | None, fmt: str) -> None:
    """POST each event to a webhook receiver, signed, in order.

    Retry, and park what keeps failing as a dead letter (docs/event-stream.md). Status lines go to stderr; Ctrl-C
    or SIGTERM stop between events. Unless --once, a lost database connection is waited out.

    \b
    Examples:
      export CRM_WEBHOOK_SECRET=…   # shared with the receiver
      complaints events deliver --url https://crm.example.org/hooks/complaints --secret-env CRM_WEBHOOK_SECRET
      complaints events deliver --url http://127.0.0.1:8080/ --secret-env HOOK_SECRET --once --event Received
    """
    import signal

    from .adapters.webhooks import Deliverer, DeliveryOptions, check_url

    check_url(url)
    secret = os.environ.get(secret_env, "")
    if not secret:
        raise click.ClickException(f"environment variable {secret_env} is not set or empty: put the webhook's "
                                   "shared secret in it (--secret-env names the variable, not the secret)")
    options = DeliveryOptions(max_attempts=max_attempts, timeout=timeout, backoff=backoff, follow=not once,
                              poll=poll, personal_data=not without_personal_data)
    ledger = s.ledger(create=False)
    from .domain.stream import Reconnect

    reconnect = _reconnect(ledger, give_up_after) if not once or give_up_after is not None else Reconnect.never()
    deliverer = Deliverer(ledger, url, secret.encode("utf-8"), cursor=cursor, events=event_types,
                          options=options, report=lambda line: click.echo(printable(line), err=True),
                          reconnect=reconnect)
    previous = {sig: signal.signal(sig, lambda *_: deliverer.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if not once and sys.stderr.isatty():
            click.echo(f"delivering to {deliverer.url} as cursor {deliverer.cursor!r}; Ctrl-C to stop", err=True)
        summary = deliverer.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if fmt == "json":
        click.echo(to_json(summary.as_dict()))
    else:
        again = f", {summary.redelivered} dead letters delivered, {summary.parked_again} parked again" \
            if summary.redelivered or summary.parked_again else ""
        click.echo(f"{summary.delivered} delivered, {summary.parked} parked{again}; cursor {summary.cursor!r} at "
                   f"position {summary.position or 0}", err=True)


@events.command("dead-letters")
@click.argument("ids", nargs=-1, type=click.IntRange(1, limits.MAX_POSITION), metavar="[ID]...")
@click.option("--requeue", is_flag=True, help="Queue these dead letters (or --all) for the next `events deliver` "
              "of their cursor, which sends them first.")
@click.option("--all", "every", is_flag=True, help="With --requeue: every parked dead letter (of --cursor).")
@click.option("--cursor", default=None, metavar="NAME", help="Only this deliverer's (e.g. deliver:URL).")
@click.option("--delivered", "include_delivered", is_flag=True,
              help="Also list those delivered since (kept for the audit trail).")
@output_format()
@pass_session
def events_dead_letters(s: Session, ids: tuple[int, ...], requeue: bool, every: bool, cursor: str | None,
                        include_delivered: bool, fmt: str) -> None:
    """List the events webhooks gave up on, or requeue them.

    JSON Lines with --format json.

    \b
    Examples:
      complaints events dead-letters
      complaints events dead-letters --requeue 3 4
      complaints events dead-letters --requeue --all --cursor deliver:https://crm.example.org/hooks/complaints
    """
    from .adapters.webhooks import DELIVERED, PARKED, QUEUED, dead_letter_store

    if (ids or every) and not requeue:
        raise click.UsageError("dead letter ids and --all go with --requeue")
    if requeue and not ids and not every:
        raise click.UsageError("--requeue needs the dead letters' ids, or --all")
    if ids and every:
        raise click.UsageError("give either dead letter ids or --all, not both")
    store = dead_letter_store(s.ledger(create=False))
    if requeue:
        done = store.requeue(list(ids) if ids else None, cursor)
        if fmt == "json":
            for row in done:
                click.echo(to_json(row))
        else:
            for row in done:
                click.echo(f"requeued {row['id']}: position {row['position']} {row['event']} {row['ref'] or '-'} "
                           f"for {row['cursor_name']}")
            click.echo(f"{len(done)} requeued; the next `complaints events deliver` of "
                       f"{'that cursor' if len({r['cursor_name'] for r in done}) <= 1 else 'each cursor'} "
                       "sends them first", err=True)
        return
    rows = store.letters(cursor, (PARKED, QUEUED, DELIVERED) if include_delivered else (PARKED, QUEUED))
    _emit_rows(rows, fmt, "dead_letters", noun=("dead letter", "dead letters"))


def _progress(label: str = "events", unit: str = "events") -> Callable[[int, int], None] | None:
    """A bar on stderr (done of total, the rate, time to go), only when a person is watching: positions in the log
    for a catch-up, rebuild or copy; cases for an import or simulation."""
    if not sys.stderr.isatty():
        return None
    from .adapters.screens import ProgressBar

    return ProgressBar(label, unit)


# ---------------------------------------------------------------------------------------------------- samples
def _notice_incomplete_imports(ledger: Any) -> list[str]:
    """A line on stderr for each import left incomplete (docs/importing.md): the ledger holds part of a file."""
    from .adapters.legacy_import import incomplete_imports

    lines = incomplete_imports(ledger)
    for line in lines:
        click.echo(f"Notice: {line}", err=True)
    return lines


@cli.command("import")
@click.argument("file", type=FilePath(dir_okay=False))
@click.option("--policy", "policy_name", default=None, metavar="NAME",
              help="Profile for rows whose policy column is empty (default hoc-2024).")
@click.option("--dry-run", is_flag=True, help="Check every row and say what would be imported; write nothing.")
@output_format()
@pass_session
def import_legacy(s: Session, file: str, policy_name: str | None, dry_run: bool, fmt: str) -> None:
    """Import cases from an old system, every line checked first.

    A .csv or .jsonl file.

    Each case's milestone dates become its events, back-dated, checked against its profile as live entry is.
    Every bad line is reported (line, column, reason) and then nothing is written; cases whose reference is
    already in the ledger are skipped, so re-running a file adds nothing. An import stopped part-way is reported
    (here, by verify and by projections status) until the same file is imported again, which finishes it.
    Columns: ref, complainant, contact, channel, summary, category, policy, issue_date, received_on,
    acknowledged_on, responded_on, outcome, escalated_on, stage2_acknowledged_on, reviewed_on, review_outcome,
    compensation_approved, compensation_paid, referred_on, closed_on (ref, complainant, channel, summary and
    received_on required; empty = did not happen).

    \b
    Example:
      complaints import docs/legacy-cases.csv --dry-run
      complaints import docs/legacy-cases.csv
    """
    from .adapters import legacy_import
    from .domain.legacy import InvalidRows

    reading = legacy_import.read(file, default_policy=policy_files.load(policy_name),
                                 policies=policy_files.load_shipped)
    try:
        result = s.ledger().import_legacy(reading.cases, actor=s.actor, dry_run=dry_run, refused=reading.errors,
                                          progress=_progress("cases", "cases"), file=reading.file)
    except InvalidRows as e:  # one problem: one line; more: every one on stdout (the check's report), one on stderr
        from .adapters import screens
        from .domain.values import brief

        named = brief(file)  # one line, whatever the file is called
        if len(e.errors) == 1:
            raise click.ClickException(f"{named} {e.errors[0]}") from None
        problems = [{"line": err.line, "column": err.column, "problem": err.reason} for err in e.errors]
        if fmt == "json":
            for problem in problems:
                click.echo(to_json(problem))
        else:
            click.echo(screens.records_table(screens.LAYOUTS["import_errors"], problems))
        lines = len({err.line for err in e.errors})
        raise click.ClickException(f"{named}: {screens.plural(lines, 'line')} with errors "
                                   f"({screens.plural(len(e.errors), 'problem')}, listed above); nothing "
                                   "imported") from None
    if result.resumed:
        click.echo(f"{'this would finish' if dry_run else 'this finishes'} the {result.resumed}", err=True)
    unfinished = _notice_incomplete_imports(s.ledger())  # other files' (this one's too, after a dry run)
    summary = {"file": file, "dry_run": dry_run, "imported": len(result.imported), "events": result.events,
               "skipped": len(result.skipped), "refs": result.imported, "skipped_refs": result.skipped,
               "finishes": result.resumed, "incomplete_imports": unfinished}
    if fmt == "json":
        click.echo(to_json(summary))
        return
    n, k = len(result.imported), len(result.skipped)
    cases = f"{n} case{'s' if n != 1 else ''} ({result.events} events) from {file}; {k} already in the ledger"
    click.echo(f"would import {cases}; nothing written (dry run)" if dry_run else f"imported {cases}")


@cli.command()
@click.option("--db", "demo_db", default=None, metavar="URL", help="Where to build it (default complaints-demo.db).")
@click.option("--seed", default=2026, show_default=True, type=SEED)
@click.pass_context
def demo(ctx: click.Context, demo_db: str | None, seed: int) -> None:
    """Build a sample ledger: a year of complaints.

    Then say what to look at next.

    \b
    Example:
      complaints demo && complaints --db complaints-demo.db show CMP-2026-000001
    """
    from .adapters import simulation
    from .adapters.persistence import open_ledger

    s: Session = ctx.obj
    root = ctx.parent
    explicit_db = root is not None and root.get_parameter_source("db") == click.core.ParameterSource.COMMANDLINE
    url = demo_db or (s.db if explicit_db else None) or "sqlite:///complaints-demo.db"
    ledger = open_ledger(url)
    s.adopt(ledger)  # the actor is checked against the demo's own database: no other is opened (or made)
    if ledger.event_count():
        raise click.ClickException(f"{url} already holds {ledger.event_count()} events; the demo builds only in a "
                                   "new ledger (delete the file or pass another --db)")
    summary = simulation.build(ledger, cases=simulation.DEMO_CASES, seed=seed, actor=s.actor,
                               progress=_progress("cases", "cases"))
    shown = url if "://" in url else f"sqlite:///{url}"
    click.echo(simulation.describe(summary, shown))


@cli.command()
@click.option("--cases", required=True, type=click.IntRange(1, limits.MAX_CASES), help="How many complaints.")
@click.option("--seed", default=1, show_default=True, type=SEED, help="Same seed, same ledger.")
@click.option("--policy", "policy_name", default=None, metavar="NAME",
              help="Use one profile for every case (default: a mix of all shipped profiles).")
@click.option("--until", type=DATE, default=None, help="Last business date of the simulated year (default today).")
@pass_session
def simulate(s: Session, cases: int, seed: int, policy_name: str | None, until: date | None) -> None:
    """Generate N realistic complaints, reproducibly by seed.

    Over the year to --until.

    \b
    Example:
      complaints --db bench.db simulate --cases 5000 --seed 7
    """
    from .adapters import simulation

    policies = [policy_files.load_shipped(policy_name)] if policy_name else None
    summary = simulation.build(s.ledger(), cases=cases, seed=seed, actor=s.actor, policies=policies,
                               until=until, progress=_progress("cases", "cases"))
    click.echo(to_json({k: v for k, v in summary.items() if k != "examples"}))


# ---------------------------------------------------------------------------------------------------- migration
@cli.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True,
              help="Output format: JSON Lines, a header line then one line per row.")
@click.option("--output", type=OutputPath(dir_okay=False), default=None, help="Write to this file (default stdout).")
@click.option("--include-keys", is_flag=True,
              help="Also export the data subjects' keys: whoever holds the file can then read their personal data.")
@pass_session
def export(s: Session, fmt: str, output: str | None, include_keys: bool) -> None:
    """Write the whole ledger out as JSON Lines.

    The event log with its exact stored bytes, snapshots, chain heads (and keys).

    Read models are not exported: they are rebuilt from the log.

    \b
    Examples:
      complaints export --output ledger-2026-11.jsonl
      complaints export --include-keys --output ledger-with-keys.jsonl
    """
    from .adapters import migration

    ledger = s.ledger(create=False)
    if output:
        try:
            header = migration.export_to_file(ledger, output, include_keys=include_keys)
        except OSError as e:
            raise click.ClickException(f"cannot write {output}: {e.strerror or e}") from None
        rows = ", ".join(f"{n} {name}" for name, n in header["tables"].items())
        click.echo(f"exported {rows} at position {header['position']} to {output}", err=True)
    else:
        with _until_the_reader_leaves():
            migration.export_ledger(ledger, sys.stdout, include_keys=include_keys)
    if not include_keys:
        click.echo("note: the personal data in this export is sealed and cannot be read without the keys "
                   "(--include-keys)", err=True)


@cli.command("copy")
@click.option("--to", "target", required=True, metavar="URL",
              help="An empty ledger to copy into: postgresql://user@host/db, or an SQLite file.")
@pass_session
def copy_to(s: Session, target: str) -> None:
    """Copy the whole ledger into an empty database.

    Exactly (SQLite to PostgreSQL or back), then rebuild its read models, verify it and compare its statistics
    with this one's; exit 1 if they differ.

    \b
    Example:
      complaints --db complaints.db copy --to postgresql://complaints@dbhost/complaints
    """
    from .adapters import migration

    progress = _phase_progress()
    result = migration.copy_ledger(s.ledger(create=False), target, progress=progress)
    if progress:
        progress.finish()
    click.echo(result.summary())
    problem = result.problem()
    if problem:
        raise click.ClickException(problem)


class _PhaseProgress:
    """A copy's phases (events, snapshots, keys, read models, verify …), each with its own bar on stderr."""

    def __init__(self) -> None:
        self.phase: str | None = None
        self.report: Any = None

    def __call__(self, phase: str, position: int, head: int) -> None:
        if phase != self.phase:
            self.finish()
            self.phase, self.report = phase, _progress(phase)
            if not (position or head):  # (0, 0) only names the phase
                click.echo(phase, err=True)
        if self.report and (position or head):
            self.report(position, head)

    def finish(self) -> None:
        if self.report is not None:
            self.report.finish()
            self.report = None


def _phase_progress() -> _PhaseProgress | None:
    """Progress by phase, only when a person is watching."""
    return _PhaseProgress() if sys.stderr.isatty() else None


def main() -> None:
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    cli.main(prog_name="complaints")


if __name__ == "__main__":  # pragma: no cover
    main()
