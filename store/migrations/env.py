"""Alembic environment: migrates the configured (or embedded) database."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from pgvector.sqlalchemy import Vector
from sqlalchemy import Connection
from sqlmodel.sql.sqltypes import AutoString

from store.db import get_engine
from store.registry import SCHEMAS, load_models

target_metadata = load_models().metadata
VERSION_TABLE_SCHEMA = "public"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate looks only at dealdesk's schemas."""
    if type_ == "schema":
        return name in SCHEMAS
    return True


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render SQLModel's AutoString as plain ``sa.String`` so migrations need no sqlmodel."""
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if type_ == "type" and isinstance(obj, Vector):
        # pgvector's type lives outside sqlalchemy: import it in the migration.
        autogen_context.imports.add("from pgvector.sqlalchemy import Vector")
        return f"Vector({obj.dim})"
    return False


def run_migrations(connection: Connection) -> None:
    """Run migrations on one connection."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_schemas=True,
        include_name=include_name,
        version_table_schema=VERSION_TABLE_SCHEMA,
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with get_engine().connect() as conn:
        run_migrations(conn)
        conn.commit()
