"""The four roles as reference rows, seeded by the initial migration."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert

from domain.auth.enums import Role
from domain.auth.models import RoleDefinition

# Endpoints and tools check roles; the permissions say in words what each role is for, as
# "<area>:<read|write>" with "*" for everything, so an admin screen can show them.
ROLE_DEFINITIONS: dict[Role, tuple[str, list[str]]] = {
    Role.admin: (
        "Runs the organisation: manages users and tokens, and may do everything else.",
        ["*"],
    ),
    Role.analyst: (
        "Team member who analyses deals, keeps the books and runs construction projects.",
        [
            "properties:read",
            "properties:write",
            "deals:read",
            "deals:write",
            "valuations:read",
            "valuations:write",
            "finance:read",
            "finance:write",
            "construction:read",
            "construction:write",
            "market:read",
            "market:write",
            "reports:read",
            "reports:write",
            "documents:read",
            "documents:write",
            "conversations:read",
            "audit:read",
        ],
    ),
    Role.investor: (
        "Sends properties to analyse and reads deal analyses, reports and their own numbers.",
        [
            "properties:read",
            "properties:write",
            "deals:read",
            "valuations:read",
            "valuations:write",
            "finance:read",
            "market:read",
            "reports:read",
            "reports:write",
        ],
    ),
    Role.contractor: (
        "Bids on and reports progress for the construction projects they work on.",
        ["construction:read", "bids:write", "photos:write"],
    ),
}


def seed_roles(connection: Connection) -> None:
    """Insert or refresh the role rows (idempotent)."""
    table = RoleDefinition.__table__  # type: ignore[attr-defined]
    rows = [
        {"name": role.value, "description": description, "permissions": permissions}
        for role, (description, permissions) in ROLE_DEFINITIONS.items()
    ]
    statement = insert(table).values(rows)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.name],
            set_={
                "description": statement.excluded.description,
                "permissions": statement.excluded.permissions,
            },
        )
    )
