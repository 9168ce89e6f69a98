"""Fixtures for the unit suite: complaints built in memory, no database."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from complaints_ledger.domain.complaint import Complaint


@pytest.fixture
def receive(policy, today):
    """Receive a complaint under a shipped profile: `receive(date(2026, 3, 2), "aspire-2017", category=...)`.

    Each call gets a fresh reference, so cases in one test never share an id.
    """
    numbers = itertools.count(1)

    def make(received_on: date, profile: str = "hoc-2024", **details) -> Complaint:
        details.setdefault("complainant", "Ada Tenant")
        details.setdefault("channel", "phone")
        details.setdefault("summary", "Heating not working since the boiler was replaced")
        return Complaint.receive(
            ref=f"CMP-2026-{next(numbers):06d}",
            policy=policy(profile),
            received_on=received_on,
            today=today,
            actor="officer",
            **details,
        )

    return make
