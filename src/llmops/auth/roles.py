"""Roles and the permissions they grant. Every HTTP route declares one permission."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # everything, users and keys included
    MAINTAINER = "maintainer"  # create and change resources
    VIEWER = "viewer"  # read
    INFERENCE = "inference"  # gateway calls and feedback only


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    INFERENCE = "inference"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.MAINTAINER: frozenset({Permission.READ, Permission.WRITE, Permission.INFERENCE}),
    Role.VIEWER: frozenset({Permission.READ}),
    Role.INFERENCE: frozenset({Permission.INFERENCE}),
}


def allows(role: Role | str, permission: Permission) -> bool:
    return permission in GRANTS[Role(role)]
