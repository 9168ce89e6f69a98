"""The staff directory's rules, without a database: names, roles and logins, and that roles change only by
recorded grants and revocations."""

from __future__ import annotations

from datetime import date

import pytest

from complaints_ledger.domain.errors import InvalidAction
from complaints_ledger.domain.staff import StaffDirectory

ON = date(2026, 11, 23)


def directory_with_jo() -> StaffDirectory:
    d = StaffDirectory()
    d.add(name="  Jo   Officer ", role="officer", login="jo", on=ON, actor="admin")
    return d


def test_a_member_is_found_by_name_without_case_or_spacing_and_by_login():
    d = directory_with_jo()
    assert d.find("jo officer")["name"] == "Jo Officer"
    assert d.find("JO")["name"] == "Jo Officer"
    assert d.find("Sam") is None


def test_roles_are_granted_and_revoked_as_events_in_the_directory_s_order():
    d = directory_with_jo()
    d.grant(name="Jo Officer", role="director", on=ON, actor="admin")
    d.grant(name="jo officer", role="manager", on=ON, actor="admin")
    assert d.member("Jo Officer")["roles"] == ["officer", "manager", "director"]
    d.revoke(name="Jo Officer", role="officer", on=ON, actor="admin")
    assert d.member("Jo Officer")["roles"] == ["manager", "director"]
    events = [type(e).__name__ for e in d.collect_events()]
    assert events == ["Opened", "MemberAdded", "RoleGranted", "RoleGranted", "RoleRevoked"]


@pytest.mark.parametrize("action, message", [
    (lambda d: d.add(name="jo officer", role="manager", login=None, on=ON, actor="a"), "already in the staff"),
    (lambda d: d.add(name="Sam", role="officer", login="jo", on=ON, actor="a"), "already belongs to Jo Officer"),
    (lambda d: d.add(name="Sam", role="king", login=None, on=ON, actor="a"), "is not one of"),
    (lambda d: d.add(name="  ", role="officer", login=None, on=ON, actor="a"), "needs a name"),
    (lambda d: d.add(name="Sam", role="officer", login="drop table", on=ON, actor="a"), "not a database user"),
    (lambda d: d.grant(name="Sam", role="officer", on=ON, actor="a"), "not in the staff directory"),
    (lambda d: d.grant(name="Jo Officer", role="officer", on=ON, actor="a"), "already has the role officer"),
    (lambda d: d.revoke(name="Jo Officer", role="director", on=ON, actor="a"), "does not have the role director"),
])
def test_bad_changes_are_refused_and_record_nothing(action, message):
    d = directory_with_jo()
    d.collect_events()
    with pytest.raises(InvalidAction, match=message):
        action(d)
    assert d.collect_events() == []
