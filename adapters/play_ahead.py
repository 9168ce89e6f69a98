"""A bulk import's cases built in a worker process while this one saves: the two halves of `complaints simulate` on
two cores.

ComplaintsLedger.import_cases spends about as long building its cases (each random case generated and played
through the aggregate's verbs) as storing them (sealed, chained, appended). `in_worker` gives it an `ahead` that
forks a worker to do the building (the cases' iterable, the references chosen, the cases played) and hands back
each case as its events, while this process saves the batch before. The worker has its own copy of everything at the
fork, reads the database on its own connections (which numbers are held: read-only), and writes nothing: the ledger
is written by this process only, batch by batch as before, so a kill leaves what it always left.

What crosses the pipe is small: per case its reference, id, version, data subject, and each event as its class and
attribute values (the class's topic and attribute names once per import), so each event is rebuilt here as the
same class with the same attributes in the same order (stored as the same JSON). The case itself arrives as a shell:
only what saving reads (its id, version, new events, reference and data subject), never its state, since nothing
here reads that (the caller's `on_case` ran in the worker, where the case was whole; `finish`, run there at the end,
returns what the caller wants back from it, e.g. the random generator's state and the tallies).

The worker dies with this process (PR_SET_PDEATHSIG; a pipe with no reader stops it too), ignores Ctrl-C (this
process handles it, and stops the worker), and an error in it comes back as the error: a ComplaintsError as itself,
anything else as one WorkerFailed line. Used only where a second process can open the same database (a file or a
server, not an in-memory SQLite) and there is a second core; COMPLAINTS_PLAY_AHEAD=0 turns it off.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import signal
from typing import Any, Callable, Iterator

from eventsourcing.utils import get_topic, resolve_topic

from ..domain.complaint import Complaint
from ..domain.errors import ComplaintsError
from ..domain.ledger import ComplaintsLedger, PlayAhead, Played

CHUNK = 50  # cases per message: a batch of 200 aggregates is ~100 cases, so the worker plays the next as one saves
PR_SET_PDEATHSIG = 1


class WorkerFailed(ComplaintsError):
    """The worker building the cases failed or stopped; nothing after the last saved batch was written."""


def in_worker(ledger: ComplaintsLedger, *, finish: Callable[[], Any] | None = None,
              finished: Callable[[Any], None] | None = None) -> PlayAhead | None:
    """import_cases' `ahead` for this ledger, or None where it cannot help (one core, no fork, a database only this
    process can open, COMPLAINTS_PLAY_AHEAD=0). `finish()` runs in the worker after the last case; `finished(what it
    returned)` runs here once every case has arrived."""
    engines = _engines(ledger)
    if (os.environ.get("COMPLAINTS_PLAY_AHEAD", "1") == "0" or engines is None or _cores() < 2
            or "fork" not in multiprocessing.get_all_start_methods()):
        return None

    def ahead(played: Iterator[Played]) -> Iterator[Played]:
        context = multiprocessing.get_context("fork")
        reader, writer = context.Pipe(duplex=False)
        worker = context.Process(target=_work, args=(played, writer, os.getpid(), engines, finish), daemon=True,
                                 name="complaints-play-ahead")
        worker.start()
        writer.close()
        try:
            yield from _received(reader, worker, finished)
        finally:
            reader.close()
            if worker.is_alive():
                worker.kill()
            worker.join()

    return ahead


def _engines(ledger: Any) -> list[Any] | None:
    """The SQLAlchemy engines the worker must reopen its own connections on; None if the database cannot be opened
    by a second process (an in-memory SQLite, a store that is not SQLAlchemy's)."""
    engines = []
    for recorder in (getattr(ledger, "recorder", None), getattr(getattr(ledger, "snapshots", None), "recorder", None)):
        datastore = getattr(recorder, "datastore", None)
        if recorder is None:
            continue
        engine = getattr(datastore, "engine", None)
        if engine is None:
            return None
        url = engine.url
        if url.get_backend_name() == "sqlite" and (url.database in (None, "", ":memory:")
                                                   or "mode=memory" in str(url)):
            return None
        if engine not in engines:
            engines.append(engine)
    return engines or None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------------- the worker
def _work(played: Iterator[Played], writer: Any, parent: int, engines: list[Any],
          finish: Callable[[], Any] | None) -> None:
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for engine in engines:  # the parent's pooled connections stay the parent's
        engine.dispose(close=False)
    packer = _Packer()
    chunk: list[tuple[Any, ...]] = []
    try:
        for year, skip, policy, case in played:
            chunk.append(packer.case(year, skip, policy, case))
            if len(chunk) >= CHUNK:
                writer.send_bytes(pickle.dumps(("cases", packer.news(), chunk), pickle.HIGHEST_PROTOCOL))
                chunk = []
        writer.send_bytes(pickle.dumps(("end", packer.news(), chunk, finish() if finish else None),
                                       pickle.HIGHEST_PROTOCOL))
    except BrokenPipeError:  # the parent stopped reading: it has gone, or given up on the import
        pass
    except BaseException as e:  # noqa: BLE001 - every failure goes back to the parent, which reports it
        try:
            writer.send_bytes(pickle.dumps(("error", _portable(e)), pickle.HIGHEST_PROTOCOL))
        except (OSError, pickle.PicklingError):
            pass
    finally:
        writer.close()


def _die_with(parent: int) -> None:
    """Be killed when the parent dies, however it dies (Linux); if it is gone already, go."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # elsewhere: the pipe with no reader stops the worker at its next message
    if os.getppid() != parent:
        os._exit(1)


def _portable(error: BaseException) -> BaseException:
    """The error as the parent can raise it: a ComplaintsError as itself where it pickles; else one line."""
    if isinstance(error, ComplaintsError):
        try:
            pickle.loads(pickle.dumps(error))
            return error
        except Exception:  # noqa: BLE001 - an error class that does not round-trip: its message will do
            return WorkerFailed(str(error))
    line = (str(error).strip().splitlines() or [""])[0]
    return WorkerFailed(f"building the cases failed in the worker process: {type(error).__name__}"
                        + (f": {line}" if line else ""))


class _Packer:
    """Cases as plain values: each event as (kind, attribute values), a kind being its class and attribute names,
    sent once; each profile once by content hash."""

    def __init__(self) -> None:
        self.kinds: dict[tuple[type, tuple[str, ...]], int] = {}
        self.policies: set[str] = set()
        self._new: list[tuple[str, Any, Any]] = []

    def case(self, year: int, skip: int, policy: Any, case: Complaint) -> tuple[Any, ...]:
        if policy.content_hash not in self.policies:
            self.policies.add(policy.content_hash)
            self._new.append(("policy", policy.content_hash, policy))
        events = []
        for event in case.collect_events():
            state = vars(event)
            kind = (type(event), tuple(state))
            number = self.kinds.get(kind)
            if number is None:
                number = self.kinds[kind] = len(self.kinds)
                self._new.append(("kind", get_topic(kind[0]), kind[1]))
            events.append((number, tuple(state.values())))
        return (year, skip, policy.content_hash, case.id, case.version, case.ref, case.complainant_id,
                getattr(case, "new_complainant", False), events)

    def news(self) -> list[tuple[str, Any, Any]]:
        news, self._new = self._new, []
        return news


# ---------------------------------------------------------------------------------------------------- the parent
def _received(reader: Any, worker: Any, finished: Callable[[Any], None] | None) -> Iterator[Played]:
    kinds: list[tuple[type, tuple[str, ...]]] = []
    policies: dict[str, Any] = {}
    new = object.__new__
    while True:
        try:
            message = pickle.loads(reader.recv_bytes())
        except EOFError:
            worker.join()
            code = worker.exitcode
            how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with status {code}"
            raise WorkerFailed(f"the worker process building the cases {how} before the last case") from None
        if message[0] == "error":
            raise message[1]
        for what, name, value in message[1]:
            if what == "kind":
                kinds.append((resolve_topic(name), value))
            else:
                policies[name] = value
        for year, skip, content_hash, case_id, version, ref, complainant_id, new_complainant, events in message[2]:
            rebuilt = []
            for number, values in events:
                cls, names = kinds[number]
                event = new(cls)
                event.__dict__.update(zip(names, values))
                rebuilt.append(event)
            yield year, skip, policies[content_hash], _shell(case_id, version, ref, complainant_id, new_complainant,
                                                             rebuilt)
        if message[0] == "end":
            if finished is not None:
                finished(message[3])
            return


def _shell(case_id: Any, version: int, ref: str, complainant_id: Any, new_complainant: bool,
           events: list[Any]) -> Complaint:
    """The case as saving sees it (its id, version, new events, reference and data subject), without its state."""
    case = object.__new__(Complaint)
    case.__dict__.update(_id=case_id, _version=version, _pending_events=events, ref=ref,
                         complainant_id=complainant_id, new_complainant=new_complainant)
    return case
