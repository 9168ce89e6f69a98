"""The staff directory: who works on complaints and in what role, itself an audit trail.

Who decided and with what authority (OHG 3.1-3.2: a Director decides refusals and deviations; Aspire 3.5: a Head
of Service approves compensation) can only be shown if roles are recorded as they were at the time, so granting
and revoking a role are events like any other, never edits.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .complaint import NAMESPACE, not_recorded_before
from .errors import InvalidAction
from .values import plain_text, quoted
from .vocabulary import STAFF_ROLES

STAFF_ADMIN_ROLES = ("head-of-service", "director")  # who keeps the directory once it exists


def staff_name(name: str) -> str:
    """A person's name as the directory keeps it: trimmed, single-spaced."""
    if name is None or (isinstance(name, str) and not name.strip()):
        raise InvalidAction("a staff member needs a name")
    return " ".join(plain_text(name, "a staff member's name", "name").split())  # type: ignore[union-attr]


def _role(role: str) -> str:
    role = str(role or "").strip().lower()
    if role not in STAFF_ROLES:
        raise InvalidAction(f"role {quoted(role)} is not one of: {', '.join(STAFF_ROLES)}")
    return role


def _login(login: str | None) -> str | None:
    if login is None:
        return None
    login = str(login).strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.@-]{0,62}", login):
        raise InvalidAction(f"login {quoted(login)} is not a database user name")
    return login


class StaffDirectory(Aggregate):
    """Every staff member with their current roles (one directory per ledger)."""

    @staticmethod
    def create_id() -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE, "staff-directory")

    @event("Opened")
    def __init__(self) -> None:
        self.members: dict[str, dict[str, Any]] = {}  # key: name in lower case

    # ------------------------------------------------------------------------------------------------ queries
    def find(self, name_or_login: str) -> dict[str, Any] | None:
        """The member with this name or database login (names compare without case)."""
        key = " ".join(str(name_or_login).split()).lower()
        if key in self.members:
            return self.members[key]
        return next((m for m in self.members.values() if m["login"] and m["login"].lower() == key), None)

    def member(self, name: str) -> dict[str, Any]:
        found = self.find(name)
        if found is None:
            raise InvalidAction(f"{staff_name(name)} is not in the staff directory (complaints staff add)")
        return found

    # ------------------------------------------------------------------------------------------------ commands
    def add(self, *, name: str, role: str, login: str | None, on: date, actor: str,
            authenticated: bool = False) -> None:
        name, role, login = staff_name(name), _role(role), _login(login)
        existing = self.find(name)
        if existing is not None:
            raise InvalidAction(f"{existing['name']} is already in the staff directory")
        if login and (holder := self.find(login)) is not None:
            raise InvalidAction(f"login {login} already belongs to {holder['name']}")
        self._added(name=name, role=role, login=login, occurred_on=on, actor=actor, authenticated=authenticated)

    def grant(self, *, name: str, role: str, on: date, actor: str, authenticated: bool = False) -> None:
        member, role = self.member(name), _role(role)
        if role in member["roles"]:
            raise InvalidAction(f"{member['name']} already has the role {role}")
        self._granted(name=member["name"], role=role, occurred_on=on, actor=actor, authenticated=authenticated)

    def revoke(self, *, name: str, role: str, on: date, actor: str, authenticated: bool = False) -> None:
        member, role = self.member(name), _role(role)
        if role not in member["roles"]:
            raise InvalidAction(f"{member['name']} does not have the role {role}")
        self._revoked(name=member["name"], role=role, occurred_on=on, actor=actor, authenticated=authenticated)

    # ------------------------------------------------------------------------------------------------ events
    # v2 of each records `authenticated` (see complaint.py's AUTHORITY_EVENTS): None for changes stored before it.
    class MemberAdded(Aggregate.Event):
        """A person joined the staff directory with a role. v2: `authenticated`."""

        class_version = 2
        name: str
        role: str
        login: str | None
        occurred_on: date
        actor: str
        authenticated: bool | None

        upcast_v1_v2 = not_recorded_before("authenticated")

    class RoleGranted(Aggregate.Event):
        """A staff member was given another role. v2: `authenticated`."""

        class_version = 2
        name: str
        role: str
        occurred_on: date
        actor: str
        authenticated: bool | None

        upcast_v1_v2 = not_recorded_before("authenticated")

    class RoleRevoked(Aggregate.Event):
        """A role was taken from a staff member. v2: `authenticated`."""

        class_version = 2
        name: str
        role: str
        occurred_on: date
        actor: str
        authenticated: bool | None

        upcast_v1_v2 = not_recorded_before("authenticated")

    @event(MemberAdded)
    def _added(self, name: str, role: str, login: str | None, occurred_on: date, actor: str,
               authenticated: bool | None) -> None:
        self.members[name.lower()] = {"name": name, "login": login, "roles": [role], "added_on": occurred_on}

    @event(RoleGranted)
    def _granted(self, name: str, role: str, occurred_on: date, actor: str, authenticated: bool | None) -> None:
        roles = self.members[name.lower()]["roles"]
        roles.append(role)
        roles.sort(key=STAFF_ROLES.index)

    @event(RoleRevoked)
    def _revoked(self, name: str, role: str, occurred_on: date, actor: str, authenticated: bool | None) -> None:
        self.members[name.lower()]["roles"].remove(role)


STAFF_EVENTS = ("MemberAdded", "RoleGranted", "RoleRevoked")  # the directory's authority-bearing changes
