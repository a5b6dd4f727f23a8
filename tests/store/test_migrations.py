"""Migrations build the whole schema from empty and tear it down again."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from store import migrate
from store.registry import SCHEMAS, load_models


def test_database_is_at_head_after_session_start(engine: Engine) -> None:
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert migrate.is_current(engine)


def test_every_model_table_exists_in_its_schema(engine: Engine) -> None:
    inspector = inspect(engine)
    metadata = load_models().metadata
    missing = [
        name
        for name, table in metadata.tables.items()
        if table.name not in inspector.get_table_names(schema=table.schema)
    ]
    assert missing == []
    assert {t.schema for t in metadata.tables.values()} <= set(SCHEMAS)


def test_models_and_migrations_agree(engine: Engine) -> None:
    """A model change without a migration fails here (``make migration`` writes one)."""
    from alembic import command

    command.check(migrate.alembic_config())
