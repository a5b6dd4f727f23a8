"""Reference rows that migrations seed (roles, HUD FMR tables, cost book ...)."""

from __future__ import annotations

from sqlalchemy import Connection


def seed_reference_data(connection: Connection) -> None:
    """Insert reference data; idempotent, called by the initial migration."""
    # Filled in as tables land: Detroit 2024 Section 8 FMR rows, roles.
    del connection
