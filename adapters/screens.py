"""What a person reads: tables with a header row, dates and working days in words, and the two rules that keep user
text honest wherever the ledger prints it.

- On a screen, text a user typed (a note, a name, a receiver's error) is shown with its control characters and
  newlines escaped (`\\n`), so no user text can forge another line of a case's history or of a table.
- In a CSV, a cell that begins with `=`, `+`, `-`, `@`, tab or carriage return is prefixed with `'`, as OWASP's
  CSV-injection guidance says, so a spreadsheet opening the file never runs a typed formula. JSON output is unchanged:
  it is for programs, which read values, not formulas.

Tables are drawn by `rich` (cell widths that count wide characters, wrapping of long text), imported only when a
table is printed so `--help` never pays for it. On a terminal a table fits its width; piped, it keeps every row on
one line (wrapped columns wrap at 100 columns, or $COLUMNS), so `grep` and `cut` still see whole rows. A table with
no wrapping column, piped or longer than a few screens, is written directly in the same layout (rich's per-cell
layout cost about a second per thousand rows).
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Sequence, TextIO

from ..domain.values import fmt_pounds, printable  # noqa: F401 - printable: the one rule for user text on screen
from ..domain.vocabulary import TENURE_WORDS

CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
WRAP_WIDTH = 100  # what a wrapped table fits when the output is not a terminal


def csv_safe(value: Any) -> Any:
    """A CSV cell that no spreadsheet will run as a formula (OWASP): text beginning with = + - @ tab or CR gets a
    leading apostrophe. Numbers, dates and money are written as they are (a negative number stays a number)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, (bool, int, float, date, datetime)):
        return value
    text = str(value)
    return "'" + text if text.startswith(CSV_TRIGGERS) else text


def write_csv(out: TextIO, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Every CSV the ledger writes: a header row, then each row with every cell made safe. Lines end in CRLF as
    RFC 4180 says, so a cell holding a bare carriage return is quoted (with LF endings it would split the row)."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_safe(h) for h in header])
    for row in rows:
        writer.writerow([csv_safe(v) for v in row])


# ------------------------------------------------------------------------------------------------ words
def day(value: date | str | None, weekday: bool = False) -> str:
    """`30 Dec 2025` (or `Tue 30 Dec 2025`): a date as a UK reader reads it, never mistaken for 12/30."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return value.strftime("%a %d %b %Y" if weekday else "%d %b %Y")


def moment(value: datetime | None) -> str:
    """A recorded time to the minute, in UTC (the ledger's clock)."""
    return "" if value is None else value.strftime("%d %b %Y %H:%M")


def working_days(n: int | None, suffix: str = "") -> str:
    """`1 working day`, `3 working days late`."""
    if n is None:
        return ""
    return f"{n} working day{'' if n == 1 else 's'}" + (f" {suffix}" if suffix else "")


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def money(amount: Decimal | str | None) -> str:
    return "" if amount in (None, "") else fmt_pounds(Decimal(amount))


# ------------------------------------------------------------------------------------------------ tables
@dataclass(frozen=True)
class Column:
    """A table column: its header, whether it may wrap (long free text) or is right-aligned (numbers), and for a
    table of records, the record's key and how its value reads (default: as it is, "-" when absent)."""

    header: str
    wrap: bool = False
    right: bool = False
    key: str | None = None
    show: Callable[[Any], str] | None = None

    def cell(self, record: dict[str, Any]) -> str:
        value = record.get(self.key or self.header.lower())
        if self.show is not None:
            return self.show(value) if value is not None else "-"
        if value is None or value == "":
            return "-"
        if isinstance(value, Decimal):
            return money(value)
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)


def _width(wrapping: bool) -> int | None:
    """The width to fit: the terminal's, else $COLUMNS, else WRAP_WIDTH for a table that wraps and no limit for
    one that does not (so a piped table keeps whole rows)."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size((WRAP_WIDTH, 24)).columns
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) >= 20:
        return int(columns)
    return WRAP_WIDTH if wrapping else None


def render_table(columns: Sequence[Column], rows: Iterable[Sequence[Any]], title: str | None = None,
                 width: int | None = None) -> str:
    """A table with a header row and aligned columns, every cell `printable`; no trailing spaces. A table with no
    wrapping column and no title is written directly when piped or long (`_plain_table`: the same text)."""
    rows = [[printable(v) for v in row] for row in rows]
    wrapping = any(c.wrap for c in columns)
    if not wrapping and title is None and (len(rows) > PLAIN_FROM or not sys.stdout.isatty()):
        return _plain_table(columns, rows)
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    fit = width or _width(wrapping)
    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 2, 0, 0),
                  title=title, title_justify="left", title_style="bold", header_style="bold", expand=False)
    naturals = [max([cell_len(c.header)] + [cell_len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    for c, natural in zip(columns, naturals):  # a column that does not wrap keeps its whole width
        table.add_column(c.header, no_wrap=not c.wrap, overflow="fold", justify="right" if c.right else "left",
                         min_width=None if c.wrap else natural)
    for row in rows:
        table.add_row(*(Text(v) for v in row))
    # Wide enough that no column is dropped or cut: every unwrapped column whole, every wrapped one at least 12
    # characters (or whole, if shorter). Wider than the terminal, a line wraps there, but nothing is hidden. With no
    # width to fit, as wide as the widest row.
    gaps = 2 * (len(columns) - 1)
    needed = sum(min(n, 12) if c.wrap else n for c, n in zip(columns, naturals)) + gaps
    fit = max(sum(naturals) + gaps if fit is None else fit, needed, cell_len(title or ""))
    console = Console(width=fit, force_terminal=sys.stdout.isatty(), color_system="auto" if sys.stdout.isatty()
                      else None, highlight=False, markup=False, emoji=False, soft_wrap=False)
    with console.capture() as captured:
        console.print(table)
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


# On a terminal, tables longer than this are written plainly (no styling) rather than laid out by rich.
PLAIN_FROM = 200


def _plain_table(columns: Sequence[Column], rows: list[list[str]]) -> str:
    """The table rich draws when no column wraps (every column its natural width, two spaces between, no trailing
    spaces), written directly: rich's per-cell layout took about 0.9 s per thousand rows, which `list` at 1M
    events paid for every one of its tens of thousands. Widths count wide characters as rich does."""
    from rich.cells import cell_len

    headers = [c.header for c in columns]
    lines = [headers, *rows]
    widths = [max(cell_len(line[i]) for line in lines) for i in range(len(columns))]
    right = [c.right for c in columns]
    out = []
    for line in lines:
        cells = []
        for value, width, is_right in zip(line, widths, right):
            pad = " " * (width - cell_len(value))
            cells.append(pad + value if is_right else value + pad)
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def records_table(columns: Sequence[Column], records: Iterable[dict[str, Any]], title: str | None = None) -> str:
    """A table of records (dicts), each column reading its own key."""
    return render_table(columns, ([c.cell(r) for c in columns] for r in records), title)


# ------------------------------------------------------------------------------------------------ the case sheet


def _wrapped(lead: str, text: str) -> list[str]:
    """`lead` then `text`, wrapped to the screen with later lines indented under the text (so a long summary or
    note can never start a line of its own)."""
    import textwrap

    width = max((_width(True) or WRAP_WIDTH), len(lead) + 20)
    return textwrap.wrap(text, width=width, initial_indent=lead, subsequent_indent=" " * len(lead),
                         break_on_hyphens=False) or [lead.rstrip()]


def _stage_label(number: int, name: str | None) -> str:
    """`stage 2`, or `stage 2 (Complaint Panel)` where the policy names it beyond its number."""
    extra = (name or "").strip()
    for prefix in (f"Stage {number}:", f"Stage {number}"):
        if extra.startswith(prefix):
            extra = extra[len(prefix):].strip(" :()")
            break
    return f"stage {number}" + (f" ({extra})" if extra else "")


_COUNTS_FROM = {"acknowledged": "the acknowledgement", "acknowledgement due": "the day acknowledgement was due",
                "received": "receipt", "escalated": "the escalation", "responded": "the response"}


_LANDLORD_WORDS = {"met": "met the landlord's deadline", "late": "missed the landlord's deadline",
                   "pending": "within the landlord's deadline so far", "overdue": "past the landlord's deadline"}
_CODE_WORDS = {"within": "within the Code's timescales", "outside": "outside the Code's timescales",
               "pending": "within the Code's timescales so far", "overdue": "past the Code's timescales"}


def _counted(clock: dict[str, Any]) -> str:
    """A clock's due date and what it counts from."""
    event = clock["counts_from_event"]
    return f"{day(clock['due_on'], True)}, counted from {_COUNTS_FROM.get(event, event)} " \
           f"({day(clock['counts_from'], True)})"


def _two_clocks(view: dict[str, Any]) -> list[str]:
    """Where a response meets one clock and not the other, both judgements, each with the date it counts from: the
    landlord's deadline (its policy profile) and the Code's timescales (what TSM CH02 and the reports count)."""
    lines = []
    for t in view.get("timescales") or []:
        if not t["differ"]:
            continue
        mine, code = t["landlord"], t["code"]
        late = f", {working_days(code['working_days_late'])} late" if code["working_days_late"] else ""
        lines += ["", f"Stage {t['stage']} response: {_LANDLORD_WORDS[mine['status']]} but "
                      f"{_CODE_WORDS[code['status']]}",
                  f"  landlord's deadline  {_counted(mine)}",
                  f"  Code's timescales    {_counted(code)}{late}",
                  "  (the Code counts from acknowledgement, or from when it was due if it came later: a late "
                  "acknowledgement buys no time; TSM CH02 and the reports use the Code's)"]
    return lines


def _deadline_state(d: dict[str, Any]) -> str:
    """`met`, `pending`, `late by 3 working days`, `OVERDUE by 12 working days`."""
    state = d["status"].upper() if d["status"] == "overdue" else d["status"]
    if d["working_days_late"]:
        state += f" by {working_days(d['working_days_late'])}"
    return state


def _ombudsman_table(view: dict[str, Any]) -> list[str]:
    """The Housing Ombudsman's evidence requests and orders, each with its due date, when done and its state."""
    omb = view.get("ombudsman") or {}
    rows = [[f"evidence {r['number']}", day(r["requested_on"]), day(r["due_on"]), _deadline_state(r),
             day(r["sent_on"]), ""] for r in omb.get("evidence_requests", ())]
    rows += [[f"order {o['number']}", day(o["made_on"]), day(o["due_on"]), _deadline_state(o),
              day(o["complied_on"]), printable(o["text"])
              + (f" (evidence: {printable(o['evidence'])})" if o.get("evidence") else "")]
             for o in omb.get("orders", ())]
    if not rows:
        return []
    return ["", render_table([Column("OMBUDSMAN"), Column("MADE"), Column("DUE"), Column("STATE"), Column("DONE"),
                              Column("WHAT", wrap=True)],
                             rows, title="Housing Ombudsman: evidence requests and orders")]


def case_sheet(view: dict[str, Any]) -> str:
    """`show`: a case on one screen, as a complaints officer would brief a manager: who, what, when, which
    procedure, every deadline with its state, the decisions, money and what happened last."""
    lines: list[str] = []

    def field(label: str, value: Any) -> None:
        if value not in (None, "", []):
            lines.extend(_wrapped(f"{label:<13}", printable(value)))

    lines.append(f"{view['ref']}  {view['status'].replace('-', ' ').upper()}  at "
                 f"{_stage_label(view['stage'], view['stage_name'])}" + (", the last" if view["final_stage"] else ""))
    who = printable(view["complainant"]) + (f" ({view['complainant_id']})" if view["complainant_id"] else "")
    field("Resident", who)
    if view["representative"]:
        rep = view["representative"]
        field("Represented", f"by {printable(rep['name'])}"
              + ("" if rep["authorised"] else " (NOT yet authorised by the resident)"))
    field("Property", view["property"])
    field("UPRN", view.get("uprn"))
    field("Tenure", TENURE_WORDS.get(view.get("tenure"), "not recorded"))  # what CH01/CH02 count it under
    if view.get("repeat"):
        field("Repeat", "REPEAT: another complaint about the same home within 12 months ("
              + ", ".join(view["repeat"]) + ")")
    field("Contact", view["contact"])
    received = f"{day(view['received_on'], True)} by {view['channel']}"
    if view["issue_date"]:
        received += f"; the issue arose {day(view['issue_date'], True)}"
    field("Received", received)
    if view["time_limit"]["outside"]:
        field("Time limit", f"OUTSIDE the {view['time_limit']['months']}-month limit (it ended "
                            f"{day(view['time_limit']['ends_on'])})")
    field("Category", view["category"])
    field("Summary", view["summary"])
    field("Policy", f"{view['policy']} v{view['policy_version']} ({view['policy_hash'][:12]})")
    field("Imported", view.get("source") and f"from {view['source']}")
    if view["erasure"]:
        e = view["erasure"]
        field("Erased", f"personal data erased on {day(e['occurred_on'])} by {printable(e['actor'])}: "
                        f"{printable(e['reason'])}")
    as_of = f"{day(view['as_of'], True)} (version {view['version']})"
    if view.get("known_at"):
        as_of += f"; only what was recorded by {view['known_at']:%d %b %Y %H:%M} UTC"
    field("As of", as_of)

    procedure = [d for d in view["deadlines"]  # the Ombudsman's requests and orders have their own table
                 if not d["milestone"].startswith(("evidence-", "order-"))]
    if procedure:
        lines.append("")
        rows = []
        for d in procedure:
            due = day(d["due_on"], True) + (" (provisional)" if d["provisional"] and not d["done_on"] else "")
            extended = working_days(d["extended_by"]) if d["extended_by"] else ""
            rows.append([f"{d['stage']}", d["milestone"], due, extended, _deadline_state(d),
                         day(d["done_on"], True)])
        lines.append(render_table([Column("STAGE"), Column("STEP"), Column("DUE"), Column("EXTENDED BY"),
                                   Column("STATE"), Column("DONE")], rows, title="Deadlines"))
    lines.extend(_two_clocks(view))
    lines.extend(_ombudsman_table(view))
    events: list[tuple[Any, int, str]] = []  # (date, order, text): what happened, in date order

    def happened(on: Any, text: str) -> None:
        events.append((on, len(events), text))

    # Before the stages, so that on the day a closed case is reopened the reopening reads before the escalation.
    for late in view.get("late_escalations") or []:
        happened(late["occurred_on"], f"escalation accepted after the appeal window (it closed "
                 f"{day(late['window_closed_on'])}) by {printable(late['actor'])}: {printable(late['reason'])}")
    for again in view.get("reopenings") or []:
        happened(again["closed_on"], "closed")
        happened(again["occurred_on"], "reopened: the resident escalated it")
    for st in view["stages"]:
        label = _stage_label(st["stage"], st["name"])
        if st["stage"] > 1 and st["started_on"]:
            happened(st["started_on"], f"escalated to {label}"
                     + (f": {printable(st['escalation_reason'])}" if st["escalation_reason"] else ""))
        for ext in st["extensions"]:
            happened(ext["occurred_on"], f"{label} extended by {working_days(ext['working_days'])}: "
                     f"{printable(ext['reason'])}" + ("" if ext.get("ombudsman_details_given") else
                                                      " (Ombudsman's details not recorded as given)"))
        if st["outcome"]:
            text = f"{label} decision: {st['outcome'].replace('-', ' ')}"
            if st["response_summary"]:
                text += f" — {printable(st['response_summary'])}"
            if st["remedies"]:
                text += f" (remedies: {', '.join(printable(r) for r in st['remedies'])})"
            happened(st["responded_on"], text)
    for key, label in (("resolution", "resolved early"), ("refusal", "refused"), ("withdrawal", "withdrawn")):
        if view[key]:
            said = view[key].get("explanation") or view[key].get("summary") or ""
            reason = view[key].get("reason") or ""
            happened(view[key]["occurred_on"], label + (f": {printable(reason)}" if reason else "")
                     + (f" — {printable(said)}" if said else ""))
    if view["referred_on"]:
        happened(view["referred_on"], "referred to the Housing Ombudsman")
    if view["determination"]:
        d = view["determination"]
        happened(d["occurred_on"], f"the Ombudsman's determination: {d['finding'].replace('-', ' ')}"
                 + (f", compensation of {money(d['compensation'])} ordered" if d["compensation"] else "")
                 + "".join(f"; order: {printable(o)}" for o in d.get("orders") or []))
    if view["closed_on"]:
        happened(view["closed_on"], "closed")
    if events:
        lines.append("")
        lines.append("What happened")
        for on, _, text in sorted(events, key=lambda e: (str(e[0]), e[1])):
            lines.extend(_wrapped(f"  {day(on)}  ", text))

    c = view["compensation"]
    if any(c[k] for k in ("requested", "approved", "ordered", "paid")) or c["pending"]:
        parts = [f"{k} {money(c[k])}" for k in ("requested", "approved", "declined", "ordered", "paid") if c[k]]
        if c["offset"]:
            parts[-1] += f" ({money(c['offset'])} of it set against arrears)"
        if c["pending"]:
            parts.append(f"{money(c['pending'])} awaiting a decision")
        lines.append("")
        field("Compensation", ", ".join(parts))
    tail = []
    if view["appeal_closes_on"]:
        tail.append(f"The window to escalate closes {day(view['appeal_closes_on'], True)}.")
    if view.get("reopen_by"):
        tail.append(f"Escalating it by {day(view['reopen_by'], True)} reopens it (the appeal window).")
    deemed = view["deemed_accepted_on"]
    if deemed:
        tense = "was" if deemed < view["as_of"] else "will be"
        tail.append(f"Without a reply the outcome {tense} deemed accepted on {day(deemed, True)}.")
    if view["satisfaction"]:
        tail.append(f"Satisfaction with complaint handling: {view['satisfaction']['score']} of 5.")
    counts = [plural(len(view[k]), one, many) for k, one, many in (
        ("notes", "note", None), ("deviations", "deviation", None), ("learning", "learning entry", "learning entries"),
        ("corrections", "correction", None)) if view.get(k)]
    if counts:
        tail.append(f"On file: {', '.join(counts)} (complaints history {view['ref']}).")
    if tail:
        lines.append("")
        lines.extend(tail)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ the audit trail
HASH_FIELDS = ("policy_hash",)  # 64 hex digits in the record; 12 are enough to tell profiles apart on a screen


def _detail(key: str, value: Any) -> str:
    if key in HASH_FIELDS and isinstance(value, str):
        value = value[:12]
    elif isinstance(value, Decimal):
        value = money(value)
    elif isinstance(value, bool):
        value = "yes" if value else "no"
    elif isinstance(value, (list, tuple)):
        value = "; ".join(_detail("", v) for v in value)
    elif isinstance(value, dict):
        value = ", ".join(f"{k} {_detail(k, v)}" for k, v in value.items() if v not in (None, "", []))
    elif isinstance(value, date):
        value = day(value)
    return printable(value)


def event_details(details: dict[str, Any]) -> str:
    """An event's facts as `name: value` pairs, money in pounds, hashes short, user text escaped."""
    return " · ".join(f"{k.replace('_', ' ')}: {_detail(k, v)}" for k, v in details.items()
                      if v not in (None, [], "", {}))


def history_screen(events: Sequence[dict[str, Any]]) -> str:
    """`history`: each event as a header line (version, business date, event, who, when recorded) and its details
    wrapped beneath it, indented, so the trail fits a 100-column terminal and no detail can pass for an event."""
    lines: list[str] = []
    for e in events:
        lines.append(f"{e['version']:>3}  {day(e['occurred_on'])}  {e['event']}  by {printable(e['actor'])}, "
                     f"recorded {moment(e['recorded_at'])} UTC")
        details = event_details(e["details"])
        if details:
            lines.extend(_wrapped(" " * 5, details))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ list layouts
def _late(n: Any) -> str:
    return working_days(n) if n else "-"


LAYOUTS: dict[str, list[Column]] = {
    # complaints list
    "case_list": [
        Column("REF"), Column("STATUS", show=lambda v: v.replace("-", " ")), Column("STAGE", right=True),
        Column("POLICY"), Column("CATEGORY"), Column("RECEIVED", key="received_on", show=day),
        Column("NEXT STEP", key="next_milestone"), Column("DUE", key="next_due_on", show=day),
        Column("OVERDUE", show=lambda v: "OVERDUE" if v else ""), Column("DAYS OPEN", key="days_open", right=True),
        Column("REPEAT", show=lambda v: "REPEAT" if v else ""),
    ],
    # complaints find
    "found": [
        Column("REF"), Column("NAME", key="complainant"), Column("STATUS", show=lambda v: v.replace("-", " ")),
        Column("STAGE", right=True), Column("NEXT STEP", key="next_milestone"),
        Column("DUE", key="next_due_on", show=day), Column("REPEAT", show=lambda v: "REPEAT" if v else ""),
    ],
    # complaints breaches
    "breaches": [
        Column("REF"), Column("STAGE", right=True), Column("STEP", key="milestone"),
        Column("DUE", key="due_on", show=day), Column("DONE", key="done_on", show=day),
        Column("STATE", key="status", show=lambda v: "OVERDUE" if v == "overdue" else "answered late"),
        Column("LATE BY", key="working_days_late", show=_late), Column("CATEGORY"),
    ],
    # complaints events dead-letters
    "dead_letters": [
        Column("ID", right=True), Column("STATUS"), Column("POSITION", right=True), Column("EVENT"), Column("REF"),
        Column("ATTEMPTS", right=True), Column("PARKED", key="parked_at", show=moment),
        Column("CURSOR", key="cursor_name"), Column("LAST ERROR", key="last_error", wrap=True),
    ],
    # complaints policy list
    "policies": [Column("NAME"), Column("VERSION"), Column("STAGES", right=True), Column("HASH"), Column("TITLE")],
    # complaints staff list
    "staff": [Column("NAME"), Column("LOGIN"), Column("ROLES", show=lambda v: ", ".join(v) or "no roles")],
    # complaints projections status
    "projections": [
        Column("READ MODEL", key="name"), Column("POSITION", right=True), Column("OF", key="head", right=True),
        Column("LAG", right=True),
        Column("SCHEMA", key="schema_version", show=lambda v: f"v{v}"),
        Column("CODE", key="code_version", show=lambda v: f"v{v}"),
        Column("LIVE COPY", key="live_copy"), Column("REBUILT", key="last_rebuild", show=moment),
        Column("REBUILDING", key="rebuild_in_progress", show=lambda v: "yes" if v else ""),
    ],
    # complaints retention
    "retention": [Column("COMPLAINANT", key="complainant_id"), Column("STATE"),
                  Column("CASES", key="refs", show=", ".join, wrap=True), Column("WHY", key="why", wrap=True)],
    # complaints import, when lines are refused
    "import_errors": [Column("LINE", right=True), Column("COLUMN"), Column("PROBLEM", wrap=True)],
}


# ------------------------------------------------------------------------------------------------ statistics

MEASURES = {  # how each figure of the committee statistics reads; figures not named here read as their key
    "total": "Received", "early_resolutions": "Resolved early", "withdrawals": "Withdrawn",
    "escalation_rate_pct": "Escalation rate", "entered": "Entered the stage", "acknowledged": "Acknowledged",
    "acknowledged_in_time": "Acknowledged in time", "responses": "Responses",
    "responded_in_time": "Responded in time", "responded_late": "Responded late",
    "pct_not_in_time": "Not in time", "extended": "Extended", "pct_extended": "Extended (share)",
    "within_code": "Within the Code's timescales", "pct_within_code": "Within the Code (share)",
    "refused": "Refused", "withdrawn": "Withdrawn", "requested": "Requested", "approved": "Approved",
    "declined": "Declined", "paid": "Paid", "referrals": "Referrals", "determinations": "Determinations",
    "compensation_ordered": "Compensation ordered", "average": "Average score",
    "entries": "Learning entries",
    "orders_made": "Orders made", "orders_complied_on_time": "Orders complied with on time",
    "orders_complied_late": "Orders complied with late", "orders_outstanding": "Orders outstanding at the end",
    "orders_overdue": "Orders outstanding past due", "evidence_requests": "Evidence requests",
    "evidence_sent_on_time": "Evidence sent on time", "evidence_sent_late": "Evidence sent late",
}


def _figure(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, Decimal):
        return money(value)
    if "pct" in key:
        return f"{value:.1f}%"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return printable(value)


def _period_header(period: dict[str, Any], by: str | None) -> str:
    """`Dec 2025`, `Q3 2025/26`, `H1 2026/27`, `2025/26`: a column of the statistics, in the financial year's
    terms (April to March) the committee uses."""
    start = period["from"] if isinstance(period["from"], date) else date.fromisoformat(str(period["from"]))
    fy = start.year if start.month >= 4 else start.year - 1
    year = f"{fy}/{(fy + 1) % 100:02d}"
    if by == "quarter":
        return f"Q{(start.month - 4) % 12 // 3 + 1} {year}"
    if by == "half-year":
        return f"H{1 if 4 <= start.month <= 9 else 2} {year}"
    if by == "year":
        return year
    return printable(period["label"])


def _sections(figures: dict[str, Any]) -> list[tuple[str, list[tuple[str, tuple[str, ...]]]]]:
    """The tables of the statistics and, in each, (label, path into the figures) per row."""
    def keyed(title: str, path: tuple[str, ...]) -> tuple[str, list[tuple[str, tuple[str, ...]]]]:
        node = _at(figures, path)
        vocabulary = path[-1] in ("by_channel", "by_reason")  # the ledger's own words; categories are typed
        return title, [(str(k).replace("-", " ").capitalize() if vocabulary else str(k), path + (k,)) for k in node]

    sections = [("Complaints", [(MEASURES["total"], ("received", "total")),
                                ("Resolved early", ("early_resolutions",)),
                                ("Refused", ("refusals", "total")), ("Withdrawn", ("withdrawals",)),
                                ("Escalated", ("escalated", "total")),
                                ("Escalation rate", ("escalation_rate_pct",))])]
    for stage, node in figures["stages"].items():
        rows = [(MEASURES.get(k, k.replace("_", " ")), ("stages", stage, k)) for k, v in node.items()
                if not isinstance(v, dict)]
        rows += [(f"Outcome: {k.replace('-', ' ')}", ("stages", stage, "outcomes", k)) for k in node["outcomes"]]
        sections.append((f"Stage {stage}", rows))
    sections += [keyed("Received by category", ("received", "by_category")),
                 keyed("Received by channel", ("received", "by_channel")),
                 keyed("Received by policy", ("received", "by_policy")),
                 keyed("Refusals by reason", ("refusals", "by_reason"))]
    sections.append(("Compensation", [(MEASURES[k], ("compensation", k)) for k in figures["compensation"]]))
    omb = figures["ombudsman"]
    sections.append(("Housing Ombudsman", [(MEASURES.get(k, k), ("ombudsman", k)) for k in omb
                                           if not isinstance(omb[k], dict)]
                     + [(f"Finding: {k.replace('-', ' ')}", ("ombudsman", "findings", k)) for k in omb["findings"]]))
    sat = figures["satisfaction"]
    sections.append(("Satisfaction with complaint handling",
                     [("Responses", ("satisfaction", "responses")),
                      ("Average score (1-5)", ("satisfaction", "average"))]
                     + [(f"Score {k}", ("satisfaction", "scores", k)) for k in sat["scores"]]))
    sections.append(("Learning and feedback", [("Learning entries", ("learning", "entries"))]
                     + [(k.capitalize() + "s", ("feedback", k)) for k in figures["feedback"]]))
    return [(t, rows) for t, rows in sections if rows]


def _at(figures: dict[str, Any], path: tuple[str, ...]) -> Any:
    """One figure: every period has every measure of the total (projections/committee.py, `like`)."""
    node: Any = figures
    for p in path:
        node = node[p]
    return node


def stats_screen(result: dict[str, Any]) -> str:
    """`stats`: titled tables (complaints, each stage, the breakdowns, money, the Ombudsman, satisfaction), the
    period's total first and then one column per month, quarter or half-year."""
    total = result["total"]
    columns = [("Total", total)] + [(_period_header(p, result.get("by")), p["figures"]) for p in result["periods"]]
    parts = [f"Complaints statistics, {day(result['from'])} to {day(result['to'])}"]
    if not total["received"]["total"] and not any(stage["responses"] for stage in total["stages"].values()):
        parts.append("No complaints were received or answered in this period.")
    for title, rows in _sections(total):
        cells = [[label] + [_figure(path[-1], _at(figures, path)) for _, figures in columns] for label, path in rows]
        parts.append(render_table([Column(title.upper())] + [Column(h, right=True) for h, _ in columns], cells))
    again = total.get("repeat_homes")
    if again is not None:  # homes complaining more than once (projections/committee.py: add_repeat_homes)
        rows = [("Homes complaining more than once", ["homes"]), ("Their complaints", ["complaints"])]
        top = list(again["by_category"])[:5]  # the categories most complained of among them
        rows += [(f"  {category}", ["by_category", category]) for category in top]
        cells = [[label] + [str(_at(figures.get("repeat_homes", {}), path) or 0) for _, figures in columns]
                 for label, path in rows]
        parts.append(render_table([Column("REPEAT COMPLAINTS (SAME HOME)")] + [Column(h, right=True)
                                                                                for h, _ in columns], cells))
    return "\n\n".join(parts)


# ------------------------------------------------------------------------------------------------ progress
class ProgressBar:
    """A progress bar on stderr for a person watching a long command (an import, a simulation, a rebuild, a copy):
    how far, how fast, how long to go. Made only when stderr is a terminal, so piped output and logs never see it;
    drawn by rich without a refresh thread (each report redraws), and closed at the end or when the process exits,
    so the terminal gets its cursor back whatever happens."""

    def __init__(self, label: str, unit: str) -> None:
        import atexit

        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.unit = unit
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                             console=Console(file=sys.stderr, force_terminal=True, highlight=False),
                             auto_refresh=False, transient=False)
        self._task = self._bar.add_task(label, total=None, rate="", start=False)
        self._since: tuple[int, float] | None = None  # the first report: (done, when), for the rate
        self._open = False
        atexit.register(self.finish)

    def __call__(self, done: int, total: int | None) -> None:
        """`done` of `total` (a position in the log of its head, or cases of a file); closes when done reaches it."""
        import time

        now = time.monotonic()
        if not self._open:
            self._bar.start()
            self._bar.start_task(self._task)
            self._open = True
        if self._since is None:
            self._since = (done, now)
        rate = (done - self._since[0]) / max(now - self._since[1], 1e-9)
        self._bar.update(self._task, completed=done, total=total or None,
                         rate=f"{rate:,.0f} {self.unit}/s" if rate > 0 else "")
        self._bar.refresh()
        if total and done >= total:
            self.finish()

    def finish(self) -> None:
        if self._open:
            self._open = False
            self._bar.stop()
