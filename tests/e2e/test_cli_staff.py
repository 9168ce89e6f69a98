"""`complaints staff` on SQLite and PostgreSQL: the directory is kept, listed, and part of the verified audit
trail; mistakes are one clear line and change nothing."""

from __future__ import annotations

import json

from ._cli import Cli, table


def test_staff_are_added_granted_revoked_and_listed(cli: Cli):
    cli.ok("staff", "add", "Ada Director", "--role", "director")
    ada = Cli(cli.url, actor="Ada Director")
    ada.ok("staff", "add", "Jo Officer", "--role", "officer", "--login", "jo")
    ada.ok("staff", "add", "Sam Lead", "--role", "manager")
    assert ada.ok("staff", "grant", "sam lead", "--role", "head-of-service").stdout == \
        "granted head-of-service to Sam Lead\n"
    ada.ok("staff", "revoke", "Sam Lead", "--role", "manager")

    listed = [json.loads(line) for line in cli.ok("staff", "list", "--format", "json").stdout.splitlines()]
    assert [(m["name"], m["login"], m["roles"]) for m in listed] == [
        ("Ada Director", None, ["director"]), ("Jo Officer", "jo", ["officer"]),
        ("Sam Lead", None, ["head-of-service"])]
    assert table(cli.ok("staff", "list").stdout) == [
        {"NAME": "Ada Director", "LOGIN": "-", "ROLES": "director"},
        {"NAME": "Jo Officer", "LOGIN": "jo", "ROLES": "officer"},
        {"NAME": "Sam Lead", "LOGIN": "-", "ROLES": "head-of-service"}]
    assert cli.ok("verify").stdout.startswith("verified: 6 events of 1 aggregate")


def test_staff_mistakes_are_one_line_and_write_nothing(cli: Cli):
    cli.ok("staff", "add", "Jo Officer", "--role", "director")
    cli = Cli(cli.url, actor="Jo Officer")
    before = cli.event_count()
    assert cli.fails("staff", "add", "jo officer", "--role", "manager") == \
        "Error: Jo Officer is already in the staff directory"
    assert cli.fails("staff", "grant", "Nobody", "--role", "manager") == \
        "Error: Nobody is not in the staff directory (complaints staff add)"
    assert cli.fails("staff", "revoke", "Jo Officer", "--role", "manager") == \
        "Error: Jo Officer does not have the role manager"
    assert "is not one of" in cli.fails("staff", "add", "Sam", "--role", "king")
    assert cli.event_count() == before
