"""Fixtures for the integration suite: real ledgers on SQLite and PostgreSQL (see tests/conftest.py)."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any, Callable

import pytest

from complaints_ledger.adapters import policy_files
from complaints_ledger.domain.policy import Policy


@pytest.fixture
def receive() -> Callable[..., str]:
    """Log a complaint on a ledger with sensible defaults: `receive(ledger, received_on=date(2026, 3, 2))`."""

    def make(ledger, **details: Any) -> str:
        details.setdefault("complainant", "Ada Tenant")
        details.setdefault("channel", "phone")
        details.setdefault("summary", "Heating not working since the boiler was replaced")
        details.setdefault("actor", "Jo Officer")
        return ledger.receive(**details)

    return make


@pytest.fixture
def revised_hoc() -> Policy:
    """A later revision of the shipped Code 2024 profile: same name, new version, different deadlines and caps.

    Stage 1: acknowledge within 3 working days (was 5), respond within 15 (was 10), extensions capped at 2 (was 10).
    """
    data = copy.deepcopy(policy_files.load_shipped("hoc-2024").data)
    data["version"] = "2026.9-test"
    stage1 = data["stages"][0]
    stage1["extension_cap"] = 2
    for m in stage1["milestones"]:
        m["offset"] = {"acknowledge": 3, "respond": 15}[m["milestone"]]
    policy = Policy.from_dict(data)
    assert policy.name == "hoc-2024"
    assert policy.content_hash != policy_files.load_shipped("hoc-2024").content_hash
    return policy


@pytest.fixture
def received_19_dec_2025() -> date:
    """The Code's worked example: a complaint received by phone on Friday 19 December 2025 (ack due 30 Dec)."""
    return date(2025, 12, 19)
