"""Webhooks: the event stream POSTed to a receiver, one event per request, signed, retried, and parked when it keeps
failing (docs/event-stream.md, "Webhooks").

Delivery is at-least-once and in log order: the deliverer's named cursor moves past an event only once the receiver
has answered 2xx or the event has been parked in the dead-letter table, so a stop, a kill or a receiver that is down
repeats events and never loses one. A parked event is the record that it still needs delivering: `complaints events
dead-letters --requeue` queues it for the next run of the same cursor, which sends it (freshly signed) first.
Only the standard library speaks HTTP, so a webhook adds no dependency.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import random
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

import sqlalchemy as sa

from ..domain.errors import InvalidAction
from ..domain.values import quoted
from ..domain.stream import Reconnect, StopWaiting, StreamEvent, event_names
from .cursors import CursorKeeper, CursorStore, cursor_store, upsert
from .persistence import as_utc, create_if_missing, ledger_table_name

SIGNATURE_HEADER = "X-Complaints-Signature"
TIMESTAMP_HEADER = "X-Complaints-Timestamp"
POSITION_HEADER = "X-Complaints-Position"
EVENT_HEADER = "X-Complaints-Event"
TOLERANCE_SECONDS = 300  # what receivers are told to accept: a signature older than this may be a replay
PARKED, QUEUED, DELIVERED = "parked", "queued", "delivered"
T = TypeVar("T")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value: the timestamp is signed with the body, so a captured request cannot be
    replayed later under a new timestamp."""
    return "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def check_url(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and url.isprintable()
    except ValueError:  # e.g. an unclosed [IPv6 address
        usable = False
    if not usable:
        raise InvalidAction(f"--url must be an http:// or https:// address, not {quoted(url)}")
    return url.strip()


def user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"complaints-ledger/{version('complaints-ledger')}"
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without installing
        return "complaints-ledger"


# ---------------------------------------------------------------------------------------------------- dead letters
def dead_letters_table(metadata: sa.MetaData, events_table: str) -> sa.Table:
    return sa.Table(
        ledger_table_name(events_table, "dead_letters"), metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cursor_name", sa.String(200), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("ref", sa.String(100)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requeued_at", sa.DateTime(timezone=True)),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        # A kill between parking and moving the cursor repeats the event: it must find its own row, not add one.
        sa.UniqueConstraint("cursor_name", "position"),
    )


class DeadLetterStore:
    """Events a deliverer gave up on, per cursor; kept after redelivery (status `delivered`) for the audit trail."""

    def __init__(self, engine: sa.Engine, events_table: str):
        self.engine = engine
        self.table = dead_letters_table(sa.MetaData(), events_table)
        self._created = False

    def _ensure_table(self, create: bool = True) -> bool:
        """Made on first use; readers (`dead-letters` while a deliverer starts, a read-only role) never make it,
        and two deliverers starting together both succeed."""
        if not self._created:
            if not create:
                if not sa.inspect(self.engine).has_table(self.table.name):
                    return False
            else:
                create_if_missing(self.engine, self.table)
            self._created = True
        return True

    def park(self, *, cursor: str, position: int, url: str, event: str, ref: str | None, attempts: int,
             error: str) -> int:
        self._ensure_table()
        t, now = self.table, datetime.now(timezone.utc)
        insert = upsert(self.engine, t).values(
            cursor_name=cursor, position=position, url=url, event=event, ref=ref, attempts=attempts,
            last_error=error, status=PARKED, parked_at=now)
        with self.engine.begin() as conn:
            conn.execute(insert.on_conflict_do_update(
                index_elements=["cursor_name", "position"],
                set_={"attempts": t.c.attempts + attempts, "last_error": error, "status": PARKED, "parked_at": now,
                      "url": url, "delivered_at": None}))
            return conn.execute(sa.select(t.c.id).where(t.c.cursor_name == cursor, t.c.position == position)).scalar()

    def park_again(self, letter_id: int, *, url: str, attempts: int, error: str) -> None:
        t = self.table
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == letter_id).values(
                attempts=t.c.attempts + attempts, last_error=error, status=PARKED, url=url,
                parked_at=datetime.now(timezone.utc)))

    def delivered(self, letter_id: int) -> None:
        t = self.table
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == letter_id).values(status=DELIVERED,
                                                                     delivered_at=datetime.now(timezone.utc)))

    def letters(self, cursor: str | None = None, statuses: tuple[str, ...] = (PARKED, QUEUED)) -> list[dict[str, Any]]:
        """Oldest event first; `cursor` None means every deliverer's."""
        if not self._ensure_table(create=False):
            return []
        t = self.table
        query = sa.select(t).where(t.c.status.in_(statuses)).order_by(t.c.cursor_name, t.c.position)
        if cursor is not None:
            query = query.where(t.c.cursor_name == cursor)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            for name in ("parked_at", "requeued_at", "delivered_at"):
                row[name] = as_utc(row[name])
        return rows

    def requeue(self, ids: list[int] | None, cursor: str | None = None) -> list[dict[str, Any]]:
        """Queue the given dead letters (None: every parked one, of `cursor` if given); all or none."""
        if not self._ensure_table(create=False):
            if ids:
                raise InvalidAction(f"no dead letter {ids[0]}: no webhook has parked any")
            return []
        t = self.table
        with self.engine.begin() as conn:
            if ids is None:
                query = sa.select(t.c.id).where(t.c.status == PARKED)
                if cursor is not None:
                    query = query.where(t.c.cursor_name == cursor)
                chosen = list(conn.execute(query).scalars())
            else:
                found = {r.id: r for r in conn.execute(sa.select(t.c.id, t.c.cursor_name, t.c.status)
                                                       .where(t.c.id.in_(ids)))}
                for i in ids:
                    if i not in found:
                        raise InvalidAction(f"no dead letter {i}: `complaints events dead-letters` lists them")
                    if cursor is not None and found[i].cursor_name != cursor:
                        raise InvalidAction(f"dead letter {i} belongs to cursor {quoted(found[i].cursor_name)}, "
                                            f"not {quoted(cursor)}")
                    if found[i].status == DELIVERED:
                        raise InvalidAction(f"dead letter {i} has already been delivered")
                chosen = sorted(set(ids))
            if chosen:
                conn.execute(t.update().where(t.c.id.in_(chosen)).values(status=QUEUED,
                                                                         requeued_at=datetime.now(timezone.utc)))
        return [r for r in self.letters(cursor, (QUEUED,)) if r["id"] in chosen]


def dead_letter_store(ledger: Any) -> DeadLetterStore:
    recorder = ledger.recorder
    return DeadLetterStore(recorder.datastore.engine, recorder.events_table_name)


# ---------------------------------------------------------------------------------------------------- delivering
@dataclass(frozen=True)
class DeliveryOptions:
    max_attempts: int = 5
    timeout: float = 10.0          # seconds to connect, and to wait for each part of the answer
    backoff: float = 1.0           # the first retry's delay; doubling, capped, with jitter
    backoff_cap: float = 60.0
    follow: bool = True            # False: deliver what the log holds now, then stop (--once)
    poll: float = 0.5
    personal_data: bool = True
    requeue_check: float = 5.0     # when following and idle, look for requeued dead letters this often


@dataclass
class DeliverySummary:
    cursor: str
    url: str
    delivered: int = 0
    parked: int = 0
    redelivered: int = 0           # requeued dead letters delivered
    parked_again: int = 0
    position: int | None = None    # where the cursor stands

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Outcome:
    kind: str                      # "delivered", "failed" or "stopped"
    attempts: int
    error: str = ""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would follow a 301/302 as a GET without the body and count the GET's 200: a redirect is a failure."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Deliverer:
    """POSTs each event after its cursor to one URL, in order, until stopped (or caught up, if not following)."""

    def __init__(self, ledger: Any, url: str, secret: bytes, *, cursor: str | None = None,
                 events: tuple[str, ...] | list[str] = (), options: DeliveryOptions = DeliveryOptions(),
                 report: Callable[[str], None] | None = None, sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None,
                 reconnect: Reconnect | None = None):
        if not secret:
            raise InvalidAction("the webhook secret is empty")
        if options.max_attempts < 1:
            raise InvalidAction("--max-attempts must be at least 1")
        self.ledger, self.url, self._secret = ledger, check_url(url), secret
        name = cursor if cursor is not None else f"deliver:{self.url}"
        if cursor is None and len(name) > 200:
            raise InvalidAction("the URL is too long to name the cursor after: give one with --cursor NAME")
        self.cursor = CursorStore.check_name(name)
        self.events = event_names(list(events))
        self.options = options
        self._report = report or (lambda line: None)
        self._stopped = threading.Event()
        self._sleep = sleep or self._stopped.wait  # a stop cuts a backoff short
        self._clock = clock
        self._rng = rng or random.Random()
        self._opener = urllib.request.build_opener(_NoRedirects())
        self._user_agent = user_agent()
        self._subscription: Any = None
        self._next_requeue_check = 0.0
        self.cursors: CursorStore = cursor_store(ledger)
        self.dead_letters = dead_letter_store(ledger)
        self.summary = DeliverySummary(cursor=self.cursor, url=self.url)
        # A following deliverer waits out a lost database connection (a restart, a terminated session): every
        # database step below is retried through it; the receiver's failures are a different matter (retries and
        # dead letters). `--once` (not following) ends on it, for cron to report.
        if reconnect is None:
            reconnect = Reconnect(lost=getattr(ledger, "connection_lost", lambda error: None),
                                  report=self._report) if options.follow else Reconnect.never()
        self.reconnect = reconnect

    # -------------------------------------------------------------------------------------------- control
    def stop(self) -> None:
        """From any thread or a signal handler: finish the request in flight, then stop before the next event."""
        self._stopped.set()
        if self._subscription is not None:
            self._subscription.stop()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def run(self) -> DeliverySummary:
        # Saved every second, when caught up and on a stop: a kill repeats at most a second's events, which
        # receivers discard by position. Saved at once after a park, so a restart does not retry a parked event
        # (and if a kill falls in between, the dead letter is unique per cursor and position).
        try:
            keeper = self._database(lambda: CursorKeeper(self.cursors, self.cursor))
            self._database(self._send_queued)
        except StopWaiting:
            return self.summary

        def caught_up(position: int) -> None:
            keeper.save(position)  # past events the filter skipped, so a restart need not read them again
            if self.options.follow and time.monotonic() >= self._next_requeue_check:
                self._send_queued()

        subscription = self.ledger.subscribe(
            after=keeper.saved or 0, events=self.events, follow=self.options.follow,
            personal_data=self.options.personal_data, poll=self.options.poll, on_caught_up=caught_up,
            reconnect=self.reconnect)
        self._subscription = subscription
        if self.stopped:
            subscription.stop()
        with subscription:
            try:
                for item in subscription:
                    outcome = self._send_event(item)
                    if outcome.kind == "stopped":
                        break
                    self._database(lambda: keeper.handed_on(item.position))  # noqa: B023 - run at once
                    if outcome.kind == "failed":
                        self._database(keeper.save)
            except StopWaiting:  # stopped while the database was unreachable: the cursor only lags
                pass
        self._save_on_the_way_out(keeper)
        self.summary.position = keeper.saved
        return self.summary

    def _database(self, step: Callable[[], T]) -> T:
        """A step that touches the database, retried through an outage (StopWaiting if stopped meanwhile)."""
        return self.reconnect.run(step, self._stopped.is_set)

    def _save_on_the_way_out(self, keeper: CursorKeeper) -> None:
        """Stopping: save the cursor once more; if the database is unreachable just then, say what a restart
        will repeat (nothing is lost: the cursor only lags)."""
        try:
            keeper.save()
        except Exception as error:  # noqa: BLE001 - only an outage is forgiven here
            reason = self.reconnect.lost(error)
            if reason is None:
                raise
            self._report(f"cursor {self.cursor!r} not saved ({reason}): a restart repeats the events after "
                         f"position {keeper.saved or 0}")

    # -------------------------------------------------------------------------------------------- the work
    def _send_event(self, item: StreamEvent) -> _Outcome:
        label = f"position {item.position} {item.event} {item.ref or '-'}"
        body = item.as_json()
        outcome = self._send(body.encode("utf-8"), item.position, item.event, label)
        if outcome.kind == "delivered":
            self.summary.delivered += 1
        elif outcome.kind == "failed":
            letter = self._database(lambda: self.dead_letters.park(  # StopWaiting: not parked, sent again later
                cursor=self.cursor, position=item.position, url=self.url, event=item.event, ref=item.ref,
                attempts=outcome.attempts, error=outcome.error))
            self.summary.parked += 1
            self._report(f"parked {label}: {outcome.error} after {outcome.attempts} attempts as dead letter "
                         f"{letter} (`complaints events dead-letters --requeue {letter}` sends it again)")
        return outcome

    def _send_queued(self) -> None:
        """Requeued dead letters of this cursor, oldest event first, before anything newer."""
        self._next_requeue_check = time.monotonic() + self.options.requeue_check
        for letter in self.dead_letters.letters(self.cursor, (QUEUED,)):
            if self.stopped:
                return
            ref = letter["ref"] or "-"
            label = f"dead letter {letter['id']}, position {letter['position']} {letter['event']} {ref}"
            body = self._body_at(letter["position"])
            outcome = self._send(body.encode("utf-8"), letter["position"], letter["event"], label)
            if outcome.kind == "stopped":
                return
            if outcome.kind == "delivered":
                self.dead_letters.delivered(letter["id"])
                self.summary.redelivered += 1
            else:
                self.dead_letters.park_again(letter["id"], url=self.url, attempts=outcome.attempts,
                                             error=outcome.error)
                self.summary.parked_again += 1
                self._report(f"parked again: {label}: {outcome.error} after {outcome.attempts} more attempts")

    def _body_at(self, position: int) -> str:
        """A dead letter's body, made again from the log: byte for byte what was first sent, unless the person's
        data has since been erased (a dead letter keeps no copy of anyone's details for an erasure to miss)."""
        with self.ledger.subscribe(after=position - 1, follow=False, limit=1,
                                   personal_data=self.options.personal_data) as again:
            items = list(again)
        if not items or items[0].position != position:  # the log is append-only: this means a different ledger
            raise InvalidAction(f"position {position} is not in this ledger's stream")
        return items[0].as_json()

    def _send(self, body: bytes, position: int, event: str, label: str) -> _Outcome:
        """POST until a 2xx, `max_attempts` failures, or a stop."""
        attempts, error = self.options.max_attempts, ""
        for attempt in range(1, attempts + 1):
            if self.stopped:
                return _Outcome("stopped", attempt - 1, error)
            status, error = self._post(body, position, event)
            if not error:
                self._report(f"delivered {label} (HTTP {status}"
                             f"{f', attempt {attempt}' if attempt > 1 else ''})")
                return _Outcome("delivered", attempt)
            if attempt < attempts:
                delay = self.backoff_delay(attempt)
                self._report(f"retrying {label}: {error} (attempt {attempt} of {attempts}; next in {delay:.1f}s)")
                self._sleep(delay)
        return _Outcome("failed", attempts, error)

    def backoff_delay(self, failures: int) -> float:
        """After the n-th failure: base × 2^(n-1), capped, then between half and all of it (so that deliverers
        that failed together do not retry together)."""
        delay = min(self.options.backoff_cap, self.options.backoff * 2 ** (failures - 1))
        return delay * (0.5 + self._rng.random() / 2)

    def _post(self, body: bytes, position: int, event: str) -> tuple[int | None, str]:
        """One attempt: (HTTP status, "") on a 2xx, else (status or None, what went wrong)."""
        timestamp = str(int(self._clock()))
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            POSITION_HEADER: str(position),
            EVENT_HEADER: event,
        })
        try:
            with self._opener.open(request, timeout=self.options.timeout) as response:
                response.read(65536)  # let the receiver finish its answer; its content is not used
                return response.status, ""
        except urllib.error.HTTPError as e:
            e.close()
            return e.code, f"HTTP {e.code}"
        except urllib.error.URLError as e:
            return None, self._describe(e.reason)
        except (OSError, http.client.HTTPException) as e:
            return None, self._describe(e)

    def _describe(self, problem: Any) -> str:
        """What went wrong, in words an operator can act on ("timed out after 10s", "connection refused")."""
        if isinstance(problem, TimeoutError):
            return f"timed out after {self.options.timeout:g}s"
        if isinstance(problem, ConnectionRefusedError):
            return "connection refused"
        if isinstance(problem, http.client.RemoteDisconnected):
            return "connection closed without a response"
        if isinstance(problem, ConnectionResetError):
            return "connection reset"
        if isinstance(problem, socket.gaierror):
            return f"cannot resolve {urlsplit(self.url).hostname}"
        if isinstance(problem, ssl.SSLError):
            return f"TLS error: {getattr(problem, 'reason', None) or problem}"
        text = str(problem).strip()
        return text.splitlines()[0] if text else type(problem).__name__
