"""Reading a landlord's legacy complaints file (CSV or JSON Lines) into LegacyCase values.

Every line is read and every problem kept (line, column, reason), so one run lists all there is to fix. CSV is read
as `utf-8-sig` (Excel's "CSV UTF-8" starts with a byte-order mark); its header is line 1. JSON Lines has one object
per line with the same keys as the CSV header, nested no deeper than limits.MAX_JSON_DEPTH. Dates are YYYY-MM-DD,
or DD/MM/YYYY as UK exports write them; amounts are pounds and pence, or as a spreadsheet exports them ("£1,234.50",
thousands grouped in threes), never "1,2,3" or "1e3". Text is held to the ledger's rules for each field (values.py).
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

from ..domain.vocabulary import CHANNELS, OUTCOMES, TENURES
from ..domain.errors import ComplaintsError
from ..domain.legacy import AMOUNT_COLUMNS, COLUMNS, DATE_COLUMNS, REQUIRED, ImportFile, LegacyCase, LineError
from ..domain.policy import Policy
from ..domain.search import uprn as property_uprn
from ..domain.values import ISO_DATE, brief, exported_pounds, normalise_reference, plain_text, quoted, within_dates
from .file_text import NotUtf8, TooDeep, loads, utf8

UK_DATE = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})\Z")  # ASCII digits: \d would read ٣/٣/٢٠٢٦
# The kind of text each free-text column is (values.TEXT_KINDS): its length and whether it may have new lines.
TEXT_COLUMNS = {"complainant": "name", "contact": "contact", "summary": "text", "category": "short",
                "property": "short"}
CHOICES = {"channel": CHANNELS, "outcome": OUTCOMES, "review_outcome": OUTCOMES, "tenure": TENURES}
FORMATS = (".csv", ".jsonl")


class FileUnreadable(ComplaintsError):
    """The legacy file cannot be opened or is not text of a known format."""


@dataclass
class Reading:
    """What a legacy file holds: the cases of the good lines, and the problems of the others."""

    cases: list[LegacyCase] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    file: ImportFile | None = None  # its name and the SHA-256 of its bytes: an import's run is the file's


def read(path: str | Path, *, default_policy: Policy, policies: Callable[[str], Policy]) -> Reading:
    """Read FILE (.csv or .jsonl). Rows with an empty `policy` take `default_policy`; named ones come from
    `policies` (an unknown name is that line's error)."""
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in FORMATS:
        raise FileUnreadable(f"{brief(path)}: a legacy file must be .csv or .jsonl (one JSON object per line)")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FileUnreadable(f"cannot read {brief(path)}: {e.strerror or e}") from None
    try:
        text = utf8(data, bom=True)
    except NotUtf8 as e:
        raise FileUnreadable(f"{brief(path)} line {e.line} is not UTF-8 text: save it as 'CSV UTF-8' (Excel) or "
                             "UTF-8") from None
    rows = _Rows(brief(path.name), default_policy, policies)
    rows.reading.file = ImportFile(name=rows.file_name, sha256=hashlib.sha256(data).hexdigest())
    if kind == ".csv":
        _read_csv(text, rows)
    else:
        _read_jsonl(text, rows)
    return rows.reading


def incomplete_imports(ledger: Any) -> list[str]:
    """One line for each import started and not completed (the process stopped part-way), as `verify`,
    `projections status` and `import` report it; none when every import finished."""
    return [str(run) for run in ledger.incomplete_imports()]


def _read_csv(text: str, rows: "_Rows") -> None:
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as e:
        rows.error(reader.line_num, "row", f"not readable as CSV: {e}")
        return
    if not records:
        rows.error(1, "header", f"the file is empty: line 1 must name the columns ({', '.join(COLUMNS)})")
        return
    header = [h.strip().lower() for h in records[0][1]]
    if not _header_ok(header, rows):
        return
    for line, cells in records[1:]:
        if not any(c.strip() for c in cells):
            continue  # a blank line, or a row of empty cells as spreadsheets leave at the end
        if len(cells) != len(header):
            rows.error(line, "row", f"has {len(cells)} cells where the header has {len(header)} (a comma inside "
                                    "an unquoted value?)")
            continue
        rows.add(line, dict(zip(header, cells)))


class JsonNumber(str):
    """A number in a JSON Lines file, kept as the text it was written as: an amount is then read by the same rule
    as typed money (1e3 is refused, 1250.5 is exact), and an integer too long for Python is not an error."""

    @property
    def whole(self) -> bool:
        return self.lstrip("-").isdigit()


def _read_jsonl(text: str, rows: "_Rows") -> None:
    for line, raw in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 may be inside a string
        if not raw.strip():
            continue
        try:
            obj = loads(raw, parse_float=JsonNumber, parse_int=JsonNumber)
        except json.JSONDecodeError as e:
            rows.error(line, "row", f"not valid JSON: {e.msg} (column {e.colno})")
            continue
        except TooDeep as e:
            rows.error(line, "row", f"not a row of a legacy file: {e}")
            continue
        if not isinstance(obj, dict):
            rows.error(line, "row", "not a JSON object with the columns as keys")
            continue
        unknown = [k for k in obj if k not in COLUMNS]
        for key in unknown:
            rows.error(line, brief(key, 40), _unknown(key))
        if not unknown:
            rows.add(line, obj)


def _header_ok(header: list[str], rows: "_Rows") -> bool:
    ok = True
    for i, name in enumerate(header, start=1):
        if not name:
            rows.error(1, "header", f"column {i} has no name")
            ok = False
        elif name not in COLUMNS:
            rows.error(1, brief(name, 40), _unknown(name))
            ok = False
        elif header.index(name) != i - 1:
            rows.error(1, name, "column named twice")
            ok = False
    for name in REQUIRED:
        if name not in header:
            rows.error(1, name, "required column missing from the header")
            ok = False
    return ok


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name, COLUMNS, n=1) if len(name) <= 100 else []
    return "unknown column" + (f" (did you mean {close[0]}?)" if close else f"; the columns are: {', '.join(COLUMNS)}")


class _Rows:
    """Turns each line's raw values into a LegacyCase, collecting every problem."""

    def __init__(self, file_name: str, default_policy: Policy, policies: Callable[[str], Policy]) -> None:
        self.file_name = file_name
        self.default_policy = default_policy
        self.policies = policies
        self.known: dict[str, Policy | str] = {}  # policy name -> profile, or why it cannot be used
        self.lines: dict[str, int] = {}  # reference -> the line it was first on
        self.reading = Reading()

    def error(self, line: int, column: str, reason: str) -> None:
        self.reading.errors.append(LineError(line, column, reason))

    def add(self, line: int, raw: dict[str, Any]) -> None:
        values: dict[str, Any] = {}
        problems = len(self.reading.errors)
        for column in COLUMNS:
            try:
                values[column] = self._value(column, raw.get(column))
            except ComplaintsError as e:
                self.error(line, column, str(e))
        ref = values.get("ref")
        if ref is not None:
            if ref in self.lines:
                self.error(line, "ref", f"{ref} is also on line {self.lines[ref]}")
            else:
                self.lines[ref] = line
        if len(self.reading.errors) > problems:
            return
        policy = values.pop("policy") or self.default_policy
        values["property_ref"] = values.pop("property")
        self.reading.cases.append(LegacyCase(line=line, source=f"{self.file_name} line {line}", policy=policy,
                                             **values))

    def _value(self, column: str, raw: Any) -> Any:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if column in REQUIRED:
                raise ComplaintsError("required")
            return None
        if column in AMOUNT_COLUMNS:
            if not isinstance(raw, str):
                raise ComplaintsError(f"{quoted(json.dumps(raw, default=str))} is not a sum of money")
            amount = exported_pounds(raw, allow_zero=True, what="amount")
            return amount or None  # 0.00: legacy systems fill the column when nothing was approved or paid
        if not isinstance(raw, str) or (isinstance(raw, JsonNumber) and not raw.whole):
            shown = raw if isinstance(raw, JsonNumber) else json.dumps(raw, default=str)
            raise ComplaintsError(f"{quoted(shown)} is not text")  # a whole number is: a numeric reference
        text = raw.strip()
        if column == "ref":
            return normalise_reference(text)
        if column in DATE_COLUMNS:
            return _date(text)
        if column in CHOICES:
            choice = "-".join(text.lower().split())  # "Partly upheld" -> partly-upheld, "In person" -> in-person
            if choice not in CHOICES[column]:
                raise ComplaintsError(f"{quoted(text)} is not one of: {', '.join(CHOICES[column])}")
            return choice
        if column == "policy":
            return self._policy(text)
        if column == "uprn":
            return property_uprn(text)
        return plain_text(text, "the text", TEXT_COLUMNS[column])

    def _policy(self, name: str) -> Policy:
        if name not in self.known:
            try:
                self.known[name] = self.policies(name)
            except ComplaintsError as e:
                self.known[name] = str(e)
        found = self.known[name]
        if isinstance(found, str):
            raise ComplaintsError(found)
        return found


def _date(text: str) -> date:
    """A date as UK exports write it, held to the ledger's range (values.within_dates); whether it is in the future
    is for the case's own rules, which name the step."""
    uk = UK_DATE.match(text)
    try:
        if uk:
            day, month, year = (int(g) for g in uk.groups())
            return within_dates(date(year, month, day), "")
        if ISO_DATE.match(text):
            return within_dates(date.fromisoformat(text), "")
    except ValueError:
        raise ComplaintsError(f"{quoted(text)} is not a real date") from None
    raise ComplaintsError(f"{quoted(text)} is not a date: use YYYY-MM-DD (or DD/MM/YYYY)")
