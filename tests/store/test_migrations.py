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


def test_0002_detaches_extra_projects_of_a_deal_instead_of_failing(engine: Engine) -> None:
    """Projects made before 0002 that share a deal: the oldest keeps it, none is deleted."""
    import uuid

    from sqlalchemy import text

    org_id, deal_id = uuid.uuid4(), uuid.uuid4()
    older, newer = uuid.uuid4(), uuid.uuid4()
    try:
        migrate.downgrade("0001")
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO auth.organisations (id, name, slug) VALUES (:id, 'M', :slug)"),
                {"id": org_id, "slug": f"m-{org_id.hex[:8]}"},
            )
            for project_id, created in ((older, "2026-01-01"), (newer, "2026-02-01")):
                conn.execute(
                    text(
                        "INSERT INTO construction_service.projects (id, org_id, deal_id, name,"
                        " status, created_at, updated_at)"
                        " VALUES (:id, :org, :deal, 'P', 'planning', :at, :at)"
                    ),
                    {"id": project_id, "org": org_id, "deal": deal_id, "at": created},
                )
        migrate.upgrade("head")
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT id, deal_id FROM construction_service.projects WHERE org_id = :o"),
                {"o": org_id},
            ).all()
            rows: dict[uuid.UUID, uuid.UUID | None] = {row[0]: row[1] for row in found}
        assert rows == {older: deal_id, newer: None}
    finally:
        migrate.upgrade("head")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM auth.organisations WHERE id = :id"), {"id": org_id})
