"""The event stream integrations subscribe to: each complaint event as one versioned JSON object, in log order.

An integration (a CRM, a repairs system, a data warehouse) reads the notification log from a position it keeps, so
it can stop and resume without missing anything. Positions are the log's notification ids: they increase in commit
order but may have gaps (a rolled-back insert uses up an id), so a reader always asks for "after N", never "N + 1".
Internal aggregates (reference sequences, stored profiles, the staff directory, data-subject bookkeeping) are not
streamed; an erasure is, so that systems holding copies of a person's details learn that they must erase them too.

The envelope is version 1; each event type's `details` are versioned by its class_version (events stored under an
older version are upcast before they are streamed, so a consumer only ever sees the current shape).
"""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Iterator, Protocol, TypeVar

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from .complaint import ERASED, PERSONAL_DATA, Complaint, Feedback
from .data_subject import DataSubject
from .errors import InvalidAction, LedgerUnavailable
from .values import json_default, quoted

STREAM_VERSION = 1
SCHEMA_FILE = "event-stream.schema.json"
META = ("originator_id", "originator_version", "originator_topic", "timestamp", "occurred_on", "actor")
PAGE = 500


def _event_classes(aggregate: type) -> dict[str, type]:
    found = {}
    for name in dir(aggregate):
        cls = getattr(aggregate, name)
        if (isinstance(cls, type) and issubclass(cls, Aggregate.Event) and cls.__qualname__ == f"{aggregate.__name__}.{name}"
                and name not in ("Event", "Created")):
            found[name] = cls
    return found


# What the stream carries, by event name: every step of a complaint, feedback, and erasures.
STREAMED: dict[str, type] = {
    **_event_classes(Complaint),
    **_event_classes(Feedback),
    "PersonalDataErased": DataSubject.PersonalDataErased,
}
TOPICS = {name: get_topic(cls) for name, cls in STREAMED.items()}
_NAME_OF_CLASS = {cls: name for name, cls in STREAMED.items()}


def event_names(requested: list[str] | tuple[str, ...] | None) -> list[str]:
    """Event type names as the stream spells them (case-insensitive in); an unknown one is an error naming it."""
    if not requested:
        return []
    by_lower = {n.lower(): n for n in STREAMED}
    names = []
    for r in requested:
        name = by_lower.get(r.strip().lower())
        if name is None:
            raise InvalidAction(f"unknown event type {quoted(r)}: use one of {', '.join(sorted(STREAMED))}")
        names.append(name)
    return names


def schema_ref(name: str) -> str:
    return f"{SCHEMA_FILE}#/$defs/{name}.v{getattr(STREAMED[name], 'class_version', 1)}"


@dataclass(frozen=True)
class StreamEvent:
    """One event as integrations see it (docs/event-stream.md)."""

    position: int
    ref: str | None
    event: str
    version: int
    occurred_on: date | None
    recorded_at: datetime
    actor: str | None
    details: dict[str, Any]
    schema: str

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def as_json(self) -> str:
        """One compact line; dates ISO, money as pounds and pence strings (never floats)."""
        return json.dumps(self.as_dict(), default=json_default, ensure_ascii=False, separators=(",", ":"))


def stream_event(position: int, event: Any, ref: str | None, **extra: Any) -> StreamEvent:
    name = _NAME_OF_CLASS[type(event)]
    details = {k: v for k, v in event.__dict__.items() if k not in META} | extra
    return StreamEvent(position=position, ref=ref, event=name, version=event.originator_version,
                       occurred_on=getattr(event, "occurred_on", None), recorded_at=event.timestamp,
                       actor=getattr(event, "actor", None), details=details, schema=schema_ref(name))


# ---------------------------------------------------------------------------------------------------- schema
_TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "Decimal": {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "description": "pounds and pence"},
    "list[str]": {"type": "array", "items": {"type": "string"}},
    "list[dict[str, str]]": {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "string"}}},
}


def _json_type(annotation: str) -> dict[str, Any]:
    optional = annotation.endswith(" | None")
    base = dict(_TYPES[annotation.removesuffix(" | None")])
    if optional:
        return {"anyOf": [base, {"type": "null"}]}
    return base


def stream_schema() -> dict[str, Any]:
    """The JSON Schema of the stream, generated from the event classes themselves (so it cannot drift from them);
    `docs/event-stream.schema.json` is this, committed, and a test keeps the two equal."""
    defs: dict[str, Any] = {}
    for name, cls in sorted(STREAMED.items()):
        personal = PERSONAL_DATA.get(cls, ())
        props: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in META:
                continue
            prop = _json_type(f.type)
            if f.name in personal:
                prop["description"] = (f"personal data: {ERASED!r} once the complainant is erased, "
                                       "'[withheld]' when streamed without personal data")
            props[f.name] = prop
        if cls is DataSubject.PersonalDataErased:
            props["complainant_id"] = {"type": "string", "description": "whose personal data was erased"}
        version = getattr(cls, "class_version", 1)
        defs[f"{name}.v{version}"] = {
            "type": "object",
            "description": " ".join((cls.__dict__.get("__doc__") or name).strip().split("\n\n")[0].split()),
            "properties": {
                "event": {"const": name},
                "schema": {"const": schema_ref(name)},
                "details": {"type": "object", "properties": props, "required": sorted(props),
                            "additionalProperties": False},
            },
        }
    envelope = {
        "position": {"type": "integer", "minimum": 1,
                     "description": "the log position: increasing, unique, possibly with gaps; resume after it"},
        "ref": {"anyOf": [{"type": "string"}, {"type": "null"}],
                "description": "the case (CMP-…) or feedback (FBK-…) reference; null for an erasure"},
        "event": {"enum": sorted(STREAMED)},
        "version": {"type": "integer", "minimum": 1, "description": "the event's number within its case"},
        "occurred_on": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}],
                        "description": "the business date it happened"},
        "recorded_at": {"type": "string", "format": "date-time", "description": "when it was recorded (UTC)"},
        "actor": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "who recorded it"},
        "details": {"type": "object"},
        "schema": {"type": "string", "description": "this schema's definition for the event, by JSON pointer"},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_FILE,
        "title": f"complaints-ledger event stream, envelope version {STREAM_VERSION}",
        "description": "One JSON object per line (`complaints events`), per webhook POST, or per item of "
                       "`ComplaintsLedger.subscribe`. Fields may be added to `details` in a later event version "
                       "(its `schema` says which); consumers should ignore fields they do not know.",
        "type": "object",
        "properties": envelope,
        "required": sorted(envelope),
        "additionalProperties": False,
        "oneOf": [{"$ref": f"#/$defs/{key}"} for key in defs],
        "$defs": defs,
    }


# ---------------------------------------------------------------------------------------------------- subscribing
class Waiter(Protocol):
    """Blocks until new events may have been committed (or `timeout` passes); True if it was told so."""

    def wait(self, timeout: float) -> bool: ...

    def close(self) -> None: ...


class Polling:
    """The waiter when the database cannot notify (SQLite): only the poll interval wakes the reader."""

    def wait(self, timeout: float) -> bool:
        time.sleep(timeout)
        return False

    def close(self) -> None:
        pass


T = TypeVar("T")


class StopWaiting(Exception):
    """A stop (Ctrl-C, SIGTERM, stop()) came while the ledger was unreachable: end as on any other stop."""


def _span(seconds: float) -> str:
    """A wait in words a person reads at a glance: 42s, 3m 05s, 1h 02m."""
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    if whole < 3_600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3_600}h {whole % 3_600 // 60:02d}m"


@dataclass
class Reconnect:
    """How a follower waits out a lost connection to the ledger's database, so that a server restart or a dropped
    session is a pause and not the end of it (docs/event-stream.md, "Outages").

    `lost` is the adapters' judgement of an error: a line describing it when it means the connection was lost (or
    the database was briefly busy), None when it is a real failure that must end the follower. The domain knows no
    driver's exceptions, only this. Work that failed is retried after a capped, jittered, doubling delay; the
    first failure of an outage is reported in one line, the first success after it in another, and nothing in
    between. `give_up_after` (seconds) bounds the outage; None waits for ever. The work retried must be
    repeatable: a read of the log, or a write keyed by position (a cursor, a dead letter, a read model's page)."""

    lost: Callable[[BaseException], str | None]
    report: Callable[[str], None] = lambda line: None
    first_delay: float = 0.2
    max_delay: float = 5.0
    give_up_after: float | None = None
    position: Callable[[], int | None] | None = None  # where the follower resumes, for the 'back' line
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    _since: float | None = field(default=None, init=False)
    _failures: int = field(default=0, init=False)

    @classmethod
    def never(cls) -> "Reconnect":
        """No retrying: every error ends the work (a one-off read, `events` without --follow)."""
        return cls(lost=lambda error: None)

    @property
    def unreachable_since(self) -> float | None:
        return self._since

    def delay(self, failures: int) -> float:
        """After the n-th failure in a row: first_delay × 2^(n-1), capped, then between half and all of it, so that
        followers that lost the same server do not all knock at once when it comes back."""
        base = min(self.max_delay, self.first_delay * 2 ** min(failures - 1, 60))
        return base * (0.5 + self.rng.random() / 2)

    def run(self, work: Callable[[], T], stopped: Callable[[], bool] = lambda: False) -> T:
        """`work()`, retried for as long as it fails only for want of the database. Raises StopWaiting on a stop
        during an outage, and LedgerUnavailable once the outage has lasted `give_up_after`."""
        while True:
            try:
                result = work()
            except Exception as error:  # noqa: BLE001 - the adapters say which errors are an outage
                reason = self.lost(error)
                if reason is None:
                    raise
                self._wait_out(reason, stopped, error)
                continue
            if self._since is not None:
                self._since, self._failures = None, 0
                where = self.position() if self.position is not None else None
                self.report("connection to the ledger is back" +
                            (f"; resuming after position {where}" if where is not None else "; resuming"))
            return result

    def _wait_out(self, reason: str, stopped: Callable[[], bool], error: BaseException) -> None:
        now = self.clock()
        if self._since is None:
            self._since = now
            self.report(f"connection to the ledger lost: {reason}; retrying")
        self._failures += 1
        down = now - self._since
        pause = self.delay(self._failures)
        if self.give_up_after is not None:
            if down >= self.give_up_after:
                raise LedgerUnavailable(f"the ledger was unreachable for {_span(down)}, so this follower gave up "
                                        f"(the last error: {reason})") from None
            pause = min(pause, self.give_up_after - down)
        deadline = self.clock() + pause
        while (left := deadline - self.clock()) > 0:
            if stopped():
                raise StopWaiting from error
            time.sleep(min(left, 0.05))
        if stopped():
            raise StopWaiting from error


class Subscription(Iterator[StreamEvent]):
    """Catch up from the log after a position, then (if following) go live; stop() from any thread ends it.

    Each read takes the log's head first and reads only up to it: the event store gives out ids in commit order
    (PostgreSQL holds a table lock while inserting; SQLite has one writer), so once the head is visible every id
    below it is committed or will never exist, and `position` can move to the head even when a filter matched
    nothing there. `position` is always a point up to which every matching event has been handed out, so a
    consumer that stores it after handling an event (or when idle) resumes without loss.

    Reads of the log (and `on_caught_up`) go through `reconnect`: a lost connection is waited out and the read
    made again from `position`, so an outage neither ends the subscription nor skips or repeats an event."""

    def __init__(self, recorder: Any, mapper: Any, ref_of: Callable[[Any], str | None], *, after: int,
                 events: list[str], follow: bool, waiter: Waiter, poll: float = 0.5, limit: int | None = None,
                 on_caught_up: Callable[[int], None] | None = None, reconnect: Reconnect | None = None):
        self.position = after
        self.reconnect = reconnect or Reconnect.never()
        if self.reconnect.position is None:
            self.reconnect.position = lambda: self.position
        self._recorder, self._mapper, self._ref_of = recorder, mapper, ref_of
        self._topics = [TOPICS[n] for n in (events or STREAMED)]
        self._follow, self._waiter, self._poll = follow, waiter, poll
        self._left = limit
        self.on_caught_up = on_caught_up  # told the position whenever the log has nothing more for now
        self._buffer: deque[StreamEvent] = deque()
        self._keys: dict[Any, str | None] = {}
        self._page_end = after
        self._stopped = threading.Event()

    def __iter__(self) -> "Subscription":
        return self

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def stop(self) -> None:
        self._stopped.set()

    def stopped(self) -> bool:
        return self._stopped.is_set()

    def close(self) -> None:
        self.stop()
        self._waiter.close()

    def __next__(self) -> StreamEvent:
        while not self._stopped.is_set() and self._left != 0:
            if self._buffer:
                item = self._buffer.popleft()
                self.position = item.position
                if self._left is not None:
                    self._left -= 1
                return item
            self.position = self._page_end
            try:
                if self.reconnect.run(self._read_page, self._stopped.is_set):
                    continue
                if self.on_caught_up is not None:
                    caught_up, at = self.on_caught_up, self.position
                    self.reconnect.run(lambda: caught_up(at), self._stopped.is_set)
            except StopWaiting:
                break
            if not self._follow:
                break
            self._idle()
        raise StopIteration

    def _read_page(self) -> bool:
        """Buffer the next page; False when there was nothing new to read. All or nothing: a read that fails
        half-way (the connection lost) leaves the buffer and the page's end as they were, to be read again."""
        head = self._recorder.max_notification_id() or 0
        if head <= self.position:
            return False
        notifications = self._recorder.select_notifications(
            self.position, PAGE, stop=head, topics=self._topics, inclusive_of_start=False)
        page: list[StreamEvent] = []
        for n in notifications:
            event = self._mapper.to_domain_event(StoredEvent(
                originator_id=n.originator_id, originator_version=n.originator_version, topic=n.topic,
                state=n.state))
            if isinstance(event, DataSubject.PersonalDataErased):
                item = stream_event(n.id, event, None, complainant_id=self._key_of(event.originator_id))
            else:
                item = stream_event(n.id, event, self._key_of(event.originator_id, getattr(event, "ref", None)))
            page.append(item)
        self._buffer.extend(page)
        self._page_end = notifications[-1].id if len(notifications) == PAGE else head
        return True

    def _key_of(self, originator_id: Any, known: str | None = None) -> str | None:
        """The case's reference (or the data subject's id), remembered from its first event."""
        if known is not None:
            self._keys[originator_id] = known
            return known
        if originator_id not in self._keys:
            if len(self._keys) > 200_000:
                self._keys.clear()
            self._keys[originator_id] = self._ref_of(originator_id)
        return self._keys[originator_id]

    def _idle(self) -> None:
        idle(self._waiter, self._poll, self._stopped.is_set)


def idle(waiter: Waiter, poll: float, stopped: Callable[[], bool]) -> None:
    """Wait for a notification or the poll interval, in short slices so that a stop is prompt."""
    deadline = time.monotonic() + poll
    while not stopped() and (left := deadline - time.monotonic()) > 0:
        if waiter.wait(min(left, 0.25)):
            return
