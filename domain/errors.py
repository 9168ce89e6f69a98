"""Errors a complaints officer can read: each message says what is wrong and, where it helps, what to do."""

from __future__ import annotations


class ComplaintsError(Exception):
    """Base class for every error the ledger reports to a user."""


class InvalidAction(ComplaintsError):
    """The action breaks a rule of the procedure or of the case's history."""


class InvalidDate(InvalidAction):
    """A business date that cannot be right (future, before receipt, out of order)."""


class InvalidAmount(InvalidAction):
    """A sum of money that is not a positive amount in pounds and pence."""


class PolicyError(ComplaintsError):
    """A policy profile is unknown or malformed."""


class UnknownReference(ComplaintsError):
    """No complaint has this reference."""


class DuplicateReference(ComplaintsError):
    """A complaint with this reference already exists."""


class ConcurrentChange(ComplaintsError):
    """Someone else changed the case between our read and our write."""


class LedgerUnavailable(ComplaintsError):
    """The database cannot be reached or opened."""


class NotAuthorised(ComplaintsError):
    """The actor does not hold a role the case's policy gives that decision to."""
