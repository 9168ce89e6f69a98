"""Code run in child processes by the concurrency tests (importable, so the 'spawn' start method can find it)."""

from __future__ import annotations

from datetime import date

RECEIVED_ON = date(2026, 11, 20)
TODAY = date(2026, 11, 22)


def _today() -> date:
    return TODAY


def receive_many(url: str, count: int, start, results) -> None:
    """Open the ledger, wait for every other worker, then receive `count` complaints; report refs or the error."""
    refs: list[str] = []
    try:
        from complaints_ledger.adapters.persistence import open_ledger

        ledger = open_ledger(url, today=_today)
        try:
            start.wait(timeout=60)
            for i in range(count):
                refs.append(ledger.receive(complainant=f"Worker resident {i}", channel="web",
                                           summary="Concurrent receipt", actor="worker", received_on=RECEIVED_ON))
        finally:
            ledger.close()
        results.put(("ok", refs))
    except BaseException as e:  # noqa: BLE001 - report anything to the parent, precisely
        results.put(("error", refs, f"{type(e).__module__}.{type(e).__name__}: {e}"))
