"""Small aggregates that keep the ledger's own bookkeeping consistent under concurrent writers."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .complaint import NAMESPACE
from .lean_events import lean_commands


@lean_commands
class ReferenceSequence(Aggregate):
    """Issues sequential references per prefix and year (CMP-2026-000042).

    Every issued number is an event, so two processes issuing at once collide on the sequence's next version and
    one of them retries: no two cases can share a number.
    """

    @staticmethod
    def create_id(prefix: str, year: int) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE, f"reference-sequence:{prefix}-{year}")

    @event("Started")
    def __init__(self, *, prefix: str, year: int) -> None:
        self.prefix = prefix
        self.year = year
        self.last = 0

    def format(self, number: int) -> str:
        return f"{self.prefix}-{self.year}-{number:06d}"

    def issue(self, skip: int = 0) -> str:
        """Take the next number (after `skip` numbers already taken by imported cases)."""
        number = self.last + 1 + skip
        self._issued(number=number)
        return self.format(number)

    @event("Issued")
    def _issued(self, number: int) -> None:
        self.last = number


class PolicySnapshot(Aggregate):
    """The exact policy profile a case was received under, stored once per content hash.

    Cases pin (name, version, hash); loading the snapshot by hash means editing or deleting a profile file later
    never changes an existing case's deadlines.
    """

    @staticmethod
    def create_id(content_hash: str) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE, f"policy:{content_hash}")

    @event("Pinned")
    def __init__(self, *, content_hash: str, name: str, version: str, data: dict[str, Any]) -> None:
        self.content_hash = content_hash
        self.name = name
        self.version = version
        self.data = data
