"""Run Alembic migrations programmatically (CLI, ``serve`` start-up, tests, readiness)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from store.db import get_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """Alembic configuration pointing at ``store/migrations``."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (default: the latest)."""
    command.upgrade(alembic_config(), revision)


def downgrade(revision: str = "base") -> None:
    """Downgrade the database to ``revision`` (default: empty)."""
    command.downgrade(alembic_config(), revision)


def head_revision() -> str | None:
    """The newest revision in the migration scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine | None = None) -> str | None:
    """The revision the database is at, or None for an unmigrated database."""
    with (engine or get_engine()).connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table_schema": "public"})
        return context.get_current_revision()


def is_current(engine: Engine | None = None) -> bool:
    """True when the database is at the newest migration."""
    return current_revision(engine) == head_revision()
